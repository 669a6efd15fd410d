/*
 * lmdb.c - the embedded, durable store backend (the default), on LMDB.
 *
 * LMDB gives what sessiond needs from a local store: a write is durable once its transaction
 * commits, a crash needs no recovery, readers never block and never take a lock, and other
 * processes (the admin CLI) can read and write the same environment while the server runs.
 * Every store operation is one transaction, so nothing is ever partially applied. The
 * environment lives in PATH/store and holds these named databases:
 *
 *   tokens       token hash (32)  -> session id (16), for current and previous token hashes
 *   sessions     session id (16)  -> a versioned binary record (see rec_encode), data JSON last
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
 * The verify path is a lookup on every request from several threads, so each thread keeps one
 * read transaction per handle (MDB_NOTLS) that is reset after use and renewed before the next:
 * a renewed transaction reads the newest commit from the shared lock file, including commits of
 * another process. LMDB forbids opening one environment twice in a process, so handles on the
 * same directory share one MDB_env through a small process-wide registry.
 *
 * When a commit's write or sync of the meta page fails (EIO, ENOSPC), LMDB marks the whole
 * environment as failed and every later transaction, read or write, returns MDB_PANIC. The
 * store then closes and reopens the environment, which reads the last meta page that did reach
 * the disk: every acknowledged commit was synced before it was acknowledged, so none is lost,
 * and the failed one was never acknowledged. Every transaction runs with the environment's
 * `life` lock held for reading; the reopen takes it for writing, so no thread uses the old
 * MDB_env (or a cached read transaction of it) once it is closed.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <jansson.h>
#include <lmdb.h>

#include "sessiond/crypto.h"
#include "sessiond/error.h"
#include "sessiond/record.h"
#include "sessiond/store.h"
#include "../json_merge.h"

#define STORE_FORMAT_VERSION 1u /* meta "format": the layout of the databases below */
#define REC_VERSION 1u          /* first byte of every sessions value */
#define DEFAULT_MAP_SIZE ((size_t)1 << 30)
#define MAX_READERS 512
#define USESS_ENTRY_BYTES (8 + SESS_ID_BYTES)
#define GEN_BYTES 8
#define APIKEY_VALUE_BYTES (SESS_HASH_BYTES + 8)
/* A sweep looks at no more than this many sessions per session it may remove (and at least
 * SWEEP_SCAN_MIN, at most SWEEP_SCAN_MAX), so it holds the write lock for a bounded time even
 * when nothing is expired; the resume position makes successive sweeps cover the whole DB. */
#define SWEEP_SCAN_PER_ITEM 64
#define SWEEP_SCAN_MIN 4096
#define SWEEP_SCAN_MAX ((size_t)1 << 20)

static const char META_FORMAT_KEY[] = "format";

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

static const struct {
    const char *name;
    unsigned flags;
} dbi_spec[DBI_COUNT] = {
    [DBI_TOKENS] = {"tokens", 0},
    [DBI_SESSIONS] = {"sessions", 0},
    [DBI_USESS] = {"usess", MDB_DUPSORT | MDB_DUPFIXED},
    [DBI_USERS] = {"users", 0},
    [DBI_PREFS] = {"prefs", 0},
    [DBI_APIKEYS] = {"apikeys", 0},
    [DBI_APIKEY_HASH] = {"apikey_hash", 0},
    [DBI_META] = {"meta", 0},
    [DBI_ACCOUNTS] = {"accounts", 0},
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
    /* Held for reading by every transaction, for writing by a reopen (see the top). Guards
     * env, dbi, reopens, handles and every handle's cached read transactions. */
    pthread_rwlock_t life;
    uint64_t reopens; /* how many times env was reopened after MDB_PANIC or took a grown map */
    struct lmdb_store *handles; /* every handle on this environment */
    char dir[PATH_MAX];         /* what a reopen needs */
    size_t map_size;
    void (*log)(void *arg, int level, const char *msg);
    void *log_arg;
    pthread_mutex_t sync_mu; /* guards the three below */
    pthread_cond_t sync_cv;
    uint64_t committed; /* commits done so far (group commit only) */
    uint64_t synced;    /* commits known to be on disk */
    bool syncing;       /* a thread is in mdb_env_sync */
} shared_env;

static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;
static shared_env *registry;

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

/* A read transaction as handed out by rtxn_begin. */
typedef struct rtxn {
    shared_env *e;
    MDB_txn *txn;
    reader *slot; /* NULL for a one-off transaction */
} rtxn;

/* ---- small helpers ---- */

static MDB_val mval(const void *p, size_t n)
{
    return (MDB_val){.mv_size = n, .mv_data = (void *)p};
}

static lmdb_store *from_base(sess_store *st)
{
    return (lmdb_store *)st;
}

static int map_err(int rc)
{
    switch (rc) {
    case 0:
        return 0;
    case MDB_NOTFOUND:
        return SESS_ENOTFOUND;
    case MDB_KEYEXIST:
        return SESS_EEXIST;
    case MDB_MAP_FULL:
        return SESS_EFULL;
    case MDB_BAD_VALSIZE:
        return SESS_EINVAL;
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH:
    case MDB_INCOMPATIBLE:
        return SESS_ECORRUPT;
    case ENOMEM:
        return SESS_ENOMEM;
    default: /* EIO, ENOSPC, MDB_PANIC, MDB_READERS_FULL, MDB_MAP_RESIZED, ... */
        return SESS_ESTORE;
    }
}

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static uint64_t get_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

static bool is_zero(const uint8_t *p, size_t n)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= p[i];
    return acc == 0;
}

/* A key for a bounded, non-empty name (user or API key name); SESS_EINVAL otherwise. */
static int name_val(const char *name, size_t max, MDB_val *out)
{
    size_t n = name != NULL ? strnlen(name, max + 1) : 0;
    if (n == 0 || n > max)
        return SESS_EINVAL;
    *out = mval(name, n);
    return 0;
}

static void usess_entry(uint8_t out[USESS_ENTRY_BYTES], int64_t created, const uint8_t *id)
{
    /* Flipping the sign bit makes big-endian byte order match signed numeric order. */
    put_be64(out, (uint64_t)created ^ ((uint64_t)1 << 63));
    memcpy(out + 8, id, SESS_ID_BYTES);
}

/* ---- the session record encoding ----
 *
 * version u8 | flags u32 | created, last_seen, idle_expires, abs_expires, auth_time, prev_until
 * i64 | generation u64 | csrf_secret 32 | token_hash 32 | prev_hash 32 | user, roles, ip, agent
 * as u16 length + bytes | data as u32 length + bytes. Integers big-endian; the id is the key.
 * Decoding checks every length against the record's fixed field and the value's size. */

#define REC_FIXED_BYTES (1 + 4 + 7 * 8 + SESS_CSRF_SECRET_BYTES + 2 * SESS_HASH_BYTES)

typedef struct rec_lens {
    size_t user, roles, ip, agent, data;
    const char *data_text;
} rec_lens;

/* Measures a record to encode; SESS_EINVAL when a fixed field is not terminated. */
static int rec_measure(const sess_record *r, rec_lens *l)
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

static size_t rec_size(const rec_lens *l)
{
    return REC_FIXED_BYTES + 2 + l->user + 2 + l->roles + 2 + l->ip + 2 + l->agent + 4 + l->data;
}

static uint8_t *w_u64(uint8_t *p, uint64_t v)
{
    put_be64(p, v);
    return p + 8;
}

static uint8_t *w_uint(uint8_t *p, uint64_t v, size_t width)
{
    for (size_t i = width; i > 0; i--, v >>= 8)
        p[i - 1] = (uint8_t)v;
    return p + width;
}

static uint8_t *w_bytes(uint8_t *p, const void *src, size_t n)
{
    memcpy(p, src, n);
    return p + n;
}

