/*
 * redirect.c - the rd= check of redirect.h. Deliberately strict: a target that is unusual but
 * harmless is refused too, and the user lands on the default page instead.
 */
#include "core/redirect.h"
#include "sessiond/access.h"

#include <string.h>
#include <strings.h>
#include "sessiond/text.h"

/* Printable ASCII only, no backslash: what every later check assumes. */
static bool plain_chars(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c >= 0x7f || c == '\\')
            return false;
    }
    return true;
}

/* The decoded form may hold UTF-8 (an encoded path), but no control character or backslash. */
static bool decoded_chars(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f || c == '\\')
            return false;
    }
    return true;
}

/* One more round of percent-decoding, for the "is it still harmless" check. */
static bool decode_once(const char *s, size_t len, char *out, size_t cap, size_t *out_len)
{
    long n = sess_percent_decode(s, len, false, out, cap);
    *out_len = n > 0 ? (size_t)n : 0;
    return n >= 0;
}

/* True when the path part (before ? or #) has a "." or ".." segment: a browser resolves
 * "/.//evil.test" to "//evil.test", which the application may later echo as a location. */
static bool has_dot_segment(const char *s, size_t len)
{
    size_t end = 0;
    while (end < len && s[end] != '?' && s[end] != '#')
        end++;
    for (size_t i = 0; i < end;) {
        size_t j = i + 1;
        while (j < end && s[j] != '/')
            j++;
        size_t n = j - i - 1; /* the segment after the "/" at i */
        if ((n == 1 && s[i + 1] == '.') || (n == 2 && s[i + 1] == '.' && s[i + 2] == '.'))
            return true;
        i = j;
    }
    return false;
}

static bool relative_ok(const char *s, size_t len)
{
    /* "/x" but not "//x" nor "/\x"; plain_chars already refused backslashes. */
    return len >= 1 && s[0] == '/' && (len == 1 || s[1] != '/') && !has_dot_segment(s, len);
}

/* "scheme://host[:port]" of `url` (which may go on with a path) into `out`, lower-cased. */
static bool origin_of(const char *url, size_t len, char *out, size_t cap, size_t *rest)
{
    size_t skip = 0;
    if (len >= 8 && strncasecmp(url, "https://", 8) == 0)
        skip = 8;
    else if (len >= 7 && strncasecmp(url, "http://", 7) == 0)
        skip = 7;
    if (skip == 0)
        return false;
    size_t end = skip;
    while (end < len && url[end] != '/' && url[end] != '?' && url[end] != '#')
        end++;
    if (end == skip || end >= cap || memchr(url + skip, '@', end - skip) != NULL)
        return false;
    for (size_t i = 0; i < end; i++)
        out[i] = (char)((url[i] >= 'A' && url[i] <= 'Z') ? url[i] + 32 : url[i]);
    out[end] = '\0';
    *rest = end;
    return true;
}

static bool absolute_ok(const char *s, size_t len, const char *public_url, const char *allowed)
{
    char origin[512], pub[512];
    size_t rest, prest;
    if (!origin_of(s, len, origin, sizeof(origin), &rest))
        return false;
    if (rest < len && s[rest] == '/' && rest + 1 < len && s[rest + 1] == '/')
        return false; /* "https://good//evil" is fine for browsers, odd for apps: refuse */
    if (origin_of(public_url, strlen(public_url), pub, sizeof(pub), &prest) &&
        strcmp(pub, origin) == 0)
        return true;
    return sess_list_has(allowed, origin, strlen(origin));
}

bool sessd_redirect_ok(const char *rd, size_t len, const char *public_url,
                       const char *allowed_origins)
{
    char dec[SESSD_RD_MAX + 1];
    size_t dlen;
    if (rd == NULL || len == 0 || len > SESSD_RD_MAX || !plain_chars(rd, len))
        return false;
    /* Whatever a later decoding step (a framework, a proxy) might make of it must be as safe as
     * the value itself. */
    if (!decode_once(rd, len, dec, sizeof(dec), &dlen) || !decoded_chars(dec, dlen))
        return false;
    if (rd[0] == '/')
        return relative_ok(rd, len) && relative_ok(dec, dlen);
    return absolute_ok(rd, len, public_url, allowed_origins) &&
           absolute_ok(dec, dlen, public_url, allowed_origins);
}
