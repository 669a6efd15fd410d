/*
 * auth.c - the browser-facing endpoints' dispatch and shared helpers (auth.h), plus the two
 * small JSON endpoints, /whoami and /keepalive. Everything under base_path answers with
 * Cache-Control: no-store (http.c sets it on every answer).
 */
#include "http/auth.h"

#include <arpa/inet.h>
#include <stdatomic.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/log.h"
#include "http/sealed.h"
#include "core/state.h"
#include "sessiond/access.h"
#include "sessiond/cookie.h"
#include "sessiond/error.h"
#include "sessiond/text.h"

/* ---- tokens and cookies ------------------------------------------------------------------ */

const char *auth_cookie(h2o_req_t *req, const char *name, size_t *len)
{
    for (ssize_t i = -1; (i = h2o_find_header(&req->headers, H2O_TOKEN_COOKIE, i)) != -1;) {
        const h2o_iovec_t *v = &req->headers.entries[i].value;
        const char *val;
        if (sess_cookie_find(v->base, v->len, name, &val, len) == 0)
            return val;
    }
    return NULL;
}

const char *auth_token(h2o_req_t *req, size_t *len)
{
    bool from_cookie;
    return auth_token_src(req, len, &from_cookie);
}

/* The session cookie's one value (sess_cookie_pick over every Cookie header) and the Bearer
 * credential. Ambiguous: two different values for the cookie, or two Authorization headers
 * (which one a proxy or an application reads is unknown). */
typedef struct request_token {
    sess_cookie_one cookie;
    const char *bearer;
    size_t bearer_len;
    bool ambiguous;
} request_token;

static void read_token(h2o_req_t *req, request_token *t)
{
    memset(t, 0, sizeof(*t));
    const char *name = sessd_cfg()->cookie_name;
    for (ssize_t i = -1; (i = h2o_find_header(&req->headers, H2O_TOKEN_COOKIE, i)) != -1;)
        sess_cookie_pick(&t->cookie, req->headers.entries[i].value.base,
                         req->headers.entries[i].value.len, name);
    t->bearer = http_bearer(req, &t->bearer_len);
    ssize_t auth = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
    t->ambiguous =
        t->cookie.ambiguous ||
        (auth >= 0 && h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, auth) >= 0);
}

const char *auth_token_src(h2o_req_t *req, size_t *len, bool *from_cookie)
{
    request_token t;
    read_token(req, &t);
    *from_cookie = false;
    if (t.ambiguous)
        return NULL;
    if (t.cookie.value != NULL) {
        *from_cookie = true;
        *len = t.cookie.len;
        return t.cookie.value;
    }
    *len = t.bearer_len;
    return t.bearer;
}

/* At most this many "cookie_conflict" audit lines a second: any client can send such requests
 * at will, and each line costs a locked append. The others are counted and the next line
 * written says how many were left out. */
#define CONFLICT_AUDIT_PER_S 10

static void audit_conflict(h2o_req_t *req, const char *what)
{
    static _Atomic int64_t window;
    static _Atomic unsigned used;
    static _Atomic unsigned long left_out;
    int64_t now = (int64_t)time(NULL), w = atomic_load(&window);
    if (w != now && atomic_compare_exchange_strong(&window, &w, now))
        atomic_store(&used, 0);
    if (atomic_fetch_add(&used, 1) >= CONFLICT_AUDIT_PER_S) {
        atomic_fetch_add(&left_out, 1);
        return;
    }
    char detail[200];
    unsigned long n = atomic_exchange(&left_out, 0);
    int k = snprintf(detail, sizeof(detail), "%s: treated as no session", what);
    if (n > 0)
        snprintf(detail + k, sizeof(detail) - (size_t)k, " (%lu more not written)", n);
    auth_audit(req, SESSD_AUDIT_COOKIE_CONFLICT, NULL, NULL, detail);
}