static uint8_t *w_str(uint8_t *p, const void *src, size_t n, size_t width)
{
    return w_bytes(w_uint(p, n, width), src, n);
}

static void rec_encode(const sess_record *r, const rec_lens *l, uint8_t *p)
{
    *p++ = REC_VERSION;
    p = w_uint(p, r->flags, 4);
    p = w_u64(p, (uint64_t)r->created);
    p = w_u64(p, (uint64_t)r->last_seen);
    p = w_u64(p, (uint64_t)r->idle_expires);
    p = w_u64(p, (uint64_t)r->abs_expires);
    p = w_u64(p, (uint64_t)r->auth_time);
    p = w_u64(p, (uint64_t)r->prev_until);
    p = w_u64(p, r->generation);
    p = w_bytes(p, r->csrf_secret, SESS_CSRF_SECRET_BYTES);
    p = w_bytes(p, r->token_hash, SESS_HASH_BYTES);
    p = w_bytes(p, r->prev_hash, SESS_HASH_BYTES);
    p = w_str(p, r->user, l->user, 2);
    p = w_str(p, r->roles, l->roles, 2);
    p = w_str(p, r->ip, l->ip, 2);
    p = w_str(p, r->agent, l->agent, 2);
    w_str(p, l->data_text, l->data, 4);
}

/* A bounds-checked reader: any read past the end sets `bad` and yields zeros. */
typedef struct rd {
    const uint8_t *p, *end;
    bool bad;
} rd;

static const uint8_t *rd_take(rd *r, size_t n)
{
    if (r->bad || (size_t)(r->end - r->p) < n) {
        r->bad = true;
        return NULL;
    }
    const uint8_t *at = r->p;
    r->p += n;
    return at;
}

static uint64_t rd_uint(rd *r, size_t width)
{
    const uint8_t *p = rd_take(r, width);
    uint64_t v = 0;
    for (size_t i = 0; p != NULL && i < width; i++)
        v = (v << 8) | p[i];
    return v;
}

static void rd_bytes(rd *r, void *dst, size_t n)
{
    const uint8_t *p = rd_take(r, n);
    if (p != NULL)
        memcpy(dst, p, n);
}

/* A length-prefixed string into a fixed field of `cap` bytes (NUL included). */
static void rd_str(rd *r, char *dst, size_t cap)
{
    size_t n = (size_t)rd_uint(r, 2);
    const uint8_t *p = rd_take(r, n);
    if (p == NULL || n >= cap || memchr(p, 0, n) != NULL) {
        r->bad = true;
        return;
    }
    memcpy(dst, p, n);
    dst[n] = '\0';
}

/* Decodes a sessions value into `out` (initialised here). With want_data false, out->data stays
 * NULL (internal use only). SESS_ECORRUPT for anything that is not a well-formed record. */
static int rec_decode(const MDB_val *v, sess_record *out, bool want_data)
{
    rd r = {.p = v->mv_data, .end = (const uint8_t *)v->mv_data + v->mv_size, .bad = false};
    sess_record_init(out);
    if (rd_uint(&r, 1) != REC_VERSION)
        return SESS_ECORRUPT;
    out->flags = (uint32_t)rd_uint(&r, 4);
    out->created = (int64_t)rd_uint(&r, 8);
    out->last_seen = (int64_t)rd_uint(&r, 8);
    out->idle_expires = (int64_t)rd_uint(&r, 8);
    out->abs_expires = (int64_t)rd_uint(&r, 8);
    out->auth_time = (int64_t)rd_uint(&r, 8);
    out->prev_until = (int64_t)rd_uint(&r, 8);
    out->generation = rd_uint(&r, 8);
    rd_bytes(&r, out->csrf_secret, SESS_CSRF_SECRET_BYTES);
    rd_bytes(&r, out->token_hash, SESS_HASH_BYTES);
    rd_bytes(&r, out->prev_hash, SESS_HASH_BYTES);
    rd_str(&r, out->user, sizeof(out->user));
    rd_str(&r, out->roles, sizeof(out->roles));
    rd_str(&r, out->ip, sizeof(out->ip));
    rd_str(&r, out->agent, sizeof(out->agent));
    size_t dlen = (size_t)rd_uint(&r, 4);
    const uint8_t *data = rd_take(&r, dlen);
    if (r.bad || r.p != r.end || out->user[0] == '\0' || dlen == 0 ||
        memchr(data, 0, dlen) != NULL) {
        sess_record_dispose(out);
        return SESS_ECORRUPT;
    }
    if (want_data && sess_record_set_data(out, (const char *)data, dlen) != 0) {
        sess_record_dispose(out);
        return SESS_ENOMEM;
    }
    return 0;
}

/* ---- the environment's life ---- */

/* Life locks this thread holds (of any environment). A thread inside a transaction that needs
 * another (a list callback calling back into the store) must not wait for a reopen, which
 * waits for it: only a thread that holds none reopens. */
static _Thread_local unsigned lives_held;

static void life_enter(shared_env *e)
{
    pthread_rwlock_rdlock(&e->life);
    lives_held++;
}

static void life_leave(shared_env *e)
{
    lives_held--;
    pthread_rwlock_unlock(&e->life);
}

