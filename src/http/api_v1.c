/*
 * api_v1.c - the service API for application backends (contract section 5).
 *
 * Every call is authenticated by an API key (Authorization: Bearer), takes and returns JSON,
 * and maps library errors through the one error table. Request fields are checked strictly:
 * unknown fields, wrong types and out-of-bound values are 400 invalid_request.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <string.h>
#include <time.h>

#include "core/audit.h"
#include "core/clock.h"
#include "http/auth.h"
#include "http/handlers.h"
#include "core/revoke.h"
#include "core/jsonw.h"
#include "core/source.h"
#include "core/state.h"
#include "http/identity.h"
#include "sessiond/cookie.h"
#include "sessiond/error.h"
#include "sessiond/text.h"

static int64_t now_s(void)
{
    return sessd_now();
}

/* ---- JSON views of a session ------------------------------------------------------------ */

static void write_roles(jsonw *w, const char *roles)
{
    jw_raw(w, "[", 1);
    for (const char *p = roles; p && *p;) {
        const char *c = strchr(p, ',');
        size_t n = c ? (size_t)(c - p) : strlen(p);
        if (p != roles)
            jw_raw(w, ",", 1);
        jw_strn(w, p, n < SESS_ROLE_MAX ? n : SESS_ROLE_MAX);
        p = c ? c + 1 : NULL;
    }
    jw_raw(w, "]", 1);
}

/* The fields of a session object, without braces. Data is embedded as stored: stores keep it
 * as the canonical JSON text that merging produced. */
static void write_session_fields(jsonw *w, const sess_record *rec)
{
    JW_KEY(w, "session_id", true);
    jw_hex(w, rec->id, SESS_ID_BYTES);
    JW_KEY(w, "user", false);
    jw_str(w, rec->user);
    JW_KEY(w, "roles", false);
    write_roles(w, rec->roles);
    JW_KEY(w, "data", false);
    if (rec->data && rec->data_len > 0)
        jw_raw(w, rec->data, rec->data_len);
    else
        jw_raw(w, "{}", 2);
    JW_KEY(w, "created_at", false);
    jw_int(w, rec->created);
    JW_KEY(w, "last_seen_at", false);
    jw_int(w, rec->last_seen);
    JW_KEY(w, "expires_at", false);
    jw_int(w, rec->abs_expires);
    JW_KEY(w, "idle_expires_at", false);
    jw_int(w, rec->idle_expires);
    JW_KEY(w, "remember", false);
    jw_bool(w, (rec->flags & SESS_REC_REMEMBER) != 0);
    JW_KEY(w, "client", false);
    jw_raw(w, "{", 1);
    JW_KEY(w, "ip", true);
    jw_str(w, rec->ip);
    JW_KEY(w, "user_agent", false);
    jw_str(w, rec->agent);
    jw_raw(w, "}", 1);
}

/* Answers `status` with the writer's text, or 500 when it could not be built. */
static int send_written(h2o_req_t *req, int status, jsonw *w)
{
    if (w->failed) {
        jw_free(w);
        return http_send_error(req, SESS_ENOMEM, NULL);
    }
    http_send_text(req, status, "application/json", w->buf, w->len);
    jw_free(w);
    return status;
}

static int send_session(h2o_req_t *req, const sess_record *rec)
{
    jsonw w;
    jw_init(&w);
    jw_raw(&w, "{", 1);
    write_session_fields(&w, rec);
    jw_raw(&w, "}", 1);
    return send_written(req, 200, &w);
}

static void set_cookie_value(const sess_record *rec, const char *token, int64_t now, char *out,
                             size_t cap)
{
    const sessd_config *c = sessd_cfg();
    sess_cookie_opts o = {c->cookie_name, c->cookie_domain, c->same_site, sessd_srv.https, NULL};
    int64_t max_age = (rec->flags & SESS_REC_REMEMBER) ? rec->abs_expires - now : -1;
    if (sess_cookie_format(&o, token, max_age, out, cap) < 0)
        out[0] = '\0';
}

/* Answers create and rotate: the new token with its cookie and deadlines. The buffers that
 * held the token are wiped before they are freed. */
