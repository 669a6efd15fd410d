/*
 * verify.c - GET /auth/verify, the forward-auth check behind nginx auth_request, Caddy
 * forward_auth and Traefik forwardAuth (contract section 4).
 *
 * The proxy asks on behalf of an original request that it describes in X-Forwarded-* (or
 * X-Original-*) headers and whose Cookie and Authorization it passes along. The first matching
 * [rule NAME] decides: public (200, no identity), authenticated, role:R, fresh:DURATION; no rule
 * is deny. A pass is 200 with the identity headers of the [headers] forward allow-list, each
 * value sanitised. This is the hot path: one store lookup, no store write (a touch is only
 * queued), and, when preferences are forwarded, one more read.
 *
 * With ?redirect=1 (for Caddy and Traefik, which pass the answer through as it is), a browser
 * navigation without a session gets a 302 to the login page instead of the 401.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "http/auth.h"
#include "core/clock.h"
#include "core/rules.h"
#include "core/state.h"
#include "sessiond/access.h"
#include "sessiond/error.h"

/* The original request as the proxy describes it. `uri` is as sent (for the login redirect);
 * `path` is its canonical path decoded (access.h), `host` normalised (rules.h), `method` upper
 * case. */
typedef struct original {
    const char *uri;
    size_t uri_len;
    char method[16];
    size_t method_len;
    const char *raw_host; /* as sent, with its port: the request's own origin for CSRF */
    size_t raw_host_len;
    char host[256];
    size_t host_len;
    char path[SESSD_URI_MAX + 1];
    size_t path_len;
} original;

/* The headers a proxy describes the original request with, found in one pass over the request's
 * headers (their names all differ in length). A header sent twice is ambiguous (a client's copy
 * passed along next to the proxy's: which one is true cannot be known). */
enum { FWD_URI, ORIG_URI, FWD_METHOD, ORIG_METHOD, FWD_HOST, N_PROXY_HEADERS };
static const h2o_iovec_t proxy_names[N_PROXY_HEADERS] = {
    {H2O_STRLIT("x-forwarded-uri")},    {H2O_STRLIT("x-original-uri")},
    {H2O_STRLIT("x-forwarded-method")}, {H2O_STRLIT("x-original-method")},
    {H2O_STRLIT("x-forwarded-host")},
};

typedef struct proxy_headers {
    h2o_iovec_t v[N_PROXY_HEADERS]; /* base NULL when absent */
    bool twice;
} proxy_headers;

static void find_proxy_headers(h2o_req_t *req, proxy_headers *ph)
{
    memset(ph, 0, sizeof(*ph));
    for (size_t i = 0; i < req->headers.size; i++) {
        const h2o_header_t *h = &req->headers.entries[i];
        for (int k = 0; k < N_PROXY_HEADERS; k++) {
            if (!h2o_memis(h->name->base, h->name->len, proxy_names[k].base, proxy_names[k].len))
                continue;
            if (ph->v[k].base != NULL)
                ph->twice = true;
            ph->v[k] = h->value;
            break;
        }
    }
}

/* X-Forwarded-NAME or X-Original-NAME. When both are sent they must agree: a proxy that sets
 * one and passes the client's other along must not let the client choose what is checked. */
static const char *forwarded(const proxy_headers *ph, int fwd, int orig, size_t *len, bool *bad)
{
    const h2o_iovec_t *f = &ph->v[fwd], *o = &ph->v[orig];
    if (f->base != NULL && o->base != NULL && !h2o_memis(f->base, f->len, o->base, o->len))
        *bad = true;
    const h2o_iovec_t *v = f->base != NULL ? f : o;
    *len = v->len;
    return v->base;
}

