/*
 * login.c - GET/POST base_path/login and POST base_path/logout (contract section 4).
 *
 * Login CSRF: the form carries a proof that this browser got it from us, a signed double
 * submit. GET sets a random nonce in a cookie (<cookie_name>_login, HttpOnly, SameSite as
 * configured) and puts MAC(server key, nonce) in the form; POST needs both, matching, and a
 * same-origin Origin/Sec-Fetch-Site when the browser sends them. A page on another site can
 * neither read the cookie nor compute the MAC, so it cannot log a victim into its account.
 *
 * The password check (argon2id) and the store writes of a login run on the worker pool; the
 * handler returns without answering and the job answers on this loop when it comes back. Every
 * failure, whatever its cause, is the same page with "Invalid username or password", after the
 * same work (lib/users.c checks unknown users against a dummy hash). Too many failures for a
 * user or a client address within [login] failure_window answer 429 with Retry-After until
 * [login] lockout has passed, before any password is looked at.
 *
 * A login always creates a new session with a new token (never a pre-login one: no fixation);
 * a session the browser presented is ended.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/auth.h"
#include "server/log.h"
#include "server/pages.h"
#include "server/redirect.h"
#include "server/server.h"
#include "server/throttle.h"
#include "server/workers.h"
#include "sessiond/error.h"
#include "sessiond/users.h"

#define FAILURE_MESSAGE "Invalid username or password"
#define NONCE_COOKIE_SUFFIX "_login"
#define NONCE_MAX_AGE 3600
#define DEFAULT_LANDING "/"

/* ---- the login CSRF proof ---------------------------------------------------------------- */

static void nonce_cookie_name(char *out, size_t cap)
{
    snprintf(out, cap, "%s%s", sessd_cfg()->cookie_name, NONCE_COOKIE_SUFFIX);
}

static void proof_of(const char *nonce, size_t len, char out[SESS_TOKEN_STRLEN + 1])
{
    uint8_t mac[SESS_HASH_BYTES];
    sess_ctx_sign(sessd_srv.ctx, "login-csrf", nonce, len, mac);
    sess_token_encode(mac, out);
}

/* The proof for this browser: its nonce cookie, or a new nonce (set as a cookie). */
static void issue_proof(h2o_req_t *req, char proof[SESS_TOKEN_STRLEN + 1])
{
    char name[160], nonce[SESS_TOKEN_STRLEN + 1];
    size_t len;
    nonce_cookie_name(name, sizeof(name));
    const char *have = auth_cookie(req, name, &len);
    if (have != NULL && len == SESS_TOKEN_STRLEN) {
        proof_of(have, len, proof);
        return;
    }
    uint8_t raw[SESS_TOKEN_BYTES];
    sess_token_new(raw);
    sess_token_encode(raw, nonce);
    auth_set_cookie(req, name, nonce, NONCE_MAX_AGE);
    proof_of(nonce, SESS_TOKEN_STRLEN, proof);
}

static bool proof_ok(h2o_req_t *req, const char *given, long given_len)
{
    char name[160], want[SESS_TOKEN_STRLEN + 1];
    size_t len;
    nonce_cookie_name(name, sizeof(name));
    const char *nonce = auth_cookie(req, name, &len);
    if (nonce == NULL || len != SESS_TOKEN_STRLEN || given_len != SESS_TOKEN_STRLEN)
        return false;
    proof_of(nonce, len, want);
    return sess_ct_equal(given, want, SESS_TOKEN_STRLEN);
}

/* ---- the page ---------------------------------------------------------------------------- */

static void action_of(char *out, size_t cap)
{
    snprintf(out, cap, "%s/login", sessd_cfg()->base_path);
}

/* The rd to carry: only a safe one survives, anything else is dropped (the default landing). */
static const char *safe_rd(const char *rd, long len)
{
    const sessd_config *c = sessd_cfg();
    if (len <= 0 || !sessd_redirect_ok(rd, (size_t)len, c->public_url, c->allowed_origins))
        return "";
    return rd;
}

static int show(h2o_req_t *req, int status, const char *user, const char *rd, const char *error)
{
    char action[160], proof[SESS_TOKEN_STRLEN + 1];
    action_of(action, sizeof(action));
    issue_proof(req, proof);
    sessd_login_view v = {action, user, rd, proof, error};
    sessd_page_login(req, status, &v);
    return status;
}

int sessd_auth_login_page(h2o_req_t *req)
{
    char rd[SESSD_RD_MAX + 1];
    long n = -1;
    if (req->query_at != SIZE_MAX)
        n = auth_form_value(req->path.base + req->query_at + 1, req->path.len - req->query_at - 1,
                            "rd", rd, sizeof(rd), true);
    return show(req, 200, "", n > 0 ? safe_rd(rd, n) : "", NULL);
}

