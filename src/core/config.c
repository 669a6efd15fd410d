/*
 * config.c - sessiond's configuration, driven by one table.
 *
 * Every option is defined exactly once, in `options[]` below: its section, key, type, where it
 * lives in sessd_config (or sessd_rule), its default as text, its bounds, whether SIGHUP may change
 * it and a one-line description. The INI reader, the SESSIOND_<SECTION>_<KEY> environment
 * overrides, the command-line setter, the reload check and docs/configuration.md are all generated
 * from that table, so an option cannot be parsed one way and documented another. Defaults go
 * through the same parser as user input, so a default that breaks its own bounds fails at once.
 * Errors are reported through the caller's buffer as one line; nothing here prints.
 *
 * This file holds the table, storing one value, the defaults and the reload rules. The validators
 * of single values are in config_check.c, the INI file and the environment in config_load.c, the
 * derived defaults and checks across options in config_finish.c, and docs/configuration.md in
 * config_docs.c; config_int.h is what they share.
 */
#include "core/config.h"
#include "core/config_int.h"

#include <assert.h>
#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Field position and size, with a compile-time check that the field has the C type the option
 * type stores (a mismatch fails _Generic, so the table cannot write an int64_t into an int). */
/* clang-format off */
#define FIELD(T, f, ptrtype) \
    (offsetof(T, f) + _Generic(&((T *)0)->f, ptrtype: 0)), sizeof(((T *)0)->f)
#define SFIELD(T, f) (offsetof(T, f) + _Generic(&((T *)0)->f[0], char *: 0)), sizeof(((T *)0)->f)

#define O_STR(sec, key, f, def, check, flags, desc) \
    {sec, key, T_STRING, SFIELD(sessd_config, f), def, 0, 0, NULL, check, flags, desc}
#define O_ENUM(sec, key, f, def, values, flags, desc) \
    {sec, key, T_ENUM, SFIELD(sessd_config, f), def, 0, 0, values, NULL, flags, desc}
#define O_BOOL(sec, key, f, def, flags, desc) \
    {sec, key, T_BOOL, FIELD(sessd_config, f, bool *), def, 0, 1, NULL, NULL, flags, desc}
#define O_INT(sec, key, f, def, lo, hi, flags, desc) \
    {sec, key, T_INT, FIELD(sessd_config, f, int *), def, lo, hi, NULL, NULL, flags, desc}
#define O_COUNT(sec, key, f, def, lo, hi, flags, desc) \
    {sec, key, T_COUNT, FIELD(sessd_config, f, uint64_t *), def, lo, hi, NULL, NULL, flags, desc}
#define O_DUR(sec, key, f, def, lo, hi, flags, desc) \
    {sec, key, T_DURATION, FIELD(sessd_config, f, int64_t *), def, lo, hi, NULL, NULL, flags, desc}
#define O_MS(sec, key, f, def, lo, hi, flags, desc) \
    {sec, key, T_MILLIS, FIELD(sessd_config, f, int64_t *), def, lo, hi, NULL, NULL, flags, desc}
#define O_SIZE(sec, key, f, def, lo, hi, flags, desc) \
    {sec, key, T_SIZE, FIELD(sessd_config, f, uint64_t *), def, lo, hi, NULL, NULL, flags, desc}
#define R_STR(key, f, check, flags, desc) \
    {"rule", key, T_STRING, SFIELD(sessd_rule, f), "", 0, 0, NULL, check, \
     F_RULE | F_RELOAD | (flags), desc}
#define R_BOOL(key, f, def, desc) \
    {"rule", key, T_BOOL, FIELD(sessd_rule, f, bool *), def, 0, 1, NULL, NULL, F_RULE | F_RELOAD, \
     desc}
/* clang-format on */

