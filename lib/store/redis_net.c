/*
 * redis_net.c - one connection to one Redis node for the Redis backend: the URL and its host
 * lists (Sentinels, Cluster seeds), connecting within a deadline with AUTH and SELECT, and the
 * time budget every command shares (sess__rs_budget, sess__rs_arm). The pool, the commands and
 * the routing that use it are redis_conn.c, redis_cluster.c and redis_sentinel.c, which all sit
 * above this file, so none of them needs another to connect.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "redis_int.h"
#include "sessiond/error.h"
#include "sessiond/text.h"

int64_t sess__rs_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void sess__rs_log(redis_store *st, int level, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    if (st->log == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    st->log(st->log_arg, level, msg);
}

/* ---- the URL ----------------------------------------------------------------------------- */

/* Copies `len` bytes of `s` into `dst` (capacity `cap`), decoding %XX. -1 when too long, a bad
 * escape, or an encoded NUL. */
static int pct_decode(const char *s, size_t len, char *dst, size_t cap)
{
    long n = sess_percent_decode(s, len, false, dst, cap);
    return n < 0 || memchr(dst, '\0', (size_t)n) != NULL ? -1 : 0;
}

static int parse_uint(const char *s, size_t len, long max, long *out)
{
    long v = 0;
    if (len == 0)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
        if (v > max)
            return -1;
    }
    *out = v;
    return 0;
}

static int bad(char *why, size_t n, const char *msg)
{
    snprintf(why, n, "%s", msg);
    return SESS_EINVAL;
}

/* "[USER]:PASSWORD" before the '@'. */
static int parse_userinfo(const char *s, size_t len, rs_target *t, char *why, size_t n)
{
    const char *colon = memchr(s, ':', len);
    if (colon == NULL)
        return bad(why, n,
                   "the Redis URL has credentials without a ':'; write "
                   "redis://:PASSWORD@HOST or redis://USER:PASSWORD@HOST");
    if (pct_decode(s, (size_t)(colon - s), t->user, sizeof(t->user)) != 0 ||
        pct_decode(colon + 1, len - (size_t)(colon - s) - 1, t->password, sizeof(t->password)) != 0)
        return bad(why, n, "the Redis URL's user or password is too long or badly %-encoded");
    return 0;
}

/* "HOST[:PORT]" or "[V6][:PORT]" into `host` (256 bytes) and `*port` (`def` when absent). */
static int parse_addr(const char *s, size_t len, char host[256], int *port, int def, char *why,
                      size_t n)
{
    const char *h = s, *p = NULL;
    size_t hlen = len;
    long v;
    if (len > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (close == NULL)
            return bad(why, n, "a Redis address has an unclosed '[' in its host");
        h = s + 1;
        hlen = (size_t)(close - s) - 1;
        if (close + 1 < s + len) {
            if (close[1] != ':')
                return bad(why, n, "a Redis address has junk after its [IPv6] host");
            p = close + 2;
        }
    } else {
        const char *colon = memchr(s, ':', len);
        if (colon != NULL) {
            hlen = (size_t)(colon - s);
            p = colon + 1;
        }
    }
    if (hlen == 0 || hlen >= 256)
        return bad(why, n, "a Redis address has no host, or one that is too long");
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    *port = def;
    if (p != NULL) {
        if (parse_uint(p, (size_t)(s + len - p), 65535, &v) != 0 || v == 0)
            return bad(why, n, "a Redis address has a port that is not a number from 1 to 65535");
        *port = (int)v;
    }
    return 0;
}