/* ---- the login job ----------------------------------------------------------------------- */

typedef struct login_job {
    sessd_job base;
    char user[SESS_USER_MAX + 1];
    char password[SESS_PASSWORD_MAX + 1];
    size_t password_len;
    char old_token[SESS_TOKEN_STRLEN + 1];
    char rd[SESSD_RD_MAX + 1];
    char ip[64];
    char agent[SESS_AGENT_MAX + 1];
    bool remember;
    sessd_throttle_policy throttle;
    /* Results. */
    int result;
    char token[SESS_TOKEN_STRLEN + 1];
    int64_t max_age; /* of the new cookie; -1 for a browser-session cookie */
} login_job;

static void free_job(login_job *j)
{
    sess_wipe(j, sizeof(*j));
    free(j);
}

/* Ends the session the browser came with, if it has one. */
static void end_old_session(const char *token)
{
    sess_record rec;
    size_t len = strlen(token);
    if (len > 0 && sess_verify(sessd_srv.ctx, token, len, (int64_t)time(NULL), false, &rec) == 0) {
        (void)sess_delete(sessd_srv.ctx, rec.id);
        sess_record_dispose(&rec);
    }
}

/* On a worker: the password check, then the new session. */
static void login_run(sessd_job *base)
{
    login_job *j = (login_job *)base;
    sess_account acct;
    int64_t now = (int64_t)time(NULL);
    j->result = sess_user_login(sessd_srv.ctx, j->user, j->password, j->password_len, &acct);
    sess_wipe(j->password, sizeof(j->password));
    if (j->result == SESS_EUNAUTHORIZED) {
        sessd_throttle_fail(SESSD_THROTTLE_USER, j->user, now, &j->throttle);
        sessd_throttle_fail(SESSD_THROTTLE_ADDR, j->ip, now, &j->throttle);
        sessd_metrics_login(0);
        return;
    }
    if (j->result != 0)
        return;
    sessd_throttle_reset(SESSD_THROTTLE_USER, j->user);
    end_old_session(j->old_token);
    sess_create_params p = {.user = acct.user,
                            .roles = acct.roles,
                            .remember = j->remember,
                            .ip = j->ip,
                            .agent = j->agent,
                            .auth_time = now};
    sess_record rec;
    j->result = sess_create(sessd_srv.ctx, &p, now, j->token, &rec);
    if (j->result == 0) {
        j->max_age = (rec.flags & SESS_REC_REMEMBER) ? rec.abs_expires - now : -1;
        sess_record_dispose(&rec);
        sessd_metrics_login(1);
    }
}

/* Back on the request's loop: answer, unless the client has gone. */
static void login_done(sessd_job *base)
{
    login_job *j = (login_job *)base;
    h2o_req_t *req = j->base.req;
    int status;
    if (req == NULL) {
        free_job(j);
        return;
    }
    if (j->result == 0) {
        char name[160];
        nonce_cookie_name(name, sizeof(name));
        auth_set_session_cookie(req, j->token, j->max_age);
        auth_set_cookie(req, name, "", 0);
        const char *to = j->rd[0] != '\0' ? j->rd : DEFAULT_LANDING;
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_LOCATION, NULL,
                       h2o_strdup(&req->pool, to, SIZE_MAX).base, strlen(to));
        http_send_text(req, 303, "text/plain; charset=utf-8", H2O_STRLIT("signed in\n"));
        status = 303;
    } else if (j->result == SESS_EUNAUTHORIZED) {
        status = show(req, 401, j->user, j->rd, FAILURE_MESSAGE);
    } else {
        sessd_log(SESSD_LOG_WARN, "login failed on the store: %s", sess_strerror(j->result));
        status = show(req, sess_err_http_status(j->result) >= 500 ? 503 : 400, j->user, j->rd,
                      "Signing in is not possible right now; please try again later.");
    }
    sessd_job_answered(&j->base, status);
    free_job(j);
}

/* ---- POST login -------------------------------------------------------------------------- */

static int too_many(h2o_req_t *req, int64_t wait, const char *user, const char *rd)
{
    char secs[24];
    int n = snprintf(secs, sizeof(secs), "%lld", (long long)wait);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL,
                   h2o_strdup(&req->pool, secs, (size_t)n).base, (size_t)n);
    return show(req, 429, user, rd, "Too many failed sign-ins. Please wait and try again later.");
}