static void env_log(const shared_env *e, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void env_log(const shared_env *e, int level, const char *fmt, ...)
{
    char msg[PATH_MAX + 256];
    va_list ap;
    if (e->log == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    e->log(e->log_arg, level, msg);
}

static int env_open_lmdb(shared_env *e, char *err, size_t errlen);

/* Closes the failed environment and opens it again, unless another thread did since the caller
 * saw `seen` reopens. Called with no life lock held. */
/* With the life lock held for writing: nobody is inside a transaction, every cached read
 * transaction is idle; they are aborted (a reader begins a new one at its next use). */
static void drop_cached_readers(shared_env *e)
{
    for (lmdb_store *h = e->handles; h != NULL; h = h->next_handle) {
        pthread_mutex_lock(&h->mu);
        for (reader *slot = h->readers; slot != NULL; slot = slot->next) {
            mdb_txn_abort(slot->txn);
            slot->txn = NULL;
        }
        pthread_mutex_unlock(&h->mu);
    }
}

static void env_reopen(shared_env *e, uint64_t seen)
{
    char err[PATH_MAX + 256];
    pthread_rwlock_wrlock(&e->life);
    if (e->reopens == seen) {
        drop_cached_readers(e);
        if (e->env != NULL)
            mdb_env_close(e->env);
        e->env = NULL;
        e->reopens++;
        if (env_open_lmdb(e, err, sizeof(err)) == 0)
            env_log(e, SESS_STORE_LOG_WARN,
                    "the LMDB environment in %s failed after an I/O error; reopened it", e->dir);
        else
            env_log(e, SESS_STORE_LOG_WARN, "cannot reopen the LMDB environment: %s", err);
    }
    pthread_rwlock_unlock(&e->life);
}

/* Another process (sessiond restarted with a bigger [store] map_size, while the CLI or the
 * nginx module keeps the environment open) grew the data file past this process's map: LMDB
 * refuses transactions with MDB_MAP_RESIZED until the process adopts the new size, which it
 * may do only while none of its transactions is active. Called with no life lock held. */
static void env_adopt_size(shared_env *e, uint64_t seen)
{
    pthread_rwlock_wrlock(&e->life);
    if (e->reopens == seen && e->env != NULL) {
        drop_cached_readers(e);
        int rc = mdb_env_set_mapsize(e->env, 0); /* 0: the size the data file now has */
        e->reopens++;
        if (rc != 0)
            env_log(e, SESS_STORE_LOG_WARN, "cannot adopt the grown map of %s: %s", e->dir,
                    mdb_strerror(rc));
    }
    pthread_rwlock_unlock(&e->life);
}

/* Runs `begin` (which returns an LMDB code) with the life lock held for reading, reopening the
 * environment once when it has failed, or adopting its new size once when another process grew
 * it. On success the lock stays held until the transaction's end; on failure it is released. */
static int life_begin(lmdb_store *s, int (*begin)(lmdb_store *, void *), void *arg)
{
    shared_env *e = s->shared;
    life_enter(e);
    int rc = e->env != NULL ? begin(s, arg) : MDB_PANIC;
    if ((rc == MDB_PANIC || rc == MDB_MAP_RESIZED) && lives_held == 1) {
        uint64_t seen = e->reopens;
        life_leave(e);
        if (rc == MDB_PANIC)
            env_reopen(e, seen);
        else
            env_adopt_size(e, seen);
        life_enter(e);
        rc = e->env != NULL ? begin(s, arg) : MDB_PANIC;
    }
    if (rc != 0)
        life_leave(e);
    return map_err(rc);
}

/* ---- read transactions ---- */

static void reader_unlink(lmdb_store *s, reader *slot)
{
    pthread_mutex_lock(&s->mu);
    if (slot->prev != NULL)
        slot->prev->next = slot->next;
    else
        s->readers = slot->next;
    if (slot->next != NULL)
        slot->next->prev = slot->prev;
    pthread_mutex_unlock(&s->mu);
}

/* With the life lock held. */
static void reader_free(reader *slot)
{
    reader_unlink(slot->st, slot);
    mdb_txn_abort(slot->txn);
    free(slot);
}

/* pthread key destructor: a thread that exits before the store is closed gives its slot back. */
static void reader_exit(void *p)
{
    reader *slot = p;
    shared_env *e = slot->st->shared;
    life_enter(e);
    reader_free(slot);
    life_leave(e);
}

static void reader_drop(lmdb_store *s, reader *slot)
{
    pthread_setspecific(s->key, NULL);
    reader_free(slot);
}

/* An LMDB code (ENOMEM included). */
static int reader_new(lmdb_store *s, reader **out)
{
    reader *slot = calloc(1, sizeof(*slot));
    if (slot == NULL)
        return ENOMEM;
    int rc = mdb_txn_begin(s->shared->env, NULL, MDB_RDONLY, &slot->txn);
    if (rc != 0) {
        free(slot);
        return rc;
    }
    slot->st = s;
    pthread_mutex_lock(&s->mu);
    slot->next = s->readers;
    if (s->readers != NULL)
        s->readers->prev = slot;
    s->readers = slot;
    pthread_mutex_unlock(&s->mu);
    if (pthread_setspecific(s->key, slot) != 0) {
        reader_free(slot);
        return ENOMEM;
    }
    *out = slot;
    return 0;
}

static int rtxn_try(lmdb_store *s, void *arg)
{
    rtxn *r = arg;
    reader *slot = pthread_getspecific(s->key);
    int rc;
    r->slot = NULL;
    if (slot == NULL) {
        if ((rc = reader_new(s, &slot)) != 0)
            return rc;
    } else if (slot->busy) {
        return mdb_txn_begin(s->shared->env, NULL, MDB_RDONLY, &r->txn);
    } else if (slot->txn == NULL) { /* aborted by a reopen */
        if ((rc = mdb_txn_begin(s->shared->env, NULL, MDB_RDONLY, &slot->txn)) != 0)
            return rc;
    } else if ((rc = mdb_txn_renew(slot->txn)) != 0) {
        reader_drop(s, slot);
        return rc;
    }
    slot->busy = true;
    r->slot = slot;
    r->txn = slot->txn;
    return 0;
}

/* Starts a read transaction on the newest committed state: the thread's cached one (renewed)
 * when it is free, else a one-off. Ended with rtxn_end. */
static int rtxn_begin(lmdb_store *s, rtxn *r)
{
    r->e = s->shared;
    return life_begin(s, rtxn_try, r);
}

static void rtxn_end(rtxn *r)
{
    if (r->slot != NULL) {
        mdb_txn_reset(r->txn);
        r->slot->busy = false;
    } else {
        mdb_txn_abort(r->txn);
    }
    life_leave(r->e);
}

/* ---- write transactions ---- */

static int wtxn_try(lmdb_store *s, void *arg)
{
    return mdb_txn_begin(s->shared->env, NULL, 0, arg);
}

/* Ended with wtxn_end, always. */
static int wtxn_begin(lmdb_store *s, MDB_txn **txn)
{
    if (s->read_only)
        return SESS_EINVAL;
    return life_begin(s, wtxn_try, txn);
}

/* Group commit ([store] fsync = batch): the environment runs with MDB_NOMETASYNC, so a commit
 * flushes its data pages but not the meta page that makes it current after a power loss. Before
 * a write is acknowledged, sync_upto makes sure an mdb_env_sync that started after its commit
 * has finished; concurrent writers share one such sync instead of each paying their own, and the
 * write lock is not held while it runs. */
static int sync_upto(shared_env *e, uint64_t mine)
{
    int rc = 0;
    pthread_mutex_lock(&e->sync_mu);
    while (e->synced < mine && rc == 0) {
        if (e->syncing) {
            pthread_cond_wait(&e->sync_cv, &e->sync_mu);
            continue;
        }
        uint64_t target = e->committed;
        e->syncing = true;
        pthread_mutex_unlock(&e->sync_mu);
        rc = map_err(mdb_env_sync(e->env, 1));
        pthread_mutex_lock(&e->sync_mu);
        e->syncing = false;
        if (rc == 0 && target > e->synced)
            e->synced = target;
        pthread_cond_broadcast(&e->sync_cv);
    }
    pthread_mutex_unlock(&e->sync_mu);
    return rc;
}

/* Commits when `rc` is 0 and aborts otherwise; returns the outcome. A failed commit has freed
 * the transaction and applied nothing. Returns 0 only once the commit is on disk. */
static int wtxn_finish(lmdb_store *s, MDB_txn *txn, int rc)
{
    if (rc != 0) {
        mdb_txn_abort(txn);
        return rc;
    }
    if ((rc = map_err(mdb_txn_commit(txn))) != 0 || !s->shared->group_commit)
        return rc;
    pthread_mutex_lock(&s->shared->sync_mu);
    uint64_t mine = ++s->shared->committed;
    pthread_mutex_unlock(&s->shared->sync_mu);
    return sync_upto(s->shared, mine);
}

/* Ends what wtxn_begin started, including its hold on the environment. */
static int wtxn_end(lmdb_store *s, MDB_txn *txn, int rc)
{
    rc = wtxn_finish(s, txn, rc);
    life_leave(s->shared);
    return rc;
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
        return map_err(rc);
    if (v.mv_size != GEN_BYTES)
        return SESS_ECORRUPT;
    *gen = get_be64(v.mv_data);
    return 0;
}

static int gen_of_user(MDB_txn *txn, const lmdb_store *s, const char *user, uint64_t *gen)
{
    MDB_val k;
    int rc = name_val(user, SESS_USER_MAX, &k);
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
        return rc == MDB_NOTFOUND ? SESS_ESESSION : map_err(rc);
    }
    if ((rc = rec_decode(&v, out, want_data)) == 0)
        memcpy(out->id, id, SESS_ID_BYTES);
    return rc;
}

/* Writes the record straight into LMDB's reserved space (no intermediate buffer). */
static int rec_put(MDB_txn *txn, const lmdb_store *s, const sess_record *r, unsigned flags)
{
    rec_lens l;
    int rc = rec_measure(r, &l);
    if (rc != 0)
        return rc;
    MDB_val k = mval(r->id, SESS_ID_BYTES), v = {.mv_size = rec_size(&l), .mv_data = NULL};
    if ((rc = mdb_put(txn, s->dbi[DBI_SESSIONS], &k, &v, flags | MDB_RESERVE)) != 0)
        return map_err(rc);
    rec_encode(r, &l, v.mv_data);
    return 0;
}

/* Maps a new token hash to a session id; SESS_EEXIST when the hash is already mapped (even to
 * this session: one hash standing for two of its tokens would go with the first of them). */
static int token_put(MDB_txn *txn, const lmdb_store *s, const uint8_t *hash, const uint8_t *id)
{
    MDB_val k = mval(hash, SESS_HASH_BYTES), v = mval(id, SESS_ID_BYTES);
    return map_err(mdb_put(txn, s->dbi[DBI_TOKENS], &k, &v, MDB_NOOVERWRITE));
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
        return map_err(rc);
    if (v.mv_size != SESS_ID_BYTES || memcmp(v.mv_data, id, SESS_ID_BYTES) != 0)
        return 0;
    return map_err(mdb_del(txn, s->dbi[DBI_TOKENS], &k, NULL));
}

static int index_del(MDB_txn *txn, const lmdb_store *s, const MDB_val *user,
                     const uint8_t entry[USESS_ENTRY_BYTES])
{
    MDB_val k = *user, v = mval(entry, USESS_ENTRY_BYTES);
    int rc = mdb_del(txn, s->dbi[DBI_USESS], &k, &v);
    return rc == MDB_NOTFOUND ? 0 : map_err(rc);
}

/* Deletes a decoded session with its token hashes and index entry. */
static int drop_record(MDB_txn *txn, const lmdb_store *s, const sess_record *r)
{
    uint8_t entry[USESS_ENTRY_BYTES];
    MDB_val user, k = mval(r->id, SESS_ID_BYTES);
    int rc = token_del(txn, s, r->token_hash, r->id);
    if (rc == 0)
        rc = token_del(txn, s, r->prev_hash, r->id);
    if (rc == 0 && name_val(r->user, SESS_USER_MAX, &user) == 0) {
        usess_entry(entry, r->created, r->id);
        rc = index_del(txn, s, &user, entry);
    }
    if (rc == 0)
        rc = map_err(mdb_del(txn, s->dbi[DBI_SESSIONS], &k, NULL));
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
        rc = map_err(mdb_del(txn, s->dbi[DBI_SESSIONS], &k, NULL));
    }
    sess_record_dispose(&r);
    return rc;
}

