/*
 * jsonw.h - a small JSON writer for answers on the hot path. Building a jansson tree only to
 * serialise it again costs more than the rest of a verify; this appends text directly, and
 * embeds already-canonical JSON (session data, preferences) as it is stored.
 */
#ifndef SESSIOND_SERVER_JSONW_H
#define SESSIOND_SERVER_JSONW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct jsonw {
    char *buf; /* malloc'ed; NUL-terminated while not failed */
    size_t len;
    size_t cap;
    bool failed; /* an allocation failed: the text is incomplete and must not be sent */
    bool secret; /* holds a token: every buffer is wiped before it is freed */
} jsonw;

void jw_init(jsonw *w);
void jw_free(jsonw *w);
/* Appends bytes as they are (punctuation, or JSON text already valid). */
void jw_raw(jsonw *w, const char *s, size_t len);
/* Appends a C string as a JSON string: quoted, with ", \ and control characters escaped. */
void jw_str(jsonw *w, const char *s);
void jw_int(jsonw *w, int64_t v);
/* Appends "key": (with a leading comma unless `first`). */
void jw_key(jsonw *w, const char *key, bool first);

#endif
