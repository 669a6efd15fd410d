/*
 * memory.c - the in-memory store backend: every session, token hash, user and API key lives in
 * this process's heap and is gone when it exits. It exists for tests, for development and for
 * deployments that accept losing sessions on restart in exchange for no disk at all; it keeps
 * exactly the semantics of store.h so that the conformance suite (tests/unit/test_store.c) holds
 * it to the same rules as the durable backends.
 *
 * Layout: a few small chained hash tables keyed with SipHash under a per-store random key (user
 * and key names come from clients, so bucket placement must not be predictable): sessions by id,
 * token hashes (current and previous) to their session, users (generation, preferences, the
 * account record and the head of a per-user list of sessions ordered oldest first), and API keys
 * by name and by hash.
 * One reader-writer lock guards everything. Callbacks of the listing operations run without the
 * lock, on copies, so a callback may call back into the store (the CLI deletes while listing).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "sessiond/crypto.h"
#include "sessiond/error.h"
#include "sessiond/record.h"
#include "sessiond/store.h"
#include "../json_merge.h"
#include "../crypto_int.h"

#define MAP_MIN_BUCKETS 16
/* Optimistic patch rounds (merge outside the lock) before merging under the write lock. */
#define PATCH_OPTIMISTIC_ROUNDS 3

/* ---- A chained hash table of byte-string keys to pointers; grows by doubling. ---- */

struct mnode {
    struct mnode *next;
    uint64_t hash;
    void *val;
    size_t klen;
    uint8_t key[];
};

struct map {
    struct mnode **buckets;
    size_t nbuckets; /* a power of two */
    size_t count;
    const uint8_t *sipkey; /* the bucket hash's key (SipHash, crypto_int.h): clients cannot aim at
                              one bucket */
};

static int map_init(struct map *m, const uint8_t *sipkey)
{
    m->buckets = calloc(MAP_MIN_BUCKETS, sizeof(*m->buckets));
    m->nbuckets = MAP_MIN_BUCKETS;
    m->count = 0;
    m->sipkey = sipkey;
    return m->buckets != NULL ? 0 : SESS_ENOMEM;
}

/* Frees the nodes; the values belong to the caller. */
static void map_dispose(struct map *m)
{
    for (size_t i = 0; m->buckets != NULL && i < m->nbuckets; i++) {
        struct mnode *n = m->buckets[i];
        while (n != NULL) {
            struct mnode *next = n->next;
            free(n);
            n = next;
        }
    }
    free(m->buckets);
    m->buckets = NULL;
}

/* The link that points at the node with this key, or at the NULL ending its chain. */
static struct mnode **map_link(const struct map *m, const void *key, size_t klen, uint64_t h)
{
    struct mnode **link = &m->buckets[h & (m->nbuckets - 1)];
    while (*link != NULL &&
           ((*link)->hash != h || (*link)->klen != klen || memcmp((*link)->key, key, klen) != 0))
        link = &(*link)->next;
    return link;
}

static void *map_get(const struct map *m, const void *key, size_t klen)
{
    struct mnode *n = *map_link(m, key, klen, sess__short_hash(m->sipkey, key, klen));
    return n != NULL ? n->val : NULL;
}

/* Doubles the bucket array. On allocation failure the table keeps its size: longer chains,
 * still correct. */
static void map_grow(struct map *m)
{
    size_t nb = m->nbuckets * 2;
    struct mnode **b = calloc(nb, sizeof(*b));
    if (b == NULL)
        return;
    for (size_t i = 0; i < m->nbuckets; i++) {
        struct mnode *n = m->buckets[i];
        while (n != NULL) {
            struct mnode *next = n->next;
            n->next = b[n->hash & (nb - 1)];
            b[n->hash & (nb - 1)] = n;
            n = next;
        }
    }
    free(m->buckets);
    m->buckets = b;
    m->nbuckets = nb;
}

/* Adds a key that must not be present yet. 0 or SESS_ENOMEM (the table is then unchanged). */
static int map_add(struct map *m, const void *key, size_t klen, void *val)
{
    struct mnode *n = malloc(sizeof(*n) + klen);
    if (n == NULL)
        return SESS_ENOMEM;
    if (m->count >= m->nbuckets)
        map_grow(m);
    n->hash = sess__short_hash(m->sipkey, key, klen);
    n->val = val;
    n->klen = klen;
    memcpy(n->key, key, klen);
    struct mnode **link = &m->buckets[n->hash & (m->nbuckets - 1)];
    n->next = *link;
    *link = n;
    m->count++;
    return 0;
}

/* Removes a key; returns its value, or NULL when it was absent. */
static void *map_remove(struct map *m, const void *key, size_t klen)
{
    struct mnode **link = map_link(m, key, klen, sess__short_hash(m->sipkey, key, klen));
    struct mnode *n = *link;
    if (n == NULL)
        return NULL;
    void *val = n->val;
    *link = n->next;
    free(n);
    m->count--;
    return val;
}

/* ---- The store. ---- */

struct msess;

struct muser {
    char name[SESS_USER_MAX + 1];
    uint64_t generation;
    char *prefs; /* compact JSON object, or NULL when the user has none */
    size_t prefs_len;
    uint8_t *account; /* the opaque account record, or NULL when the user has none */
    size_t account_len;
    struct msess *oldest, *newest; /* the user's index: ordered by created, then id */
};

/* A stored session. Not a sess_record: that one has room for the longest user, roles, address
 * and agent (1.6 KB of arrays, mostly empty), which made a session cost about 2 KB of heap. The
 * four texts live packed in one allocation instead, "user\0roles\0ip\0agent\0", at the
 * offsets below. */
struct mrec {
    uint8_t id[SESS_ID_BYTES];
    int64_t created, last_seen, idle_expires, abs_expires, auth_time;
    uint64_t generation;
    uint32_t flags;
    uint16_t roles_at, ip_at, agent_at; /* offsets into text; user is at 0 */
    uint8_t csrf_secret[SESS_CSRF_SECRET_BYTES];
    uint8_t token_hash[SESS_HASH_BYTES];
    uint8_t prev_hash[SESS_HASH_BYTES];
    int64_t prev_until;
    char *text; /* owned: the four texts, each NUL-terminated */
    char *data; /* owned */
    size_t data_len;
};

