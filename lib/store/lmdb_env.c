/*
 * lmdb_env.c - the LMDB backend's environment: opening it (with the checks that refuse a data
 * file that is empty, truncated, corrupt or not a sessiond store of this format version), the
 * process-wide registry that shares it between handles, the read and write transactions every
 * operation runs in (with group commit), reopening it after a failure, and closing handles.
 *
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
 *
 * The map grows on demand: it starts at 1 GiB (or [store] map_size when smaller) and, when a
 * write transaction runs out of map (MDB_MAP_FULL), it is doubled, up to the ceiling
 * [store] map_size, and the write runs again. mdb_env_set_mapsize may only be called while no
 * transaction of this process is active: the growth takes the same `life` lock for writing,
 * so the process's writers and readers pause for the remap (a few microseconds: the data file
 * itself does not change). Other processes (the CLI, the nginx module) learn of it at their
 * next transaction, which LMDB answers MDB_MAP_RESIZED once the data passes their map; they
 * adopt the new size the same way (env_adopt_size). A write that finds no room, with the map
 * at its ceiling or the file system full (ENOSPC), fails with SESS_EFULL; the first such
 * failure starts an "episode", logged once with the free space, during which ping says
 * SESS_EFULL (readiness), and the next write that changes something and finds room again ends
 * it, logged once too.
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
#include <sys/statvfs.h>
#include <sys/types.h>
#include <unistd.h>

#include <lmdb.h>

#include "sessiond/error.h"
#include "sessiond/store.h"
#include "lmdb_int.h"

#define STORE_FORMAT_VERSION 1u            /* meta "format": the layout of the databases (lmdb.c) */
#define DEFAULT_MAP_SIZE ((size_t)1 << 30) /* the first map, and the ceiling when none is given */
#define FULL_MAP 1                         /* shared_env.full: the map is at its ceiling */
#define FULL_DISK 2                        /* shared_env.full: the file system is full */
#define FULL_DISK_AFTER_COMMIT 3 /* wtxn_finish only: a sync after the commit found no room */
/* A full file system counts as having room again from this much free space: less than that
 * is what a sweep or a touch may still find, not the end of the episode. */
#define DISK_ROOM ((unsigned long long)1 << 20)
#define MAX_READERS 512

static const char META_FORMAT_KEY[] = "format";

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

static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;
static shared_env *registry;

/* ---- LMDB codes as sess_err ---- */

int sess__lmdb_map_err(int rc)
{
    switch (rc) {
    case 0:
        return 0;
    case MDB_NOTFOUND:
        return SESS_ENOTFOUND;
    case MDB_KEYEXIST:
        return SESS_EEXIST;
    case MDB_MAP_FULL:
    case ENOSPC:
    case EDQUOT:
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
    default: /* EIO, MDB_PANIC, MDB_READERS_FULL, MDB_MAP_RESIZED, ... */
        return SESS_ESTORE;
    }
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

/* Closes the failed environment and opens it again, unless another thread did since the caller
 * saw `seen` reopens. Called with no life lock held. */
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
    return sess__lmdb_map_err(rc);
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
 * when it is free, else a one-off. Ended with sess__lmdb_rtxn_end. */
int sess__lmdb_rtxn_begin(lmdb_store *s, rtxn *r)
{
    r->e = s->shared;
    return life_begin(s, rtxn_try, r);
}

void sess__lmdb_rtxn_end(rtxn *r)
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

/* Ended with sess__lmdb_wtxn_end, always. */
int sess__lmdb_wtxn_begin(lmdb_store *s, MDB_txn **txn)
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
static int sync_upto(shared_env *e, uint64_t mine) /* an LMDB code, or an errno */
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
        rc = mdb_env_sync(e->env, 1);
        pthread_mutex_lock(&e->sync_mu);
        e->syncing = false;
        if (rc == 0 && target > e->synced)
            e->synced = target;
        pthread_cond_broadcast(&e->sync_cv);
    }
    pthread_mutex_unlock(&e->sync_mu);
    return rc;
}

/* Free bytes for an unprivileged writer on the file system of the store; 0 when unknown. */
static unsigned long long disk_free(const shared_env *e)
{
    struct statvfs sv;
    if (statvfs(e->dir, &sv) != 0)
        return 0;
    return (unsigned long long)sv.f_bavail * sv.f_frsize;
}