/* The options, in the order the documentation lists them. */
const opt options[] = {
    O_STR("server", "listen", listen, "127.0.0.1:8080", check_listen, 0,
          "Address to listen on: HOST:PORT with an IPv4 address, [IPv6] or a name; port 0 picks "
          "a free port."),
    O_STR("server", "public_url", public_url, "", check_public_url, 0,
          "URL browsers reach sessiond at; empty: http://LISTEN. An https URL makes cookies "
          "Secure and named __Host-sid."),
    O_INT("server", "threads", threads, "0", 0, 256, 0, "Event-loop threads; 0: one per CPU core."),
    O_STR("server", "base_path", base_path, "/auth", check_base_path, 0,
          "Path prefix of the browser-facing endpoints; starts with / and does not end with /."),
    O_STR("server", "trusted_proxies", trusted_proxies, "", check_cidr_list, F_RELOAD,
          "Comma list of addresses or CIDRs of reverse proxies whose X-Forwarded-* headers are "
          "believed; empty: none."),
    O_SIZE("server", "max_body", max_body, "64k", 1 * KIB, 64 * MIB, 0,
           "Largest request body accepted; larger ones get 413."),
    O_SIZE("server", "max_header", max_header, "16k", 1 * KIB, 1 * MIB, 0,
           "Largest request header block accepted."),
    O_COUNT("server", "max_connections", max_connections, "4096", 1, 1000000, F_RELOAD,
            "Most client connections open at once in this process; one more is answered 503 "
            "(error overloaded, Retry-After: 1) and closed. At start the file descriptor limit "
            "is raised to fit it when the hard limit allows."),
    O_MS("server", "request_timeout", request_timeout, "10s", 100, 3600000, 0,
         "Longest time to receive a whole request, headers and body, and longest idle time of a "
         "keep-alive connection; slower clients are disconnected (slowloris, slow POST)."),
    O_MS("server", "send_timeout", send_timeout, "10s", 100, 3600000, F_RELOAD,
         "Longest time an answer may wait for a client that does not read it; the connection is "
         "then closed (slow read). Checked about once a second."),
    O_STR("server", "socket_dir", socket_dir, "", NULL, 0,
          "Directory of the admin socket (admin.sock, which admin commands reach with the same "
          "setting) and of the nginx module's touch socket (touch.sock); empty: the data "
          "directory. Created 0700 when missing; it must belong to this user and be closed to "
          "group and others, and DIR/admin.sock must fit a unix socket path (107 bytes)."),
    O_STR("server", "ops_listen", ops_listen, "", check_ops_listen, 0,
          "A second address (HOST:PORT) answering only /healthz and /metrics, from a thread of "
          "its own that never calls the store: they answer at once even while the store hangs "
          "and every event loop waits on it. Empty: none (both stay on listen only)."),

    O_DUR("server", "clock_step_warning", clock_step_warning, "30s", 1 * SEC, 1 * DAY, F_RELOAD,
          "A forward step of the wall clock larger than this is logged as a warning with its "
          "size (a step back of a second or more always is). Deadlines are judged on a clock "
          "that never goes back (docs/operations.md)."),
    O_ENUM("store", "kind", store_kind, "lmdb", "lmdb|memory|redis|cookie", 0,
           "Session store: lmdb on local disk, memory (lost on restart), redis, or cookie (sealed "
           "in the browser, needs [keys] seal; revocations, accounts and API keys then live in "
           "lmdb at path, or in Redis when redis_url is set; see docs/tokens.md)."),
    O_STR("store", "path", store_path, "", NULL, 0,
          "Directory of the lmdb store (also the cookie store's revocations); empty: the data "
          "directory (--data)."),
    O_STR("store", "redis_url", redis_url, "", check_redis_url, F_SECRET,
          "redis://[[USER]:PASSWORD@]HOST[:PORT][/DB] or unix:PATH[?db=N] (no TLS: rediss:// is "
          "refused). Never quoted in messages."),
    O_STR("store", "redis_sentinels", redis_sentinels, "", check_hostport_list, 0,
          "Comma list of Sentinel HOST:PORT addresses; used with redis_master instead of "
          "redis_url, whose password and database (not host) still apply when set."),
    O_STR("store", "redis_master", redis_master, "", check_name, 0,
          "Name of the master to ask the Sentinels for."),
    O_STR("store", "redis_cluster", redis_cluster, "", check_hostport_list, 0,
          "Comma list of Redis Cluster seed nodes HOST:PORT; used instead of redis_url (whose "
          "user and password still apply when set). The slot map is asked of them."),
    O_STR("store", "redis_prefix", redis_prefix, "sessiond:", check_redis_prefix, 0,
          "Prefix of every Redis key and of the invalidation channel; give deployments sharing "
          "one Redis different prefixes."),
    O_MS("store", "redis_connect_timeout", redis_connect_timeout, "1s", 10, 60000, 0,
         "Longest wait for a new connection to Redis (within redis_timeout)."),
    O_MS("store", "redis_timeout", redis_timeout, "1s", 10, 60000, 0,
         "Longest time one Redis command may take, all included (a free pooled connection, "
         "connecting, the answer); past it the request fails with 503 store_unavailable."),
    O_COUNT("store", "redis_pool", redis_pool, "0", 0, 1024, 0,
            "Connections to Redis; 0: threads + 2, so that no thread waits for one."),
    O_BOOL("store", "redis_cache", redis_cache, "true", 0,
           "Answer verify, API key checks and preferences from a near cache in this process, "
           "invalidated over Redis pub/sub by every write (see docs/redis.md)."),
    O_MS("store", "redis_cache_ttl", redis_cache_ttl, "5s", 100, 3600000, 0,
         "Longest life of a near cache entry: the bound on staleness should invalidations stop "
         "arriving unnoticed."),
    O_COUNT("store", "redis_cache_size", redis_cache_size, "10000", 16, 10000000, 0,
            "Most entries in the near cache (about 2 KiB each, plus session data)."),
    O_ENUM("store", "fsync", fsync, "always", "always|batch", 0,
           "lmdb: always syncs every commit; batch groups concurrent commits into one sync. "
           "Either way a write is acknowledged only once durable."),
    O_SIZE("store", "map_size", map_size, "16g", 1 * MIB, 16384 * GIB, 0,
           "lmdb: ceiling of the data file. The map starts at 1 GiB (or this, when smaller) and "
           "doubles up to it when a write needs room; past it writes fail with 507 store_full. "
           "Warnings are logged at 80 % and 95 %."),

    O_STR("session", "cookie_name", cookie_name, "", check_cookie_name, 0,
          "Session cookie name; empty: __Host-sid under an https public_url (__Secure-sid when "
          "cookie_domain is set), sid otherwise."),
    O_STR("session", "cookie_domain", cookie_domain, "", check_cookie_domain, 0,
          "Domain attribute of the cookie, to share it with subdomains; empty: host-only "
          "(safer)."),
    O_ENUM("session", "same_site", same_site, "lax", "lax|strict|none", 0,
           "SameSite attribute of the cookie; none needs an https public_url."),
    O_DUR("session", "idle_timeout", idle_timeout, "30m", 1 * SEC, 365 * DAY, F_RELOAD,
          "A session unused for this long ends."),
    O_DUR("session", "absolute_timeout", absolute_timeout, "24h", 1 * SEC, 365 * DAY, F_RELOAD,
          "A session ends this long after login however much it is used; at least "
          "idle_timeout."),
    O_DUR("session", "remember_me", remember_me, "30d", 1 * MIN, 365 * DAY, F_RELOAD | F_OFF,
          "Lifetime of a session created with \"remember me\"; its cookie gets this Max-Age. "
          "off: no remember-me (the login page has no checkbox, and a login or /v1 create that "
          "asks for it is refused)."),
    O_DUR("session", "remember_idle_timeout", remember_idle_timeout, "7d", 1 * SEC, 365 * DAY,
          F_RELOAD,
          "Inactivity timeout of a remember-me session: unused this long, it ends, however long "
          "its remember_me lifetime still runs."),
    O_DUR("session", "touch_interval", touch_interval, "0", 0, 1 * DAY, F_RELOAD,
          "Least time between two writes of a session's last-seen time; 0: 1% of idle_timeout, "
          "at least 1s. Must be below idle_timeout."),
    O_DUR("session", "rotate_grace", rotate_grace, "30s", 0, 1 * HOUR, F_RELOAD,
          "How long a replaced token (rotation, refresh) keeps working."),
    O_DUR("session", "access_ttl", access_ttl, "15m", 10 * SEC, 1 * DAY, F_RELOAD,
          "Life of an access token from POST base_path/api/login and /api/refresh (bearer "
          "clients); the refresh token lives as long as the session (see docs/tokens.md)."),
    O_COUNT("session", "max_per_user", max_per_user, "50", 1, 1000000, F_RELOAD,
            "Live sessions per user; a new one evicts the oldest."),
    O_SIZE("session", "max_data", max_data, "16k", 256, 1 * MIB, F_RELOAD,
           "Largest application data (JSON) one session may hold."),
    O_BOOL("session", "bind_user_agent", bind_user_agent, "false", F_RELOAD,
           "A token presented with another User-Agent than the session was created with is "
           "refused (401, 404 for /v1) and its session deleted."),
    O_DUR("session", "devices_fresh", devices_fresh, "5m", 1 * SEC, 1 * DAY, F_RELOAD,
          "Ending another device on \"Your devices\" needs a login at most this old; after "
          "that the user confirms the password first (the step-up form, which brings them "
          "back)."),
    O_BOOL("session", "require_secure", require_secure, "false", F_RELOAD,
           "Refuse to start (and a reload) when the session cookie would go out without Secure "
           "(a plain-http public_url) or without a __Host-/__Secure- prefix (an explicit "
           "cookie_name); without it those only warn. Set it in production."),
    O_STR("session", "clear_site_data", clear_site_data, "\"cache\"", NULL, F_RELOAD,
          "Value of the Clear-Site-Data header sent at logout, quotes included; empty: no "
          "header."),

    O_COUNT("login", "max_failures", max_failures, "5", 1, 10000, F_RELOAD,
            "Failed logins for one user or one client address within failure_window before a "
            "lockout."),
    O_DUR("login", "failure_window", failure_window, "5m", 1 * SEC, 1 * DAY, F_RELOAD,
          "Window in which failed logins are counted."),
    O_DUR("login", "lockout", lockout, "15m", 1 * SEC, 30 * DAY, F_RELOAD,
          "How long logins are refused (429) after too many failures."),
    O_COUNT("login", "argon2_ops", argon2_ops, "2", 1, 10, F_RELOAD,
            "Argon2id passes for new password hashes."),
    O_SIZE("login", "argon2_mem", argon2_mem, "64m", 8 * MIB, 1 * GIB, F_RELOAD,
           "Argon2id memory for new password hashes."),
    O_COUNT("login", "min_password", min_password, "15", 8, 64, F_RELOAD,
            "Fewest characters (not bytes) of a password chosen on the password page; "
            "docs/security.md says why 15. `user add` and `user passwd` keep the floor of 8 "
            "bytes."),

    O_STR("csrf", "allowed_origins", allowed_origins, "", check_origin_list, F_RELOAD,
          "Comma list of origins (scheme://host[:port]) trusted for unsafe requests and as rd= "
          "redirect targets."),
    O_BOOL("csrf", "require_token", require_token, "false", F_RELOAD,
           "Require a valid X-CSRF-Token on unsafe methods even when Sec-Fetch-Site or Origin "
           "show the same origin."),

    O_STR("headers", "forward", forward, "user,roles,session,expires,csrf,pref.language,pref.theme",
          check_forward, F_RELOAD,
          "Identity headers /auth/verify answers with: user, roles, session, expires, csrf and "
          "pref.NAME; empty: none."),

    R_STR("host", host, NULL, 0, "Host the rule applies to; empty: any host."),
    R_STR("path", path, NULL, 0, "Glob on the request path, e.g. /api/*; empty: every path."),
    R_STR("methods", methods, check_methods, 0,
          "Comma list of methods in upper case, e.g. GET,HEAD; empty: any method."),
    R_STR("policy", policy, check_policy, F_REQUIRED,
          "Required: public, authenticated, role:NAME, or fresh:DURATION (logged in at most "
          "DURATION ago)."),
    R_BOOL("touch", touch, "true",
           "Whether a request matching the rule extends the session's idle deadline."),

    O_STR("keys", "seal", seal, "", check_seal, F_RELOAD | F_SECRET,
          "Key ring of the cookie store: comma list of ID:BASE64KEY (32 bytes each, at most 8 "
          "keys); the first seals, all open; reload to rotate. Never quoted in messages."),

    O_STR("audit", "path", audit_path, "", NULL, 0, "Audit log file; empty: DATA/audit.log."),
    O_ENUM("audit", "on_failure", audit_on_failure, "refuse", "refuse|continue", 0,
           "When the event of a change (login, rotation, revocation, logout, admin command) "
           "cannot be written: refuse answers 503 audit_unavailable (the command exits 1) and "
           "does not confirm the change; continue lets it through. Either way an audit_gap line "
           "records the lost events once writing works again."),

    O_ENUM("log", "level", log_level, "info", "debug|info|notice|warn", F_RELOAD,
           "Least severity written to the log."),
    O_ENUM("log", "format", log_format, "text", "text|json", 0,
           "Log line format: text for people, json for collectors."),
    O_STR("log", "access_log", access_log, "", NULL, 0,
          "File that gets one line per request; empty: no access log."),
    O_STR("log", "access_log_format", access_log_format,
          "%h %t \"%m %U %H\" %s %b \"%{user-agent}i\"", check_access_format, 0,
          "Fields of an access log line (see docs/operations.md): %h client, %t time, %m method, "
          "%U path without the query, %H protocol, %s status, %b body bytes, "
          "%{NAME}i a request header, %{NAME}o a response header. %r and %q (they carry the "
          "query) and the Cookie, Authorization, Proxy-Authorization, X-CSRF-Token and "
          "Set-Cookie headers are refused: no secret reaches the log. With [log] format = json "
          "values are JSON-escaped."),
};

