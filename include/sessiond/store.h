/*
 * store.h - the one storage interface every backend (memory, lmdb, redis) implements.
 *
 * The interface is made of whole operations, not of get/put: each operation is atomic in the
 * backend (one LMDB write transaction, one lock, one Redis Lua script), so that sessiond never
 * does a read-modify-write of a whole session across calls. Semantics every backend keeps alike
 * (the conformance suite in tests/unit/test_store.c checks each of them against every backend):
 *
 *  - A call that returns 0 for a write has made it durable for that backend (lmdb: committed).
 *  - Writes after creation are update-only: touch, patch and rotate on a session that is absent
 *    (deleted, evicted, swept) return SESS_ESESSION and create nothing.
 *  - A deleted session stays deleted: its token hashes and index entries go with it.
 *  - Stores do not judge expiry or generations: lookups return what is stored plus the user's
 *    current generation, and lib/session.c decides. Sweeping removes what is expired.
 *  - Every returned record must be released with sess_record_dispose().
 *  - Thread safety: every operation may be called from any thread at the same time.
 *  - Output pointers are required (non-NULL) unless a function says "may be NULL".
 *  - User names are 1..SESS_USER_MAX bytes; others are SESS_EINVAL in every operation.
 *  - Listing callbacks run without the store's locks: they may call the store. When a callback
 *    stops early the listing returns 0.
 *  - Stores keep what they are given: validating data (a JSON object, max_data) is the job of
 *    lib/session.c before create; prefs_put stores the compact sorted form of `json`.
 */
#ifndef SESSIOND_STORE_H
#define SESSIOND_STORE_H

#include "sessiond/export.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sessiond/record.h"

typedef struct sess_store sess_store;

/* Called once per session by the listing operations; return non-zero to stop early.
 * The record is only valid during the call. */
typedef int (*sess_record_cb)(const sess_record *rec, uint64_t user_generation, void *arg);

/* Called once per API key by apikey_list. */
typedef int (*sess_apikey_cb)(const char *name, int64_t created, void *arg);

/* Bytes of one stored user account. The store does not read it: lib/users.c encodes it (the
 * password hash, roles, flags and times; see users.h) and decodes what it gets back. */
#define SESS_ACCOUNT_MAX 2048

/* Called once per user account by user_list; `rec` is only valid during the call. */
typedef int (*sess_account_cb)(const char *user, const uint8_t *rec, size_t len, void *arg);