/* The fields of struct mrec that are copied as they are to and from a sess_record. */
#define MREC_SCALARS(X)                                                                            \
    X(created)                                                                                     \
    X(last_seen) X(idle_expires) X(abs_expires) X(auth_time) X(generation) X(flags) X(prev_until)

struct msess {
    struct mrec rec;
    uint64_t version; /* store sequence number of the last change of rec.data */
    struct muser *user;
    struct msess *older, *newer;
};

struct mkey {
    char name[SESS_APIKEY_NAME_MAX + 1];
    uint8_t hash[SESS_HASH_BYTES];
    int64_t created;
};

typedef struct mem_store {
    sess_store base;
    pthread_rwlock_t lock;
    _Atomic uint64_t version; /* store.h: moved by every wrlock() */
    uint8_t sipkey[SESS_SHORTHASH_KEYBYTES];
    uint64_t seq;          /* bumped on every change of a session's data (ABA-free patch check) */
    struct map sessions;   /* id -> struct msess */
    struct map tokens;     /* current or previous token hash -> struct msess */
    struct map users;      /* name -> struct muser */
    struct map keys;       /* API key name -> struct mkey */
    struct map key_hashes; /* API key hash -> struct mkey */
} mem_store;

static void rdlock(mem_store *st)
{
    pthread_rwlock_rdlock(&st->lock);
}

/* Every write takes the lock for writing: taking it is what moves the version (store.h). */
static void wrlock(mem_store *st)
{
    pthread_rwlock_wrlock(&st->lock);
    atomic_fetch_add(&st->version, 1);
}

static uint64_t mem_version(sess_store *base)
{
    return atomic_load(&((mem_store *)base)->version);
}

static void unlock(mem_store *st)
{
    pthread_rwlock_unlock(&st->lock);
}

static bool is_zero(const uint8_t *p, size_t len)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < len; i++)
        acc |= p[i];
    return acc == 0;
}

static char *dup_bytes(const char *src, size_t len)
{
    char *p = malloc(len + 1);
    if (p != NULL) {
        memcpy(p, src, len);
        p[len] = '\0';
    }
    return p;
}

/* Packs `r` (its fixed fields, bounded by their arrays) into `m`, without data. 0 or
 * SESS_ENOMEM. */
static int mrec_pack(struct mrec *m, const sess_record *r)
{
    size_t lu = strnlen(r->user, SESS_USER_MAX), lr = strnlen(r->roles, SESS_ROLES_MAX);
    size_t li = strnlen(r->ip, SESS_IP_MAX), la = strnlen(r->agent, SESS_AGENT_MAX);
    if ((m->text = malloc(lu + lr + li + la + 4)) == NULL)
        return SESS_ENOMEM;
    m->roles_at = (uint16_t)(lu + 1);
    m->ip_at = (uint16_t)(m->roles_at + lr + 1);
    m->agent_at = (uint16_t)(m->ip_at + li + 1);
    memcpy(m->text, r->user, lu);
    m->text[lu] = '\0';
    memcpy(m->text + m->roles_at, r->roles, lr);
    m->text[m->roles_at + lr] = '\0';
    memcpy(m->text + m->ip_at, r->ip, li);
    m->text[m->ip_at + li] = '\0';
    memcpy(m->text + m->agent_at, r->agent, la);
    m->text[m->agent_at + la] = '\0';
#define TO_MREC(f) m->f = r->f;
    MREC_SCALARS(TO_MREC)
#undef TO_MREC
    memcpy(m->id, r->id, SESS_ID_BYTES);
    memcpy(m->csrf_secret, r->csrf_secret, SESS_CSRF_SECRET_BYTES);
    memcpy(m->token_hash, r->token_hash, SESS_HASH_BYTES);
    memcpy(m->prev_hash, r->prev_hash, SESS_HASH_BYTES);
    return 0;
}

/* Unpacks everything but data into `out` (data NULL, data_len the stored one). */
static void mrec_unpack(const struct mrec *m, sess_record *out)
{
    sess_record_init(out);
    strcpy(out->user, m->text);
    strcpy(out->roles, m->text + m->roles_at);
    strcpy(out->ip, m->text + m->ip_at);
    strcpy(out->agent, m->text + m->agent_at);
#define FROM_MREC(f) out->f = m->f;
    MREC_SCALARS(FROM_MREC)
#undef FROM_MREC
    memcpy(out->id, m->id, SESS_ID_BYTES);
    memcpy(out->csrf_secret, m->csrf_secret, SESS_CSRF_SECRET_BYTES);
    memcpy(out->token_hash, m->token_hash, SESS_HASH_BYTES);
    memcpy(out->prev_hash, m->prev_hash, SESS_HASH_BYTES);
    out->data_len = m->data_len;
}

/* A deep copy of a stored record into `out`. On failure `out` holds no data and needs no
 * dispose, but disposing it is harmless. */
static int copy_out(const struct msess *s, sess_record *out)
{
    mrec_unpack(&s->rec, out);
    out->data_len = 0;
    int r = sess_record_set_data(out, s->rec.data, s->rec.data_len);
    if (r != 0)
        sess_wipe(out->csrf_secret, sizeof(out->csrf_secret));
    return r;
}

/* Sorting key of a user's index: created, then id. */
static int sess_order(const struct msess *a, const struct msess *b)
{
    if (a->rec.created != b->rec.created)
        return a->rec.created < b->rec.created ? -1 : 1;
    return memcmp(a->rec.id, b->rec.id, SESS_ID_BYTES);
}