/* Fills `o`; -1 (after answering 400) when the description is missing or ambiguous. */
static int describe(h2o_req_t *req, const proxy_headers *ph, original *o)
{
    bool bad = ph->twice;
    size_t ml = 0, hl = ph->v[FWD_HOST].len;
    const char *m = forwarded(ph, FWD_METHOD, ORIG_METHOD, &ml, &bad);
    o->uri = forwarded(ph, FWD_URI, ORIG_URI, &o->uri_len, &bad);
    const char *h = ph->v[FWD_HOST].base;
    /* No fallback to verify's own method: nginx's auth_request subrequest is always a GET, so
     * a proxy that forgot the method header would have every POST judged as a GET (no CSRF
     * check, GET-only rules matching). Fail closed instead. */
    if (h == NULL) {
        h = req->authority.base;
        hl = req->authority.len;
    }
    if (bad || o->uri == NULL || o->uri_len == 0 || m == NULL || ml == 0 ||
        ml >= sizeof(o->method)) {
        auth_deny(req, SESS_EINVAL,
                  "the proxy must describe the original request once: X-Forwarded-Uri (or "
                  "X-Original-URI), X-Forwarded-Method, X-Forwarded-Host");
        return -1;
    }
    for (size_t i = 0; i < ml; i++)
        o->method[i] = (char)toupper((unsigned char)m[i]);
    o->method[ml] = '\0';
    o->method_len = ml;
    /* Never normalise and allow: the application receives the target as it was sent, and may
     * read a dot segment, an escape or a "#" differently from a normaliser here. */
    int n = sess_canonical_target(o->uri, o->uri_len, o->path, sizeof(o->path));
    int k = sessd_normalize_host(h, hl, o->host, sizeof(o->host));
    if (n < 0 || k < 0) {
        auth_deny(req, SESS_EINVAL,
                  n < 0 ? "the original request target is not canonical (dot segments, //, #, "
                          "encoded characters that need no escape, invalid escapes or UTF-8)"
                        : "the original host is malformed");
        return -1;
    }
    o->path_len = (size_t)n;
    o->host_len = (size_t)k;
    o->raw_host = h;
    o->raw_host_len = hl;
    return 0;
}

/* The CSRF proof of an unsafe request (access.h): the session's token, a same-origin
 * Sec-Fetch-Site, or an Origin that is the request's own (scheme from X-Forwarded-Proto or the
 * public URL, and its host) or an allowed one ([csrf]). */
static void csrf_request(h2o_req_t *req, const original *o, const sessd_config *c, sess_csrf_req *q)
{
    q->token.p = http_header(req, "x-csrf-token", &q->token.n);
    q->site.p = http_header(req, "sec-fetch-site", &q->site.n);
    q->origin.p = http_header(req, "origin", &q->origin.n);
    q->scheme.p = http_header(req, "x-forwarded-proto", &q->scheme.n);
    if (q->scheme.p == NULL) {
        q->scheme.p = strncmp(c->public_url, "https:", 6) == 0 ? "https" : "http";
        q->scheme.n = strlen(q->scheme.p);
    }
    q->host = (sess_str){o->raw_host, o->raw_host_len};
}

/* ---- identity headers -------------------------------------------------------------------- */

/* A value sessiond made itself (hex, decimal, base64url: nothing to clean), copied to the pool.
 * `name` must outlive the request (a literal): h2o keeps the pointer. */
static void add_own(h2o_req_t *req, const char *name, const char *value, size_t len)
{
    h2o_iovec_t v = h2o_strdup(&req->pool, value, len);
    h2o_add_header_by_str(&req->pool, &req->res.headers, name, strlen(name), 0, NULL, v.base,
                          v.len);
}

/* `name` must outlive the request (a literal, or pool memory): h2o keeps the pointer. The value
 * is sanitised straight into the request's pool. */
static void add_identity(h2o_req_t *req, const char *name, const char *value, size_t len)
{
    /* One byte more than the value when it fits: a value cut at the bound loses a partial UTF-8
     * character at its end, one that fits is kept as it is. */
    size_t cap = (len < SESSD_HEADER_VALUE_MAX ? len + 1 : SESSD_HEADER_VALUE_MAX) + 1;
    char *clean = h2o_mem_alloc_pool(&req->pool, cap);
    size_t n = auth_sanitize(value, len, clean, cap);
    h2o_add_header_by_str(&req->pool, &req->res.headers, name, strlen(name), 0, NULL, clean, n);
}

