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
#include "sessiond/text.h"

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

/* ---- the request target as rules read it ---- */

/* RFC 3986's unreserved characters: normalisation decodes them where they are escaped. */
static bool unreserved(int c)
{
    return isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

/* What may stand in a canonical path as itself (besides "/" and "%"): RFC 3986's pchar, and the
 * four that browsers send unescaped although RFC 3986 has them escaped ("|", "^", "[", "]"),
 * plus UTF-8 (checked after decoding). Not ";" (path parameters that some frameworks strip),
 * "\" (a "/" to some servers), "#" (where many applications cut the path), and nothing that a
 * browser would escape: controls, space, '"', "<", ">", "`", "{", "}", DEL. */
static bool raw_path_char(int c)
{
    return unreserved(c) || c >= 0x80 || (c != 0 && strchr("!$&'()*+,=:@|^[]", c) != NULL);
}

/* An escape that normalisation would keep as it is: upper-case hex, and not a byte that an
 * escape must not hide (an encoded "/", "\", "%" read twice, ";", a control, and "#" or "?",
 * where an application that decodes the path first would cut it; a proxy may also write a raw
 * "#" as "%23") nor one that normalisation would decode (unreserved). */
static int canonical_escape(const char *p)
{
    if (!isxdigit((unsigned char)p[0]) || !isxdigit((unsigned char)p[1]) ||
        islower((unsigned char)p[0]) || islower((unsigned char)p[1]))
        return -1;
    int c = sess_hex_value(p[0]) * 16 + sess_hex_value(p[1]);
    if (c < 0x20 || c == 0x7f || unreserved(c) || strchr("/\\%;#?", c) != NULL)
        return -1;
    return c;
}

/* True for the segment "." or "..": normalisation would remove it. Escaped dots are refused as
 * escapes of unreserved characters, so only these two spellings are left. */
static bool dot_segment(const char *s, size_t n)
{
    return (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.');
}

/* The characters that Unicode case folding turns into ASCII letters: U+0130 (dotted I), U+0131
 * (dotless i), U+017F (long s) and U+212A (Kelvin sign). Rules compare ASCII without case; an
 * application that compares with Unicode case folding (Java's equalsIgnoreCase, .NET's
 * OrdinalIgnoreCase) would read "/adm\u0131n" as "/admin". */
static bool folds_to_ascii(const char *s, size_t l)
{
    return (l == 2 && (memcmp(s, "\xc4\xb0", 2) == 0 || memcmp(s, "\xc4\xb1", 2) == 0 ||
                       memcmp(s, "\xc5\xbf", 2) == 0)) ||
           (l == 3 && memcmp(s, "\xe2\x84\xaa", 3) == 0);
}

/* Decoded bytes are valid UTF-8 (shortest forms, no surrogates, no C1 controls), without a
 * character that folds to ASCII. */
static bool valid_utf8(const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t l = sess_utf8_char((const unsigned char *)s + i, n - i);
        if (l == 0 || folds_to_ascii(s + i, l))
            return false;
        i += l;
    }
    return true;
}

static int canonical_path(const char *in, size_t len, char *out, size_t cap)
{
    size_t n = 0, seg = 1;
    if (len == 0 || in[0] != '/' || cap < 2)
        return -1;
    out[n++] = '/';
    for (size_t i = 1; i < len; i++) {
        int c = (unsigned char)in[i];
        if (c == '/') {
            if (i == seg || dot_segment(in + seg, i - seg)) /* "//", "/./", "/../" */
                return -1;
            seg = i + 1;
        } else if (c == '%') {
            if (len - i < 3 || (c = canonical_escape(in + i + 1)) < 0)
                return -1;
            i += 2;
        } else if (!raw_path_char(c)) {
            return -1;
        }
        if (n + 1 >= cap)
            return -1;
        out[n++] = (char)c;
    }
    if (dot_segment(in + seg, len - seg) || !valid_utf8(out, n))
        return -1;
    out[n] = '\0';
    return (int)n;
}

/* The query is the application's to read; only what no request target may hold is refused: a
 * "#" (where the path would be cut by some), controls and DEL. */
static bool query_ok(const char *q, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)q[i];
        if (c < 0x20 || c == 0x7f || c == '#')
            return false;
    }
    return true;
}

int sess_canonical_target(const char *target, size_t len, char *path, size_t cap)
{
    const char *q = memchr(target, '?', len);
    size_t pl = q != NULL ? (size_t)(q - target) : len;
    if (!query_ok(target + pl, len - pl))
        return -1;
    return canonical_path(target, pl, path, cap);
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
