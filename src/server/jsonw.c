/*
 * jsonw.c - the append-only JSON writer of jsonw.h.
 */
#include "server/jsonw.h"

#include "sessiond/crypto.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void jw_init(jsonw *w)
{
    w->cap = 512;
    w->len = 0;
    w->buf = malloc(w->cap);
    w->failed = w->buf == NULL;
    w->secret = false;
    if (w->buf)
        w->buf[0] = '\0';
}

void jw_free(jsonw *w)
{
    if (w->secret && w->buf)
        sess_wipe(w->buf, w->cap);
    free(w->buf);
    w->buf = NULL;
}

static bool reserve(jsonw *w, size_t more)
{
    if (w->failed)
        return false;
    if (w->len + more + 1 <= w->cap)
        return true;
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
    free(w->buf);
    w->buf = b;
    w->cap = cap;
    return true;
}

void jw_raw(jsonw *w, const char *s, size_t len)
{
    if (!reserve(w, len))
        return;
    memcpy(w->buf + w->len, s, len);
    w->len += len;
    w->buf[w->len] = '\0';
}

void jw_str(jsonw *w, const char *s)
{
    size_t n = strlen(s);
    /* Worst case: every byte becomes \u00XX. */
    if (!reserve(w, n * 6 + 2))
        return;
    char *o = w->buf + w->len;
    *o++ = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            *o++ = '\\';
            *o++ = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            o += sprintf(o, "\\u%04x", c);
        } else {
            *o++ = (char)c;
        }
    }
    *o++ = '"';
    w->len = (size_t)(o - w->buf);
    w->buf[w->len] = '\0';
}

void jw_int(jsonw *w, int64_t v)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof(tmp), "%" PRId64, v);
    jw_raw(w, tmp, (size_t)n);
}

void jw_key(jsonw *w, const char *key, bool first)
{
    if (!first)
        jw_raw(w, ",", 1);
    jw_str(w, key);
    jw_raw(w, ":", 1);
}
