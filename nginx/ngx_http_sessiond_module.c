/*
 * ngx_http_sessiond_module.c - sessiond's session check inside nginx's workers: no auth
 * subrequest, no extra hop. docs/nginx-module.md is the user's guide.
 *
 * Each worker opens sessiond's LMDB environment read-only (after the fork, at its first
 * request) with the server key, and checks the session of every request of a location that has
 * a sessiond_policy in the access phase: the token (cookie, else Bearer) is hashed, looked up in
 * one LMDB read transaction, and its deadlines and generation checked by libsessiond's
 * sess_verify; role, fresh: and CSRF are decided by sess_access_decide (sessiond/access.h),
 * the code sessiond's /auth/verify runs. The module writes nothing: it reports the sessions it
 * lets through to sessiond (a datagram to touch.sock in sessiond_socket_dir, by default DATA; at
 * most once per sessiond_touch_interval each), which moves their idle deadlines; rotation, login
 * and logout stay in sessiond.
 *
 * Answers: 401 without a live session, 403 for a missing role, a failed CSRF check or (with
 * $sessiond_reason = "reauth") a login older than a fresh: policy, 400 (with $sessiond_reason =
 * "target") for a request target that is not canonical, whatever the policy,
 * 503 when the store cannot be read (fail closed). The variables $sessiond_user,
 * $sessiond_roles, $sessiond_session, $sessiond_csrf, $sessiond_expires and $sessiond_reason
 * carry the outcome to proxy_set_header and error_page locations.
 */
#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "sessiond/access.h"
#include "sessiond/cookie.h"
#include "sessiond/crypto.h"
#include "sessiond/error.h"
#include "sessiond/session.h"
#include "sessiond/store.h"

#define SESSIOND_COOKIE_DEFAULT "sid"
#define SESSIOND_REOPEN_SECONDS 1 /* a failed open is retried at most this often */
#define SESSIOND_PATH_MAX 8192    /* as sessiond's SESSD_URI_MAX */
#define SESSIOND_TOUCH_DEFAULT 10 /* seconds between two reports of one session */

enum sessiond_policy {
    SESSIOND_POLICY_OFF, /* no check (the default) */
    SESSIOND_POLICY_PUBLIC,
    SESSIOND_POLICY_AUTHENTICATED,
    SESSIOND_POLICY_ROLE,
    SESSIOND_POLICY_FRESH,
};

typedef struct {
    ngx_str_t data_dir;
    ngx_str_t socket_dir; /* sessiond's [server] socket_dir; unset: data_dir */
    ngx_str_t cookie;
    ngx_flag_t require_token;
    ngx_str_t allowed_origins;
    time_t touch_interval; /* 0: no touches */
    ngx_flag_t bind_user_agent;
    struct sockaddr_un touch_addr;
    /* NUL-terminated copies for libsessiond */
    char *data_dir_z;
    char *cookie_z;
    char *origins_z;
} sessiond_main_conf;

typedef struct {
    ngx_int_t policy; /* NGX_CONF_UNSET until set */
    char *role;       /* for ROLE */
    time_t fresh;     /* for FRESH */
} sessiond_loc_conf;

typedef struct {
    bool passed;
    char user[SESS_USER_MAX + 1];
    char roles[SESS_ROLES_MAX + 1];
    char session[SESS_ID_STRLEN + 1];
    char csrf[SESS_TOKEN_STRLEN + 1];
    char expires[SESS_I64_STRLEN + 1];
    const char *reason;
} sessiond_req_ctx;

/* One per worker process: opened at the first request after the fork. */
static struct {
    sess_store *store;
    sess_ctx *ctx;
    time_t failed_at;
    int touch_fd;
} sessiond_proc = {.touch_fd = -1};

/* The sessions this worker reported lately, so that it reports each at most once per
 * sessiond_touch_interval (a slot holds the last one whose id fell there). */
#define SESSIOND_TOUCH_SLOTS 1024
typedef struct {
    uint8_t id[SESS_ID_BYTES];
    time_t sent;
} sessiond_touch_slot;
static sessiond_touch_slot sessiond_touched[SESSIOND_TOUCH_SLOTS];

