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
 * [login] lockout has passed, before any password is looked at. Each attempt reserves its place
 * in both counts before it is submitted and the worker checks the lockout again before hashing,
 * so parallel guesses get no more password checks than sequential ones (throttle.h).
 *
 * A login always creates a new session with a new token (never a pre-login one: no fixation);
 * a session the browser presented is ended. The one exception is step-up (?reauth=1, a hidden
 * field reauth=1 in the form): when the browser's live session belongs to the user whose
 * password was just checked, that session is kept and rotated instead (new token, auth time and
 * CSRF secret), so a fresh: rule passes again without losing the session's data.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http/auth.h"
#include "core/clock.h"
#include "core/log.h"
#include "http/pages.h"
#include "http/prefs.h"
#include "core/redirect.h"
#include "core/source.h"
#include "core/state.h"
#include "core/throttle.h"
#include "http/workers.h"
#include "sessiond/error.h"
#include "sessiond/users.h"

#define DEFAULT_LANDING "/"

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

/* The login page; with `reauth` and a live session, the step-up form for that session's user
 * (a visitor without a session gets the ordinary form). */
static int show_form(h2o_req_t *req, int status, const char *user, const char *rd, int error,
                     bool reauth)
{
    char action[160], proof[SESS_TOKEN_STRLEN + 1];
    sessd_visitor v;
    action_of(action, sizeof(action));
    auth_form_proof(req, proof);
    sessd_visitor_load(req, false, &v);
    reauth = reauth && v.signed_in;
    sessd_login_view lv = {action, reauth ? v.rec.user : user, rd, proof, error, reauth};
    sessd_page_login(req, status, &v, &lv);
    sessd_visitor_dispose(&v);
    return status;
}

/* ?reauth=1 (before rd=, which runs to the end of the query): the step-up form. */
static bool wants_reauth(const char *src, size_t len)
{
    char v[4];
    return auth_form_value(src, len, "reauth", v, sizeof(v), false) == 1 && v[0] == '1';
}

int sessd_auth_login_page(h2o_req_t *req)
{
    char rd[SESSD_RD_MAX + 1];
    long n = -1;
    bool reauth = false;
    if (req->query_at != SIZE_MAX) {
        const char *q = req->path.base + req->query_at + 1;
        size_t ql = req->path.len - req->query_at - 1;
        n = auth_form_value(q, ql, "rd", rd, sizeof(rd), true);
        reauth = wants_reauth(q, ql);
    }
    /* Two session cookies (one planted by a sibling origin): neither is used; clear what a
     * response can reach and say why the visitor is signed out. */
    int error = -1;
    if (auth_token_ambiguous(req)) {
        auth_clear_session_cookies(req);
        error = SESSD_MSG_ERR_COOKIE_CONFLICT;
    }
    return show_form(req, 200, "", n > 0 ? safe_rd(rd, n) : "", error, reauth);
}

/* ---- the login job ----------------------------------------------------------------------- */

typedef struct login_job {
    sessd_job base;
    char user[SESS_USER_MAX + 1];
    char password[SESS_PASSWORD_MAX + 1];
    size_t password_len;
    const sessd_source *old_source; /* where the session the browser came with lives */
    sessd_value old;                /* its value, or len 0 */
    char rd[SESSD_RD_MAX + 1];
    char ip[64];
    char agent[SESS_AGENT_MAX + 1];
    bool remember;
    bool reauth;      /* step-up: rotate the browser's session if it is the user's */
    bool anon_cookie; /* clear the anonymous preferences cookie */
    char anon_prefs[SESSD_PREFS_JSON_MAX]; /* its values as a patch, or "" */
    sessd_throttle_policy throttle;
    bool reserved; /* holds a throttle reservation for user and address (released by done) */
    /* Results. */
    int result;
    int64_t wait;      /* > 0: locked out meanwhile, not checked (answer 429) */
    sessd_value value; /* the new session's cookie value */
    int64_t max_age;   /* of the new cookie; -1 for a browser-session cookie */
} login_job;

static void free_job(login_job *j)
{
    if (j->reserved)
        sessd_throttle_release_login(j->ip, j->user);
    sess_wipe(j, sizeof(*j));
    free(j);
}

