/*
 * jsonw.c - the append-only JSON writer of jsonw.h. Every call makes room for its worst case
 * once and then writes without further checks; strings are copied in runs between the (rare)
 * bytes that need an escape, found through one table.
 */
#include "core/jsonw.h"

#include "sessiond/access.h"
#include "sessiond/crypto.h"

#include <stdlib.h>

void jw_init(jsonw *w)
{
    w->buf = w->inl;
    w->cap = sizeof(w->inl);
    w->len = 0;
    w->failed = false;
    w->secret = false;
    w->buf[0] = '\0';
}

void jw_free(jsonw *w)
{
    if (w->buf == NULL)
        return;
    if (w->secret)
        sess_wipe(w->buf, w->cap);
    if (w->buf != w->inl)
        free(w->buf);
    w->buf = NULL;
}

bool jw__grow(jsonw *w, size_t more)
{
    if (w->failed)
        return false;
    if (more < w->cap - w->len)
        return true;
    if (more > SIZE_MAX / 4 - w->len) {
        w->failed = true;
        return false;
    }
    size_t cap = w->cap;
    while (cap < w->len + more + 1)
        cap *= 2;
    /* Not realloc: a secret's old buffer must be wiped, not left behind in freed memory. */
    char *b = malloc(cap);
    if (b == NULL) {
        w->failed = true;
        return false;
    }
    memcpy(b, w->buf, w->len + 1);
    if (w->secret)
        sess_wipe(w->buf, w->cap);
    if (w->buf != w->inl)
        free(w->buf);
    w->buf = b;
    w->cap = cap;
    return true;
}

/* 1 for the bytes a JSON string cannot hold as they are: controls, DEL, " and \. */
static const unsigned char needs_escape[256] = {
    [0x00] = 1, [0x01] = 1, [0x02] = 1, [0x03] = 1, [0x04] = 1, [0x05] = 1, [0x06] = 1,
    [0x07] = 1, [0x08] = 1, [0x09] = 1, [0x0a] = 1, [0x0b] = 1, [0x0c] = 1, [0x0d] = 1,
    [0x0e] = 1, [0x0f] = 1, [0x10] = 1, [0x11] = 1, [0x12] = 1, [0x13] = 1, [0x14] = 1,
    [0x15] = 1, [0x16] = 1, [0x17] = 1, [0x18] = 1, [0x19] = 1, [0x1a] = 1, [0x1b] = 1,
    [0x1c] = 1, [0x1d] = 1, [0x1e] = 1, [0x1f] = 1, ['"'] = 1,  ['\\'] = 1, [0x7f] = 1,
};

void jw_strn(jsonw *w, const char *s, size_t n)
{
    /* The common case first: no escapes, n + 2 bytes. An escape makes room for the worst case
     * of the rest (\u00XX, six bytes a byte) when it is met. */
    if (n > SIZE_MAX / 8 || !jw__room(w, n + 2))
        return;
    size_t o = w->len;
    w->buf[o++] = '"';
    size_t i = 0;
    for (;;) {
        size_t run = i;
        while (run < n && !needs_escape[(unsigned char)s[run]])
            run++;
        memcpy(w->buf + o, s + i, run - i);
        o += run - i;
        i = run;
        if (i == n)
            break;
        w->len = o;
        if (!jw__room(w, (n - i) * 6 + 1))
            return;
        unsigned char c = (unsigned char)s[i++];
        char *e = w->buf + o;
        e[0] = '\\';
        if (c == '"' || c == '\\') {
            e[1] = (char)c;
            o += 2;
        } else {
            memcpy(e + 1, "u00", 3);
            sess_hex_encode(&c, 1, e + 4); /* its NUL lands in the room reserved above */
            o += 6;
        }
    }
    w->buf[o++] = '"';
    w->buf[o] = '\0';
    w->len = o;
}

void jw_str(jsonw *w, const char *s)
{
    jw_strn(w, s, strlen(s));
}

void jw_hex(jsonw *w, const uint8_t *bytes, size_t len)
{
    if (len > SIZE_MAX / 4 || !jw__room(w, len * 2 + 2))
        return;
    char *o = w->buf + w->len;
    *o++ = '"';
    sess_hex_encode(bytes, len, o);
    o += 2 * len;
    *o++ = '"';
    *o = '\0';
    w->len = (size_t)(o - w->buf);
}

void jw_int(jsonw *w, int64_t v)
{
    char text[SESS_I64_STRLEN + 1];
    jw_raw(w, text, sess_i64_text(v, text));
}

void jw_bool(jsonw *w, bool v)
{
    jw_raw(w, v ? "true" : "false", v ? 4 : 5);
}