static int send_token(h2o_req_t *req, int status, const sess_record *rec, const char *token,
                      int64_t now)
{
    char csrf[SESS_TOKEN_STRLEN + 1], cookie[SESS_SETCOOKIE_MAX + 1];
    sess_csrf_token(rec->csrf_secret, csrf);
    set_cookie_value(rec, token, now, cookie, sizeof(cookie));
    jsonw w;
    jw_init(&w);
    w.secret = true;
    jw_raw(&w, "{", 1);
    JW_KEY(&w, "session_id", true);
    jw_hex(&w, rec->id, SESS_ID_BYTES);
    JW_KEY(&w, "token", false);
    jw_str(&w, token);
    JW_KEY(&w, "csrf_token", false);
    jw_str(&w, csrf);
    JW_KEY(&w, "expires_at", false);
    jw_int(&w, rec->abs_expires);
    JW_KEY(&w, "idle_expires_at", false);
    jw_int(&w, rec->idle_expires);
    JW_KEY(&w, "set_cookie", false);
    jw_str(&w, cookie);
    jw_raw(&w, "}", 1);
    sess_wipe(cookie, sizeof(cookie));
    return send_written(req, status, &w);
}

/* ---- field readers: each answers 400 itself and returns false on a bad field ------------ */

/* One request field as the readers see it, whichever reader parsed the body (jansson, or
 * jsonflat for verify): absent or null, a string without NUL, true, false, an object, or any
 * other value. */
typedef struct field {
    enum { FIELD_ABSENT, FIELD_STRING, FIELD_TRUE, FIELD_FALSE, FIELD_OBJECT, FIELD_OTHER } kind;
    const char *str; /* FIELD_STRING */
    json_t *obj;     /* FIELD_OBJECT */
} field;

static field json_field(json_t *v)
{
    field f = {FIELD_OTHER, NULL, NULL};
    if (v == NULL || json_is_null(v))
        f.kind = FIELD_ABSENT;
    else if (json_is_string(v) && strlen(json_string_value(v)) == json_string_length(v))
        f = (field){FIELD_STRING, json_string_value(v), NULL};
    else if (json_is_boolean(v))
        f.kind = json_is_true(v) ? FIELD_TRUE : FIELD_FALSE;
    else if (json_is_object(v))
        f = (field){FIELD_OBJECT, NULL, v};
    return f;
}

/* A member of a flat body (http_flat_body: strings NUL-terminated, printable ASCII). */
static field flat_field(const sessd_flat_member *m)
{
    switch (m->kind) {
    case SESSD_FLAT_STRING:
        return (field){FIELD_STRING, m->val, NULL};
    case SESSD_FLAT_TRUE:
        return (field){FIELD_TRUE, NULL, NULL};
    case SESSD_FLAT_FALSE:
        return (field){FIELD_FALSE, NULL, NULL};
    default:
        return (field){FIELD_ABSENT, NULL, NULL};
    }
}

/* Field `key` (`f`) as a string, or NULL when absent. */
static bool string_field(h2o_req_t *req, field f, const char *key, const char **out)
{
    *out = f.str;
    if (f.kind == FIELD_ABSENT || f.kind == FIELD_STRING)
        return true;
    char msg[96];
    snprintf(msg, sizeof(msg), "\"%s\" must be a string", key);
    http_send_error(req, SESS_EINVAL, msg);
    return false;
}

static bool opt_string(h2o_req_t *req, json_t *o, const char *key, const char **out)
{
    return string_field(req, json_field(json_object_get(o, key)), key, out);
}

/* Field `key` (`f`) as true or false, or `dflt` when absent. */
static bool bool_field(h2o_req_t *req, field f, const char *key, bool *out, bool dflt)
{
    *out = f.kind == FIELD_ABSENT ? dflt : f.kind == FIELD_TRUE;
    if (f.kind == FIELD_ABSENT || f.kind == FIELD_TRUE || f.kind == FIELD_FALSE)
        return true;
    char msg[96];
    snprintf(msg, sizeof(msg), "\"%s\" must be true or false", key);
    http_send_error(req, SESS_EINVAL, msg);
    return false;
}

static bool opt_bool(h2o_req_t *req, json_t *o, const char *key, bool *out, bool dflt)
{
    return bool_field(req, json_field(json_object_get(o, key)), key, out, dflt);
}

/* The fields `keys` (NULL-terminated, at most MAX_FIELDS) of a body read by jansson (`body`) or
 * jsonflat (`flat`, when not NULL) into `f`, in one pass; false (answered 400, as
 * http_only_keys) for a field not in `keys`. */
