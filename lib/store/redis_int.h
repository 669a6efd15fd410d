/*
 * redis_int.h - what the files of the Redis backend share (not installed, not public).
 *
 * The backend is split by concern: redis_conn.c turns the URL into a connection target, keeps a
 * bounded pool of connections per server with timeouts and runs commands and Lua scripts on it
 * (every failure there is SESS_ESTORE: the store fails closed); redis_cluster.c maps hash slots
 * to Cluster nodes and follows redirections; redis_sentinel.c finds the master; redis_scripts.c
 * holds the Lua scripts that make each multi-key operation atomic inside Redis; redis_cache.c is
 * the optional near cache with its pub/sub subscriber; redis.c implements sess_store_ops on top of
 * them.
 */
#ifndef SESSIOND_STORE_REDIS_INT_H
#define SESSIOND_STORE_REDIS_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>
#include <jansson.h>

#include "sessiond/record.h"
#include "sessiond/store.h"

#define RS_PREFIX_MAX 64
#define RS_DEFAULT_PREFIX "sessiond:"
#define RS_CONNECT_TIMEOUT_MS 1000
#define RS_TIMEOUT_MS 1000
#define RS_POOL 8
#define RS_CACHE_TTL_MS 5000
#define RS_CACHE_ENTRIES 10000
/* After a failed connect, no new attempt for this long: calls fail at once instead of each
 * waiting for its own connect while Redis is down. Service resumes at most this late. */
#define RS_RETRY_MS 250
/* The key layout of redis_scripts.c, stored in P layout: a Redis holding another is refused. */
#define RS_LAYOUT "2"
/* Returned by sess__rs_script for the patch script's "changed meanwhile, merge again". */
#define RS_CONFLICT 1

/* The scripts of redis_scripts.c. */
typedef enum rs_script_id {
    RS_GET,
    RS_CREATE,
    RS_TOUCH,
    RS_PATCH,
    RS_ROTATE,
    RS_SET_ROLES,
    RS_DEL,
    RS_REVOKE,
    RS_SWEEP,
    RS_PREFS_PUT,
    RS_APIKEY_PUT,
    RS_APIKEY_DEL,
    RS_USER_PUT,
    RS_PTR_DEL,
    RS_DUE_SET,
    RS_NSCRIPTS
} rs_script_id;

/* The Lua source of a script. */
const char *sess__rs_script_source(rs_script_id id);

#define RS_SENTINELS_MAX 16
#define RS_SEEDS_MAX 16

typedef struct rs_hostport {
    char host[256];
    int port;
} rs_hostport;

/* Where to connect, parsed from the URL (and the Sentinel or Cluster seed list). */
typedef struct rs_target {
    char host[256]; /* empty with a unix socket */
    int port;
    char unix_path[256];
    char user[128];     /* ACL user; empty: the default user */
    char password[256]; /* empty: no AUTH */
    int db;
    /* Sentinel: the master `master` is found by asking these, in order; host above unused. */
    rs_hostport sentinels[RS_SENTINELS_MAX];
    int nsentinels;
    char master[128];
    /* Cluster: the seed nodes; the slot map comes from the first that answers CLUSTER SLOTS. */
    rs_hostport seeds[RS_SEEDS_MAX];
    int nseeds;
} rs_target;

/* Parses a redis:// or unix: URL. 0, or SESS_EINVAL with a reason that never quotes the URL. */
int sess__rs_target_parse(const char *url, rs_target *t, char *why, size_t n);
/* Parses "HOST:PORT,HOST:PORT" (IPv6 in brackets) into t->sentinels. 0 or SESS_EINVAL. */
int sess__rs_sentinels_parse(const char *list, rs_target *t, char *why, size_t n);
/* The same for Cluster seed nodes (default port 6379), into t->seeds. */
int sess__rs_seeds_parse(const char *list, rs_target *t, char *why, size_t n);

typedef struct rs_conn {
    redisContext *c; /* NULL until connected, and again after an error */
    bool busy;
} rs_conn;

