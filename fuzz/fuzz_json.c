/*
 * fuzz_json.c - JSON bodies as the store merges them (sess_json_merge, sess_json_canonical), the
 * path every PATCH of session data and preferences takes. The input is "TARGET\0PATCH" (no NUL:
 * the whole input is the patch over an empty object). Properties: a merge result is canonical
 * (canonicalising it changes nothing), stays under the size bound, and applying the same patch
 * again changes nothing (RFC 7386 patches are idempotent).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "sessiond/store.h"
#include "../lib/json_merge.h"

#define MAX_BYTES 16384

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    const char *nul = memchr(in, '\0', size);
    const char *target = NULL, *patch = in;
    size_t tlen = 0, plen = size;
    if (nul != NULL) {
        target = in;
        tlen = (size_t)(nul - in);
        patch = nul + 1;
        plen = size - tlen - 1;
    }
    char *out = NULL, *canon = NULL, *twice = NULL;
    size_t olen = 0, clen = 0, twlen = 0;
    if (sess_json_merge(target, tlen, patch, plen, MAX_BYTES, &out, &olen) != 0)
        return 0;
    FUZZ_REQUIRE(out != NULL && olen <= MAX_BYTES && strlen(out) == olen);
    FUZZ_REQUIRE(sess_json_canonical(out, olen, MAX_BYTES, &canon, &clen) == 0);
    FUZZ_REQUIRE(clen == olen && memcmp(canon, out, olen) == 0);
    FUZZ_REQUIRE(sess_json_merge(out, olen, patch, plen, MAX_BYTES, &twice, &twlen) == 0);
    FUZZ_REQUIRE(twlen == olen && memcmp(twice, out, olen) == 0);
    free(out);
    free(canon);
    free(twice);
    return 0;
}
