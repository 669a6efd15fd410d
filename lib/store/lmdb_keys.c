/*
 * lmdb_keys.c - API keys in the LMDB backend: two databases kept in step, each change in one
 * write transaction: apikeys (name -> key hash + created), which lists and revokes keys by name,
 * and apikey_hash (key hash -> name), which finds the key a request presents by its hash. Neither
 * a name nor a hash is ever taken twice.
 */
#include <stdint.h>
#include <string.h>

#include <lmdb.h>

#include "sessiond/error.h"
#include "sessiond/store.h"
#include "lmdb_int.h"

#define APIKEY_VALUE_BYTES (SESS_HASH_BYTES + 8)

static int apikey_put_in(MDB_txn *txn, const lmdb_store *s, const MDB_val *name,
                         const uint8_t *hash, int64_t created)
{
    uint8_t val[APIKEY_VALUE_BYTES];
    memcpy(val, hash, SESS_HASH_BYTES);
    sess__lmdb_put_be64(val + SESS_HASH_BYTES, (uint64_t)created);
    MDB_val k = *name, v = mval(val, sizeof(val));
    int rc = mdb_put(txn, s->dbi[DBI_APIKEYS], &k, &v, MDB_NOOVERWRITE);
    if (rc != 0)
        return sess__lmdb_map_err(rc);
    k = mval(hash, SESS_HASH_BYTES);
    v = *name;
    return sess__lmdb_map_err(mdb_put(txn, s->dbi[DBI_APIKEY_HASH], &k, &v, MDB_NOOVERWRITE));
}

static int apikey_put_once(sess_store *st, const char *name, const uint8_t hash[SESS_HASH_BYTES],
                           int64_t created)
{
    lmdb_store *s = from_base(st);
    MDB_txn *txn;
    MDB_val k;
    int rc = sess__lmdb_name_val(name, SESS_APIKEY_NAME_MAX, &k);
    if (rc != 0 || (rc = sess__lmdb_wtxn_begin(s, &txn)) != 0)
        return rc;
    return sess__lmdb_wtxn_end(s, txn, apikey_put_in(txn, s, &k, hash, created));
}

int sess__lmdb_apikey_put(sess_store *st, const char *name, const uint8_t hash[SESS_HASH_BYTES],
                          int64_t created)
{
    GROWING(apikey_put_once, st, name, hash, created);
}

int sess__lmdb_apikey_find(sess_store *st, const uint8_t hash[SESS_HASH_BYTES],
                           char name[SESS_APIKEY_NAME_MAX + 1])
{
    lmdb_store *s = from_base(st);
    MDB_val k = mval(hash, SESS_HASH_BYTES), v;
    rtxn r;
    int rc = sess__lmdb_rtxn_begin(s, &r);
    if (rc != 0)
        return rc;
    rc = sess__lmdb_map_err(mdb_get(r.txn, s->dbi[DBI_APIKEY_HASH], &k, &v));
    if (rc == 0 && (v.mv_size == 0 || v.mv_size > SESS_APIKEY_NAME_MAX))
        rc = SESS_ECORRUPT;
    if (rc == 0) {
        memcpy(name, v.mv_data, v.mv_size);
        name[v.mv_size] = '\0';
    }
    sess__lmdb_rtxn_end(&r);
    return rc;
}

static int apikey_del_in(MDB_txn *txn, const lmdb_store *s, const MDB_val *name)
{
    MDB_val k = *name, v, hv;
    int rc = mdb_get(txn, s->dbi[DBI_APIKEYS], &k, &v);
    if (rc != 0)
        return sess__lmdb_map_err(rc);
    if (v.mv_size != APIKEY_VALUE_BYTES)
        return SESS_ECORRUPT;
    MDB_val hk = mval(v.mv_data, SESS_HASH_BYTES);
    rc = mdb_get(txn, s->dbi[DBI_APIKEY_HASH], &hk, &hv);
    if (rc == 0 && hv.mv_size == name->mv_size &&
        memcmp(hv.mv_data, name->mv_data, name->mv_size) == 0)
        rc = mdb_del(txn, s->dbi[DBI_APIKEY_HASH], &hk, NULL);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return sess__lmdb_map_err(rc);
    k = *name;
    return sess__lmdb_map_err(mdb_del(txn, s->dbi[DBI_APIKEYS], &k, NULL));
}

static int apikey_del_once(sess_store *st, const char *name)
{
    lmdb_store *s = from_base(st);
    MDB_txn *txn;
    MDB_val k;
    if (sess__lmdb_name_val(name, SESS_APIKEY_NAME_MAX, &k) != 0)
        return s->read_only ? SESS_EINVAL : SESS_ENOTFOUND; /* no such name can exist */
    int rc = sess__lmdb_wtxn_begin(s, &txn);
    return rc != 0 ? rc : sess__lmdb_wtxn_end(s, txn, apikey_del_in(txn, s, &k));
}

int sess__lmdb_apikey_del(sess_store *st, const char *name)
{
    GROWING(apikey_del_once, st, name);
}

static int apikey_list_in(MDB_txn *txn, const lmdb_store *s, sess_apikey_cb cb, void *arg)
{
    MDB_cursor *cur;
    MDB_val k, v;
    char name[SESS_APIKEY_NAME_MAX + 1];
    int rc = sess__lmdb_map_err(mdb_cursor_open(txn, s->dbi[DBI_APIKEYS], &cur));
    if (rc != 0)
        return rc;
    for (int mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); mrc != MDB_NOTFOUND;
         mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (mrc != 0) {
            rc = sess__lmdb_map_err(mrc);
            break;
        }
        if (k.mv_size == 0 || k.mv_size > SESS_APIKEY_NAME_MAX || v.mv_size != APIKEY_VALUE_BYTES) {
            rc = SESS_ECORRUPT;
            break;
        }
        memcpy(name, k.mv_data, k.mv_size);
        name[k.mv_size] = '\0';
        if (cb(name, (int64_t)sess__lmdb_get_be64((const uint8_t *)v.mv_data + SESS_HASH_BYTES),
               arg) != 0)
            break;
    }
    mdb_cursor_close(cur);
    return rc;
}

int sess__lmdb_apikey_list(sess_store *st, sess_apikey_cb cb, void *arg)
{
    lmdb_store *s = from_base(st);
    rtxn r;
    int rc = sess__lmdb_rtxn_begin(s, &r);
    if (rc != 0)
        return rc;
    rc = apikey_list_in(r.txn, s, cb, arg);
    sess__lmdb_rtxn_end(&r);
    return rc;
}
