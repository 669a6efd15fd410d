/*
 * lmdb.c - the embedded, durable store backend (the default), on LMDB: the session operations
 * of sess_store_ops, and the table of every operation.
 *
 * LMDB gives what sessiond needs from a local store: a write is durable once its transaction
 * commits, a crash needs no recovery, readers never block and never take a lock, and other
 * processes (the admin CLI) can read and write the same environment while the server runs.
 * Every store operation is one transaction, so nothing is ever partially applied. The
 * environment lives in PATH/store and holds these named databases:
 *
 *   tokens       token hash (32)  -> session id (16), for current and previous token hashes
 *   sessions     session id (16)  -> a versioned binary record (see lmdb_codec.c), data JSON last
 *   usess        user             -> dups of created (8, big-endian, sign-flipped) + id (16),
 *                                    so a user's sessions sort oldest first
 *   users        user             -> generation (8, big-endian); revoke-all bumps it
 *   prefs        user             -> preferences JSON text
 *   apikeys      name             -> key hash (32) + created (8)
 *   apikey_hash  key hash (32)    -> name
 *   meta         "format"         -> store format version (4, big-endian)
 *   accounts     user             -> the opaque account record of lib/users.c
 *
 * "accounts" came after format version 1 without a version bump: it is created on the first
 * read-write open, and a read-only handle on an environment that lacks it sees no accounts. An
 * older sessiond opens an environment that has it and simply ignores it.
 *
 * The other files of the backend (lmdb_int.h): lmdb_env.c opens the environment and runs the
 * transactions, lmdb_codec.c encodes records and index entries, lmdb_users.c keeps accounts and
 * preferences, lmdb_keys.c API keys.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <lmdb.h>

#include "sessiond/crypto.h"
#include "sessiond/error.h"
#include "sessiond/record.h"
#include "sessiond/store.h"
#include "../json_merge.h"
#include "lmdb_int.h"

#define GEN_BYTES 8
/* A sweep looks at no more than this many sessions per session it may remove (and at least
 * SWEEP_SCAN_MIN, at most SWEEP_SCAN_MAX), so it holds the write lock for a bounded time even
 * when nothing is expired; the resume position makes successive sweeps cover the whole DB. */
#define SWEEP_SCAN_PER_ITEM 64
#define SWEEP_SCAN_MIN 4096
#define SWEEP_SCAN_MAX ((size_t)1 << 20)

/* ---- small helpers ---- */

static bool is_zero(const uint8_t *p, size_t n)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= p[i];
    return acc == 0;
}

/* ---- pieces shared by the operations (all inside a caller's transaction) ---- */

static int get_generation(MDB_txn *txn, const lmdb_store *s, const MDB_val *user, uint64_t *gen)
{
    MDB_val k = *user, v;
    int rc = mdb_get(txn, s->dbi[DBI_USERS], &k, &v);
    *gen = 0;
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc != 0)
        return sess__lmdb_map_err(rc);
    if (v.mv_size != GEN_BYTES)
        return SESS_ECORRUPT;
    *gen = sess__lmdb_get_be64(v.mv_data);
    return 0;
}

static int gen_of_user(MDB_txn *txn, const lmdb_store *s, const char *user, uint64_t *gen)
{
    MDB_val k;
    int rc = sess__lmdb_name_val(user, SESS_USER_MAX, &k);
    return rc != 0 ? SESS_ECORRUPT : get_generation(txn, s, &k, gen);
}

/* SESS_ESESSION when absent. */
static int rec_get(MDB_txn *txn, const lmdb_store *s, const uint8_t *id, sess_record *out,
                   bool want_data)
{
    MDB_val k = mval(id, SESS_ID_BYTES), v;
    int rc = mdb_get(txn, s->dbi[DBI_SESSIONS], &k, &v);
    if (rc != 0) {
        sess_record_init(out);
        return rc == MDB_NOTFOUND ? SESS_ESESSION : sess__lmdb_map_err(rc);
    }
    if ((rc = sess__lmdb_rec_decode(&v, out, want_data)) == 0)
        memcpy(out->id, id, SESS_ID_BYTES);
    return rc;
}

/* Writes the record straight into LMDB's reserved space (no intermediate buffer). */
static int rec_put(MDB_txn *txn, const lmdb_store *s, const sess_record *r, unsigned flags)
{
    rec_lens l;
    int rc = sess__lmdb_rec_measure(r, &l);
    if (rc != 0)
        return rc;
    MDB_val k = mval(r->id, SESS_ID_BYTES),
            v = {.mv_size = sess__lmdb_rec_size(&l), .mv_data = NULL};
    if ((rc = mdb_put(txn, s->dbi[DBI_SESSIONS], &k, &v, flags | MDB_RESERVE)) != 0)
        return sess__lmdb_map_err(rc);
    return sess__lmdb_rec_encode(r, &l, v.mv_data);
}