typedef struct sess_store_ops {
    const char *name;

    /* Releases everything; pending writes are already durable. */
    void (*close)(sess_store *st);
    /* 0 when the backend can serve requests, SESS_ESTORE otherwise (readiness); lmdb:
     * SESS_EFULL while writes fail for lack of space (reads still work), until a write finds
     * room again. */
    int (*ping)(sess_store *st);
    /* A number that is different after any write to the store, by this process or another one,
     * has become visible to lookups; 0 when the backend cannot tell (nothing is then memoised).
     * No I/O: it is read before every lookup. lib/session.c keeps the answers of lookups while it
     * stays the same (lib/lookup_cache.h). */
    uint64_t (*version)(sess_store *st);

    /* Inserts a new session whose current token hash is rec->token_hash, adds it to the user's
     * index, and then, while the user has more than `max_per_user` sessions of the current
     * generation, deletes the oldest (by `created`, then id). Index entries of older
     * generations found on the way are removed too. rec->generation is ignored on input: the
     * store sets the stored record's generation to the user's current one. `evicted` (may be
     * NULL) receives the number of sessions evicted. */
    int (*create)(sess_store *st, const sess_record *rec, uint32_t max_per_user, uint32_t *evicted);

    /* Finds the session a token hash belongs to. Fills `out` and `user_generation`, and sets
     * `*is_previous` when the hash is the session's previous token (the caller checks
     * out->prev_until). SESS_ESESSION when no session has that hash. */
    int (*lookup)(sess_store *st, const uint8_t hash[SESS_HASH_BYTES], sess_record *out,
                  uint64_t *user_generation, bool *is_previous);

    /* Finds a session by id; SESS_ESESSION when absent. */
    int (*get)(sess_store *st, const uint8_t id[SESS_ID_BYTES], sess_record *out,
               uint64_t *user_generation);

    /* Applies many touches at once (one transaction where the backend has them): for each i,
     * if session ids[i] still exists, sets last_seen = last_seen[i] and idle_expires =
     * min(idle_expires[i], abs_expires), never lowering either. Absent sessions are skipped. */
    int (*touch_many)(sess_store *st, size_t n, const uint8_t (*ids)[SESS_ID_BYTES],
                      const int64_t *last_seen, const int64_t *idle_expires);

    /* Applies an RFC 7386 JSON merge patch (`patch`, a JSON object as text) to the session's
     * data atomically. SESS_ETOOLARGE (nothing changed) when the result would exceed
     * `max_data` bytes of compact JSON; SESS_EINVAL when `patch` is not a JSON object;
     * SESS_ESESSION when absent. On success, when `out` is not NULL it receives the record as
     * stored after the patch. */
    int (*patch)(sess_store *st, const uint8_t id[SESS_ID_BYTES], const char *patch,
                 size_t patch_len, size_t max_data, sess_record *out);

    /* Rotation: the session's current token hash becomes its previous one, refused from
     * `prev_until` on; `new_hash` becomes current; the old previous hash (if any) is dropped.
     * When `expected_hash` is not NULL the rotation happens only if it is still the current
     * hash (SESS_ESESSION otherwise): two concurrent rotations of one token must not both win
     * and fork the session. If `auth_time` > 0 it is stored as the new auth time. Also
     * replaces the CSRF secret when `new_csrf_secret` is not NULL. Clears
     * SESS_REC_ROLES_CHANGED from the flags. SESS_ESESSION when absent. */
    int (*rotate)(sess_store *st, const uint8_t id[SESS_ID_BYTES], const uint8_t *expected_hash,
                  const uint8_t new_hash[SESS_HASH_BYTES], int64_t prev_until, int64_t auth_time,
                  const uint8_t *new_csrf_secret);

    /* A change of the user's roles reaching the user's live sessions: sets `roles` in every
     * stored session of `user` (any generation) and adds SESS_REC_ROLES_CHANGED to its flags,
     * in one atomic step. O(sessions of the user), bounded by max_per_user. A user with no
     * sessions is not an error. */
    int (*set_roles)(sess_store *st, const char *user, const char *roles);

    /* Deletes a session with its token hashes and index entry. SESS_ESESSION when absent
     * (callers that want idempotence treat that as success). */
    int (*del)(sess_store *st, const uint8_t id[SESS_ID_BYTES]);

    /* Revoke-all: bumps the user's generation in O(1). Sessions created before are refused by
     * lib/session.c from now on and removed later by sweep or by the next create. Returns the
     * new generation in `*generation` when not NULL. Works for users with no sessions. */
    int (*revoke_user)(sess_store *st, const char *user, uint64_t *generation);

    /* The user's current generation into `*generation`: 0 until revoke_user first bumps it,
     * whether or not the user has anything stored. A read: the `cookie` store's verify compares
     * it with the epoch sealed into a cookie. */
    int (*generation)(sess_store *st, const char *user, uint64_t *generation);

    /* Calls `cb` for each stored session of `user` (any generation, any expiry; the caller
     * filters), oldest first. */
    int (*list_user)(sess_store *st, const char *user, sess_record_cb cb, void *arg);
    /* Calls `cb` for every stored session, in no particular order. */
    int (*list_all)(sess_store *st, sess_record_cb cb, void *arg);
    /* Number of stored sessions (live or not yet swept). */
    int (*count)(sess_store *st, uint64_t *n);

    /* Removes at most `max_items` sessions that are expired at `now` (idle or absolute) or of
     * an old generation, with their hashes and index entries, and drops previous-token hashes
     * whose grace ended. `*removed` receives how many sessions went. A call may look at only a
     * bounded part of the store and so remove fewer than it could: call it periodically. */
    int (*sweep)(sess_store *st, int64_t now, size_t max_items, size_t *removed);

    /* Per-user preferences, a JSON object as text. get: SESS_ENOTFOUND when the user has none;
     * `*json` is malloc'ed, the caller frees. put replaces; patch merges (RFC 7386), creating
     * the object when absent; both refuse results over `max_bytes` with SESS_ETOOLARGE and
     * non-objects with SESS_EINVAL. patch returns the result in `*result` when not NULL. */
    int (*prefs_get)(sess_store *st, const char *user, char **json, size_t *len);
    int (*prefs_put)(sess_store *st, const char *user, const char *json, size_t len,
                     size_t max_bytes);
    int (*prefs_patch)(sess_store *st, const char *user, const char *patch, size_t len,
                       size_t max_bytes, char **result, size_t *result_len);

    /* Service API keys, stored only as keyed hashes. put: SESS_EEXIST when the name is taken.
     * find: the name of the key with that hash into `name` (SESS_APIKEY_NAME_MAX + 1 bytes),
     * SESS_ENOTFOUND when none. del: SESS_ENOTFOUND when absent. */
    int (*apikey_put)(sess_store *st, const char *name, const uint8_t hash[SESS_HASH_BYTES],
                      int64_t created);
    int (*apikey_find)(sess_store *st, const uint8_t hash[SESS_HASH_BYTES],
                       char name[SESS_APIKEY_NAME_MAX + 1]);
    int (*apikey_del)(sess_store *st, const char *name);
    int (*apikey_list)(sess_store *st, sess_apikey_cb cb, void *arg);

    /* User accounts for the login page: one opaque record of 1..SESS_ACCOUNT_MAX bytes per
     * user name (others: SESS_EINVAL), kept apart from the user's generation and preferences,
     * which exist whether or not an account does.
     *
     * user_get copies the record into `buf` (`cap` bytes) and its length into `*len`;
     * SESS_ENOTFOUND when the user has no account; SESS_ETOOLARGE when cap is too small.
     *
     * user_put writes one record. With `prev` NULL it creates: SESS_EEXIST when the user
     * already has an account. With `prev` it replaces, and only if the stored record is still
     * exactly `prev` (`prev_len` bytes): SESS_ENOTFOUND when there is no account (a deleted
     * user stays deleted), SESS_ECONFLICT when the record changed since it was read (the
     * caller reads again and retries). So two admins changing roles and password at the same
     * time never lose either change.
     *
     * user_del removes the account; SESS_ENOTFOUND when absent. Sessions and preferences are
     * not touched (lib/users.c revokes the sessions).
     *
     * user_list calls `cb` for every account in byte order of the names. */
    int (*user_get)(sess_store *st, const char *user, uint8_t *buf, size_t cap, size_t *len);
    int (*user_put)(sess_store *st, const char *user, const uint8_t *rec, size_t len,
                    const uint8_t *prev, size_t prev_len);
    int (*user_del)(sess_store *st, const char *user);
    int (*user_list)(sess_store *st, sess_account_cb cb, void *arg);
} sess_store_ops;

