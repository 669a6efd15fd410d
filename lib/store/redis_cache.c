/*
 * redis_cache.c - the near cache of the Redis backend: answers to lookups (token hash -> record
 * and the user's generation), API key checks and preferences, kept in this process so that a
 * verify costs no network round trip.
 *
 * It stays exact through invalidations: every script that changes a session, a generation,
 * preferences or an API key publishes what it changed on the channel P inv (see redis_int.h for
 * the messages), and a subscriber thread per store handle applies them here; the writing process
 * applies its own at once. The cache serves only while its subscription is confirmed: when the
 * subscriber's connection fails, or stays silent past SUB_DEAD_MS although it pings every
 * SUB_PING_MS, the cache is emptied and bypassed until a new subscription is confirmed (and then
 * starts empty, since messages may have been missed in between). A fetch that overlapped an
 * invalidation is not cached: puts carry the invalidation counter read before the fetch. (A
 * fetch answered just before a write whose message has not arrived yet may still be cached; the
 * message removes it when it arrives, so nothing stale outlives its invalidation.)
 *
 * The subscriber pings every command timeout (at least SUB_PING_MIN_MS, at most
 * SUB_PING_MAX_MS) and gives the subscription up when nothing, not even a pong, arrived for a
 * ping interval plus a command timeout.
 *
 * Staleness bound: a change made on another node is seen here once its message arrives (one
 * pub/sub hop). If the subscription breaks without a word (a partition, a hung Redis), this node
 * may answer from its cache for at most two ping intervals plus a command timeout (3 s with the
 * defaults) before it notices, and never from entries older than the configured TTL. While Redis
 * itself hangs nobody can change anything, so those answers are still current. Entries also leave
 * in FIFO order when the cache is full.
 */
#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "redis_int.h"
#include "sessiond/crypto.h"
#include "sessiond/error.h"

#define SUB_PING_MIN_MS 100
#define SUB_PING_MAX_MS 1000

typedef struct centry {
    struct centry *next;          /* chain in the table by kind and key */
    struct centry *inext;         /* chain in the table by session id ('l' entries) */
    struct centry *older, *newer; /* insertion order */
    uint64_t h;
    int64_t born_ms;
    char kind; /* 'l' lookup, 'k' API key, 'p' preferences */
    uint8_t klen;
    uint8_t key[SESS_USER_MAX];          /* token hash, API key hash, or user name */
    sess_record *rec;                    /* 'l' */
    uint64_t gen;                        /* 'l' */
    bool prev;                           /* 'l' */
    char name[SESS_APIKEY_NAME_MAX + 1]; /* 'k' */
    char *json;                          /* 'p': NULL when the user has none */
    size_t json_len;
} centry;

struct rs_cache {
    redis_store *st;
    pthread_rwlock_t lock; /* guards everything below except the atomics */
    centry **tab, **itab;
    size_t nb; /* buckets of both tables: a power of two */
    centry *oldest, *newest;
    size_t count, cap;
    uint32_t ttl_ms;
    uint8_t hkey[SESS_KEY_BYTES];      /* bucket hashing of user names */
    bool on;                           /* subscription confirmed: serve and fill */
    atomic_uint_fast64_t seq;          /* bumped on every invalidation, under the write lock */
    atomic_uint_fast64_t hits, misses; /* lookups answered here or sent to Redis (metrics) */

    pthread_t thread;
    int stopfd;
    atomic_bool stopping;
    int ping_ms, dead_ms; /* see the top of this file */
};

/* ---- the tables ------------------------------------------------------------------------ */

static uint64_t first64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

/* Token and API key hashes are keyed hashes already; user names are hashed under a random key
 * so that clients cannot aim at one bucket. */
static uint64_t key_hash(const rs_cache *c, char kind, const uint8_t *key, size_t len)
{
    uint8_t h[SESS_HASH_BYTES];
    if (kind == 'p') {
        sess_keyed_hash(c->hkey, key, len, h);
        return first64(h) ^ 'p';
    }
    return first64(key) ^ (uint64_t)kind;
}