/* Cluster: the number of hash slots, and the most nodes one handle keeps pools for. */
#define RS_SLOTS 16384
#define RS_NODES_MAX 64
#define RS_NO_NODE 0xff
/* Redirections (MOVED, ASK) and TRYAGAIN/CLUSTERDOWN rounds one command may follow, all within
 * its timeout. */
#define RS_REDIRECTS_MAX 8
/* Fewest milliseconds between two reloads of the slot map. */
#define RS_MAP_REFRESH_MS 100

/* One server with its own bounded pool: the only one of a standalone or Sentinel handle, or a
 * Cluster node (master) learnt from CLUSTER SLOTS or a redirection. */
typedef struct rs_node {
    char host[256];
    int port;
    rs_conn *pool;       /* npool connections, opened on demand */
    int64_t retry_at_ms; /* no connect attempt before this (after a failed one) */
    bool down;           /* the last connect failed: only transitions are logged */
} rs_node;

typedef struct rs_cache rs_cache;

/* Session id -> user, remembered per handle: a session's user never changes, so an entry is
 * never wrong (a deleted session's is merely useless: its script then finds no session). It
 * saves the GET of the id pointer before the calls that name a session by id. */
#define RS_IDMAP_SIZE 1024
typedef struct rs_idmap_entry {
    uint8_t id[SESS_ID_BYTES];
    uint8_t ulen; /* 0: empty */
    char user[SESS_USER_MAX];
} rs_idmap_entry;

typedef struct redis_store {
    sess_store base;
    rs_target target;
    char prefix[RS_PREFIX_MAX + 1];
    size_t prefix_len;
    char channel[RS_PREFIX_MAX + 8]; /* prefix + "inv": where invalidations are published */
    uint32_t connect_timeout_ms, timeout_ms;
    void (*log)(void *arg, int level, const char *msg);
    void *log_arg;

    pthread_mutex_t mu; /* guards the pools, the state below and the script hashes */
    pthread_cond_t cv;  /* a pooled connection became free (broadcast: waiters differ by node) */
    rs_node nodes[RS_NODES_MAX];
    uint32_t nnodes;     /* standalone and Sentinel: 1 */
    uint32_t npool;      /* connections per node */
    bool policy_checked; /* the server was checked (once per handle: check_server) */
    bool unusable;       /* the server cannot be used (the wrong mode): every call fails */
    int layout;          /* the key layout check: 0 not yet, 1 passed, -1 refused */
    /* Cluster (target.nseeds > 0): the slot -> node map, RS_NO_NODE when unknown. */
    bool cluster;
    bool map_loaded, map_stale;
    int64_t map_at_ms; /* last reload attempt */
    uint32_t any_next; /* rotates the node that serves key-less calls and the subscriber */
    uint8_t slot_node[RS_SLOTS];
    char master_host[256]; /* Sentinel: the master last found (empty: none yet) */
    int master_port;
    char sha[RS_NSCRIPTS][41];

    rs_cache *cache;       /* NULL without a near cache */
    rs_idmap_entry *idmap; /* RS_IDMAP_SIZE entries, guarded by mu */
} redis_store;

int64_t sess__rs_mono_ms(void);
/* What is left of `want` ms before `deadline` (sess__rs_mono_ms), 0 when nothing. */
uint32_t sess__rs_budget(uint32_t want, int64_t deadline);
/* Sets `c`'s socket timeout to what is left of `want` before `deadline`; false when nothing is
 * left or the call fails. */
bool sess__rs_arm(redisContext *c, uint32_t want, int64_t deadline);

/* ---- Cluster (redis_cluster.c) ---- */

/* CRC16-CCITT (XMODEM: polynomial 0x1021, initial 0), as Redis Cluster specifies. */
uint16_t sess__rs_crc16(const void *p, size_t n);
/* The hash slot of a key: CRC16 of its hash tag (the bytes between the first '{' and the next
 * '}', when not empty) or of the whole key, modulo 16384. */
int sess__rs_key_slot(const void *key, size_t n);
/* Loads the slot map from CLUSTER SLOTS of the first node that answers (known nodes, then the
 * seeds), within `deadline`. 0 or SESS_ESTORE. */