static ngx_int_t sessiond_init(ngx_conf_t *cf);
static ngx_int_t sessiond_add_variables(ngx_conf_t *cf);
static void *sessiond_create_main_conf(ngx_conf_t *cf);
static char *sessiond_init_main_conf(ngx_conf_t *cf, void *conf);
static void *sessiond_create_loc_conf(ngx_conf_t *cf);
static char *sessiond_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child);
static char *sessiond_policy_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static void sessiond_exit_process(ngx_cycle_t *cycle);

static ngx_command_t sessiond_commands[] = {
    {ngx_string("sessiond_data_dir"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1, ngx_conf_set_str_slot,
     NGX_HTTP_MAIN_CONF_OFFSET, offsetof(sessiond_main_conf, data_dir), NULL},
    {ngx_string("sessiond_socket_dir"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1, ngx_conf_set_str_slot,
     NGX_HTTP_MAIN_CONF_OFFSET, offsetof(sessiond_main_conf, socket_dir), NULL},
    {ngx_string("sessiond_cookie"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1, ngx_conf_set_str_slot,
     NGX_HTTP_MAIN_CONF_OFFSET, offsetof(sessiond_main_conf, cookie), NULL},
    {ngx_string("sessiond_csrf_require_token"), NGX_HTTP_MAIN_CONF | NGX_CONF_FLAG,
     ngx_conf_set_flag_slot, NGX_HTTP_MAIN_CONF_OFFSET, offsetof(sessiond_main_conf, require_token),
     NULL},
    {ngx_string("sessiond_csrf_allowed_origins"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1,
     ngx_conf_set_str_slot, NGX_HTTP_MAIN_CONF_OFFSET,
     offsetof(sessiond_main_conf, allowed_origins), NULL},
    {ngx_string("sessiond_bind_user_agent"), NGX_HTTP_MAIN_CONF | NGX_CONF_FLAG,
     ngx_conf_set_flag_slot, NGX_HTTP_MAIN_CONF_OFFSET,
     offsetof(sessiond_main_conf, bind_user_agent), NULL},
    {ngx_string("sessiond_touch_interval"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1,
     ngx_conf_set_sec_slot, NGX_HTTP_MAIN_CONF_OFFSET, offsetof(sessiond_main_conf, touch_interval),
     NULL},
    {ngx_string("sessiond_policy"),
     NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF | NGX_HTTP_LMT_CONF |
         NGX_CONF_TAKE1,
     sessiond_policy_directive, NGX_HTTP_LOC_CONF_OFFSET, 0, NULL},
    ngx_null_command};

static ngx_http_module_t sessiond_module_ctx = {
    sessiond_add_variables,    /* preconfiguration */
    sessiond_init,             /* postconfiguration */
    sessiond_create_main_conf, /* create main configuration */
    sessiond_init_main_conf,   /* init main configuration */
    NULL,                      /* create server configuration */
    NULL,                      /* merge server configuration */
    sessiond_create_loc_conf,  /* create location configuration */
    sessiond_merge_loc_conf    /* merge location configuration */
};

ngx_module_t ngx_http_sessiond_module = {NGX_MODULE_V1,
                                         &sessiond_module_ctx,
                                         sessiond_commands,
                                         NGX_HTTP_MODULE,
                                         NULL,                  /* init master */
                                         NULL,                  /* init module */
                                         NULL,                  /* init process */
                                         NULL,                  /* init thread */
                                         NULL,                  /* exit thread */
                                         sessiond_exit_process, /* exit process */
                                         NULL,                  /* exit master */
                                         NGX_MODULE_V1_PADDING};

/* ---- configuration ----------------------------------------------------------------------- */

static char *conf_strz(ngx_conf_t *cf, ngx_str_t *s)
{
    char *z = ngx_pnalloc(cf->pool, s->len + 1);
    if (z != NULL) {
        if (s->len > 0) /* an unset string has data == NULL */
            ngx_memcpy(z, s->data, s->len);
        z[s->len] = '\0';
    }
    return z;
}

static void *sessiond_create_main_conf(ngx_conf_t *cf)
{
    sessiond_main_conf *c = ngx_pcalloc(cf->pool, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->require_token = NGX_CONF_UNSET;
    c->touch_interval = NGX_CONF_UNSET;
    c->bind_user_agent = NGX_CONF_UNSET;
    return c;
}

static char *sessiond_init_main_conf(ngx_conf_t *cf, void *conf)
{
    sessiond_main_conf *c = conf;
    ngx_conf_init_value(c->require_token, 0);
    ngx_conf_init_value(c->touch_interval, SESSIOND_TOUCH_DEFAULT);
    ngx_conf_init_value(c->bind_user_agent, 0);
    /* The touch socket is where sessiond binds it: its [server] socket_dir, by default its data
     * directory. */
    if (c->socket_dir.len == 0)
        c->socket_dir = c->data_dir;
    c->touch_addr.sun_family = AF_UNIX;
    if (c->socket_dir.len + sizeof("/touch.sock") > sizeof(c->touch_addr.sun_path))
        return "sessiond: sessiond_socket_dir (or sessiond_data_dir) is too long for a unix socket "
               "path (touch.sock)";
    ngx_memcpy(c->touch_addr.sun_path, c->socket_dir.data, c->socket_dir.len);
    ngx_memcpy(c->touch_addr.sun_path + c->socket_dir.len, "/touch.sock", sizeof("/touch.sock"));
    if (c->cookie.len == 0) {
        ngx_str_set(&c->cookie, SESSIOND_COOKIE_DEFAULT);
    }
    if (c->cookie.len > 128 || c->data_dir.len > 4000 || c->allowed_origins.len > 4000)
        return "sessiond: sessiond_cookie, sessiond_data_dir or sessiond_csrf_allowed_origins "
               "is too long";
    for (size_t i = 0; i < c->cookie.len; i++) {
        u_char ch = c->cookie.data[i];
        if (ch <= ' ' || ch >= 127 || ngx_strchr("()<>@,;:\\\"/[]?={}", ch) != NULL)
            return "sessiond: sessiond_cookie must be a cookie name (RFC 6265 token)";
    }
    c->data_dir_z = conf_strz(cf, &c->data_dir);
    c->cookie_z = conf_strz(cf, &c->cookie);
    c->origins_z = conf_strz(cf, &c->allowed_origins);
    if (c->data_dir_z == NULL || c->cookie_z == NULL || c->origins_z == NULL)
        return NGX_CONF_ERROR;
    return NGX_CONF_OK;
}

static void *sessiond_create_loc_conf(ngx_conf_t *cf)
{
    sessiond_loc_conf *l = ngx_pcalloc(cf->pool, sizeof(*l));
    if (l == NULL)
        return NULL;
    l->policy = NGX_CONF_UNSET;
    l->fresh = NGX_CONF_UNSET;
    return l;
}

static char *sessiond_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    sessiond_loc_conf *prev = parent, *l = child;
    (void)cf;
    if (l->policy == NGX_CONF_UNSET) {
        l->policy = prev->policy;
        l->role = prev->role;
        l->fresh = prev->fresh;
    }
    if (l->policy == NGX_CONF_UNSET)
        l->policy = SESSIOND_POLICY_OFF;
    return NGX_CONF_OK;
}

/* sessiond_policy off | public | authenticated | role:R | fresh:TIME (nginx time syntax). */
static char *sessiond_policy_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    sessiond_loc_conf *l = conf;
    ngx_str_t *v = &((ngx_str_t *)cf->args->elts)[1];
    (void)cmd;
    if (l->policy != NGX_CONF_UNSET)
        return "is duplicate";
    if (v->len == 3 && ngx_strncmp(v->data, "off", 3) == 0) {
        l->policy = SESSIOND_POLICY_OFF;
    } else if (v->len == 6 && ngx_strncmp(v->data, "public", 6) == 0) {
        l->policy = SESSIOND_POLICY_PUBLIC;
    } else if (v->len == 13 && ngx_strncmp(v->data, "authenticated", 13) == 0) {
        l->policy = SESSIOND_POLICY_AUTHENTICATED;
    } else if (v->len > 5 && ngx_strncmp(v->data, "role:", 5) == 0) {
        ngx_str_t r = {v->len - 5, v->data + 5};
        if (r.len > SESS_ROLE_MAX || ngx_strlchr(r.data, r.data + r.len, ',') != NULL)
            return "sessiond: role:R takes one role name of at most 64 bytes";
        l->role = conf_strz(cf, &r);
        if (l->role == NULL)
            return NGX_CONF_ERROR;
        l->policy = SESSIOND_POLICY_ROLE;
    } else if (v->len > 6 && ngx_strncmp(v->data, "fresh:", 6) == 0) {
        ngx_str_t t = {v->len - 6, v->data + 6};
        l->fresh = ngx_parse_time(&t, 1);
        if (l->fresh == (time_t)NGX_ERROR)
            return "sessiond: fresh:TIME wants a time such as 300s, 5m or 1h";
        l->policy = SESSIOND_POLICY_FRESH;
    } else {
        return "sessiond: the policy is one of off, public, authenticated, role:R, fresh:TIME";
    }
    return NGX_CONF_OK;
}

/* ---- the store, per worker --------------------------------------------------------------- */

static void sessiond_store_log(void *arg, int level, const char *msg)
{
    ngx_uint_t lvl = level == SESS_STORE_LOG_WARN ? NGX_LOG_WARN : NGX_LOG_INFO;
    (void)arg;
    ngx_log_error(lvl, ngx_cycle->log, 0, "sessiond: %s", msg);
}

/* Opens the environment read-only and loads the key; 0, or -1 after logging why (retried at
 * most every SESSIOND_REOPEN_SECONDS, so that nginx may start before sessiond). */
static int sessiond_open(ngx_http_request_t *r, const sessiond_main_conf *c)
{
    char err[512];
    uint8_t key[SESS_KEY_BYTES];
    sess_policy pol;
    if (sessiond_proc.ctx != NULL)
        return 0;
    if (sessiond_proc.failed_at != 0 &&
        ngx_time() - sessiond_proc.failed_at < SESSIOND_REOPEN_SECONDS)
        return -1;
    sessiond_proc.failed_at = ngx_time();
    if (c->data_dir.len == 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "sessiond: sessiond_policy is used without sessiond_data_dir");
        return -1;
    }
    char keypath[4096 + 16];
    snprintf(keypath, sizeof(keypath), "%s/server.key", c->data_dir_z);
    if (sess_key_load(keypath, key, err, sizeof(err)) != 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0, "sessiond: %s", err);
        return -1;
    }
    sess_store_opts o = {.path = c->data_dir_z, .read_only = true, .log = sessiond_store_log};
    if (sess_store_lmdb_open(&o, &sessiond_proc.store, err, sizeof(err)) != 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "sessiond: cannot open the store in %s read-only: %s", c->data_dir_z, err);
        sess_wipe(key, sizeof(key));
        return -1;
    }
    /* A reader: nothing here creates, touches or rotates, so the defaults serve. */
    sess_policy_default(&pol);
    int rc = sess_ctx_new(sessiond_proc.store, key, &pol, &sessiond_proc.ctx);
    sess_wipe(key, sizeof(key));
    if (rc != 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0, "sessiond: cannot use the store: %s",
                      sess_strerror(rc));
        sess_store_close(sessiond_proc.store);
        sessiond_proc.store = NULL;
        sessiond_proc.ctx = NULL;
        return -1;
    }
    sessiond_proc.failed_at = 0;
    return 0;
}

