/*
 * lmdb_codec.c - the bytes the LMDB backend stores: the versioned binary session record (the
 * sessions values), the entries of the per-user index (usess), big-endian integers, and the
 * keys made of user and API key names. No transaction here: the operations (lmdb.c,
 * lmdb_users.c, lmdb_keys.c) read and write these bytes inside theirs. The layout is the store's
 * on-disk format (format version 1, checked by lmdb_env.c): it changes only with that version.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <lmdb.h>

#include "../codec.h"
#include "sessiond/error.h"
#include "sessiond/record.h"
#include "lmdb_int.h"

#define REC_VERSION 1u /* first byte of every sessions value */

/* ---- integers and keys ---- */

void sess__lmdb_put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

uint64_t sess__lmdb_get_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

/* A key for a bounded, non-empty name (user or API key name); SESS_EINVAL otherwise. */
int sess__lmdb_name_val(const char *name, size_t max, MDB_val *out)
{
    size_t n = name != NULL ? strnlen(name, max + 1) : 0;
    if (n == 0 || n > max)
        return SESS_EINVAL;
    *out = mval(name, n);
    return 0;
}

void sess__lmdb_usess_entry(uint8_t out[USESS_ENTRY_BYTES], int64_t created, const uint8_t *id)
{
    /* Flipping the sign bit makes big-endian byte order match signed numeric order. */
    sess__lmdb_put_be64(out, (uint64_t)created ^ ((uint64_t)1 << 63));
    memcpy(out + 8, id, SESS_ID_BYTES);
}

/* ---- the session record encoding ----
 *
 * version u8 | flags u32 | created, last_seen, idle_expires, abs_expires, auth_time, prev_until
 * i64 | generation u64 | csrf_secret 32 | token_hash 32 | prev_hash 32 | user, roles, ip, agent
 * as u16 length + bytes | data as u32 length + bytes. Integers big-endian; the id is the key.
 * Decoding checks every length against the record's fixed field and the value's size. */

#define REC_FIXED_BYTES (1 + 4 + 7 * 8 + SESS_CSRF_SECRET_BYTES + 2 * SESS_HASH_BYTES)

/* Measures a record to encode; SESS_EINVAL when a fixed field is not terminated. */
int sess__lmdb_rec_measure(const sess_record *r, rec_lens *l)
{
    l->user = strnlen(r->user, sizeof(r->user));
    l->roles = strnlen(r->roles, sizeof(r->roles));
    l->ip = strnlen(r->ip, sizeof(r->ip));
    l->agent = strnlen(r->agent, sizeof(r->agent));
    if (l->user == sizeof(r->user) || l->roles == sizeof(r->roles) || l->ip == sizeof(r->ip) ||
        l->agent == sizeof(r->agent))
        return SESS_EINVAL;
    if (r->data != NULL && r->data_len > 0) {
        if (r->data_len > UINT32_MAX)
            return SESS_ETOOLARGE;
        l->data_text = r->data;
        l->data = r->data_len;
    } else {
        l->data_text = "{}";
        l->data = 2;
    }
    return 0;
}

size_t sess__lmdb_rec_size(const rec_lens *l)
{
    return REC_FIXED_BYTES + 2 + l->user + 2 + l->roles + 2 + l->ip + 2 + l->agent + 4 + l->data;
}

int sess__lmdb_rec_encode(const sess_record *r, const rec_lens *l, uint8_t *p)
{
    sess_writer w = sess_writer_of(p, sess__lmdb_rec_size(l), SESS_BIG_ENDIAN);
    sess_put_uint(&w, REC_VERSION, 1);
    sess_put_uint(&w, r->flags, 4);
    sess_put_uint(&w, (uint64_t)r->created, 8);
    sess_put_uint(&w, (uint64_t)r->last_seen, 8);
    sess_put_uint(&w, (uint64_t)r->idle_expires, 8);
    sess_put_uint(&w, (uint64_t)r->abs_expires, 8);
    sess_put_uint(&w, (uint64_t)r->auth_time, 8);
    sess_put_uint(&w, (uint64_t)r->prev_until, 8);
    sess_put_uint(&w, r->generation, 8);
    sess_put(&w, r->csrf_secret, SESS_CSRF_SECRET_BYTES);
    sess_put(&w, r->token_hash, SESS_HASH_BYTES);
    sess_put(&w, r->prev_hash, SESS_HASH_BYTES);
    sess_put_counted(&w, r->user, l->user, 2);
    sess_put_counted(&w, r->roles, l->roles, 2);
    sess_put_counted(&w, r->ip, l->ip, 2);
    sess_put_counted(&w, r->agent, l->agent, 2);
    sess_put_counted(&w, l->data_text, l->data, 4);
    /* sess__lmdb_rec_size measured exactly these fields: anything else is a bug here, and the
     * caller's transaction is then aborted rather than a short record committed. */
    return !w.over && w.p == w.end ? 0 : SESS_EINTERNAL;
}

/* Decodes a sessions value into `out` (initialised here). With want_data false, out->data stays
 * NULL (internal use only). SESS_ECORRUPT for anything that is not a well-formed record. */
int sess__lmdb_rec_decode(const MDB_val *v, sess_record *out, bool want_data)
{
    sess_reader r = sess_reader_of(v->mv_data, v->mv_size, SESS_BIG_ENDIAN);
    sess_record_init(out);
    if (sess_take_uint(&r, 1) != REC_VERSION)
        return SESS_ECORRUPT;
    out->flags = (uint32_t)sess_take_uint(&r, 4);
    out->created = (int64_t)sess_take_uint(&r, 8);
    out->last_seen = (int64_t)sess_take_uint(&r, 8);
    out->idle_expires = (int64_t)sess_take_uint(&r, 8);
    out->abs_expires = (int64_t)sess_take_uint(&r, 8);
    out->auth_time = (int64_t)sess_take_uint(&r, 8);
    out->prev_until = (int64_t)sess_take_uint(&r, 8);
    out->generation = sess_take_uint(&r, 8);
    sess_take_bytes(&r, out->csrf_secret, SESS_CSRF_SECRET_BYTES);
    sess_take_bytes(&r, out->token_hash, SESS_HASH_BYTES);
    sess_take_bytes(&r, out->prev_hash, SESS_HASH_BYTES);
    sess_take_counted_str(&r, 2, out->user, sizeof(out->user));
    sess_take_counted_str(&r, 2, out->roles, sizeof(out->roles));
    sess_take_counted_str(&r, 2, out->ip, sizeof(out->ip));
    sess_take_counted_str(&r, 2, out->agent, sizeof(out->agent));
    size_t dlen = (size_t)sess_take_uint(&r, 4);
    const uint8_t *data = sess_take(&r, dlen);
    if (!sess_read_all(&r) || out->user[0] == '\0' || dlen == 0 || memchr(data, 0, dlen) != NULL) {
        sess_record_dispose(out);
        return SESS_ECORRUPT;
    }
    if (want_data && sess_record_set_data(out, (const char *)data, dlen) != 0) {
        sess_record_dispose(out);
        return SESS_ENOMEM;
    }
    return 0;
}