/* Every backend's handle starts with this. */
struct sess_store {
    const sess_store_ops *ops;
};

/* Levels of the messages a store reports through sess_store_opts.log. */
enum { SESS_STORE_LOG_INFO = 0, SESS_STORE_LOG_WARN = 1 };

/* Options for opening a store. Fields a backend does not use are ignored; zero means the
 * default everywhere. */
typedef struct sess_store_opts {
    const char *path; /* lmdb: the data directory (the environment lives in PATH/store) */
    /* lmdb: the ceiling of the map in bytes ([store] map_size): the map starts at map_initial
     * and doubles, up to this, whenever a write runs out of it; past it writes fail with
     * SESS_EFULL. 0 = default (1 GiB). */
    size_t map_size;
    size_t map_initial; /* lmdb: the first map in bytes; 0 = 1 GiB (at most map_size) */
    bool read_only;     /* lmdb: open for reading only (the CLI's list commands) */
    bool group_commit;  /* lmdb: concurrent writers share fsyncs ([store] fsync = batch); a
                           write still returns only once it is on disk */

    /* redis: where the server is, redis://[[USER]:PASSWORD@]HOST[:PORT][/DB] or
     * unix:PATH[?db=N]. Never copied into an error message (it may hold a password). */
    const char *redis_url;
    /* redis with Sentinel: "HOST:PORT,..." of the Sentinels and the name of the master they
     * watch; every connection goes to the current master. redis_url may then be NULL; when set,
     * only its password, user and database are used. */
    const char *redis_sentinels;
    const char *redis_master;
    /* redis Cluster: "HOST:PORT,..." of seed nodes; the slot map is asked of them. redis_url
     * may then be NULL; when set, only its user and password are used. */
    const char *redis_cluster;
    /* redis: prefix of every key and of the invalidation channel, so that several deployments
     * (or test runs) can share one Redis; at most 64 bytes, no '{' or '}'. NULL: "sessiond:". */
    const char *redis_prefix;
    uint32_t redis_connect_timeout_ms; /* redis: bound on opening a connection; 0: 1000 */
    /* redis: bound on one command, everything included (waiting for a pooled connection,
     * connecting, the answer, a read's retry): a store call fails with SESS_ESTORE at its first
     * command that runs out of it, even when Redis hangs; 0: 1000. */
    uint32_t redis_timeout_ms;
    uint32_t redis_pool; /* redis: connections per handle, opened on demand; 0: 8 */
    /* redis: keep a near cache of lookups, API keys and preferences in this process,
     * invalidated through Redis pub/sub by every writer (see lib/store/redis_cache.c). */
    bool redis_cache;
    uint32_t redis_cache_ttl_ms;  /* redis: longest life of a cached answer; 0: 5000 */
    uint32_t redis_cache_entries; /* redis: most cached answers; 0: 10000 */

    /* May be NULL. Receives events worth an operator's attention (a remote store became
     * unreachable or reachable again), never a token, a key or a password. Called from any
     * thread. */
    void (*log)(void *arg, int level, const char *msg);
    void *log_arg;
} sess_store_opts;