/* Ends the session the browser came with, if it has one. */
static void end_old_session(const login_job *j, int64_t now)
{
    sess_record rec;
    if (j->old.len == 0 ||
        j->old_source->open(j->old.text, j->old.len, now, false, &rec, NULL) != 0)
        return;
    if (j->old_source->end(&rec, now) != 0)
        sessd_log(SESSD_LOG_WARN, "the session a browser came to the login with could not be "
                                  "ended (the store failed); it ends by its deadlines");
    sess_record_dispose(&rec);
}

/* The preferences chosen anonymously join the user's; they win over the user's stored values
 * (they are the latest explicit choice on this device). A failure here does not fail the login:
 * the user is signed in with the stored preferences. */
static void merge_anon_prefs(login_job *j, const char *user)
{
    if (j->anon_prefs[0] == '\0')
        return;
    int r = sess_prefs_patch(sessd_srv.ctx, user, j->anon_prefs, strlen(j->anon_prefs), NULL, NULL);
    if (r != 0)
        sessd_log(SESSD_LOG_WARN, "merging anonymous preferences failed: %s", sess_strerror(r));
}

/* Step-up: the password was right and the browser's session belongs to that user: the same
 * session (its data, its deadlines) with a new token, a new authentication time (fresh: rules)
 * and a new CSRF token. False when there is no such session: an ordinary login follows. */
static bool reauth_session(login_job *j, const char *user, int64_t now)
{
    /* Only a stored session rotates; a sealed one has no record to rotate: the step-up then
     * ends it and signs in anew (login_run), which is as fresh. */
    sess_record rec;
    if (j->old.len == 0 || j->old_source != &sessd_source_stored ||
        sess_verify(sessd_srv.ctx, j->old.text, j->old.len, now, false, &rec) != 0)
        return false;
    bool mine = strcmp(rec.user, user) == 0;
    sess_record_dispose(&rec);
    if (!mine ||
        sess_rotate(sessd_srv.ctx, j->old.text, j->old.len, now, true, j->value.text, &rec) != 0)
        return false;
    j->value.len = SESS_TOKEN_STRLEN;
    j->result = 0;
    j->max_age = (rec.flags & SESS_REC_REMEMBER) ? rec.abs_expires - now : -1;
    /* Without its audit line the new token is never sent, and a step-up keeps no grace for
     * the old one: the session is ended rather than left live with a token nobody holds. */
    if (sessd_audit_change(SESSD_AUDIT_ROTATE, user, rec.id, j->ip,
                           "step-up: password confirmed") != 0) {
        if (sess_delete(sessd_srv.ctx, rec.id) != 0)
            sessd_log(SESSD_LOG_WARN, "a step-up whose audit line failed could not end its "
                                      "session; it ends by its deadlines");
        j->result = SESS_EAUDIT;
    }
    sess_record_dispose(&rec);
    sessd_metrics_login(1);
    return true;
}

/* On a worker: the password check, then the new session. */
int sessd_login_check(const char *ip, const char *user, char *password, size_t len,
                      const sessd_throttle_policy *p, int64_t now, int64_t *wait,
                      sess_account *acct)
{
    /* Parallel attempts queued behind this one may have reached the lockout. */
    int r = SESS_ERATELIMIT;
    if ((*wait = sessd_throttle_wait_login(ip, user, now)) == 0)
        r = sess_user_login(sessd_srv.ctx, user, password, len, acct);
    sess_wipe(password, len);
    if (r == SESS_EUNAUTHORIZED) {
        sessd_throttle_fail(SESSD_THROTTLE_USER, user, now, p);
        sessd_throttle_fail(SESSD_THROTTLE_ADDR, ip, now, p);
        sessd_metrics_login(0);
    } else if (r == 0) {
        sessd_throttle_reset(SESSD_THROTTLE_USER, user);
    }
    return r;
}

