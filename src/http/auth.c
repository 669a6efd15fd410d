/*
 * auth.c - the browser-facing endpoints' dispatch and small answers (auth.h), plus the two
 * small JSON endpoints, /whoami and /keepalive. Who the request is lives in identity.c, its
 * CSRF proofs in csrf.c, its address in client.c, form values in forms.c. Everything under
 * base_path answers with Cache-Control: no-store (http.c sets it on every answer).
 */
#include "http/auth.h"
#include "core/clock.h"

#include <arpa/inet.h>
#include <stdatomic.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/log.h"
#include "core/state.h"
#include "sessiond/access.h"
#include "sessiond/cookie.h"
#include "sessiond/error.h"
#include "sessiond/text.h"

int auth_see_other(h2o_req_t *req, const char *location)
{
    size_t n = strlen(location);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_LOCATION, NULL,
                   h2o_strdup(&req->pool, location, n).base, n);
    int status = http_send_text(req, 303, "text/plain; charset=utf-8", H2O_STRLIT("see other\n"));
    return status;
}

int auth_sign_in_first(h2o_req_t *req, const char *back)
{
    char to[300];
    const char *base = sessd_cfg()->base_path;
    if (auth_wants_json(req) || !http_method_is(req, "GET"))
        return auth_deny(req, SESS_EUNAUTHORIZED, "no live session; log in first");
    snprintf(to, sizeof(to), "%s/login?rd=%s%s", base, base, back);
    return auth_see_other(req, to);
}

bool auth_wants_json(h2o_req_t *req)
{
    size_t n;
    if (http_header(req, "x-requested-with", &n) != NULL)
        return true;
    const char *accept = http_header(req, "accept", &n);
    return accept != NULL && memmem(accept, n, "application/json", 16) != NULL;
}

void auth_retry_after(h2o_req_t *req, int64_t wait)
{
    char secs[24];
    int n = snprintf(secs, sizeof(secs), "%lld", (long long)wait);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL,
                   h2o_strdup(&req->pool, secs, (size_t)n).base, (size_t)n);
}

int auth_deny(h2o_req_t *req, int err, const char *msg)
{
    int status = sess_err_http_status(err);
    if (auth_wants_json(req)) {
        http_send_error(req, err, msg);
    } else {
        char line[256];
        int n = snprintf(line, sizeof(line), "%s\n", msg);
        http_send_text(req, status, "text/plain; charset=utf-8", line, (size_t)n);
    }
    return status;
}

static json_t *roles_json(const char *roles)
{
    json_t *a = json_array();
    for (const char *p = roles; p != NULL && *p != '\0';) {
        const char *c = strchr(p, ',');
        size_t n = c ? (size_t)(c - p) : strlen(p);
        json_array_append_new(a, json_stringn(p, n));
        p = c ? c + 1 : NULL;
    }
    return a;
}

/* The live session of the request into `rec`; answers 401 (or 503) itself otherwise. */
static int current_session(h2o_req_t *req, bool touch, sess_record *rec)
{
    int r = auth_session(req, touch, sessd_now(), rec);
    if (r == SESS_ESESSION) { /* these two endpoints always answer JSON */
        int status = http_send_error(req, SESS_EUNAUTHORIZED, "no live session; log in first");
        return status;
    }
    if (r != 0) {
        http_send_error(req, r, NULL);
        return sess_err_http_status(r);
    }
    return 0;
}

static int whoami(h2o_req_t *req)
{
    sess_record rec;
    char id[SESS_ID_STRLEN + 1], csrf[SESS_TOKEN_STRLEN + 1];
    int status = current_session(req, false, &rec);
    if (status != 0)
        return status;
    sess_id_to_hex(rec.id, id);
    sess_csrf_token(rec.csrf_secret, csrf);
    json_t *j =
        json_pack("{s:s, s:o, s:s, s:I, s:I, s:I, s:I, s:s}", "user", rec.user, "roles",
                  roles_json(rec.roles), "session_id", id, "created_at", (json_int_t)rec.created,
                  "auth_time", (json_int_t)rec.auth_time, "expires_at", (json_int_t)rec.abs_expires,
                  "idle_expires_at", (json_int_t)rec.idle_expires, "csrf_token", csrf);
    sess_record_dispose(&rec);
    return http_send_json(req, 200, j);
}