static centry *find(const rs_cache *c, char kind, const uint8_t *key, size_t len)
{
    uint64_t h = key_hash(c, kind, key, len);
    for (centry *e = c->tab[h & (c->nb - 1)]; e != NULL; e = e->next)
        if (e->h == h && e->kind == kind && e->klen == len && memcmp(e->key, key, len) == 0)
            return e;
    return NULL;
}

static void entry_free(centry *e)
{
    if (e->rec != NULL) {
        sess_record_dispose(e->rec);
        free(e->rec);
    }
    free(e->json);
    free(e);
}

static void unlink_chain(centry **head, centry *e, bool by_id)
{
    for (centry **p = head; *p != NULL; p = by_id ? &(*p)->inext : &(*p)->next) {
        if (*p == e) {
            *p = by_id ? e->inext : e->next;
            return;
        }
    }
}

static void remove_entry(rs_cache *c, centry *e)
{
    unlink_chain(&c->tab[e->h & (c->nb - 1)], e, false);
    if (e->rec != NULL)
        unlink_chain(&c->itab[first64(e->rec->id) & (c->nb - 1)], e, true);
    if (e->older != NULL)
        e->older->newer = e->newer;
    else
        c->oldest = e->newer;
    if (e->newer != NULL)
        e->newer->older = e->older;
    else
        c->newest = e->older;
    c->count--;
    entry_free(e);
}

static void flush(rs_cache *c)
{
    while (c->oldest != NULL)
        remove_entry(c, c->oldest);
}

/* Makes room for one more and drops what outlived the TTL (the oldest come first). */
static void prune(rs_cache *c, int64_t now)
{
    while (c->oldest != NULL && (c->count >= c->cap || now - c->oldest->born_ms >= c->ttl_ms))
        remove_entry(c, c->oldest);
}

/* Inserts `e` (its key set) if the counter did not move since `seq`; otherwise frees it. */
static void insert(rs_cache *c, uint64_t seq, centry *e)
{
    int64_t now = sess__rs_mono_ms();
    e->h = key_hash(c, e->kind, e->key, e->klen);
    e->born_ms = now;
    pthread_rwlock_wrlock(&c->lock);
    if (!c->on || atomic_load(&c->seq) != seq) {
        pthread_rwlock_unlock(&c->lock);
        entry_free(e);
        return;
    }
    centry *old = find(c, e->kind, e->key, e->klen);
    if (old != NULL)
        remove_entry(c, old);
    prune(c, now);
    centry **b = &c->tab[e->h & (c->nb - 1)];
    e->next = *b;
    *b = e;
    if (e->rec != NULL) {
        centry **ib = &c->itab[first64(e->rec->id) & (c->nb - 1)];
        e->inext = *ib;
        *ib = e;
    }
    e->older = c->newest;
    if (c->newest != NULL)
        c->newest->newer = e;
    else
        c->oldest = e;
    c->newest = e;
    c->count++;
    pthread_rwlock_unlock(&c->lock);
}

static centry *entry_new(char kind, const void *key, size_t len)
{
    centry *e = calloc(1, sizeof(*e));
    if (e != NULL) {
        e->kind = kind;
        e->klen = (uint8_t)len;
        memcpy(e->key, key, len);
    }
    return e;
}

/* The live entry for a key, read-locked by the caller; NULL when absent, stale or off. */
static const centry *get_live(rs_cache *c, char kind, const void *key, size_t len)
{
    if (!c->on)
        return NULL;
    const centry *e = find(c, kind, key, len);
    if (e == NULL || sess__rs_mono_ms() - e->born_ms >= c->ttl_ms) {
        atomic_fetch_add_explicit(&c->misses, 1, memory_order_relaxed);
        return NULL;
    }
    atomic_fetch_add_explicit(&c->hits, 1, memory_order_relaxed);
    return e;
}

/* ---- answers --------------------------------------------------------------------------- */

void sess__rs_cache_stats(rs_cache *c, uint64_t *hits, uint64_t *misses)
{
    *hits = atomic_load_explicit(&c->hits, memory_order_relaxed);
    *misses = atomic_load_explicit(&c->misses, memory_order_relaxed);
}

