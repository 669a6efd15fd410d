/*
 * password.c - GET/POST base_path/password: a signed-in user changes their own password (ASVS
 * 5.0 V6.2.2, V6.2.3; 4.0.3 2.1.5, 2.1.6). The form asks for the current password and the new
 * one twice, with the CSRF proofs every signed-in form carries.
 *
 * The cheap checks run here on the loop, before any hashing: the proofs, the lockout, the new
 * password's rules (pwpolicy.h: [login] min_password characters, not on the common-password
 * list, not the user's name) and the two entries being equal. Each failure re-shows the form
 * with its own message (400; 403 for a stale form; 429 with Retry-After when locked out) and
 * changes nothing. The current password is then checked on the worker pool by the login's own
 * path (sessd_login_check: argon2id off the loop, the same throttling, so a wrong current
 * password counts as a failed login, 401), and the new one is hashed and stored there too.
 *
 * A changed password ends every session of the user at once (sess_user_passwd bumps the user's
 * generation): the other devices, and the session that made the change, which cannot be rotated
 * out of a revoked generation. This browser therefore gets a new session in the new generation
 * (a new token, or a new sealed value under [store] kind = cookie), carrying the old session's
 * data and remember-me choice, with the authentication time of now: the password was just
 * proved. The answer is 303 to ?saved=1 with the new cookie; the old cookie's value is refused
 * from then on. Both steps are audited: "password_changed", then "login" for the new session.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/clock.h"
#include "core/pwpolicy.h"
#include "core/source.h"
#include "core/state.h"
#include "core/throttle.h"
#include "http/auth.h"
#include "http/pages.h"
#include "http/prefs.h"
#include "http/workers.h"
#include "sessiond/error.h"
#include "sessiond/users.h"

#define ERROR_ID "password-error"
#define HINT_ID "password-hint"

/* ---- the page ----------------------------------------------------------------------------- */

/* Writes message `m`, whose text may hold one %s for [login] min_password, HTML-escaped. */
static void msg_with_min(sessd_page *p, enum sessd_msg m)
{
    char n[24], text[1024];
    snprintf(n, sizeof(n), "%llu", (unsigned long long)sessd_cfg()->min_password);
    if (m == SESSD_MSG_PASSWORD_HINT || m == SESSD_MSG_ERR_PW_TOO_SHORT)
        snprintf(text, sizeof(text), sessd_page_msg(p, m), n);
    else
        snprintf(text, sizeof(text), "%s", sessd_page_msg(p, m));
    auth_html(p->f, text);
}

/* One password field; `error` ties it to the error message (aria-invalid, described by it). */
static void field(sessd_page *p, const char *name, enum sessd_msg label, const char *complete,
                  bool error, bool hint, bool focus)
{
    fprintf(p->f, "<label for=\"%s\">", name);
    auth_html(p->f, sessd_page_msg(p, label));
    fprintf(p->f,
            "</label>\n<input type=\"password\" id=\"%s\" name=\"%s\" autocomplete=\"%s\" "
            "required maxlength=\"%d\"",
            name, name, complete, SESS_PASSWORD_MAX);
    if (strcmp(complete, "new-password") == 0)
        fprintf(p->f, " minlength=\"%llu\"", (unsigned long long)sessd_cfg()->min_password);
    if (error || hint)
        fprintf(p->f, " aria-describedby=\"%s%s%s\"", error ? ERROR_ID : "",
                error && hint ? " " : "", hint ? HINT_ID : "");
    fprintf(p->f, "%s%s>\n", error ? " aria-invalid=\"true\"" : "", focus ? " autofocus" : "");
}