static void sessiond_exit_process(ngx_cycle_t *cycle)
{
    (void)cycle;
    if (sessiond_proc.ctx != NULL)
        sess_ctx_free(sessiond_proc.ctx);
    if (sessiond_proc.store != NULL)
        sess_store_close(sessiond_proc.store);
    sessiond_proc.ctx = NULL;
    sessiond_proc.store = NULL;
    if (sessiond_proc.touch_fd >= 0)
        close(sessiond_proc.touch_fd);
    sessiond_proc.touch_fd = -1;
}

/* Reports a session the worker let through to sessiond (DATA/touch.sock), which gives it the
 * touch a verify would: one datagram, never waited for, at most once per touch interval per
 * session, and only when the stored last-seen is that old. A lost report costs nothing but the
 * idle deadline's move. */
static void sessiond_touch(const sessiond_main_conf *c, const sess_record *rec, int64_t now)
{
    if (c->touch_interval <= 0 || now - rec->last_seen < (int64_t)c->touch_interval)
        return;
    uint32_t h;
    memcpy(&h, rec->id, sizeof(h));
    sessiond_touch_slot *slot = &sessiond_touched[h % SESSIOND_TOUCH_SLOTS];
    if (memcmp(slot->id, rec->id, SESS_ID_BYTES) == 0 &&
        now - (int64_t)slot->sent < (int64_t)c->touch_interval)
        return;
    if (sessiond_proc.touch_fd < 0)
        sessiond_proc.touch_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (sessiond_proc.touch_fd < 0)
        return;
    (void)sendto(sessiond_proc.touch_fd, rec->id, SESS_ID_BYTES, MSG_DONTWAIT | MSG_NOSIGNAL,
                 (const struct sockaddr *)&c->touch_addr, sizeof(c->touch_addr));
    memcpy(slot->id, rec->id, SESS_ID_BYTES);
    slot->sent = (time_t)now;
}

