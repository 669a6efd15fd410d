/*
 * fuzz_target.c - the canonical request target check (sess_canonical_target, access.h): what
 * verify and the nginx module judge. Properties, for every input:
 *   - nothing is read past the target (ASan) and the decoded path fits its buffer;
 *   - a target it accepts is left unchanged by normalisation as proxies and applications do it
 *     (written here independently: cut at "#", escapes of unreserved characters decoded and hex
 *     upper-cased, "\" read as "/", dot segments removed as RFC 3986 section 5.2.4 says, "//"
 *     merged, what the WHATWG URL parser escapes in a path escaped);
 *   - the path it hands to the rules is the accepted path percent-decoded, and that decoded path
 *     reads one way too: no dot segment, no "//", no "#", "?", ";" or "\", no control byte.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "sessiond/access.h"

#define CAP 512

/* A hex digit's value, or -1 (written here on purpose: the check's own decoder is not the one
 * to judge it by). */
static int hex(int c)
{
    return !isxdigit(c) ? -1 : isdigit(c) ? c - '0' : tolower(c) - 'a' + 10;
}

static bool unreserved(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

/* RFC 3986 section 5.2.4 on in[0..n) (starting with "/"), into out; returns the length. */
static size_t remove_dot_segments(const char *in, size_t n, char *out)
{
    size_t o = 0, i = 0;
    while (i < n) {
        if (n - i >= 3 && memcmp(in + i, "/./", 3) == 0) {
            i += 2;
        } else if (n - i == 2 && memcmp(in + i, "/.", 2) == 0) {
            out[o++] = '/';
            i += 2;
        } else if ((n - i >= 4 && memcmp(in + i, "/../", 4) == 0) ||
                   (n - i == 3 && memcmp(in + i, "/..", 3) == 0)) {
            while (o > 0 && out[o - 1] != '/')
                o--;
            if (o > 0)
                o--;
            if (n - i == 3) {
                out[o++] = '/';
                i += 3;
            } else {
                i += 3;
            }
        } else {
            do
                out[o++] = in[i++];
            while (i < n && in[i] != '/');
        }
    }
    return o;
}

/* The target as a normalising proxy or application would rewrite it; returns the length. */
static size_t normalise(const char *t, size_t n, char *out)
{
    static char a[4 * CAP], b[4 * CAP];
    const char *hash = memchr(t, '#', n);
    if (hash != NULL)
        n = (size_t)(hash - t);
    const char *q = memchr(t, '?', n);
    size_t pl = q != NULL ? (size_t)(q - t) : n, k = 0;
    static const char upper[] = "0123456789ABCDEF";
    for (size_t i = 0; i < pl; i++) {
        int c = (unsigned char)t[i];
        if (c == '%' && i + 2 < pl && hex((unsigned char)t[i + 1]) >= 0 &&
            hex((unsigned char)t[i + 2]) >= 0) {
            int d = hex((unsigned char)t[i + 1]) * 16 + hex((unsigned char)t[i + 2]);
            if (unreserved(d)) {
                a[k++] = (char)d;
            } else {
                a[k++] = '%';
                a[k++] = upper[d >> 4];
                a[k++] = upper[d & 15];
            }
            i += 2;
        } else if (c == '\\') {
            a[k++] = '/';
        } else if (c < 0x21 || c == 0x7f || strchr("\"<>`{}", c) != NULL) {
            a[k++] = '%';
            a[k++] = upper[c >> 4];
            a[k++] = upper[c & 15];
        } else {
            a[k++] = (char)c;
        }
    }
    size_t m = k > 0 && a[0] == '/' ? remove_dot_segments(a, k, b) : (memcpy(b, a, k), k);
    size_t o = 0;
    for (size_t i = 0; i < m; i++)
        if (!(b[i] == '/' && o > 0 && out[o - 1] == '/'))
            out[o++] = b[i];
    memcpy(out + o, t + pl, n - pl);
    return o + n - pl;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > CAP)
        return 0;
    /* A copy of exactly `size` bytes, so that ASan catches any read past the end. */
    char *t = malloc(size ? size : 1);
    FUZZ_REQUIRE(t != NULL);
    memcpy(t, data, size);
    char path[CAP + 1];
    int n = sess_canonical_target(t, size, path, sizeof(path));
    if (n >= 0) {
        static char norm[4 * CAP];
        FUZZ_REQUIRE((size_t)n < sizeof(path) && path[n] == '\0');
        size_t nl = normalise(t, size, norm);
        FUZZ_REQUIRE(nl == size && memcmp(norm, t, size) == 0);
        /* The decoded path is the target's path with every escape decoded. */
        const char *q = memchr(t, '?', size);
        size_t pl = q != NULL ? (size_t)(q - t) : size, k = 0;
        for (size_t i = 0; i < pl; i++, k++) {
            int c = (unsigned char)t[i];
            if (c == '%') {
                c = hex((unsigned char)t[i + 1]) * 16 + hex((unsigned char)t[i + 2]);
                i += 2;
            }
            FUZZ_REQUIRE(k < (size_t)n && (unsigned char)path[k] == c);
        }
        FUZZ_REQUIRE(k == (size_t)n);
        /* And it reads one way. */
        FUZZ_REQUIRE(path[0] == '/' && strstr(path, "//") == NULL);
        FUZZ_REQUIRE(strstr(path, "/./") == NULL && strstr(path, "/../") == NULL);
        FUZZ_REQUIRE(!(n >= 2 && memcmp(path + n - 2, "/.", 2) == 0));
        FUZZ_REQUIRE(!(n >= 3 && memcmp(path + n - 3, "/..", 3) == 0));
        for (int i = 0; i < n; i++) {
            unsigned char c = (unsigned char)path[i];
            FUZZ_REQUIRE(c >= 0x20 && c != 0x7f && strchr("#?;\\", c) == NULL);
        }
    }
    free(t);
    return 0;
}