#define MAX_FIELDS 8
static bool take_fields(h2o_req_t *req, json_t *body, const sessd_flat *flat,
                        const char *const *keys, field *f)
{
    size_t n = 0;
    while (keys[n] != NULL)
        n++;
    assert(n <= MAX_FIELDS);
    if (flat == NULL) {
        json_t *v[MAX_FIELDS];
        if (!http_take_keys(req, body, keys, v))
            return false;
        for (size_t a = 0; a < n; a++)
            f[a] = json_field(v[a]);
        return true;
    }
    for (size_t a = 0; a < n; a++)
        f[a] = (field){FIELD_ABSENT, NULL, NULL};
    for (size_t k = 0; k < flat->count; k++) {
        size_t a = 0;
        while (a < n && strcmp(keys[a], flat->m[k].key) != 0)
            a++;
        if (a == n) {
            http_unknown_field(req, flat->m[k].key);
            return false;
        }
        f[a] = flat_field(&flat->m[k]);
    }
    return true;
}

/* Joins a JSON array of role names into "a,b"; false (answered) when malformed. */
static bool read_roles(h2o_req_t *req, json_t *o, char *out, size_t cap)
{
    json_t *v = json_object_get(o, "roles"), *r;
    size_t i, used = 0;
    out[0] = '\0';
    if (v == NULL || json_is_null(v))
        return true;
    if (!json_is_array(v))
        goto bad;
    json_array_foreach(v, i, r)
    {
        if (!json_is_string(r))
            goto bad;
        size_t n = json_string_length(r);
        /* Each element is one role: a comma inside would smuggle in a second one. */
        if (n == 0 || memchr(json_string_value(r), ',', n) != NULL || used + n + 2 > cap)
            goto bad;
        if (used)
            out[used++] = ',';
        memcpy(out + used, json_string_value(r), n);
        used += n;
        out[used] = '\0';
    }
    if (sess_check_roles(out) == 0)
        return true;
bad:
    http_send_error(req, SESS_EINVAL,
                    "\"roles\" must be an array of at most 32 names of [A-Za-z0-9_.:-]{1,64}");
    return false;
}

/* Field "client" (`f`), absent or {"ip", "user_agent"}, each optional. */
static bool client_field(h2o_req_t *req, field f, const char **ip, const char **agent)
{
    static const char *const keys[] = {"ip", "user_agent", NULL};
    json_t *c = f.obj;
    *ip = *agent = NULL;
    if (f.kind == FIELD_ABSENT)
        return true;
    if (f.kind != FIELD_OBJECT) {
        http_send_error(req, SESS_EINVAL, "\"client\" must be an object");
        return false;
    }
    if (!http_only_keys(req, c, keys) || !opt_string(req, c, "ip", ip) ||
        !opt_string(req, c, "user_agent", agent))
        return false;
    unsigned char addr[sizeof(struct in6_addr)];
    if (*ip && inet_pton(AF_INET, *ip, addr) != 1 && inet_pton(AF_INET6, *ip, addr) != 1) {
        http_send_error(req, SESS_EINVAL, "\"client.ip\" must be an IPv4 or IPv6 address");
        return false;
    }
    if (*agent && !sess_printable_utf8(*agent)) {
        http_send_error(req, SESS_EINVAL,
                        "\"client.user_agent\" must be UTF-8 without control characters");
        return false;
    }
    return true;
}

static bool read_client(h2o_req_t *req, json_t *o, const char **ip, const char **agent)
{
    return client_field(req, json_field(json_object_get(o, "client")), ip, agent);
}

/* ---- handlers ---------------------------------------------------------------------------- */

/* The name of the API key of the request being handled on this thread (set by authorize;
 * handlers run synchronously on their loop's thread), for the audit log. */
static __thread char key_name[SESS_APIKEY_NAME_MAX + 1];

/* Audits a /v1 write, before it is answered: the actor is the API key, the client the caller's
 * address unless the event is about a session's own client (`client`). 0, or SESS_EAUDIT when
 * the write must not be confirmed (sessd_audit_change). */
static int v1_audit(h2o_req_t *req, enum sessd_audit_event ev, const char *user, const uint8_t *id,
                    const char *client)
{
    char peer[64], detail[SESS_APIKEY_NAME_MAX + 32];
    if (client == NULL) {
        http_peer_addr(req, peer, sizeof(peer));
        client = peer;
    }
    snprintf(detail, sizeof(detail), "/v1, api key %s", key_name);
    return sessd_audit_change(ev, user, id, client, detail);
}

