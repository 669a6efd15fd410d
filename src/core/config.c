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
 */
#include "core/config.h"

#include <arpa/inet.h>
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sessiond/seal.h"

extern char **environ;

#define SEC ((uint64_t)1)
#define MIN (60 * SEC)
#define HOUR (60 * MIN)
#define DAY (24 * HOUR)
#define KIB ((uint64_t)1024)
#define MIB (1024 * KIB)
#define GIB (1024 * MIB)

/* Longest line of a config file; comfortably above the longest value (SESSD_STR - 1) plus key. */
#define CONF_LINE_MAX 4000
/* inih keeps section names in a 50-byte buffer and silently truncates longer ones. */
#define CONF_SECTION_MAX 49
/* Longest excerpt of a bad value quoted back in an error message. */
#define EXCERPT_MAX 48
#define WHY_MAX 384

/* T_MILLIS: a duration kept in milliseconds (timeouts shorter than a second). */
typedef enum opt_type {
    T_STRING,
    T_BOOL,
    T_INT,
    T_COUNT,
    T_DURATION,
    T_MILLIS,
    T_SIZE,
    T_ENUM
} opt_type;

enum {
    F_RELOAD = 1,   /* SIGHUP may change it */
    F_SECRET = 2,   /* the value never appears in a message */
    F_RULE = 4,     /* a key of [rule NAME]: offset is into sessd_rule */
    F_REQUIRED = 8, /* must be given (only for rule keys) */
};

/* Extra validation of a string value: true when fine, else the problem is written to `why`.
 * Checks of secret options must not quote the value. */
typedef bool check_fn(const char *value, char *why, size_t n);

typedef struct opt {
    const char *section; /* "rule" for the keys of [rule NAME] */
    const char *key;
    opt_type type;
    size_t offset; /* into sessd_config, or into sessd_rule with F_RULE */
    size_t size;   /* of the field; for strings the buffer size */
    const char *def;
    uint64_t min, max;  /* numeric bounds, in seconds or bytes */
    const char *values; /* T_ENUM: the allowed values, "a|b|c" */
    check_fn *check;
    unsigned flags;
    const char *desc;
} opt;

