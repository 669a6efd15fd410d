/*
 * lmdb_int.h - what the files of the LMDB backend share (not installed, not public).
 *
 * The backend is split by concern: lmdb_env.c opens the environment (refusing a damaged or
 * foreign data file), shares it between the handles of a process, runs the read and write
 * transactions every operation is made of (with group commit) and reopens the environment after
 * a failure; lmdb_codec.c lays out the bytes of values and keys (the session record, the per-user
 * index entries, big-endian integers, names); lmdb.c implements the session operations of
 * sess_store_ops and holds the table of all operations; lmdb_users.c keeps accounts and
 * preferences, lmdb_keys.c API keys. The databases are listed at the top of lmdb.c.
 */
#ifndef SESSIOND_STORE_LMDB_INT_H
#define SESSIOND_STORE_LMDB_INT_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <lmdb.h>

#include "sessiond/record.h"
#include "sessiond/store.h"

#define USESS_ENTRY_BYTES (8 + SESS_ID_BYTES)

/* The named databases (lmdb.c lists them; lmdb_env.c opens them). */
enum {
    DBI_TOKENS,
    DBI_SESSIONS,
    DBI_USESS,
    DBI_USERS,
    DBI_PREFS,
    DBI_APIKEYS,
    DBI_APIKEY_HASH,
    DBI_META,
    DBI_ACCOUNTS,
    DBI_COUNT
};

/* One open environment, shared by every handle of this process on the same directory. */
typedef struct shared_env {
    struct shared_env *next;
    dev_t dev;
    ino_t ino;
    pid_t pid; /* an entry inherited through fork() belongs to the parent: never reused */
    unsigned refs;
    bool read_only;
    bool group_commit; /* MDB_NOMETASYNC, and one shared mdb_env_sync per batch of commits */
    MDB_env *env;      /* NULL after a failed reopen: every transaction fails until one works */
    MDB_dbi dbi[DBI_COUNT];
    bool no_accounts; /* read-only on an environment made before "accounts" existed */
    /* Held for reading by every transaction, for writing by a reopen (see lmdb_env.c). Guards
     * env, dbi, reopens, handles and every handle's cached read transactions. */
    pthread_rwlock_t life;
    uint64_t reopens; /* how many times env was reopened, or its map was grown or adopted */
    struct lmdb_store *handles; /* every handle on this environment */
    char dir[PATH_MAX];         /* what a reopen needs */
    size_t map_size;            /* the map at opening (LMDB raises it to the data in use) */
    size_t map_max; /* the ceiling the map grows to on MDB_MAP_FULL ([store] map_size) */
    /* Out of space now (a store_full episode, see lmdb_env.c): 0 no, else FULL_MAP or
     * FULL_DISK; and the highest share of map_max reported in the log (0, 80 or 95). */
    _Atomic int full;
    _Atomic int warned_pct;
    void (*log)(void *arg, int level, const char *msg);
    void *log_arg;
    pthread_mutex_t sync_mu; /* guards the three below */
    pthread_cond_t sync_cv;
    uint64_t committed; /* commits done so far (group commit only) */
    uint64_t synced;    /* commits known to be on disk */
    bool syncing;       /* a thread is in mdb_env_sync */
} shared_env;

struct lmdb_store;

/* A thread's cached read transaction on one handle; `busy` while the thread is inside a read
 * (only that thread touches it), so a list callback that calls back into the store gets a
 * fresh transaction instead of renewing the one in use. */
typedef struct reader {
    struct reader *next, *prev;
    struct lmdb_store *st;
    MDB_txn *txn;
    bool busy;
} reader;

typedef struct lmdb_store {
    sess_store base;
    shared_env *shared;
    struct lmdb_store *next_handle; /* in shared->handles */
    const MDB_dbi *dbi;
    bool read_only;
    bool no_accounts;   /* see shared_env */
    pthread_key_t key;  /* -> this thread's reader */
    pthread_mutex_t mu; /* guards `readers` and the sweep position */
    reader *readers;
    bool sweep_has_pos;
    uint8_t sweep_pos[SESS_ID_BYTES];
} lmdb_store;

/* A read transaction as handed out by sess__lmdb_rtxn_begin. */
typedef struct rtxn {
    shared_env *e;
    MDB_txn *txn;
    reader *slot; /* NULL for a one-off transaction */
} rtxn;

/* ---- small helpers ---- */

static inline MDB_val mval(const void *p, size_t n)
{
    return (MDB_val){.mv_size = n, .mv_data = (void *)p};
}

static inline lmdb_store *from_base(sess_store *st)
{
    return (lmdb_store *)st;
}

/* ---- the environment and its transactions (lmdb_env.c) ---- */