/* New sessions are usually the newest, so the search starts from that end. */
static void index_insert(struct muser *u, struct msess *s)
{
    struct msess *before = u->newest;
    while (before != NULL && sess_order(before, s) > 0)
        before = before->older;
    s->older = before;
    s->newer = before != NULL ? before->newer : u->oldest;
    if (s->newer != NULL)
        s->newer->older = s;
    else
        u->newest = s;
    if (before != NULL)
        before->newer = s;
    else
        u->oldest = s;
}

static void index_remove(struct muser *u, struct msess *s)
{
    if (s->older != NULL)
        s->older->newer = s->newer;
    else
        u->oldest = s->newer;
    if (s->newer != NULL)
        s->newer->older = s->older;
    else
        u->newest = s->older;
    s->older = s->newer = NULL;
}

/* User names are 1..SESS_USER_MAX bytes (lib/session.c checks the rest); others are refused
 * with SESS_EINVAL by every operation that takes one, as the lmdb backend does. */
static bool user_name_ok(const char *name)
{
    size_t len = strnlen(name, SESS_USER_MAX + 1);
    return len > 0 && len <= SESS_USER_MAX;
}

static struct muser *user_find(mem_store *st, const char *name)
{
    return map_get(&st->users, name, strlen(name));
}

static int user_get_or_add(mem_store *st, const char *name, struct muser **out)
{
    if (!user_name_ok(name))
        return SESS_EINVAL;
    size_t len = strlen(name);
    struct muser *u = map_get(&st->users, name, len);
    if (u == NULL) {
        u = calloc(1, sizeof(*u));
        if (u == NULL)
            return SESS_ENOMEM;
        memcpy(u->name, name, len + 1);
        if (map_add(&st->users, name, len, u) != 0) {
            free(u);
            return SESS_ENOMEM;
        }
    }
    *out = u;
    return 0;
}

static void user_free(struct muser *u)
{
    free(u->prefs);
    if (u->account != NULL)
        sess_wipe(u->account, u->account_len);
    free(u->account);
    free(u);
}

/* A user entry that holds nothing (no sessions, no preferences, generation never bumped) is
 * indistinguishable from an absent one: drop it so that the table stays bounded by real users. */
static void user_maybe_drop(mem_store *st, struct muser *u)
{
    if (u->oldest == NULL && u->prefs == NULL && u->account == NULL && u->generation == 0) {
        map_remove(&st->users, u->name, strlen(u->name));
        user_free(u);
    }
}

static void sess_free(struct msess *s)
{
    sess_wipe(s->rec.csrf_secret, sizeof(s->rec.csrf_secret));
    free(s->rec.text);
    free(s->rec.data);
    free(s);
}

/* Deletes a session with its token hashes and index entry. The user entry stays (the caller
 * decides with user_maybe_drop once it no longer walks the user's list). */
static void remove_session(mem_store *st, struct msess *s)
{
    map_remove(&st->tokens, s->rec.token_hash, SESS_HASH_BYTES);
    if (!is_zero(s->rec.prev_hash, SESS_HASH_BYTES))
        map_remove(&st->tokens, s->rec.prev_hash, SESS_HASH_BYTES);
    map_remove(&st->sessions, s->rec.id, SESS_ID_BYTES);
    index_remove(s->user, s);
    sess_free(s);
}

static bool is_stale(const struct msess *s, int64_t now)
{
    return s->rec.idle_expires <= now || s->rec.abs_expires <= now ||
           s->rec.generation < s->user->generation;
}

static void mem_close(sess_store *base)
{
    mem_store *st = (mem_store *)base;
    for (size_t i = 0; st->sessions.buckets != NULL && i < st->sessions.nbuckets; i++)
        for (struct mnode *n = st->sessions.buckets[i]; n != NULL; n = n->next)
            sess_free(n->val);
    for (size_t i = 0; st->users.buckets != NULL && i < st->users.nbuckets; i++)
        for (struct mnode *n = st->users.buckets[i]; n != NULL; n = n->next)
            user_free(n->val);
    for (size_t i = 0; st->keys.buckets != NULL && i < st->keys.nbuckets; i++)
        for (struct mnode *n = st->keys.buckets[i]; n != NULL; n = n->next)
            free(n->val);
    map_dispose(&st->sessions);
    map_dispose(&st->tokens);
    map_dispose(&st->users);
    map_dispose(&st->keys);
    map_dispose(&st->key_hashes);
    pthread_rwlock_destroy(&st->lock);
    sess_wipe(st->sipkey, sizeof(st->sipkey));
    free(st);
}

static int mem_ping(sess_store *base)
{
    (void)base;
    return 0;
}

/* Removes the user's sessions of older generations, then evicts the oldest sessions other than
 * `keep` while more than `max` remain (0 = no limit). */
static uint32_t trim_user(mem_store *st, struct muser *u, const struct msess *keep, uint32_t max)
{
    size_t current = 0;
    uint32_t evicted = 0;
    struct msess *s, *next;
    for (s = u->oldest; s != NULL; s = next) {
        next = s->newer;
        if (s->rec.generation < u->generation)
            remove_session(st, s);
        else
            current++;
    }
    for (s = u->oldest; max > 0 && current > max && s != NULL; s = next) {
        next = s->newer;
        if (s == keep)
            continue;
        remove_session(st, s);
        current--;
        evicted++;
    }
    return evicted;
}

static int insert_locked(mem_store *st, struct msess *s, uint32_t max_per_user, uint32_t *evicted)
{
    struct muser *u;
    if (map_get(&st->sessions, s->rec.id, SESS_ID_BYTES) != NULL ||
        map_get(&st->tokens, s->rec.token_hash, SESS_HASH_BYTES) != NULL)
        return SESS_EEXIST;
    int r = user_get_or_add(st, s->rec.text, &u);
    if (r != 0)
        return r;
    if (map_add(&st->sessions, s->rec.id, SESS_ID_BYTES, s) != 0) {
        user_maybe_drop(st, u);
        return SESS_ENOMEM;
    }
    if (map_add(&st->tokens, s->rec.token_hash, SESS_HASH_BYTES, s) != 0) {
        map_remove(&st->sessions, s->rec.id, SESS_ID_BYTES);
        user_maybe_drop(st, u);
        return SESS_ENOMEM;
    }
    s->user = u;
    s->rec.generation = u->generation;
    s->version = ++st->seq;
    index_insert(u, s);
    uint32_t n = trim_user(st, u, s, max_per_user);
    if (evicted != NULL)
        *evicted = n;
    return 0;
}