static check_fn check_listen, check_public_url, check_base_path, check_cidr_list, check_redis_url,
    check_redis_prefix, check_hostport_list, check_name, check_cookie_name, check_cookie_domain,
    check_origin_list, check_forward, check_seal, check_methods, check_policy, check_access_format;

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
static const opt options[] = {
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
    O_DUR("session", "remember_me", remember_me, "30d", 1 * MIN, 365 * DAY, F_RELOAD,
          "Lifetime of a session created with \"remember me\"; its cookie gets this Max-Age."),
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

#define NOPTS (sizeof options / sizeof options[0])

/* The sections in documentation order, each with a sentence for the docs. */
static const struct section {
    const char *name;
    const char *desc;
} sections[] = {
    {"server", "The listening socket, the address users see, and HTTP limits."},
    {"store", "Where sessions are kept."},
    {"session", "The cookie and the lifetime of sessions."},
    {"login", "Login throttling and password hashing."},
    {"csrf", "Cross-site request forgery protection for unsafe methods."},
    {"headers", "What a successful `/auth/verify` tells the application."},
    {"rule", NULL},
    {"keys", "Secrets. Keep the file readable by sessiond only."},
    {"audit", "The hash-chained audit log (`sessiond audit verify`)."},
    {"log", "Diagnostics."},
};

/* ---- small helpers ---------------------------------------------------------------------- */

static void say(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void say(char *err, size_t errlen, const char *fmt, ...)
{
    if (err == NULL || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* A printable, bounded copy of a user value for an error message. */
static const char *excerpt(const char *v, size_t len, char *buf, size_t n)
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

#define EX(v) excerpt((v), strlen(v), exbuf, sizeof exbuf)

static bool is_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

static bool is_alnum(char ch)
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

static const char *fmt_number(const opt *o, uint64_t v, char *buf, size_t n)
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

static const char *type_name(opt_type t)
{
    switch (t) {
    case T_STRING:
        return "string";
    case T_BOOL:
        return "bool";
    case T_INT:
    case T_COUNT:
        return "integer";
    case T_DURATION:
    case T_MILLIS:
        return "duration";
    case T_SIZE:
        return "size";
    case T_ENUM:
        return "enum";
    }
    return "?";
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

static bool is_rule_section(const char *section)
{
    return strncmp(section, "rule", 4) == 0 &&
           (section[4] == '\0' || isspace((unsigned char)section[4]));
}

/* The option `section`/`key` names; for "[rule NAME]" sections, the section is "rule ...". */
static const opt *opt_find(const char *section, const char *key)
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

static bool section_known(const char *section)
{
    for (size_t i = 0; i < sizeof sections / sizeof sections[0]; i++)
        if (strcmp(sections[i].name, section) == 0 && strcmp(section, "rule") != 0)
            return true;
    return false;
}

/* "listen, public_url, ..." for an "unknown key" message. */
static const char *keys_of(const char *section, char *buf, size_t n)
{
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < NOPTS && o < n; i++) {
        if (strcmp(options[i].section, section) == 0)
            o += (size_t)snprintf(buf + o, n - o, "%s%s", o ? ", " : "", options[i].key);
    }
    return buf;
}

/* ---- per-value checks ------------------------------------------------------------------- */

static bool has_control(const char *v)
{
    for (; *v; v++)
        if ((unsigned char)*v < 0x20 || *v == 0x7f)
            return true;
    return false;
}

/* Calls fn on each comma-separated item of `v`, spaces around items trimmed. Empty items are
 * errors; an empty `v` is an empty list. */
static bool each_item(const char *v, bool (*fn)(const char *item, size_t len, char *why, size_t n),
                      bool secret, char *why, size_t n)
{
    const char *p = v;
    char exbuf[EXCERPT_MAX + 8];
    if (*v == '\0')
        return true;
    for (;;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        while (len && (*p == ' ' || *p == '\t'))
            p++, len--;
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (len == 0) {
            if (secret)
                snprintf(why, n, "empty item in the comma list (not shown: it is secret)");
            else
                snprintf(why, n, "empty item in the comma list \"%s\"", EX(v));
            return false;
        }
        if (!fn(p, len, why, n))
            return false;
        if (!end)
            return true;
        p = end + 1;
    }
}

static bool valid_ipv4(const char *h, size_t len)
{
    char buf[INET_ADDRSTRLEN];
    struct in_addr a;
    if (len == 0 || len >= sizeof buf)
        return false;
    memcpy(buf, h, len);
    buf[len] = '\0';
    return inet_pton(AF_INET, buf, &a) == 1;
}

static bool valid_ipv6(const char *h, size_t len)
{
    char buf[INET6_ADDRSTRLEN];
    struct in6_addr a;
    if (len == 0 || len >= sizeof buf)
        return false;
    memcpy(buf, h, len);
    buf[len] = '\0';
    return inet_pton(AF_INET6, buf, &a) == 1;
}

/* A DNS name (letters, digits, '-', dot-separated labels of 1..63) or, when it looks numeric,
 * a valid IPv4 address. */
static bool valid_host(const char *h, size_t len)
{
    size_t label = 0;
    bool numeric = true;
    if (len == 0 || len > 253)
        return false;
    for (size_t i = 0; i < len; i++) {
        char ch = h[i];
        if (ch == '.') {
            if (label == 0)
                return false;
            label = 0;
            continue;
        }
        if (!is_alnum(ch) && ch != '-')
            return false;
        if (!is_digit(ch))
            numeric = false;
        if (++label > 63)
            return false;
    }
    if (label == 0)
        return false;
    return numeric ? valid_ipv4(h, len) : true;
}

/* HOST:PORT with HOST an IPv4 address, [IPv6] or a name, PORT 0..65535. */
static bool hostport_ok(const char *v, size_t len, char *why, size_t n)
{
    char exbuf[EXCERPT_MAX + 8];
    const char *ex = excerpt(v, len, exbuf, sizeof exbuf);
    const char *colon;
    size_t hl;
    bool hostok;
    if (len > 0 && v[0] == '[') {
        const char *close = memchr(v, ']', len);
        if (!close || close + 1 >= v + len || close[1] != ':') {
            snprintf(why, n, "\"%s\" is not [IPv6]:PORT, e.g. [::1]:8080", ex);
            return false;
        }
        colon = close + 1;
        hostok = valid_ipv6(v + 1, (size_t)(close - v - 1));
    } else {
        colon = NULL;
        for (size_t i = 0; i < len; i++)
            if (v[i] == ':')
                colon = v + i;
        if (!colon) {
            snprintf(why, n, "\"%s\" is not HOST:PORT, e.g. 127.0.0.1:8080", ex);
            return false;
        }
        hl = (size_t)(colon - v);
        if (memchr(v, ':', hl)) {
            snprintf(why, n, "\"%s\": put an IPv6 address in brackets, e.g. [::1]:8080", ex);
            return false;
        }
        hostok = valid_host(v, hl);
    }
    if (!hostok) {
        snprintf(why, n,
                 "\"%s\" does not start with a valid host; use an IPv4 address, [IPv6] or a name, "
                 "e.g. 0.0.0.0:8080",
                 ex);
        return false;
    }
    const char *p = colon + 1, *end = v + len;
    uint64_t port = 0;
    if (p == end || end - p > 5) {
        snprintf(why, n, "\"%s\" needs a port from 0 to 65535 after the colon", ex);
        return false;
    }
    for (; p < end; p++) {
        if (!is_digit(*p)) {
            snprintf(why, n, "\"%s\" needs a port from 0 to 65535 after the colon", ex);
            return false;
        }
        port = port * 10 + (uint64_t)(*p - '0');
    }
    if (port > 65535) {
        snprintf(why, n, "\"%s\": port %" PRIu64 " is above 65535", ex, port);
        return false;
    }
    return true;
}

static bool check_listen(const char *v, char *why, size_t n)
{
    if (*v == '\0') {
        snprintf(why, n, "empty; give HOST:PORT, e.g. 127.0.0.1:8080");
        return false;
    }
    return hostport_ok(v, strlen(v), why, n);
}

static bool check_hostport_list(const char *v, char *why, size_t n)
{
    return each_item(v, hostport_ok, false, why, n);
}

static bool check_public_url(const char *v, char *why, size_t n)
{
    char exbuf[EXCERPT_MAX + 8];
    size_t skip;
    if (*v == '\0')
        return true;
    if (strncasecmp(v, "https://", 8) == 0)
        skip = 8;
    else if (strncasecmp(v, "http://", 7) == 0)
        skip = 7;
    else {
        snprintf(why, n, "\"%s\" must start with https:// or http://", EX(v));
        return false;
    }
    const char *host = v + skip;
    size_t hl = strcspn(host, "/");
    if (hl == 0 || memchr(host, '@', hl) || strpbrk(v, " ?#")) {
        snprintf(why, n,
                 "\"%s\" is not a URL of the form https://HOST[:PORT][/PATH] (no user, query or "
                 "fragment)",
                 EX(v));
        return false;
    }
    return true;
}

static bool check_base_path(const char *v, char *why, size_t n)
{
    char exbuf[EXCERPT_MAX + 8];
    size_t len = strlen(v);
    if (len < 2 || v[0] != '/' || v[len - 1] == '/' || strstr(v, "//")) {
        snprintf(why, n, "\"%s\" must start with / and not end with /, e.g. /auth", EX(v));
        return false;
    }
    for (const char *p = v; *p; p++) {
        if (!is_alnum(*p) && !strchr("/-._~!$&'()*+,;=:@", *p)) {
            snprintf(why, n, "\"%s\" has a character not allowed in a URL path", EX(v));
            return false;
        }
    }
    return true;
}

static bool cidr_ok(const char *v, size_t len, char *why, size_t n)
{
    char exbuf[EXCERPT_MAX + 8];
    const char *slash = memchr(v, '/', len);
    size_t al = slash ? (size_t)(slash - v) : len;
    bool v6 = memchr(v, ':', al) != NULL;
    bool ok = v6 ? valid_ipv6(v, al) : valid_ipv4(v, al);
    if (ok && slash) {
        const char *p = slash + 1, *end = v + len;
        uint64_t bits = 0;
        ok = p < end && end - p <= 3;
        for (; ok && p < end; p++) {
            ok = is_digit(*p);
            bits = bits * 10 + (uint64_t)(*p - '0');
        }
        ok = ok && bits <= (v6 ? 128u : 32u);
    }
    if (!ok)
        snprintf(why, n, "\"%s\" is not an IP address or CIDR, e.g. 10.0.0.0/8 or ::1",
                 excerpt(v, len, exbuf, sizeof exbuf));
    return ok;
}

static bool check_cidr_list(const char *v, char *why, size_t n)
{
    return each_item(v, cidr_ok, false, why, n);
}

static bool check_redis_url(const char *v, char *why, size_t n)
{
    /* The URL may hold a password: never quote it. */
    if (strncmp(v, "rediss://", 9) == 0) {
        snprintf(why, n,
                 "rediss:// (TLS) is not supported: this build's hiredis has no TLS; use redis:// "
                 "on a trusted network or through a TLS tunnel");
        return false;
    }
    if (*v == '\0' || strncmp(v, "redis://", 8) == 0 || strncmp(v, "unix:", 5) == 0)
        return true;
    snprintf(why, n, "must start with redis:// or unix:");
    return false;
}

/* The backend refuses braces (they would change Redis Cluster hash tags) and long prefixes. */
static bool check_redis_prefix(const char *v, char *why, size_t n)
{
    char exbuf[EXCERPT_MAX + 8];
    if (strlen(v) > 64 || strpbrk(v, "{} \t") != NULL) {
        snprintf(why, n, "\"%s\": at most 64 bytes, without '{', '}' or spaces", EX(v));
        return false;
    }
    return true;
}

static bool check_name(const char *v, char *why, size_t n)
{
    char exbuf[EXCERPT_MAX + 8];
    for (const char *p = v; *p; p++) {
        if (!is_alnum(*p) && !strchr("_.-", *p)) {
            snprintf(why, n, "\"%s\": use only letters, digits, '_', '.' and '-'", EX(v));
            return false;
        }
    }
    return true;
}

static bool check_cookie_name(const char *v, char *why, size_t n)
{
    char exbuf[EXCERPT_MAX + 8];
    for (const char *p = v; *p; p++) {
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f ||
            strchr("()<>@,;:\\\"/[]?={}", *p)) {
            snprintf(why, n,
                     "\"%s\" is not a valid cookie name (no spaces, separators or non-ASCII)",
                     EX(v));
            return false;
        }
    }
    return true;
}

static bool check_cookie_domain(const char *v, char *why, size_t n)
{
    char exbuf[EXCERPT_MAX + 8];
    const char *h = v[0] == '.' ? v + 1 : v;
    if (*v == '\0' || valid_host(h, strlen(h)))
        return true;
    snprintf(why, n, "\"%s\" is not a domain name, e.g. example.com", EX(v));
    return false;
}

static bool origin_ok(const char *v, size_t len, char *why, size_t n)
{
    char exbuf[EXCERPT_MAX + 8];
    const char *ex = excerpt(v, len, exbuf, sizeof exbuf);
    size_t skip = 0;
    if (len > 8 && strncasecmp(v, "https://", 8) == 0)
        skip = 8;
    else if (len > 7 && strncasecmp(v, "http://", 7) == 0)
        skip = 7;
    if (skip == 0) {
        snprintf(why, n, "\"%s\" is not an origin like https://app.example.com", ex);
        return false;
    }
    for (size_t i = skip; i < len; i++) {
        if (v[i] == '/' || v[i] == ' ' || v[i] == '@' || v[i] == '?' || v[i] == '#') {
            snprintf(why, n, "\"%s\": an origin is scheme://host[:port], with no path", ex);
            return false;
        }
    }
    return true;
}

static bool check_origin_list(const char *v, char *why, size_t n)
{
    return each_item(v, origin_ok, false, why, n);
}

static bool forward_ok(const char *v, size_t len, char *why, size_t n)
{
    static const char *const names[] = {"user", "roles", "session", "expires", "csrf"};
    char exbuf[EXCERPT_MAX + 8];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strlen(names[i]) == len && memcmp(names[i], v, len) == 0)
            return true;
    if (len > 5 && len <= 5 + 64 && memcmp(v, "pref.", 5) == 0) {
        size_t i = 5;
        while (i < len && (is_alnum(v[i]) || v[i] == '_' || v[i] == '-'))
            i++;
        if (i == len)
            return true;
    }
    snprintf(why, n,
             "\"%s\" is not a forwardable field; use user, roles, session, expires, csrf or "
             "pref.NAME",
             excerpt(v, len, exbuf, sizeof exbuf));
    return false;
}

static bool check_forward(const char *v, char *why, size_t n)
{
    return each_item(v, forward_ok, false, why, n);
}

/* The access log format: h2o's directives, minus those that could carry a secret. */
static bool check_access_format(const char *v, char *why, size_t n)
{
    static const char *const refused_headers[] = {"cookie", "authorization", "proxy-authorization",
                                                  "x-csrf-token", "set-cookie"};
    for (const char *p = strchr(v, '%'); p != NULL; p = strchr(p + 1, '%')) {
        if (p[1] == '%') {
            p++;
            continue;
        }
        if (p[1] == 'r' || p[1] == 'q') {
            snprintf(why, n, "%%%c is refused: it logs the query string, where a secret may be",
                     p[1]);
            return false;
        }
        if (p[1] != '{')
            continue;
        const char *close = strchr(p + 2, '}');
        if (close == NULL) {
            snprintf(why, n, "a %%{ without its }");
            return false;
        }
        for (size_t i = 0; i < sizeof(refused_headers) / sizeof(refused_headers[0]); i++)
            if ((size_t)(close - p - 2) == strlen(refused_headers[i]) &&
                strncasecmp(p + 2, refused_headers[i], strlen(refused_headers[i])) == 0) {
                snprintf(why, n, "the %s header is refused: it carries a secret",
                         refused_headers[i]);
                return false;
            }
    }
    return true;
}

/* One ID:BASE64KEY entry of the key ring. Quotes nothing: the key is secret. */
static bool seal_ok(const char *v, size_t len, char *why, size_t n)
{
    const char *colon = memchr(v, ':', len);
    size_t idl = colon ? (size_t)(colon - v) : 0;
    bool ok = colon && idl >= 1 && idl <= 32 && colon + 1 < v + len;
    for (size_t i = 0; ok && i < idl; i++)
        ok = is_alnum(v[i]) || v[i] == '_' || v[i] == '-';
    bool pad = false;
    for (const char *p = colon ? colon + 1 : v; ok && p < v + len; p++) {
        if (*p == '=')
            pad = true;
        else
            ok = !pad && (is_alnum(*p) || strchr("+/_-", *p));
    }
    if (!ok)
        snprintf(why, n,
                 "an entry is not ID:BASE64KEY (ID: 1-32 letters, digits, '_' or '-'); the value "
                 "is not shown because it is secret");
    return ok;
}

static bool check_seal(const char *v, char *why, size_t n)
{
    sess_seal_ring ring;
    char reason[160];
    if (!each_item(v, seal_ok, true, why, n))
        return false;
    if (v[0] == '\0') /* unset: only the cookie store needs it (checked when finishing) */
        return true;
    if (sess_seal_ring_parse(v, &ring, reason, sizeof(reason)) != 0) {
        snprintf(why, n, "%s; the value is not shown because it is secret", reason);
        return false;
    }
    sess_seal_ring_dispose(&ring);
    return true;
}

static bool method_ok(const char *v, size_t len, char *why, size_t n)
{
    char exbuf[EXCERPT_MAX + 8];
    for (size_t i = 0; i < len; i++) {
        if (v[i] < 'A' || v[i] > 'Z') {
            snprintf(why, n, "\"%s\" is not an HTTP method in upper case, e.g. GET",
                     excerpt(v, len, exbuf, sizeof exbuf));
            return false;
        }
    }
    return true;
}

static bool check_methods(const char *v, char *why, size_t n)
{
    return each_item(v, method_ok, false, why, n);
}

static bool check_policy(const char *v, char *why, size_t n)
{
    char exbuf[EXCERPT_MAX + 8];
    int64_t d;
    if (strcmp(v, "public") == 0 || strcmp(v, "authenticated") == 0)
        return true;
    if (strncmp(v, "role:", 5) == 0) {
        const char *r = v + 5;
        bool ok = *r != '\0';
        for (; ok && *r; r++)
            ok = is_alnum(*r) || strchr("_.-", *r);
        if (ok)
            return true;
        snprintf(why, n, "\"%s\": a role name is letters, digits, '_', '.' or '-', e.g. role:admin",
                 EX(v));
        return false;
    }
    if (strncmp(v, "fresh:", 6) == 0) {
        if (sessd_parse_duration(v + 6, &d) == 0 && d >= 1 && d <= (int64_t)(365 * DAY))
            return true;
        snprintf(why, n, "\"%s\": fresh needs a duration from 1s to 365d, e.g. fresh:10m", EX(v));
        return false;
    }
    snprintf(why, n,
             "\"%s\" is not a policy; use public, authenticated, role:NAME or fresh:DURATION",
             EX(v));
    return false;
}

/* ---- storing one value ------------------------------------------------------------------ */

static void *field_of(const opt *o, void *base)
{
    return (char *)base + o->offset;
}

/* Parses `value` for `o` and stores it in `base` (a sessd_config, or a sessd_rule for F_RULE).
 * On failure writes the problem to `why` and changes nothing. */
static int opt_store(const opt *o, void *base, const char *value, char *why, size_t n)
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
        if (sessd_parse_duration(value, &d) < 0) {
            snprintf(why, n, "\"%s\" is not a duration; %s", shown, type_hint(o));
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
static int opt_validate(const opt *o, void *base, char *why, size_t n)
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
static const char *rule_name_of(const char *section, char *buf, size_t n)
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

static sessd_rule *rule_find(sessd_config *c, const char *name)
{
    for (int i = 0; i < c->nrules; i++)
        if (strcmp(c->rules[i].name, name) == 0)
            return &c->rules[i];
    return NULL;
}

/* Adds rule `name` with its defaults; -1 with the problem in `why`. */
static sessd_rule *rule_add(sessd_config *c, const char *name, int line, char *why, size_t n)
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
static void say_opt(char *err, size_t errlen, const char *origin, const char *section,
                    const char *key, const char *why)
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

/* ---- the INI file ----------------------------------------------------------------------- */

typedef struct load_state {
    sessd_config *c;
    FILE *f;
    const char *path;
    int line;      /* physical line last handed to inih */
    int err_line;  /* line of the first problem, 0 while none */
    int rule_from; /* rules before this index were not defined by this file */
    int seen[NOPTS];
    char msg[WHY_MAX + 640];
} load_state;

static void load_fail(load_state *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void load_fail(load_state *st, const char *fmt, ...)
{
    va_list ap;
    int o;
    if (st->err_line)
        return;
    st->err_line = st->line;
    o = snprintf(st->msg, sizeof st->msg, "%s:%d: ", st->path, st->line);
    va_start(ap, fmt);
    vsnprintf(st->msg + o, sizeof st->msg - (size_t)o, fmt, ap);
    va_end(ap);
}

/* Looks at a section header before inih does, so that sections without keys are checked too:
 * an unknown [section], a bad or duplicate rule name, or too many rules. The header is found
 * the way inih finds it: '[' then everything up to ']' (a " ;" comment first makes it a syntax
 * error, which inih reports). */
static void see_header(load_state *st, const char *s)
{
    char name[CONF_SECTION_MAX + 1], rname[64], why[WHY_MAX], exbuf[EXCERPT_MAX + 8];
    const char *end = s + 1;
    size_t len;
    while (*end && *end != ']' && !(*end == ';' && isspace((unsigned char)end[-1])))
        end++;
    if (*end != ']')
        return;
    len = (size_t)(end - s - 1);
    if (len > CONF_SECTION_MAX) {
        load_fail(st, "[%s]: section name too long, at most %d characters",
                  excerpt(s + 1, len, exbuf, sizeof exbuf), CONF_SECTION_MAX);
        return;
    }
    memcpy(name, s + 1, len);
    name[len] = '\0';
    if (is_rule_section(name)) {
        if (rule_name_of(name, rname, sizeof rname) == NULL) {
            load_fail(st, "[%s]: a rule needs a name: [rule NAME]", name);
            return;
        }
        if (rule_add(st->c, rname, st->line, why, sizeof why) == NULL) {
            load_fail(st, "[%s]: %s", name, why);
            return;
        }
        /* Each rule has its own keys: "given twice" counts within one rule. */
        for (size_t i = 0; i < NOPTS; i++)
            if (options[i].flags & F_RULE)
                st->seen[i] = 0;
        return;
    }
    if (!section_known(name))
        load_fail(st,
                  "[%s]: unknown section; sections are server, store, session, login, csrf, "
                  "headers, rule NAME, keys, audit and log",
                  excerpt(name, len, exbuf, sizeof exbuf));
}

/* The line reader handed to inih: one physical line per call, so inih's line numbers and ours
 * agree. Lines that do not fit are refused rather than split into bogus keys. */
static char *read_line(char *buf, int num, void *stream)
{
    load_state *st = stream;
    size_t len, max = (size_t)num - 2 < CONF_LINE_MAX ? (size_t)num - 2 : CONF_LINE_MAX;
    const char *s;
    if (st->err_line || fgets(buf, num, st->f) == NULL)
        return NULL;
    st->line++;
    len = strlen(buf);
    if (len > 0 && buf[len - 1] == '\n') {
        buf[--len] = '\0';
    } else if (!feof(st->f)) {
        int ch = getc(st->f);
        if (ch != '\n' && ch != EOF) {
            load_fail(st, "line too long, at most %zu characters", max);
            return NULL;
        }
    }
    if (len > 0 && buf[len - 1] == '\r')
        buf[--len] = '\0';
    if (len > max) {
        load_fail(st, "line too long, at most %zu characters", max);
        return NULL;
    }
    s = buf;
    if (st->line == 1 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
        s += 3;
    while (*s == ' ' || *s == '\t')
        s++;
    if (*s == '[')
        see_header(st, s);
    return st->err_line ? NULL : buf;
}

static int on_value(void *user, const char *section, const char *key, const char *value)
{
    load_state *st = user;
    char why[WHY_MAX], rname[64];
    const opt *o;
    void *base = st->c;
    size_t idx;

    if (st->err_line)
        return 0;
    if (section[0] == '\0') {
        load_fail(st, "%s: key outside any section; put it under a [section] header", key);
        return 0;
    }
    o = opt_find(section, key);
    if (o == NULL) {
        char keys[512];
        if (is_rule_section(section))
            load_fail(st, "[%s] %s: unknown key; a rule has host, path, methods, policy and touch",
                      section, key);
        else
            load_fail(st, "[%s] %s: unknown key; known keys: %s", section, key,
                      keys_of(section, keys, sizeof keys));
        return 0;
    }
    idx = (size_t)(o - options);
    if (st->seen[idx]) {
        load_fail(st, "[%s] %s: given twice (first on line %d); keep one", section, key,
                  st->seen[idx]);
        return 0;
    }
    st->seen[idx] = st->line;
    if (o->flags & F_RULE) {
        sessd_rule *r = NULL;
        if (rule_name_of(section, rname, sizeof rname) != NULL)
            r = rule_find(st->c, rname);
        if (r == NULL) {
            load_fail(st, "[%s]: not a valid rule section; use [rule NAME]", section);
            return 0;
        }
        base = r;
    }
    if (opt_store(o, base, value, why, sizeof why) < 0) {
        load_fail(st, "[%s] %s: %s", section, key, why);
        return 0;
    }
    return 1;
}

/* Debian's libinih exports its build-time limits as variables. Its stock 200-byte line would
 * split longer lines (a key ring, a list of origins) into bogus keys, and continuation lines
 * would feed a key twice; so for the parse we raise the line limit, turn continuation lines off
 * and stop at the first error, then put the library's settings back. */
typedef struct ini_settings {
    bool use_stack, allow_realloc, allow_multiline, stop_on_first_error;
    int max_line, initial_alloc;
} ini_settings;

static ini_settings ini_settings_push(void)
{
    ini_settings old = {ini_use_stack,           ini_allow_realloc, ini_allow_multiline,
                        ini_stop_on_first_error, ini_max_line,      ini_initial_alloc};
    ini_use_stack = false;
    ini_allow_realloc = false;
    ini_allow_multiline = false;
    ini_stop_on_first_error = true;
    ini_max_line = CONF_LINE_MAX + 96;
    ini_initial_alloc = CONF_LINE_MAX + 96;
    return old;
}

static void ini_settings_pop(ini_settings old)
{
    ini_use_stack = old.use_stack;
    ini_allow_realloc = old.allow_realloc;
    ini_allow_multiline = old.allow_multiline;
    ini_stop_on_first_error = old.stop_on_first_error;
    ini_max_line = old.max_line;
    ini_initial_alloc = old.initial_alloc;
}

/* After the parse: every rule this file defined has its required keys. */
static void check_rules_complete(load_state *st)
{
    for (int i = st->rule_from; i < st->c->nrules && !st->err_line; i++) {
        sessd_rule *r = &st->c->rules[i];
        for (size_t k = 0; k < NOPTS; k++) {
            const opt *o = &options[k];
            if ((o->flags & F_REQUIRED) && ((char *)field_of(o, r))[0] == '\0') {
                st->line = r->line;
                load_fail(st,
                          "[rule %s] %s: missing; every rule needs one (public, authenticated, "
                          "role:NAME or fresh:DURATION)",
                          r->name, o->key);
            }
        }
    }
}

static int parse_file(load_state *st, char *err, size_t errlen)
{
    struct stat sb;
    int rc;
    if (fstat(fileno(st->f), &sb) == 0 && S_ISDIR(sb.st_mode)) {
        say(err, errlen, "%s: is a directory; give the config file with -c FILE", st->path);
        return -1;
    }
    ini_settings old = ini_settings_push();
    rc = ini_parse_stream(read_line, st, on_value, st);
    ini_settings_pop(old);
    if (ferror(st->f)) {
        say(err, errlen, "%s: cannot read: %s", st->path, strerror(errno));
        return -1;
    }
    if (rc > 0 && (st->err_line == 0 || rc < st->err_line)) {
        say(err, errlen,
            "%s:%d: syntax error: expected [section], key = value or a comment (lines may not "
            "continue on an indented line)",
            st->path, rc);
        return -1;
    }
    if (rc < 0) {
        say(err, errlen, "%s: cannot parse: out of memory", st->path);
        return -1;
    }
    check_rules_complete(st);
    if (st->err_line) {
        say(err, errlen, "%s", st->msg);
        return -1;
    }
    return 0;
}

int sessd_config_load_file(sessd_config *c, const char *path, char *err, size_t errlen)
{
    load_state *st;
    int rc;
    if (strlen(path) >= sizeof c->file) {
        say(err, errlen, "config file path too long, at most %zu bytes", sizeof c->file - 1);
        return -1;
    }
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        say(err, errlen, "%s: cannot open: %s; check the path given with -c", path,
            strerror(errno));
        return -1;
    }
    /* Parse into a copy so that a bad file leaves *c as it was (SIGHUP keeps the old config). */
    st = calloc(1, sizeof *st);
    sessd_config *tmp = malloc(sizeof *tmp);
    if (st == NULL || tmp == NULL) {
        say(err, errlen, "%s: out of memory", path);
        free(st);
        free(tmp);
        fclose(f);
        return -1;
    }
    memcpy(tmp, c, sizeof *tmp);
    snprintf(tmp->file, sizeof tmp->file, "%s", path);
    st->c = tmp;
    st->f = f;
    st->path = path;
    st->rule_from = tmp->nrules;
    rc = parse_file(st, err, errlen);
    if (rc == 0)
        memcpy(c, tmp, sizeof *c);
    fclose(f);
    free(st);
    free(tmp);
    return rc;
}

/* ---- the environment -------------------------------------------------------------------- */

/* The option whose variable is SESSIOND_<SECTION>_<KEY> = `name` (after the prefix). */
static const opt *opt_for_env(const char *name, size_t len)
{
    for (size_t i = 0; i < NOPTS; i++) {
        const opt *o = &options[i];
        size_t sl = strlen(o->section), kl = strlen(o->key);
        if (o->flags & F_RULE || sl + 1 + kl != len || name[sl] != '_')
            continue;
        bool same = true;
        for (size_t k = 0; same && k < sl; k++)
            same = name[k] == toupper((unsigned char)o->section[k]);
        for (size_t k = 0; same && k < kl; k++)
            same = name[sl + 1 + k] == toupper((unsigned char)o->key[k]);
        if (same)
            return o;
    }
    return NULL;
}

int sessd_config_apply_env(sessd_config *c, char *err, size_t errlen)
{
    static const char prefix[] = "SESSIOND_";
    const size_t pl = sizeof prefix - 1;
    char var[128], exbuf[EXCERPT_MAX + 8];
    sessd_config *tmp = malloc(sizeof *tmp);
    int rc = 0;
    if (tmp == NULL) {
        say(err, errlen, "environment: out of memory");
        return -1;
    }
    memcpy(tmp, c, sizeof *tmp);
    for (char **e = environ; e && *e && rc == 0; e++) {
        const char *eq = strchr(*e, '=');
        if (strncmp(*e, prefix, pl) != 0 || eq == NULL)
            continue;
        size_t nl = (size_t)(eq - *e);
        const char *name = *e + pl;
        if ((nl == pl + 3 && memcmp(name, "BIN", 3) == 0) ||
            (nl == pl + 6 && memcmp(name, "CONFIG", 6) == 0))
            continue;
        const opt *o = opt_for_env(name, nl - pl);
        if (o == NULL) {
            const char *shown = excerpt(*e, nl, exbuf, sizeof exbuf);
            if (nl - pl > 5 && memcmp(name, "RULE_", 5) == 0)
                say(err, errlen,
                    "%s: rules cannot be set from the environment; use a [rule NAME] section in "
                    "the config file",
                    shown);
            else
                say(err, errlen,
                    "%s: unknown environment variable; options are SESSIOND_<SECTION>_<KEY>, e.g. "
                    "SESSIOND_SERVER_LISTEN (see docs/configuration.md); unset it",
                    shown);
            rc = -1;
            break;
        }
        snprintf(var, sizeof var, "%.*s", (int)nl, *e);
        rc = sessd_config_set(tmp, o->section, o->key, eq + 1, var, err, errlen);
    }
    if (rc == 0)
        memcpy(c, tmp, sizeof *c);
    free(tmp);
    return rc;
}

/* ---- finishing: derived defaults and checks across options ------------------------------ */

static bool is_https(const sessd_config *c)
{
    return strncasecmp(c->public_url, "https://", 8) == 0;
}

int sessd_config_finish(sessd_config *c, char *err, size_t errlen)
{
    char why[WHY_MAX];
    const char *from = c->file[0] ? c->file : "configuration";
    int n;

    for (size_t i = 0; i < NOPTS; i++) {
        const opt *o = &options[i];
        if (o->flags & F_RULE)
            continue;
        if (opt_validate(o, c, why, sizeof why) < 0) {
            say_opt(err, errlen, from, o->section, o->key, why);
            return -1;
        }
    }
    assert(c->nrules >= 0 && c->nrules <= SESSD_MAX_RULES);
    for (int r = 0; r < c->nrules; r++) {
        for (size_t i = 0; i < NOPTS; i++) {
            const opt *o = &options[i];
            if (!(o->flags & F_RULE))
                continue;
            if ((o->flags & F_REQUIRED) && ((char *)field_of(o, &c->rules[r]))[0] == '\0') {
                say(err, errlen, "%s: [rule %s] %s: missing; every rule needs one", from,
                    c->rules[r].name, o->key);
                return -1;
            }
            if (opt_validate(o, &c->rules[r], why, sizeof why) < 0) {
                say(err, errlen, "%s: [rule %s] %s: %s", from, c->rules[r].name, o->key, why);
                return -1;
            }
        }
    }
    if (c->data_dir[0] == '\0') {
        say(err, errlen, "%s: the data directory is empty; give one with --data DIR", from);
        return -1;
    }
    /* The option's validator admitted one of these four. */
    static const char *const kinds[] = {
        [SESSD_STORE_LMDB] = "lmdb",
        [SESSD_STORE_MEMORY] = "memory",
        [SESSD_STORE_REDIS] = "redis",
        [SESSD_STORE_COOKIE] = "cookie",
    };
    for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
        if (strcmp(c->store_kind, kinds[k]) == 0)
            c->store = (enum sessd_store_kind)k;

    if (c->public_url[0] == '\0')
        snprintf(c->public_url, sizeof c->public_url, "http://%s", c->listen);
    if (c->cookie_name[0] == '\0')
        snprintf(c->cookie_name, sizeof c->cookie_name, "%s",
                 !is_https(c)          ? "sid"
                 : c->cookie_domain[0] ? "__Secure-sid"
                                       : "__Host-sid");
    if (c->touch_interval == 0)
        c->touch_interval = c->idle_timeout / 100 > 1 ? c->idle_timeout / 100 : 1;
    if (c->store_path[0] == '\0')
        memcpy(c->store_path, c->data_dir, sizeof c->store_path);
    if (c->audit_path[0] == '\0') {
        n = snprintf(c->audit_path, sizeof c->audit_path, "%s/audit.log", c->data_dir);
        if (n < 0 || (size_t)n >= sizeof c->audit_path) {
            c->audit_path[0] = '\0';
            say(err, errlen,
                "%s: [audit] path: the data directory is too long to hold audit.log; set [audit] "
                "path",
                from);
            return -1;
        }
    }

    if (!is_https(c)) {
        if (strcmp(c->same_site, "none") == 0) {
            say(err, errlen,
                "%s: [session] same_site: none needs an https public_url (browsers drop "
                "SameSite=None cookies that are not Secure); set [server] public_url to "
                "https://... or use lax",
                from);
            return -1;
        }
        if (strncmp(c->cookie_name, "__Host-", 7) == 0 ||
            strncmp(c->cookie_name, "__Secure-", 9) == 0) {
            say(err, errlen,
                "%s: [session] cookie_name: a __Host- or __Secure- cookie needs an https "
                "public_url; set [server] public_url to https://... or choose another name",
                from);
            return -1;
        }
    }
    if (strncmp(c->cookie_name, "__Host-", 7) == 0 && c->cookie_domain[0]) {
        say(err, errlen,
            "%s: [session] cookie_domain: a __Host- cookie cannot have a Domain; clear "
            "cookie_domain or rename the cookie (e.g. __Secure-sid)",
            from);
        return -1;
    }
    if (c->absolute_timeout < c->idle_timeout) {
        say(err, errlen,
            "%s: [session] absolute_timeout: shorter than idle_timeout; make it at least as long",
            from);
        return -1;
    }
    if (c->access_ttl < c->rotate_grace) {
        say(err, errlen,
            "%s: [session] access_ttl: shorter than rotate_grace; make it at least as long (a "
            "refresh within the grace must still find the access token it replaced)",
            from);
        return -1;
    }
    if (c->touch_interval >= c->idle_timeout) {
        say(err, errlen,
            "%s: [session] touch_interval: must be below idle_timeout, or sessions in use would "
            "expire; lower it or set 0 for the automatic value",
            from);
        return -1;
    }
    if (c->store == SESSD_STORE_REDIS && c->redis_url[0] == '\0' && c->redis_sentinels[0] == '\0' &&
        c->redis_cluster[0] == '\0') {
        say(err, errlen,
            "%s: [store] kind: redis needs redis_url, redis_sentinels and redis_master, or "
            "redis_cluster; set [store] redis_url (or --redis-url)",
            from);
        return -1;
    }
    if (c->redis_cluster[0] && c->redis_sentinels[0]) {
        say(err, errlen,
            "%s: [store] redis_cluster: a Cluster has no Sentinels; set redis_cluster or "
            "redis_sentinels, not both",
            from);
        return -1;
    }
    if (c->redis_sentinels[0] && c->redis_master[0] == '\0') {
        say(err, errlen,
            "%s: [store] redis_master: redis_sentinels needs the master's name; set [store] "
            "redis_master",
            from);
        return -1;
    }
    if (c->store == SESSD_STORE_COOKIE && c->seal[0] == '\0') {
        say(err, errlen,
            "%s: [keys] seal: the cookie store needs a key ring; set [keys] seal = ID:BASE64KEY",
            from);
        return -1;
    }
    return 0;
}

/* ---- documentation ---------------------------------------------------------------------- */

/* Writes `s` for a Markdown table cell: '|' escaped. */
static void md_cell(FILE *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '|')
            fputc('\\', out);
        fputc(*s, out);
    }
}

static void doc_row(FILE *out, const opt *o)
{
    char a[64], b[64];
    fprintf(out, "| `%s` | %s | ", o->key, type_name(o->type));
    if (o->def[0])
        fprintf(out, "`%s`", o->def);
    else
        fputs("(empty)", out);
    fputs(" | ", out);
    switch (o->type) {
    case T_STRING:
        fprintf(out, "at most %zu bytes", o->size - 1);
        break;
    case T_ENUM:
        fputc('`', out);
        for (const char *p = o->values; *p; p++) {
            if (*p == '|')
                fputs("`, `", out);
            else
                fputc(*p, out);
        }
        fputc('`', out);
        break;
    case T_BOOL:
        fputs("-", out);
        break;
    default:
        fprintf(out, "%s .. %s", fmt_number(o, o->min, a, sizeof a),
                fmt_number(o, o->max, b, sizeof b));
        break;
    }
    fprintf(out, " | %s | ", (o->flags & F_RELOAD) ? "yes" : "no");
    md_cell(out, o->desc);
    fputs(" |\n", out);
}

static void doc_table(FILE *out, const char *section)
{
    fputs("| key | type | default | bounds | reloadable | description |\n", out);
    fputs("|---|---|---|---|---|---|\n", out);
    for (size_t i = 0; i < NOPTS; i++)
        if (strcmp(options[i].section, section) == 0)
            doc_row(out, &options[i]);
}

static void doc_intro(FILE *out)
{
    fputs("# Configuration\n\n"
          "<!-- Generated by sessd_config_write_docs() from the option table in "
          "src/core/config.c.\n"
          "     Do not edit by hand: change the table, then run\n"
          "     ./sessiond config docs > docs/configuration.md\n"
          "     (or SESSD_UPDATE_DOCS=1 build/tests/test_config); the unit test fails while this\n"
          "     file and the table disagree. -->\n\n"
          "sessiond reads one INI file, given with `-c FILE`. Every option has a default, so the "
          "file\nonly needs what differs; `sessiond config check -c FILE` validates a file "
          "without starting\nthe server.\n\n"
          "## Where values come from\n\n"
          "Later sources win:\n\n"
          "1. the built-in defaults below;\n"
          "2. the config file;\n"
          "3. environment variables `SESSIOND_<SECTION>_<KEY>`;\n"
          "4. command-line flags: `--listen` sets `[server] listen`, `--public-url` `[server] "
          "public_url`,\n"
          "   `--threads` `[server] threads`, `--store` `[store] kind`, `--redis-url` `[store] "
          "redis_url`;\n"
          "   `--data DIR` sets the data directory (default `./sessiond-data`), which is not a "
          "file option.\n\n"
          "Then the derived defaults and the checks across options described at the end are "
          "applied.\n\n",
          out);
    fprintf(out,
            "## File syntax\n\n"
            "```ini\n"
            "; a comment (also # at the start of a line)\n"
            "[server]\n"
            "listen = 0.0.0.0:8080\n"
            "public_url = https://auth.example.com\n"
            "\n"
            "[session]\n"
            "idle_timeout = 1h     ; a comment after a value needs a space before the ;\n"
            "\n"
            "[rule api]\n"
            "path = /api/*\n"
            "policy = role:api\n"
            "```\n\n"
            "- `key = value` (or `key: value`) under a `[section]` header; spaces around keys and "
            "values are\n"
            "  trimmed. Quotes are not special: they are kept as part of the value.\n"
            "- Sections and keys are lower case. An unknown section or key is an error, not "
            "ignored.\n"
            "- A key given twice in the same section (or the same rule) is an error: one of "
            "them is\n"
            "  almost certainly a mistake.\n"
            "- Lines are at most %d characters. A value cannot continue on the next line: an "
            "indented\n"
            "  line is read as a line of its own.\n"
            "- Every error names the file, the line, the section and the key, e.g.\n"
            "  `sessiond.ini:12: [session] idle_timeout: \"10x\" is not a duration; ...`. Values "
            "of secret\n"
            "  options (`[keys] seal`, `[store] redis_url`) are never quoted in messages.\n\n",
            CONF_LINE_MAX);
    fputs("## Value types\n\n"
          "| type | syntax |\n"
          "|---|---|\n"
          "| string | any text without control characters, up to the byte limit in its bounds "
          "column; too long is an error, never truncated. May be empty. |\n"
          "| bool | `true`/`false`, `yes`/`no`, `on`/`off`, `1`/`0` (any case) |\n"
          "| integer | decimal digits, no sign |\n"
          "| duration | a whole number with an optional unit: `s` seconds (the default), `m` "
          "minutes, `h` hours, `d` days: `90`, `30s`, `10m`, `2h`, `7d`. No fractions, no "
          "combinations like `1h30m` (write `90m`). |\n"
          "| size | a whole number of bytes with an optional binary unit: `k` (1024), `m` "
          "(1024k), `g` (1024m), upper or lower case: `512`, `64k`, `1m`. |\n"
          "| enum | exactly one of the listed values |\n\n"
          "Only strings may be empty; an empty number, duration, size, bool or enum is an "
          "error. Negative\nnumbers, overflow and trailing characters are errors. A value "
          "outside its bounds is an error\nthat names the allowed range.\n\n",
          out);
    fputs("## Environment variables\n\n"
          "`SESSIOND_<SECTION>_<KEY>` with section and key in upper case overrides the file, "
          "e.g.\n`SESSIOND_SESSION_IDLE_TIMEOUT=10m` or `SESSIOND_STORE_REDIS_URL=redis://"
          "redis:6379`. The value is\nparsed exactly like a file value (without trimming). Any "
          "other variable starting with `SESSIOND_`\nis an error that names it, so a typo "
          "cannot go unnoticed; `SESSIOND_BIN` and `SESSIOND_CONFIG`\nbelong to tooling and "
          "are ignored. Rules cannot be set from the environment.\n\n"
          "## Reloading\n\n"
          "On SIGHUP sessiond reads the file again. Options marked reloadable in the tables, and "
          "all\n`[rule NAME]` sections, take effect without dropping connections; the others "
          "need a restart.\nA bad file is refused and the running configuration kept.\n\n",
          out);
}

static void doc_rules(FILE *out)
{
    fprintf(out,
            "### [rule NAME]\n\n"
            "Access rules for `/auth/verify`. Each `[rule NAME]` section is one rule; NAME is "
            "1 to %d\ncharacters from `A-Z a-z 0-9 _ . -` and unique in the file. At most %d "
            "rules. Rules keep\ntheir order in the file, and the first rule whose `host`, "
            "`path` and `methods` all match a\nrequest applies.\n\n",
            CONF_SECTION_MAX - 5, SESSD_MAX_RULES);
    doc_table(out, "rule");
    fputs("\nPolicies:\n\n"
          "- `public`: anyone; answers 200 without identity headers.\n"
          "- `authenticated`: any live session.\n"
          "- `role:NAME`: a live session whose user has role NAME (letters, digits, `_`, `.`, "
          "`-`).\n"
          "- `fresh:DURATION`: a live session whose login is at most DURATION old (1s to 365d), "
          "for\n  sensitive pages; an older session gets 403 and must log in again.\n\n"
          "```ini\n"
          "[rule assets]\n"
          "path = /static/*\n"
          "policy = public\n"
          "\n"
          "[rule admin]\n"
          "host = admin.example.com\n"
          "policy = role:admin\n"
          "\n"
          "[rule poll]\n"
          "path = /api/notifications\n"
          "methods = GET\n"
          "policy = authenticated\n"
          "touch = false        ; polling must not keep an idle session alive\n"
          "```\n",
          out);
}

static void doc_derived(FILE *out)
{
    fputs("## Derived defaults and checks across options\n\n"
          "After all sources are read:\n\n"
          "- `[server] public_url` empty: `http://` followed by `listen`.\n"
          "- `[session] cookie_name` empty: `__Host-sid` when `public_url` is https, "
          "`__Secure-sid` when it is\n  https and `cookie_domain` is set (a `__Host-` cookie "
          "cannot have a Domain), `sid` otherwise.\n"
          "  A `__Host-` or `__Secure-` name needs an https `public_url`.\n"
          "- `[session] same_site = none` needs an https `public_url`.\n"
          "- `[session] touch_interval = 0`: 1% of `idle_timeout`, at least 1s. It must be "
          "below\n  `idle_timeout`; `absolute_timeout` must be at least `idle_timeout`; "
          "`access_ttl` at least\n  `rotate_grace`.\n"
          "- `[store] path` empty: the data directory. `[audit] path` empty: "
          "`DATA/audit.log`.\n"
          "- `[store] kind = redis` needs `redis_url`, `redis_sentinels` with "
          "`redis_master`, or `redis_cluster`\n  (not with `redis_sentinels`);\n  "
          "`redis_sentinels` always needs `redis_master`. `kind = cookie` needs "
          "`[keys] seal`.\n"
          "- `[server] listen` is `HOST:PORT`: an IPv4 address, `[IPv6]` in brackets or a "
          "host name, and a\n  port from 0 to 65535 (0: any free port, printed at start).\n"
          "- `[server] base_path` starts with `/` and does not end with `/`.\n"
          "- `[server] threads = 0` means one thread per CPU core.\n",
          out);
}

void sessd_config_write_docs(FILE *out)
{
    doc_intro(out);
    fputs("## Options\n", out);
    for (size_t s = 0; s < sizeof sections / sizeof sections[0]; s++) {
        fputc('\n', out);
        if (strcmp(sections[s].name, "rule") == 0) {
            doc_rules(out);
            continue;
        }
        fprintf(out, "### [%s]\n\n%s\n\n", sections[s].name, sections[s].desc);
        doc_table(out, sections[s].name);
    }
    fputc('\n', out);
    doc_derived(out);
}