/* Maps a new token hash to a session id; SESS_EEXIST when the hash is already mapped (even to
 * this session: one hash standing for two of its tokens would go with the first of them). */
static int token_put(MDB_txn *txn, const lmdb_store *s, const uint8_t *hash, const uint8_t *id)
{
    MDB_val k = mval(hash, SESS_HASH_BYTES), v = mval(id, SESS_ID_BYTES);
    return sess__lmdb_map_err(mdb_put(txn, s->dbi[DBI_TOKENS], &k, &v, MDB_NOOVERWRITE));
}

/* Removes a token hash if (and only if) it names session `id`; zeros mean "no hash". */
static int token_del(MDB_txn *txn, const lmdb_store *s, const uint8_t *hash, const uint8_t *id)
{
    MDB_val k = mval(hash, SESS_HASH_BYTES), v;
    if (is_zero(hash, SESS_HASH_BYTES))
        return 0;
    int rc = mdb_get(txn, s->dbi[DBI_TOKENS], &k, &v);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc != 0)
        return sess__lmdb_map_err(rc);
    if (v.mv_size != SESS_ID_BYTES || memcmp(v.mv_data, id, SESS_ID_BYTES) != 0)
        return 0;
    return sess__lmdb_map_err(mdb_del(txn, s->dbi[DBI_TOKENS], &k, NULL));
}

static int index_del(MDB_txn *txn, const lmdb_store *s, const MDB_val *user,
                     const uint8_t entry[USESS_ENTRY_BYTES])
{
    MDB_val k = *user, v = mval(entry, USESS_ENTRY_BYTES);
    int rc = mdb_del(txn, s->dbi[DBI_USESS], &k, &v);
    return rc == MDB_NOTFOUND ? 0 : sess__lmdb_map_err(rc);
}

/* Deletes a decoded session with its token hashes and index entry. */
static int drop_record(MDB_txn *txn, const lmdb_store *s, const sess_record *r)
{
    uint8_t entry[USESS_ENTRY_BYTES];
    MDB_val user, k = mval(r->id, SESS_ID_BYTES);
    int rc = token_del(txn, s, r->token_hash, r->id);
    if (rc == 0)
        rc = token_del(txn, s, r->prev_hash, r->id);
    if (rc == 0 && sess__lmdb_name_val(r->user, SESS_USER_MAX, &user) == 0) {
        sess__lmdb_usess_entry(entry, r->created, r->id);
        rc = index_del(txn, s, &user, entry);
    }
    if (rc == 0)
        rc = sess__lmdb_map_err(mdb_del(txn, s->dbi[DBI_SESSIONS], &k, NULL));
    return rc;
}

/* Deletes a session by id. A record that no longer decodes is removed all the same (its
 * dangling token and index entries lead nowhere and are skipped or cleaned later), so that an
 * administrator can always get rid of it. SESS_ESESSION when absent. */
static int drop_by_id(MDB_txn *txn, const lmdb_store *s, const uint8_t *id)
{
    sess_record r;
    int rc = rec_get(txn, s, id, &r, false);
    if (rc == 0)
        rc = drop_record(txn, s, &r);
    else if (rc == SESS_ECORRUPT) {
        MDB_val k = mval(id, SESS_ID_BYTES);
        rc = sess__lmdb_map_err(mdb_del(txn, s->dbi[DBI_SESSIONS], &k, NULL));
    }
    sess_record_dispose(&r);
    return rc;
}

/* ---- ping, create ---- */

static int lmdb_ping(sess_store *st)
{
    rtxn r;
    if (sess__lmdb_full_now(from_base(st)->shared) != 0)
        return SESS_EFULL;
    if (sess__lmdb_rtxn_begin(from_base(st), &r) != 0)
        return SESS_ESTORE;
    sess__lmdb_rtxn_end(&r);
    return 0;
}

/* Reads all index entries of a user, oldest first, into a malloc'ed array. */
static int index_load(MDB_txn *txn, const lmdb_store *s, const MDB_val *user, uint8_t **out,
                      size_t *n)
{
    MDB_cursor *cur;
    MDB_val k = *user, v;
    size_t count = 0, cap;
    *out = NULL;
    *n = 0;
    int rc = mdb_cursor_open(txn, s->dbi[DBI_USESS], &cur);
    if (rc != 0)
        return sess__lmdb_map_err(rc);
    if ((rc = mdb_cursor_get(cur, &k, &v, MDB_SET_KEY)) != 0 ||
        (rc = mdb_cursor_count(cur, &cap)) != 0) {
        mdb_cursor_close(cur);
        return rc == MDB_NOTFOUND ? 0 : sess__lmdb_map_err(rc);
    }
    uint8_t *ents = malloc(cap * USESS_ENTRY_BYTES);
    for (rc = ents == NULL ? ENOMEM : 0; rc == 0 && count < cap; count++) {
        if (v.mv_size != USESS_ENTRY_BYTES) {
            rc = MDB_CORRUPTED;
            break;
        }
        memcpy(ents + count * USESS_ENTRY_BYTES, v.mv_data, USESS_ENTRY_BYTES);
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT_DUP);
    }
    mdb_cursor_close(cur);
    if (rc != 0 && rc != MDB_NOTFOUND) {
        free(ents);
        return sess__lmdb_map_err(rc);
    }
    *out = ents;
    *n = count;
    return 0;
}