static int mem_create(sess_store *base, const sess_record *rec, uint32_t max_per_user,
                      uint32_t *evicted)
{
    mem_store *st = (mem_store *)base;
    if (evicted != NULL)
        *evicted = 0;
    struct msess *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return SESS_ENOMEM;
    if (mrec_pack(&s->rec, rec) != 0) {
        free(s);
        return SESS_ENOMEM;
    }
    /* A new session has no previous token, whatever the caller left in the record. */
    memset(s->rec.prev_hash, 0, sizeof(s->rec.prev_hash));
    s->rec.prev_until = 0;
    bool empty = rec->data == NULL || rec->data_len == 0;
    s->rec.data_len = empty ? 2 : rec->data_len;
    if ((s->rec.data = dup_bytes(empty ? "{}" : rec->data, s->rec.data_len)) == NULL) {
        sess_free(s);
        return SESS_ENOMEM;
    }
    wrlock(st);
    int r = insert_locked(st, s, max_per_user, evicted);
    unlock(st);
    if (r != 0)
        sess_free(s);
    return r;
}

static int mem_lookup(sess_store *base, const uint8_t hash[SESS_HASH_BYTES], sess_record *out,
                      uint64_t *user_generation, bool *is_previous)
{
    mem_store *st = (mem_store *)base;
    int r = 0;
    rdlock(st);
    struct msess *s = map_get(&st->tokens, hash, SESS_HASH_BYTES);
    if (s == NULL) {
        r = SESS_ESESSION;
    } else {
        if (user_generation != NULL)
            *user_generation = s->user->generation;
        if (is_previous != NULL)
            *is_previous = !sess_ct_equal(hash, s->rec.token_hash, SESS_HASH_BYTES);
        if (out != NULL)
            r = copy_out(s, out);
    }
    unlock(st);
    return r;
}

static int mem_get(sess_store *base, const uint8_t id[SESS_ID_BYTES], sess_record *out,
                   uint64_t *user_generation)
{
    mem_store *st = (mem_store *)base;
    int r = 0;
    rdlock(st);
    struct msess *s = map_get(&st->sessions, id, SESS_ID_BYTES);
    if (s == NULL) {
        r = SESS_ESESSION;
    } else {
        if (user_generation != NULL)
            *user_generation = s->user->generation;
        if (out != NULL)
            r = copy_out(s, out);
    }
    unlock(st);
    return r;
}

static int mem_touch_many(sess_store *base, size_t n, const uint8_t (*ids)[SESS_ID_BYTES],
                          const int64_t *last_seen, const int64_t *idle_expires)
{
    mem_store *st = (mem_store *)base;
    wrlock(st);
    for (size_t i = 0; i < n; i++) {
        struct msess *s = map_get(&st->sessions, ids[i], SESS_ID_BYTES);
        if (s == NULL)
            continue;
        int64_t idle = idle_expires[i] < s->rec.abs_expires ? idle_expires[i] : s->rec.abs_expires;
        if (last_seen[i] > s->rec.last_seen)
            s->rec.last_seen = last_seen[i];
        if (idle > s->rec.idle_expires)
            s->rec.idle_expires = idle;
    }
    unlock(st);
    return 0;
}

/* Installs merged data `res` (taken) if the session still exists and, when `version` is not 0,
 * its data is still the one the merge started from. 1 means "changed meanwhile, merge again". */
static int install_data(mem_store *st, const uint8_t id[SESS_ID_BYTES], uint64_t version, char *res,
                        size_t res_len, sess_record *out)
{
    char *out_data = NULL;
    if (out != NULL && (out_data = dup_bytes(res, res_len)) == NULL) {
        free(res);
        return SESS_ENOMEM;
    }
    int r = 0;
    wrlock(st);
    struct msess *s = map_get(&st->sessions, id, SESS_ID_BYTES);
    if (s == NULL) {
        r = SESS_ESESSION;
    } else if (version != 0 && s->version != version) {
        r = 1;
    } else {
        free(s->rec.data);
        s->rec.data = res;
        s->rec.data_len = res_len;
        s->version = ++st->seq;
        res = NULL;
        if (out != NULL) {
            mrec_unpack(&s->rec, out);
            out->data = out_data;
            out_data = NULL;
        }
    }
    unlock(st);
    free(res);
    free(out_data);
    return r;
}

/* Copies the session's data and its version under the read lock. */
static int snapshot_data(mem_store *st, const uint8_t id[SESS_ID_BYTES], char **text, size_t *len,
                         uint64_t *version)
{
    int r = 0;
    rdlock(st);
    struct msess *s = map_get(&st->sessions, id, SESS_ID_BYTES);
    if (s == NULL) {
        r = SESS_ESESSION;
    } else {
        *version = s->version;
        *len = s->rec.data_len;
        if ((*text = dup_bytes(s->rec.data, s->rec.data_len)) == NULL)
            r = SESS_ENOMEM;
    }
    unlock(st);
    return r;
}

/* The merge (parsing and dumping up to max_data of JSON) runs outside the lock so that lookups
 * are not held up by it; the result is installed only if nobody changed the data meanwhile.
 * After a few lost races the merge runs under the write lock, so every patch lands. */