/* ---- the request ------------------------------------------------------------------------- */

static sess_str header_value(ngx_table_elt_t *h)
{
    return h != NULL ? (sess_str){(const char *)h->value.data, h->value.len} : (sess_str){0};
}

static sess_str find_header(ngx_http_request_t *r, const char *lower, size_t len)
{
    ngx_list_part_t *part = &r->headers_in.headers.part;
    ngx_table_elt_t *h = part->elts;
    for (ngx_uint_t i = 0;; i++) {
        if (i >= part->nelts) {
            if (part->next == NULL)
                break;
            part = part->next;
            h = part->elts;
            i = 0;
        }
        if (h[i].key.len == len && ngx_strncasecmp(h[i].key.data, (u_char *)lower, len) == 0)
            return header_value(&h[i]);
    }
    return (sess_str){0};
}

/* The Bearer credential of Authorization, trimmed; {NULL, 0} without one. */
static sess_str bearer(ngx_http_request_t *r)
{
    sess_str a = header_value(r->headers_in.authorization);
    if (a.p == NULL || a.n < 7 || ngx_strncasecmp((u_char *)a.p, (u_char *)"Bearer ", 7) != 0)
        return (sess_str){0};
    a.p += 7;
    a.n -= 7;
    while (a.n > 0 && *a.p == ' ') {
        a.p++;
        a.n--;
    }
    while (a.n > 0 && a.p[a.n - 1] == ' ')
        a.n--;
    return a.n > 0 ? a : (sess_str){0};
}

