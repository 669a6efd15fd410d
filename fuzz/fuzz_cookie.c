/*
 * fuzz_cookie.c - the Cookie header lookup (sess_cookie_find). The first byte picks the cookie
 * name looked for; the rest is the header value. Properties: nothing is read past the header
 * (ASan), a found value lies inside the header, and the pair it came from names the cookie.
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
    free(h);
    return 0;
}