/* Removes index entries that lead nowhere and sessions of older generations, and compacts
 * `ents` to the current generation's entries (still oldest first). */
static int index_prune(MDB_txn *txn, const lmdb_store *s, const MDB_val *user, uint64_t gen,
                       uint8_t *ents, size_t *n)
{
    size_t live = 0;
    for (size_t i = 0; i < *n; i++) {
        uint8_t *e = ents + i * USESS_ENTRY_BYTES;
        sess_record r;
        int rc = rec_get(txn, s, e + 8, &r, false);
        if (rc == SESS_ESESSION)
            rc = index_del(txn, s, user, e);
        else if (rc == 0 && r.generation < gen)
            rc = drop_record(txn, s, &r);
        else if (rc == 0)
            memmove(ents + live++ * USESS_ENTRY_BYTES, e, USESS_ENTRY_BYTES);
        sess_record_dispose(&r);
        if (rc != 0)
            return rc;
    }
    *n = live;
    return 0;
}

/* Evicts the user's oldest sessions of generation `gen` other than `keep` (the one just
 * created, whose token the caller is about to hand out) while more than `max_per_user` remain;
 * 0 means no limit. */
static int enforce_limit(MDB_txn *txn, const lmdb_store *s, const MDB_val *user, uint64_t gen,
                         const uint8_t *keep, uint32_t max_per_user, uint32_t *evicted)
{
    uint8_t *ents;
    size_t n, live;
    int rc = index_load(txn, s, user, &ents, &n);
    if (rc == 0)
        rc = index_prune(txn, s, user, gen, ents, &n);
    live = n;
    for (size_t i = 0; rc == 0 && max_per_user > 0 && live > max_per_user && i < n; i++) {
        const uint8_t *id = ents + i * USESS_ENTRY_BYTES + 8;
        if (memcmp(id, keep, SESS_ID_BYTES) == 0)
            continue;
        if ((rc = drop_by_id(txn, s, id)) == 0) {
            live--;
            (*evicted)++;
        }
    }
    free(ents);
    return rc;
}

static int create_in(MDB_txn *txn, const lmdb_store *s, const sess_record *rec,
                     uint32_t max_per_user, uint32_t *evicted)
{
    MDB_val user, k;
    uint8_t entry[USESS_ENTRY_BYTES];
    uint64_t gen;
    int rc = sess__lmdb_name_val(rec->user, SESS_USER_MAX, &user);
    if (rc != 0 || (rc = get_generation(txn, s, &user, &gen)) != 0)
        return rc;
    sess_record copy = *rec; /* shallow: shares rec->data, never freed here */
    copy.generation = gen;
    /* A new session has no previous token, whatever the caller left in the record. */
    memset(copy.prev_hash, 0, SESS_HASH_BYTES);
    copy.prev_until = 0;
    rc = rec_put(txn, s, &copy, MDB_NOOVERWRITE);
    sess_wipe(copy.csrf_secret, sizeof(copy.csrf_secret));
    if (rc == 0)
        rc = token_put(txn, s, rec->token_hash, rec->id);
    if (rc != 0)
        return rc;
    sess__lmdb_usess_entry(entry, rec->created, rec->id);
    k = user;
    MDB_val v = mval(entry, USESS_ENTRY_BYTES);
    if ((rc = mdb_put(txn, s->dbi[DBI_USESS], &k, &v, 0)) != 0)
        return sess__lmdb_map_err(rc);
    return enforce_limit(txn, s, &user, gen, rec->id, max_per_user, evicted);
}

static int create_once(sess_store *st, const sess_record *rec, uint32_t max_per_user,
                       uint32_t *evicted)
{
    lmdb_store *s = from_base(st);
    MDB_txn *txn;
    uint32_t n = 0;
    if (evicted != NULL)
        *evicted = 0;
    int rc = sess__lmdb_wtxn_begin(s, &txn);
    if (rc != 0)
        return rc;
    rc = sess__lmdb_wtxn_end(s, txn, create_in(txn, s, rec, max_per_user, &n));
    if (rc == 0 && evicted != NULL)
        *evicted = n;
    return rc;
}

static int lmdb_create(sess_store *st, const sess_record *rec, uint32_t max_per_user,
                       uint32_t *evicted)
{
    GROWING(create_once, st, rec, max_per_user, evicted);
}

/* ---- lookup, get ---- */

