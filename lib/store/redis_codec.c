/*
 * redis_codec.c - how the Redis backend lays a session record and a JSON object out as the
 * fields of a Redis hash, and reads them back (the layout is described in redis_scripts.c).
 *
 * Fixed fields are named by one table; decoding checks every field against its bound (string
 * capacity, exact length of binary fields, strict decimal numbers) and refuses a hash that
 * lacks one with SESS_ECORRUPT. A JSON object becomes one field per top-level member, key and
 * value each as the same compact text jansson writes for the whole object, so that the object's
 * compact size is known from the field sizes and a patch can replace one member at a time.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "redis_int.h"
#include "sessiond/error.h"

/* ---- JSON objects as members ----------------------------------------------------------- */

void sess__rs_members_dispose(rs_members *ms)
{
    for (size_t i = 0; i < ms->n; i++) {
        free(ms->m[i].field);
        free(ms->m[i].val);
    }
    free(ms->m);
    memset(ms, 0, sizeof(*ms));
}

char *sess__rs_json_text(const json_t *v, size_t *len)
{
    char *t = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    if (t != NULL)
        *len = strlen(t);
    return t;
}

int sess__rs_member_field(const char *key, char **field, size_t *flen)
{
    json_t *s = json_string(key);
    size_t klen = 0;
    char *k = s != NULL ? sess__rs_json_text(s, &klen) : NULL;
    json_decref(s);
    if (k == NULL)
        return SESS_ENOMEM;
    *field = malloc(klen + 3);
    if (*field == NULL) {
        free(k);
        return SESS_ENOMEM;
    }
    memcpy(*field, "d:", 2);
    memcpy(*field + 2, k, klen + 1);
    *flen = klen + 2;
    free(k);
    return 0;
}

int sess__rs_members_from_object(json_t *obj, rs_members *out)
{
    const char *key;
    json_t *v;
    memset(out, 0, sizeof(*out));
    if (json_object_size(obj) > 0 &&
        (out->m = calloc(json_object_size(obj), sizeof(*out->m))) == NULL)
        return SESS_ENOMEM;
    json_object_foreach(obj, key, v)
    {
        rs_member *m = &out->m[out->n];
        if (sess__rs_member_field(key, &m->field, &m->flen) != 0 ||
            (m->val = sess__rs_json_text(v, &m->vlen)) == NULL) {
            free(m->field);
            sess__rs_members_dispose(out);
            return SESS_ENOMEM;
        }
        out->dsz += (int64_t)(m->flen - 2 + 1 + m->vlen);
        out->n++;
    }
    return 0;
}

int sess__rs_members_from_json(const char *json, size_t len, rs_members *out)
{
    json_error_t jerr;
    memset(out, 0, sizeof(*out));
    json_t *obj = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(obj)) {
        json_decref(obj);
        return SESS_EINVAL;
    }
    int r = sess__rs_members_from_object(obj, out);
    json_decref(obj);
    return r;
}

size_t sess__rs_members_size(const rs_members *ms)
{
    return 2 + (size_t)ms->dsz + (ms->n > 0 ? ms->n - 1 : 0);
}

void sess__rs_args_members(rs_args *a, const rs_members *ms)
{
    for (size_t i = 0; i < ms->n; i++) {
        sess__rs_args_bin(a, ms->m[i].field, ms->m[i].flen);
        sess__rs_args_bin(a, ms->m[i].val, ms->m[i].vlen);
    }
    sess__rs_args_str(a, "dsz");
    sess__rs_args_i64(a, ms->dsz);
    sess__rs_args_str(a, "dn");
    sess__rs_args_i64(a, (int64_t)ms->n);
}

typedef struct member_ref {
    const char *k, *v;
    size_t klen, vlen;
} member_ref;

static int ref_order(const void *a, const void *b)
{
    const member_ref *x = a, *y = b;
    size_t n = x->klen < y->klen ? x->klen : y->klen;
    int c = memcmp(x->k, y->k, n);
    return c != 0 ? c : (x->klen > y->klen) - (x->klen < y->klen);
}

static bool is_member(const redisReply *k)
{
    return k->len > 2 && k->str[0] == 'd' && k->str[1] == ':';
}

int sess__rs_object_from_hash(const redisReply *h, char **json, size_t *len)
{
    size_t n = 0, total = 2, at = 0;
    member_ref *refs = malloc((h->elements / 2 + 1) * sizeof(*refs));
    if (refs == NULL)
        return SESS_ENOMEM;
    for (size_t i = 0; i + 1 < h->elements; i += 2) {
        const redisReply *k = h->element[i], *v = h->element[i + 1];
        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING || !is_member(k))
            continue;
        refs[n++] = (member_ref){k->str + 2, v->str, k->len - 2, v->len};
        total += k->len - 2 + 1 + v->len + (n > 1);
    }
    qsort(refs, n, sizeof(*refs), ref_order);
    char *out = malloc(total + 1);
    if (out == NULL) {
        free(refs);
        return SESS_ENOMEM;
    }
    out[at++] = '{';
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            out[at++] = ',';
        memcpy(out + at, refs[i].k, refs[i].klen);
        at += refs[i].klen;
        out[at++] = ':';
        memcpy(out + at, refs[i].v, refs[i].vlen);
        at += refs[i].vlen;
    }
    out[at++] = '}';
    out[at] = '\0';
    free(refs);
    *json = out;
    *len = at;
    return 0;
}

/* ---- session records ------------------------------------------------------------------- */

typedef enum { F_STR, F_I64, F_U64, F_U32, F_BIN } ftype;

