/*
 * jsonw.h - a small JSON writer for answers on the hot path. Building a jansson tree only to
 * serialise it again costs more than the rest of a verify; this appends text directly, and
 * embeds already-canonical JSON (session data, preferences) as it is stored. The first
 * JW_INLINE bytes live in the writer itself (on the caller's stack), so a typical answer is
 * written without any allocation.
 */
#ifndef SESSIOND_CORE_JSONW_H
#define SESSIOND_CORE_JSONW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define JW_INLINE 1024

typedef struct jsonw {
    char *buf; /* `inl` or malloc'ed; NUL-terminated while not failed */
    size_t len;
    size_t cap;
    bool failed; /* an allocation failed: the text is incomplete and must not be sent */
    bool secret; /* holds a token: every buffer is wiped before it is freed or left */
    char inl[JW_INLINE];
} jsonw;

/* The writer must not be copied or moved after jw_init: `buf` may point into it. */
void jw_init(jsonw *w);
/* Frees (and, when `secret`, wipes) the text; `buf` is NULL afterwards. */
void jw_free(jsonw *w);
/* Makes room for `more` bytes and a NUL when the buffer is full (jw_raw's slow path); false,
 * with `failed` set, when it cannot. */
bool jw__grow(jsonw *w, size_t more);

static inline bool jw__room(jsonw *w, size_t more)
{
    return (!w->failed && more < w->cap - w->len) || jw__grow(w, more);
}

/* Appends bytes as they are (punctuation, or JSON text already valid). Inline: most calls
 * append a few bytes of a constant length. */
static inline void jw_raw(jsonw *w, const char *s, size_t len)
{
    if (!jw__room(w, len))
        return;
    memcpy(w->buf + w->len, s, len);
    w->len += len;
    w->buf[w->len] = '\0';
}

/* Appends `len` bytes as a JSON string without looking at them: only for text the caller made
 * itself and knows needs no escape (base64url, hex). Anything from a request goes to jw_str. */
static inline void jw_plain(jsonw *w, const char *s, size_t len)
{
    if (!jw__room(w, len + 2))
        return;
    char *o = w->buf + w->len;
    o[0] = '"';
    memcpy(o + 1, s, len);
    o[len + 1] = '"';
    o[len + 2] = '\0';
    w->len += len + 2;
}

/* Appends "KEY": for a string literal KEY that needs no escaping (letters, digits, _), with a
 * leading comma unless `first`: one copy of a constant. */
#define JW_KEY(w, KEY, first)                                                                      \
    ((first) ? jw_raw((w), "\"" KEY "\":", sizeof("\"" KEY "\":") - 1)                             \
             : jw_raw((w), ",\"" KEY "\":", sizeof(",\"" KEY "\":") - 1))

/* Appends a C string as a JSON string: quoted, with ", \ and control characters (and DEL)
 * escaped; other bytes are copied as they are. */
void jw_str(jsonw *w, const char *s);
/* The same for `len` bytes, which may hold NUL (escaped as \u0000). */
void jw_strn(jsonw *w, const char *s, size_t len);
/* Appends `len` bytes as a quoted lowercase hex string, without a branch or a table on their
 * values (sess_hex_encode). */
void jw_hex(jsonw *w, const uint8_t *bytes, size_t len);
void jw_int(jsonw *w, int64_t v);
void jw_bool(jsonw *w, bool v);

#endif