/* Whether a failed commit or sync (`raw`, an LMDB code or errno) failed for lack of space.
 * LMDB reports a short write as EIO: on a file system with next to nothing free, that is the
 * write that found the last blocks. */
static bool no_space(const shared_env *e, int raw)
{
    return raw == ENOSPC || raw == EDQUOT || (raw == EIO && disk_free(e) < DISK_ROOM);
}

/* Commits when `rc` is 0 and aborts otherwise; returns the outcome. A failed commit has freed
 * the transaction and applied nothing. Returns 0 only once the commit is on disk. When it
 * fails for lack of space, `*why` says which: FULL_MAP (the transaction ran out of map: it may
 * run again in a bigger one) or FULL_DISK. */
static int wtxn_finish(lmdb_store *s, MDB_txn *txn, int rc, int *why)
{
    shared_env *e = s->shared;
    *why = 0;
    if (rc != 0) {
        mdb_txn_abort(txn);
        if (rc == SESS_EFULL) /* only MDB_MAP_FULL while writing */
            *why = FULL_MAP;
        return rc;
    }
    int raw = mdb_txn_commit(txn);
    if (raw == MDB_MAP_FULL)
        *why = FULL_MAP;
    else if (raw != 0 && no_space(e, raw))
        *why = FULL_DISK;
    if (raw != 0)
        return *why != 0 ? SESS_EFULL : sess__lmdb_map_err(raw);
    if (!e->group_commit)
        return 0;
    pthread_mutex_lock(&e->sync_mu);
    uint64_t mine = ++e->committed;
    pthread_mutex_unlock(&e->sync_mu);
    /* A failed sync leaves the commit in place: never run again, whatever the reason. The
     * change is visible but not known durable, so it is no store_full ("nothing changed"): a
     * store error, and, for lack of space, the start of an episode (readyz, the log). */
    raw = sync_upto(e, mine);
    if (raw != 0 && no_space(e, raw))
        *why = FULL_DISK_AFTER_COMMIT;
    return sess__lmdb_map_err(raw);
}

/* With the life lock held. */
static int env_usage(const shared_env *e, sess_store_usage *u)
{
    MDB_envinfo info;
    MDB_stat ms;
    if (e->env == NULL || mdb_env_info(e->env, &info) != 0 || mdb_env_stat(e->env, &ms) != 0)
        return SESS_ESTORE;
    u->used_bytes = ((uint64_t)info.me_last_pgno + 1) * ms.ms_psize;
    u->map_bytes = info.me_mapsize;
    u->max_bytes = e->map_max > info.me_mapsize ? e->map_max : info.me_mapsize;
    return 0;
}

/* Doubles the map (up to map_max) unless another thread changed the environment since the
 * caller saw `seen` (then the caller just tries again). Called with no life lock held: waits
 * until no transaction of this process is active. True when the write may run again. */
static bool env_grow(shared_env *e, uint64_t seen)
{
    bool again = false;
    sess_store_usage u;
    pthread_rwlock_wrlock(&e->life);
    if (e->reopens != seen) {
        again = true;
    } else if (env_usage(e, &u) == 0 && u.map_bytes < e->map_max) {
        size_t next = u.map_bytes > e->map_max / 2 ? e->map_max : (size_t)u.map_bytes * 2;
        drop_cached_readers(e);
        int rc = mdb_env_set_mapsize(e->env, next);
        e->reopens++;
        if (rc == 0) {
            again = true;
            env_log(e, SESS_STORE_LOG_INFO,
                    "grew the LMDB map of %s from %llu to %zu bytes ([store] map_size %zu)", e->dir,
                    (unsigned long long)u.map_bytes, next, e->map_max);
        } else {
            /* The old mapping is gone: the next transaction opens the environment again. */
            env_log(e, SESS_STORE_LOG_WARN, "cannot grow the LMDB map of %s to %zu bytes: %s",
                    e->dir, next, mdb_strerror(rc));
            mdb_env_close(e->env);
            e->env = NULL;
        }
    }
    pthread_rwlock_unlock(&e->life);
    return again;
}

/* A write found no room: starts an episode (logged once) unless one is going on. */
static void full_begin(shared_env *e, int why)
{
    if (atomic_exchange(&e->full, why) != 0)
        return;
    env_log(e, SESS_STORE_LOG_WARN,
            "the session store in %s is out of space (%s): writes fail with store_full until "
            "there is room again; %llu bytes free on its file system",
            e->dir,
            why == FULL_DISK ? "the file system is full"
                             : "the LMDB map is at its ceiling, [store] map_size",
            disk_free(e));
}