static int mem_patch(sess_store *base, const uint8_t id[SESS_ID_BYTES], const char *patch,
                     size_t patch_len, size_t max_data, sess_record *out)
{
    mem_store *st = (mem_store *)base;
    char *cur, *res;
    size_t cur_len, res_len;
    uint64_t version;
    for (int round = 0; round < PATCH_OPTIMISTIC_ROUNDS; round++) {
        int r = snapshot_data(st, id, &cur, &cur_len, &version);
        if (r != 0)
            return r;
        r = sess_json_merge(cur, cur_len, patch, patch_len, max_data, &res, &res_len);
        free(cur);
        if (r != 0)
            return r;
        r = install_data(st, id, version, res, res_len, out);
        if (r != 1)
            return r;
    }
    char *out_data = NULL;
    int r = 0;
    wrlock(st);
    struct msess *s = map_get(&st->sessions, id, SESS_ID_BYTES);
    if (s == NULL) {
        r = SESS_ESESSION;
    } else if ((r = sess_json_merge(s->rec.data, s->rec.data_len, patch, patch_len, max_data, &res,
                                    &res_len)) == 0) {
        if (out != NULL && (out_data = dup_bytes(res, res_len)) == NULL) {
            free(res);
            r = SESS_ENOMEM;
        } else {
            free(s->rec.data);
            s->rec.data = res;
            s->rec.data_len = res_len;
            s->version = ++st->seq;
            if (out != NULL) {
                mrec_unpack(&s->rec, out);
                out->data = out_data;
            }
        }
    }
    unlock(st);
    return r;
}

static int mem_rotate(sess_store *base, const uint8_t id[SESS_ID_BYTES],
                      const uint8_t *expected_hash, const uint8_t new_hash[SESS_HASH_BYTES],
                      int64_t prev_until, int64_t auth_time, const uint8_t *new_csrf_secret)
{
    mem_store *st = (mem_store *)base;
    int r = 0;
    wrlock(st);
    struct msess *s = map_get(&st->sessions, id, SESS_ID_BYTES);
    if (s == NULL || (expected_hash != NULL &&
                      !sess_ct_equal(s->rec.token_hash, expected_hash, SESS_HASH_BYTES))) {
        r = SESS_ESESSION;
    } else if (map_get(&st->tokens, new_hash, SESS_HASH_BYTES) != NULL) {
        r = SESS_EEXIST;
    } else if ((r = map_add(&st->tokens, new_hash, SESS_HASH_BYTES, s)) == 0) {
        /* The current hash's table entry stays: it now stands for the previous token. */
        if (!is_zero(s->rec.prev_hash, SESS_HASH_BYTES))
            map_remove(&st->tokens, s->rec.prev_hash, SESS_HASH_BYTES);
        memcpy(s->rec.prev_hash, s->rec.token_hash, SESS_HASH_BYTES);
        memcpy(s->rec.token_hash, new_hash, SESS_HASH_BYTES);
        s->rec.prev_until = prev_until;
        if (auth_time > 0)
            s->rec.auth_time = auth_time;
        if (new_csrf_secret != NULL)
            memcpy(s->rec.csrf_secret, new_csrf_secret, SESS_CSRF_SECRET_BYTES);
        s->rec.flags &= ~SESS_REC_ROLES_CHANGED;
    }
    unlock(st);
    return r;
}

static int mem_set_roles(sess_store *base, const char *user, const char *roles)
{
    mem_store *st = (mem_store *)base;
    wrlock(st);
    struct muser *u = user_find(st, user);
    int r = 0;
    for (struct msess *s = u != NULL ? u->oldest : NULL; s != NULL && r == 0; s = s->newer) {
        /* The roles live in the packed texts: repack them with the new roles. */
        sess_record rec;
        struct mrec m;
        mrec_unpack(&s->rec, &rec);
        sess_copy_bounded(rec.roles, sizeof(rec.roles), roles);
        if ((r = mrec_pack(&m, &rec)) == 0) {
            free(s->rec.text);
            s->rec.text = m.text;
            s->rec.roles_at = m.roles_at;
            s->rec.ip_at = m.ip_at;
            s->rec.agent_at = m.agent_at;
            s->rec.flags |= SESS_REC_ROLES_CHANGED;
        }
        sess_wipe(&rec, sizeof(rec));
    }
    unlock(st);
    return r;
}

static int mem_del(sess_store *base, const uint8_t id[SESS_ID_BYTES])
{
    mem_store *st = (mem_store *)base;
    int r = 0;
    wrlock(st);
    struct msess *s = map_get(&st->sessions, id, SESS_ID_BYTES);
    if (s == NULL) {
        r = SESS_ESESSION;
    } else {
        struct muser *u = s->user;
        remove_session(st, s);
        user_maybe_drop(st, u);
    }
    unlock(st);
    return r;
}

static int mem_revoke_user(sess_store *base, const char *user, uint64_t *generation)
{
    mem_store *st = (mem_store *)base;
    struct muser *u;
    wrlock(st);
    int r = user_get_or_add(st, user, &u);
    if (r == 0) {
        u->generation++;
        if (generation != NULL)
            *generation = u->generation;
    }
    unlock(st);
    return r;
}

static int mem_generation(sess_store *base, const char *user, uint64_t *generation)
{
    mem_store *st = (mem_store *)base;
    if (!user_name_ok(user))
        return SESS_EINVAL;
    rdlock(st);
    struct muser *u = user_find(st, user);
    *generation = u != NULL ? u->generation : 0;
    unlock(st);
    return 0;
}

/* Calls `cb` on a copy of each session in `ids` that still exists, taking the read lock only
 * around each copy. Frees `ids`. */
static int visit_ids(mem_store *st, uint8_t (*ids)[SESS_ID_BYTES], size_t n, sess_record_cb cb,
                     void *arg)
{
    int r = 0;
    for (size_t i = 0; i < n && r == 0; i++) {
        sess_record rec;
        uint64_t gen = 0;
        bool found = false;
        rdlock(st);
        struct msess *s = map_get(&st->sessions, ids[i], SESS_ID_BYTES);
        if (s != NULL) {
            gen = s->user->generation;
            r = copy_out(s, &rec);
            found = r == 0;
        }
        unlock(st);
        if (!found)
            continue;
        int stop = cb(&rec, gen, arg);
        sess_record_dispose(&rec);
        if (stop != 0)
            break;
    }
    free(ids);
    return r;
}

