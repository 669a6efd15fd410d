/*
 * access.c - the access decision shared by sessiond's /auth/verify and the nginx module
 * (access.h).
 */
#include "sessiond/access.h"

#include <ctype.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "sessiond/crypto.h"

static bool str_is(sess_str s, const char *lit)
{
    size_t n = strlen(lit);
    return s.p != NULL && s.n == n && memcmp(s.p, lit, n) == 0;
}

bool sess_unsafe_method(const char *method, size_t len)
{
    sess_str m = {method, len};
    return !str_is(m, "GET") && !str_is(m, "HEAD") && !str_is(m, "OPTIONS");
}

bool sess_roles_have(const char *roles, const char *role)
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

bool sess_list_has(const char *list, const char *item, size_t len)
{
    for (const char *p = list; p != NULL && *p != '\0';) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        while (n > 0 && *p == ' ') {
            p++;
            n--;
        }
        while (n > 0 && p[n - 1] == ' ')
            n--;
        if (n > 0 && n == len && strncasecmp(p, item, n) == 0)
            return true;
        p = comma != NULL ? comma + 1 : NULL;
    }
    return false;
}

bool sess_csrf_ok(const sess_csrf_req *q, const sess_record *rec, const sess_csrf_policy *p)
{
    char want[SESS_TOKEN_STRLEN + 1];
    sess_csrf_token(rec->csrf_secret, want);
    bool token = q->token.p != NULL && q->token.n == SESS_TOKEN_STRLEN &&
                 sess_ct_equal(q->token.p, want, SESS_TOKEN_STRLEN);
    sess_wipe(want, sizeof(want));
    if (token || p->require_token)
        return token;
    if (q->site.p != NULL)
        return str_is(q->site, "same-origin");
    const sess_str o = q->origin, s = q->scheme, h = q->host;
    if (o.p == NULL)
        return false;
    /* The request's own origin: scheme + "://" + host. */
    bool own = s.p != NULL && h.p != NULL && o.n == s.n + 3 + h.n &&
               strncasecmp(o.p, s.p, s.n) == 0 && memcmp(o.p + s.n, "://", 3) == 0 &&
               strncasecmp(o.p + s.n + 3, h.p, h.n) == 0;
    return own || sess_list_has(p->allowed_origins, o.p, o.n);
}

enum sess_access_result sess_access_decide(const sess_record *rec, int64_t now, const char *role,
                                           int64_t fresh, const char *method, size_t method_len,
                                           const sess_csrf_req *q, const sess_csrf_policy *p)
{
    if (role != NULL && !sess_roles_have(rec->roles, role))
        return SESS_ACCESS_NO_ROLE;
    if (fresh >= 0 && now - rec->auth_time > fresh)
        return SESS_ACCESS_REAUTH;
    if (sess_unsafe_method(method, method_len) && !sess_csrf_ok(q, rec, p))
        return SESS_ACCESS_CSRF_FAILED;
    return SESS_ACCESS_ALLOW;
}

/* ---- the path as rules read it ---- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)tolower((unsigned char)c);
    return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}

/* Removes the last segment written to out[0..*n) (for ".."); -1 above the root. */
static int pop_segment(char *out, size_t *n)
{
    if (*n <= 1)
        return -1;
    size_t i = *n - 1; /* out[*n - 1] is the "/" that ended the previous segment */
    while (i > 0 && out[i - 1] != '/')
        i--;
    *n = i;
    return 0;
}

/* Ends the segment out[seg..*n): "." is dropped, ".." drops the one before. */
static int end_segment(char *out, size_t *n, size_t seg)
{
    size_t l = *n - seg;
    if (l == 1 && out[seg] == '.') {
        *n = seg;
    } else if (l == 2 && out[seg] == '.' && out[seg + 1] == '.') {
        *n = seg;
        if (pop_segment(out, n) != 0)
            return -1;
    }
    return 0;
}

int sess_normalize_path(const char *in, size_t len, char *out, size_t cap)
{
    size_t n = 0, seg = 1;
    if (len == 0 || in[0] != '/' || cap < 2)
        return -1;
    out[n++] = '/';
    for (size_t i = 1; i < len; i++) {
        int c = (unsigned char)in[i];
        if (c == '%') {
            if (i + 2 >= len || hexval(in[i + 1]) < 0 || hexval(in[i + 2]) < 0)
                return -1;
            c = hexval(in[i + 1]) * 16 + hexval(in[i + 2]);
            i += 2;
            if (c == '/' || c == '%')
                return -1; /* an encoded "/" or a double encoding: read two ways */
        } else if (c == '/') {
            if (end_segment(out, &n, seg) != 0)
                return -1;
            if (n == 0 || out[n - 1] != '/')
                out[n++] = '/';
            seg = n;
            continue;
        }
        if (c < 0x20 || c == 0x7f || c == '\\' || c == ';' || n + 2 >= cap)
            return -1;
        out[n++] = (char)c;
    }
    if (end_segment(out, &n, seg) != 0)
        return -1;
    if (n == 0)
        out[n++] = '/';
    out[n] = '\0';
    return (int)n;
}

/* ---- text for headers and records ---- */

size_t sess_sanitize_text(const char *in, size_t len, char *out, size_t cap)
{
    size_t n = 0, max = cap - 1;
    for (size_t i = 0; i < len && n < max; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c < 0x20 || c == 0x7f)
            continue;
        out[n++] = (char)c;
    }
    /* Never end in the middle of a UTF-8 sequence: drop a trailing partial character. */
    if (n == max) {
        size_t k = n;
        while (k > 0 && ((unsigned char)out[k - 1] & 0xc0) == 0x80)
            k--;
        if (k > 0 && ((unsigned char)out[k - 1] & 0x80)) {
            unsigned char lead = (unsigned char)out[k - 1];
            size_t need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
            if (n - (k - 1) < need)
                n = k - 1;
        }
    }
    out[n] = '\0';
    return n;
}

/* "00" to "99": two digits a division. */
static const char digit_pairs[201] = "00010203040506070809101112131415161718192021222324"
                                     "25262728293031323334353637383940414243444546474849"
                                     "50515253545556575859606162636465666768697071727374"
                                     "75767778798081828384858687888990919293949596979899";

size_t sess_i64_text(int64_t v, char out[SESS_I64_STRLEN + 1])
{
    char tmp[SESS_I64_STRLEN];
    char *end = tmp + sizeof(tmp), *p = end;
    /* The magnitude in unsigned arithmetic, which INT64_MIN also has. */
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    while (u >= 100) {
        size_t d = (size_t)(u % 100) * 2;
        u /= 100;
        *--p = digit_pairs[d + 1];
        *--p = digit_pairs[d];
    }
    if (u >= 10) {
        *--p = digit_pairs[u * 2 + 1];
        *--p = digit_pairs[u * 2];
    } else {
        *--p = (char)('0' + u);
    }
    if (v < 0)
        *--p = '-';
    size_t n = (size_t)(end - p);
    memcpy(out, p, n);
    out[n] = '\0';
    return n;
}

bool sess_agent_matches(const sess_record *rec, const char *agent)
{
    /* A session created without a user agent (a backend that did not pass one) has nothing to
     * be bound to. */
    return rec->agent[0] == '\0' || strcmp(rec->agent, agent) == 0;
}
