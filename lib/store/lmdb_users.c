/*
 * lmdb_users.c - what the LMDB backend keeps per user besides sessions: preferences (prefs:
 * user -> canonical JSON text, replaced or merge-patched in one write transaction) and accounts
 * (accounts: user -> the account record of lib/users.c, opaque here, created when the name is
 * free or replaced only when it is still exactly the record the caller read). A read-only handle
 * on an environment made before "accounts" existed sees no accounts (see lmdb.c).
 */
#include <stdlib.h>
#include <string.h>

#include <lmdb.h>

#include "sessiond/error.h"
#include "sessiond/store.h"
#include "../json_merge.h"
#include "lmdb_int.h"

/* ---- preferences ---- */

static char *dup_text(const void *p, size_t n)
{
    char *t = malloc(n + 1);
    if (t != NULL) {
        memcpy(t, p, n);
        t[n] = '\0';
    }
    return t;
}

int sess__lmdb_prefs_get(sess_store *st, const char *user, char **json, size_t *len)
{
    lmdb_store *s = from_base(st);
    MDB_val k, v;
    rtxn r;
    int rc = sess__lmdb_name_val(user, SESS_USER_MAX, &k);
    if (rc != 0 || (rc = sess__lmdb_rtxn_begin(s, &r)) != 0)
        return rc;
    rc = sess__lmdb_map_err(mdb_get(r.txn, s->dbi[DBI_PREFS], &k, &v));
    if (rc == 0) {
        *json = dup_text(v.mv_data, v.mv_size);
        rc = *json == NULL ? SESS_ENOMEM : 0;
        if (rc == 0 && len != NULL)
            *len = v.mv_size;
    }
    sess__lmdb_rtxn_end(&r);
    return rc;
}

static int prefs_store(MDB_txn *txn, const lmdb_store *s, const MDB_val *user, const char *json,
                       size_t len)
{
    MDB_val k = *user, v = mval(json, len);
    return sess__lmdb_map_err(mdb_put(txn, s->dbi[DBI_PREFS], &k, &v, 0));
}

static int prefs_put_once(sess_store *st, const char *user, const char *json, size_t len,
                          size_t max_bytes)
{
    lmdb_store *s = from_base(st);
    MDB_txn *txn;
    MDB_val k;
    char *text;
    size_t text_len;
    int rc = sess__lmdb_name_val(user, SESS_USER_MAX, &k);
    if (rc != 0 || (rc = sess_json_canonical(json, len, max_bytes, &text, &text_len)) != 0)
        return rc;
    if ((rc = sess__lmdb_wtxn_begin(s, &txn)) == 0)
        rc = sess__lmdb_wtxn_end(s, txn, prefs_store(txn, s, &k, text, text_len));
    free(text);
    return rc;
}

int sess__lmdb_prefs_put(sess_store *st, const char *user, const char *json, size_t len,
                         size_t max_bytes)
{
    GROWING(prefs_put_once, st, user, json, len, max_bytes);
}

static int prefs_patch_in(MDB_txn *txn, const lmdb_store *s, const MDB_val *user, const char *patch,
                          size_t len, size_t max_bytes, char **res, size_t *res_len)
{
    MDB_val k = *user, v = {0, NULL};
    int rc = mdb_get(txn, s->dbi[DBI_PREFS], &k, &v);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return sess__lmdb_map_err(rc);
    /* The stored text is read in place; the merge copies it out before anything is written. */
    rc = sess_json_merge(v.mv_data, v.mv_size, patch, len, max_bytes, res, res_len);
    if (rc == 0 && (rc = prefs_store(txn, s, user, *res, *res_len)) != 0) {
        free(*res);
        *res = NULL;
    }
    return rc;
}

static int prefs_patch_once(sess_store *st, const char *user, const char *patch, size_t len,
                            size_t max_bytes, char **result, size_t *result_len)
{
    lmdb_store *s = from_base(st);
    MDB_txn *txn;
    MDB_val k;
    char *res = NULL;
    size_t res_len = 0;
    int rc = sess__lmdb_name_val(user, SESS_USER_MAX, &k);
    if (rc != 0 || (rc = sess__lmdb_wtxn_begin(s, &txn)) != 0)
        return rc;
    rc = sess__lmdb_wtxn_end(s, txn,
                             prefs_patch_in(txn, s, &k, patch, len, max_bytes, &res, &res_len));
    if (rc == 0 && result != NULL) {
        *result = res;
        if (result_len != NULL)
            *result_len = res_len;
        res = NULL;
    }
    free(res);
    return rc;
}

int sess__lmdb_prefs_patch(sess_store *st, const char *user, const char *patch, size_t len,
                           size_t max_bytes, char **result, size_t *result_len)
{
    GROWING(prefs_patch_once, st, user, patch, len, max_bytes, result, result_len);
}

/* ---- user accounts ---- */