bool auth_token_ambiguous(h2o_req_t *req)
{
    request_token t;
    read_token(req, &t);
    if (t.ambiguous)
        audit_conflict(req, t.cookie.ambiguous ? "two different session cookies"
                                               : "two Authorization headers");
    return t.ambiguous;
}

/* A session cookie's live session `rec` and a Bearer credential that names another live
 * session: the request names two sessions (contract section 4). A Bearer credential that is
 * no session token (an application's own) or the same session's does not count. 0 when there
 * is no conflict, SESS_ESESSION (audited) when there is one, or the store's error. Only when
 * both are sent, which a browser alone never does: one more lookup then. */
static int bearer_conflict(h2o_req_t *req, const sess_record *rec, int64_t now)
{
    size_t cl, bl;
    bool from_cookie;
    const char *b = http_bearer(req, &bl);
    if (b == NULL) /* the usual case: one header lookup */
        return 0;
    const char *c = auth_token_src(req, &cl, &from_cookie);
    if (!from_cookie || (bl == cl && sess_ct_equal(b, c, cl)))
        return 0;
    sess_record other;
    int r = sess_verify(sessd_srv.ctx, b, bl, now, false, &other);
    if (r == SESS_ESESSION)
        return 0;
    if (r != 0)
        return r;
    bool same = sess_ct_equal(other.id, rec->id, SESS_ID_BYTES);
    sess_record_dispose(&other);
    if (same)
        return 0;
    audit_conflict(req, "a session cookie and a Bearer token of another session");
    return SESS_ESESSION;
}

/* Ends the session of every token the request presents under the session cookie's name and as
 * a Bearer credential (at most MAX_PRESENTED): for a logout that found no one session, as
 * holding a token is authority enough to end its session. 0, or the store's first error. */
#define MAX_PRESENTED 8

static int end_presented(h2o_req_t *req, const char *tok, size_t len, bool cookie, int64_t now)
{
    sess_record rec;
    int r = cookie && sessd_sealed() ? sessd_sealed_open(req, tok, len, false, now, &rec)
                                     : sess_verify(sessd_srv.ctx, tok, len, now, false, &rec);
    if (r == SESS_ESESSION)
        return 0;
    if (r != 0)
        return r;
    r = cookie && sessd_sealed() ? sess_stateless_end(sessd_srv.ctx, &rec, now)
                                 : sess_delete(sessd_srv.ctx, rec.id);
    auth_audit(req, SESSD_AUDIT_LOGOUT, rec.user, rec.id,
               r == 0 ? "one of several tokens presented" : "failed");
    sess_record_dispose(&rec);
    return r;
}

int auth_end_presented_sessions(h2o_req_t *req)
{
    const char *name = sessd_cfg()->cookie_name;
    int64_t now = (int64_t)time(NULL);
    int first = 0, n = 0;
    for (ssize_t i = -1; (i = h2o_find_header(&req->headers, H2O_TOKEN_COOKIE, i)) != -1;) {
        const h2o_iovec_t *h = &req->headers.entries[i].value;
        const char *v;
        size_t vl, at = 0;
        while (n < MAX_PRESENTED && at < h->len &&
               sess_cookie_find(h->base + at, h->len - at, name, &v, &vl) == 0) {
            int r = end_presented(req, v, vl, true, now);
            first = first != 0 ? first : r;
            n++;
            at = (size_t)(v - h->base) + vl + 1;
        }
    }
    size_t bl;
    const char *b = http_bearer(req, &bl);
    if (b != NULL && n < MAX_PRESENTED) {
        int r = end_presented(req, b, bl, false, now);
        first = first != 0 ? first : r;
    }
    return first;
}

void auth_client_agent(h2o_req_t *req, char out[SESS_AGENT_MAX + 1])
{
    size_t n;
    const char *ua = http_header(req, "user-agent", &n);
    out[0] = '\0';
    if (ua != NULL)
        auth_sanitize(ua, n < SESS_AGENT_MAX ? n : SESS_AGENT_MAX, out, SESS_AGENT_MAX + 1);
}