static void login_run(sessd_job *base)
{
    login_job *j = (login_job *)base;
    sess_account acct;
    int64_t now = sessd_now();
    j->result = sessd_login_check(j->ip, j->user, j->password, j->password_len, &j->throttle, now,
                                  &j->wait, &acct);
    if (j->result == SESS_EUNAUTHORIZED)
        sessd_audit(SESSD_AUDIT_LOGIN_FAILED, j->user, NULL, j->ip, "login form");
    if (j->result != 0)
        return;
    if (j->reauth && reauth_session(j, acct.user, now))
        return;
    end_old_session(j, now);
    sess_create_params p = {.user = acct.user,
                            .roles = acct.roles,
                            .remember = j->remember,
                            .ip = j->ip,
                            .agent = j->agent,
                            .auth_time = now};
    sess_record rec;
    const sessd_source *src = sessd_source_cookie();
    j->result = src->create(&p, now, &j->value, &rec);
    if (j->result == 0 &&
        sessd_audit_change(SESSD_AUDIT_LOGIN, acct.user, rec.id, j->ip, "login form") != 0) {
        /* Not confirmed, so not kept: nobody will ever hold its token. */
        (void)src->end_id(rec.id, now);
        sess_record_dispose(&rec);
        sess_wipe(j->value.text, j->value.len);
        j->result = SESS_EAUDIT;
    }
    if (j->result == 0) {
        j->max_age = (rec.flags & SESS_REC_REMEMBER) ? rec.abs_expires - now : -1;
        sess_record_dispose(&rec);
        if (sess_user_recheck_roles(sessd_srv.ctx, &acct) != 0)
            sessd_log(SESSD_LOG_WARN, "re-reading the roles of a new session failed");
        sessd_metrics_login(1);
        merge_anon_prefs(j, acct.user);
    }
}

static int too_many(h2o_req_t *req, int64_t wait, const char *user, const char *rd, bool reauth)
{
    auth_retry_after(req, wait);
    return show_form(req, 429, user, rd, SESSD_MSG_ERR_TOO_MANY, reauth);
}

/* Back on the request's loop: answer, unless the client has gone. */
static void login_done(sessd_job *base)
{
    login_job *j = (login_job *)base;
    h2o_req_t *req = j->base.req;
    if (req == NULL) {
        free_job(j);
        return;
    }
    if (j->base.dropped) {
        show_form(req, 503, j->user, j->rd, SESSD_MSG_ERR_UNAVAILABLE, j->reauth);
    } else if (j->wait > 0) {
        too_many(req, j->wait, j->user, j->rd, j->reauth);
    } else if (j->result == 0) {
        auth_set_session_cookie(req, j->value.text, j->max_age);
        auth_form_proof_clear(req);
        if (j->anon_cookie) {
            char name[160];
            sessd_prefs_cookie_name(name, sizeof(name));
            auth_set_cookie(req, name, "", 0);
        }
        const char *to = j->rd[0] != '\0' ? j->rd : DEFAULT_LANDING;
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_LOCATION, NULL,
                       h2o_strdup(&req->pool, to, SIZE_MAX).base, strlen(to));
        http_send_text(req, 303, "text/plain; charset=utf-8", H2O_STRLIT("signed in\n"));
    } else if (j->result == SESS_EUNAUTHORIZED) {
        show_form(req, 401, j->user, j->rd, SESSD_MSG_ERR_INVALID, j->reauth);
    } else {
        sessd_log(SESSD_LOG_WARN, "login failed on the store: %s", sess_strerror(j->result));
        show_form(req, sess_err_http_status(j->result) >= 500 ? 503 : 400, j->user, j->rd,
                  SESSD_MSG_ERR_UNAVAILABLE, j->reauth);
    }
    sessd_job_answered(&j->base, req);
    free_job(j);
}

/* ---- POST login -------------------------------------------------------------------------- */

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
    j->reauth = wants_reauth(body, len);
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
    auth_client_agent(req, j->agent);
    bool from_cookie;
    const char *tok = auth_token_src(req, &n, &from_cookie);
    if (tok != NULL && n <= SESSD_VALUE_MAX) {
        memcpy(j->old.text, tok, n);
        j->old.text[n] = '\0';
        j->old.len = n;
        j->old_source = from_cookie ? sessd_source_cookie() : &sessd_source_stored;
    }
    sessd_prefs anon;
    if (sessd_prefs_anon(req, &anon) == 0) {
        j->anon_cookie = true;
        sessd_prefs_to_json(&anon, false, j->anon_prefs);
    }
    j->throttle = (sessd_throttle_policy){c->max_failures, c->failure_window, c->lockout};
}

