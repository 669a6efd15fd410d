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
#ifndef SESSIOND_SERVER_JSONFLAT_H
#define SESSIOND_SERVER_JSONFLAT_H

#include <jansson.h>
#include <stddef.h>

/* Members at most: a body with more goes to jansson. */
#define SESSD_JSONFLAT_MAX_MEMBERS 16
/* Bytes at most: a longer body goes to jansson. */
#define SESSD_JSONFLAT_MAX_BYTES 4096

/* The object in `text` (`len` bytes, not NUL-terminated, may be NULL when len is 0), or NULL
 * when the text is not one this reader handles (or memory ran out): then parse it with jansson.
 * The caller owns (json_decref) the result. */
json_t *sessd_jsonflat_parse(const char *text, size_t len);

#endif