bool auth_agent_matches(const sess_record *rec, const char *agent)
{
    return !sessd_cfg()->bind_user_agent || sess_agent_matches(rec, agent);
}

/* A session whose user's roles changed since its token was issued gets a new token now, when
 * the token came in the cookie (the answer's Set-Cookie replaces it; a Bearer client could not
 * learn a new token from a verify answer, so its token stays until it rotates by the API). When
 * another request rotated first, this token is the previous one and keeps working for
 * rotate_grace: nothing to do. */
void auth_session_rotate(h2o_req_t *req, sess_record *rec, int64_t now)
{
    size_t len;
    bool from_cookie;
    char fresh[SESS_TOKEN_STRLEN + 1];
    sess_record after;
    if (!(rec->flags & SESS_REC_ROLES_CHANGED))
        return;
    const char *tok = auth_token_src(req, &len, &from_cookie);
    if (!from_cookie || sess_rotate(sessd_srv.ctx, tok, len, now, false, fresh, &after) != 0)
        return;
    auth_set_session_cookie(req, fresh,
                            (after.flags & SESS_REC_REMEMBER) ? after.abs_expires - now : -1);
    auth_audit(req, SESSD_AUDIT_ROTATE, after.user, after.id, "the user's roles changed");
    sess_wipe(fresh, sizeof(fresh));
    sess_record_dispose(rec);
    *rec = after;
}

int auth_end_session(h2o_req_t *req, const sess_record *rec)
{
    size_t len;
    bool from_cookie;
    if (sessd_sealed() && auth_token_src(req, &len, &from_cookie) != NULL && from_cookie)
        return sess_stateless_end(sessd_srv.ctx, rec, (int64_t)time(NULL));
    return sess_delete(sessd_srv.ctx, rec->id);
}

void auth_end_bound_session(const sess_record *rec)
{
    /* Another browser holds this session's token: end the session for everyone. */
    char id[SESS_ID_STRLEN + 1];
    sess_id_to_hex(rec->id, id);
    sessd_log(SESSD_LOG_NOTICE, "session %s of %s ended: its token came from another user agent",
              id, rec->user);
    sessd_audit(SESSD_AUDIT_THEFT, rec->user, rec->id, NULL,
                "token used from another user agent (bind_user_agent): session ended");
    if (sess_delete(sessd_srv.ctx, rec->id) != 0)
        sessd_log(SESSD_LOG_WARN,
                  "session %s could not be ended (the store failed); its token "
                  "is refused from that user agent, and the request was answered 401",
                  id);
}

int auth_session_check(h2o_req_t *req, bool touch, int64_t now, sess_record *rec)
{
    size_t len;
    bool from_cookie;
    const char *tok = auth_token_src(req, &len, &from_cookie);
    if (tok == NULL)
        return SESS_ESESSION;
    /* [store] kind = cookie: the cookie is the sealed session; Bearer tokens are stored ones. */
    if (from_cookie && sessd_sealed()) {
        int r = sessd_sealed_open(req, tok, len, touch, now, rec);
        if (r == 0 && (r = bearer_conflict(req, rec, now)) != 0)
            sess_record_dispose(rec);
        return r;
    }
    int r = sess_verify(sessd_srv.ctx, tok, len, now, touch, rec);
    if (r == 0 && from_cookie && (r = bearer_conflict(req, rec, now)) != 0)
        sess_record_dispose(rec);
    if (r != 0)
        return r;
    if (sessd_cfg()->bind_user_agent) {
        char agent[SESS_AGENT_MAX + 1];
        auth_client_agent(req, agent);
        if (!auth_agent_matches(rec, agent)) {
            auth_end_bound_session(rec);
            sess_record_dispose(rec);
            return SESS_ESESSION;
        }
    }
    return 0;
}

