/*
 * rules.c - matching requests to [rule NAME] sections and decoding their policies.
 */
#include "server/rules.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

bool sessd_glob(const char *pat, const char *s, size_t len)
{
    size_t p = 0, i = 0, plen = strlen(pat);
    size_t star_p = SIZE_MAX, star_i = 0;
    if (plen == 0)
        return true;
    /* Backtracking only to the last star: no recursion, and at most len x plen steps. */
    while (i < len) {
        if (p < plen && (pat[p] == '?' || pat[p] == s[i])) {
            p++;
            i++;
        } else if (p < plen && pat[p] == '*') {
            star_p = p++;
            star_i = i;
        } else if (star_p != SIZE_MAX) {
            p = star_p + 1;
            i = ++star_i;
        } else {
            return false;
        }
    }
    while (p < plen && pat[p] == '*')
        p++;
    return p == plen;
}

bool sessd_has_role(const char *roles, const char *role)
{
    size_t rl = strlen(role);
    const char *p = roles;
    while (p != NULL && *p != '\0') {
        const char *c = strchr(p, ',');
        size_t n = c != NULL ? (size_t)(c - p) : strlen(p);
        if (n == rl && memcmp(p, role, rl) == 0)
            return true;
        p = c != NULL ? c + 1 : NULL;
    }
    return false;
}

/* Host without its port; IPv6 literals keep their brackets. */
static size_t host_without_port(const char *h, size_t len)
{
    if (len > 0 && h[0] == '[') {
        const char *close = memchr(h, ']', len);
        return close != NULL ? (size_t)(close - h) + 1 : len;
    }
    const char *colon = memchr(h, ':', len);
    return colon != NULL ? (size_t)(colon - h) : len;
}

static bool host_ok(const sessd_rule *r, const char *host, size_t len)
{
    if (r->host[0] == '\0')
        return true;
    len = host_without_port(host, len);
    return strlen(r->host) == len && strncasecmp(r->host, host, len) == 0;
}

static bool method_ok(const sessd_rule *r, const char *m, size_t len)
{
    const char *p = r->methods;
    if (*p == '\0')
        return true;
    while (p != NULL && *p != '\0') {
        while (*p == ' ')
            p++;
        const char *c = strchr(p, ',');
        size_t n = c != NULL ? (size_t)(c - p) : strlen(p);
        while (n > 0 && p[n - 1] == ' ')
            n--;
        if (n == len && memcmp(p, m, len) == 0)
            return true;
        p = c != NULL ? c + 1 : NULL;
    }
    return false;
}

static void decode_policy(const sessd_rule *r, sessd_access *out)
{
    const char *p = r->policy;
    out->rule = r;
    out->touch = r->touch;
    if (strcmp(p, "public") == 0) {
        out->kind = SESSD_POLICY_PUBLIC;
    } else if (strncmp(p, "role:", 5) == 0) {
        out->kind = SESSD_POLICY_ROLE;
        snprintf(out->role, sizeof(out->role), "%s", p + 5);
    } else if (strncmp(p, "fresh:", 6) == 0 && sessd_parse_duration(p + 6, &out->fresh) == 0) {
        out->kind = SESSD_POLICY_FRESH;
    } else if (strcmp(p, "authenticated") == 0) {
        out->kind = SESSD_POLICY_AUTHENTICATED;
    } else {
        out->kind = SESSD_POLICY_DENY; /* config check refuses this; fail closed regardless */
    }
}

int sessd_rules_match(const sessd_config *c, const char *host, size_t host_len, const char *path,
                      size_t path_len, const char *method, size_t method_len, sessd_access *out)
{
    memset(out, 0, sizeof(*out));
    out->kind = SESSD_POLICY_DENY;
    for (int i = 0; i < c->nrules; i++) {
        const sessd_rule *r = &c->rules[i];
        if (host_ok(r, host, host_len) && method_ok(r, method, method_len) &&
            sessd_glob(r->path, path, path_len)) {
            decode_policy(r, out);
            return i;
        }
    }
    return -1;
}