/* The session token: the cookie first, else "Authorization: Bearer", as sessiond reads it
 * (auth_token): none when the request carries two different values for the session cookie,
 * never one of them. *from_cookie tells where it came from. */
static sess_str request_token(ngx_http_request_t *r, const sessiond_main_conf *c, bool *from_cookie)
{
    sess_cookie_one one = {0};
    ngx_table_elt_t **cookies = r->headers_in.cookies.elts;
    for (ngx_uint_t i = 0; i < r->headers_in.cookies.nelts; i++)
        sess_cookie_pick(&one, (const char *)cookies[i]->value.data, cookies[i]->value.len,
                         c->cookie_z);
    *from_cookie = false;
    if (one.ambiguous) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "sessiond: two different session cookies: treated as none");
        return (sess_str){0};
    }
    if (one.value != NULL) {
        *from_cookie = true;
        return (sess_str){one.value, one.len};
    }
    return bearer(r);
}

/* The cookie's live session `rec` and a Bearer credential naming another live session: the
 * request names two sessions, and has none (as sessiond's auth_session_check decides). A
 * Bearer credential that is no session token (an application's own) does not count. */
static bool bearer_conflict(ngx_http_request_t *r, sess_str cookie, const sess_record *rec,
                            int64_t now)
{
    sess_str b = bearer(r);
    if (b.p == NULL || (b.n == cookie.n && sess_ct_equal(b.p, cookie.p, b.n)))
        return false;
    sess_record other;
    if (sess_verify(sessiond_proc.ctx, b.p, b.n, now, false, &other) != 0)
        return false;
    bool same = sess_ct_equal(other.id, rec->id, SESS_ID_BYTES);
    sess_record_dispose(&other);
    if (!same)
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "sessiond: a session cookie and a Bearer token of another session: "
                      "treated as none");
    return !same;
}

/* Never normalise and allow: the request target as the client sent it (what proxy_pass hands on
 * to the application) must be canonical (sess_canonical_target), as /auth/verify demands;
 * otherwise 400, whatever the policy. nginx matched the location on its own normalised URI,
 * which for a canonical target is the same path. */