static int mem_list_user(sess_store *base, const char *user, sess_record_cb cb, void *arg)
{
    mem_store *st = (mem_store *)base;
    uint8_t(*ids)[SESS_ID_BYTES] = NULL;
    size_t n = 0;
    if (!user_name_ok(user))
        return SESS_EINVAL;
    rdlock(st);
    struct muser *u = user_find(st, user);
    for (struct msess *s = u != NULL ? u->oldest : NULL; s != NULL; s = s->newer)
        n++;
    if (n > 0 && (ids = malloc(n * sizeof(*ids))) != NULL) {
        size_t i = 0;
        for (struct msess *s = u->oldest; s != NULL; s = s->newer)
            memcpy(ids[i++], s->rec.id, SESS_ID_BYTES);
    }
    unlock(st);
    if (n > 0 && ids == NULL)
        return SESS_ENOMEM;
    return visit_ids(st, ids, n, cb, arg);
}

static int mem_list_all(sess_store *base, sess_record_cb cb, void *arg)
{
    mem_store *st = (mem_store *)base;
    uint8_t(*ids)[SESS_ID_BYTES] = NULL;
    size_t n = 0;
    rdlock(st);
    if (st->sessions.count > 0 && (ids = malloc(st->sessions.count * sizeof(*ids))) != NULL) {
        for (size_t b = 0; b < st->sessions.nbuckets; b++)
            for (struct mnode *node = st->sessions.buckets[b]; node != NULL; node = node->next)
                memcpy(ids[n++], node->key, SESS_ID_BYTES);
    }
    bool failed = st->sessions.count > 0 && ids == NULL;
    unlock(st);
    if (failed)
        return SESS_ENOMEM;
    return visit_ids(st, ids, n, cb, arg);
}

static int mem_count(sess_store *base, uint64_t *n)
{
    mem_store *st = (mem_store *)base;
    rdlock(st);
    *n = st->sessions.count;
    unlock(st);
    return 0;
}

/* Finds what to sweep under the read lock (lookups go on meanwhile), then removes it under the
 * write lock, checking each candidate again since it may have been touched in between. At most
 * `max_items` sessions and as many ended previous hashes are handled per call. */
static int mem_sweep(sess_store *base, int64_t now, size_t max_items, size_t *removed)
{
    mem_store *st = (mem_store *)base;
    size_t ndead = 0, nprev = 0, gone = 0;
    if (removed != NULL)
        *removed = 0;
    rdlock(st);
    size_t cap = st->sessions.count < max_items ? st->sessions.count : max_items;
    uint8_t(*dead)[SESS_ID_BYTES] = cap > 0 ? malloc(cap * sizeof(*dead)) : NULL;
    uint8_t(*prev)[SESS_ID_BYTES] = cap > 0 ? malloc(cap * sizeof(*prev)) : NULL;
    if (cap > 0 && (dead == NULL || prev == NULL)) {
        unlock(st);
        free(dead);
        free(prev);
        return SESS_ENOMEM;
    }
    for (size_t b = 0; b < st->sessions.nbuckets && (ndead < cap || nprev < cap); b++) {
        for (struct mnode *node = st->sessions.buckets[b]; node != NULL; node = node->next) {
            const struct msess *s = node->val;
            if (is_stale(s, now)) {
                if (ndead < cap)
                    memcpy(dead[ndead++], s->rec.id, SESS_ID_BYTES);
            } else if (s->rec.prev_until <= now && !is_zero(s->rec.prev_hash, SESS_HASH_BYTES)) {
                if (nprev < cap)
                    memcpy(prev[nprev++], s->rec.id, SESS_ID_BYTES);
            }
        }
    }
    unlock(st);

    wrlock(st);
    for (size_t i = 0; i < ndead; i++) {
        struct msess *s = map_get(&st->sessions, dead[i], SESS_ID_BYTES);
        if (s != NULL && is_stale(s, now)) {
            struct muser *u = s->user;
            remove_session(st, s);
            user_maybe_drop(st, u);
            gone++;
        }
    }
    for (size_t i = 0; i < nprev; i++) {
        struct msess *s = map_get(&st->sessions, prev[i], SESS_ID_BYTES);
        if (s != NULL && s->rec.prev_until <= now && !is_zero(s->rec.prev_hash, SESS_HASH_BYTES)) {
            map_remove(&st->tokens, s->rec.prev_hash, SESS_HASH_BYTES);
            memset(s->rec.prev_hash, 0, SESS_HASH_BYTES);
            s->rec.prev_until = 0;
        }
    }
    unlock(st);
    free(dead);
    free(prev);
    if (removed != NULL)
        *removed = gone;
    return 0;
}

static int mem_prefs_get(sess_store *base, const char *user, char **json, size_t *len)
{
    mem_store *st = (mem_store *)base;
    int r = 0;
    if (!user_name_ok(user))
        return SESS_EINVAL;
    rdlock(st);
    struct muser *u = user_find(st, user);
    if (u == NULL || u->prefs == NULL) {
        r = SESS_ENOTFOUND;
    } else if ((*json = dup_bytes(u->prefs, u->prefs_len)) == NULL) {
        r = SESS_ENOMEM;
    } else if (len != NULL) {
        *len = u->prefs_len;
    }
    unlock(st);
    return r;
}

/* Replaces the user's preferences with `text` (taken). */
static int prefs_install(mem_store *st, const char *user, char *text, size_t len)
{
    struct muser *u;
    int r = user_get_or_add(st, user, &u);
    if (r != 0) {
        free(text);
        return r;
    }
    free(u->prefs);
    u->prefs = text;
    u->prefs_len = len;
    return 0;
}

/* Stored in the same canonical form (compact, sorted keys) that merging produces. */
static int mem_prefs_put(sess_store *base, const char *user, const char *json, size_t len,
                         size_t max_bytes)
{
    mem_store *st = (mem_store *)base;
    if (!user_name_ok(user))
        return SESS_EINVAL;
    char *text;
    size_t text_len;
    int c = sess_json_canonical(json, len, max_bytes, &text, &text_len);
    if (c != 0)
        return c;
    wrlock(st);
    int r = prefs_install(st, user, text, text_len);
    unlock(st);
    return r;
}