static int v1_create(h2o_req_t *req, json_t *body)
{
    static const char *const keys[] = {"user", "roles", "data", "remember", "client", NULL};
    const char *user, *ip, *agent;
    char roles[SESS_ROLES_MAX + 1];
    bool remember;
    if (!http_only_keys(req, body, keys) || !opt_string(req, body, "user", &user) ||
        !read_roles(req, body, roles, sizeof(roles)) ||
        !opt_bool(req, body, "remember", &remember, false) || !read_client(req, body, &ip, &agent))
        return http_sent(req);
    if (remember && sessd_cfg()->remember_me == 0) {
        return http_send_error(req, SESS_EINVAL,
                               "\"remember\": remember-me is turned off ([session] remember_me "
                               "= off)");
    }
    if (user == NULL || sess_check_user(user) != 0) {
        return http_send_error(
            req, SESS_EINVAL,
            "\"user\" must be a string of 1 to 128 bytes without control characters");
    }
    json_t *data = json_object_get(body, "data");
    char *data_text = NULL;
    if (data != NULL && !json_is_null(data)) {
        if (!json_is_object(data)) {
            return http_send_error(req, SESS_EINVAL, "\"data\" must be an object");
        }
        data_text = json_dumps(data, JSON_COMPACT | JSON_SORT_KEYS);
    }
    char peer[64];
    if (ip == NULL) {
        http_peer_addr(req, peer, sizeof(peer));
        ip = peer;
    }
    sess_create_params p = {user,     roles, data_text, data_text ? strlen(data_text) : 0,
                            remember, ip,    agent,     0};
    /* Under [store] kind = cookie the token is the sealed session itself (the cookie's value,
     * which must fit a 4096-byte cookie). */
    const sessd_source *src = sessd_source_cookie();
    sessd_value value;
    sess_record rec;
    int64_t now = now_s();
    int r = src->create(&p, now, &value, &rec);
    free(data_text);
    if (r != 0) {
        return http_send_error(req, r, r == SESS_ETOOLARGE ? src->too_large : NULL);
    }
    if (v1_audit(req, SESSD_AUDIT_LOGIN, user, rec.id, ip) != 0) {
        /* Not confirmed, so not kept: nobody will ever hold its token. */
        (void)src->end_id(rec.id, now);
        sess_wipe(value.text, value.len);
        sess_record_dispose(&rec);
        return http_send_error(req, SESS_EAUDIT, NULL);
    }
    send_token(req, 201, &rec, value.text, now);
    sess_wipe(value.text, value.len);
    sess_record_dispose(&rec);
    return http_sent(req);
}

static bool origin_allowed(const char *origin)
{
    const sessd_config *c = sessd_cfg();
    size_t n = strlen(origin);
    /* The public URL's origin: scheme://host[:port] without a path. */
    const char *pu = c->public_url, *slash = strchr(pu, '/');
    if (slash && slash[1] == '/')
        slash = strchr(slash + 2, '/');
    size_t pn = slash ? (size_t)(slash - pu) : strlen(pu);
    if (n == pn && strncasecmp(origin, pu, pn) == 0)
        return true;
    const char *p = c->allowed_origins;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *e = p;
        while (*e && *e != ',' && *e != ' ')
            e++;
        if ((size_t)(e - p) == n && n > 0 && strncasecmp(origin, p, n) == 0)
            return true;
        p = e;
    }
    return false;
}

static bool unsafe_method(const char *m)
{
    return strcasecmp(m, "GET") != 0 && strcasecmp(m, "HEAD") != 0 &&
           strcasecmp(m, "OPTIONS") != 0 && strcasecmp(m, "TRACE") != 0;
}

/* The CSRF policy for backends: an unsafe method needs the session's CSRF token or an allowed
 * Origin; with `require_token` only the token counts. */
static bool csrf_ok(const sess_record *rec, const char *method, const char *origin,
                    const char *token)
{
    if (method == NULL || !unsafe_method(method))
        return true;
    if (token != NULL && strlen(token) == SESS_TOKEN_STRLEN) {
        char expect[SESS_TOKEN_STRLEN + 1];
        sess_csrf_token(rec->csrf_secret, expect);
        int eq = sess_ct_equal(expect, token, SESS_TOKEN_STRLEN);
        sess_wipe(expect, sizeof(expect));
        if (eq)
            return true;
    }
    if (sessd_cfg()->require_token)
        return false;
    return origin != NULL && origin_allowed(origin);
}

/* With [session] bind_user_agent, the client's user agent (client.user_agent, when the backend
 * passes it) must be the one the session was created with, as a session records it. */
static bool agent_ok(const sess_record *rec, const char *agent)
{
    char have[SESS_AGENT_MAX + 1];
    if (agent == NULL)
        return true;
    sess_copy_bounded(have, sizeof(have), agent);
    return auth_agent_matches(rec, have);
}