/* A preference's value as header text: strings as they are, numbers and booleans printed. */
static void add_pref(h2o_req_t *req, json_t *prefs, const char *key, size_t key_len)
{
    char name[96], k[72], num[32];
    if (key_len >= sizeof(k))
        return;
    memcpy(k, key, key_len);
    k[key_len] = '\0';
    json_t *v = json_object_get(prefs, k);
    const char *text = NULL;
    size_t len = 0;
    if (json_is_string(v)) {
        text = json_string_value(v);
        len = json_string_length(v);
    } else if (json_is_integer(v)) {
        len = (size_t)snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
        text = num;
    } else if (json_is_boolean(v)) {
        text = json_is_true(v) ? "true" : "false";
        len = strlen(text);
    }
    if (text == NULL)
        return;
    int nl = snprintf(name, sizeof(name), "x-auth-pref-%s", k);
    add_identity(req, h2o_strdup(&req->pool, name, (size_t)nl).base, text, len);
}

static json_t *load_prefs(const char *user)
{
    char *json = NULL;
    size_t len = 0;
    json_error_t jerr;
    if (sess_prefs_get(sessd_srv.ctx, user, &json, &len) != 0)
        return NULL;
    if (len == 2 && memcmp(json, "{}", 2) == 0) { /* none: nothing to parse */
        free(json);
        return NULL;
    }
    json_t *o = json_loadb(json, len, 0, &jerr);
    free(json);
    return o;
}

static void add_forwarded(h2o_req_t *req, const sess_record *rec, const sessd_config *c)
{
    /* Room for every identity header at once: growing the list one by one copies it. */
    h2o_vector_reserve(&req->pool, &req->res.headers, req->res.headers.size + 8);
    char id[SESS_ID_STRLEN + 1], csrf[SESS_TOKEN_STRLEN + 1], exp[SESS_I64_STRLEN + 1];
    json_t *prefs = NULL;
    bool prefs_loaded = false;
    for (const char *p = c->forward; *p != '\0';) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        if (h2o_memis(p, n, H2O_STRLIT("user"))) {
            add_identity(req, "x-auth-user", rec->user, strlen(rec->user));
        } else if (h2o_memis(p, n, H2O_STRLIT("roles"))) {
            add_identity(req, "x-auth-roles", rec->roles, strlen(rec->roles));
        } else if (h2o_memis(p, n, H2O_STRLIT("session"))) {
            sess_id_to_hex(rec->id, id);
            add_own(req, "x-auth-session", id, SESS_ID_STRLEN);
        } else if (h2o_memis(p, n, H2O_STRLIT("expires"))) {
            int64_t e = rec->idle_expires < rec->abs_expires ? rec->idle_expires : rec->abs_expires;
            add_own(req, "x-auth-expires", exp, sess_i64_text(e, exp));
        } else if (h2o_memis(p, n, H2O_STRLIT("csrf"))) {
            sess_csrf_token(rec->csrf_secret, csrf);
            add_own(req, "x-csrf-token", csrf, SESS_TOKEN_STRLEN);
        } else if (n > 5 && memcmp(p, "pref.", 5) == 0) {
            if (!prefs_loaded) {
                prefs = load_prefs(rec->user);
                prefs_loaded = true;
            }
            if (prefs != NULL)
                add_pref(req, prefs, p + 5, n - 5);
        }
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    json_decref(prefs);
}

/* ---- answers ----------------------------------------------------------------------------- */

static bool wants_redirect(h2o_req_t *req)
{
    if (req->query_at == SIZE_MAX)
        return false;
    const char *q = req->path.base + req->query_at + 1;
    size_t n = req->path.len - req->query_at - 1;
    char v[8];
    return auth_form_value(q, n, "redirect", v, sizeof(v), false) == 1 && v[0] == '1';
}

/* A 302 to `base_path` + `login` (e.g. "/login?rd=") followed by the original URI,
 * percent-encoded, so that the browser comes back to it. */
static int to_login(h2o_req_t *req, const original *o, const sessd_config *c, const char *login)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t cap = strlen(c->base_path) + strlen(login) + 1 + o->uri_len * 3;
    char *loc = h2o_mem_alloc_pool(&req->pool, cap);
    size_t n = (size_t)snprintf(loc, cap, "%s%s", c->base_path, login);
    for (size_t i = 0; i < o->uri_len; i++) {
        unsigned char ch = (unsigned char)o->uri[i];
        if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
            strchr("-._~/", ch) != NULL) {
            loc[n++] = (char)ch;
        } else {
            loc[n++] = '%';
            loc[n++] = hex[ch >> 4];
            loc[n++] = hex[ch & 15];
        }
    }
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_LOCATION, NULL, loc, n);
    int status =
        http_send_text(req, 302, "text/plain; charset=utf-8", H2O_STRLIT("log in first\n"));
    return status;
}