static int mem_prefs_patch(sess_store *base, const char *user, const char *patch, size_t len,
                           size_t max_bytes, char **result, size_t *result_len)
{
    mem_store *st = (mem_store *)base;
    char *res, *copy = NULL;
    size_t res_len;
    if (!user_name_ok(user))
        return SESS_EINVAL;
    wrlock(st);
    struct muser *u = user_find(st, user);
    const char *cur = u != NULL ? u->prefs : NULL;
    int r =
        sess_json_merge(cur, cur != NULL ? u->prefs_len : 0, patch, len, max_bytes, &res, &res_len);
    if (r == 0 && result != NULL && (copy = dup_bytes(res, res_len)) == NULL) {
        free(res);
        r = SESS_ENOMEM;
    }
    if (r == 0 && (r = prefs_install(st, user, res, res_len)) != 0) {
        free(copy);
        copy = NULL;
    }
    unlock(st);
    if (r == 0 && result != NULL) {
        *result = copy;
        if (result_len != NULL)
            *result_len = res_len;
    }
    return r;
}

static int mem_apikey_put(sess_store *base, const char *name, const uint8_t hash[SESS_HASH_BYTES],
                          int64_t created)
{
    mem_store *st = (mem_store *)base;
    size_t nlen = strlen(name);
    if (nlen == 0 || nlen > SESS_APIKEY_NAME_MAX)
        return SESS_EINVAL;
    struct mkey *k = calloc(1, sizeof(*k));
    if (k == NULL)
        return SESS_ENOMEM;
    memcpy(k->name, name, nlen + 1);
    memcpy(k->hash, hash, SESS_HASH_BYTES);
    k->created = created;
    int r = 0;
    wrlock(st);
    if (map_get(&st->keys, name, nlen) != NULL ||
        map_get(&st->key_hashes, hash, SESS_HASH_BYTES) != NULL) {
        r = SESS_EEXIST;
    } else if ((r = map_add(&st->keys, name, nlen, k)) == 0 &&
               (r = map_add(&st->key_hashes, hash, SESS_HASH_BYTES, k)) != 0) {
        map_remove(&st->keys, name, nlen);
    }
    unlock(st);
    if (r != 0)
        free(k);
    return r;
}

static int mem_apikey_find(sess_store *base, const uint8_t hash[SESS_HASH_BYTES],
                           char name[SESS_APIKEY_NAME_MAX + 1])
{
    mem_store *st = (mem_store *)base;
    int r = 0;
    rdlock(st);
    const struct mkey *k = map_get(&st->key_hashes, hash, SESS_HASH_BYTES);
    if (k == NULL)
        r = SESS_ENOTFOUND;
    else
        memcpy(name, k->name, sizeof(k->name));
    unlock(st);
    return r;
}

static int mem_apikey_del(sess_store *base, const char *name)
{
    mem_store *st = (mem_store *)base;
    size_t nlen = strlen(name);
    if (nlen > SESS_APIKEY_NAME_MAX)
        return SESS_ENOTFOUND;
    wrlock(st);
    struct mkey *k = map_remove(&st->keys, name, nlen);
    if (k != NULL)
        map_remove(&st->key_hashes, k->hash, SESS_HASH_BYTES);
    unlock(st);
    if (k == NULL)
        return SESS_ENOTFOUND;
    free(k);
    return 0;
}

static int key_order(const void *a, const void *b)
{
    return strcmp(((const struct mkey *)a)->name, ((const struct mkey *)b)->name);
}

/* Listed by name, from a copy, so the callback may revoke keys. */
static int mem_apikey_list(sess_store *base, sess_apikey_cb cb, void *arg)
{
    mem_store *st = (mem_store *)base;
    struct mkey *all = NULL;
    size_t n = 0;
    rdlock(st);
    if (st->keys.count > 0 && (all = malloc(st->keys.count * sizeof(*all))) != NULL) {
        for (size_t b = 0; b < st->keys.nbuckets; b++)
            for (struct mnode *node = st->keys.buckets[b]; node != NULL; node = node->next)
                all[n++] = *(const struct mkey *)node->val;
    }
    bool failed = st->keys.count > 0 && all == NULL;
    unlock(st);
    if (failed)
        return SESS_ENOMEM;
    if (n > 1)
        qsort(all, n, sizeof(*all), key_order);
    for (size_t i = 0; i < n; i++)
        if (cb(all[i].name, all[i].created, arg) != 0)
            break;
    free(all);
    return 0;
}

/* ---- user accounts ---- */

static int mem_user_get(sess_store *base, const char *user, uint8_t *buf, size_t cap, size_t *len)
{
    mem_store *st = (mem_store *)base;
    int r = 0;
    if (!user_name_ok(user))
        return SESS_EINVAL;
    rdlock(st);
    struct muser *u = user_find(st, user);
    if (u == NULL || u->account == NULL) {
        r = SESS_ENOTFOUND;
    } else if (u->account_len > cap) {
        r = SESS_ETOOLARGE;
    } else {
        memcpy(buf, u->account, u->account_len);
        *len = u->account_len;
    }
    unlock(st);
    return r;
}

/* Checks a put against the stored record: create wants none, replace wants exactly `prev`. */
static int put_allowed(const struct muser *u, const uint8_t *prev, size_t prev_len)
{
    bool has = u != NULL && u->account != NULL;
    if (prev == NULL)
        return has ? SESS_EEXIST : 0;
    if (!has)
        return SESS_ENOTFOUND;
    if (u->account_len != prev_len || memcmp(u->account, prev, prev_len) != 0)
        return SESS_ECONFLICT;
    return 0;
}