_Static_assert(sizeof options / sizeof options[0] <= CONF_OPTS_MAX, "raise CONF_OPTS_MAX");
const size_t sessd__cfg_nopts = sizeof options / sizeof options[0];

/* The sections in documentation order, each with a sentence for the docs. */
const struct section sections[] = {
    {"server", "The listening socket, the address users see, and HTTP limits."},
    {"store", "Where sessions are kept."},
    {"session", "The cookie and the lifetime of sessions."},
    {"login", "Login throttling, password hashing, and the passwords users may choose."},
    {"csrf", "Cross-site request forgery protection for unsafe methods."},
    {"headers", "What a successful `/auth/verify` tells the application."},
    {"rule", NULL},
    {"keys", "Secrets. Keep the file readable by sessiond only."},
    {"audit", "The hash-chained audit log (`sessiond audit verify`)."},
    {"log", "Diagnostics."},
};
const size_t sessd__cfg_nsections = sizeof sections / sizeof sections[0];

/* ---- small helpers ---------------------------------------------------------------------- */

void say(char *err, size_t errlen, const char *fmt, ...)
{
    if (err == NULL || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* A printable, bounded copy of a user value for an error message. */
const char *excerpt(const char *v, size_t len, char *buf, size_t n)
{
    size_t i, o = 0;
    assert(n > EXCERPT_MAX + 4);
    for (i = 0; i < len && v[i] && o < EXCERPT_MAX; i++)
        buf[o++] = (v[i] >= 0x20 && v[i] < 0x7f) ? v[i] : '?';
    if (i < len && v[i])
        o += (size_t)snprintf(buf + o, n - o, "...");
    buf[o] = '\0';
    return buf;
}

bool is_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

bool is_alnum(char ch)
{
    return is_digit(ch) || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

/* Digits only, no sign, no spaces; advances *s past them. -1 on none or overflow. */
static int parse_digits(const char **s, uint64_t *out)
{
    const char *p = *s;
    uint64_t v = 0;
    if (!is_digit(*p))
        return -1;
    for (; is_digit(*p); p++) {
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *s = p;
    *out = v;
    return 0;
}

int sessd_parse_duration(const char *s, int64_t *out)
{
    uint64_t v, mul = 1;
    if (s == NULL || parse_digits(&s, &v) < 0)
        return -1;
    switch (*s) {
    case '\0':
        break;
    case 's':
        mul = SEC;
        s++;
        break;
    case 'm':
        mul = MIN;
        s++;
        break;
    case 'h':
        mul = HOUR;
        s++;
        break;
    case 'd':
        mul = DAY;
        s++;
        break;
    default:
        return -1;
    }
    if (*s != '\0' || v > (uint64_t)INT64_MAX / mul)
        return -1;
    *out = (int64_t)(v * mul);
    return 0;
}

int sessd_parse_millis(const char *s, int64_t *out)
{
    uint64_t v, mul = 1000;
    if (s == NULL || parse_digits(&s, &v) < 0)
        return -1;
    if (strcmp(s, "ms") == 0)
        mul = 1;
    else if (strcmp(s, "m") == 0)
        mul = 60000;
    else if (strcmp(s, "s") != 0 && *s != '\0')
        return -1;
    if (v > (uint64_t)INT64_MAX / mul)
        return -1;
    *out = (int64_t)(v * mul);
    return 0;
}

int sessd_parse_size(const char *s, uint64_t *out)
{
    uint64_t v, mul = 1;
    if (s == NULL || parse_digits(&s, &v) < 0)
        return -1;
    switch (*s) {
    case '\0':
        break;
    case 'k':
    case 'K':
        mul = KIB;
        s++;
        break;
    case 'm':
    case 'M':
        mul = MIB;
        s++;
        break;
    case 'g':
    case 'G':
        mul = GIB;
        s++;
        break;
    default:
        return -1;
    }
    if (*s != '\0' || v > UINT64_MAX / mul)
        return -1;
    *out = v * mul;
    return 0;
}

static int parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

/* Whether `v` is one of the '|'-separated `values`. */
static bool enum_has(const char *values, const char *v)
{
    size_t len = strlen(v);
    for (const char *p = values; *p;) {
        const char *end = strchr(p, '|');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n == len && memcmp(p, v, n) == 0)
            return true;
        p += n + (end != NULL);
    }
    return false;
}

/* "a|b|c" -> "a, b, c" */
static const char *enum_list(const char *values, char *buf, size_t n)
{
    size_t o = 0;
    for (const char *p = values; *p && o + 3 < n; p++) {
        if (*p == '|') {
            buf[o++] = ',';
            buf[o++] = ' ';
        } else {
            buf[o++] = *p;
        }
    }
    buf[o] = '\0';
    return buf;
}

/* 90 -> "90s", 3600 -> "1h": the largest unit that divides exactly. */
static const char *fmt_duration(uint64_t v, char *buf, size_t n)
{
    if (v == 0)
        snprintf(buf, n, "0");
    else if (v % DAY == 0)
        snprintf(buf, n, "%" PRIu64 "d", v / DAY);
    else if (v % HOUR == 0)
        snprintf(buf, n, "%" PRIu64 "h", v / HOUR);
    else if (v % MIN == 0)
        snprintf(buf, n, "%" PRIu64 "m", v / MIN);
    else
        snprintf(buf, n, "%" PRIu64 "s", v);
    return buf;
}

/* 1500 -> "1500ms", 2000 -> "2s", 60000 -> "1m". */
static const char *fmt_millis(uint64_t v, char *buf, size_t n)
{
    if (v == 0)
        snprintf(buf, n, "0");
    else if (v % 60000 == 0)
        snprintf(buf, n, "%" PRIu64 "m", v / 60000);
    else if (v % 1000 == 0)
        snprintf(buf, n, "%" PRIu64 "s", v / 1000);
    else
        snprintf(buf, n, "%" PRIu64 "ms", v);
    return buf;
}

static const char *fmt_size(uint64_t v, char *buf, size_t n)
{
    if (v != 0 && v % GIB == 0)
        snprintf(buf, n, "%" PRIu64 "g", v / GIB);
    else if (v != 0 && v % MIB == 0)
        snprintf(buf, n, "%" PRIu64 "m", v / MIB);
    else if (v != 0 && v % KIB == 0)
        snprintf(buf, n, "%" PRIu64 "k", v / KIB);
    else
        snprintf(buf, n, "%" PRIu64, v);
    return buf;
}

const char *fmt_number(const opt *o, uint64_t v, char *buf, size_t n)
{
    if (o->type == T_DURATION)
        return fmt_duration(v, buf, n);
    if (o->type == T_MILLIS)
        return fmt_millis(v, buf, n);
    if (o->type == T_SIZE)
        return fmt_size(v, buf, n);
    snprintf(buf, n, "%" PRIu64, v);
    return buf;
}

/* What a well-formed value of the option looks like, for error messages. */
static const char *type_hint(const opt *o)
{
    switch (o->type) {
    case T_BOOL:
        return "use true or false (or yes/no, on/off, 1/0)";
    case T_INT:
    case T_COUNT:
        return "use a whole number";
    case T_DURATION:
        return "use a whole number with an optional s, m, h or d suffix, e.g. 30m";
    case T_MILLIS:
        return "use a whole number with an optional ms, s or m suffix, e.g. 500ms";
    case T_SIZE:
        return "use a whole number of bytes with an optional k, m or g suffix, e.g. 64k";
    default:
        return "give a value";
    }
}

bool is_rule_section(const char *section)
{
    return strncmp(section, "rule", 4) == 0 &&
           (section[4] == '\0' || isspace((unsigned char)section[4]));
}

/* The option `section`/`key` names; for "[rule NAME]" sections, the section is "rule ...". */
const opt *opt_find(const char *section, const char *key)
{
    bool rule = is_rule_section(section);
    for (size_t i = 0; i < NOPTS; i++) {
        const opt *o = &options[i];
        if (strcmp(o->key, key) != 0)
            continue;
        if (rule ? (o->flags & F_RULE) != 0 : strcmp(o->section, section) == 0)
            return o;
    }
    return NULL;
}

bool section_known(const char *section)
{
    for (size_t i = 0; i < sizeof sections / sizeof sections[0]; i++)
        if (strcmp(sections[i].name, section) == 0 && strcmp(section, "rule") != 0)
            return true;
    return false;
}

/* "listen, public_url, ..." for an "unknown key" message. */
const char *keys_of(const char *section, char *buf, size_t n)
{
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < NOPTS && o < n; i++) {
        if (strcmp(options[i].section, section) == 0)
            o += (size_t)snprintf(buf + o, n - o, "%s%s", o ? ", " : "", options[i].key);
    }
    return buf;
}

static bool has_control(const char *v)
{
    for (; *v; v++)
        if ((unsigned char)*v < 0x20 || *v == 0x7f)
            return true;
    return false;
}

/* ---- storing one value ------------------------------------------------------------------ */

void *field_of(const opt *o, void *base)
{
    return (char *)base + o->offset;
}

/* Parses `value` for `o` and stores it in `base` (a sessd_config, or a sessd_rule for F_RULE).
 * On failure writes the problem to `why` and changes nothing. */
int opt_store(const opt *o, void *base, const char *value, char *why, size_t n)
{
    char exbuf[EXCERPT_MAX + 8], lo[64], hi[32];
    void *f = field_of(o, base);
    const char *shown = (o->flags & F_SECRET) ? "the value" : EX(value);
    uint64_t v = 0;
    int64_t d;
    bool b;

    if (o->type != T_STRING && value[0] == '\0') {
        if (o->type == T_ENUM)
            snprintf(why, n, "empty value; use one of %s", enum_list(o->values, lo, sizeof lo));
        else
            snprintf(why, n, "empty value; %s", type_hint(o));
        return -1;
    }
    switch (o->type) {
    case T_STRING:
    case T_ENUM: {
        size_t len = strlen(value);
        if (len >= o->size) {
            snprintf(why, n, "too long (%zu bytes), at most %zu bytes", len, o->size - 1);
            return -1;
        }
        if (has_control(value)) {
            snprintf(why, n, "contains a control character; remove it");
            return -1;
        }
        if (o->type == T_ENUM && !enum_has(o->values, value)) {
            snprintf(why, n, "\"%s\" is not one of %s", shown, enum_list(o->values, lo, sizeof lo));
            return -1;
        }
        if (o->check && !o->check(value, why, n))
            return -1;
        memcpy(f, value, len + 1);
        return 0;
    }
    case T_BOOL:
        if (parse_bool(value, &b) < 0) {
            snprintf(why, n, "\"%s\" is not a boolean; %s", shown, type_hint(o));
            return -1;
        }
        *(bool *)f = b;
        return 0;
    case T_INT:
    case T_COUNT:
        if (parse_digits(&value, &v) < 0 || *value != '\0') {
            snprintf(why, n, "\"%s\" is not a whole number; %s", shown, type_hint(o));
            return -1;
        }
        break;
    case T_DURATION:
        if ((o->flags & F_OFF) && strcmp(value, "off") == 0) {
            *(int64_t *)f = 0;
            return 0;
        }
        if (sessd_parse_duration(value, &d) < 0) {
            snprintf(why, n, "\"%s\" is not a duration; %s%s", shown, type_hint(o),
                     (o->flags & F_OFF) ? ", or off" : "");
            return -1;
        }
        v = (uint64_t)d;
        break;
    case T_MILLIS:
        if (sessd_parse_millis(value, &d) < 0) {
            snprintf(why, n, "\"%s\" is not a duration; %s", shown, type_hint(o));
            return -1;
        }
        v = (uint64_t)d;
        break;
    case T_SIZE:
        if (sessd_parse_size(value, &v) < 0) {
            snprintf(why, n, "\"%s\" is not a size; %s", shown, type_hint(o));
            return -1;
        }
        break;
    }
    if (v < o->min || v > o->max) {
        snprintf(why, n, "%s is out of range; use a value from %s to %s", shown,
                 fmt_number(o, o->min, lo, sizeof lo), fmt_number(o, o->max, hi, sizeof hi));
        return -1;
    }
    if (o->type == T_INT)
        *(int *)f = (int)v;
    else if (o->type == T_DURATION || o->type == T_MILLIS)
        *(int64_t *)f = (int64_t)v;
    else
        *(uint64_t *)f = v;
    return 0;
}

/* Re-checks a value already in the struct (callers may write fields directly), without
 * changing it. */
int opt_validate(const opt *o, void *base, char *why, size_t n)
{
    const void *f = field_of(o, base);
    char cur[32], lo[64], hi[32];
    uint64_t v;
    switch (o->type) {
    case T_STRING:
    case T_ENUM: {
        const char *s = f;
        if (memchr(s, '\0', o->size) == NULL) {
            snprintf(why, n, "not terminated within %zu bytes", o->size);
            return -1;
        }
        if (has_control(s)) {
            snprintf(why, n, "contains a control character; remove it");
            return -1;
        }
        if (o->type == T_ENUM && !enum_has(o->values, s)) {
            snprintf(why, n, "\"%s\" is not one of %s", s, enum_list(o->values, lo, sizeof lo));
            return -1;
        }
        return (o->check && !o->check(s, why, n)) ? -1 : 0;
    }
    case T_BOOL:
        return 0;
    case T_INT:
        if (*(const int *)f < 0) {
            snprintf(why, n, "is negative");
            return -1;
        }
        v = (uint64_t) * (const int *)f;
        break;
    case T_DURATION:
    case T_MILLIS:
        if (*(const int64_t *)f < 0) {
            snprintf(why, n, "is negative");
            return -1;
        }
        v = (uint64_t) * (const int64_t *)f;
        if (v == 0 && (o->flags & F_OFF))
            return 0;
        break;
    default:
        v = *(const uint64_t *)f;
        break;
    }
    if (v < o->min || v > o->max) {
        snprintf(why, n, "%s is out of range; use a value from %s to %s",
                 fmt_number(o, v, cur, sizeof cur), fmt_number(o, o->min, lo, sizeof lo),
                 fmt_number(o, o->max, hi, sizeof hi));
        return -1;
    }
    return 0;
}

/* ---- rules ------------------------------------------------------------------------------ */

/* The NAME of a "rule NAME" section (spaces around it skipped), or NULL for "rule". */
const char *rule_name_of(const char *section, char *buf, size_t n)
{
    const char *p = section + 4;
    size_t len;
    while (*p == ' ' || *p == '\t')
        p++;
    len = strlen(p);
    while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
        len--;
    if (len == 0)
        return NULL;
    if (len >= n)
        len = n - 1;
    memcpy(buf, p, len);
    buf[len] = '\0';
    return buf;
}

sessd_rule *rule_find(sessd_config *c, const char *name)
{
    for (int i = 0; i < c->nrules; i++)
        if (strcmp(c->rules[i].name, name) == 0)
            return &c->rules[i];
    return NULL;
}

/* Adds rule `name` with its defaults; -1 with the problem in `why`. */
sessd_rule *rule_add(sessd_config *c, const char *name, int line, char *why, size_t n)
{
    char exbuf[EXCERPT_MAX + 8];
    sessd_rule *r;
    size_t len = strlen(name);
    if (len == 0) {
        snprintf(why, n, "a rule needs a name: [rule NAME]");
        return NULL;
    }
    if (len >= sizeof r->name) {
        snprintf(why, n, "rule name too long, at most %zu bytes", sizeof r->name - 1);
        return NULL;
    }
    for (const char *p = name; *p; p++) {
        if (!is_alnum(*p) && !strchr("_.-", *p)) {
            snprintf(why, n, "rule name \"%s\": use only letters, digits, '_', '.' and '-'",
                     EX(name));
            return NULL;
        }
    }
    if ((r = rule_find(c, name)) != NULL) {
        if (r->line > 0)
            snprintf(why, n, "rule \"%s\" is defined twice (first on line %d); rename one", name,
                     r->line);
        else
            snprintf(why, n, "rule \"%s\" is defined twice; rename one", name);
        return NULL;
    }
    if (c->nrules >= SESSD_MAX_RULES) {
        snprintf(why, n, "too many rules, at most %d", SESSD_MAX_RULES);
        return NULL;
    }
    r = &c->rules[c->nrules];
    memset(r, 0, sizeof *r);
    memcpy(r->name, name, len + 1);
    r->line = line;
    for (size_t i = 0; i < NOPTS; i++) {
        /* Empty strings are already there (and a required policy has no valid default). */
        if ((options[i].flags & F_RULE) && options[i].def[0] != '\0') {
            int rc = opt_store(&options[i], r, options[i].def, why, n);
            assert(rc == 0);
            (void)rc;
        }
    }
    c->nrules++;
    return r;
}

/* ---- public API: defaults and single values --------------------------------------------- */

void sessd_config_defaults(sessd_config *c)
{
    char why[WHY_MAX];
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < NOPTS; i++) {
        if (options[i].flags & F_RULE)
            continue;
        int rc = opt_store(&options[i], c, options[i].def, why, sizeof why);
        assert(rc == 0 && "a default breaks its own option's rules");
        (void)rc;
    }
    snprintf(c->data_dir, sizeof c->data_dir, "./sessiond-data");
}

/* Formats "ORIGIN: [section] key: why" (or "[rule NAME] key"). */
void say_opt(char *err, size_t errlen, const char *origin, const char *section, const char *key,
             const char *why)
{
    say(err, errlen, "%s: [%s] %s: %s", origin, section, key, why);
}

int sessd_config_set(sessd_config *c, const char *section, const char *key, const char *value,
                     const char *origin, char *err, size_t errlen)
{
    char why[WHY_MAX], keys[512], name[64];
    const opt *o = opt_find(section, key);
    void *base = c;
    origin = origin ? origin : "config";
    if (value == NULL)
        value = "";
    if (o == NULL) {
        if (is_rule_section(section)) {
            say_opt(err, errlen, origin, section, key,
                    "unknown key; a rule has host, path, methods, policy and touch");
        } else if (section_known(section)) {
            char msg[sizeof keys + 32];
            snprintf(msg, sizeof msg, "unknown key; known keys: %s",
                     keys_of(section, keys, sizeof keys));
            say_opt(err, errlen, origin, section, key, msg);
        } else {
            say(err, errlen, "%s: [%s]: unknown section", origin, section);
        }
        return -1;
    }
    if (o->flags & F_RULE) {
        if (rule_name_of(section, name, sizeof name) == NULL) {
            say(err, errlen, "%s: [%s]: a rule needs a name: [rule NAME]", origin, section);
            return -1;
        }
        sessd_rule *r = rule_find(c, name);
        if (r == NULL && (r = rule_add(c, name, 0, why, sizeof why)) == NULL) {
            say(err, errlen, "%s: [%s]: %s", origin, section, why);
            return -1;
        }
        base = r;
    }
    if (opt_store(o, base, value, why, sizeof why) < 0) {
        say_opt(err, errlen, origin, section, key, why);
        return -1;
    }
    return 0;
}

bool sessd_config_reloadable(const char *section, const char *key)
{
    const opt *o = opt_find(section, key);
    return o != NULL && (o->flags & F_RELOAD) != 0;
}

int sessd_config_keep_static(sessd_config *next, const sessd_config *cur, char *changed, size_t cap)
{
    int n = 0;
    size_t used = 0;
    if (cap > 0)
        changed[0] = '\0';
    for (size_t i = 0; i < NOPTS; i++) {
        const opt *o = &options[i];
        if ((o->flags & (F_RELOAD | F_RULE)) != 0)
            continue;
        void *dst = field_of(o, next);
        const void *src = (const char *)cur + o->offset;
        if (memcmp(dst, src, o->size) == 0)
            continue;
        memcpy(dst, src, o->size);
        n++;
        int w = snprintf(changed + used, cap > used ? cap - used : 0, "%s[%s] %s", used ? ", " : "",
                         o->section, o->key);
        if (w > 0 && used + (size_t)w < cap)
            used += (size_t)w;
    }
    return n;
}