int sess__rs_cluster_load(redis_store *st, int64_t deadline);
/* The node of `slot` (loading the map when it is missing or stale), or -1. */
int sess__rs_cluster_route(redis_store *st, int slot, int64_t deadline);
/* The index of host:port among the nodes, added when new; -1 when the table is full. Takes
 * st->mu itself. */
int sess__rs_node_find(redis_store *st, const char *host, int port);
/* Parses a MOVED or ASK error ("MOVED 3999 127.0.0.1:6381"): 0 with slot, host and port. */
int sess__rs_redirect_parse(const char *msg, size_t len, int *slot, char host[256], int *port);
/* The distinct nodes that serve slots now (standalone: node 0), at most RS_NODES_MAX. */
int sess__rs_masters(redis_store *st, int64_t deadline, int *out);
/* A connection to some node of the Cluster, another one on each call (the subscriber). */
redisContext *sess__rs_cluster_connect_any(redis_store *st, int64_t deadline, char *why, size_t n);

/* Reports an event through opts->log (printf-style). */
void sess__rs_log(redis_store *st, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Opens one connection to the store's Redis (with Sentinel: to the current master), with the
 * connect timeout, then the command timeout on the socket, AUTH and SELECT, all cut short at
 * `deadline` (monotonic ms; 0: none). NULL with the reason in `why` (never the password). */
redisContext *sess__rs_connect(redis_store *st, int64_t deadline, char *why, size_t n);
/* A connection to one server: TCP when `host` is not NULL, else the URL's unix socket. _raw
 * only sets the timeouts; _node also authenticates and selects the database. */
redisContext *sess__rs_connect_raw(const redis_store *st, const char *host, int port,
                                   int64_t deadline, char *why, size_t n);
redisContext *sess__rs_connect_node(const redis_store *st, const char *host, int port,
                                    int64_t deadline, char *why, size_t n);
/* Sentinel (redis_sentinel.c): connects to the master the Sentinels name, checking with ROLE
 * that it is one; remembers it so the next connect tries it first. */
redisContext *sess__rs_sentinel_connect(redis_store *st, int64_t deadline, char *why, size_t n);

/* ---- argument lists: binary-safe, growable; a failed allocation fails the call. ---- */

typedef struct rs_arg {
    const char *p; /* NULL: the number in `num` */
    size_t len;
    char num[24];
} rs_arg;

typedef struct rs_args {
    rs_arg *a;
    int n, cap;
    bool oom;
} rs_args;

void sess__rs_args_init(rs_args *a);
void sess__rs_args_dispose(rs_args *a);
/* Adds bytes that must stay valid until the call that uses the list returns. */
void sess__rs_args_bin(rs_args *a, const void *p, size_t len);
void sess__rs_args_str(rs_args *a, const char *s);
void sess__rs_args_i64(rs_args *a, int64_t v);

/* Runs a raw command (the words of `a`, prefix not added), routed in a Cluster by its second
 * word (the key; commands without one go to any node). `retry` lets a read run once more on a
 * fresh connection after an I/O error. On success *reply is the answer (freeReplyObject),
 * never an error reply: those are SESS_ESTORE. */
int sess__rs_command(redis_store *st, rs_args *a, bool retry, redisReply **reply);
/* The same on one node (SCAN over every master), without redirection. */
int sess__rs_command_node(redis_store *st, int node, rs_args *a, redisReply **reply);

/* Runs script `id` with KEYS = {key} (every key the script touches shares its slot; in a
 * Cluster it routes the call) and ARGV = prefix, then the words of `a`. Scripts answer an array
 * whose first element is a status: "OK" gives 0 and *reply (the whole array, freeReplyObject);
 * ESESSION, EEXIST, ETOOLARGE, ENOTFOUND give their sess_err, CONFLICT gives RS_CONFLICT
 * (no reply either way). Anything else, and every failure to talk to Redis, is SESS_ESTORE. */
int sess__rs_script(redis_store *st, rs_script_id id, const char *key, size_t klen, rs_args *a,
                    bool retry, redisReply **reply);

/* Closes every pooled connection (all must be free). */
void sess__rs_pool_dispose(redis_store *st);

/* ---- hash layouts (redis_codec.c) ---- */

/* One top-level member of a JSON object as a hash field: "d:" + key as JSON text -> value as
 * compact JSON text (sorted keys). */
typedef struct rs_member {
    char *field, *val;
    size_t flen, vlen;
} rs_member;

typedef struct rs_members {
    rs_member *m;
    size_t n;
    int64_t dsz; /* sum of key text + 1 + value text */
} rs_members;

/* Splits a JSON object text; SESS_EINVAL when it is not one. */
int sess__rs_members_from_json(const char *json, size_t len, rs_members *out);
int sess__rs_members_from_object(json_t *obj, rs_members *out);
void sess__rs_members_dispose(rs_members *ms);
/* The compact size of the whole object. */
size_t sess__rs_members_size(const rs_members *ms);
/* Adds the field, value pairs, then dsz and dn. */
void sess__rs_args_members(rs_args *a, const rs_members *ms);
/* The hash field of a member key. */
int sess__rs_member_field(const char *key, char **field, size_t *flen);
/* Compact JSON text (sorted keys) of any value; malloc'ed. */
char *sess__rs_json_text(const json_t *v, size_t *len);
/* The object made of the "d:" fields of an HGETALL answer; malloc'ed, NUL-terminated. */
int sess__rs_object_from_hash(const redisReply *h, char **json, size_t *len);

/* Adds a new session's fields (not the generation, which the create script sets). */
void sess__rs_args_record(rs_args *a, const sess_record *r);
/* Decodes an HGETALL answer; SESS_ECORRUPT for anything malformed or missing. */
int sess__rs_record_from_hash(const redisReply *h, sess_record *out);

/* ---- the near cache (redis_cache.c) ---- */

/* Starts the cache and its subscriber thread. The cache serves nothing until the subscription
 * is confirmed. */
int sess__rs_cache_new(redis_store *st, uint32_t entries, uint32_t ttl_ms, rs_cache **out);
/* Stops the subscriber and frees everything. */
void sess__rs_cache_free(rs_cache *c);

/* A snapshot of the invalidation counter to pass to a put after fetching from Redis: the put
 * is dropped if any invalidation (or loss of the subscription) happened in between. */
uint64_t sess__rs_cache_seq(rs_cache *c);
/* Lookups answered from the cache and lookups it could not answer (while subscribed). */
void sess__rs_cache_stats(rs_cache *c, uint64_t *hits, uint64_t *misses);

bool sess__rs_cache_get_lookup(rs_cache *c, const uint8_t hash[SESS_HASH_BYTES], sess_record *out,
                               uint64_t *gen, bool *is_previous);
void sess__rs_cache_put_lookup(rs_cache *c, uint64_t seq, const uint8_t hash[SESS_HASH_BYTES],
                               const sess_record *rec, uint64_t gen, bool is_previous);

bool sess__rs_cache_get_apikey(rs_cache *c, const uint8_t hash[SESS_HASH_BYTES],
                               char name[SESS_APIKEY_NAME_MAX + 1]);
void sess__rs_cache_put_apikey(rs_cache *c, uint64_t seq, const uint8_t hash[SESS_HASH_BYTES],
                               const char *name);

/* Preferences: *json NULL and 0 returned means "the user has none" (cached too). */
bool sess__rs_cache_get_prefs(rs_cache *c, const char *user, char **json, size_t *len, bool *found);
void sess__rs_cache_put_prefs(rs_cache *c, uint64_t seq, const char *user, const char *json,
                              size_t len);

/* Applies one invalidation message, the same bytes the scripts publish:
 *   'i' + session ids (16 bytes each)   sessions changed or gone
 *   'u' + user                          the user's generation moved (revoke-all)
 *   'p' + user                          the user's preferences changed
 *   'k' + API key hash (32 bytes)       an API key was revoked
 * Writers apply their own invalidations at once, before their call returns. */
void sess__rs_cache_apply(rs_cache *c, const char *msg, size_t len);

#endif