/* The page; `note` is -1, SESSD_MSG_PASSWORD_CHANGED, or an error message. */
static void show(h2o_req_t *req, int status, const sessd_visitor *v, int note)
{
    sessd_page p;
    if (!sessd_page_begin(&p, req, v, SESSD_MSG_CHANGE_PASSWORD))
        return;
    bool current_bad = note == SESSD_MSG_ERR_CURRENT_WRONG;
    bool again_bad = note == SESSD_MSG_ERR_PW_MISMATCH;
    bool new_bad = note == SESSD_MSG_ERR_PW_TOO_SHORT || note == SESSD_MSG_ERR_PW_TOO_LONG ||
                   note == SESSD_MSG_ERR_PW_INVALID || note == SESSD_MSG_ERR_PW_COMMON;
    if (note == SESSD_MSG_PASSWORD_CHANGED) {
        sessd_page_status(&p, SESSD_MSG_PASSWORD_CHANGED);
    } else if (note >= 0) {
        fputs("<p class=\"error\" role=\"alert\" id=\"" ERROR_ID "\">", p.f);
        msg_with_min(&p, (enum sessd_msg)note);
        fputs("</p>\n", p.f);
    }
    fputs("<form method=\"post\" action=\"", p.f);
    sessd_page_url(&p, "/password");
    fputs("\">\n", p.f);
    field(&p, "current_password", SESSD_MSG_CURRENT_PASSWORD, "current-password", current_bad,
          false, note != SESSD_MSG_PASSWORD_CHANGED && !new_bad && !again_bad);
    field(&p, "new_password", SESSD_MSG_NEW_PASSWORD, "new-password", new_bad, true, new_bad);
    fputs("<p id=\"" HINT_ID "\">", p.f);
    msg_with_min(&p, SESSD_MSG_PASSWORD_HINT);
    fputs("</p>\n", p.f);
    field(&p, "new_password2", SESSD_MSG_NEW_PASSWORD_AGAIN, "new-password", again_bad, false,
          again_bad);
    sessd_page_form_end(&p, req, SESSD_MSG_CHANGE_PASSWORD);
    sessd_page_end(&p, status);
}

/* The page for the request's session with `note` (or a visitor without one sent to log in). */
static int page(h2o_req_t *req, int status, int note)
{
    sessd_visitor v;
    sessd_visitor_load(req, status == 200, &v);
    if (!v.signed_in)
        status = auth_sign_in_first(req, "/password");
    else
        show(req, status, &v, note);
    sessd_visitor_dispose(&v);
    return status;
}

int sessd_auth_password_page(h2o_req_t *req)
{
    bool saved = auth_query_flag(req, "saved");
    return page(req, 200, saved ? SESSD_MSG_PASSWORD_CHANGED : -1);
}

/* ---- the change, on the worker pool ------------------------------------------------------- */

typedef struct pw_job {
    sessd_job base;
    char user[SESS_USER_MAX + 1];
    char current[SESS_PASSWORD_MAX + 1];
    size_t current_len;
    char fresh[SESS_PASSWORD_MAX + 1];
    size_t fresh_len;
    uint8_t old_id[SESS_ID_BYTES]; /* the session that asked, for the audit line */
    char *data;                    /* its data, carried into the new session (malloc'ed) */
    size_t data_len;
    bool remember;
    char ip[64];
    char agent[SESS_AGENT_MAX + 1];
    sessd_throttle_policy throttle;
    bool reserved; /* holds a throttle reservation for user and address (released by free_job) */
    /* Results. */
    int result;        /* of the check and the change: 0, SESS_EUNAUTHORIZED, ... */
    int64_t wait;      /* > 0: locked out meanwhile, nothing checked (429) */
    int signin;        /* of the new session after a change */
    sessd_value value; /* the new session's cookie value */
    int64_t max_age;   /* of the new cookie; -1 for a browser-session cookie */
} pw_job;

static void free_job(pw_job *j)
{
    if (j->reserved)
        sessd_throttle_release_login(j->ip, j->user);
    free(j->data);
    sess_wipe(j, sizeof(*j));
    free(j);
}

/* After the change: this browser's new session, in the user's new generation. */
static void sign_in_again(pw_job *j, const sess_account *acct, int64_t now)
{
    sess_create_params p = {.user = acct->user,
                            .roles = acct->roles,
                            .data = j->data,
                            .data_len = j->data_len,
                            .remember = j->remember && sessd_cfg()->remember_me > 0,
                            .ip = j->ip,
                            .agent = j->agent,
                            .auth_time = now};
    sess_record rec;
    j->signin = sessd_source_cookie()->create(&p, now, &j->value, &rec);
    if (j->signin != 0) {
        sessd_log(SESSD_LOG_WARN, "the password was changed but the new session failed: %s",
                  sess_strerror(j->signin));
        return;
    }
    j->max_age = (rec.flags & SESS_REC_REMEMBER) ? rec.abs_expires - now : -1;
    if (sessd_audit_change(SESSD_AUDIT_LOGIN, acct->user, rec.id, j->ip,
                           "password page: this browser, after the change") != 0) {
        /* [audit] on_failure = refuse: a session nobody can trace is not handed out. */
        if (sessd_source_cookie()->end(&rec, now) != 0)
            sessd_log(SESSD_LOG_WARN, "a session whose login could not be audited could not be "
                                      "ended; it ends by its deadlines");
        j->signin = SESS_EAUDIT;
    }
    sess_record_dispose(&rec);
    if (sess_user_recheck_roles(sessd_srv.ctx, acct) != 0)
        sessd_log(SESSD_LOG_WARN, "re-reading the roles of a new session failed");
}