static int lookup_in(MDB_txn *txn, const lmdb_store *s, const uint8_t *hash, sess_record *out,
                     uint64_t *gen, bool *is_previous)
{
    /* `gen` and `is_previous` point at the caller's variables or at locals, never NULL. */
    MDB_val k = mval(hash, SESS_HASH_BYTES), v;
    uint8_t id[SESS_ID_BYTES];
    int rc = mdb_get(txn, s->dbi[DBI_TOKENS], &k, &v);
    if (rc != 0)
        return rc == MDB_NOTFOUND ? SESS_ESESSION : sess__lmdb_map_err(rc);
    if (v.mv_size != SESS_ID_BYTES)
        return SESS_ECORRUPT;
    memcpy(id, v.mv_data, SESS_ID_BYTES);
    if ((rc = rec_get(txn, s, id, out, true)) != 0)
        return rc;
    bool current = sess_ct_equal(out->token_hash, hash, SESS_HASH_BYTES);
    bool previous = !current && !is_zero(out->prev_hash, SESS_HASH_BYTES) &&
                    sess_ct_equal(out->prev_hash, hash, SESS_HASH_BYTES);
    rc = current || previous ? gen_of_user(txn, s, out->user, gen) : SESS_ESESSION;
    if (rc != 0) {
        sess_record_dispose(out);
        return rc;
    }
    *is_previous = previous;
    return 0;
}

/* The id of the snapshot a read transaction begun now would see (readers take it from the lock
 * file's txnid, which every commit, from any process, raises once its meta page is written),
 * with the count of reopens in the top 16 bits, since a reopened environment may be another
 * file whose ids restart. Not the meta page's id (mdb_env_info): a commit writes its meta page
 * before it publishes the id to readers, so for the length of that write the meta id is ahead
 * of every reader's snapshot, and an answer read from the older snapshot would be memoised
 * under the newer id (found by review: deleted sessions still verified from the memo). A
 * later lookup's snapshot is never older than this one: the id only grows. */
static uint64_t lmdb_version(sess_store *st)
{
    rtxn r;
    if (sess__lmdb_rtxn_begin(from_base(st), &r) != 0)
        return 0;
    uint64_t v = (r.e->reopens << 48) | ((uint64_t)mdb_txn_id(r.txn) & ((UINT64_C(1) << 48) - 1));
    sess__lmdb_rtxn_end(&r);
    return v;
}

static int lmdb_lookup(sess_store *st, const uint8_t hash[SESS_HASH_BYTES], sess_record *out,
                       uint64_t *user_generation, bool *is_previous)
{
    lmdb_store *s = from_base(st);
    uint64_t gen = 0;
    bool prev = false;
    rtxn r;
    sess_record_init(out);
    int rc = sess__lmdb_rtxn_begin(s, &r);
    if (rc != 0)
        return rc;
    rc = lookup_in(r.txn, s, hash, out, &gen, &prev);
    sess__lmdb_rtxn_end(&r);
    if (rc == 0 && user_generation != NULL)
        *user_generation = gen;
    if (rc == 0 && is_previous != NULL)
        *is_previous = prev;
    return rc;
}

static int lmdb_get(sess_store *st, const uint8_t id[SESS_ID_BYTES], sess_record *out,
                    uint64_t *user_generation)
{
    lmdb_store *s = from_base(st);
    uint64_t gen = 0;
    rtxn r;
    sess_record_init(out);
    int rc = sess__lmdb_rtxn_begin(s, &r);
    if (rc != 0)
        return rc;
    rc = rec_get(r.txn, s, id, out, true);
    if (rc == 0 && (rc = gen_of_user(r.txn, s, out->user, &gen)) != 0)
        sess_record_dispose(out);
    sess__lmdb_rtxn_end(&r);
    if (rc == 0 && user_generation != NULL)
        *user_generation = gen;
    return rc;
}

static int lmdb_generation(sess_store *st, const char *user, uint64_t *generation)
{
    lmdb_store *s = from_base(st);
    MDB_val k;
    rtxn r;
    *generation = 0;
    if (sess__lmdb_name_val(user, SESS_USER_MAX, &k) != 0)
        return SESS_EINVAL;
    int rc = sess__lmdb_rtxn_begin(s, &r);
    if (rc != 0)
        return rc;
    rc = get_generation(r.txn, s, &k, generation);
    sess__lmdb_rtxn_end(&r);
    return rc;
}

/* ---- touch, patch, rotate, del, revoke ---- */

static int touch_one(MDB_txn *txn, const lmdb_store *s, const uint8_t *id, int64_t last_seen,
                     int64_t idle_expires)
{
    sess_record r;
    int rc = rec_get(txn, s, id, &r, true);
    if (rc != 0)
        return rc == SESS_ESESSION ? 0 : rc;
    int64_t idle = idle_expires < r.abs_expires ? idle_expires : r.abs_expires;
    bool changed = false;
    if (last_seen > r.last_seen) {
        r.last_seen = last_seen;
        changed = true;
    }
    if (idle > r.idle_expires) {
        r.idle_expires = idle;
        changed = true;
    }
    if (changed)
        rc = rec_put(txn, s, &r, 0);
    sess_record_dispose(&r);
    return rc;
}

