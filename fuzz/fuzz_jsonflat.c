/*
 * fuzz_jsonflat.c - the flat-object shortcut in front of jansson (src/core/jsonflat.h), which
 * every POST /v1 and /auth/api body goes through first. The input is a request body. Property:
 * when the shortcut answers, jansson (json_loadb with JSON_REJECT_DUPLICATES, as http_json_body
 * calls it) reads the same text as an object equal to it, with the keys in the same order; when
 * it does not, nothing is asserted (jansson decides, as before).
 */
#include <jansson.h>
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "core/jsonflat.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    json_t *fast = sessd_jsonflat_parse(text, size);
    if (fast == NULL)
        return 0;
    json_error_t err;
    json_t *ref = json_loadb(text, size, JSON_REJECT_DUPLICATES, &err);
    FUZZ_REQUIRE(ref != NULL && json_is_object(ref));
    FUZZ_REQUIRE(json_equal(fast, ref));
    void *a = json_object_iter(fast), *b = json_object_iter(ref);
    while (a != NULL && b != NULL) {
        FUZZ_REQUIRE(strcmp(json_object_iter_key(a), json_object_iter_key(b)) == 0);
        a = json_object_iter_next(fast, a);
        b = json_object_iter_next(ref, b);
    }
    FUZZ_REQUIRE(a == NULL && b == NULL);
    json_decref(fast);
    json_decref(ref);
    return 0;
}
