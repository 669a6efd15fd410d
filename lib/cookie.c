/*
 * cookie.c - Set-Cookie formatting and Cookie header lookup, bounded and allocation-free.
 */
#include "sessiond/cookie.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "sessiond/crypto.h"

int sess_cookie_format(const sess_cookie_opts *o, const char *value, int64_t max_age, char *out,
                       size_t cap)
{
    const char *ss = o->same_site;
    const char *ss_text = (ss && ss[0] == 's') ? "Strict" : (ss && ss[0] == 'n') ? "None" : "Lax";
    char age[40] = "";
    char domain[300] = "";
    if (max_age >= 0)
        snprintf(age, sizeof(age), "; Max-Age=%" PRId64, max_age);
    if (o->domain && o->domain[0]) {
        if (strlen(o->domain) > 253)
            return -1;
        snprintf(domain, sizeof(domain), "; Domain=%s", o->domain);
    }
    const char *path = o->path != NULL ? o->path : "/";
    if (path[0] != '/' || strlen(path) > 256 || strpbrk(path, ";\r\n") != NULL)
        return -1;
    int n = snprintf(out, cap, "%s=%s; Path=%s%s%s%s; HttpOnly; SameSite=%s", o->name, value, path,
                     domain, age, o->secure ? "; Secure" : "", ss_text);
    if (n < 0 || (size_t)n >= cap || strlen(o->name) + strlen(value) > SESS_COOKIE_MAX)
        return -1;
    return n;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* The next cookie called `name` in header[*at, len): 0 with its value, *at past it; -1 when
 * there is none left. */
static int find_next(const char *header, size_t len, size_t *at, const char *name,
                     const char **value, size_t *vlen)
{
    size_t nlen = strlen(name), i = *at;
    while (i < len) {
        while (i < len && (is_space(header[i]) || header[i] == ';'))
            i++;
        size_t start = i;
        while (i < len && header[i] != ';')
            i++;
        /* [start, i) is one "name=value" pair. */
        const char *eq = memchr(header + start, '=', i - start);
        if (eq == NULL)
            continue;
        size_t klen = (size_t)(eq - (header + start));
        while (klen > 0 && is_space(header[start + klen - 1]))
            klen--;
        if (klen != nlen || memcmp(header + start, name, nlen) != 0)
            continue;
        const char *v = eq + 1;
        size_t l = (size_t)(header + i - v);
        while (l > 0 && is_space(*v)) {
            v++;
            l--;
        }
        while (l > 0 && is_space(v[l - 1]))
            l--;
        if (l >= 2 && v[0] == '"' && v[l - 1] == '"') {
            v++;
            l -= 2;
        }
        *value = v;
        *vlen = l;
        *at = i;
        return 0;
    }
    *at = len;
    return -1;
}

int sess_cookie_find(const char *header, size_t len, const char *name, const char **value,
                     size_t *vlen)
{
    size_t at = 0;
    return find_next(header, len, &at, name, value, vlen);
}

void sess_cookie_pick(sess_cookie_one *one, const char *header, size_t len, const char *name)
{
    const char *v;
    size_t n, at = 0;
    while (!one->ambiguous && find_next(header, len, &at, name, &v, &n) == 0) {
        if (one->value == NULL) {
            one->value = v;
            one->len = n;
        } else if (n != one->len || !sess_ct_equal(v, one->value, n)) {
            /* Session tokens, one of them perhaps the victim's: compared in constant time. */
            one->ambiguous = true;
        }
    }
}
