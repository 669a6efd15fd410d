/*
 * fuzz_cookie.c - the Cookie header lookup (sess_cookie_find, sess_cookie_pick). The first byte
 * picks the cookie name looked for; the rest is the header value. Properties: nothing is read past
 * the header (ASan), a found value lies inside the header, and the pair it came from names the
 * cookie; sess_cookie_pick finds the same first value, or calls the header ambiguous only when a
 * second, different value follows it.
 */
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "sessiond/cookie.h"

static const char *const names[] = {"sid", "__Host-sid", "csrf", "a", "sessiond_nonce"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *name = names[data[0] % (sizeof names / sizeof names[0])];
    size_t len = size - 1;
    /* A copy of exactly `len` bytes, so that ASan catches any read past the end. */
    char *h = malloc(len ? len : 1);
    FUZZ_REQUIRE(h != NULL);
    memcpy(h, data + 1, len);
    const char *v = NULL;
    size_t vlen = 0;
    if (sess_cookie_find(h, len, name, &v, &vlen) == 0) {
        FUZZ_REQUIRE(v >= h && v + vlen <= h + len);
        /* The name and '=' come before the value, inside the same pair. */
        size_t nlen = strlen(name);
        FUZZ_REQUIRE((size_t)(v - h) >= nlen + 1);
        FUZZ_REQUIRE(memchr(v, ';', vlen) == NULL);
        const char *eq = v - 1;
        while (eq > h && *eq != '=')
            eq--;
        FUZZ_REQUIRE(*eq == '=');
    }
    sess_cookie_one one = {0};
    sess_cookie_pick(&one, h, len, name);
    if (v == NULL) {
        FUZZ_REQUIRE(one.value == NULL && !one.ambiguous);
    } else {
        FUZZ_REQUIRE(one.value == v && one.len == vlen);
        /* Ambiguous only with another value after the first. */
        const char *w;
        size_t wl, off = (size_t)(v - h) + vlen;
        bool other = false;
        while (off < len && sess_cookie_find(h + off, len - off, name, &w, &wl) == 0) {
            other = other || wl != vlen || memcmp(w, v, vlen) != 0;
            off = (size_t)(w - h) + wl + 1;
        }
        FUZZ_REQUIRE(one.ambiguous == other);
    }
    free(h);
    return 0;
}