/* Not inlined: bench/profile.sh counts the instructions of a verify under this symbol. */
__attribute__((noinline)) static int v1_verify(h2o_req_t *req, json_t *body, const sessd_flat *flat)
{
    /* The hot path: the fields in one pass, then checked in this order. */
    enum { F_TOKEN, F_TOUCH, F_METHOD, F_ORIGIN, F_CSRF, F_CLIENT, F_COUNT };
    static const char *const keys[F_COUNT + 1] = {"token",      "touch",  "method", "origin",
                                                  "csrf_token", "client", NULL};
    _Static_assert(F_COUNT <= MAX_FIELDS, "take_fields holds at most MAX_FIELDS fields");
    field f[F_COUNT];
    const char *token, *method, *origin, *csrf, *ip, *agent;
    bool touch;
    if (!take_fields(req, body, flat, keys, f) || !string_field(req, f[F_TOKEN], "token", &token) ||
        !bool_field(req, f[F_TOUCH], "touch", &touch, true) ||
        !string_field(req, f[F_METHOD], "method", &method) ||
        !string_field(req, f[F_ORIGIN], "origin", &origin) ||
        !string_field(req, f[F_CSRF], "csrf_token", &csrf) ||
        !client_field(req, f[F_CLIENT], &ip, &agent))
        return http_sent(req);
    if (token == NULL) {
        return http_send_error(req, SESS_EINVAL, "\"token\" is required");
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    sess_record rec;
    int64_t now = now_s();
    /* A sealed session (cookie store) carries no touch here: its cookie is the browser's. */
    const sessd_source *src = sessd_source_of(strlen(token));
    int r = auth_session_open(NULL, src, token, strlen(token), touch, now, &rec);
    if (r == 0 && !agent_ok(&rec, agent)) {
        auth_end_bound_session(src, &rec);
        sess_record_dispose(&rec);
        r = SESS_ESESSION;
    }
    if (r != 0) {
        http_send_error(req, r, NULL);
        return sess_err_http_status(r);
    }
    if (!csrf_ok(&rec, method, origin, csrf)) {
        sess_record_dispose(&rec);
        return http_send_error(req, SESS_ECSRF, NULL);
    }
    char *prefs = NULL;
    size_t prefs_len = 0;
    char csrf_out[SESS_TOKEN_STRLEN + 1];
    sess_csrf_token(rec.csrf_secret, csrf_out);
    if ((r = sess_prefs_get(sessd_srv.ctx, rec.user, &prefs, &prefs_len)) != 0) {
        sess_record_dispose(&rec);
        http_send_error(req, r, NULL);
        return sess_err_http_status(r);
    }
    jsonw w;
    jw_init(&w);
    jw_raw(&w, "{", 1);
    write_session_fields(&w, &rec);
    JW_KEY(&w, "preferences", false);
    jw_raw(&w, prefs, prefs_len);
    JW_KEY(&w, "csrf_token", false);
    jw_plain(&w, csrf_out, SESS_TOKEN_STRLEN); /* base64url, made by sess_csrf_token */
    jw_raw(&w, "}", 1);
    free(prefs);
    sess_record_dispose(&rec);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    sessd_metrics_verify_latency(
        (uint64_t)((t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000));
    return send_written(req, 200, &w);
}

static int v1_rotate(h2o_req_t *req, json_t *body)
{
    static const char *const keys[] = {"token", NULL};
    const char *token;
    if (!http_only_keys(req, body, keys) || !opt_string(req, body, "token", &token))
        return http_sent(req);
    if (token == NULL) {
        return http_send_error(req, SESS_EINVAL, "\"token\" is required");
    }
    char fresh[SESS_TOKEN_STRLEN + 1];
    sess_record rec;
    int64_t now = now_s();
    int r = sess_rotate(sessd_srv.ctx, token, strlen(token), now, false, fresh, &rec);
    if (r != 0) {
        http_send_error(req, r, NULL);
        return sess_err_http_status(r);
    }
    if (v1_audit(req, SESSD_AUDIT_ROTATE, rec.user, rec.id, NULL) != 0) {
        /* The new token is never sent; the old one lasts its grace, as for a lost answer. */
        sess_wipe(fresh, sizeof(fresh));
        sess_record_dispose(&rec);
        return http_send_error(req, SESS_EAUDIT, NULL);
    }
    send_token(req, 200, &rec, fresh, now);
    sess_wipe(fresh, sizeof(fresh));
    sess_record_dispose(&rec);
    return http_sent(req);
}

/* POST /v1/sessions/revoke {"created_before", "ip", "agent", "dry_run"}: mass revocation by
 * filter (revoke.h), a dry run unless "dry_run" is false; it runs on the worker pool. */
static int v1_revoke_filter(h2o_req_t *req, json_t *body)
{
    static const char *const keys[] = {"created_before", "ip", "agent", "dry_run", NULL};
    const char *ip, *agent, *bad = NULL;
    bool dry_run;
    sessd_revoke_filter f;
    memset(&f, 0, sizeof(f));
    if (!http_only_keys(req, body, keys) || !opt_string(req, body, "ip", &ip) ||
        !opt_string(req, body, "agent", &agent) || !opt_bool(req, body, "dry_run", &dry_run, true))
        return http_sent(req);
    json_t *before = json_object_get(body, "created_before");
    if (json_is_integer(before)) {
        f.has_before = true;
        f.created_before = (int64_t)json_integer_value(before);
    } else if (json_is_string(before)) {
        f.has_before = sessd_revoke_parse_time(json_string_value(before), &f.created_before) == 0;
        if (!f.has_before)
            bad = "\"created_before\" must be unix seconds or a UTC time YYYY-MM-DDTHH:MM:SSZ";
    } else if (before != NULL && !json_is_null(before)) {
        bad = "\"created_before\" must be unix seconds or a UTC time YYYY-MM-DDTHH:MM:SSZ";
    }
    if (bad == NULL && ip != NULL && sessd_revoke_parse_cidr(ip, &f) != 0)
        bad = "\"ip\" must be an address or a CIDR block (10.0.0.0/8, 2001:db8::/32)";
    if (bad == NULL && agent != NULL && sessd_revoke_set_agent(agent, &f) != 0)
        bad = "\"agent\" must be 1 to 256 characters without control characters";
    if (bad == NULL && !sessd_revoke_filter_set(&f))
        bad = "give at least one of \"created_before\", \"ip\" and \"agent\"";
    if (bad != NULL) {
        return http_send_error(req, SESS_EINVAL, bad);
    }
    char who[SESS_APIKEY_NAME_MAX + 32], peer[64];
    snprintf(who, sizeof(who), "/v1, api key %s", key_name);
    http_peer_addr(req, peer, sizeof(peer));
    return sessd_v1_revoke_submit(req, &f, dry_run, who, peer);
}

static int answer_session(h2o_req_t *req, int r, sess_record *rec)
{
    if (r == SESS_ESESSION) {
        return http_send_error(req, SESS_ENOTFOUND, "no such session");
    }
    if (r != 0) {
        http_send_error(req, r,
                        r == SESS_ETOOLARGE ? "\"data\" would be over [session] max_data" : NULL);
        return sess_err_http_status(r);
    }
    int status = send_session(req, rec);
    sess_record_dispose(rec);
    return status;
}

static int v1_session(h2o_req_t *req, const uint8_t id[SESS_ID_BYTES], json_t *body)
{
    sess_record rec;
    if (http_method_is(req, "GET"))
        return answer_session(req, sess_get(sessd_srv.ctx, id, now_s(), &rec), &rec);
    if (http_method_is(req, "DELETE")) {
        /* Ended first (access only shrinks), confirmed only once audited. */
        int r = sessd_source_end_id(id, now_s());
        if (r == 0)
            r = v1_audit(req, SESSD_AUDIT_REVOKE, NULL, id, NULL);
        if (r != 0) {
            http_send_error(req, r, NULL);
            return sess_err_http_status(r);
        }
        return http_send_empty(req, 204);
    }
    /* PATCH */
    static const char *const keys[] = {"data", NULL};
    if (!http_only_keys(req, body, keys))
        return http_sent(req);
    json_t *data = json_object_get(body, "data");
    if (!json_is_object(data)) {
        return http_send_error(req, SESS_EINVAL, "\"data\" must be an object (a JSON merge patch)");
    }
    char *patch = json_dumps(data, JSON_COMPACT);
    if (patch == NULL) {
        return http_send_error(req, SESS_ENOMEM, NULL);
    }
    int r = sess_patch(sessd_srv.ctx, id, patch, strlen(patch), now_s(), &rec);
    free(patch);
    return answer_session(req, r, &rec);
}

static int collect_session(const sess_record *rec, uint64_t gen, void *arg)
{
    (void)gen;
    jsonw *w = arg;
    jw_raw(w, w->len > 1 ? ",{" : "{", w->len > 1 ? 2 : 1);
    write_session_fields(w, rec);
    jw_raw(w, "}", 1);
    return 0;
}

static int v1_user_sessions(h2o_req_t *req, const char *user)
{
    int r;
    if (http_method_is(req, "DELETE")) {
        if ((r = sess_revoke_user(sessd_srv.ctx, user)) == 0 &&
            (r = v1_audit(req, SESSD_AUDIT_REVOKE_ALL, user, NULL, NULL)) == 0)
            return http_send_empty(req, 204);
    } else {
        jsonw w;
        jw_init(&w);
        jw_raw(&w, "[", 1);
        if ((r = sess_list_user(sessd_srv.ctx, user, now_s(), collect_session, &w)) == 0) {
            jw_raw(&w, "]", 1);
            return send_written(req, 200, &w);
        }
        jw_free(&w);
    }
    http_send_error(req, r, NULL);
    return sess_err_http_status(r);
}

static int v1_user_prefs(h2o_req_t *req, const char *user, json_t *body)
{
    char *out = NULL, *in = NULL;
    size_t out_len = 0;
    int r;
    if (http_method_is(req, "GET")) {
        r = sess_prefs_get(sessd_srv.ctx, user, &out, &out_len);
    } else {
        in = json_dumps(body, JSON_COMPACT);
        if (in == NULL)
            r = SESS_ENOMEM;
        else if (http_method_is(req, "PUT"))
            r = sess_prefs_put(sessd_srv.ctx, user, in, strlen(in), &out, &out_len);
        else
            r = sess_prefs_patch(sessd_srv.ctx, user, in, strlen(in), &out, &out_len);
        free(in);
    }
    if (r != 0) {
        const char *msg =
            (r == SESS_EINVAL || r == SESS_ELIMIT)
                ? "preferences: at most 32 keys of [a-z0-9_.-]; language a language tag, theme "
                  "light|dark|system, font_size 8..72 or small|medium|large|x-large; values "
                  "strings, numbers or booleans"
            : r == SESS_ETOOLARGE ? "preferences are limited to 4096 bytes"
                                  : NULL;
        http_send_error(req, r == SESS_ELIMIT ? SESS_EINVAL : r, msg);
        return sess_err_http_status(r);
    }
    int status = http_send_text(req, 200, "application/json", out, out_len);
    free(out);
    return status;
}

/* ---- routing ------------------------------------------------------------------------------ */

/* 0 when the request carries a current API key; otherwise the status of the answer sent: 401,
 * or 503 when the store cannot say (fail closed, and not a misleading 401). */
static int authorize(h2o_req_t *req)
{
    size_t len;
    const char *key = http_bearer(req, &len);
    char name[SESS_APIKEY_NAME_MAX + 1];
    int r = key != NULL ? sess_apikey_check(sessd_srv.ctx, key, len, name) : SESS_EUNAUTHORIZED;
    if (r == 0) {
        memcpy(key_name, name, sizeof(key_name));
        return 0;
    }
    if (r != SESS_EUNAUTHORIZED) {
        /* The store could not say: an outage, not a bad key. */
        http_send_error(req, r, NULL);
        return sess_err_http_status(r);
    }
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_WWW_AUTHENTICATE, NULL,
                   H2O_STRLIT("Bearer realm=\"sessiond\""));
    return http_send_error(req, SESS_EUNAUTHORIZED, NULL);
}

static int method_not_allowed(h2o_req_t *req, const char *allow)
{
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL, allow, strlen(allow));
    return http_send_error(req, SESS_EMETHOD, "method not allowed");
}