static void pw_run(sessd_job *base)
{
    pw_job *j = (pw_job *)base;
    sess_account acct;
    int64_t now = sessd_now();
    j->result = sessd_login_check(j->ip, j->user, j->current, j->current_len, &j->throttle, now,
                                  &j->wait, &acct);
    if (j->result == SESS_EUNAUTHORIZED)
        sessd_audit(SESSD_AUDIT_LOGIN_FAILED, j->user, j->old_id, j->ip,
                    "password page: wrong current password");
    if (j->result == 0)
        j->result = sess_user_passwd(sessd_srv.ctx, j->user, j->fresh, j->fresh_len, now);
    sess_wipe(j->fresh, sizeof(j->fresh));
    if (j->result != 0)
        return;
    /* The password is changed and every session ended: that stands, and the user must hear
     * it. Without its audit line (on_failure = refuse) this browser is not signed in again:
     * it goes to the login page, where the new password works (pw_done). */
    if (sessd_audit_change(SESSD_AUDIT_PASSWORD_CHANGED, j->user, j->old_id, j->ip,
                           "password page: every session of the user ended") != 0)
        j->signin = SESS_EAUDIT;
    else
        sign_in_again(j, &acct, now);
    sess_wipe(&acct, sizeof(acct));
}

static void pw_done(sessd_job *base)
{
    pw_job *j = (pw_job *)base;
    h2o_req_t *req = j->base.req;
    char to[300];
    const char *base_path = sessd_cfg()->base_path;
    if (req == NULL) {
        free_job(j);
        return;
    }
    if (j->base.dropped) {
        page(req, 503, SESSD_MSG_ERR_UNAVAILABLE);
    } else if (j->wait > 0) {
        auth_retry_after(req, j->wait);
        page(req, 429, SESSD_MSG_ERR_TOO_MANY);
    } else if (j->result == SESS_EUNAUTHORIZED) {
        page(req, 401, SESSD_MSG_ERR_CURRENT_WRONG);
    } else if (j->result != 0) {
        sessd_log(SESSD_LOG_WARN, "a password change failed: %s", sess_strerror(j->result));
        page(req, sess_err_http_status(j->result) >= 500 ? 503 : 400, SESSD_MSG_ERR_UNAVAILABLE);
    } else if (j->signin != 0) {
        /* Changed, and every session ended, this one too: the user signs in with the new one. */
        auth_clear_session_cookie(req);
        snprintf(to, sizeof(to), "%s/login?rd=%s/password%%3Fsaved%%3D1", base_path, base_path);
        auth_see_other(req, to);
    } else {
        auth_set_session_cookie(req, j->value.text, j->max_age);
        snprintf(to, sizeof(to), "%s/password?saved=1", base_path);
        auth_see_other(req, to);
    }
    sessd_job_answered(&j->base, req);
    free_job(j);
}

/* ---- POST --------------------------------------------------------------------------------- */

/* The new password's first broken rule as the message to show, or -1 when it is acceptable. */
static int judge(const char *user, const char *fresh, long len, const char *again, long again_len)
{
    if (len == -2)
        return SESSD_MSG_ERR_PW_TOO_LONG;
    switch (sessd_pw_judge(user, fresh, len < 0 ? 0 : (size_t)len, sessd_cfg()->min_password)) {
    case SESSD_PW_TOO_SHORT:
        return SESSD_MSG_ERR_PW_TOO_SHORT;
    case SESSD_PW_TOO_LONG:
        return SESSD_MSG_ERR_PW_TOO_LONG;
    case SESSD_PW_INVALID:
        return SESSD_MSG_ERR_PW_INVALID;
    case SESSD_PW_COMMON:
        return SESSD_MSG_ERR_PW_COMMON;
    case SESSD_PW_OK:
        break;
    }
    if (again_len != len || memcmp(fresh, again, (size_t)len) != 0)
        return SESSD_MSG_ERR_PW_MISMATCH;
    return -1;
}