int sess__lmdb_user_get(sess_store *st, const char *user, uint8_t *buf, size_t cap, size_t *len)
{
    lmdb_store *s = from_base(st);
    MDB_val k, v;
    rtxn r;
    int rc = sess__lmdb_name_val(user, SESS_USER_MAX, &k);
    if (rc != 0)
        return rc;
    if (s->no_accounts)
        return SESS_ENOTFOUND;
    if ((rc = sess__lmdb_rtxn_begin(s, &r)) != 0)
        return rc;
    rc = sess__lmdb_map_err(mdb_get(r.txn, s->dbi[DBI_ACCOUNTS], &k, &v));
    if (rc == 0 && (v.mv_size == 0 || v.mv_size > SESS_ACCOUNT_MAX))
        rc = SESS_ECORRUPT;
    else if (rc == 0 && v.mv_size > cap)
        rc = SESS_ETOOLARGE;
    if (rc == 0) {
        memcpy(buf, v.mv_data, v.mv_size);
        *len = v.mv_size;
    }
    sess__lmdb_rtxn_end(&r);
    return rc;
}

/* Create (prev NULL: the name must be free) or compare-and-replace (the stored record must be
 * exactly prev). */
static int user_put_in(MDB_txn *txn, const lmdb_store *s, const MDB_val *user, const uint8_t *rec,
                       size_t len, const uint8_t *prev, size_t prev_len)
{
    MDB_val k = *user, v;
    int rc = mdb_get(txn, s->dbi[DBI_ACCOUNTS], &k, &v);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return sess__lmdb_map_err(rc);
    if (prev == NULL && rc == 0)
        return SESS_EEXIST;
    if (prev != NULL && rc == MDB_NOTFOUND)
        return SESS_ENOTFOUND;
    if (prev != NULL && (v.mv_size != prev_len || memcmp(v.mv_data, prev, prev_len) != 0))
        return SESS_ECONFLICT;
    k = *user;
    v = mval(rec, len);
    return sess__lmdb_map_err(mdb_put(txn, s->dbi[DBI_ACCOUNTS], &k, &v, 0));
}

static int user_put_once(sess_store *st, const char *user, const uint8_t *rec, size_t len,
                         const uint8_t *prev, size_t prev_len)
{
    lmdb_store *s = from_base(st);
    MDB_txn *txn;
    MDB_val k;
    int rc = sess__lmdb_name_val(user, SESS_USER_MAX, &k);
    if (rc != 0 || len == 0 || len > SESS_ACCOUNT_MAX)
        return SESS_EINVAL;
    if ((rc = sess__lmdb_wtxn_begin(s, &txn)) != 0)
        return rc;
    return sess__lmdb_wtxn_end(s, txn, user_put_in(txn, s, &k, rec, len, prev, prev_len));
}

int sess__lmdb_user_put(sess_store *st, const char *user, const uint8_t *rec, size_t len,
                        const uint8_t *prev, size_t prev_len)
{
    GROWING(user_put_once, st, user, rec, len, prev, prev_len);
}

static int user_del_once(sess_store *st, const char *user)
{
    lmdb_store *s = from_base(st);
    MDB_txn *txn;
    MDB_val k;
    int rc = sess__lmdb_name_val(user, SESS_USER_MAX, &k);
    if (rc != 0 || (rc = sess__lmdb_wtxn_begin(s, &txn)) != 0)
        return rc;
    return sess__lmdb_wtxn_end(s, txn,
                               sess__lmdb_map_err(mdb_del(txn, s->dbi[DBI_ACCOUNTS], &k, NULL)));
}

int sess__lmdb_user_del(sess_store *st, const char *user)
{
    GROWING(user_del_once, st, user);
}

static int user_list_in(MDB_txn *txn, const lmdb_store *s, sess_account_cb cb, void *arg)
{
    MDB_cursor *cur;
    MDB_val k, v;
    char name[SESS_USER_MAX + 1];
    int rc = sess__lmdb_map_err(mdb_cursor_open(txn, s->dbi[DBI_ACCOUNTS], &cur));
    if (rc != 0)
        return rc;
    for (int mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); mrc != MDB_NOTFOUND;
         mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (mrc != 0) {
            rc = sess__lmdb_map_err(mrc);
            break;
        }
        if (k.mv_size == 0 || k.mv_size > SESS_USER_MAX || v.mv_size == 0 ||
            v.mv_size > SESS_ACCOUNT_MAX) {
            rc = SESS_ECORRUPT;
            break;
        }
        memcpy(name, k.mv_data, k.mv_size);
        name[k.mv_size] = '\0';
        if (cb(name, v.mv_data, v.mv_size, arg) != 0)
            break;
    }
    mdb_cursor_close(cur);
    return rc;
}

/* The callback runs inside the read transaction; a write it makes goes through its own write
 * transaction (LMDB allows one reader and one writer per thread with MDB_NOTLS). */
int sess__lmdb_user_list(sess_store *st, sess_account_cb cb, void *arg)
{
    lmdb_store *s = from_base(st);
    rtxn r;
    if (s->no_accounts)
        return 0;
    int rc = sess__lmdb_rtxn_begin(s, &r);
    if (rc != 0)
        return rc;
    rc = user_list_in(r.txn, s, cb, arg);
    sess__lmdb_rtxn_end(&r);
    return rc;
}
