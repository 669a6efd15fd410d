/*
 * apiauth.c - POST base_path/api/login, /api/refresh and /api/logout: sessions for clients that
 * are not browsers (contract section 4; docs/tokens.md).
 *
 * No cookie is read or set here, so there is nothing for another site to ride on and no CSRF
 * proof is asked for: login and refresh take a JSON body (a cross-site form cannot send
 * application/json without a CORS preflight, which sessiond never grants), logout takes the
 * access token from Authorization: Bearer only. The password check runs on the worker pool with
 * the form login's throttling (the same counters: a user locked out by form guesses is locked
 * out here too) and the same answer whatever the cause of a failure. The token family logic is
 * lib/refresh.c.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/audit.h"
#include "core/clock.h"
#include "http/auth.h"
#include "core/log.h"
#include "core/state.h"
#include "core/throttle.h"
#include "http/workers.h"
#include "sessiond/error.h"
#include "sessiond/users.h"

#define INVALID_LOGIN "Invalid username or password"

typedef struct api_login_job {
    sessd_job base;
    char user[SESS_USER_MAX + 1];
    char password[SESS_PASSWORD_MAX + 1];
    size_t password_len;
    char ip[64];
    char agent[SESS_AGENT_MAX + 1];
    sessd_throttle_policy throttle;
    bool reserved;
    /* Results. */
    int result;
    int64_t wait;
    char access[SESS_TOKEN_STRLEN + 1];
    char refresh[SESS_REFRESH_STRLEN + 1];
} api_login_job;

static void free_job(api_login_job *j)
{
    if (j->reserved) {
        sessd_throttle_release(SESSD_THROTTLE_USER, j->user);
        sessd_throttle_release(SESSD_THROTTLE_ADDR, j->ip);
    }
    sess_wipe(j, sizeof(*j));
    free(j);
}

static int64_t access_ttl(void)
{
    return sessd_cfg()->access_ttl;
}

/* 200 {"access_token","refresh_token","token_type","expires_in"}; wipes the texts. */
static int send_pair(h2o_req_t *req, char *access, char *refresh)
{
    json_t *j = json_pack("{s:s, s:s, s:s, s:I}", "access_token", access, "refresh_token", refresh,
                          "token_type", "Bearer", "expires_in", (json_int_t)access_ttl());
    sess_wipe(access, SESS_TOKEN_STRLEN + 1);
    sess_wipe(refresh, SESS_REFRESH_STRLEN + 1);
    return http_send_json(req, 200, j);
}

static int too_many(h2o_req_t *req, int64_t wait)
{
    auth_retry_after(req, wait);
    int status = http_send_error(req, SESS_ERATELIMIT, "too many failed logins; try again later");
    return status;
}

static int invalid_login(h2o_req_t *req)
{
    return http_send_error(req, SESS_EUNAUTHORIZED, INVALID_LOGIN);
}

/* On a worker: the password, then the token family. */
static void login_run(sessd_job *base)
{
    api_login_job *j = (api_login_job *)base;
    sess_account acct;
    int64_t now = sessd_now();
    j->result = sessd_login_check(j->ip, j->user, j->password, j->password_len, &j->throttle, now,
                                  &j->wait, &acct);
    if (j->result == SESS_EUNAUTHORIZED)
        sessd_audit(SESSD_AUDIT_LOGIN_FAILED, j->user, NULL, j->ip, "/auth/api/login");
    if (j->result != 0)
        return;
    sess_create_params p = {
        .user = acct.user, .roles = acct.roles, .ip = j->ip, .agent = j->agent, .auth_time = now};
    sess_record rec;
    j->result = sess_api_login(sessd_srv.ctx, &p, now, j->access, j->refresh, &rec);
    if (j->result == 0 &&
        sessd_audit_change(SESSD_AUDIT_LOGIN, acct.user, rec.id, j->ip, "/auth/api/login") != 0) {
        /* Not confirmed, so not kept: nobody will ever hold its tokens. */
        if (sess_delete(sessd_srv.ctx, rec.id) != 0)
            sessd_log(SESSD_LOG_WARN, "a session not confirmed (no audit line) stays until it "
                                      "expires: the store could not end it");
        sess_record_dispose(&rec);
        j->result = SESS_EAUDIT;
    }
    if (j->result == 0) {
        sess_record_dispose(&rec);
        if (sess_user_recheck_roles(sessd_srv.ctx, &acct) != 0)
            sessd_log(SESSD_LOG_WARN, "re-reading the roles of a new session failed");
        sessd_metrics_login(1);
    }
}