/* Reads the three fields into the job (and `again`); the new password's verdict (judge). */
static int read_form(h2o_req_t *req, pw_job *j, const char *user, char *again, size_t cap)
{
    size_t len;
    const char *body = auth_body(req, &len);
    long cl = auth_form_value(body, len, "current_password", j->current, sizeof(j->current), false);
    long nl = auth_form_value(body, len, "new_password", j->fresh, sizeof(j->fresh), false);
    long al = auth_form_value(body, len, "new_password2", again, cap, false);
    /* A missing or over-long current password is checked as an empty one: it never matches,
     * and it costs and counts what a wrong one does. */
    j->current_len = cl > 0 ? (size_t)cl : 0;
    if (cl <= 0)
        sess_wipe(j->current, sizeof(j->current));
    int verdict = judge(user, j->fresh, nl, again, al);
    j->fresh_len = nl > 0 ? (size_t)nl : 0;
    return verdict;
}

/* With the visitor signed in and the form read: the checks on the loop, then the job. Returns
 * the status answered, or 0 when the job will answer. */
static int check_and_submit(h2o_req_t *req, pw_job *j, sessd_visitor *v, bool proof, int verdict)
{
    const sessd_config *c = sessd_cfg();
    int64_t now = sessd_now(), wait;
    if (!proof || !auth_form_token_ok(req, &v->rec)) {
        if (auth_wants_json(req))
            return auth_deny(req, SESS_ECSRF, "the form's CSRF proof or token is missing");
        show(req, 403, v, SESSD_MSG_ERR_EXPIRED_FORM);
        return 403;
    }
    auth_client_ip(req, c, j->ip);
    if ((wait = sessd_throttle_wait_login(j->ip, j->user, now)) > 0) {
        auth_retry_after(req, wait);
        show(req, 429, v, SESSD_MSG_ERR_TOO_MANY);
        return 429;
    }
    if (verdict >= 0) {
        show(req, 400, v, verdict);
        return 400;
    }
    j->throttle = (sessd_throttle_policy){c->max_failures, c->failure_window, c->lockout};
    if ((wait = sessd_throttle_reserve_login(j->ip, j->user, now, &j->throttle)) > 0) {
        auth_retry_after(req, wait);
        show(req, 429, v, SESSD_MSG_ERR_TOO_MANY);
        return 429;
    }
    j->reserved = true;
    auth_client_agent(req, j->agent);
    memcpy(j->old_id, v->rec.id, SESS_ID_BYTES);
    j->remember = (v->rec.flags & SESS_REC_REMEMBER) != 0;
    if (v->rec.data_len > 0 && (j->data = malloc(v->rec.data_len + 1)) != NULL) {
        memcpy(j->data, v->rec.data, v->rec.data_len + 1);
        j->data_len = v->rec.data_len;
    }
    j->base.run = pw_run;
    j->base.done = pw_done;
    j->base.route = SESSD_ROUTE_AUTH_PASSWORD;
    if (sessd_job_submit(req, &j->base))
        return 0;
    show(req, 503, v, SESSD_MSG_ERR_BUSY);
    return 503;
}

int sessd_auth_password_post(h2o_req_t *req)
{
    sessd_visitor v;
    char again[SESS_PASSWORD_MAX + 1];
    pw_job *j = calloc(1, sizeof(*j));
    if (j == NULL)
        return http_send_error(req, SESS_ENOMEM, NULL);
    bool proof = auth_form_proof_ok(req);
    sessd_visitor_load(req, false, &v);
    int status;
    if (!v.signed_in) {
        status = auth_sign_in_first(req, "/password");
    } else {
        snprintf(j->user, sizeof(j->user), "%s", v.rec.user);
        int verdict = read_form(req, j, v.rec.user, again, sizeof(again));
        status = check_and_submit(req, j, &v, proof, verdict);
    }
    /* The body holds passwords in clear: nothing reads it after this. */
    if (req->entity.base != NULL)
        sess_wipe(req->entity.base, req->entity.len);
    sess_wipe(again, sizeof(again));
    sessd_visitor_dispose(&v);
    if (status != 0)
        free_job(j);
    return status;
}