/* "HOST:PORT,HOST:PORT" into `out` (at most `max`, default port `def`). */
static int parse_hostports(const char *list, rs_hostport *out, int max, int *count, int def,
                           const char *what, char *why, size_t n)
{
    const char *p = list;
    *count = 0;
    while (*p != '\0') {
        while (*p == ' ' || *p == ',')
            p++;
        size_t len = strcspn(p, ", ");
        if (len == 0)
            break;
        if (*count == max) {
            snprintf(why, n, "more than %d %s listed", max, what);
            return SESS_EINVAL;
        }
        int r = parse_addr(p, len, out[*count].host, &out[*count].port, def, why, n);
        if (r != 0)
            return r;
        (*count)++;
        p += len;
    }
    if (*count > 0)
        return 0;
    snprintf(why, n, "no %s listed", what);
    return SESS_EINVAL;
}

int sess__rs_sentinels_parse(const char *list, rs_target *t, char *why, size_t n)
{
    return parse_hostports(list, t->sentinels, RS_SENTINELS_MAX, &t->nsentinels, 26379, "Sentinels",
                           why, n);
}

int sess__rs_seeds_parse(const char *list, rs_target *t, char *why, size_t n)
{
    return parse_hostports(list, t->seeds, RS_SEEDS_MAX, &t->nseeds, 6379, "Cluster nodes", why, n);
}

static int parse_db(const char *s, size_t len, rs_target *t, char *why, size_t n)
{
    long v;
    if (len == 0)
        return 0;
    if (parse_uint(s, len, 1000000, &v) != 0)
        return bad(why, n, "the Redis URL's database (after the '/') is not a number");
    t->db = (int)v;
    return 0;
}

static int parse_tcp(const char *rest, rs_target *t, char *why, size_t n)
{
    size_t len = strlen(rest);
    if (memchr(rest, '?', len) != NULL || memchr(rest, '#', len) != NULL)
        return bad(why, n, "the Redis URL has a query or fragment; sessiond knows none");
    const char *slash = memchr(rest, '/', len);
    size_t auth_end = slash != NULL ? (size_t)(slash - rest) : len;
    const char *at = NULL;
    for (size_t i = 0; i < auth_end; i++)
        if (rest[i] == '@')
            at = rest + i; /* the last '@' before the path: passwords may hold '@' */
    const char *hp = rest;
    int r;
    if (at != NULL) {
        if ((r = parse_userinfo(rest, (size_t)(at - rest), t, why, n)) != 0)
            return r;
        hp = at + 1;
    }
    if ((r = parse_addr(hp, (size_t)(rest + auth_end - hp), t->host, &t->port, 6379, why, n)) != 0)
        return r;
    return slash != NULL ? parse_db(slash + 1, len - auth_end - 1, t, why, n) : 0;
}

static int parse_unix(const char *rest, rs_target *t, char *why, size_t n)
{
    const char *q = strchr(rest, '?');
    size_t plen = q != NULL ? (size_t)(q - rest) : strlen(rest);
    if (plen >= 2 && rest[0] == '/' && rest[1] == '/') { /* unix:///path */
        rest += 2;
        plen -= 2;
    }
    if (plen == 0 || plen >= sizeof(t->unix_path) || rest[0] != '/')
        return bad(why, n, "the Redis URL unix:PATH needs an absolute socket path");
    memcpy(t->unix_path, rest, plen);
    t->unix_path[plen] = '\0';
    if (q == NULL)
        return 0;
    if (strncmp(q, "?db=", 4) != 0)
        return bad(why, n, "the Redis URL unix:PATH takes only ?db=N after the path");
    return parse_db(q + 4, strlen(q + 4), t, why, n);
}

int sess__rs_target_parse(const char *url, rs_target *t, char *why, size_t n)
{
    memset(t, 0, sizeof(*t));
    if (url == NULL || url[0] == '\0')
        return bad(why, n, "no Redis URL given; set [store] redis_url (or --redis-url)");
    if (strncmp(url, "rediss://", 9) == 0)
        return bad(why, n,
                   "rediss:// (TLS) is not supported: this build's hiredis (0.14) has no TLS; use "
                   "redis:// on a trusted network or a TLS tunnel such as stunnel");
    if (strncmp(url, "redis://", 8) == 0)
        return parse_tcp(url + 8, t, why, n);
    if (strncmp(url, "unix:", 5) == 0)
        return parse_unix(url + 5, t, why, n);
    return bad(why, n, "the Redis URL must start with redis:// or unix:");
}