/* True when the request's method is one of `list` ("GET, PUT"). */
static bool allowed(const h2o_req_t *req, const char *list)
{
    const char *p = list;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (h2o_memis(req->method.base, req->method.len, p, l))
            return true;
        if (e == NULL)
            break;
        p = e + 2;
    }
    return false;
}

/* Decodes one percent-encoded path segment into `out`; false for bad escapes, NUL or control
 * characters, '/', an empty segment, or a result that does not fit. */
static bool decode_segment(const char *s, size_t len, char *out, size_t cap)
{
    long n = sess_percent_decode(s, len, false, out, cap);
    for (long i = 0; i < n; i++) {
        unsigned char c = (unsigned char)out[i];
        if (c < 0x20 || c == 0x7f || c == '/')
            return false;
    }
    return n > 0;
}

/* Resolves `path` to a route; fills `id` or `user` for the parameterised ones. Returns the
 * allowed methods, or NULL for an unknown path. */
static const char *resolve(const char *path, size_t len, enum sessd_route *route,
                           uint8_t id[SESS_ID_BYTES], bool *id_ok, char *user, bool *user_ok)
{
    *route = SESSD_ROUTE_OTHER;
    if (h2o_memis(path, len, H2O_STRLIT("/sessions"))) {
        *route = SESSD_ROUTE_V1_CREATE;
        return "POST";
    }
    if (h2o_memis(path, len, H2O_STRLIT("/sessions/verify"))) {
        *route = SESSD_ROUTE_V1_VERIFY;
        return "POST";
    }
    if (h2o_memis(path, len, H2O_STRLIT("/sessions/rotate"))) {
        *route = SESSD_ROUTE_V1_ROTATE;
        return "POST";
    }
    if (h2o_memis(path, len, H2O_STRLIT("/sessions/revoke"))) {
        *route = SESSD_ROUTE_V1_REVOKE;
        return "POST";
    }
    if (len > 10 && memcmp(path, "/sessions/", 10) == 0 &&
        memchr(path + 10, '/', len - 10) == NULL) {
        *route = SESSD_ROUTE_V1_SESSION;
        *id_ok = sess_id_from_hex(path + 10, len - 10, id) == 0;
        return "GET, PATCH, DELETE";
    }
    if (len > 7 && memcmp(path, "/users/", 7) == 0) {
        const char *seg = path + 7, *slash = memchr(seg, '/', len - 7);
        if (slash == NULL)
            return NULL;
        const char *rest = slash;
        size_t rest_len = len - (size_t)(rest - path);
        *user_ok = decode_segment(seg, (size_t)(slash - seg), user, SESS_USER_MAX + 1) &&
                   sess_check_user(user) == 0;
        if (h2o_memis(rest, rest_len, H2O_STRLIT("/sessions"))) {
            *route = SESSD_ROUTE_V1_USER_SESSIONS;
            return "GET, DELETE";
        }
        if (h2o_memis(rest, rest_len, H2O_STRLIT("/preferences"))) {
            *route = SESSD_ROUTE_V1_USER_PREFS;
            return "GET, PUT, PATCH";
        }
    }
    return NULL;
}