static int mem_user_put(sess_store *base, const char *user, const uint8_t *rec, size_t len,
                        const uint8_t *prev, size_t prev_len)
{
    mem_store *st = (mem_store *)base;
    struct muser *u;
    if (!user_name_ok(user) || len == 0 || len > SESS_ACCOUNT_MAX)
        return SESS_EINVAL;
    uint8_t *copy = malloc(len);
    if (copy == NULL)
        return SESS_ENOMEM;
    memcpy(copy, rec, len);
    wrlock(st);
    int r = put_allowed(user_find(st, user), prev, prev_len);
    if (r == 0)
        r = user_get_or_add(st, user, &u);
    if (r == 0) {
        if (u->account != NULL)
            sess_wipe(u->account, u->account_len);
        free(u->account);
        u->account = copy;
        u->account_len = len;
        copy = NULL;
    }
    unlock(st);
    free(copy);
    return r;
}

static int mem_user_del(sess_store *base, const char *user)
{
    mem_store *st = (mem_store *)base;
    int r = 0;
    if (!user_name_ok(user))
        return SESS_EINVAL;
    wrlock(st);
    struct muser *u = user_find(st, user);
    if (u == NULL || u->account == NULL) {
        r = SESS_ENOTFOUND;
    } else {
        sess_wipe(u->account, u->account_len);
        free(u->account);
        u->account = NULL;
        u->account_len = 0;
        user_maybe_drop(st, u);
    }
    unlock(st);
    return r;
}

struct acct_copy {
    char name[SESS_USER_MAX + 1];
    uint8_t *rec;
    size_t len;
};

static int acct_order(const void *a, const void *b)
{
    return strcmp(((const struct acct_copy *)a)->name, ((const struct acct_copy *)b)->name);
}

/* Copies every account under the read lock; the caller frees with free_accounts. */
static int copy_accounts(mem_store *st, struct acct_copy **out, size_t *n)
{
    int r = 0;
    *out = NULL;
    *n = 0;
    rdlock(st);
    struct acct_copy *all = st->users.count ? calloc(st->users.count, sizeof(*all)) : NULL;
    if (st->users.count > 0 && all == NULL)
        r = SESS_ENOMEM;
    for (size_t b = 0; r == 0 && b < st->users.nbuckets; b++) {
        for (struct mnode *node = st->users.buckets[b]; r == 0 && node != NULL; node = node->next) {
            const struct muser *u = node->val;
            if (u->account == NULL)
                continue;
            struct acct_copy *c = &all[(*n)++];
            memcpy(c->name, u->name, sizeof(c->name));
            c->len = u->account_len;
            if ((c->rec = malloc(c->len)) == NULL)
                r = SESS_ENOMEM;
            else
                memcpy(c->rec, u->account, c->len);
        }
    }
    unlock(st);
    *out = all;
    return r;
}

static void free_accounts(struct acct_copy *all, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (all[i].rec != NULL)
            sess_wipe(all[i].rec, all[i].len);
        free(all[i].rec);
    }
    free(all);
}

/* Listed by name, from copies, so the callback may change accounts. */
static int mem_user_list(sess_store *base, sess_account_cb cb, void *arg)
{
    mem_store *st = (mem_store *)base;
    struct acct_copy *all;
    size_t n;
    int r = copy_accounts(st, &all, &n);
    if (r == 0 && n > 1)
        qsort(all, n, sizeof(*all), acct_order);
    for (size_t i = 0; r == 0 && i < n; i++)
        if (cb(all[i].name, all[i].rec, all[i].len, arg) != 0)
            break;
    free_accounts(all, n);
    return r;
}

static const sess_store_ops mem_ops = {
    .name = "memory",
    .close = mem_close,
    .ping = mem_ping,
    .create = mem_create,
    .lookup = mem_lookup,
    .get = mem_get,
    .touch_many = mem_touch_many,
    .patch = mem_patch,
    .rotate = mem_rotate,
    .set_roles = mem_set_roles,
    .del = mem_del,
    .revoke_user = mem_revoke_user,
    .list_user = mem_list_user,
    .list_all = mem_list_all,
    .count = mem_count,
    .sweep = mem_sweep,
    .prefs_get = mem_prefs_get,
    .prefs_put = mem_prefs_put,
    .prefs_patch = mem_prefs_patch,
    .apikey_put = mem_apikey_put,
    .apikey_find = mem_apikey_find,
    .apikey_del = mem_apikey_del,
    .apikey_list = mem_apikey_list,
    .user_get = mem_user_get,
    .user_put = mem_user_put,
    .user_del = mem_user_del,
    .user_list = mem_user_list,
    .generation = mem_generation,
    .version = mem_version,
};

static int fail(char *err, size_t errlen, const char *why, int code)
{
    if (err != NULL && errlen > 0) {
        strncpy(err, why, errlen - 1);
        err[errlen - 1] = '\0';
    }
    return code;
}

int sess_store_memory_open(const sess_store_opts *opts, sess_store **out, char *err, size_t errlen)
{
    (void)opts; /* nothing to configure: no path, no size, and read-only makes no sense here */
    if (sess_crypto_init() != 0)
        return fail(err, errlen, "the OS random number generator is unavailable", SESS_EINTERNAL);
    mem_store *st = calloc(1, sizeof(*st));
    if (st == NULL)
        return fail(err, errlen, "out of memory", SESS_ENOMEM);
    st->base.ops = &mem_ops;
    sess_random(st->sipkey, sizeof(st->sipkey));
    /* Writers first: a steady stream of lookups must not starve touches and patches. */
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    int lr = pthread_rwlock_init(&st->lock, &attr);
    pthread_rwlockattr_destroy(&attr);
    if (lr != 0) {
        free(st);
        return fail(err, errlen, "cannot create the store lock", SESS_EINTERNAL);
    }
    if (map_init(&st->sessions, st->sipkey) != 0 || map_init(&st->tokens, st->sipkey) != 0 ||
        map_init(&st->users, st->sipkey) != 0 || map_init(&st->keys, st->sipkey) != 0 ||
        map_init(&st->key_hashes, st->sipkey) != 0) {
        mem_close(&st->base);
        return fail(err, errlen, "out of memory", SESS_ENOMEM);
    }
    *out = &st->base;
    return 0;
}
