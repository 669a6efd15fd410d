/*
 * jsonflat.c - the flat-object shortcut of jsonflat.h. A first pass checks the whole text and
 * notes where each member is; only a text that passes is built into a jansson object, so a text
 * handed on to jansson costs one scan and no allocation.
 */
#include "core/jsonflat.h"

#include <stdbool.h>
#include <string.h>

/* JSON's whitespace, and nothing else (no \f, \v: jansson refuses them). */
static bool is_ws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static size_t skip_ws(const char *s, size_t i, size_t n)
{
    while (i < n && is_ws((unsigned char)s[i]))
        i++;
    return i;
}

/* 1 for the bytes a string may hold here: printable ASCII but " and \. */
static const unsigned char plain[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x00 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x10 */
    1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x20 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x30 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x40 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, /* 0x50 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x60 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, /* 0x70 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x80 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x90 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xa0 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xb0 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xc0 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xd0 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xe0 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xf0 */
};

/* A string of printable ASCII without escapes starting at s[i] == '"': its contents in
 * out and out_len, and the index after the closing quote; 0 when it is anything else. */
static size_t plain_string(const char *s, size_t i, size_t n, const char **out, size_t *out_len)
{
    if (i >= n || s[i] != '"')
        return 0;
    size_t start = ++i;
    while (i < n && plain[(unsigned char)s[i]])
        i++;
    if (i >= n || s[i] != '"')
        return 0;
    *out = s + start;
    *out_len = i - start;
    return i + 1;
}

/* The literal `lit` at s[i]; the index after it, or 0. What follows is checked by the caller
 * (only whitespace, ',' or '}' may). */
static size_t literal(const char *s, size_t i, size_t n, const char *lit, size_t lit_len)
{
    if (n - i < lit_len || memcmp(s + i, lit, lit_len) != 0)
        return 0;
    return i + lit_len;
}

/* One value at s[i] into *m; the index after it, or 0 when it is not one handled here. */
static size_t value(const char *s, size_t i, size_t n, sessd_flat_member *m)
{
    if (i >= n)
        return 0;
    m->val = NULL;
    m->val_len = 0;
    switch (s[i]) {
    case '"':
        m->kind = SESSD_FLAT_STRING;
        return plain_string(s, i, n, &m->val, &m->val_len);
    case 't':
        m->kind = SESSD_FLAT_TRUE;
        return literal(s, i, n, "true", 4);
    case 'f':
        m->kind = SESSD_FLAT_FALSE;
        return literal(s, i, n, "false", 5);
    case 'n':
        m->kind = SESSD_FLAT_NULL;
        return literal(s, i, n, "null", 4);
    default:
        return 0;
    }
}

static bool duplicate(const sessd_flat_member *ms, size_t count, const sessd_flat_member *m)
{
    for (size_t k = 0; k < count; k++)
        if (ms[k].key_len == m->key_len && memcmp(ms[k].key, m->key, m->key_len) == 0)
            return true;
    return false;
}

/* The first pass: the members of the object in s[0..n), or -1 when the text is not handled. */
static int scan(const char *s, size_t n, sessd_flat_member *ms)
{
    size_t i = skip_ws(s, 0, n), count = 0;
    if (i >= n || s[i] != '{')
        return -1;
    i = skip_ws(s, i + 1, n);
    if (i < n && s[i] == '}') {
        i++;
    } else {
        for (;;) {
            if (count == SESSD_JSONFLAT_MAX_MEMBERS)
                return -1;
            sessd_flat_member *m = &ms[count];
            if ((i = plain_string(s, i, n, &m->key, &m->key_len)) == 0)
                return -1;
            i = skip_ws(s, i, n);
            if (i >= n || s[i] != ':')
                return -1;
            if ((i = value(s, skip_ws(s, i + 1, n), n, m)) == 0)
                return -1;
            if (duplicate(ms, count, m))
                return -1;
            count++;
            i = skip_ws(s, i, n);
            if (i >= n)
                return -1;
            if (s[i] == '}') {
                i++;
                break;
            }
            if (s[i] != ',')
                return -1;
            i = skip_ws(s, i + 1, n);
        }
    }
    return skip_ws(s, i, n) == n ? (int)count : -1;
}

static json_t *member_value(const sessd_flat_member *m)
{
    switch (m->kind) {
    case SESSD_FLAT_STRING:
        /* Printable ASCII: valid UTF-8 without NUL, which is what the check would confirm. */
        return json_stringn_nocheck(m->val, m->val_len);
    case SESSD_FLAT_TRUE:
        return json_true();
    case SESSD_FLAT_FALSE:
        return json_false();
    default:
        return json_null();
    }
}

int sessd_jsonflat_scan(const char *text, size_t len, sessd_flat *out)
{
    if (text == NULL || len == 0 || len > SESSD_JSONFLAT_MAX_BYTES)
        return -1;
    int count = scan(text, len, out->m);
    if (count < 0)
        return -1;
    out->count = (size_t)count;
    return 0;
}

json_t *sessd_jsonflat_parse(const char *text, size_t len)
{
    sessd_flat flat;
    if (sessd_jsonflat_scan(text, len, &flat) != 0)
        return NULL;
    json_t *obj = json_object();
    if (obj == NULL)
        return NULL;
    for (size_t k = 0; k < flat.count; k++) {
        const sessd_flat_member *m = &flat.m[k];
        json_t *v = member_value(m);
        if (v == NULL || json_object_setn_new_nocheck(obj, m->key, m->key_len, v) != 0) {
            json_decref(obj);
            return NULL;
        }
    }
    return obj;
}