int auth_session(h2o_req_t *req, bool touch, int64_t now, sess_record *rec)
{
    int r = auth_session_check(req, touch, now, rec);
    if (r == 0)
        auth_session_rotate(req, rec, now);
    return r;
}

/* ---- the CSRF proof of our forms --------------------------------------------------------- */

#define NONCE_COOKIE_SUFFIX "_login"
#define NONCE_MAX_AGE 3600

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

void auth_form_proof(h2o_req_t *req, char proof[SESS_TOKEN_STRLEN + 1])
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

bool auth_form_proof_ok(h2o_req_t *req)
{
    char name[160], want[SESS_TOKEN_STRLEN + 1], given[SESS_TOKEN_STRLEN + 2];
    size_t len, blen;
    const char *body = auth_body(req, &blen);
    long gl = auth_form_value(body, blen, "csrf", given, sizeof(given), false);
    nonce_cookie_name(name, sizeof(name));
    const char *nonce = auth_cookie(req, name, &len);
    if (!auth_same_origin(req, sessd_cfg()) || nonce == NULL || len != SESS_TOKEN_STRLEN ||
        gl != SESS_TOKEN_STRLEN)
        return false;
    proof_of(nonce, len, want);
    return sess_ct_equal(given, want, SESS_TOKEN_STRLEN);
}

void auth_form_proof_clear(h2o_req_t *req)
{
    char name[160];
    nonce_cookie_name(name, sizeof(name));
    auth_set_cookie(req, name, "", 0);
}

const char *auth_body(h2o_req_t *req, size_t *len)
{
    *len = req->entity.base != NULL ? req->entity.len : 0;
    return req->entity.base != NULL ? req->entity.base : "";
}

int auth_see_other(h2o_req_t *req, const char *location)
{
    size_t n = strlen(location);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_LOCATION, NULL,
                   h2o_strdup(&req->pool, location, n).base, n);
    http_send_text(req, 303, "text/plain; charset=utf-8", H2O_STRLIT("see other\n"));
    return 303;
}

/* ---- the client's address ---------------------------------------------------------------- */

typedef struct addr {
    int family;
    uint8_t bytes[16];
} addr;

static bool parse_addr(const char *s, size_t len, addr *a)
{
    char buf[64];
    while (len > 0 && (*s == ' ' || *s == '\t')) {
        s++;
        len--;
    }
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    if (len == 0 || len >= sizeof(buf))
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (inet_pton(AF_INET, buf, a->bytes) == 1) {
        a->family = AF_INET;
        return true;
    }
    if (inet_pton(AF_INET6, buf, a->bytes) == 1) {
        a->family = AF_INET6;
        return true;
    }
    return false;
}

/* One "ADDR" or "ADDR/BITS" of trusted_proxies. */
static bool cidr_has(const char *item, size_t len, const addr *a)
{
    const char *slash = memchr(item, '/', len);
    addr net;
    if (!parse_addr(item, slash ? (size_t)(slash - item) : len, &net) || net.family != a->family)
        return false;
    int max = a->family == AF_INET ? 32 : 128, bits = max;
    if (slash != NULL) {
        bits = 0;
        for (const char *p = slash + 1; p < item + len; p++)
            bits = bits * 10 + (*p - '0');
        if (bits > max)
            return false;
    }
    int full = bits / 8, rest = bits % 8;
    if (memcmp(net.bytes, a->bytes, (size_t)full) != 0)
        return false;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return rest == 0 || (net.bytes[full] & mask) == (a->bytes[full] & mask);
}