int sess__lmdb_full_now(shared_env *e)
{
    int why = atomic_load(&e->full);
    /* A node out of a balancer's rotation (readyz 503) gets no writes that could end the
     * episode: a full file system that has room again ends it here. A full map ends at the
     * next write that finds pages (a sweep frees some; a larger map_size needs a restart). */
    if (why == FULL_DISK && disk_free(e) >= DISK_ROOM &&
        atomic_compare_exchange_strong(&e->full, &why, 0)) {
        env_log(e, SESS_STORE_LOG_INFO,
                "the session store in %s has room again (%llu bytes free on its file system)",
                e->dir, disk_free(e));
        return 0;
    }
    return why;
}

/* With the life lock held, after a successful commit of transaction `id`: warns once when the
 * data passes 80 % and 95 % of the ceiling, and ends an out-of-space episode when the commit
 * wrote something (an empty commit needs no room) and, for a full file system, there is room
 * again. */
static void after_commit(shared_env *e, size_t id)
{
    MDB_envinfo info;
    sess_store_usage u;
    if (env_usage(e, &u) != 0)
        return;
    int pct = u.used_bytes * 100 >= u.max_bytes * 95ull   ? 95
              : u.used_bytes * 100 >= u.max_bytes * 80ull ? 80
                                                          : 0;
    int was = atomic_load(&e->warned_pct);
    if (pct > was && atomic_compare_exchange_strong(&e->warned_pct, &was, pct))
        env_log(e, SESS_STORE_LOG_WARN,
                "the session store in %s uses %d %% of its ceiling ([store] map_size): %llu of "
                "%llu bytes",
                e->dir, pct, (unsigned long long)u.used_bytes, (unsigned long long)u.max_bytes);
    int why = atomic_load(&e->full);
    if (why == 0 || mdb_env_info(e->env, &info) != 0 || info.me_last_txnid < id)
        return;
    unsigned long long room = disk_free(e);
    if (why == FULL_DISK && room < DISK_ROOM)
        return;
    if (atomic_compare_exchange_strong(&e->full, &why, 0))
        env_log(e, SESS_STORE_LOG_INFO,
                "the session store in %s has room again (%llu bytes free on its file system)",
                e->dir, room);
}

/* Ends what sess__lmdb_wtxn_begin started, including its hold on the environment. */
int sess__lmdb_wtxn_end(lmdb_store *s, MDB_txn *txn, int rc)
{
    shared_env *e = s->shared;
    size_t id = mdb_txn_id(txn);
    int why;
    rc = wtxn_finish(s, txn, rc, &why);
    if (rc == 0)
        after_commit(e, id);
    uint64_t seen = e->reopens;
    life_leave(e);
    if (why == 0)
        return rc;
    /* Out of map: grow it and run the write again. A thread inside another transaction (a
     * listing's callback) cannot wait for the others to end: it fails as full. */
    if (why == FULL_MAP && lives_held == 0 && env_grow(e, seen))
        return LMDB_GROWN;
    if (why == FULL_DISK_AFTER_COMMIT) {
        full_begin(e, FULL_DISK);
        return rc; /* committed, not known durable: not "nothing changed" */
    }
    full_begin(e, why);
    return SESS_EFULL;
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
                       : fail(err, errlen, sess__lmdb_map_err(rc),
                              "cannot initialise store in %s: %s", dir, mdb_strerror(rc));
    }
    if (rc != 0)
        return fail(err, errlen, rc == MDB_NOTFOUND ? SESS_ECORRUPT : sess__lmdb_map_err(rc),
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
    e->map_max = opts->map_size ? opts->map_size : DEFAULT_MAP_SIZE;
    e->map_size = opts->map_initial ? opts->map_initial : DEFAULT_MAP_SIZE;
    if (e->map_size > e->map_max)
        e->map_size = e->map_max;
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
void sess__lmdb_close(sess_store *st)
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
    s->base.ops = &sess__lmdb_ops;
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

int sess_store_lmdb_usage(sess_store *st, sess_store_usage *out)
{
    if (st == NULL || out == NULL || st->ops != &sess__lmdb_ops)
        return SESS_EINVAL;
    shared_env *e = from_base(st)->shared;
    life_enter(e);
    int rc = env_usage(e, out);
    life_leave(e);
    return rc;
}