static int touch_many_once(sess_store *st, size_t n, const uint8_t (*ids)[SESS_ID_BYTES],
                           const int64_t *last_seen, const int64_t *idle_expires)
{
    lmdb_store *s = from_base(st);
    MDB_txn *txn;
    if (s->read_only)
        return SESS_EINVAL;
    if (n == 0)
        return 0;
    int rc = sess__lmdb_wtxn_begin(s, &txn);
    if (rc != 0)
        return rc;
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = touch_one(txn, s, ids[i], last_seen[i], idle_expires[i]);
    return sess__lmdb_wtxn_end(s, txn, rc);
}

static int lmdb_touch_many(sess_store *st, size_t n, const uint8_t (*ids)[SESS_ID_BYTES],
                           const int64_t *last_seen, const int64_t *idle_expires)
{
    GROWING(touch_many_once, st, n, ids, last_seen, idle_expires);
}

static int patch_in(MDB_txn *txn, const lmdb_store *s, const uint8_t *id, const char *patch,
                    size_t patch_len, size_t max_data, sess_record *r)
{
    char *merged;
    size_t merged_len;
    int rc = rec_get(txn, s, id, r, true);
    if (rc != 0)
        return rc;
    rc = sess_json_merge(r->data, r->data_len, patch, patch_len, max_data, &merged, &merged_len);
    if (rc != 0)
        return rc;
    free(r->data);
    r->data = merged;
    r->data_len = merged_len;
    return rec_put(txn, s, r, 0);
}

static int patch_once(sess_store *st, const uint8_t id[SESS_ID_BYTES], const char *patch,
                      size_t patch_len, size_t max_data, sess_record *out)
{
    lmdb_store *s = from_base(st);
    MDB_txn *txn;
    sess_record r;
    if (out != NULL)
        sess_record_init(out);
    int rc = sess__lmdb_wtxn_begin(s, &txn);
    if (rc != 0)
        return rc;
    rc = sess__lmdb_wtxn_end(s, txn, patch_in(txn, s, id, patch, patch_len, max_data, &r));
    if (rc == 0 && out != NULL)
        *out = r; /* hands over r.data */
    else
        sess_record_dispose(&r);
    return rc;
}

static int lmdb_patch(sess_store *st, const uint8_t id[SESS_ID_BYTES], const char *patch,
                      size_t patch_len, size_t max_data, sess_record *out)
{
    GROWING(patch_once, st, id, patch, patch_len, max_data, out);
}

typedef struct rotate_args {
    const uint8_t *expected_hash;
    const uint8_t *new_hash;
    int64_t prev_until;
    int64_t auth_time;
    const uint8_t *new_csrf_secret;
} rotate_args;

static int rotate_in(MDB_txn *txn, const lmdb_store *s, const uint8_t *id, const rotate_args *a)
{
    sess_record r;
    int rc = rec_get(txn, s, id, &r, true);
    if (rc == 0 && a->expected_hash != NULL &&
        !sess_ct_equal(r.token_hash, a->expected_hash, SESS_HASH_BYTES))
        rc = SESS_ESESSION;
    if (rc == 0)
        rc = token_put(txn, s, a->new_hash, id);
    if (rc == 0)
        rc = token_del(txn, s, r.prev_hash, id);
    if (rc == 0) {
        memcpy(r.prev_hash, r.token_hash, SESS_HASH_BYTES);
        memcpy(r.token_hash, a->new_hash, SESS_HASH_BYTES);
        r.prev_until = a->prev_until;
        if (a->auth_time > 0)
            r.auth_time = a->auth_time;
        if (a->new_csrf_secret != NULL)
            memcpy(r.csrf_secret, a->new_csrf_secret, SESS_CSRF_SECRET_BYTES);
        r.flags &= ~SESS_REC_ROLES_CHANGED;
        rc = rec_put(txn, s, &r, 0);
    }
    sess_record_dispose(&r);
    return rc;
}

static int rotate_once(sess_store *st, const uint8_t id[SESS_ID_BYTES],
                       const uint8_t *expected_hash, const uint8_t new_hash[SESS_HASH_BYTES],
                       int64_t prev_until, int64_t auth_time, const uint8_t *new_csrf_secret)
{
    lmdb_store *s = from_base(st);
    rotate_args a = {expected_hash, new_hash, prev_until, auth_time, new_csrf_secret};
    MDB_txn *txn;
    int rc = sess__lmdb_wtxn_begin(s, &txn);
    return rc != 0 ? rc : sess__lmdb_wtxn_end(s, txn, rotate_in(txn, s, id, &a));
}

static int lmdb_rotate(sess_store *st, const uint8_t id[SESS_ID_BYTES],
                       const uint8_t *expected_hash, const uint8_t new_hash[SESS_HASH_BYTES],
                       int64_t prev_until, int64_t auth_time, const uint8_t *new_csrf_secret)
{
    GROWING(rotate_once, st, id, expected_hash, new_hash, prev_until, auth_time, new_csrf_secret);
}

