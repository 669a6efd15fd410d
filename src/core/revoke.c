/*
 * revoke.c - mass revocation by filter (revoke.h). The matching ids are collected first from a
 * listing, then deleted: deleting while a backend iterates would disturb its cursor.
 */
#include "core/revoke.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "core/audit.h"
#include "sessiond/error.h"

int sessd_revoke_parse_time(const char *s, int64_t *out)
{
    char *end;
    if (s[0] >= '0' && s[0] <= '9' && strlen(s) <= 12 && strspn(s, "0123456789") == strlen(s)) {
        *out = (int64_t)strtoll(s, &end, 10);
        return 0;
    }
    static const char *const formats[] = {"%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S",
                                          "%Y-%m-%dT%H:%MZ", "%Y-%m-%dT%H:%M", "%Y-%m-%d"};
    for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
        struct tm tm;
        memset(&tm, 0, sizeof(tm));
        end = strptime(s, formats[i], &tm);
        if (end != NULL && *end == '\0') {
            *out = (int64_t)timegm(&tm);
            return 0;
        }
    }
    return -1;
}

int sessd_revoke_parse_cidr(const char *s, sessd_revoke_filter *f)
{
    char addr[INET6_ADDRSTRLEN + 1];
    const char *slash = strchr(s, '/');
    size_t n = slash ? (size_t)(slash - s) : strlen(s);
    if (n == 0 || n >= sizeof(addr))
        return -1;
    memcpy(addr, s, n);
    addr[n] = '\0';
    int family = strchr(addr, ':') ? AF_INET6 : AF_INET, max = family == AF_INET6 ? 128 : 32;
    if (inet_pton(family, addr, f->net) != 1)
        return -1;
    int prefix = max;
    if (slash) {
        const char *p = slash + 1;
        if (*p == '\0' || strlen(p) > 3 || strspn(p, "0123456789") != strlen(p) ||
            (prefix = atoi(p)) > max)
            return -1;
    }
    f->family = family;
    f->prefix = prefix;
    f->has_net = true;
    return 0;
}

int sessd_revoke_set_agent(const char *s, sessd_revoke_filter *f)
{
    size_t n = strlen(s);
    if (n == 0 || n > SESS_AGENT_MAX)
        return -1;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return -1;
    memcpy(f->agent, s, n + 1);
    return 0;
}

bool sessd_revoke_filter_set(const sessd_revoke_filter *f)
{
    return f->has_before || f->has_net || f->agent[0] != '\0';
}

static bool in_net(const sessd_revoke_filter *f, const char *ip)
{
    uint8_t a[16];
    /* An IPv4 client seen on an IPv6 socket is "::ffff:a.b.c.d". */
    if (f->family == AF_INET && strncmp(ip, "::ffff:", 7) == 0 && strchr(ip + 7, '.'))
        ip += 7;
    if (inet_pton(f->family, ip, a) != 1)
        return false;
    int full = f->prefix / 8, rest = f->prefix % 8;
    if (memcmp(a, f->net, (size_t)full) != 0)
        return false;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return rest == 0 || (a[full] & mask) == (f->net[full] & mask);
}

bool sessd_revoke_filter_match(const sessd_revoke_filter *f, const sess_record *rec)
{
    if (f->has_before && rec->created >= f->created_before)
        return false;
    if (f->has_net && !in_net(f, rec->ip))
        return false;
    return f->agent[0] == '\0' || strcasestr(rec->agent, f->agent) != NULL;
}

typedef struct collect {
    const sessd_revoke_filter *f;
    uint8_t (*ids)[SESS_ID_BYTES];
    char (*users)[SESS_USER_MAX + 1];
    size_t n, cap;
    int err;
} collect;

static int collect_one(const sess_record *rec, uint64_t gen, void *arg)
{
    (void)gen;
    collect *c = arg;
    if (!sessd_revoke_filter_match(c->f, rec))
        return 0;
    if (c->n == SESSD_REVOKE_MAX)
        return 1;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 256;
        void *ids = realloc(c->ids, cap * sizeof(*c->ids));
        if (ids != NULL)
            c->ids = ids;
        void *users = ids ? realloc(c->users, cap * sizeof(*c->users)) : NULL;
        if (users == NULL) {
            c->err = SESS_ENOMEM;
            return 1;
        }
        c->users = users;
        c->cap = cap;
    }
    memcpy(c->ids[c->n], rec->id, SESS_ID_BYTES);
    memcpy(c->users[c->n], rec->user, sizeof(rec->user));
    c->n++;
    return 0;
}

static void describe(const sessd_revoke_filter *f, const char *who, char *out, size_t cap)
{
    char net[INET6_ADDRSTRLEN] = "";
    if (f->has_net)
        inet_ntop(f->family, f->net, net, sizeof(net));
    int n = snprintf(out, cap, "by %s:", who);
    if (f->has_before && n >= 0 && (size_t)n < cap)
        n += snprintf(out + n, cap - (size_t)n, " created_before=%lld",
                      (long long)f->created_before);
    if (f->has_net && n >= 0 && (size_t)n < cap)
        n += snprintf(out + n, cap - (size_t)n, " ip=%s/%d", net, f->prefix);
    if (f->agent[0] && n >= 0 && (size_t)n < cap)
        snprintf(out + n, cap - (size_t)n, " agent=%s", f->agent);
}

int sessd_revoke_by_filter(sess_ctx *ctx, const sessd_revoke_filter *f, bool dry_run, int64_t now,
                           const char *who, const char *client, size_t *matched, size_t *revoked,
                           sessd_revoke_progress_fn progress, void *arg)
{
    collect c = {.f = f};
    *matched = *revoked = 0;
    int r = sess_list_all(ctx, now, collect_one, &c);
    if (r == 0)
        r = c.err;
    *matched = c.n;
    char detail[600];
    describe(f, who, detail, sizeof(detail));
    sess_store *st = sess_ctx_store(ctx);
    for (size_t i = 0; r == 0 && !dry_run && i < c.n; i++) {
        int e = st->ops->del(st, c.ids[i]);
        if (e == 0) {
            ++*revoked;
            /* Ended, but not confirmed without its audit line: stop there. */
            r = sessd_audit_change_nosync(SESSD_AUDIT_REVOKE, c.users[i], c.ids[i], client, detail);
        } else if (e != SESS_ESESSION) {
            r = e;
        }
        if (progress && ((i + 1) % SESSD_REVOKE_PROGRESS_EVERY == 0))
            progress(i + 1, c.n, arg);
    }
    if (progress && !dry_run && c.n >= SESSD_REVOKE_PROGRESS_EVERY &&
        c.n % SESSD_REVOKE_PROGRESS_EVERY != 0)
        progress(c.n, c.n, arg);
    if (!dry_run) {
        char summary[700];
        snprintf(summary, sizeof(summary), "%s matched=%zu revoked=%zu%s", detail, *matched,
                 *revoked,
                 r == 0             ? ""
                 : r == SESS_EAUDIT ? " (stopped: the audit log could not be written)"
                                    : " (stopped by a store error)");
        int a = sessd_audit_change(SESSD_AUDIT_REVOKE_FILTER, NULL, NULL, client, summary);
        if (r == 0)
            r = a;
    }
    free(c.ids);
    free(c.users);
    return r;
}