static bool target_ok(ngx_http_request_t *r)
{
    char out[SESSIOND_PATH_MAX + 1];
    /* An absolute-form target (GET http://host/path) chose the server{} block, and so the
     * policy, by its own host, while the application gets the Host header: refused, as
     * /auth/verify refuses a target that does not start with "/". */
    if (r->schema_start != NULL || r->host_start != NULL)
        return false;
    return sess_canonical_target((const char *)r->unparsed_uri.data, r->unparsed_uri.len, out,
                                 sizeof(out)) >= 0;
}

/* sessiond_bind_user_agent: the User-Agent read as sessiond stores it (auth_client_agent). A
 * mismatch is refused; sessiond, which can write, would also end the session. */
static bool agent_ok(ngx_http_request_t *r, const sess_record *rec)
{
    char agent[SESS_AGENT_MAX + 1] = "";
    sess_str ua = header_value(r->headers_in.user_agent);
    if (ua.p != NULL)
        sess_sanitize_text(ua.p, ua.n < SESS_AGENT_MAX ? ua.n : SESS_AGENT_MAX, agent,
                           sizeof(agent));
    return sess_agent_matches(rec, agent);
}

static void remember(sessiond_req_ctx *x, const sess_record *rec)
{
    int64_t e = rec->idle_expires < rec->abs_expires ? rec->idle_expires : rec->abs_expires;
    ngx_cpystrn((u_char *)x->user, (u_char *)rec->user, sizeof(x->user));
    ngx_cpystrn((u_char *)x->roles, (u_char *)rec->roles, sizeof(x->roles));
    sess_id_to_hex(rec->id, x->session);
    sess_csrf_token(rec->csrf_secret, x->csrf);
    sess_i64_text(e, x->expires);
    x->passed = true;
}

static ngx_int_t sessiond_check(ngx_http_request_t *r, const sessiond_loc_conf *l,
                                const sessiond_main_conf *c, sessiond_req_ctx *x)
{
    if (!target_ok(r)) {
        x->reason = "target";
        return NGX_HTTP_BAD_REQUEST;
    }
    if (l->policy == SESSIOND_POLICY_PUBLIC)
        return NGX_OK;
    bool from_cookie;
    sess_str tok = request_token(r, c, &from_cookie);
    if (tok.p == NULL)
        return NGX_HTTP_UNAUTHORIZED;
    if (sessiond_open(r, c) != 0)
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    sess_record rec;
    int64_t now = (int64_t)ngx_time();
    int rc = sess_verify(sessiond_proc.ctx, tok.p, tok.n, now, false, &rec);
    if (rc == SESS_ESESSION)
        return NGX_HTTP_UNAUTHORIZED;
    if (rc != 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0, "sessiond: the store failed: %s",
                      sess_strerror(rc));
        return NGX_HTTP_SERVICE_UNAVAILABLE; /* fail closed */
    }
    if ((c->bind_user_agent && !agent_ok(r, &rec)) ||
        (from_cookie && bearer_conflict(r, tok, &rec, now))) {
        sess_record_dispose(&rec);
        return NGX_HTTP_UNAUTHORIZED;
    }
    sess_csrf_req q = {0};
    if (sess_unsafe_method((const char *)r->method_name.data, r->method_name.len))
        q = (sess_csrf_req){
            /* the only requests sess_access_decide reads it for */
            .token = find_header(r, "x-csrf-token", 12),
            .site = find_header(r, "sec-fetch-site", 14),
            .origin = find_header(r, "origin", 6),
            .scheme = r->connection->ssl != NULL ? (sess_str){"https", 5} : (sess_str){"http", 4},
            .host = header_value(r->headers_in.host),
        };
    sess_csrf_policy cp = {c->require_token != 0, c->origins_z};
    enum sess_access_result d =
        sess_access_decide(&rec, now, l->policy == SESSIOND_POLICY_ROLE ? l->role : NULL,
                           l->policy == SESSIOND_POLICY_FRESH ? (int64_t)l->fresh : -1,
                           (const char *)r->method_name.data, r->method_name.len, &q, &cp);
    ngx_int_t status = NGX_OK;
    if (d == SESS_ACCESS_ALLOW) {
        remember(x, &rec);
        sessiond_touch(c, &rec, now);
    } else if (d == SESS_ACCESS_REAUTH)
        x->reason = "reauth";
    if (d != SESS_ACCESS_ALLOW)
        status = NGX_HTTP_FORBIDDEN;
    sess_record_dispose(&rec);
    return status;
}