/* Reads the form into the job; false (answered) when it is malformed or over a bound. */
static bool read_form(h2o_req_t *req, login_job *j)
{
    const char *body = req->entity.base != NULL ? req->entity.base : "";
    size_t len = req->entity.base != NULL ? req->entity.len : 0;
    char rd[SESSD_RD_MAX + 1], remember[8];
    long ul = auth_form_value(body, len, "username", j->user, sizeof(j->user), false);
    long pl = auth_form_value(body, len, "password", j->password, sizeof(j->password), false);
    long rl = auth_form_value(body, len, "rd", rd, sizeof(rd), false);
    j->remember = auth_form_value(body, len, "remember", remember, sizeof(remember), false) > 0;
    if (rl > 0)
        snprintf(j->rd, sizeof(j->rd), "%s", safe_rd(rd, rl));
    /* Over-long or missing fields fail like a wrong password (same message), without work. */
    if (ul <= 0 || pl < 0 || memchr(j->password, '\0', (size_t)pl) != NULL ||
        sess_check_user(j->user) != 0) {
        if (ul < 0)
            j->user[0] = '\0';
        return false;
    }
    j->password_len = (size_t)pl;
    return true;
}

static void fill_client(h2o_req_t *req, login_job *j, const sessd_config *c)
{
    size_t n;
    auth_client_ip(req, c, j->ip);
    const char *ua = http_header(req, "user-agent", &n);
    if (ua != NULL)
        auth_sanitize(ua, n < SESS_AGENT_MAX ? n : SESS_AGENT_MAX, j->agent, sizeof(j->agent));
    const char *tok = auth_token(req, &n);
    if (tok != NULL && n == SESS_TOKEN_STRLEN) {
        memcpy(j->old_token, tok, n);
        j->old_token[n] = '\0';
    }
    j->throttle = (sessd_throttle_policy){c->max_failures, c->failure_window, c->lockout};
}

static bool form_proof_ok(h2o_req_t *req)
{
    char proof[SESS_TOKEN_STRLEN + 2];
    const char *body = req->entity.base != NULL ? req->entity.base : "";
    size_t len = req->entity.base != NULL ? req->entity.len : 0;
    long n = auth_form_value(body, len, "csrf", proof, sizeof(proof), false);
    return auth_same_origin(req, sessd_cfg()) && proof_ok(req, proof, n);
}

int sessd_auth_login_post(h2o_req_t *req)
{
    const sessd_config *c = sessd_cfg();
    login_job *j = calloc(1, sizeof(*j));
    if (j == NULL) {
        http_send_error(req, SESS_ENOMEM, NULL);
        return 500;
    }
    int status = 0;
    int64_t now = (int64_t)time(NULL), wait;
    bool form = read_form(req, j);
    fill_client(req, j, c);
    if (!form_proof_ok(req))
        status = show(req, 403, j->user, j->rd, "This sign-in form has expired; please try again.");
    else if ((wait = sessd_throttle_wait(SESSD_THROTTLE_ADDR, j->ip, now)) > 0 ||
             (j->user[0] && (wait = sessd_throttle_wait(SESSD_THROTTLE_USER, j->user, now)) > 0))
        status = too_many(req, wait, j->user, j->rd);
    else if (!form) {
        sessd_throttle_fail(SESSD_THROTTLE_ADDR, j->ip, now, &j->throttle);
        status = show(req, 401, j->user, j->rd, FAILURE_MESSAGE);
    } else {
        j->base.run = login_run;
        j->base.done = login_done;
        j->base.route = SESSD_ROUTE_AUTH_LOGIN;
        if (sessd_job_submit(req, &j->base))
            return 0; /* answered by login_done */
        status = show(req, 503, j->user, j->rd, "The server is busy; please try again.");
    }
    free_job(j);
    return status;
}

/* ---- logout ------------------------------------------------------------------------------ */

int sessd_auth_logout(h2o_req_t *req)
{
    const sessd_config *c = sessd_cfg();
    char to[160];
    if (!auth_same_origin(req, c))
        return auth_deny(req, 403, "csrf_failed", "cross-site request refused");
    size_t len;
    const char *tok = auth_token(req, &len);
    sess_record rec;
    if (tok != NULL &&
        sess_verify(sessd_srv.ctx, tok, len, (int64_t)time(NULL), false, &rec) == 0) {
        int r = sess_delete(sessd_srv.ctx, rec.id);
        sess_record_dispose(&rec);
        if (r != 0) {
            http_send_error(req, r, NULL);
            return sess_err_http_status(r);
        }
    }
    auth_clear_session_cookie(req);
    if (c->clear_site_data[0] != '\0')
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("clear-site-data"), 0, NULL,
                              c->clear_site_data, strlen(c->clear_site_data));
    int n = snprintf(to, sizeof(to), "%s/login", c->base_path);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_LOCATION, NULL,
                   h2o_strdup(&req->pool, to, (size_t)n).base, (size_t)n);
    http_send_text(req, 303, "text/plain; charset=utf-8", H2O_STRLIT("signed out\n"));
    return 303;
}