/* Not a sess_err: "the map grew, run the write again" (sess__lmdb_wtxn_end). */
#define LMDB_GROWN 1

/* Runs a write operation `once(...)` again for as long as it ends with LMDB_GROWN: each time
 * the map grew (at least doubled, up to the ceiling), so this ends. */
#define GROWING(once, ...)                                                                         \
    do {                                                                                           \
        int rc_;                                                                                   \
        while ((rc_ = once(__VA_ARGS__)) == LMDB_GROWN)                                            \
            ;                                                                                      \
        return rc_;                                                                                \
    } while (0)

/* An LMDB code (or errno) as a sess_err. */
int sess__lmdb_map_err(int rc);

/* Starts a read transaction on the newest committed state; ended with sess__lmdb_rtxn_end. */
int sess__lmdb_rtxn_begin(lmdb_store *s, rtxn *r);
void sess__lmdb_rtxn_end(rtxn *r);

/* Starts a write transaction (SESS_EINVAL on a read-only handle); ended with sess__lmdb_wtxn_end,
 * always, which commits when its `rc` is 0 and aborts otherwise, and returns 0 only once the commit
 * is on disk. When the transaction ran out of map and the map could grow, it returns
 * LMDB_GROWN: nothing was written, and the caller runs the whole operation again (GROWING in
 * lmdb.c). Out of space for good (the map at [store] map_size, or the file system full), it is
 * SESS_EFULL. */
int sess__lmdb_wtxn_begin(lmdb_store *s, MDB_txn **txn);
int sess__lmdb_wtxn_end(lmdb_store *s, MDB_txn *txn, int rc);
/* The out-of-space episode going on (0 none, else its reason), after ending one of a full file
 * system that has room again (logged): for ping, so that readyz recovers without a write. */
int sess__lmdb_full_now(shared_env *e);

/* The close operation (sess_store_ops). */
void sess__lmdb_close(sess_store *st);

/* ---- bytes (lmdb_codec.c) ---- */

void sess__lmdb_put_be64(uint8_t *p, uint64_t v);
uint64_t sess__lmdb_get_be64(const uint8_t *p);
int sess__lmdb_name_val(const char *name, size_t max, MDB_val *out);
/* A usess entry: created (sign-flipped, big-endian) + id, so entries sort oldest first. */
void sess__lmdb_usess_entry(uint8_t out[USESS_ENTRY_BYTES], int64_t created, const uint8_t *id);

/* The lengths of a record's variable fields, as measured by sess__lmdb_rec_measure. */
typedef struct rec_lens {
    size_t user, roles, ip, agent, data;
    const char *data_text;
} rec_lens;

int sess__lmdb_rec_measure(const sess_record *r, rec_lens *l);
/* The encoded size of a measured record. */
size_t sess__lmdb_rec_size(const rec_lens *l);
/* Encodes a measured record into sess__lmdb_rec_size bytes at p; SESS_EINTERNAL when the
 * measure and the record disagree (nothing to commit). */
int sess__lmdb_rec_encode(const sess_record *r, const rec_lens *l, uint8_t *p);
/* Decodes a sessions value; SESS_ECORRUPT for anything that is not a well-formed record. */
int sess__lmdb_rec_decode(const MDB_val *v, sess_record *out, bool want_data);

/* ---- the operations (lmdb.c, lmdb_users.c, lmdb_keys.c) ---- */

/* Every operation of the backend; the handle's base.ops. */
extern const sess_store_ops sess__lmdb_ops;

int sess__lmdb_prefs_get(sess_store *st, const char *user, char **json, size_t *len);
int sess__lmdb_prefs_put(sess_store *st, const char *user, const char *json, size_t len,
                         size_t max_bytes);
int sess__lmdb_prefs_patch(sess_store *st, const char *user, const char *patch, size_t len,
                           size_t max_bytes, char **result, size_t *result_len);

int sess__lmdb_user_get(sess_store *st, const char *user, uint8_t *buf, size_t cap, size_t *len);
int sess__lmdb_user_put(sess_store *st, const char *user, const uint8_t *rec, size_t len,
                        const uint8_t *prev, size_t prev_len);
int sess__lmdb_user_del(sess_store *st, const char *user);
int sess__lmdb_user_list(sess_store *st, sess_account_cb cb, void *arg);

int sess__lmdb_apikey_put(sess_store *st, const char *name, const uint8_t hash[SESS_HASH_BYTES],
                          int64_t created);
int sess__lmdb_apikey_find(sess_store *st, const uint8_t hash[SESS_HASH_BYTES],
                           char name[SESS_APIKEY_NAME_MAX + 1]);
int sess__lmdb_apikey_del(sess_store *st, const char *name);
int sess__lmdb_apikey_list(sess_store *st, sess_apikey_cb cb, void *arg);

#endif