static void login_done(sessd_job *base)
{
    api_login_job *j = (api_login_job *)base;
    h2o_req_t *req = j->base.req;
    if (req == NULL) {
        free_job(j);
        return;
    }
    if (j->base.dropped) {
        http_send_error(req, SESS_EBUSY, "the server is stopping; try again");
    } else if (j->wait > 0) {
        too_many(req, j->wait);
    } else if (j->result == 0) {
        send_pair(req, j->access, j->refresh);
    } else if (j->result == SESS_EUNAUTHORIZED) {
        invalid_login(req);
    } else {
        sessd_log(SESSD_LOG_WARN, "API login failed on the store: %s", sess_strerror(j->result));
        http_send_error(req, j->result, NULL);
    }
    sessd_job_answered(&j->base, req);
    free_job(j);
}

/* {"username","password"} into the job; false when either is missing, not a string, over its
 * bound or not a valid name (answered like a wrong password, without work). */
static bool read_body(json_t *body, api_login_job *j)
{
    const char *u = json_string_value(json_object_get(body, "username"));
    json_t *pw = json_object_get(body, "password");
    const char *p = json_string_value(pw);
    size_t pl = json_is_string(pw) ? json_string_length(pw) : 0;
    if (u == NULL || p == NULL || strlen(u) > SESS_USER_MAX || pl > SESS_PASSWORD_MAX ||
        memchr(p, '\0', pl) != NULL)
        return false;
    memcpy(j->user, u, strlen(u) + 1);
    if (sess_check_user(j->user) != 0) {
        j->user[0] = '\0';
        return false;
    }
    memcpy(j->password, p, pl);
    j->password_len = pl;
    return true;
}

int sessd_auth_api_login(h2o_req_t *req)
{
    static const char *const keys[] = {"username", "password", NULL};
    const sessd_config *c = sessd_cfg();
    json_t *body = http_json_body(req);
    if (body == NULL)
        return http_sent(req); /* 400 or 415 */
    if (!http_only_keys(req, body, keys)) {
        json_decref(body);
        return http_sent(req);
    }
    api_login_job *j = calloc(1, sizeof(*j));
    if (j == NULL) {
        json_decref(body);
        return http_send_error(req, SESS_ENOMEM, NULL);
    }
    bool ok = read_body(body, j);
    json_decref(body); /* jansson's copy of the password is freed here, not wiped: see docs */
    if (req->entity.base != NULL)
        sess_wipe(req->entity.base, req->entity.len);
    auth_client_ip(req, c, j->ip);
    auth_client_agent(req, j->agent);
    j->throttle = (sessd_throttle_policy){c->max_failures, c->failure_window, c->lockout};
    int64_t now = sessd_now(), wait;
    int status;
    if ((wait = sessd_throttle_wait_login(j->ip, j->user, now)) > 0) {
        status = too_many(req, wait);
    } else if (!ok) {
        sessd_throttle_fail(SESSD_THROTTLE_ADDR, j->ip, now, &j->throttle);
        status = invalid_login(req);
    } else if ((wait = sessd_throttle_reserve_login(j->ip, j->user, now, &j->throttle)) > 0) {
        status = too_many(req, wait);
    } else {
        j->reserved = true;
        j->base.run = login_run;
        j->base.done = login_done;
        j->base.route = SESSD_ROUTE_AUTH_API;
        if (sessd_job_submit(req, &j->base))
            return 0; /* answered by login_done */
        status = http_send_error(req, SESS_EBUSY, "the server is busy; try again");
    }
    free_job(j);
    return status;
}