int sessd_api_v1(h2o_req_t *req, const char *path, size_t len, enum sessd_route *route)
{
    uint8_t id[SESS_ID_BYTES];
    char user[SESS_USER_MAX + 1];
    bool id_ok = false, user_ok = false;
    const char *allow = resolve(path, len, route, id, &id_ok, user, &user_ok);
    if (allow == NULL) {
        return http_send_error(req, SESS_ENOTFOUND, "no such endpoint");
    }
    if (!allowed(req, allow))
        return method_not_allowed(req, allow);
    int denied = authorize(req);
    if (denied != 0)
        return denied;
    if (*route == SESSD_ROUTE_V1_SESSION && !id_ok) {
        return http_send_error(req, SESS_ENOTFOUND, "no such session");
    }
    if ((*route == SESSD_ROUTE_V1_USER_SESSIONS || *route == SESSD_ROUTE_V1_USER_PREFS) &&
        !user_ok) {
        return http_send_error(req, SESS_EINVAL, "bad user name in the path");
    }
    json_t *body = NULL;
    bool has_body =
        http_method_is(req, "POST") || http_method_is(req, "PUT") || http_method_is(req, "PATCH");
    /* Verify, the hot path, reads a flat body without jansson when it can. */
    sessd_flat flat;
    int is_flat = 0;
    if (*route == SESSD_ROUTE_V1_VERIFY && (is_flat = http_flat_body(req, &flat)) < 0)
        return req->res.status;
    if (has_body && is_flat == 0 && (body = http_json_body(req)) == NULL)
        return req->res.status;
    int status;
    switch (*route) {
    case SESSD_ROUTE_V1_CREATE:
        status = v1_create(req, body);
        break;
    case SESSD_ROUTE_V1_VERIFY:
        status = v1_verify(req, body, is_flat ? &flat : NULL);
        break;
    case SESSD_ROUTE_V1_ROTATE:
        status = v1_rotate(req, body);
        break;
    case SESSD_ROUTE_V1_REVOKE:
        status = v1_revoke_filter(req, body);
        break;
    case SESSD_ROUTE_V1_SESSION:
        status = v1_session(req, id, body);
        break;
    case SESSD_ROUTE_V1_USER_SESSIONS:
        status = v1_user_sessions(req, user);
        break;
    default:
        status = v1_user_prefs(req, user, body);
        break;
    }
    json_decref(body);
    return status;
}