static int set_roles_in(MDB_txn *txn, const lmdb_store *s, const MDB_val *user, const char *roles)
{
    uint8_t *ents;
    size_t n;
    int rc = index_load(txn, s, user, &ents, &n);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        sess_record r;
        rc = rec_get(txn, s, ents + i * USESS_ENTRY_BYTES + 8, &r, true);
        if (rc == SESS_ESESSION) { /* an index entry that leads nowhere */
            rc = 0;
            continue;
        }
        if (rc == 0) {
            sess_copy_bounded(r.roles, sizeof(r.roles), roles);
            r.flags |= SESS_REC_ROLES_CHANGED;
            rc = rec_put(txn, s, &r, 0);
        }
        sess_record_dispose(&r);
    }
    free(ents);
    return rc;
}

static int set_roles_once(sess_store *st, const char *user, const char *roles)
{
    lmdb_store *s = from_base(st);
    MDB_txn *txn;
    MDB_val k;
    int rc = sess__lmdb_name_val(user, SESS_USER_MAX, &k);
    if (rc != 0 || (rc = sess__lmdb_wtxn_begin(s, &txn)) != 0)
        return rc;
    return sess__lmdb_wtxn_end(s, txn, set_roles_in(txn, s, &k, roles));
}

static int lmdb_set_roles(sess_store *st, const char *user, const char *roles)
{
    GROWING(set_roles_once, st, user, roles);
}

static int del_once(sess_store *st, const uint8_t id[SESS_ID_BYTES])
{
    lmdb_store *s = from_base(st);
    MDB_txn *txn;
    int rc = sess__lmdb_wtxn_begin(s, &txn);
    return rc != 0 ? rc : sess__lmdb_wtxn_end(s, txn, drop_by_id(txn, s, id));
}

static int lmdb_del(sess_store *st, const uint8_t id[SESS_ID_BYTES])
{
    GROWING(del_once, st, id);
}

static int revoke_in(MDB_txn *txn, const lmdb_store *s, const MDB_val *user, uint64_t *gen)
{
    uint8_t buf[GEN_BYTES];
    int rc = get_generation(txn, s, user, gen);
    if (rc != 0)
        return rc;
    sess__lmdb_put_be64(buf, ++*gen);
    MDB_val k = *user, v = mval(buf, GEN_BYTES);
    return sess__lmdb_map_err(mdb_put(txn, s->dbi[DBI_USERS], &k, &v, 0));
}

static int revoke_user_once(sess_store *st, const char *user, uint64_t *generation)
{
    lmdb_store *s = from_base(st);
    MDB_txn *txn;
    MDB_val k;
    uint64_t gen = 0;
    int rc = sess__lmdb_name_val(user, SESS_USER_MAX, &k);
    if (rc != 0 || (rc = sess__lmdb_wtxn_begin(s, &txn)) != 0)
        return rc;
    rc = sess__lmdb_wtxn_end(s, txn, revoke_in(txn, s, &k, &gen));
    if (rc == 0 && generation != NULL)
        *generation = gen;
    return rc;
}

static int lmdb_revoke_user(sess_store *st, const char *user, uint64_t *generation)
{
    GROWING(revoke_user_once, st, user, generation);
}

/* ---- listing, count ---- */

/* Decodes a session and hands it to `cb`; 1 when cb asked to stop. */
static int emit(MDB_txn *txn, const lmdb_store *s, const uint8_t *id, const uint64_t *gen,
                sess_record_cb cb, void *arg)
{
    sess_record r;
    uint64_t g = gen != NULL ? *gen : 0;
    int rc = rec_get(txn, s, id, &r, true);
    if (rc == SESS_ESESSION)
        return 0; /* an index entry that leads nowhere */
    if (rc == 0 && gen == NULL)
        rc = gen_of_user(txn, s, r.user, &g);
    if (rc == 0)
        rc = cb(&r, g, arg) != 0 ? 1 : 0;
    sess_record_dispose(&r);
    return rc;
}

static int list_user_in(MDB_txn *txn, const lmdb_store *s, const MDB_val *user, sess_record_cb cb,
                        void *arg)
{
    MDB_cursor *cur;
    MDB_val k = *user, v;
    uint64_t gen;
    int rc = get_generation(txn, s, user, &gen);
    if (rc != 0 || (rc = sess__lmdb_map_err(mdb_cursor_open(txn, s->dbi[DBI_USESS], &cur))) != 0)
        return rc;
    for (int mrc = mdb_cursor_get(cur, &k, &v, MDB_SET_KEY); mrc != MDB_NOTFOUND;
         mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT_DUP)) {
        if (mrc != 0 || v.mv_size != USESS_ENTRY_BYTES) {
            rc = mrc != 0 ? sess__lmdb_map_err(mrc) : SESS_ECORRUPT;
            break;
        }
        if ((rc = emit(txn, s, (const uint8_t *)v.mv_data + 8, &gen, cb, arg)) != 0)
            break;
    }
    mdb_cursor_close(cur);
    return rc > 0 ? 0 : rc;
}