uint64_t sess__rs_cache_seq(rs_cache *c)
{
    return atomic_load(&c->seq);
}

static int copy_record(const sess_record *src, sess_record *dst)
{
    *dst = *src;
    dst->data = NULL;
    dst->data_len = 0;
    if (sess_record_set_data(dst, src->data, src->data_len) != 0) {
        sess_wipe(dst->csrf_secret, sizeof(dst->csrf_secret));
        return SESS_ENOMEM;
    }
    return 0;
}

bool sess__rs_cache_get_lookup(rs_cache *c, const uint8_t hash[SESS_HASH_BYTES], sess_record *out,
                               uint64_t *gen, bool *is_previous)
{
    bool hit = false;
    pthread_rwlock_rdlock(&c->lock);
    const centry *e = get_live(c, 'l', hash, SESS_HASH_BYTES);
    if (e != NULL && copy_record(e->rec, out) == 0) {
        *gen = e->gen;
        *is_previous = e->prev;
        hit = true;
    }
    pthread_rwlock_unlock(&c->lock);
    return hit;
}

void sess__rs_cache_put_lookup(rs_cache *c, uint64_t seq, const uint8_t hash[SESS_HASH_BYTES],
                               const sess_record *rec, uint64_t gen, bool is_previous)
{
    centry *e = entry_new('l', hash, SESS_HASH_BYTES);
    if (e == NULL || (e->rec = malloc(sizeof(*e->rec))) == NULL || copy_record(rec, e->rec) != 0) {
        if (e != NULL) {
            free(e->rec);
            e->rec = NULL;
            entry_free(e);
        }
        return;
    }
    e->gen = gen;
    e->prev = is_previous;
    insert(c, seq, e);
}

bool sess__rs_cache_get_apikey(rs_cache *c, const uint8_t hash[SESS_HASH_BYTES],
                               char name[SESS_APIKEY_NAME_MAX + 1])
{
    pthread_rwlock_rdlock(&c->lock);
    const centry *e = get_live(c, 'k', hash, SESS_HASH_BYTES);
    if (e != NULL)
        memcpy(name, e->name, sizeof(e->name));
    pthread_rwlock_unlock(&c->lock);
    return e != NULL;
}

void sess__rs_cache_put_apikey(rs_cache *c, uint64_t seq, const uint8_t hash[SESS_HASH_BYTES],
                               const char *name)
{
    centry *e = entry_new('k', hash, SESS_HASH_BYTES);
    if (e == NULL)
        return;
    snprintf(e->name, sizeof(e->name), "%s", name);
    insert(c, seq, e);
}

bool sess__rs_cache_get_prefs(rs_cache *c, const char *user, char **json, size_t *len, bool *found)
{
    bool hit = false;
    size_t n = strlen(user);
    pthread_rwlock_rdlock(&c->lock);
    const centry *e = get_live(c, 'p', user, n);
    if (e != NULL && e->json == NULL) {
        *found = false;
        hit = true;
    } else if (e != NULL && (*json = malloc(e->json_len + 1)) != NULL) {
        memcpy(*json, e->json, e->json_len + 1);
        *len = e->json_len;
        *found = true;
        hit = true;
    }
    pthread_rwlock_unlock(&c->lock);
    return hit;
}

void sess__rs_cache_put_prefs(rs_cache *c, uint64_t seq, const char *user, const char *json,
                              size_t len)
{
    centry *e = entry_new('p', user, strlen(user));
    if (e == NULL)
        return;
    if (json != NULL) {
        if ((e->json = malloc(len + 1)) == NULL) {
            entry_free(e);
            return;
        }
        memcpy(e->json, json, len);
        e->json[len] = '\0';
        e->json_len = len;
    }
    insert(c, seq, e);
}

/* ---- invalidation ---------------------------------------------------------------------- */

static void drop_id(rs_cache *c, const uint8_t *id)
{
    centry *e = c->itab[first64(id) & (c->nb - 1)];
    while (e != NULL) {
        centry *next = e->inext;
        if (memcmp(e->rec->id, id, SESS_ID_BYTES) == 0)
            remove_entry(c, e);
        e = next;
    }
}

