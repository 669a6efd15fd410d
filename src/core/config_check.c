/*
 * config_check.c - the validators of single string values that the option table (config.c) names:
 * addresses and HOST:PORT lists, URLs and origins, paths, names, the forwarded fields, the access
 * log format, the key ring, rule methods and policies. Each answers true, or false with the
 * problem in `why` in words a person can act on; checks of secret options never quote the value.
 * They see only the value, not where it came from: the caller adds file, line and key.
 */
#include "core/config.h"
#include "core/config_int.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "sessiond/seal.h"

/* ---- per-value checks ------------------------------------------------------------------- */

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

bool check_listen(const char *v, char *why, size_t n)
{
    if (*v == '\0') {
        snprintf(why, n, "empty; give HOST:PORT, e.g. 127.0.0.1:8080");
        return false;
    }
    return hostport_ok(v, strlen(v), why, n);
}

bool check_ops_listen(const char *v, char *why, size_t n)
{
    return *v == '\0' || hostport_ok(v, strlen(v), why, n);
}

bool check_hostport_list(const char *v, char *why, size_t n)
{
    return each_item(v, hostport_ok, false, why, n);
}

bool check_public_url(const char *v, char *why, size_t n)
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

bool check_base_path(const char *v, char *why, size_t n)
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

bool check_cidr_list(const char *v, char *why, size_t n)
{
    return each_item(v, cidr_ok, false, why, n);
}

bool check_redis_url(const char *v, char *why, size_t n)
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
bool check_redis_prefix(const char *v, char *why, size_t n)
{
    char exbuf[EXCERPT_MAX + 8];
    if (strlen(v) > 64 || strpbrk(v, "{} \t") != NULL) {
        snprintf(why, n, "\"%s\": at most 64 bytes, without '{', '}' or spaces", EX(v));
        return false;
    }
    return true;
}

bool check_name(const char *v, char *why, size_t n)
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

bool check_cookie_name(const char *v, char *why, size_t n)
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

bool check_cookie_domain(const char *v, char *why, size_t n)
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

bool check_origin_list(const char *v, char *why, size_t n)
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

bool check_forward(const char *v, char *why, size_t n)
{
    return each_item(v, forward_ok, false, why, n);
}

/* The access log format: h2o's directives, minus those that could carry a secret. */
bool check_access_format(const char *v, char *why, size_t n)
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

bool check_seal(const char *v, char *why, size_t n)
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

bool check_methods(const char *v, char *why, size_t n)
{
    return each_item(v, method_ok, false, why, n);
}

bool check_policy(const char *v, char *why, size_t n)
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