static int lmdb_list_user(sess_store *st, const char *user, sess_record_cb cb, void *arg)
{
    lmdb_store *s = from_base(st);
    MDB_val k;
    rtxn r;
    int rc = sess__lmdb_name_val(user, SESS_USER_MAX, &k);
    if (rc != 0 || (rc = sess__lmdb_rtxn_begin(s, &r)) != 0)
        return rc;
    rc = list_user_in(r.txn, s, &k, cb, arg);
    sess__lmdb_rtxn_end(&r);
    return rc;
}

static int list_all_in(MDB_txn *txn, const lmdb_store *s, sess_record_cb cb, void *arg)
{
    MDB_cursor *cur;
    MDB_val k, v;
    int rc = sess__lmdb_map_err(mdb_cursor_open(txn, s->dbi[DBI_SESSIONS], &cur));
    if (rc != 0)
        return rc;
    for (int mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); mrc != MDB_NOTFOUND;
         mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (mrc != 0 || k.mv_size != SESS_ID_BYTES) {
            rc = mrc != 0 ? sess__lmdb_map_err(mrc) : SESS_ECORRUPT;
            break;
        }
        if ((rc = emit(txn, s, k.mv_data, NULL, cb, arg)) != 0)
            break;
    }
    mdb_cursor_close(cur);
    return rc > 0 ? 0 : rc;
}

static int lmdb_list_all(sess_store *st, sess_record_cb cb, void *arg)
{
    lmdb_store *s = from_base(st);
    rtxn r;
    int rc = sess__lmdb_rtxn_begin(s, &r);
    if (rc != 0)
        return rc;
    rc = list_all_in(r.txn, s, cb, arg);
    sess__lmdb_rtxn_end(&r);
    return rc;
}

static int lmdb_count(sess_store *st, uint64_t *n)
{
    lmdb_store *s = from_base(st);
    MDB_stat ms;
    rtxn r;
    int rc = sess__lmdb_rtxn_begin(s, &r);
    if (rc != 0)
        return rc;
    rc = sess__lmdb_map_err(mdb_stat(r.txn, s->dbi[DBI_SESSIONS], &ms));
    sess__lmdb_rtxn_end(&r);
    if (rc == 0)
        *n = ms.ms_entries;
    return rc;
}

/* ---- sweep ---- */

typedef struct sweep_state {
    int64_t now;
    size_t max, removed, scanned, budget;
    bool has_start, wrapped, has_next;
    uint8_t start[SESS_ID_BYTES], next[SESS_ID_BYTES];
} sweep_state;

/* Ends a previous token's grace: drops its hash and forgets it in the record. */
static int drop_prev(MDB_txn *txn, const lmdb_store *s, const uint8_t *id)
{
    sess_record r;
    int rc = rec_get(txn, s, id, &r, true);
    if (rc == 0)
        rc = token_del(txn, s, r.prev_hash, id);
    if (rc == 0) {
        memset(r.prev_hash, 0, SESS_HASH_BYTES);
        r.prev_until = 0;
        rc = rec_put(txn, s, &r, 0);
    }
    sess_record_dispose(&r);
    return rc;
}

/* Judges one session: 1 when it changed the database, 0 when not, or an error. A record that
 * does not decode is left alone (del removes it; sweeping must not stall on it). */
static int sweep_one(MDB_txn *txn, const lmdb_store *s, const uint8_t *id, const MDB_val *v,
                     sweep_state *sw)
{
    sess_record r;
    uint64_t gen = 0;
    if (sess__lmdb_rec_decode(v, &r, false) != 0)
        return 0;
    memcpy(r.id, id, SESS_ID_BYTES);
    int rc = gen_of_user(txn, s, r.user, &gen);
    bool prev_over = !is_zero(r.prev_hash, SESS_HASH_BYTES) && r.prev_until <= sw->now;
    if (rc != 0) {
        rc = rc == SESS_ECORRUPT ? 0 : rc;
    } else if (r.idle_expires <= sw->now || r.abs_expires <= sw->now || r.generation < gen) {
        if ((rc = drop_record(txn, s, &r)) == 0) {
            sw->removed++;
            rc = 1;
        }
    } else if (prev_over) {
        rc = drop_prev(txn, s, id);
        rc = rc == 0 ? 1 : rc;
    }
    sess_record_dispose(&r);
    return rc;
}

/* Positions the cursor on the first key >= pos (after == false) or > pos (after == true). */
static int seek(MDB_cursor *cur, const uint8_t *pos, bool after, MDB_val *k, MDB_val *v)
{
    uint8_t buf[SESS_ID_BYTES];
    memcpy(buf, pos, SESS_ID_BYTES);
    *k = mval(buf, SESS_ID_BYTES);
    int rc = mdb_cursor_get(cur, k, v, MDB_SET_RANGE);
    if (rc == 0 && after && k->mv_size == SESS_ID_BYTES &&
        memcmp(k->mv_data, pos, SESS_ID_BYTES) == 0)
        rc = mdb_cursor_get(cur, k, v, MDB_NEXT);
    return rc;
}