static int keepalive(h2o_req_t *req)
{
    sess_record rec;
    if (!auth_same_origin(req, sessd_cfg()))
        return auth_deny(req, SESS_ECSRF, "cross-site request refused");
    int status = current_session(req, false, &rec);
    if (status != 0)
        return status;
    bool ok = auth_form_token_ok(req, &rec);
    sess_record_dispose(&rec);
    if (!ok) {
        return http_send_error(req, SESS_ECSRF,
                               "X-CSRF-Token is missing (and no same-origin evidence) or is not "
                               "the session's");
    }
    if ((status = current_session(req, true, &rec)) != 0)
        return status;
    json_t *j = json_pack("{s:I, s:I}", "idle_expires_at", (json_int_t)rec.idle_expires,
                          "expires_at", (json_int_t)rec.abs_expires);
    sess_record_dispose(&rec);
    return http_send_json(req, 200, j);
}

static int not_allowed(h2o_req_t *req, const char *allow)
{
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL, allow, strlen(allow));
    return http_send_error(req, SESS_EMETHOD, "method not allowed");
}

/* The browser-facing endpoints: path under base_path, metrics route, GET and POST handlers
 * (NULL where the method is not allowed). */
static const struct {
    const char *path;
    enum sessd_route route;
    int (*get)(h2o_req_t *req);
    int (*post)(h2o_req_t *req);
} endpoints[] = {
    {"/verify", SESSD_ROUTE_AUTH_VERIFY, sessd_auth_verify, NULL},
    {"/login", SESSD_ROUTE_AUTH_LOGIN, sessd_auth_login_page, sessd_auth_login_post},
    {"/logout", SESSD_ROUTE_AUTH_LOGOUT, NULL, sessd_auth_logout},
    {"/whoami", SESSD_ROUTE_AUTH_WHOAMI, whoami, NULL},
    {"/keepalive", SESSD_ROUTE_AUTH_KEEPALIVE, NULL, keepalive},
    {"/preferences", SESSD_ROUTE_AUTH_PREFERENCES, sessd_auth_prefs_page, sessd_auth_prefs_post},
    {"/sessions", SESSD_ROUTE_AUTH_SESSIONS, sessd_auth_devices_page, NULL},
    {"/sessions/revoke", SESSD_ROUTE_AUTH_SESSIONS, NULL, sessd_auth_devices_revoke},
    {"/password", SESSD_ROUTE_AUTH_PASSWORD, sessd_auth_password_page, sessd_auth_password_post},
    {"/session.js", SESSD_ROUTE_AUTH_OTHER, sessd_auth_script, NULL},
    {"/style.css", SESSD_ROUTE_AUTH_OTHER, sessd_auth_style, NULL},
    {"/api/login", SESSD_ROUTE_AUTH_API, NULL, sessd_auth_api_login},
    {"/api/refresh", SESSD_ROUTE_AUTH_API, NULL, sessd_auth_api_refresh},
    {"/api/logout", SESSD_ROUTE_AUTH_API, NULL, sessd_auth_api_logout},
};

int sessd_auth(h2o_req_t *req, const char *rest, size_t len, enum sessd_route *route)
{
    bool get = http_method_is(req, "GET") || http_method_is(req, "HEAD");
    bool post = http_method_is(req, "POST");
    for (size_t i = 0; i < sizeof(endpoints) / sizeof(endpoints[0]); i++) {
        if (!h2o_memis(rest, len, endpoints[i].path, strlen(endpoints[i].path)))
            continue;
        *route = endpoints[i].route;
        if (get && endpoints[i].get)
            return endpoints[i].get(req);
        if (post && endpoints[i].post)
            return endpoints[i].post(req);
        return not_allowed(req, endpoints[i].get && endpoints[i].post ? "GET, HEAD, POST"
                                : endpoints[i].get                    ? "GET, HEAD"
                                                                      : "POST");
    }
    *route = SESSD_ROUTE_AUTH_OTHER;
    return http_send_error(req, SESS_ENOTFOUND, "no such endpoint");
}