/* ---- ping, create ---- */

static int lmdb_ping(sess_store *st)
{
    rtxn r;
    if (rtxn_begin(from_base(st), &r) != 0)
        return SESS_ESTORE;
    rtxn_end(&r);
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
        return map_err(rc);
    if ((rc = mdb_cursor_get(cur, &k, &v, MDB_SET_KEY)) != 0 ||
        (rc = mdb_cursor_count(cur, &cap)) != 0) {
        mdb_cursor_close(cur);
        return rc == MDB_NOTFOUND ? 0 : map_err(rc);
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
        return map_err(rc);
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
    int rc = name_val(rec->user, SESS_USER_MAX, &user);
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
    usess_entry(entry, rec->created, rec->id);
    k = user;
    MDB_val v = mval(entry, USESS_ENTRY_BYTES);
    if ((rc = mdb_put(txn, s->dbi[DBI_USESS], &k, &v, 0)) != 0)
        return map_err(rc);
    return enforce_limit(txn, s, &user, gen, rec->id, max_per_user, evicted);
}

static int lmdb_create(sess_store *st, const sess_record *rec, uint32_t max_per_user,
                       uint32_t *evicted)
{
    lmdb_store *s = from_base(st);
    MDB_txn *txn;
    uint32_t n = 0;
    if (evicted != NULL)
        *evicted = 0;
    int rc = wtxn_begin(s, &txn);
    if (rc != 0)
        return rc;
    rc = wtxn_end(s, txn, create_in(txn, s, rec, max_per_user, &n));
    if (rc == 0 && evicted != NULL)
        *evicted = n;
    return rc;
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
        return rc == MDB_NOTFOUND ? SESS_ESESSION : map_err(rc);
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
    if (rtxn_begin(from_base(st), &r) != 0)
        return 0;
    uint64_t v = (r.e->reopens << 48) | ((uint64_t)mdb_txn_id(r.txn) & ((UINT64_C(1) << 48) - 1));
    rtxn_end(&r);
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
    int rc = rtxn_begin(s, &r);
    if (rc != 0)
        return rc;
    rc = lookup_in(r.txn, s, hash, out, &gen, &prev);
    rtxn_end(&r);
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
    int rc = rtxn_begin(s, &r);
    if (rc != 0)
        return rc;
    rc = rec_get(r.txn, s, id, out, true);
    if (rc == 0 && (rc = gen_of_user(r.txn, s, out->user, &gen)) != 0)
        sess_record_dispose(out);
    rtxn_end(&r);
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
    if (name_val(user, SESS_USER_MAX, &k) != 0)
        return SESS_EINVAL;
    int rc = rtxn_begin(s, &r);
    if (rc != 0)
        return rc;
    rc = get_generation(r.txn, s, &k, generation);
    rtxn_end(&r);
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

static int lmdb_touch_many(sess_store *st, size_t n, const uint8_t (*ids)[SESS_ID_BYTES],
                           const int64_t *last_seen, const int64_t *idle_expires)
{
    lmdb_store *s = from_base(st);
    MDB_txn *txn;
    if (s->read_only)
        return SESS_EINVAL;
    if (n == 0)
        return 0;
    int rc = wtxn_begin(s, &txn);
    if (rc != 0)
        return rc;
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = touch_one(txn, s, ids[i], last_seen[i], idle_expires[i]);
    return wtxn_end(s, txn, rc);
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

static int lmdb_patch(sess_store *st, const uint8_t id[SESS_ID_BYTES], const char *patch,
                      size_t patch_len, size_t max_data, sess_record *out)
{
    lmdb_store *s = from_base(st);
    MDB_txn *txn;
    sess_record r;
    if (out != NULL)
        sess_record_init(out);
    int rc = wtxn_begin(s, &txn);
    if (rc != 0)
        return rc;
    rc = wtxn_end(s, txn, patch_in(txn, s, id, patch, patch_len, max_data, &r));
    if (rc == 0 && out != NULL)
        *out = r; /* hands over r.data */
    else
        sess_record_dispose(&r);
    return rc;
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

static int lmdb_rotate(sess_store *st, const uint8_t id[SESS_ID_BYTES],
                       const uint8_t *expected_hash, const uint8_t new_hash[SESS_HASH_BYTES],
                       int64_t prev_until, int64_t auth_time, const uint8_t *new_csrf_secret)
{
    lmdb_store *s = from_base(st);
    rotate_args a = {expected_hash, new_hash, prev_until, auth_time, new_csrf_secret};
    MDB_txn *txn;
    int rc = wtxn_begin(s, &txn);
    return rc != 0 ? rc : wtxn_end(s, txn, rotate_in(txn, s, id, &a));
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

static int lmdb_set_roles(sess_store *st, const char *user, const char *roles)
{
    lmdb_store *s = from_base(st);
    MDB_txn *txn;
    MDB_val k;
    int rc = name_val(user, SESS_USER_MAX, &k);
    if (rc != 0 || (rc = wtxn_begin(s, &txn)) != 0)
        return rc;
    return wtxn_end(s, txn, set_roles_in(txn, s, &k, roles));
}

static int lmdb_del(sess_store *st, const uint8_t id[SESS_ID_BYTES])
{
    lmdb_store *s = from_base(st);
    MDB_txn *txn;
    int rc = wtxn_begin(s, &txn);
    return rc != 0 ? rc : wtxn_end(s, txn, drop_by_id(txn, s, id));
}

static int revoke_in(MDB_txn *txn, const lmdb_store *s, const MDB_val *user, uint64_t *gen)
{
    uint8_t buf[GEN_BYTES];
    int rc = get_generation(txn, s, user, gen);
    if (rc != 0)
        return rc;
    put_be64(buf, ++*gen);
    MDB_val k = *user, v = mval(buf, GEN_BYTES);
    return map_err(mdb_put(txn, s->dbi[DBI_USERS], &k, &v, 0));
}

static int lmdb_revoke_user(sess_store *st, const char *user, uint64_t *generation)
{
    lmdb_store *s = from_base(st);
    MDB_txn *txn;
    MDB_val k;
    uint64_t gen = 0;
    int rc = name_val(user, SESS_USER_MAX, &k);
    if (rc != 0 || (rc = wtxn_begin(s, &txn)) != 0)
        return rc;
    rc = wtxn_end(s, txn, revoke_in(txn, s, &k, &gen));
    if (rc == 0 && generation != NULL)
        *generation = gen;
    return rc;
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
    if (rc != 0 || (rc = map_err(mdb_cursor_open(txn, s->dbi[DBI_USESS], &cur))) != 0)
        return rc;
    for (int mrc = mdb_cursor_get(cur, &k, &v, MDB_SET_KEY); mrc != MDB_NOTFOUND;
         mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT_DUP)) {
        if (mrc != 0 || v.mv_size != USESS_ENTRY_BYTES) {
            rc = mrc != 0 ? map_err(mrc) : SESS_ECORRUPT;
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
    int rc = name_val(user, SESS_USER_MAX, &k);
    if (rc != 0 || (rc = rtxn_begin(s, &r)) != 0)
        return rc;
    rc = list_user_in(r.txn, s, &k, cb, arg);
    rtxn_end(&r);
    return rc;
}

static int list_all_in(MDB_txn *txn, const lmdb_store *s, sess_record_cb cb, void *arg)
{
    MDB_cursor *cur;
    MDB_val k, v;
    int rc = map_err(mdb_cursor_open(txn, s->dbi[DBI_SESSIONS], &cur));
    if (rc != 0)
        return rc;
    for (int mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); mrc != MDB_NOTFOUND;
         mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (mrc != 0 || k.mv_size != SESS_ID_BYTES) {
            rc = mrc != 0 ? map_err(mrc) : SESS_ECORRUPT;
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
    int rc = rtxn_begin(s, &r);
    if (rc != 0)
        return rc;
    rc = list_all_in(r.txn, s, cb, arg);
    rtxn_end(&r);
    return rc;
}

static int lmdb_count(sess_store *st, uint64_t *n)
{
    lmdb_store *s = from_base(st);
    MDB_stat ms;
    rtxn r;
    int rc = rtxn_begin(s, &r);
    if (rc != 0)
        return rc;
    rc = map_err(mdb_stat(r.txn, s->dbi[DBI_SESSIONS], &ms));
    rtxn_end(&r);
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
    if (rec_decode(v, &r, false) != 0)
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
        return map_err(rc);
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
            rc = rc != 0 ? map_err(rc) : SESS_ECORRUPT;
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

static int lmdb_sweep(sess_store *st, int64_t now, size_t max_items, size_t *removed)
{
    lmdb_store *s = from_base(st);
    sweep_state sw = {.now = now, .max = max_items, .budget = sweep_budget(max_items)};
    MDB_txn *txn;
    if (removed != NULL)
        *removed = 0;
    int rc = wtxn_begin(s, &txn);
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&s->mu);
    sw.has_start = s->sweep_has_pos;
    memcpy(sw.start, s->sweep_pos, SESS_ID_BYTES);
    pthread_mutex_unlock(&s->mu);
    if ((rc = wtxn_end(s, txn, sweep_in(txn, s, &sw))) != 0)
        return rc;
    pthread_mutex_lock(&s->mu);
    s->sweep_has_pos = sw.has_next;
    memcpy(s->sweep_pos, sw.next, SESS_ID_BYTES);
    pthread_mutex_unlock(&s->mu);
    if (removed != NULL)
        *removed = sw.removed;
    return 0;
}

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

static int lmdb_prefs_get(sess_store *st, const char *user, char **json, size_t *len)
{
    lmdb_store *s = from_base(st);
    MDB_val k, v;
    rtxn r;
    int rc = name_val(user, SESS_USER_MAX, &k);
    if (rc != 0 || (rc = rtxn_begin(s, &r)) != 0)
        return rc;
    rc = map_err(mdb_get(r.txn, s->dbi[DBI_PREFS], &k, &v));
    if (rc == 0) {
        *json = dup_text(v.mv_data, v.mv_size);
        rc = *json == NULL ? SESS_ENOMEM : 0;
        if (rc == 0 && len != NULL)
            *len = v.mv_size;
    }
    rtxn_end(&r);
    return rc;
}

static int prefs_store(MDB_txn *txn, const lmdb_store *s, const MDB_val *user, const char *json,
                       size_t len)
{
    MDB_val k = *user, v = mval(json, len);
    return map_err(mdb_put(txn, s->dbi[DBI_PREFS], &k, &v, 0));
}

static int lmdb_prefs_put(sess_store *st, const char *user, const char *json, size_t len,
                          size_t max_bytes)
{
    lmdb_store *s = from_base(st);
    MDB_txn *txn;
    MDB_val k;
    char *text;
    size_t text_len;
    int rc = name_val(user, SESS_USER_MAX, &k);
    if (rc != 0 || (rc = sess_json_canonical(json, len, max_bytes, &text, &text_len)) != 0)
        return rc;
    if ((rc = wtxn_begin(s, &txn)) == 0)
        rc = wtxn_end(s, txn, prefs_store(txn, s, &k, text, text_len));
    free(text);
    return rc;
}

static int prefs_patch_in(MDB_txn *txn, const lmdb_store *s, const MDB_val *user, const char *patch,
                          size_t len, size_t max_bytes, char **res, size_t *res_len)
{
    MDB_val k = *user, v = {0, NULL};
    int rc = mdb_get(txn, s->dbi[DBI_PREFS], &k, &v);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return map_err(rc);
    /* The stored text is read in place; the merge copies it out before anything is written. */
    rc = sess_json_merge(v.mv_data, v.mv_size, patch, len, max_bytes, res, res_len);
    if (rc == 0 && (rc = prefs_store(txn, s, user, *res, *res_len)) != 0) {
        free(*res);
        *res = NULL;
    }
    return rc;
}

static int lmdb_prefs_patch(sess_store *st, const char *user, const char *patch, size_t len,
                            size_t max_bytes, char **result, size_t *result_len)
{
    lmdb_store *s = from_base(st);
    MDB_txn *txn;
    MDB_val k;
    char *res = NULL;
    size_t res_len = 0;
    int rc = name_val(user, SESS_USER_MAX, &k);
    if (rc != 0 || (rc = wtxn_begin(s, &txn)) != 0)
        return rc;
    rc = wtxn_end(s, txn, prefs_patch_in(txn, s, &k, patch, len, max_bytes, &res, &res_len));
    if (rc == 0 && result != NULL) {
        *result = res;
        if (result_len != NULL)
            *result_len = res_len;
        res = NULL;
    }
    free(res);
    return rc;
}

/* ---- API keys ---- */

static int apikey_put_in(MDB_txn *txn, const lmdb_store *s, const MDB_val *name,
                         const uint8_t *hash, int64_t created)
{
    uint8_t val[APIKEY_VALUE_BYTES];
    memcpy(val, hash, SESS_HASH_BYTES);
    put_be64(val + SESS_HASH_BYTES, (uint64_t)created);
    MDB_val k = *name, v = mval(val, sizeof(val));
    int rc = mdb_put(txn, s->dbi[DBI_APIKEYS], &k, &v, MDB_NOOVERWRITE);
    if (rc != 0)
        return map_err(rc);
    k = mval(hash, SESS_HASH_BYTES);
    v = *name;
    return map_err(mdb_put(txn, s->dbi[DBI_APIKEY_HASH], &k, &v, MDB_NOOVERWRITE));
}

static int lmdb_apikey_put(sess_store *st, const char *name, const uint8_t hash[SESS_HASH_BYTES],
                           int64_t created)
{
    lmdb_store *s = from_base(st);
    MDB_txn *txn;
    MDB_val k;
    int rc = name_val(name, SESS_APIKEY_NAME_MAX, &k);
    if (rc != 0 || (rc = wtxn_begin(s, &txn)) != 0)
        return rc;
    return wtxn_end(s, txn, apikey_put_in(txn, s, &k, hash, created));
}

static int lmdb_apikey_find(sess_store *st, const uint8_t hash[SESS_HASH_BYTES],
                            char name[SESS_APIKEY_NAME_MAX + 1])
{
    lmdb_store *s = from_base(st);
    MDB_val k = mval(hash, SESS_HASH_BYTES), v;
    rtxn r;
    int rc = rtxn_begin(s, &r);
    if (rc != 0)
        return rc;
    rc = map_err(mdb_get(r.txn, s->dbi[DBI_APIKEY_HASH], &k, &v));
    if (rc == 0 && (v.mv_size == 0 || v.mv_size > SESS_APIKEY_NAME_MAX))
        rc = SESS_ECORRUPT;
    if (rc == 0) {
        memcpy(name, v.mv_data, v.mv_size);
        name[v.mv_size] = '\0';
    }
    rtxn_end(&r);
    return rc;
}

static int apikey_del_in(MDB_txn *txn, const lmdb_store *s, const MDB_val *name)
{
    MDB_val k = *name, v, hv;
    int rc = mdb_get(txn, s->dbi[DBI_APIKEYS], &k, &v);
    if (rc != 0)
        return map_err(rc);
    if (v.mv_size != APIKEY_VALUE_BYTES)
        return SESS_ECORRUPT;
    MDB_val hk = mval(v.mv_data, SESS_HASH_BYTES);
    rc = mdb_get(txn, s->dbi[DBI_APIKEY_HASH], &hk, &hv);
    if (rc == 0 && hv.mv_size == name->mv_size &&
        memcmp(hv.mv_data, name->mv_data, name->mv_size) == 0)
        rc = mdb_del(txn, s->dbi[DBI_APIKEY_HASH], &hk, NULL);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return map_err(rc);
    k = *name;
    return map_err(mdb_del(txn, s->dbi[DBI_APIKEYS], &k, NULL));
}

static int lmdb_apikey_del(sess_store *st, const char *name)
{
    lmdb_store *s = from_base(st);
    MDB_txn *txn;
    MDB_val k;
    if (name_val(name, SESS_APIKEY_NAME_MAX, &k) != 0)
        return s->read_only ? SESS_EINVAL : SESS_ENOTFOUND; /* no such name can exist */
    int rc = wtxn_begin(s, &txn);
    return rc != 0 ? rc : wtxn_end(s, txn, apikey_del_in(txn, s, &k));
}

static int apikey_list_in(MDB_txn *txn, const lmdb_store *s, sess_apikey_cb cb, void *arg)
{
    MDB_cursor *cur;
    MDB_val k, v;
    char name[SESS_APIKEY_NAME_MAX + 1];
    int rc = map_err(mdb_cursor_open(txn, s->dbi[DBI_APIKEYS], &cur));
    if (rc != 0)
        return rc;
    for (int mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); mrc != MDB_NOTFOUND;
         mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (mrc != 0) {
            rc = map_err(mrc);
            break;
        }
        if (k.mv_size == 0 || k.mv_size > SESS_APIKEY_NAME_MAX || v.mv_size != APIKEY_VALUE_BYTES) {
            rc = SESS_ECORRUPT;
            break;
        }
        memcpy(name, k.mv_data, k.mv_size);
        name[k.mv_size] = '\0';
        if (cb(name, (int64_t)get_be64((const uint8_t *)v.mv_data + SESS_HASH_BYTES), arg) != 0)
            break;
    }
    mdb_cursor_close(cur);
    return rc;
}

static int lmdb_apikey_list(sess_store *st, sess_apikey_cb cb, void *arg)
{
    lmdb_store *s = from_base(st);
    rtxn r;
    int rc = rtxn_begin(s, &r);
    if (rc != 0)
        return rc;
    rc = apikey_list_in(r.txn, s, cb, arg);
    rtxn_end(&r);
    return rc;
}

/* ---- user accounts ---- */

static int lmdb_user_get(sess_store *st, const char *user, uint8_t *buf, size_t cap, size_t *len)
{
    lmdb_store *s = from_base(st);
    MDB_val k, v;
    rtxn r;
    int rc = name_val(user, SESS_USER_MAX, &k);
    if (rc != 0)
        return rc;
    if (s->no_accounts)
        return SESS_ENOTFOUND;
    if ((rc = rtxn_begin(s, &r)) != 0)
        return rc;
    rc = map_err(mdb_get(r.txn, s->dbi[DBI_ACCOUNTS], &k, &v));
    if (rc == 0 && (v.mv_size == 0 || v.mv_size > SESS_ACCOUNT_MAX))
        rc = SESS_ECORRUPT;
    else if (rc == 0 && v.mv_size > cap)
        rc = SESS_ETOOLARGE;
    if (rc == 0) {
        memcpy(buf, v.mv_data, v.mv_size);
        *len = v.mv_size;
    }
    rtxn_end(&r);
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
        return map_err(rc);
    if (prev == NULL && rc == 0)
        return SESS_EEXIST;
    if (prev != NULL && rc == MDB_NOTFOUND)
        return SESS_ENOTFOUND;
    if (prev != NULL && (v.mv_size != prev_len || memcmp(v.mv_data, prev, prev_len) != 0))
        return SESS_ECONFLICT;
    k = *user;
    v = mval(rec, len);
    return map_err(mdb_put(txn, s->dbi[DBI_ACCOUNTS], &k, &v, 0));
}

static int lmdb_user_put(sess_store *st, const char *user, const uint8_t *rec, size_t len,
                         const uint8_t *prev, size_t prev_len)
{
    lmdb_store *s = from_base(st);
    MDB_txn *txn;
    MDB_val k;
    int rc = name_val(user, SESS_USER_MAX, &k);
    if (rc != 0 || len == 0 || len > SESS_ACCOUNT_MAX)
        return SESS_EINVAL;
    if ((rc = wtxn_begin(s, &txn)) != 0)
        return rc;
    return wtxn_end(s, txn, user_put_in(txn, s, &k, rec, len, prev, prev_len));
}

static int lmdb_user_del(sess_store *st, const char *user)
{
    lmdb_store *s = from_base(st);
    MDB_txn *txn;
    MDB_val k;
    int rc = name_val(user, SESS_USER_MAX, &k);
    if (rc != 0 || (rc = wtxn_begin(s, &txn)) != 0)
        return rc;
    return wtxn_end(s, txn, map_err(mdb_del(txn, s->dbi[DBI_ACCOUNTS], &k, NULL)));
}

static int user_list_in(MDB_txn *txn, const lmdb_store *s, sess_account_cb cb, void *arg)
{
    MDB_cursor *cur;
    MDB_val k, v;
    char name[SESS_USER_MAX + 1];
    int rc = map_err(mdb_cursor_open(txn, s->dbi[DBI_ACCOUNTS], &cur));
    if (rc != 0)
        return rc;
    for (int mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); mrc != MDB_NOTFOUND;
         mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (mrc != 0) {
            rc = map_err(mrc);
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
static int lmdb_user_list(sess_store *st, sess_account_cb cb, void *arg)
{
    lmdb_store *s = from_base(st);
    rtxn r;
    if (s->no_accounts)
        return 0;
    int rc = rtxn_begin(s, &r);
    if (rc != 0)
        return rc;
    rc = user_list_in(r.txn, s, cb, arg);
    rtxn_end(&r);
    return rc;
}

/* ---- opening and closing the environment ---- */

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
    va_list ap;
    if (err != NULL && errlen > 0) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

static int env_open_error(int rc, const char *dir, char *err, size_t errlen)
{
    switch (rc) {
    case MDB_INVALID:
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
        return fail(err, errlen, SESS_ECORRUPT,
                    "data file %s/data.mdb is corrupt or not an LMDB file (%s); restore it from a "
                    "backup or move it away",
                    dir, mdb_strerror(rc));
    case MDB_VERSION_MISMATCH:
        return fail(err, errlen, SESS_ECORRUPT,
                    "data file %s/data.mdb was written by an incompatible LMDB version", dir);
    case ENOENT:
        return fail(err, errlen, SESS_ESTORE, "no store in %s (it is created on first write)", dir);
    case ENOMEM:
        return fail(err, errlen, SESS_ENOMEM, "cannot open store in %s: %s", dir, mdb_strerror(rc));
    default:
        return fail(err, errlen, SESS_ESTORE, "cannot open store in %s: %s", dir, mdb_strerror(rc));
    }
}

/* LMDB reads past the end of a truncated file through the map, which is SIGBUS, not an error:
 * refuse a file shorter than the pages its newest meta page says are in use. */
static int check_file_size(MDB_env *env, const char *dir, char *err, size_t errlen)
{
    MDB_envinfo info;
    MDB_stat ms;
    struct stat sb;
    char path[PATH_MAX];
    if (mdb_env_info(env, &info) != 0 || mdb_env_stat(env, &ms) != 0)
        return fail(err, errlen, SESS_ECORRUPT, "cannot read the header of %s/data.mdb", dir);
    int n = snprintf(path, sizeof(path), "%s/data.mdb", dir);
    if (n < 0 || (size_t)n >= sizeof(path))
        return fail(err, errlen, SESS_EINVAL, "data directory path is too long");
    if (stat(path, &sb) != 0)
        return fail(err, errlen, SESS_ESTORE, "cannot stat %s: %s", path, strerror(errno));
    unsigned long long need = ((unsigned long long)info.me_last_pgno + 1) * ms.ms_psize;
    if ((unsigned long long)sb.st_size < need)
        return fail(err, errlen, SESS_ECORRUPT,
                    "data file %s is truncated (%lld bytes, at least %llu expected); restore it "
                    "from a backup",
                    path, (long long)sb.st_size, need);
    return 0;
}

/* LMDB takes an empty data.mdb for a new environment and would silently start over with no
 * sessions. An empty file is what a filesystem leaves of a file it lost (or of a store whose
 * creation crashed before its first page was written, when nothing was acknowledged yet): refuse
 * it and let the operator decide. */
static int check_not_empty(const char *dir, char *err, size_t errlen)
{
    struct stat sb;
    char path[PATH_MAX];
    int n = snprintf(path, sizeof(path), "%s/data.mdb", dir);
    if (n < 0 || (size_t)n >= sizeof(path))
        return fail(err, errlen, SESS_EINVAL, "data directory path is too long");
    if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size == 0)
        return fail(err, errlen, SESS_ECORRUPT,
                    "data file %s is empty (0 bytes): its content was lost; restore it from a "
                    "backup, or remove it to start with an empty store",
                    path);
    return 0;
}

/* Reads (or, in a new environment, writes) the format version. */
static int check_format(MDB_txn *txn, MDB_dbi meta, bool fresh, const char *dir, char *err,
                        size_t errlen)
{
    uint8_t buf[4] = {0, 0, 0, STORE_FORMAT_VERSION};
    MDB_val k = mval(META_FORMAT_KEY, strlen(META_FORMAT_KEY)), v;
    int rc = mdb_get(txn, meta, &k, &v);
    if (rc == MDB_NOTFOUND && fresh) {
        v = mval(buf, sizeof(buf));
        rc = mdb_put(txn, meta, &k, &v, 0);
        return rc == 0 ? 0
                       : fail(err, errlen, map_err(rc), "cannot initialise store in %s: %s", dir,
                              mdb_strerror(rc));
    }
    if (rc != 0)
        return fail(err, errlen, rc == MDB_NOTFOUND ? SESS_ECORRUPT : map_err(rc),
                    "store in %s has no format version (%s): not a sessiond store?", dir,
                    mdb_strerror(rc));
    if (v.mv_size != sizeof(buf))
        return fail(err, errlen, SESS_ECORRUPT, "store in %s has a malformed format version", dir);
    const uint8_t *p = v.mv_data;
    uint32_t ver = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    if (ver != STORE_FORMAT_VERSION)
        return fail(err, errlen, SESS_ECORRUPT,
                    "store in %s has format version %u, this sessiond reads version %u; use a "
                    "matching sessiond",
                    dir, ver, STORE_FORMAT_VERSION);
    return 0;
}

static int open_dbis_in(MDB_txn *txn, bool ro, MDB_dbi *dbi, bool *no_accounts, const char *dir,
                        char *err, size_t errlen)
{
    MDB_stat ms;
    MDB_dbi main_dbi;
    int rc = mdb_dbi_open(txn, NULL, 0, &main_dbi);
    if (rc == 0) /* the main DB (names of the others) is empty only in a new environment */
        rc = mdb_stat(txn, main_dbi, &ms);
    if (rc != 0)
        return env_open_error(rc, dir, err, errlen);
    bool fresh = !ro && ms.ms_entries == 0;
    for (int i = 0; i < DBI_COUNT; i++) {
        rc =
            mdb_dbi_open(txn, dbi_spec[i].name, dbi_spec[i].flags | (ro ? 0 : MDB_CREATE), &dbi[i]);
        if (rc == MDB_NOTFOUND && ro && i == DBI_ACCOUNTS) {
            *no_accounts = true;
            continue;
        }
        if (rc == MDB_NOTFOUND || rc == MDB_INCOMPATIBLE)
            return fail(err, errlen, SESS_ECORRUPT,
                        "store in %s lacks database \"%s\" or has it in another layout: not a "
                        "sessiond store?",
                        dir, dbi_spec[i].name);
        if (rc != 0)
            return env_open_error(rc, dir, err, errlen);
    }
    return check_format(txn, dbi[DBI_META], fresh, dir, err, errlen);
}

/* Opens every named database in one transaction and commits it, which keeps the handles. */
static int open_dbis(MDB_env *env, bool ro, MDB_dbi *dbi, bool *no_accounts, const char *dir,
                     char *err, size_t errlen)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(env, NULL, ro ? MDB_RDONLY : 0, &txn);
    if (rc != 0)
        return env_open_error(rc, dir, err, errlen);
    if ((rc = open_dbis_in(txn, ro, dbi, no_accounts, dir, err, errlen)) != 0) {
        mdb_txn_abort(txn);
        return rc;
    }
    if ((rc = mdb_txn_commit(txn)) != 0)
        return env_open_error(rc, dir, err, errlen);
    return 0;
}

/* Opens e->env (NULL on failure) from e->dir, e->map_size, e->read_only and e->group_commit:
 * at first use and again after MDB_PANIC. */
static int env_open_lmdb(shared_env *e, char *err, size_t errlen)
{
    unsigned flags =
        MDB_NOTLS | (e->read_only ? MDB_RDONLY : 0) | (e->group_commit ? MDB_NOMETASYNC : 0);
    int rc = check_not_empty(e->dir, err, errlen);
    if (rc != 0)
        return rc;
    if ((rc = mdb_env_create(&e->env)) != 0)
        return env_open_error(rc, e->dir, err, errlen);
    if ((rc = mdb_env_set_mapsize(e->env, e->map_size)) ||
        (rc = mdb_env_set_maxreaders(e->env, MAX_READERS)) ||
        (rc = mdb_env_set_maxdbs(e->env, DBI_COUNT)) ||
        (rc = mdb_env_open(e->env, e->dir, flags, 0600))) {
        rc = env_open_error(rc, e->dir, err, errlen);
    } else if ((rc = check_file_size(e->env, e->dir, err, errlen)) == 0 &&
               (rc = open_dbis(e->env, e->read_only, e->dbi, &e->no_accounts, e->dir, err,
                               errlen)) == 0) {
        int dead;
        /* Reader slots left by crashed processes would otherwise pin old pages forever. */
        mdb_reader_check(e->env, &dead);
        return 0;
    }
    mdb_env_close(e->env);
    e->env = NULL;
    return rc;
}

static int env_open(const sess_store_opts *opts, const char *dir, shared_env *e, char *err,
                    size_t errlen)
{
    int n = snprintf(e->dir, sizeof(e->dir), "%s", dir);
    if (n < 0 || (size_t)n >= sizeof(e->dir))
        return fail(err, errlen, SESS_EINVAL, "data directory path is too long");
    e->map_size = opts->map_size ? opts->map_size : DEFAULT_MAP_SIZE;
    e->read_only = opts->read_only;
    e->group_commit = opts->group_commit && !opts->read_only;
    e->log = opts->log;
    e->log_arg = opts->log_arg;
    int rc = env_open_lmdb(e, err, errlen);
    if (rc != 0)
        return rc;
    pthread_mutex_init(&e->sync_mu, NULL);
    pthread_cond_init(&e->sync_cv, NULL);
    /* Readers first: a reader inside a list callback may start another transaction while a
     * reopen waits for the lock (see lives_held). */
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_READER_NP);
    pthread_rwlock_init(&e->life, &attr);
    pthread_rwlockattr_destroy(&attr);
    return 0;
}

static int make_dir(const char *dir, char *err, size_t errlen)
{
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return fail(err, errlen, SESS_ESTORE, "cannot create %s: %s", dir, strerror(errno));
    return 0;
}

/* Finds the directory (creating it unless read-only) and identifies it for the registry. */
static int prepare_dir(const sess_store_opts *opts, char *dir, size_t cap, struct stat *sb,
                       char *err, size_t errlen)
{
    int n = snprintf(dir, cap, "%s/store", opts->path);
    if (n < 0 || (size_t)n >= cap)
        return fail(err, errlen, SESS_EINVAL, "data directory path is too long");
    if (!opts->read_only) {
        int rc = make_dir(opts->path, err, errlen);
        if (rc != 0 || (rc = make_dir(dir, err, errlen)) != 0)
            return rc;
    }
    if (stat(dir, sb) != 0)
        return fail(err, errlen, SESS_ESTORE, "no store in %s: %s", dir, strerror(errno));
    if (!S_ISDIR(sb->st_mode))
        return fail(err, errlen, SESS_ESTORE, "%s is not a directory", dir);
    return 0;
}

/* Returns this process's environment for the directory, opening it on first use. Called with
 * registry_mu held. */
static int env_acquire(const sess_store_opts *opts, const char *dir, const struct stat *sb,
                       shared_env **out, char *err, size_t errlen)
{
    pid_t pid = getpid();
    for (shared_env *e = registry; e != NULL; e = e->next) {
        if (e->dev != sb->st_dev || e->ino != sb->st_ino || e->pid != pid)
            continue;
        if (e->read_only && !opts->read_only)
            return fail(err, errlen, SESS_ESTORE,
                        "store in %s is already open read-only in this process", dir);
        e->refs++;
        *out = e;
        return 0;
    }
    shared_env *e = calloc(1, sizeof(*e));
    if (e == NULL)
        return fail(err, errlen, SESS_ENOMEM, "out of memory");
    int rc = env_open(opts, dir, e, err, errlen);
    if (rc != 0) {
        free(e);
        return rc;
    }
    e->dev = sb->st_dev;
    e->ino = sb->st_ino;
    e->pid = pid;
    e->refs = 1;
    e->next = registry;
    registry = e;
    *out = e;
    return 0;
}

static void env_release(shared_env *e)
{
    pthread_mutex_lock(&registry_mu);
    if (--e->refs == 0) {
        for (shared_env **pp = &registry; *pp != NULL; pp = &(*pp)->next) {
            if (*pp == e) {
                *pp = e->next;
                break;
            }
        }
        if (e->group_commit && e->env != NULL)
            mdb_env_sync(e->env, 1);
        if (e->env != NULL)
            mdb_env_close(e->env);
        pthread_rwlock_destroy(&e->life);
        pthread_mutex_destroy(&e->sync_mu);
        pthread_cond_destroy(&e->sync_cv);
        free(e);
    }
    pthread_mutex_unlock(&registry_mu);
}

/* Every thread using the store must be done with it (the server joins its threads first). */
static void lmdb_close(sess_store *st)
{
    lmdb_store *s = from_base(st);
    if (s == NULL)
        return;
    pthread_setspecific(s->key, NULL);
    pthread_key_delete(s->key);
    shared_env *e = s->shared;
    pthread_rwlock_wrlock(&e->life);
    for (lmdb_store **pp = &e->handles; *pp != NULL; pp = &(*pp)->next_handle) {
        if (*pp == s) {
            *pp = s->next_handle;
            break;
        }
    }
    pthread_mutex_lock(&s->mu);
    for (reader *slot = s->readers, *next; slot != NULL; slot = next) {
        next = slot->next;
        mdb_txn_abort(slot->txn);
        free(slot);
    }
    s->readers = NULL;
    pthread_mutex_unlock(&s->mu);
    pthread_rwlock_unlock(&e->life);
    pthread_mutex_destroy(&s->mu);
    env_release(s->shared);
    free(s);
}

static const sess_store_ops lmdb_ops = {
    .name = "lmdb",
    .close = lmdb_close,
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
    .prefs_get = lmdb_prefs_get,
    .prefs_put = lmdb_prefs_put,
    .prefs_patch = lmdb_prefs_patch,
    .apikey_put = lmdb_apikey_put,
    .apikey_find = lmdb_apikey_find,
    .apikey_del = lmdb_apikey_del,
    .apikey_list = lmdb_apikey_list,
    .user_get = lmdb_user_get,
    .user_put = lmdb_user_put,
    .user_del = lmdb_user_del,
    .user_list = lmdb_user_list,
    .generation = lmdb_generation,
    .version = lmdb_version,
};

static int handle_new(shared_env *e, bool read_only, sess_store **out, char *err, size_t errlen)
{
    lmdb_store *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return fail(err, errlen, SESS_ENOMEM, "out of memory");
    if (pthread_key_create(&s->key, reader_exit) != 0) {
        free(s);
        return fail(err, errlen, SESS_ENOMEM, "cannot create a thread-local key");
    }
    pthread_mutex_init(&s->mu, NULL);
    s->base.ops = &lmdb_ops;
    s->shared = e;
    s->dbi = e->dbi;
    s->read_only = read_only;
    s->no_accounts = e->no_accounts;
    pthread_rwlock_wrlock(&e->life);
    s->next_handle = e->handles;
    e->handles = s;
    pthread_rwlock_unlock(&e->life);
    *out = &s->base;
    return 0;
}

int sess_store_lmdb_open(const sess_store_opts *opts, sess_store **out, char *err, size_t errlen)
{
    char dir[PATH_MAX];
    struct stat sb;
    shared_env *e = NULL;
    *out = NULL;
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (opts == NULL || opts->path == NULL || opts->path[0] == '\0')
        return fail(err, errlen, SESS_EINVAL, "no data directory given");
    int rc = prepare_dir(opts, dir, sizeof(dir), &sb, err, errlen);
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&registry_mu);
    rc = env_acquire(opts, dir, &sb, &e, err, errlen);
    pthread_mutex_unlock(&registry_mu);
    if (rc == 0 && (rc = handle_new(e, opts->read_only, out, err, errlen)) != 0)
        env_release(e);
    return rc;
}