static bool trusted(const sessd_config *c, const addr *a)
{
    const char *p = c->trusted_proxies;
    while (*p != '\0') {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        while (n > 0 && *p == ' ') {
            p++;
            n--;
        }
        if (n > 0 && cidr_has(p, n, a))
            return true;
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    return false;
}

void auth_client_ip(h2o_req_t *req, const sessd_config *c, char out[64])
{
    addr a;
    size_t xlen;
    http_peer_addr(req, out, 64);
    if (c->trusted_proxies[0] == '\0' || !parse_addr(out, strlen(out), &a) || !trusted(c, &a))
        return;
    const char *xff = http_header(req, "x-forwarded-for", &xlen);
    /* From the right: each hop appended the address it saw; the first one that is not a proxy
     * we trust is the client. A malformed entry stops the walk (we keep what we have). */
    while (xff != NULL && xlen > 0) {
        const char *comma = memrchr(xff, ',', xlen);
        const char *item = comma ? comma + 1 : xff;
        size_t n = (size_t)(xff + xlen - item);
        if (!parse_addr(item, n, &a))
            return;
        inet_ntop(a.family, a.bytes, out, 64);
        if (!trusted(c, &a))
            return;
        xlen = comma ? (size_t)(comma - xff) : 0;
    }
}

/* ---- request traits ---------------------------------------------------------------------- */

void auth_audit(h2o_req_t *req, enum sessd_audit_event ev, const char *user,
                const uint8_t *session_id, const char *detail)
{
    char ip[64];
    auth_client_ip(req, sessd_cfg(), ip);
    sessd_audit(ev, user, session_id, ip, detail);
}

bool auth_wants_json(h2o_req_t *req)
{
    size_t n;
    if (http_header(req, "x-requested-with", &n) != NULL)
        return true;
    const char *accept = http_header(req, "accept", &n);
    return accept != NULL && memmem(accept, n, "application/json", 16) != NULL;
}

/* "scheme://host[:port]" of the public URL into `out`. */
static size_t public_origin(const sessd_config *c, char *out, size_t cap)
{
    const char *u = c->public_url, *host = strstr(u, "://");
    size_t n = host ? (size_t)(host + 3 - u) + strcspn(host + 3, "/") : strlen(u);
    if (n >= cap)
        n = cap - 1;
    memcpy(out, u, n);
    out[n] = '\0';
    return n;
}

bool auth_origin_proven(h2o_req_t *req, const sessd_config *c)
{
    size_t n;
    char pub[512];
    const char *site = http_header(req, "sec-fetch-site", &n);
    if (site != NULL && h2o_memis(site, n, H2O_STRLIT("cross-site")))
        return false;
    if (site != NULL && h2o_memis(site, n, H2O_STRLIT("same-origin")))
        return true;
    const char *origin = http_header(req, "origin", &n);
    if (origin == NULL)
        return false;
    size_t pl = public_origin(c, pub, sizeof(pub));
    return (n == pl && strncasecmp(origin, pub, n) == 0) ||
           sess_list_has(c->allowed_origins, origin, n);
}

bool auth_same_origin(h2o_req_t *req, const sessd_config *c)
{
    size_t n;
    /* No header at all: a non-browser client, which CSRF cannot use. */
    if (http_header(req, "sec-fetch-site", &n) == NULL && http_header(req, "origin", &n) == NULL)
        return true;
    return auth_origin_proven(req, c);
}

void auth_retry_after(h2o_req_t *req, int64_t wait)
{
    char secs[24];
    int n = snprintf(secs, sizeof(secs), "%lld", (long long)wait);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL,
                   h2o_strdup(&req->pool, secs, (size_t)n).base, (size_t)n);
}

int auth_deny(h2o_req_t *req, int status, const char *code, const char *msg)
{
    if (auth_wants_json(req)) {
        http_send_error_status(req, status, code, msg);
    } else {
        char line[256];
        int n = snprintf(line, sizeof(line), "%s\n", msg);
        http_send_text(req, status, "text/plain; charset=utf-8", line, (size_t)n);
    }
    return status;
}

/* ---- forms, HTML, header values ---------------------------------------------------------- */