/* 401, or for a navigation when the proxy asked for it, a 302 to the login page that brings the
 * browser back to the original URI. */
static int unauthenticated(h2o_req_t *req, const original *o, const sessd_config *c)
{
    if (!wants_redirect(req) || auth_wants_json(req))
        return auth_deny(req, SESS_EUNAUTHORIZED, "no live session; log in first");
    return to_login(req, o, c, "/login?rd=");
}

/* A fresh: rule and a login older than it allows: 403 (contract section 4) with
 * X-Auth-Reason: reauth, which a proxy can tell from a role's 403 (the nginx example sends
 * navigations to the login page's step-up form, base_path/login?reauth=1&rd=URI, on it); with
 * ?redirect=1 sessiond sends that 302 itself. */
static int reauth_needed(h2o_req_t *req, const original *o, const sessd_config *c)
{
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-auth-reason"), 0, NULL,
                          H2O_STRLIT("reauth"));
    if (!wants_redirect(req) || auth_wants_json(req))
        return auth_deny(req, SESS_EFORBIDDEN, "this needs a recent login; log in again");
    return to_login(req, o, c, "/login?reauth=1&rd=");
}

static int check(h2o_req_t *req, const original *o, const sessd_access *acc, const sessd_config *c)
{
    if (acc->kind == SESSD_POLICY_DENY)
        return auth_deny(req, SESS_EFORBIDDEN, "no access rule allows this request");
    if (acc->kind == SESSD_POLICY_PUBLIC) {
        return http_send_empty(req, 200);
    }
    sess_record rec;
    int64_t now = sessd_now();
    int r = auth_session_check(req, acc->touch, now, &rec);
    if (r == SESS_ESESSION) {
        (void)auth_token_ambiguous(req); /* audited when two tokens were why */
        return unauthenticated(req, o, c);
    }
    if (r != 0) {
        http_send_error(req, r, NULL);
        return sess_err_http_status(r);
    }
    int status = 200;
    sess_csrf_req q = {0};
    sess_csrf_policy cp = {c->require_token, c->allowed_origins};
    if (sess_unsafe_method(o->method, o->method_len)) /* the only requests it is read for */
        csrf_request(req, o, c, &q);
    switch (sess_access_decide(&rec, now, acc->kind == SESSD_POLICY_ROLE ? acc->role : NULL,
                               acc->kind == SESSD_POLICY_FRESH ? acc->fresh : -1, o->method,
                               o->method_len, &q, &cp)) {
    case SESS_ACCESS_NO_ROLE:
        status = auth_deny(req, SESS_EFORBIDDEN, "this needs a role the session does not have");
        break;
    case SESS_ACCESS_REAUTH:
        status = reauth_needed(req, o, c);
        break;
    case SESS_ACCESS_CSRF_FAILED:
        status = auth_deny(req, SESS_ECSRF, "CSRF check failed");
        break;
    case SESS_ACCESS_ALLOW:
        break;
    }
    if (status == 200) {
        /* Only now: a proxy passes the new cookie on with a success, not with a 403. */
        auth_session_rotate(req, &rec, now);
        add_forwarded(req, &rec, c);
        /* No body, so no Content-Type (nor nosniff): two header lines fewer for the proxy to
         * parse on every request; Cache-Control: no-store stays. */
        http_send_empty(req, 200);
    }
    sess_record_dispose(&rec);
    return status;
}

int sessd_auth_verify(h2o_req_t *req)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    const sessd_config *c = sessd_cfg();
    original o;
    sessd_access acc;
    size_t ul = 0;
    bool dup = false;
    proxy_headers ph;
    find_proxy_headers(req, &ph);
    if (forwarded(&ph, FWD_URI, ORIG_URI, &ul, &dup) != NULL && ul > SESSD_URI_MAX)
        return auth_deny(req, SESS_EURI, "the original URI is too long");
    if (describe(req, &ph, &o) != 0)
        return http_sent(req);
    sessd_rules_match(c, o.host, o.host_len, o.path, o.path_len, o.method, o.method_len, &acc);
    int status = check(req, &o, &acc, c);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    sessd_metrics_verify_latency(
        (uint64_t)((t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000));
    return status;
}