static void drop_user(rs_cache *c, const char *user, size_t len)
{
    for (centry *e = c->oldest, *next; e != NULL; e = next) {
        next = e->newer;
        if (e->kind == 'l' && strlen(e->rec->user) == len && memcmp(e->rec->user, user, len) == 0)
            remove_entry(c, e);
    }
}

static void drop_key(rs_cache *c, char kind, const void *key, size_t len)
{
    centry *e = find(c, kind, key, len);
    if (e != NULL)
        remove_entry(c, e);
}

void sess__rs_cache_apply(rs_cache *c, const char *msg, size_t len)
{
    const uint8_t *body = (const uint8_t *)msg + 1;
    size_t blen = len > 0 ? len - 1 : 0;
    pthread_rwlock_wrlock(&c->lock);
    atomic_fetch_add(&c->seq, 1);
    char kind = len > 0 ? msg[0] : '*';
    if (kind == 'i' && blen % SESS_ID_BYTES == 0) {
        for (size_t i = 0; i < blen; i += SESS_ID_BYTES)
            drop_id(c, body + i);
    } else if (kind == 'u' && blen > 0 && blen <= SESS_USER_MAX) {
        drop_user(c, (const char *)body, blen);
    } else if (kind == 'p' && blen > 0 && blen <= SESS_USER_MAX) {
        drop_key(c, 'p', body, blen);
    } else if (kind == 'k' && blen == SESS_HASH_BYTES) {
        drop_key(c, 'k', body, blen);
    } else {
        flush(c); /* anything unexpected: forget everything rather than guess */
    }
    pthread_rwlock_unlock(&c->lock);
}

static void set_on(rs_cache *c, bool on)
{
    pthread_rwlock_wrlock(&c->lock);
    atomic_fetch_add(&c->seq, 1);
    flush(c);
    c->on = on;
    pthread_rwlock_unlock(&c->lock);
}

/* ---- the subscriber -------------------------------------------------------------------- */

/* Sleeps `ms` or until asked to stop; true when stopping. */
static bool pause_ms(rs_cache *c, int ms)
{
    struct pollfd p = {.fd = c->stopfd, .events = POLLIN};
    if (!atomic_load(&c->stopping))
        poll(&p, 1, ms);
    return atomic_load(&c->stopping);
}

static int subscribe(rs_cache *c, redisContext *ctx)
{
    const char *argv[2] = {"SUBSCRIBE", c->st->channel};
    redisReply *rep = redisCommandArgv(ctx, 2, argv, NULL);
    int ok = rep != NULL && rep->type == REDIS_REPLY_ARRAY && rep->elements == 3 &&
             rep->element[0]->type == REDIS_REPLY_STRING &&
             strcmp(rep->element[0]->str, "subscribe") == 0;
    if (rep != NULL)
        freeReplyObject(rep);
    return ok ? 0 : -1;
}

static void on_message(rs_cache *c, const redisReply *r)
{
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
        r->element[0]->type == REDIS_REPLY_STRING && strcmp(r->element[0]->str, "message") == 0 &&
        r->element[2]->type == REDIS_REPLY_STRING)
        sess__rs_cache_apply(c, r->element[2]->str, r->element[2]->len);
}

static int send_ping(redisContext *ctx)
{
    int done = 0;
    if (redisAppendCommand(ctx, "PING") != REDIS_OK)
        return -1;
    while (!done)
        if (redisBufferWrite(ctx, &done) != REDIS_OK)
            return -1;
    return 0;
}

/* Reads what arrived and applies it; -1 when the connection is gone. */
static int drain(rs_cache *c, redisContext *ctx)
{
    void *reply;
    if (redisBufferRead(ctx) != REDIS_OK)
        return -1;
    while (redisGetReplyFromReader(ctx, &reply) == REDIS_OK && reply != NULL) {
        on_message(c, reply);
        freeReplyObject(reply);
    }
    return ctx->err != 0 ? -1 : 0;
}