/* Open a backend. 0 and *out on success; otherwise a negative sess_err and a reason in `err`
 * (e.g. "data file is corrupt", "map full"). */
SESS_EXPORT int sess_store_memory_open(const sess_store_opts *opts, sess_store **out, char *err,
                                       size_t errlen) SESS_WUR;
SESS_EXPORT int sess_store_lmdb_open(const sess_store_opts *opts, sess_store **out, char *err,
                                     size_t errlen) SESS_WUR;
/* Redis: opening checks the options and the URL but does not need Redis to be up (a server
 * starts and reports not ready until it is; call ops->ping to find out). SESS_EINVAL for a
 * bad URL or prefix, or a rediss:// URL (no TLS in this build). */
SESS_EXPORT int sess_store_redis_open(const sess_store_opts *opts, sess_store **out, char *err,
                                      size_t errlen) SESS_WUR;

/* The near cache's counters of a redis store opened with redis_cache: lookups (sessions, API
 * keys, preferences) answered from the cache, and those sent to Redis. SESS_EINVAL for any other
 * store. */
SESS_EXPORT int sess_store_redis_cache_stats(sess_store *st, uint64_t *hits,
                                             uint64_t *misses) SESS_WUR;

/* How much of its map an lmdb store uses: the data file's pages in use (LMDB never gives them
 * back to the file system, pages freed inside it are reused), the map now, and its ceiling. */
typedef struct sess_store_usage {
    uint64_t used_bytes;
    uint64_t map_bytes;
    uint64_t max_bytes;
} sess_store_usage;

/* Fills `out` for a store opened by sess_store_lmdb_open: 0, or SESS_EINVAL for any other
 * store, SESS_ESTORE when the environment is not open. Reads two headers in memory, no I/O. */
SESS_EXPORT int sess_store_lmdb_usage(sess_store *st, sess_store_usage *out) SESS_WUR;

/* Closes a store opened by one of the sess_store_*_open functions (what must reach the disk
 * does) and frees it; every other handle to it becomes invalid. NULL does nothing. */
SESS_EXPORT void sess_store_close(sess_store *st);

#endif
