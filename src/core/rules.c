/*
 * rules.c - matching requests to [rule NAME] sections and decoding their policies.
 */
#include "core/rules.h"

#include "sessiond/access.h"

#include <ctype.h>
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
        if (p < plen &&
            (pat[p] == '?' || tolower((unsigned char)pat[p]) == tolower((unsigned char)s[i]))) {
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
    return sess_roles_have(roles, role);
}

int sessd_normalize_host(const char *in, size_t len, char *out, size_t cap)
{
    size_t n = 0;
    if (len > 0 && in[0] == '[') {
        const char *close = memchr(in, ']', len);
        if (close == NULL || (size_t)(close - in) + 2 > cap)
            return -1;
        size_t l = (size_t)(close - in) + 1;
        for (size_t i = 1; i + 1 < l; i++)
            if (!isxdigit((unsigned char)in[i]) && in[i] != ':' && in[i] != '.')
                return -1;
        if (l < len && in[l] != ':')
            return -1;
        for (size_t i = 0; i < l; i++)
            out[n++] = (char)tolower((unsigned char)in[i]);
        out[n] = '\0';
        return (int)n;
    }
    const char *colon = memchr(in, ':', len);
    size_t l = colon != NULL ? (size_t)(colon - in) : len;
    for (size_t i = colon ? l + 1 : len; i < len; i++)
        if (!isdigit((unsigned char)in[i]))
            return -1;
    if (l > 0 && in[l - 1] == '.')
        l--; /* "admin.test." is "admin.test" to DNS and to nginx's server_name */
    if (l == 0 || l + 1 > cap)
        return -1;
    for (size_t i = 0; i < l; i++) {
        unsigned char c = (unsigned char)in[i];
        if (!isalnum(c) && c != '-' && c != '.' && c != '_')
            return -1;
        out[n++] = (char)tolower(c);
    }
    out[n] = '\0';
    return (int)n;
}

static bool host_ok(const sessd_rule *r, const char *host, size_t len)
{
    if (r->host[0] == '\0')
        return true;
    size_t rl = strlen(r->host);
    while (rl > 0 && r->host[rl - 1] == '.')
        rl--;
    return rl == len && strncasecmp(r->host, host, len) == 0;
}

static bool method_ok(const sessd_rule *r, const char *m, size_t len)
{
    return r->methods[0] == '\0' || sess_list_has(r->methods, m, len);
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