/* Applies messages until the connection fails or goes silent, or the cache is stopping. */
static void listen_loop(rs_cache *c, redisContext *ctx)
{
    int64_t last_rx = sess__rs_mono_ms(), last_ping = last_rx;
    while (!atomic_load(&c->stopping)) {
        int64_t now = sess__rs_mono_ms();
        if (now - last_rx > c->dead_ms)
            return;
        if (now - last_ping >= c->ping_ms) {
            if (send_ping(ctx) != 0)
                return;
            last_ping = now;
        }
        struct pollfd p[2] = {{.fd = ctx->fd, .events = POLLIN},
                              {.fd = c->stopfd, .events = POLLIN}};
        int n = poll(p, 2, (int)(c->ping_ms - (now - last_ping)));
        if (n < 0 && errno != EINTR)
            return;
        if (n > 0 && p[0].revents != 0) {
            if (drain(c, ctx) != 0)
                return;
            last_rx = sess__rs_mono_ms();
        }
    }
}

static void *subscriber(void *arg)
{
    rs_cache *c = arg;
    bool lost = false;
    while (!atomic_load(&c->stopping)) {
        char why[160];
        redisContext *ctx = sess__rs_connect(c->st, 0, why, sizeof(why));
        if (ctx == NULL || subscribe(c, ctx) != 0) {
            if (ctx != NULL)
                redisFree(ctx);
            pause_ms(c, RS_RETRY_MS);
            continue;
        }
        set_on(c, true);
        if (lost)
            sess__rs_log(c->st, SESS_STORE_LOG_INFO,
                         "near cache: invalidation subscription is back");
        listen_loop(c, ctx);
        set_on(c, false);
        redisFree(ctx);
        lost = !atomic_load(&c->stopping);
        if (lost)
            sess__rs_log(
                c->st, SESS_STORE_LOG_WARN,
                "near cache: lost the invalidation subscription; answering from Redis until it "
                "is back");
    }
    return NULL;
}

/* ---- life cycle ------------------------------------------------------------------------ */

static size_t pow2_at_least(size_t n)
{
    size_t b = 16;
    while (b < n)
        b <<= 1;
    return b;
}

void sess__rs_cache_free(rs_cache *c)
{
    if (c == NULL)
        return;
    if (c->stopfd >= 0) {
        atomic_store(&c->stopping, true);
        uint64_t one = 1;
        ssize_t w = write(c->stopfd, &one, sizeof(one)); /* if it fails, the flag stops it */
        (void)w;
        pthread_join(c->thread, NULL);
        close(c->stopfd);
    }
    flush(c);
    pthread_rwlock_destroy(&c->lock);
    sess_wipe(c->hkey, sizeof(c->hkey));
    free(c->tab);
    free(c->itab);
    free(c);
}

int sess__rs_cache_new(redis_store *st, uint32_t entries, uint32_t ttl_ms, rs_cache **out)
{
    rs_cache *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return SESS_ENOMEM;
    c->st = st;
    c->cap = entries;
    c->ttl_ms = ttl_ms;
    c->nb = pow2_at_least(entries);
    c->stopfd = -1;
    c->ping_ms = (int)st->timeout_ms;
    if (c->ping_ms < SUB_PING_MIN_MS)
        c->ping_ms = SUB_PING_MIN_MS;
    if (c->ping_ms > SUB_PING_MAX_MS)
        c->ping_ms = SUB_PING_MAX_MS;
    c->dead_ms = c->ping_ms + (int)st->timeout_ms;
    sess_random(c->hkey, sizeof(c->hkey));
    pthread_rwlock_init(&c->lock, NULL);
    c->tab = calloc(c->nb, sizeof(*c->tab));
    c->itab = calloc(c->nb, sizeof(*c->itab));
    if (c->tab == NULL || c->itab == NULL ||
        (c->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
        sess__rs_cache_free(c);
        return SESS_ENOMEM;
    }
    if (pthread_create(&c->thread, NULL, subscriber, c) != 0) {
        close(c->stopfd);
        c->stopfd = -1;
        sess__rs_cache_free(c);
        return SESS_ENOMEM;
    }
    *out = c;
    return 0;
}