/* ---- connections ------------------------------------------------------------------------- */

static struct timeval ms_tv(uint32_t ms)
{
    return (struct timeval){.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
}

/* `want` ms, cut to what is left before `deadline` (0: no deadline). 0 when nothing is left; a
 * socket timeout of 0 would mean "wait forever", so callers treat 0 as expired. */
uint32_t sess__rs_budget(uint32_t want, int64_t deadline)
{
    if (deadline == 0)
        return want;
    int64_t left = deadline - sess__rs_mono_ms();
    if (left <= 0)
        return 0;
    return left < (int64_t)want ? (uint32_t)left : want;
}

/* Sets the socket timeout of the next command to what is left; false when nothing is. */
bool sess__rs_arm(redisContext *c, uint32_t want, int64_t deadline)
{
    uint32_t ms = sess__rs_budget(want, deadline);
    return ms > 0 && redisSetTimeout(c, ms_tv(ms)) == REDIS_OK;
}

/* Runs one setup command; 0 when Redis answered with a status or string, -1 otherwise. */
static int setup_command(redisContext *c, int argc, const char **argv, char *why, size_t n,
                         const char *what)
{
    redisReply *rep = redisCommandArgv(c, argc, argv, NULL);
    if (rep == NULL) {
        snprintf(why, n, "%s: %s", what, c->errstr);
        return -1;
    }
    int ok = rep->type == REDIS_REPLY_STATUS || rep->type == REDIS_REPLY_STRING;
    if (!ok)
        snprintf(why, n, "%s refused: %.100s", what,
                 rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected answer");
    freeReplyObject(rep);
    return ok ? 0 : -1;
}

static int authenticate(redisContext *c, const rs_target *t, char *why, size_t n)
{
    const char *argv[3] = {"AUTH", t->user, t->password};
    if (t->user[0] != '\0')
        return setup_command(c, 3, argv, why, n, "AUTH");
    argv[1] = t->password;
    return setup_command(c, 2, argv, why, n, "AUTH");
}

redisContext *sess__rs_connect_raw(const redis_store *st, const char *host, int port,
                                   int64_t deadline, char *why, size_t n)
{
    const rs_target *t = &st->target;
    uint32_t ms = sess__rs_budget(st->connect_timeout_ms, deadline);
    if (ms == 0) {
        snprintf(why, n, "no time left to connect");
        return NULL;
    }
    redisContext *c = host == NULL ? redisConnectUnixWithTimeout(t->unix_path, ms_tv(ms))
                                   : redisConnectWithTimeout(host, port, ms_tv(ms));
    if (c == NULL) {
        snprintf(why, n, "out of memory");
        return NULL;
    }
    if (c->err != 0) {
        snprintf(why, n, "%s", c->errstr);
        redisFree(c);
        return NULL;
    }
    if (!sess__rs_arm(c, st->timeout_ms, deadline) ||
        (host != NULL && redisEnableKeepAlive(c) != REDIS_OK)) {
        snprintf(why, n, "cannot set socket options, or no time left: %s", c->errstr);
        redisFree(c);
        return NULL;
    }
    return c;
}

redisContext *sess__rs_connect_node(const redis_store *st, const char *host, int port,
                                    int64_t deadline, char *why, size_t n)
{
    const rs_target *t = &st->target;
    redisContext *c = sess__rs_connect_raw(st, host, port, deadline, why, n);
    if (c == NULL)
        return NULL;
    char db[16];
    const char *select[2] = {"SELECT", db};
    snprintf(db, sizeof(db), "%d", t->db);
    if ((t->password[0] != '\0' && authenticate(c, t, why, n) != 0) ||
        (t->db != 0 && setup_command(c, 2, select, why, n, "SELECT") != 0)) {
        redisFree(c);
        return NULL;
    }
    return c;
}