long auth_form_value(const char *src, size_t len, const char *name, char *out, size_t cap,
                     bool to_end)
{
    size_t nl = strlen(name), i = 0;
    while (i < len) {
        const char *amp = memchr(src + i, '&', len - i);
        size_t end = amp ? (size_t)(amp - src) : len;
        if (end - i > nl && memcmp(src + i, name, nl) == 0 && src[i + nl] == '=') {
            size_t vstart = i + nl + 1;
            long n =
                sess_percent_decode(src + vstart, (to_end ? len : end) - vstart, true, out, cap);
            return n < 0 ? -2 : n;
        }
        i = end + 1;
    }
    return -1;
}

void auth_html(FILE *f, const char *s)
{
    for (; *s != '\0'; s++) {
        switch (*s) {
        case '&':
            fputs("&amp;", f);
            break;
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        case '\'':
            fputs("&#39;", f);
            break;
        default:
            fputc(*s, f);
        }
    }
}

size_t auth_sanitize(const char *in, size_t len, char *out, size_t cap)
{
    return sess_sanitize_text(in, len, out,
                              cap - 1 < SESSD_HEADER_VALUE_MAX ? cap : SESSD_HEADER_VALUE_MAX + 1);
}

/* ---- whoami and keepalive ---------------------------------------------------------------- */

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
    int r = auth_session(req, touch, (int64_t)time(NULL), rec);
    if (r == SESS_ESESSION) { /* these two endpoints always answer JSON */
        http_send_error_status(req, 401, "unauthorized", "no live session; log in first");
        return 401;
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
    http_send_json(req, 200, j);
    return 200;
}

bool auth_form_token_ok(h2o_req_t *req, const sess_record *rec)
{
    size_t n, blen;
    char want[SESS_TOKEN_STRLEN + 1], field[SESS_TOKEN_STRLEN + 2];
    const char *tok = http_header(req, "x-csrf-token", &n);
    if (tok == NULL && req->entity.base != NULL) {
        const char *body = auth_body(req, &blen);
        long fl = auth_form_value(body, blen, "csrf_token", field, sizeof(field), false);
        tok = fl >= 0 ? field : NULL;
        n = fl >= 0 ? (size_t)fl : 0;
    }
    if (tok == NULL) {
        /* Without the token: a Bearer client needs none (no browser attaches its header on
         * its own); a cookie needs the browser's own word that the request is same-origin.
         * A request with neither Origin nor Sec-Fetch-Site is refused, as verify does. */
        size_t len;
        bool from_cookie;
        if (sessd_cfg()->require_token)
            return false;
        return auth_token_src(req, &len, &from_cookie) == NULL || !from_cookie ||
               auth_origin_proven(req, sessd_cfg());
    }
    sess_csrf_token(rec->csrf_secret, want);
    bool ok = n == SESS_TOKEN_STRLEN && sess_ct_equal(tok, want, SESS_TOKEN_STRLEN);
    sess_wipe(want, sizeof(want));
    return ok;
}

static int keepalive(h2o_req_t *req)
{
    sess_record rec;
    if (!auth_same_origin(req, sessd_cfg()))
        return auth_deny(req, 403, "csrf_failed", "cross-site request refused");
    int status = current_session(req, false, &rec);
    if (status != 0)
        return status;
    bool ok = auth_form_token_ok(req, &rec);
    sess_record_dispose(&rec);
    if (!ok) {
        http_send_error_status(req, 403, "csrf_failed", "X-CSRF-Token does not match the session");
        return 403;
    }
    if ((status = current_session(req, true, &rec)) != 0)
        return status;
    json_t *j = json_pack("{s:I, s:I}", "idle_expires_at", (json_int_t)rec.idle_expires,
                          "expires_at", (json_int_t)rec.abs_expires);
    sess_record_dispose(&rec);
    http_send_json(req, 200, j);
    return 200;
}

/* ---- dispatch ---------------------------------------------------------------------------- */

static int not_allowed(h2o_req_t *req, const char *allow)
{
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL, allow, strlen(allow));
    http_send_error_status(req, 405, "invalid_request", "method not allowed");
    return 405;
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
    http_send_error(req, SESS_ENOTFOUND, "no such endpoint");
    return 404;
}