int sessd_auth_login_post(h2o_req_t *req)
{
    const sessd_config *c = sessd_cfg();
    login_job *j = calloc(1, sizeof(*j));
    if (j == NULL) {
        return http_send_error(req, SESS_ENOMEM, NULL);
    }
    int status = 0;
    int64_t now = sessd_now(), wait;
    bool form = read_form(req, j);
    fill_client(req, j, c);
    bool proof = auth_form_proof_ok(req);
    /* The body holds the password in clear: nothing reads it after this. */
    if (req->entity.base != NULL)
        sess_wipe(req->entity.base, req->entity.len);
    if (!proof)
        status = show_form(req, 403, j->user, j->rd, SESSD_MSG_ERR_EXPIRED_FORM, j->reauth);
    else if ((wait = sessd_throttle_wait_login(j->ip, j->user, now)) > 0)
        status = too_many(req, wait, j->user, j->rd, j->reauth);
    else if (j->remember && c->remember_me == 0) /* asked for what this site turned off */
        status = show_form(req, 400, j->user, j->rd, SESSD_MSG_ERR_REMEMBER_OFF, j->reauth);
    else if (!form) {
        auth_audit(req, SESSD_AUDIT_LOGIN_FAILED, j->user[0] ? j->user : NULL, NULL, "bad form");
        sessd_throttle_fail(SESSD_THROTTLE_ADDR, j->ip, now, &j->throttle);
        status = show_form(req, 401, j->user, j->rd, SESSD_MSG_ERR_INVALID, j->reauth);
    } else if ((wait = sessd_throttle_reserve_login(j->ip, j->user, now, &j->throttle)) > 0) {
        status = too_many(req, wait, j->user, j->rd, j->reauth);
    } else {
        j->reserved = true;
        j->base.run = login_run;
        j->base.done = login_done;
        j->base.route = SESSD_ROUTE_AUTH_LOGIN;
        if (sessd_job_submit(req, &j->base))
            return 0; /* answered by login_done */
        status = show_form(req, 503, j->user, j->rd, SESSD_MSG_ERR_BUSY, j->reauth);
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
        return auth_deny(req, SESS_ECSRF, "cross-site request refused");
    sessd_visitor v;
    sessd_visitor_load(req, false, &v); /* the signed-out page speaks the user's language */
    if (v.session_error != 0) {
        /* The session could not be checked (store unreachable): saying "signed out" while it
         * stays valid would be a lie; fail, so that the user tries again. */
        int r = v.session_error;
        sessd_visitor_dispose(&v);
        http_send_error(req, r, "the session could not be ended (store unavailable); try again");
        return sess_err_http_status(r);
    }
    if (v.signed_in && !auth_form_token_ok(req, &v.rec)) {
        sessd_visitor_dispose(&v);
        return auth_deny(req, SESS_ECSRF,
                         "the session's CSRF token is missing (and no same-origin "
                         "evidence) or is not the session's");
    }
    if (!v.signed_in && auth_token_presented(req) && !auth_origin_proven(req, c)) {
        /* Tokens but no one session (two of them, or a dead one): no CSRF token can be checked,
         * so ending them needs the browser's own word that the request is same-origin. */
        sessd_visitor_dispose(&v);
        return auth_deny(req, SESS_ECSRF, "no same-origin evidence (Origin, Sec-Fetch-Site)");
    }
    if (v.signed_in) {
        int r = auth_end_session(req, &v.rec);
        int a = auth_audit(req, SESSD_AUDIT_LOGOUT, v.rec.user, v.rec.id, r == 0 ? NULL : "failed");
        if (r == 0)
            r = a; /* ended, but not confirmed without its audit line */
        sessd_visitor_dispose(&v);
        if (r != 0) {
            http_send_error(req, r, NULL);
            return sess_err_http_status(r);
        }
    }
    if (!v.signed_in) {
        /* No one session (none, or two tokens: neither is "the" session), but the user asked
         * to sign out: end whatever live session a token presented names (the same-origin
         * evidence above stands in for the form's CSRF token) and clear every copy of the
         * cookie. */
        (void)auth_token_ambiguous(req); /* audited when two tokens were why */
        int r = auth_end_presented_sessions(req);
        if (r != 0) {
            sessd_visitor_dispose(&v);
            http_send_error(req, r,
                            r == SESS_EAUDIT
                                ? NULL
                                : "the session could not be ended (store unavailable); try again");
            return sess_err_http_status(r);
        }
        auth_clear_session_cookies(req);
    } else {
        auth_clear_session_cookie(req);
    }
    if (c->clear_site_data[0] != '\0')
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("clear-site-data"), 0, NULL,
                              c->clear_site_data, strlen(c->clear_site_data));
    snprintf(to, sizeof(to), "%s/login", c->base_path);
    sessd_page_signed_out(req, &v, to);
    return http_sent(req);
}