typedef struct rec_field {
    const char *name;
    ftype type;
    size_t offset, size; /* F_STR: capacity with the NUL; F_BIN: exact length */
    bool required;
} rec_field;

#define RF(name, type, member, req)                                                                \
    {                                                                                              \
        name, type, offsetof(sess_record, member), sizeof(((sess_record *)0)->member), req         \
    }

static const rec_field rec_fields[] = {
    RF("u", F_STR, user, true),          RF("r", F_STR, roles, true),
    RF("ip", F_STR, ip, true),           RF("ag", F_STR, agent, true),
    RF("c", F_I64, created, true),       RF("ls", F_I64, last_seen, true),
    RF("ie", F_I64, idle_expires, true), RF("ae", F_I64, abs_expires, true),
    RF("at", F_I64, auth_time, true),    RF("pu", F_I64, prev_until, true),
    RF("g", F_U64, generation, true),    RF("f", F_U32, flags, true),
    RF("cs", F_BIN, csrf_secret, true),  RF("th", F_BIN, token_hash, true),
    RF("ph", F_BIN, prev_hash, false),
};

#define NFIELDS (sizeof(rec_fields) / sizeof(rec_fields[0]))

void sess__rs_args_record(rs_args *a, const sess_record *r)
{
    for (size_t i = 0; i < NFIELDS; i++) {
        const rec_field *f = &rec_fields[i];
        const char *p = (const char *)r + f->offset;
        if (strcmp(f->name, "g") == 0 || strcmp(f->name, "ph") == 0)
            continue; /* the script sets the generation; a new session has no previous hash */
        sess__rs_args_str(a, f->name);
        switch (f->type) {
        case F_STR:
            sess__rs_args_bin(a, p, strnlen(p, f->size - 1));
            break;
        case F_I64:
            sess__rs_args_i64(a,
                              strcmp(f->name, "pu") == 0 ? 0 : *(const int64_t *)(const void *)p);
            break;
        case F_U32:
            sess__rs_args_i64(a, *(const uint32_t *)(const void *)p);
            break;
        case F_U64:
            sess__rs_args_i64(a, (int64_t) * (const uint64_t *)(const void *)p);
            break;
        case F_BIN:
            sess__rs_args_bin(a, p, f->size);
            break;
        }
    }
}

/* A strict decimal: optional '-', digits, nothing else, in range. */
static int parse_int(const redisReply *v, bool is_signed, uint64_t max, int64_t *out)
{
    char buf[24];
    if (v->len == 0 || v->len >= sizeof(buf))
        return -1;
    memcpy(buf, v->str, v->len);
    buf[v->len] = '\0';
    const char *p = buf;
    bool neg = is_signed && *p == '-';
    p += neg;
    if (*p < '0' || *p > '9')
        return -1;
    errno = 0;
    char *end;
    unsigned long long u = strtoull(p, &end, 10);
    if (errno != 0 || *end != '\0' || u > (neg ? (uint64_t)INT64_MAX + 1 : max))
        return -1;
    *out = neg ? (int64_t)(0 - u) : (int64_t)u;
    return 0;
}

static int set_field(sess_record *r, const rec_field *f, const redisReply *v)
{
    char *p = (char *)r + f->offset;
    int64_t n;
    switch (f->type) {
    case F_STR:
        if (v->len >= f->size || memchr(v->str, '\0', v->len) != NULL)
            return -1;
        memcpy(p, v->str, v->len);
        p[v->len] = '\0';
        return 0;
    case F_I64:
        if (parse_int(v, true, INT64_MAX, &n) != 0)
            return -1;
        memcpy(p, &n, sizeof(n));
        return 0;
    case F_U64:
        if (parse_int(v, false, INT64_MAX, &n) != 0)
            return -1;
        *(uint64_t *)(void *)p = (uint64_t)n;
        return 0;
    case F_U32:
        if (parse_int(v, false, UINT32_MAX, &n) != 0)
            return -1;
        *(uint32_t *)(void *)p = (uint32_t)n;
        return 0;
    case F_BIN:
        if (v->len != f->size)
            return -1;
        memcpy(p, v->str, v->len);
        return 0;
    }
    return -1;
}

/* Decodes the fixed fields; unknown ones (and members) are skipped. */
static int decode_fixed(const redisReply *h, sess_record *out)
{
    uint32_t seen = 0;
    for (size_t i = 0; i + 1 < h->elements; i += 2) {
        const redisReply *k = h->element[i], *v = h->element[i + 1];
        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
            return SESS_ECORRUPT;
        for (size_t j = 0; j < NFIELDS; j++) {
            if (k->len != strlen(rec_fields[j].name) ||
                memcmp(k->str, rec_fields[j].name, k->len) != 0)
                continue;
            if (set_field(out, &rec_fields[j], v) != 0)
                return SESS_ECORRUPT;
            seen |= 1u << j;
        }
    }
    for (size_t j = 0; j < NFIELDS; j++)
        if (rec_fields[j].required && !(seen & (1u << j)))
            return SESS_ECORRUPT;
    return out->user[0] != '\0' ? 0 : SESS_ECORRUPT;
}

int sess__rs_record_from_hash(const redisReply *h, sess_record *out)
{
    sess_record_init(out);
    if (h->type != REDIS_REPLY_ARRAY || h->elements % 2 != 0)
        return SESS_ECORRUPT;
    int r = decode_fixed(h, out);
    if (r == 0)
        r = sess__rs_object_from_hash(h, &out->data, &out->data_len);
    if (r != 0)
        sess_record_dispose(out);
    return r;
}