/* Visits sessions from the resume position, wrapping around once, until max removals, the scan
 * budget, or a full circle. Records where the next sweep should start. */
static int sweep_in(MDB_txn *txn, const lmdb_store *s, sweep_state *sw)
{
    MDB_cursor *cur;
    MDB_val k, v;
    int rc = mdb_cursor_open(txn, s->dbi[DBI_SESSIONS], &cur);
    if (rc != 0)
        return sess__lmdb_map_err(rc);
    rc = sw->has_start ? seek(cur, sw->start, false, &k, &v)
                       : mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    for (;;) {
        if (rc == MDB_NOTFOUND && sw->has_start && !sw->wrapped) {
            sw->wrapped = true;
            rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
            continue;
        }
        if (rc == MDB_NOTFOUND) {
            rc = 0;
            break;
        }
        if (rc != 0 || k.mv_size != SESS_ID_BYTES) {
            rc = rc != 0 ? sess__lmdb_map_err(rc) : SESS_ECORRUPT;
            break;
        }
        if (sw->wrapped && memcmp(k.mv_data, sw->start, SESS_ID_BYTES) >= 0)
            break;
        if (sw->removed >= sw->max || sw->scanned >= sw->budget) {
            memcpy(sw->next, k.mv_data, SESS_ID_BYTES);
            sw->has_next = true;
            break;
        }
        uint8_t id[SESS_ID_BYTES];
        memcpy(id, k.mv_data, SESS_ID_BYTES);
        sw->scanned++;
        int changed = sweep_one(txn, s, id, &v, sw);
        if (changed < 0) {
            rc = changed;
            break;
        }
        /* A change may move pages under the cursor: find the successor again by key. */
        rc = changed ? seek(cur, id, true, &k, &v) : mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(cur);
    return rc;
}

static size_t sweep_budget(size_t max_items)
{
    size_t b = max_items > SWEEP_SCAN_MAX / SWEEP_SCAN_PER_ITEM ? SWEEP_SCAN_MAX
                                                                : max_items * SWEEP_SCAN_PER_ITEM;
    return b < SWEEP_SCAN_MIN ? SWEEP_SCAN_MIN : b;
}

static int sweep_once(sess_store *st, int64_t now, size_t max_items, size_t *removed)
{
    lmdb_store *s = from_base(st);
    sweep_state sw = {.now = now, .max = max_items, .budget = sweep_budget(max_items)};
    MDB_txn *txn;
    if (removed != NULL)
        *removed = 0;
    int rc = sess__lmdb_wtxn_begin(s, &txn);
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&s->mu);
    sw.has_start = s->sweep_has_pos;
    memcpy(sw.start, s->sweep_pos, SESS_ID_BYTES);
    pthread_mutex_unlock(&s->mu);
    if ((rc = sess__lmdb_wtxn_end(s, txn, sweep_in(txn, s, &sw))) != 0)
        return rc;
    pthread_mutex_lock(&s->mu);
    s->sweep_has_pos = sw.has_next;
    memcpy(s->sweep_pos, sw.next, SESS_ID_BYTES);
    pthread_mutex_unlock(&s->mu);
    if (removed != NULL)
        *removed = sw.removed;
    return 0;
}

static int lmdb_sweep(sess_store *st, int64_t now, size_t max_items, size_t *removed)
{
    GROWING(sweep_once, st, now, max_items, removed);
}

const sess_store_ops sess__lmdb_ops = {
    .name = "lmdb",
    .close = sess__lmdb_close,
    .ping = lmdb_ping,
    .create = lmdb_create,
    .lookup = lmdb_lookup,
    .get = lmdb_get,
    .touch_many = lmdb_touch_many,
    .patch = lmdb_patch,
    .rotate = lmdb_rotate,
    .del = lmdb_del,
    .set_roles = lmdb_set_roles,
    .revoke_user = lmdb_revoke_user,
    .list_user = lmdb_list_user,
    .list_all = lmdb_list_all,
    .count = lmdb_count,
    .sweep = lmdb_sweep,
    .prefs_get = sess__lmdb_prefs_get,
    .prefs_put = sess__lmdb_prefs_put,
    .prefs_patch = sess__lmdb_prefs_patch,
    .apikey_put = sess__lmdb_apikey_put,
    .apikey_find = sess__lmdb_apikey_find,
    .apikey_del = sess__lmdb_apikey_del,
    .apikey_list = sess__lmdb_apikey_list,
    .user_get = sess__lmdb_user_get,
    .user_put = sess__lmdb_user_put,
    .user_del = sess__lmdb_user_del,
    .user_list = sess__lmdb_user_list,
    .generation = lmdb_generation,
    .version = lmdb_version,
};
