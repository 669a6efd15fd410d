/*
 * jsonflat.h - a fast reader for the request bodies the hot endpoints get: one flat JSON object
 * whose values are plain strings, true, false or null ({"token":"...","touch":false}).
 *
 * It is a shortcut in front of jansson, not a second JSON parser with its own opinions: it
 * answers only for the texts it fully understands, and builds exactly the object jansson's
 * json_loadb(JSON_REJECT_DUPLICATES) would (same keys, same values, same key order). For
 * anything else - a number, a nested value, an escape, a byte outside printable ASCII, a
 * duplicate key, trailing garbage, malformed text of any kind - it returns NULL and the caller
 * asks jansson, whose answer (and error message) is then the one given. tests/unit/
 * test_jsonflat.c compares the two over many generated texts; fuzz/fuzz_jsonflat.c does it
 * under libFuzzer.
 */
#ifndef SESSIOND_CORE_JSONFLAT_H
#define SESSIOND_CORE_JSONFLAT_H

#include <jansson.h>
#include <stddef.h>

/* Members at most: a body with more goes to jansson. */
#define SESSD_JSONFLAT_MAX_MEMBERS 16
/* Bytes at most: a longer body goes to jansson. */
#define SESSD_JSONFLAT_MAX_BYTES 4096

enum sessd_flat_kind { SESSD_FLAT_STRING, SESSD_FLAT_TRUE, SESSD_FLAT_FALSE, SESSD_FLAT_NULL };

/* One member as it stands in the text: `key` and, for a string, `val` point at the bytes between
 * the quotes (printable ASCII without \ or "), which are not NUL-terminated. */
typedef struct sessd_flat_member {
    const char *key, *val;
    size_t key_len, val_len;
    enum sessd_flat_kind kind;
} sessd_flat_member;

/* The members of a flat object, in the order of the text; no two keys are equal. */
typedef struct sessd_flat {
    size_t count;
    sessd_flat_member m[SESSD_JSONFLAT_MAX_MEMBERS];
} sessd_flat;

/* Reads `text` into `out` when it is a flat object this reader handles: 0, or -1 (and `out`
 * meaningless) when jansson must read it. A text that gives 0 here is one sessd_jsonflat_parse
 * builds, and jansson reads as the same object. */
int sessd_jsonflat_scan(const char *text, size_t len, sessd_flat *out);

/* The object in `text` (`len` bytes, not NUL-terminated, may be NULL when len is 0), or NULL
 * when the text is not one this reader handles (or memory ran out): then parse it with jansson.
 * The caller owns (json_decref) the result. */
json_t *sessd_jsonflat_parse(const char *text, size_t len);

#endif