static void set_variables(ngx_http_request_t *r, const sessiond_req_ctx *x);

static ngx_int_t sessiond_handler(ngx_http_request_t *r)
{
    sessiond_loc_conf *l = ngx_http_get_module_loc_conf(r, ngx_http_sessiond_module);
    if (l->policy == SESSIOND_POLICY_OFF)
        return NGX_DECLINED;
    /* From the request's pool: the variables point into it after an internal redirect too. */
    sessiond_req_ctx *x = ngx_pcalloc(r->pool, sizeof(*x));
    if (x == NULL)
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    sessiond_main_conf *c = ngx_http_get_module_main_conf(r, ngx_http_sessiond_module);
    ngx_int_t status = sessiond_check(r, l, c, x);
    set_variables(r, x);
    /* NGX_OK: this access handler allows; with "satisfy all" the next ones still run. */
    return status;
}

/* ---- variables --------------------------------------------------------------------------- */

/* The outcome is written into the request's indexed variables by the access handler, so that it
 * survives error_page's internal redirect (which clears module contexts): an error location can
 * read $sessiond_reason. Before the check (or without one) the variables are not found. */
enum { VAR_USER, VAR_ROLES, VAR_SESSION, VAR_CSRF, VAR_EXPIRES, VAR_REASON, VAR_COUNT };

static const char *const sessiond_var_names[VAR_COUNT] = {"sessiond_user",    "sessiond_roles",
                                                          "sessiond_session", "sessiond_csrf",
                                                          "sessiond_expires", "sessiond_reason"};
static ngx_int_t sessiond_var_index[VAR_COUNT];

static ngx_int_t sessiond_variable(ngx_http_request_t *r, ngx_http_variable_value_t *v,
                                   uintptr_t data)
{
    (void)r;
    (void)data;
    v->not_found = 1;
    return NGX_OK;
}

static void set_variable(ngx_http_request_t *r, int which, const char *s)
{
    ngx_http_variable_value_t *v = &r->variables[sessiond_var_index[which]];
    *v = (ngx_http_variable_value_t){0};
    if (s == NULL) {
        v->not_found = 1;
        return;
    }
    v->data = (u_char *)s;
    v->len = ngx_strlen(s);
    v->valid = 1;
}

static void set_variables(ngx_http_request_t *r, const sessiond_req_ctx *x)
{
    set_variable(r, VAR_USER, x->passed ? x->user : NULL);
    set_variable(r, VAR_ROLES, x->passed ? x->roles : NULL);
    set_variable(r, VAR_SESSION, x->passed ? x->session : NULL);
    set_variable(r, VAR_CSRF, x->passed ? x->csrf : NULL);
    set_variable(r, VAR_EXPIRES, x->passed ? x->expires : NULL);
    set_variable(r, VAR_REASON, x->reason);
}

static ngx_int_t sessiond_add_variables(ngx_conf_t *cf)
{
    for (uintptr_t i = 0; i < VAR_COUNT; i++) {
        ngx_str_t name = {ngx_strlen(sessiond_var_names[i]), (u_char *)sessiond_var_names[i]};
        ngx_http_variable_t *var = ngx_http_add_variable(cf, &name, 0);
        if (var == NULL)
            return NGX_ERROR;
        var->get_handler = sessiond_variable;
        var->data = i;
    }
    return NGX_OK;
}

static ngx_int_t sessiond_init(ngx_conf_t *cf)
{
    ngx_http_core_main_conf_t *cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);
    ngx_http_handler_pt *h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL)
        return NGX_ERROR;
    *h = sessiond_handler;
    for (int i = 0; i < VAR_COUNT; i++) {
        ngx_str_t name = {ngx_strlen(sessiond_var_names[i]), (u_char *)sessiond_var_names[i]};
        sessiond_var_index[i] = ngx_http_get_variable_index(cf, &name);
        if (sessiond_var_index[i] == NGX_ERROR)
            return NGX_ERROR;
    }
    return NGX_OK;
}
