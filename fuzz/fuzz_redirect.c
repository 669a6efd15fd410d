/*
 * fuzz_redirect.c - the login's `rd` check (sessd_redirect_ok). Properties of every accepted
 * value: not too long, printable ASCII without a backslash, and either a path that is not
 * scheme-relative ("//host") or an http(s) URL whose origin is the public URL's or an allowed one,
 * with no user info. Anything else accepted is an open redirect.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "fuzz.h"
#include "core/redirect.h"

#define PUBLIC_URL "https://app.example/auth"
#define ALLOWED "https://a.example, http://b.example:8080"

static bool has_origin(const char *s, size_t len, const char *origin)
{
    size_t n = strlen(origin);
    if (len < n || strncasecmp(s, origin, n) != 0)
        return false;
    return len == n || s[n] == '/' || s[n] == '?' || s[n] == '#';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *rd = malloc(size ? size : 1);
    FUZZ_REQUIRE(rd != NULL);
    memcpy(rd, data, size);
    if (sessd_redirect_ok(rd, size, PUBLIC_URL, ALLOWED)) {
        FUZZ_REQUIRE(size > 0 && size <= SESSD_RD_MAX);
        for (size_t i = 0; i < size; i++)
            FUZZ_REQUIRE(rd[i] > 0x20 && rd[i] < 0x7f && rd[i] != '\\');
        if (rd[0] == '/') {
            FUZZ_REQUIRE(size == 1 || rd[1] != '/');
        } else {
            FUZZ_REQUIRE(has_origin(rd, size, "https://app.example") ||
                         has_origin(rd, size, "https://a.example") ||
                         has_origin(rd, size, "http://b.example:8080"));
        }
    }
    free(rd);
    return 0;
}