/* The audit trail of a refresh token's reuse: which family ended, whose, from where; never a
 * token. */
static void audit_reuse(h2o_req_t *req, const sess_record *rec)
{
    char id[SESS_ID_STRLEN + 1], ip[64];
    sess_id_to_hex(rec->id, id);
    auth_client_ip(req, sessd_cfg(), ip);
    sessd_audit(SESSD_AUDIT_THEFT, rec->user, rec->id, ip,
                "a replaced refresh token came back after rotate_grace; its session is ended");
    sessd_log(SESSD_LOG_WARN,
              "refresh token reuse: a replaced refresh token of session %s of %s came back from "
              "%s after rotate_grace; that session (its token family) is ended",
              id, rec->user, ip);
}

int sessd_auth_api_refresh(h2o_req_t *req)
{
    static const char *const keys[] = {"refresh_token", NULL};
    json_t *body = http_json_body(req);
    if (body == NULL)
        return http_sent(req);
    if (!http_only_keys(req, body, keys)) {
        json_decref(body);
        return http_sent(req);
    }
    json_t *t = json_object_get(body, "refresh_token");
    if (!json_is_string(t)) {
        json_decref(body);
        return http_send_error(req, SESS_EINVAL, "refresh_token (a string) is required");
    }
    char access[SESS_TOKEN_STRLEN + 1], refresh[SESS_REFRESH_STRLEN + 1];
    sess_record rec;
    int r = sess_api_refresh(sessd_srv.ctx, json_string_value(t), json_string_length(t),
                             sessd_now(), access, refresh, &rec);
    json_decref(body);
    if (r == 0) {
        /* Without its audit line the new pair is never sent: as for a lost answer, the client
         * retries with the refresh token it holds (rotate_grace). */
        r = auth_audit(req, SESSD_AUDIT_ROTATE, rec.user, rec.id, "refresh token");
        sess_record_dispose(&rec);
        if (r == 0)
            return send_pair(req, access, refresh);
        sess_wipe(access, sizeof(access));
        sess_wipe(refresh, sizeof(refresh));
    }
    if (r == SESS_EFORBIDDEN) {
        audit_reuse(req, &rec);
        sess_record_dispose(&rec);
    }
    if (r == SESS_EFORBIDDEN || r == SESS_ESESSION) {
        int status =
            http_send_error(req, SESS_EUNAUTHORIZED,
                            "the refresh token is not valid (expired, revoked or replaced); "
                            "log in again");
        return status;
    }
    http_send_error(req, r, NULL);
    return sess_err_http_status(r);
}

int sessd_auth_api_logout(h2o_req_t *req)
{
    size_t len;
    sess_record rec;
    /* The bearer header only: a cookie rides along on cross-site requests, a header does not. */
    const char *tok = http_bearer(req, &len);
    int r = tok != NULL ? sess_verify(sessd_srv.ctx, tok, len, sessd_now(), false, &rec)
                        : SESS_ESESSION;
    if (r == 0) {
        r = sess_delete(sessd_srv.ctx, rec.id);
        int a =
            auth_audit(req, SESSD_AUDIT_LOGOUT, rec.user, rec.id, r == 0 ? "/auth/api" : "failed");
        if (r == 0)
            r = a; /* ended, but not confirmed without its audit line */
        sess_record_dispose(&rec);
    }
    if (r == SESS_ESESSION) {
        return http_send_error(req, SESS_EUNAUTHORIZED,
                               "Authorization: Bearer with a live access token is required");
    }
    if (r != 0) {
        http_send_error(req, r, NULL);
        return sess_err_http_status(r);
    }
    return http_send_empty(req, 204);
}
