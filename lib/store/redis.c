/*
 * redis.c - the Redis store backend: sessions shared by several sessiond nodes.
 *
 * Each change to a user's keys is one Lua script in that user's hash slot (redis_scripts.c,
 * which also describes the keys), so it is never half applied and no whole session is read,
 * changed and written back; the pointers from a token hash or a session id to the session live
 * in other slots and are written before the script and removed after it (a pointer without its
 * session leads nowhere). The same code serves a single Redis, Sentinel and a Cluster
 * (redis_cluster.c routes each call by its key's slot). Sessions are hashes with a TTL of their
 * absolute lifetime plus RS_TTL_SLACK_S from when they were written: the TTL only reclaims memory
 * if no sweep runs; whether a session is live is judged by lib/session.c on every read, as with
 * every backend. Writes after creation check inside their script that the session exists, so a
 * deleted session never comes back.
 *
 * Data patches keep RFC 7386 semantics with per-key atomicity: a top-level key set to a scalar
 * or array, or deleted, is written as is; a key whose patch value is an object is merged here
 * (sess_json_merge) from the value it had and written only if it still has that value, else
 * merged again. The compact size of the whole object is checked inside the script from the
 * member sizes, so max_data holds exactly as in the other backends.
 *
 * With opts->redis_cache, lookups, API key checks and preferences are answered from a near cache
 * (redis_cache.c) kept exact by invalidations that every writer publishes from its script.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "redis_int.h"
#include "sessiond/crypto.h"
#include "sessiond/error.h"
#include "../json_merge.h"

/* Redis keeps a session this long past its absolute deadline (clock differences between nodes
 * and Redis must not make it vanish early). */
#define RS_TTL_SLACK_S 3600
/* Rounds of merge and compare-and-set before a patch gives up (only reached when other writers
 * change the same object-valued key without pause). */
#define PATCH_ROUNDS 100
/* The longest key: P s{u:<user>}<id> (P + 5 + user + 16), P t:<hash> (P + 2 + 32), P{due}. */
#define KEY_MAX (RS_PREFIX_MAX + SESS_USER_MAX + SESS_HASH_BYTES + 8)
/* The TTL of a token pointer written before the rotation that needs it (then cut). */
#define RS_PTR_TTL_MAX_MS (366LL * 24 * 3600 * 1000)

static redis_store *from_base(sess_store *st)
{
    return (redis_store *)st;
}

static bool user_ok(const char *user)
{
    size_t n = user != NULL ? strnlen(user, SESS_USER_MAX + 1) : 0;
    return n > 0 && n <= SESS_USER_MAX;
}

/* P + middle + tail, e.g. "sessiond:" "t:" <token hash>. */
static size_t make_key(const redis_store *st, char *out, const char *mid, const void *tail,
                       size_t tlen)
{
    size_t n = st->prefix_len, ml = strlen(mid);
    memcpy(out, st->prefix, n);
    memcpy(out + n, mid, ml);
    memcpy(out + n + ml, tail, tlen);
    return n + ml + tlen;
}

/* A key in the user's slot: P + kind + "{u:" + user + "}" + tail (a session id or nothing). */
static size_t user_key(const redis_store *st, char *out, char kind, const char *user,
                       const void *tail, size_t tlen)
{
    size_t n = st->prefix_len, ul = strlen(user);
    memcpy(out, st->prefix, n);
    out[n++] = kind;
    memcpy(out + n, "{u:", 3);
    memcpy(out + n + 3, user, ul);
    out[n + 3 + ul] = '}';
    memcpy(out + n + 4 + ul, tail, tlen);
    return n + 4 + ul + tlen;
}

/* Tells this process's near cache what a write changed (others learn it through pub/sub). */
static void invalidate(redis_store *st, char kind, const void *body, size_t len)
{
    char msg[1 + SESS_USER_MAX + SESS_HASH_BYTES];
    if (st->cache == NULL || len + 1 > sizeof(msg))
        return;
    msg[0] = kind;
    memcpy(msg + 1, body, len);
    sess__rs_cache_apply(st->cache, msg, len + 1);
}

/* 'i' + ids from a script's answer (a concatenation of 16-byte ids). */
static void invalidate_ids(redis_store *st, const redisReply *ids)
{
    if (st->cache == NULL || ids->type != REDIS_REPLY_STRING || ids->len == 0)
        return;
    char *msg = malloc(ids->len + 1);
    if (msg == NULL) {
        sess__rs_cache_apply(st->cache, "*", 1); /* drops everything */
        return;
    }
    msg[0] = 'i';
    memcpy(msg + 1, ids->str, ids->len);
    sess__rs_cache_apply(st->cache, msg, ids->len + 1);
    free(msg);
}

static const redisReply *elem(const redisReply *r, size_t i, int type)
{
    if (r->type != REDIS_REPLY_ARRAY || i >= r->elements || r->element[i]->type != type)
        return NULL;
    return r->element[i];
}

static int parse_gen(const redisReply *g, uint64_t *out)
{
    char buf[24];
    if (g == NULL || g->len == 0 || g->len >= sizeof(buf))
        return SESS_ECORRUPT;
    memcpy(buf, g->str, g->len);
    buf[g->len] = '\0';
    char *end;
    unsigned long long v = strtoull(buf, &end, 10);
    if (*end != '\0' || buf[0] < '0' || buf[0] > '9')
        return SESS_ECORRUPT;
    *out = v;
    return 0;
}

/* {OK, generation, HGETALL} of the session `id` -> record and generation. */
static int decode_session(const redisReply *rep, const uint8_t id[SESS_ID_BYTES], sess_record *out,
                          uint64_t *gen)
{
    const redisReply *g = elem(rep, 1, REDIS_REPLY_STRING), *h = elem(rep, 2, REDIS_REPLY_ARRAY);
    uint64_t v = 0;
    int r = h != NULL ? parse_gen(g, &v) : SESS_ECORRUPT;
    if (r == 0)
        r = sess__rs_record_from_hash(h, out);
    if (r == 0) {
        memcpy(out->id, id, SESS_ID_BYTES);
        if (gen != NULL)
            *gen = v;
    }
    return r;
}

/* ---- sessions ------------------------------------------------------------------------- */

static int64_t ttl_ms(const sess_record *rec)
{
    int64_t life = rec->abs_expires - rec->created;
    if (life < 0)
        life = 0;
    return (life + RS_TTL_SLACK_S) * 1000;
}

/* ---- pointers: token hash -> session, session id -> user (their own slots) ---------------- */

/* SET key value NX PX ttl: 0 when set, SESS_EEXIST when the key exists. */
static int ptr_set(redis_store *st, const char *key, size_t klen, const void *val, size_t vlen,
                   int64_t ttl)
{
    redisReply *rep;
    rs_args a;
    sess__rs_args_init(&a);
    sess__rs_args_str(&a, "SET");
    sess__rs_args_bin(&a, key, klen);
    sess__rs_args_bin(&a, val, vlen);
    sess__rs_args_str(&a, "NX");
    sess__rs_args_str(&a, "PX");
    sess__rs_args_i64(&a, ttl);
    int r = sess__rs_command(st, &a, false, &rep);
    sess__rs_args_dispose(&a);
    if (r != 0)
        return r;
    r = rep->type == REDIS_REPLY_NIL ? SESS_EEXIST : 0;
    freeReplyObject(rep);
    return r;
}

/* Deletes the pointer `key` if its value still starts with `val`. Best effort: a pointer left
 * behind leads nowhere (readers check the session) and its TTL reclaims it. */
static void ptr_del(redis_store *st, const char *key, size_t klen, const void *val, size_t vlen)
{
    redisReply *rep;
    rs_args a;
    sess__rs_args_init(&a);
    sess__rs_args_bin(&a, val, vlen);
    if (sess__rs_script(st, RS_PTR_DEL, key, klen, &a, false, &rep) == 0)
        freeReplyObject(rep);
    sess__rs_args_dispose(&a);
}

static size_t token_key(const redis_store *st, char *out, const uint8_t hash[SESS_HASH_BYTES])
{
    return make_key(st, out, "t:", hash, SESS_HASH_BYTES);
}

static size_t id_key(const redis_store *st, char *out, const uint8_t id[SESS_ID_BYTES])
{
    return make_key(st, out, "i:", id, SESS_ID_BYTES);
}

/* Removes the token pointers a script listed (48-byte records: id + token hash). */
static void unlink_tokens(redis_store *st, const redisReply *links)
{
    char key[KEY_MAX];
    if (links == NULL || links->type != REDIS_REPLY_STRING)
        return;
    for (size_t at = 0; at + SESS_ID_BYTES + SESS_HASH_BYTES <= links->len;
         at += SESS_ID_BYTES + SESS_HASH_BYTES) {
        const uint8_t *rec = (const uint8_t *)links->str + at;
        ptr_del(st, key, token_key(st, key, rec + SESS_ID_BYTES), rec, SESS_ID_BYTES);
    }
}

/* Removes the id pointers of sessions that are gone (a concatenation of `len` bytes of ids). */
static void unlink_ids(redis_store *st, const void *ids, size_t len)
{
    char key[KEY_MAX];
    for (size_t at = 0; at + SESS_ID_BYTES <= len; at += SESS_ID_BYTES) {
        rs_args a;
        redisReply *rep;
        sess__rs_args_init(&a);
        sess__rs_args_str(&a, "DEL");
        sess__rs_args_bin(&a, key, id_key(st, key, (const uint8_t *)ids + at));
        if (sess__rs_command(st, &a, false, &rep) == 0)
            freeReplyObject(rep);
        sess__rs_args_dispose(&a);
    }
}

/* Marks the user for the sweep at `when` (only ever earlier: ZADD LT). A hint: when it is
 * lost, expired sessions are still refused on every read and their TTL reclaims them. */
static void due_add(redis_store *st, const char *user, int64_t when)
{
    char key[KEY_MAX];
    rs_args a;
    redisReply *rep;
    sess__rs_args_init(&a);
    sess__rs_args_str(&a, "ZADD");
    sess__rs_args_bin(&a, key, make_key(st, key, "{due}", "", 0));
    sess__rs_args_str(&a, "LT");
    sess__rs_args_i64(&a, when);
    sess__rs_args_str(&a, user);
    if (sess__rs_command(st, &a, false, &rep) == 0)
        freeReplyObject(rep);
    sess__rs_args_dispose(&a);
}

static rs_idmap_entry *idmap_at(redis_store *st, const uint8_t id[SESS_ID_BYTES])
{
    uint32_t h;
    memcpy(&h, id, sizeof(h)); /* ids are random */
    return &st->idmap[h & (RS_IDMAP_SIZE - 1)];
}

static void idmap_put(redis_store *st, const uint8_t id[SESS_ID_BYTES], const char *user)
{
    size_t n = strlen(user);
    pthread_mutex_lock(&st->mu);
    rs_idmap_entry *e = idmap_at(st, id);
    memcpy(e->id, id, SESS_ID_BYTES);
    memcpy(e->user, user, n);
    e->ulen = (uint8_t)n;
    pthread_mutex_unlock(&st->mu);
}

static bool idmap_get(redis_store *st, const uint8_t id[SESS_ID_BYTES],
                      char user[SESS_USER_MAX + 1])
{
    pthread_mutex_lock(&st->mu);
    rs_idmap_entry *e = idmap_at(st, id);
    bool hit = e->ulen > 0 && memcmp(e->id, id, SESS_ID_BYTES) == 0;
    if (hit) {
        memcpy(user, e->user, e->ulen);
        user[e->ulen] = '\0';
    }
    pthread_mutex_unlock(&st->mu);
    return hit;
}

/* GET of one key (a read: run once more on a fresh connection after an I/O error). 0 and *rep
 * (freeReplyObject), or the error. */
static int get_one(redis_store *st, const char *key, size_t len, redisReply **rep)
{
    rs_args a;
    sess__rs_args_init(&a);
    sess__rs_args_str(&a, "GET");
    sess__rs_args_bin(&a, key, len);
    int r = sess__rs_command(st, &a, true, rep);
    sess__rs_args_dispose(&a);
    return r;
}

/* The user of session `id` (remembered, or from its pointer); SESS_ESESSION when there is
 * none. */
static int id_user(redis_store *st, const uint8_t id[SESS_ID_BYTES], char user[SESS_USER_MAX + 1])
{
    char key[KEY_MAX];
    redisReply *rep;
    if (idmap_get(st, id, user))
        return 0;
    int r = get_one(st, key, id_key(st, key, id), &rep);
    if (r != 0)
        return r;
    if (rep->type == REDIS_REPLY_NIL)
        r = SESS_ESESSION;
    else if (rep->type != REDIS_REPLY_STRING || rep->len == 0 || rep->len > SESS_USER_MAX ||
             memchr(rep->str, '\0', rep->len) != NULL)
        r = SESS_ECORRUPT;
    else {
        memcpy(user, rep->str, rep->len);
        user[rep->len] = '\0';
        idmap_put(st, id, user);
    }
    freeReplyObject(rep);
    return r;
}

/* ---- sessions ------------------------------------------------------------------------- */

/* Creation in three steps: the id pointer and the token pointer (SET NX: an existing one is
 * EEXIST), then the session in its user's slot; the pointers of sessions the script removed go
 * afterwards. A refused script takes its pointers back; a lost answer leaves them (the
 * session may exist). */
static int redis_create(sess_store *base, const sess_record *rec, uint32_t max_per_user,
                        uint32_t *evicted)
{
    redis_store *st = from_base(base);
    bool empty = rec->data == NULL || rec->data_len == 0;
    char ikey[KEY_MAX], tkey[KEY_MAX], zkey[KEY_MAX], tval[SESS_ID_BYTES + SESS_USER_MAX];
    rs_members data;
    rs_args a;
    redisReply *rep;
    if (evicted != NULL)
        *evicted = 0;
    if (!user_ok(rec->user))
        return SESS_EINVAL;
    size_t ulen = strlen(rec->user), ilen = id_key(st, ikey, rec->id),
           tlen = token_key(st, tkey, rec->token_hash);
    memcpy(tval, rec->id, SESS_ID_BYTES);
    memcpy(tval + SESS_ID_BYTES, rec->user, ulen);
    int r = sess__rs_members_from_json(empty ? "{}" : rec->data, empty ? 2 : rec->data_len, &data);
    if (r != 0)
        return r;
    if ((r = ptr_set(st, ikey, ilen, rec->user, ulen, ttl_ms(rec))) == 0 &&
        (r = ptr_set(st, tkey, tlen, tval, SESS_ID_BYTES + ulen, ttl_ms(rec))) != 0 &&
        r != SESS_ESTORE)
        ptr_del(st, ikey, ilen, rec->user, ulen);
    if (r != 0) {
        sess__rs_members_dispose(&data);
        return r;
    }
    sess__rs_args_init(&a);
    sess__rs_args_str(&a, rec->user);
    sess__rs_args_bin(&a, rec->id, SESS_ID_BYTES);
    sess__rs_args_i64(&a, max_per_user);
    sess__rs_args_i64(&a, ttl_ms(rec));
    sess__rs_args_i64(&a, rec->created);
    sess__rs_args_record(&a, rec);
    sess__rs_args_members(&a, &data);
    r = sess__rs_script(st, RS_CREATE, zkey, user_key(st, zkey, 'z', rec->user, "", 0), &a, false,
                        &rep);
    sess__rs_args_dispose(&a);
    sess__rs_members_dispose(&data);
    if (r != 0 && r != SESS_ESTORE) {
        ptr_del(st, tkey, tlen, tval, SESS_ID_BYTES + ulen);
        ptr_del(st, ikey, ilen, rec->user, ulen);
    }
    if (r != 0)
        return r;
    const redisReply *n = elem(rep, 2, REDIS_REPLY_INTEGER),
                     *gone = elem(rep, 3, REDIS_REPLY_STRING);
    if (n != NULL && evicted != NULL)
        *evicted = (uint32_t)n->integer;
    if (gone != NULL)
        invalidate_ids(st, gone);
    unlink_tokens(st, elem(rep, 4, REDIS_REPLY_STRING));
    if (gone != NULL)
        unlink_ids(st, gone->str, gone->len);
    freeReplyObject(rep);
    idmap_put(st, rec->id, rec->user);
    due_add(st, rec->user,
            rec->idle_expires < rec->abs_expires ? rec->idle_expires : rec->abs_expires);
    return 0;
}

/* Whether `hash` is the record's current token (0, *prev false), its previous one (0, *prev
 * true), or neither (a token key left behind: SESS_ESESSION). */
static int which_token(const sess_record *rec, const uint8_t hash[SESS_HASH_BYTES], bool *prev)
{
    static const uint8_t zero[SESS_HASH_BYTES];
    *prev = false;
    if (sess_ct_equal(rec->token_hash, hash, SESS_HASH_BYTES))
        return 0;
    if (!sess_ct_equal(rec->prev_hash, zero, SESS_HASH_BYTES) &&
        sess_ct_equal(rec->prev_hash, hash, SESS_HASH_BYTES)) {
        *prev = true;
        return 0;
    }
    return SESS_ESESSION;
}

/* The session `id` of `user`, read in its slot with the user's generation. */
static int get_in_slot(redis_store *st, const char *user, const uint8_t id[SESS_ID_BYTES],
                       sess_record *out, uint64_t *gen)
{
    char key[KEY_MAX];
    redisReply *rep;
    rs_args a;
    sess__rs_args_init(&a);
    sess__rs_args_str(&a, user);
    sess__rs_args_bin(&a, id, SESS_ID_BYTES);
    int r = sess__rs_script(st, RS_GET, key, user_key(st, key, 's', user, id, SESS_ID_BYTES), &a,
                            true, &rep);
    sess__rs_args_dispose(&a);
    if (r != 0)
        return r;
    r = decode_session(rep, id, out, gen);
    freeReplyObject(rep);
    if (r == 0 && strcmp(out->user, user) != 0) {
        sess_record_dispose(out);
        r = SESS_ECORRUPT;
    }
    return r;
}

/* The token pointer gives id + user; the session must exist and hold the hash (checked in
 * constant time), else there is no session. */
static int lookup_remote(redis_store *st, const uint8_t hash[SESS_HASH_BYTES], sess_record *out,
                         uint64_t *gen, bool *prev)
{
    char key[KEY_MAX], user[SESS_USER_MAX + 1];
    uint8_t id[SESS_ID_BYTES];
    redisReply *rep;
    int r = get_one(st, key, token_key(st, key, hash), &rep);
    if (r != 0)
        return r;
    if (rep->type == REDIS_REPLY_NIL)
        r = SESS_ESESSION;
    else if (rep->type != REDIS_REPLY_STRING || rep->len <= SESS_ID_BYTES ||
             rep->len > SESS_ID_BYTES + SESS_USER_MAX ||
             memchr(rep->str + SESS_ID_BYTES, '\0', rep->len - SESS_ID_BYTES) != NULL)
        r = SESS_ECORRUPT;
    else {
        memcpy(id, rep->str, SESS_ID_BYTES);
        memcpy(user, rep->str + SESS_ID_BYTES, rep->len - SESS_ID_BYTES);
        user[rep->len - SESS_ID_BYTES] = '\0';
    }
    freeReplyObject(rep);
    if (r == 0)
        r = get_in_slot(st, user, id, out, gen);
    if (r == 0)
        idmap_put(st, id, user);
    if (r == 0 && (r = which_token(out, hash, prev)) != 0)
        sess_record_dispose(out);
    return r;
}

static int redis_lookup(sess_store *base, const uint8_t hash[SESS_HASH_BYTES], sess_record *out,
                        uint64_t *user_generation, bool *is_previous)
{
    redis_store *st = from_base(base);
    uint64_t gen = 0, seq = 0;
    bool prev = false;
    if (st->cache != NULL) {
        if (sess__rs_cache_get_lookup(st->cache, hash, out, &gen, &prev))
            goto found;
        seq = sess__rs_cache_seq(st->cache);
    }
    int r = lookup_remote(st, hash, out, &gen, &prev);
    if (r != 0)
        return r;
    if (st->cache != NULL)
        sess__rs_cache_put_lookup(st->cache, seq, hash, out, gen, prev);
found:
    if (user_generation != NULL)
        *user_generation = gen;
    if (is_previous != NULL)
        *is_previous = prev;
    return 0;
}

static int redis_get(sess_store *base, const uint8_t id[SESS_ID_BYTES], sess_record *out,
                     uint64_t *user_generation)
{
    redis_store *st = from_base(base);
    char user[SESS_USER_MAX + 1];
    int r = id_user(st, id, user);
    return r != 0 ? r : get_in_slot(st, user, id, out, user_generation);
}

/* Touch batches go out in chunks, so that one script never runs long inside Redis. */
#define TOUCH_CHUNK 512

typedef struct touch_item {
    size_t at; /* index in the caller's arrays */
    int slot;  /* of the user's keys; 0 on a single Redis, where any keys may share a script */
    char user[SESS_USER_MAX + 1];
} touch_item;

static int touch_order(const void *a, const void *b)
{
    const touch_item *x = a, *y = b;
    if (x->slot != y->slot)
        return x->slot < y->slot ? -1 : 1;
    return x->at < y->at ? -1 : x->at > y->at;
}

/* One script for each run of sessions whose users share a hash slot (on a single Redis: every
 * session of the batch), at most TOUCH_CHUNK at a time. */
static int touch_group(redis_store *st, const touch_item *it, size_t n,
                       const uint8_t (*ids)[SESS_ID_BYTES], const int64_t *last_seen,
                       const int64_t *idle_expires)
{
    char key[KEY_MAX];
    redisReply *rep;
    rs_args a;
    sess__rs_args_init(&a);
    for (size_t k = 0; k < n; k++) {
        sess__rs_args_str(&a, it[k].user);
        sess__rs_args_bin(&a, ids[it[k].at], SESS_ID_BYTES);
        sess__rs_args_i64(&a, last_seen[it[k].at]);
        sess__rs_args_i64(&a, idle_expires[it[k].at]);
    }
    int r = sess__rs_script(st, RS_TOUCH, key, user_key(st, key, 'z', it[0].user, "", 0), &a, false,
                            &rep);
    sess__rs_args_dispose(&a);
    if (r != 0)
        return r;
    const redisReply *touched = elem(rep, 1, REDIS_REPLY_STRING);
    if (touched != NULL)
        invalidate_ids(st, touched);
    freeReplyObject(rep);
    return 0;
}

static int redis_touch_many(sess_store *base, size_t n, const uint8_t (*ids)[SESS_ID_BYTES],
                            const int64_t *last_seen, const int64_t *idle_expires)
{
    redis_store *st = from_base(base);
    touch_item *it = calloc(n > 0 ? n : 1, sizeof(*it));
    size_t m = 0;
    int r = it != NULL ? 0 : SESS_ENOMEM;
    for (size_t i = 0; r == 0 && i < n; i++) {
        char key[KEY_MAX];
        int u = id_user(st, ids[i], it[m].user);
        if (u == SESS_ESESSION)
            continue;
        if (u != 0) {
            r = u;
            break;
        }
        it[m].at = i;
        it[m].slot =
            st->cluster ? sess__rs_key_slot(key, user_key(st, key, 'z', it[m].user, "", 0)) : 0;
        m++;
    }
    if (r == 0)
        qsort(it, m, sizeof(*it), touch_order);
    for (size_t start = 0, end; r == 0 && start < m; start = end) {
        for (end = start + 1;
             end < m && it[end].slot == it[start].slot && end - start < TOUCH_CHUNK; end++)
            ;
        r = touch_group(st, it + start, end - start, ids, last_seen, idle_expires);
    }
    free(it);
    return r;
}

/* ---- patches (session data and preferences) -------------------------------------------- */

typedef struct patch_op {
    char mode; /* S set, D delete, M merge into the current value (sent as C or A) */
    char *field;
    size_t flen;
    char *val; /* S: the value; M: the patch value (both compact JSON) */
    size_t vlen;
    char *merged; /* M: this round's result */
    size_t mlen;
    const redisReply *cur; /* M: the value the merge started from, or NULL */
} patch_op;

typedef struct patch_job {
    char kind;         /* 's' session data, 'p' preferences */
    const char *user;  /* the owner (of the session) */
    const uint8_t *id; /* 's': the session */
    char key[KEY_MAX];
    size_t key_len;
    size_t max;
    patch_op *ops;
    size_t nops, nmerge;
} patch_job;

static void ops_free(patch_job *j)
{
    for (size_t i = 0; i < j->nops; i++) {
        free(j->ops[i].field);
        free(j->ops[i].val);
        free(j->ops[i].merged);
    }
    free(j->ops);
}

static int ops_from_patch(patch_job *j, const char *patch, size_t len)
{
    json_error_t jerr;
    const char *k;
    json_t *v;
    json_t *obj = json_loadb(patch, len, JSON_REJECT_DUPLICATES, &jerr);
    int r = 0;
    if (!json_is_object(obj)) {
        json_decref(obj);
        return SESS_EINVAL;
    }
    j->ops = calloc(json_object_size(obj) + 1, sizeof(*j->ops));
    if (j->ops == NULL)
        r = SESS_ENOMEM;
    json_object_foreach(obj, k, v)
    {
        if (r != 0)
            break;
        patch_op *op = &j->ops[j->nops++];
        op->mode = json_is_null(v) ? 'D' : json_is_object(v) ? 'M' : 'S';
        j->nmerge += op->mode == 'M';
        if (sess__rs_member_field(k, &op->field, &op->flen) != 0 ||
            (op->mode != 'D' && (op->val = sess__rs_json_text(v, &op->vlen)) == NULL))
            r = SESS_ENOMEM;
    }
    json_decref(obj);
    return r;
}

/* Reads the current values of the merged keys and merges into them. `*cur` holds the answer
 * the ops point into; free it after the round. */
static int merge_round(redis_store *st, patch_job *j, redisReply **cur)
{
    rs_args a;
    *cur = NULL;
    if (j->nmerge == 0)
        return 0;
    sess__rs_args_init(&a);
    sess__rs_args_str(&a, "HMGET");
    sess__rs_args_bin(&a, j->key, j->key_len);
    for (size_t i = 0; i < j->nops; i++)
        if (j->ops[i].mode == 'M')
            sess__rs_args_bin(&a, j->ops[i].field, j->ops[i].flen);
    int r = sess__rs_command(st, &a, true, cur);
    sess__rs_args_dispose(&a);
    if (r != 0)
        return r;
    if ((*cur)->type != REDIS_REPLY_ARRAY || (*cur)->elements != j->nmerge)
        return SESS_ESTORE;
    for (size_t i = 0, m = 0; i < j->nops && r == 0; i++) {
        patch_op *op = &j->ops[i];
        if (op->mode != 'M')
            continue;
        const redisReply *c = (*cur)->element[m++];
        op->cur = c->type == REDIS_REPLY_STRING ? c : NULL;
        bool obj = op->cur != NULL && op->cur->len > 0 && op->cur->str[0] == '{';
        free(op->merged);
        op->merged = NULL;
        r = sess_json_merge(obj ? op->cur->str : NULL, obj ? op->cur->len : 0, op->val, op->vlen,
                            j->max, &op->merged, &op->mlen);
    }
    return r;
}

static void args_op(rs_args *a, const patch_op *op)
{
    static const char none[] = "";
    if (op->mode == 'M') {
        sess__rs_args_str(a, op->cur != NULL ? "C" : "A");
        sess__rs_args_bin(a, op->field, op->flen);
        sess__rs_args_bin(a, op->merged, op->mlen);
        sess__rs_args_bin(a, op->cur != NULL ? op->cur->str : none,
                          op->cur != NULL ? op->cur->len : 0);
        return;
    }
    sess__rs_args_bin(a, op->mode == 'D' ? "D" : "S", 1);
    sess__rs_args_bin(a, op->field, op->flen);
    sess__rs_args_bin(a, op->val != NULL ? op->val : none, op->vlen);
    sess__rs_args_bin(a, none, 0);
}

static int apply_round(redis_store *st, const patch_job *j, bool want, redisReply **rep)
{
    rs_args a;
    sess__rs_args_init(&a);
    sess__rs_args_bin(&a, &j->kind, 1);
    sess__rs_args_str(&a, j->user);
    sess__rs_args_bin(&a, j->id != NULL ? (const void *)j->id : "",
                      j->id != NULL ? SESS_ID_BYTES : 0);
    sess__rs_args_i64(&a, (int64_t)j->max);
    sess__rs_args_str(&a, want ? "1" : "0");
    sess__rs_args_i64(&a, (int64_t)j->nops);
    for (size_t i = 0; i < j->nops; i++)
        args_op(&a, &j->ops[i]);
    int r = sess__rs_script(st, RS_PATCH, j->key, j->key_len, &a, false, rep);
    sess__rs_args_dispose(&a);
    return r;
}

/* Runs a patch to the end: merge, compare-and-set, again on conflict. */
static int run_patch(redis_store *st, patch_job *j, const char *patch, size_t len, bool want,
                     redisReply **rep)
{
    int r = ops_from_patch(j, patch, len);
    for (int round = 0; r == 0; round++) {
        redisReply *cur;
        if (round == PATCH_ROUNDS) {
            sess__rs_log(st, SESS_STORE_LOG_WARN, "a patch lost %d races in a row; gave up",
                         PATCH_ROUNDS);
            r = SESS_ESTORE;
            break;
        }
        r = merge_round(st, j, &cur);
        if (r == 0)
            r = apply_round(st, j, want, rep);
        if (cur != NULL)
            freeReplyObject(cur);
        if (r != RS_CONFLICT)
            break;
        r = 0;
    }
    ops_free(j);
    return r;
}

static int redis_patch(sess_store *base, const uint8_t id[SESS_ID_BYTES], const char *patch,
                       size_t patch_len, size_t max_data, sess_record *out)
{
    redis_store *st = from_base(base);
    char user[SESS_USER_MAX + 1];
    patch_job j = {.kind = 's', .user = user, .id = id, .max = max_data};
    redisReply *rep;
    int r = id_user(st, id, user);
    if (r != 0)
        return r;
    j.key_len = user_key(st, j.key, 's', user, id, SESS_ID_BYTES);
    if ((r = run_patch(st, &j, patch, patch_len, out != NULL, &rep)) != 0)
        return r;
    invalidate(st, 'i', id, SESS_ID_BYTES);
    if (out != NULL)
        r = decode_session(rep, id, out, NULL);
    freeReplyObject(rep);
    return r;
}

/* The new token pointer first (with a year's TTL, cut to the session's own once the script
 * answered: if that last step fails, the pointer outlives its session, which is harmless, rather
 * than the session outliving its pointer), then the script, then the dropped previous hash's
 * pointer. */
static int redis_rotate(sess_store *base, const uint8_t id[SESS_ID_BYTES],
                        const uint8_t *expected_hash, const uint8_t new_hash[SESS_HASH_BYTES],
                        int64_t prev_until, int64_t auth_time, const uint8_t *new_csrf_secret)
{
    redis_store *st = from_base(base);
    char user[SESS_USER_MAX + 1], tkey[KEY_MAX], skey[KEY_MAX];
    char tval[SESS_ID_BYTES + SESS_USER_MAX];
    redisReply *rep;
    rs_args a;
    int r = id_user(st, id, user);
    if (r != 0)
        return r;
    size_t ulen = strlen(user), tlen = token_key(st, tkey, new_hash);
    memcpy(tval, id, SESS_ID_BYTES);
    memcpy(tval + SESS_ID_BYTES, user, ulen);
    if ((r = ptr_set(st, tkey, tlen, tval, SESS_ID_BYTES + ulen, RS_PTR_TTL_MAX_MS)) != 0)
        return r;
    sess__rs_args_init(&a);
    sess__rs_args_str(&a, user);
    sess__rs_args_bin(&a, id, SESS_ID_BYTES);
    sess__rs_args_bin(&a, new_hash, SESS_HASH_BYTES);
    sess__rs_args_i64(&a, prev_until);
    if (auth_time > 0)
        sess__rs_args_i64(&a, auth_time);
    else
        sess__rs_args_str(&a, "");
    sess__rs_args_bin(&a, new_csrf_secret != NULL ? (const void *)new_csrf_secret : "",
                      new_csrf_secret != NULL ? SESS_CSRF_SECRET_BYTES : 0);
    sess__rs_args_bin(&a, expected_hash != NULL ? (const void *)expected_hash : "",
                      expected_hash != NULL ? SESS_HASH_BYTES : 0);
    r = sess__rs_script(st, RS_ROTATE, skey, user_key(st, skey, 's', user, id, SESS_ID_BYTES), &a,
                        false, &rep);
    sess__rs_args_dispose(&a);
    if (r != 0 && r != SESS_ESTORE)
        ptr_del(st, tkey, tlen, tval, SESS_ID_BYTES);
    if (r != 0)
        return r;
    invalidate(st, 'i', id, SESS_ID_BYTES);
    unlink_tokens(st, elem(rep, 1, REDIS_REPLY_STRING));
    const redisReply *ttl = elem(rep, 2, REDIS_REPLY_INTEGER);
    if (ttl != NULL && ttl->integer > 0) {
        redisReply *x;
        sess__rs_args_init(&a);
        sess__rs_args_str(&a, "PEXPIRE");
        sess__rs_args_bin(&a, tkey, tlen);
        sess__rs_args_i64(&a, ttl->integer);
        if (sess__rs_command(st, &a, false, &x) == 0)
            freeReplyObject(x);
        sess__rs_args_dispose(&a);
    }
    freeReplyObject(rep);
    due_add(st, user, prev_until);
    return 0;
}

static int redis_set_roles(sess_store *base, const char *user, const char *roles)
{
    redis_store *st = from_base(base);
    char key[KEY_MAX];
    redisReply *rep;
    rs_args a;
    /* Roles the record cannot hold would make every later read of the session fail. */
    if (!user_ok(user) || roles == NULL || strnlen(roles, SESS_ROLES_MAX + 1) > SESS_ROLES_MAX)
        return SESS_EINVAL;
    sess__rs_args_init(&a);
    sess__rs_args_str(&a, user);
    sess__rs_args_str(&a, roles);
    int r = sess__rs_script(st, RS_SET_ROLES, key, user_key(st, key, 'z', user, "", 0), &a, false,
                            &rep);
    sess__rs_args_dispose(&a);
    if (r != 0)
        return r;
    const redisReply *changed = elem(rep, 1, REDIS_REPLY_STRING);
    if (changed != NULL)
        invalidate_ids(st, changed);
    freeReplyObject(rep);
    return 0;
}

static int redis_del(sess_store *base, const uint8_t id[SESS_ID_BYTES])
{
    redis_store *st = from_base(base);
    char user[SESS_USER_MAX + 1], key[KEY_MAX];
    redisReply *rep;
    rs_args a;
    int r = id_user(st, id, user);
    if (r != 0)
        return r;
    sess__rs_args_init(&a);
    sess__rs_args_str(&a, user);
    sess__rs_args_bin(&a, id, SESS_ID_BYTES);
    r = sess__rs_script(st, RS_DEL, key, user_key(st, key, 's', user, id, SESS_ID_BYTES), &a, false,
                        &rep);
    sess__rs_args_dispose(&a);
    if (r != 0)
        return r;
    invalidate(st, 'i', id, SESS_ID_BYTES);
    unlink_tokens(st, elem(rep, 1, REDIS_REPLY_STRING));
    unlink_ids(st, id, SESS_ID_BYTES);
    freeReplyObject(rep);
    return 0;
}

/* O(1): the generation moves (every read compares it), and the user is due for the sweep,
 * which removes the old sessions. */
static int redis_revoke_user(sess_store *base, const char *user, uint64_t *generation)
{
    redis_store *st = from_base(base);
    char key[KEY_MAX];
    redisReply *rep;
    rs_args a;
    if (!user_ok(user))
        return SESS_EINVAL;
    sess__rs_args_init(&a);
    sess__rs_args_str(&a, user);
    int r =
        sess__rs_script(st, RS_REVOKE, key, user_key(st, key, 'g', user, "", 0), &a, false, &rep);
    sess__rs_args_dispose(&a);
    if (r != 0)
        return r;
    invalidate(st, 'u', user, strlen(user));
    uint64_t g = 0;
    r = parse_gen(elem(rep, 1, REDIS_REPLY_STRING), &g);
    freeReplyObject(rep);
    if (r == 0 && generation != NULL)
        *generation = g;
    due_add(st, user, 0);
    return r;
}

static int redis_generation(sess_store *base, const char *user, uint64_t *generation)
{
    redis_store *st = from_base(base);
    char key[KEY_MAX];
    redisReply *rep;
    *generation = 0;
    if (!user_ok(user))
        return SESS_EINVAL;
    int r = get_one(st, key, user_key(st, key, 'g', user, "", 0), &rep);
    if (r != 0)
        return r;
    if (rep->type != REDIS_REPLY_NIL)
        r = parse_gen(rep, generation);
    freeReplyObject(rep);
    return r;
}

/* ---- listing, counting, sweeping -------------------------------------------------------- */

/* A user's session, for listing: id + user. */
typedef struct sess_ref {
    uint8_t id[SESS_ID_BYTES];
    char user[SESS_USER_MAX + 1];
} sess_ref;

typedef struct ref_list {
    sess_ref *v;
    size_t n, cap;
} ref_list;

static int refs_add(ref_list *l, const uint8_t *id, const char *user, size_t ulen)
{
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 64;
        sess_ref *p = realloc(l->v, nc * sizeof(*p));
        if (p == NULL)
            return SESS_ENOMEM;
        l->v = p;
        l->cap = nc;
    }
    memcpy(l->v[l->n].id, id, SESS_ID_BYTES);
    memcpy(l->v[l->n].user, user, ulen);
    l->v[l->n].user[ulen] = '\0';
    l->n++;
    return 0;
}

/* Calls `cb` for each reference that still names a session, fetching one at a time without
 * holding a connection during the callback. */
static int visit_refs(redis_store *st, const ref_list *l, sess_record_cb cb, void *arg)
{
    for (size_t i = 0; i < l->n; i++) {
        sess_record rec;
        uint64_t gen = 0;
        int r = get_in_slot(st, l->v[i].user, l->v[i].id, &rec, &gen);
        if (r == SESS_ESESSION)
            continue;
        if (r != 0)
            return r;
        int stop = cb(&rec, gen, arg);
        sess_record_dispose(&rec);
        if (stop != 0)
            break;
    }
    return 0;
}

static int redis_list_user(sess_store *base, const char *user, sess_record_cb cb, void *arg)
{
    redis_store *st = from_base(base);
    char key[KEY_MAX];
    ref_list l = {0};
    redisReply *rep;
    rs_args a;
    if (!user_ok(user))
        return SESS_EINVAL;
    sess__rs_args_init(&a);
    sess__rs_args_str(&a, "ZRANGE");
    sess__rs_args_bin(&a, key, user_key(st, key, 'z', user, "", 0));
    sess__rs_args_str(&a, "0");
    sess__rs_args_str(&a, "-1");
    int r = sess__rs_command(st, &a, true, &rep);
    sess__rs_args_dispose(&a);
    if (r != 0)
        return r;
    if (rep->type != REDIS_REPLY_ARRAY)
        r = SESS_ESTORE;
    for (size_t i = 0; r == 0 && i < rep->elements; i++) {
        const redisReply *e = rep->element[i];
        if (e->type == REDIS_REPLY_STRING && e->len == SESS_ID_BYTES)
            r = refs_add(&l, (const uint8_t *)e->str, user, strlen(user));
    }
    freeReplyObject(rep);
    if (r == 0)
        r = visit_refs(st, &l, cb, arg);
    free(l.v);
    return r;
}

static int ref_order(const void *a, const void *b)
{
    return memcmp(((const sess_ref *)a)->id, ((const sess_ref *)b)->id, SESS_ID_BYTES);
}

/* The SCAN pattern of session keys: the prefix with its glob characters escaped, "s{u:*". */
static void session_pattern(const redis_store *st, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < st->prefix_len && o + 2 < cap; i++) {
        if (strchr("*?[]\\", st->prefix[i]) != NULL)
            out[o++] = '\\';
        out[o++] = st->prefix[i];
    }
    snprintf(out + o, cap - o, "s{u:*");
}

/* Adds the sessions among one page of SCAN keys: P s{u:<user>}<id>. */
static int refs_from_keys(const redis_store *st, const redisReply *page, ref_list *l)
{
    size_t head = st->prefix_len + 4;
    for (size_t i = 0; i < page->elements; i++) {
        const redisReply *k = page->element[i];
        if (k->type != REDIS_REPLY_STRING || k->len < head + 2 + SESS_ID_BYTES ||
            k->str[k->len - SESS_ID_BYTES - 1] != '}' ||
            k->len - head - 1 - SESS_ID_BYTES > SESS_USER_MAX)
            continue;
        int r = refs_add(l, (const uint8_t *)k->str + k->len - SESS_ID_BYTES, k->str + head,
                         k->len - head - 1 - SESS_ID_BYTES);
        if (r != 0)
            return r;
    }
    return 0;
}

/* Every session of every master (SCAN on each), each once, in id order. */
static int all_refs(redis_store *st, ref_list *l)
{
    int masters[RS_NODES_MAX];
    char pattern[2 * RS_PREFIX_MAX + 8];
    int nm = sess__rs_masters(st, sess__rs_mono_ms() + st->timeout_ms, masters), r = 0;
    if (nm < 0)
        return SESS_ESTORE;
    session_pattern(st, pattern, sizeof(pattern));
    for (int m = 0; r == 0 && m < nm; m++) {
        char cursor[32] = "0";
        do {
            redisReply *rep;
            rs_args a;
            sess__rs_args_init(&a);
            sess__rs_args_str(&a, "SCAN");
            sess__rs_args_str(&a, cursor);
            sess__rs_args_str(&a, "MATCH");
            sess__rs_args_str(&a, pattern);
            sess__rs_args_str(&a, "COUNT");
            sess__rs_args_str(&a, "1000");
            sess__rs_args_str(&a, "TYPE");
            sess__rs_args_str(&a, "hash");
            r = sess__rs_command_node(st, masters[m], &a, &rep);
            sess__rs_args_dispose(&a);
            if (r != 0)
                break;
            const redisReply *c = elem(rep, 0, REDIS_REPLY_STRING),
                             *page = elem(rep, 1, REDIS_REPLY_ARRAY);
            if (c == NULL || page == NULL || c->len >= sizeof(cursor)) {
                r = SESS_ESTORE;
            } else {
                memcpy(cursor, c->str, c->len);
                cursor[c->len] = '\0';
                r = refs_from_keys(st, page, l);
            }
            freeReplyObject(rep);
        } while (r == 0 && strcmp(cursor, "0") != 0);
    }
    if (r == 0 && l->n > 1) { /* SCAN may repeat a key */
        qsort(l->v, l->n, sizeof(*l->v), ref_order);
        size_t w = 1;
        for (size_t i = 1; i < l->n; i++)
            if (ref_order(&l->v[i], &l->v[w - 1]) != 0)
                l->v[w++] = l->v[i];
        l->n = w;
    }
    return r;
}

static int redis_list_all(sess_store *base, sess_record_cb cb, void *arg)
{
    redis_store *st = from_base(base);
    ref_list l = {0};
    int r = all_refs(st, &l);
    if (r == 0)
        r = visit_refs(st, &l, cb, arg);
    free(l.v);
    return r;
}

/* Sessions held in Redis, expired or not yet swept ones included: a SCAN of every master. */
static int redis_count(sess_store *base, uint64_t *n)
{
    ref_list l = {0};
    int r = all_refs(from_base(base), &l);
    if (r == 0)
        *n = l.n;
    free(l.v);
    return r;
}

/* Visits one due user; the budget left shrinks by what was removed. */
static int sweep_user(redis_store *st, const char *user, const redisReply *score, int64_t now,
                      size_t *budget, size_t *removed)
{
    char key[KEY_MAX];
    redisReply *rep;
    rs_args a;
    sess__rs_args_init(&a);
    sess__rs_args_str(&a, user);
    sess__rs_args_i64(&a, now);
    sess__rs_args_i64(&a, (int64_t)*budget);
    int r =
        sess__rs_script(st, RS_SWEEP, key, user_key(st, key, 'z', user, "", 0), &a, false, &rep);
    sess__rs_args_dispose(&a);
    if (r != 0)
        return r;
    const redisReply *n = elem(rep, 1, REDIS_REPLY_INTEGER),
                     *changed = elem(rep, 2, REDIS_REPLY_STRING),
                     *gone = elem(rep, 4, REDIS_REPLY_STRING),
                     *next = elem(rep, 5, REDIS_REPLY_STRING);
    if (n != NULL && n->integer > 0) {
        *removed += (size_t)n->integer;
        *budget -= (size_t)n->integer < *budget ? (size_t)n->integer : *budget;
    }
    if (changed != NULL)
        invalidate_ids(st, changed);
    unlink_tokens(st, elem(rep, 3, REDIS_REPLY_STRING));
    if (gone != NULL)
        unlink_ids(st, gone->str, gone->len);
    redisReply *x;
    sess__rs_args_init(&a);
    sess__rs_args_str(&a, user);
    sess__rs_args_bin(&a, score->str, score->len);
    sess__rs_args_bin(&a, next != NULL ? next->str : "", next != NULL ? next->len : 0);
    r = sess__rs_script(st, RS_DUE_SET, key, make_key(st, key, "{due}", "", 0), &a, false, &x);
    sess__rs_args_dispose(&a);
    if (r == 0)
        freeReplyObject(x);
    freeReplyObject(rep);
    return r;
}

/* The users due by `now` (P{due}, earliest first), each visited in its own slot. */
static int redis_sweep(sess_store *base, int64_t now, size_t max_items, size_t *removed)
{
    redis_store *st = from_base(base);
    char key[KEY_MAX];
    size_t gone = 0, budget = max_items > INT32_MAX ? INT32_MAX : max_items;
    redisReply *rep;
    rs_args a;
    if (removed != NULL)
        *removed = 0;
    if (budget == 0)
        return 0;
    sess__rs_args_init(&a);
    sess__rs_args_str(&a, "ZRANGE");
    sess__rs_args_bin(&a, key, make_key(st, key, "{due}", "", 0));
    sess__rs_args_str(&a, "-inf");
    sess__rs_args_i64(&a, now);
    sess__rs_args_str(&a, "BYSCORE");
    sess__rs_args_str(&a, "LIMIT");
    sess__rs_args_str(&a, "0");
    sess__rs_args_i64(&a, (int64_t)budget);
    sess__rs_args_str(&a, "WITHSCORES");
    int r = sess__rs_command(st, &a, true, &rep);
    sess__rs_args_dispose(&a);
    if (r != 0)
        return r;
    if (rep->type != REDIS_REPLY_ARRAY)
        r = SESS_ESTORE;
    for (size_t i = 0; r == 0 && budget > 0 && i + 1 < rep->elements; i += 2) {
        const redisReply *u = rep->element[i], *sc = rep->element[i + 1];
        char user[SESS_USER_MAX + 1];
        if (u->type != REDIS_REPLY_STRING || sc->type != REDIS_REPLY_STRING || u->len == 0 ||
            u->len > SESS_USER_MAX || memchr(u->str, '\0', u->len) != NULL)
            continue;
        memcpy(user, u->str, u->len);
        user[u->len] = '\0';
        r = sweep_user(st, user, sc, now, &budget, &gone);
    }
    freeReplyObject(rep);
    if (removed != NULL)
        *removed = gone;
    return r;
}

/* Every master answers PING (one server: that one). */
static int redis_ping(sess_store *base)
{
    redis_store *st = from_base(base);
    int masters[RS_NODES_MAX];
    int nm = sess__rs_masters(st, sess__rs_mono_ms() + st->timeout_ms, masters), r = 0;
    if (nm < 0)
        return SESS_ESTORE;
    for (int m = 0; r == 0 && m < nm; m++) {
        redisReply *rep;
        rs_args a;
        sess__rs_args_init(&a);
        sess__rs_args_str(&a, "PING");
        r = sess__rs_command_node(st, masters[m], &a, &rep);
        sess__rs_args_dispose(&a);
        if (r == 0) {
            if (rep->type != REDIS_REPLY_STATUS || strcmp(rep->str, "PONG") != 0)
                r = SESS_ESTORE;
            freeReplyObject(rep);
        }
    }
    return r;
}

/* ---- preferences ---------------------------------------------------------------------- */

static int prefs_fetch(redis_store *st, const char *user, char **json, size_t *len)
{
    char key[KEY_MAX];
    redisReply *rep;
    rs_args a;
    sess__rs_args_init(&a);
    sess__rs_args_str(&a, "HGETALL");
    sess__rs_args_bin(&a, key, user_key(st, key, 'p', user, "", 0));
    int r = sess__rs_command(st, &a, true, &rep);
    sess__rs_args_dispose(&a);
    if (r != 0)
        return r;
    if (rep->type != REDIS_REPLY_ARRAY)
        r = SESS_ESTORE;
    else if (rep->elements == 0)
        r = SESS_ENOTFOUND;
    else
        r = sess__rs_object_from_hash(rep, json, len);
    freeReplyObject(rep);
    return r;
}

static int redis_prefs_get(sess_store *base, const char *user, char **json, size_t *len)
{
    redis_store *st = from_base(base);
    size_t n = 0;
    bool found;
    if (!user_ok(user))
        return SESS_EINVAL;
    if (st->cache != NULL && sess__rs_cache_get_prefs(st->cache, user, json, &n, &found)) {
        if (!found)
            return SESS_ENOTFOUND;
    } else {
        uint64_t seq = st->cache != NULL ? sess__rs_cache_seq(st->cache) : 0;
        int r = prefs_fetch(st, user, json, &n);
        if (r != 0 && r != SESS_ENOTFOUND)
            return r;
        if (st->cache != NULL)
            sess__rs_cache_put_prefs(st->cache, seq, user, r == 0 ? *json : NULL, n);
        if (r != 0)
            return r;
    }
    if (len != NULL)
        *len = n;
    return 0;
}

static int redis_prefs_put(sess_store *base, const char *user, const char *json, size_t len,
                           size_t max_bytes)
{
    redis_store *st = from_base(base);
    char key[KEY_MAX];
    rs_members ms;
    redisReply *rep;
    rs_args a;
    if (!user_ok(user))
        return SESS_EINVAL;
    int r = sess__rs_members_from_json(json, len, &ms);
    if (r != 0)
        return r;
    if (sess__rs_members_size(&ms) > max_bytes) {
        sess__rs_members_dispose(&ms);
        return SESS_ETOOLARGE;
    }
    sess__rs_args_init(&a);
    sess__rs_args_str(&a, user);
    sess__rs_args_members(&a, &ms);
    r = sess__rs_script(st, RS_PREFS_PUT, key, user_key(st, key, 'p', user, "", 0), &a, false,
                        &rep);
    sess__rs_args_dispose(&a);
    sess__rs_members_dispose(&ms);
    if (r != 0)
        return r;
    invalidate(st, 'p', user, strlen(user));
    freeReplyObject(rep);
    return 0;
}

static int redis_prefs_patch(sess_store *base, const char *user, const char *patch, size_t len,
                             size_t max_bytes, char **result, size_t *result_len)
{
    redis_store *st = from_base(base);
    patch_job j = {.kind = 'p', .user = user, .max = max_bytes};
    redisReply *rep;
    if (!user_ok(user))
        return SESS_EINVAL;
    j.key_len = user_key(st, j.key, 'p', user, "", 0);
    int r = run_patch(st, &j, patch, len, result != NULL, &rep);
    if (r != 0)
        return r;
    invalidate(st, 'p', user, strlen(user));
    const redisReply *h = elem(rep, 2, REDIS_REPLY_ARRAY);
    size_t n = 0;
    if (result != NULL)
        r = h != NULL ? sess__rs_object_from_hash(h, result, &n) : SESS_ESTORE;
    if (r == 0 && result_len != NULL)
        *result_len = n;
    freeReplyObject(rep);
    return r;
}

/* ---- API keys ------------------------------------------------------------------------- */

static int redis_apikey_put(sess_store *base, const char *name, const uint8_t hash[SESS_HASH_BYTES],
                            int64_t created)
{
    redis_store *st = from_base(base);
    size_t n = strnlen(name, SESS_APIKEY_NAME_MAX + 1);
    redisReply *rep;
    rs_args a;
    if (n == 0 || n > SESS_APIKEY_NAME_MAX)
        return SESS_EINVAL;
    sess__rs_args_init(&a);
    sess__rs_args_str(&a, name);
    sess__rs_args_bin(&a, hash, SESS_HASH_BYTES);
    sess__rs_args_i64(&a, created);
    char key[KEY_MAX];
    int r =
        sess__rs_script(st, RS_APIKEY_PUT, key, make_key(st, key, "{k}n", "", 0), &a, false, &rep);
    sess__rs_args_dispose(&a);
    if (r == 0)
        freeReplyObject(rep);
    return r;
}

static int redis_apikey_find(sess_store *base, const uint8_t hash[SESS_HASH_BYTES],
                             char name[SESS_APIKEY_NAME_MAX + 1])
{
    redis_store *st = from_base(base);
    char key[KEY_MAX];
    uint64_t seq = 0;
    redisReply *rep;
    rs_args a;
    if (st->cache != NULL) {
        if (sess__rs_cache_get_apikey(st->cache, hash, name))
            return 0;
        seq = sess__rs_cache_seq(st->cache);
    }
    sess__rs_args_init(&a);
    sess__rs_args_str(&a, "HGET");
    sess__rs_args_bin(&a, key, make_key(st, key, "{k}h", "", 0));
    sess__rs_args_bin(&a, hash, SESS_HASH_BYTES);
    int r = sess__rs_command(st, &a, true, &rep);
    sess__rs_args_dispose(&a);
    if (r != 0)
        return r;
    if (rep->type == REDIS_REPLY_NIL)
        r = SESS_ENOTFOUND;
    else if (rep->type != REDIS_REPLY_STRING || rep->len == 0 || rep->len > SESS_APIKEY_NAME_MAX ||
             memchr(rep->str, '\0', rep->len) != NULL)
        r = SESS_ECORRUPT;
    else {
        memcpy(name, rep->str, rep->len);
        name[rep->len] = '\0';
    }
    freeReplyObject(rep);
    if (r == 0 && st->cache != NULL)
        sess__rs_cache_put_apikey(st->cache, seq, hash, name);
    return r;
}

static int redis_apikey_del(sess_store *base, const char *name)
{
    redis_store *st = from_base(base);
    size_t n = strnlen(name, SESS_APIKEY_NAME_MAX + 1);
    redisReply *rep;
    rs_args a;
    if (n == 0 || n > SESS_APIKEY_NAME_MAX)
        return SESS_ENOTFOUND;
    sess__rs_args_init(&a);
    sess__rs_args_str(&a, name);
    char key[KEY_MAX];
    int r =
        sess__rs_script(st, RS_APIKEY_DEL, key, make_key(st, key, "{k}n", "", 0), &a, false, &rep);
    sess__rs_args_dispose(&a);
    if (r != 0)
        return r;
    const redisReply *h = elem(rep, 1, REDIS_REPLY_STRING);
    if (h != NULL && h->len == SESS_HASH_BYTES)
        invalidate(st, 'k', h->str, h->len);
    else if (st->cache != NULL)
        sess__rs_cache_apply(st->cache, "*", 1);
    freeReplyObject(rep);
    return 0;
}

typedef struct key_entry {
    char name[SESS_APIKEY_NAME_MAX + 1];
    int64_t created;
} key_entry;

static int key_order(const void *a, const void *b)
{
    return strcmp(((const key_entry *)a)->name, ((const key_entry *)b)->name);
}

/* Name -> hash (32 bytes) + created (decimal), from P ak. */
static int keys_from_reply(const redisReply *rep, key_entry **out, size_t *n)
{
    *n = 0;
    *out = calloc(rep->elements / 2 + 1, sizeof(**out));
    if (*out == NULL)
        return SESS_ENOMEM;
    for (size_t i = 0; i + 1 < rep->elements; i += 2) {
        const redisReply *k = rep->element[i], *v = rep->element[i + 1];
        char num[24];
        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING || k->len == 0 ||
            k->len > SESS_APIKEY_NAME_MAX || v->len <= SESS_HASH_BYTES ||
            v->len - SESS_HASH_BYTES >= sizeof(num))
            return SESS_ECORRUPT;
        key_entry *e = &(*out)[(*n)++];
        memcpy(e->name, k->str, k->len);
        memcpy(num, v->str + SESS_HASH_BYTES, v->len - SESS_HASH_BYTES);
        num[v->len - SESS_HASH_BYTES] = '\0';
        e->created = strtoll(num, NULL, 10);
    }
    qsort(*out, *n, sizeof(**out), key_order);
    return 0;
}

static int redis_apikey_list(sess_store *base, sess_apikey_cb cb, void *arg)
{
    redis_store *st = from_base(base);
    char key[KEY_MAX];
    key_entry *keys = NULL;
    size_t n = 0;
    redisReply *rep;
    rs_args a;
    sess__rs_args_init(&a);
    sess__rs_args_str(&a, "HGETALL");
    sess__rs_args_bin(&a, key, make_key(st, key, "{k}n", "", 0));
    int r = sess__rs_command(st, &a, true, &rep);
    sess__rs_args_dispose(&a);
    if (r != 0)
        return r;
    r = rep->type == REDIS_REPLY_ARRAY ? keys_from_reply(rep, &keys, &n) : SESS_ESTORE;
    freeReplyObject(rep);
    for (size_t i = 0; r == 0 && i < n; i++)
        if (cb(keys[i].name, keys[i].created, arg) != 0)
            break;
    free(keys);
    return r;
}

/* ---- user accounts ------------------------------------------------------------------------ */

static int redis_user_get(sess_store *base, const char *user, uint8_t *buf, size_t cap, size_t *len)
{
    redis_store *st = from_base(base);
    char key[KEY_MAX];
    redisReply *rep;
    if (!user_ok(user))
        return SESS_EINVAL;
    int r = get_one(st, key, user_key(st, key, 'a', user, "", 0), &rep);
    if (r != 0)
        return r;
    if (rep->type == REDIS_REPLY_NIL)
        r = SESS_ENOTFOUND;
    else if (rep->type != REDIS_REPLY_STRING)
        r = SESS_ESTORE;
    else if ((size_t)rep->len > cap)
        r = SESS_ETOOLARGE;
    else {
        memcpy(buf, rep->str, (size_t)rep->len);
        *len = (size_t)rep->len;
    }
    freeReplyObject(rep);
    return r;
}

/* One command on the accounts index P{acc}: ZADD (score 0) or ZREM of `user`. */
static int accounts_index(redis_store *st, const char *cmd, const char *user)
{
    char key[KEY_MAX];
    redisReply *rep;
    rs_args a;
    sess__rs_args_init(&a);
    sess__rs_args_str(&a, cmd);
    sess__rs_args_bin(&a, key, make_key(st, key, "{acc}", "", 0));
    if (strcmp(cmd, "ZADD") == 0)
        sess__rs_args_str(&a, "0");
    sess__rs_args_str(&a, user);
    int r = sess__rs_command(st, &a, false, &rep);
    sess__rs_args_dispose(&a);
    if (r == 0)
        freeReplyObject(rep);
    return r;
}

/* The name goes into P{acc} first, so that every account is listed; a name without an account
 * (the write refused, or not made) is skipped by the listing. */
static int redis_user_put(sess_store *base, const char *user, const uint8_t *rec, size_t len,
                          const uint8_t *prev, size_t prev_len)
{
    redis_store *st = from_base(base);
    char key[KEY_MAX];
    redisReply *rep;
    rs_args a;
    if (!user_ok(user) || len == 0 || len > SESS_ACCOUNT_MAX)
        return SESS_EINVAL;
    int r = accounts_index(st, "ZADD", user);
    if (r != 0)
        return r;
    sess__rs_args_init(&a);
    sess__rs_args_str(&a, user);
    sess__rs_args_bin(&a, rec, len);
    sess__rs_args_bin(&a, prev != NULL ? (const void *)prev : "", prev != NULL ? prev_len : 0);
    sess__rs_args_str(&a, prev != NULL ? "replace" : "create");
    r = sess__rs_script(st, RS_USER_PUT, key, user_key(st, key, 'a', user, "", 0), &a, false, &rep);
    sess__rs_args_dispose(&a);
    if (r == RS_CONFLICT)
        return SESS_ECONFLICT;
    if (r == 0)
        freeReplyObject(rep);
    return r;
}

/* The account first, then its name in P{acc}. */
static int redis_user_del(sess_store *base, const char *user)
{
    redis_store *st = from_base(base);
    char key[KEY_MAX];
    redisReply *rep;
    rs_args a;
    if (!user_ok(user))
        return SESS_EINVAL;
    sess__rs_args_init(&a);
    sess__rs_args_str(&a, "DEL");
    sess__rs_args_bin(&a, key, user_key(st, key, 'a', user, "", 0));
    int r = sess__rs_command(st, &a, false, &rep);
    sess__rs_args_dispose(&a);
    if (r != 0)
        return r;
    r = rep->type == REDIS_REPLY_INTEGER && rep->integer == 1 ? 0 : SESS_ENOTFOUND;
    freeReplyObject(rep);
    if (r == 0)
        r = accounts_index(st, "ZREM", user);
    return r;
}

/* Names in byte order (one sorted set, score 0), then each record; an account deleted between
 * the two reads is skipped. */
static int redis_user_list(sess_store *base, sess_account_cb cb, void *arg)
{
    redis_store *st = from_base(base);
    char key[KEY_MAX];
    redisReply *names;
    rs_args a;
    sess__rs_args_init(&a);
    sess__rs_args_str(&a, "ZRANGE");
    sess__rs_args_bin(&a, key, make_key(st, key, "{acc}", "", 0));
    sess__rs_args_str(&a, "0");
    sess__rs_args_str(&a, "-1");
    int r = sess__rs_command(st, &a, true, &names);
    sess__rs_args_dispose(&a);
    if (r != 0)
        return r;
    if (names->type != REDIS_REPLY_ARRAY) {
        freeReplyObject(names);
        return SESS_ESTORE;
    }
    uint8_t *buf = malloc(SESS_ACCOUNT_MAX);
    r = buf != NULL ? 0 : SESS_ENOMEM;
    for (size_t i = 0; r == 0 && i < names->elements; i++) {
        const redisReply *n = names->element[i];
        char user[SESS_USER_MAX + 1];
        size_t len = 0;
        if (n->type != REDIS_REPLY_STRING || n->len == 0 || (size_t)n->len > SESS_USER_MAX)
            continue;
        memcpy(user, n->str, (size_t)n->len);
        user[n->len] = '\0';
        int g = redis_user_get(base, user, buf, SESS_ACCOUNT_MAX, &len);
        if (g == SESS_ENOTFOUND)
            continue;
        if (g != 0)
            r = g;
        else if (cb(user, buf, len, arg) != 0)
            break;
    }
    free(buf);
    freeReplyObject(names);
    return r;
}

/* ---- opening and closing ---------------------------------------------------------------- */

static void redis_close(sess_store *base)
{
    redis_store *st = from_base(base);
    if (st == NULL)
        return;
    if (st->cache != NULL)
        sess__rs_cache_free(st->cache);
    sess__rs_pool_dispose(st);
    free(st->idmap);
    pthread_mutex_destroy(&st->mu);
    pthread_cond_destroy(&st->cv);
    sess_wipe(&st->target, sizeof(st->target));
    free(st);
}

/* Writes from other nodes are not seen without a round trip: the near cache (redis_cache.c) is
 * this backend's memo, so lookups are not memoised above it. */
static uint64_t redis_version(sess_store *st)
{
    (void)st;
    return 0;
}

static const sess_store_ops redis_ops = {
    .name = "redis",
    .close = redis_close,
    .ping = redis_ping,
    .create = redis_create,
    .lookup = redis_lookup,
    .get = redis_get,
    .touch_many = redis_touch_many,
    .patch = redis_patch,
    .rotate = redis_rotate,
    .set_roles = redis_set_roles,
    .user_get = redis_user_get,
    .user_put = redis_user_put,
    .user_del = redis_user_del,
    .user_list = redis_user_list,
    .generation = redis_generation,
    .version = redis_version,
    .del = redis_del,
    .revoke_user = redis_revoke_user,
    .list_user = redis_list_user,
    .list_all = redis_list_all,
    .count = redis_count,
    .sweep = redis_sweep,
    .prefs_get = redis_prefs_get,
    .prefs_put = redis_prefs_put,
    .prefs_patch = redis_prefs_patch,
    .apikey_put = redis_apikey_put,
    .apikey_find = redis_apikey_find,
    .apikey_del = redis_apikey_del,
    .apikey_list = redis_apikey_list,
};

static int fail(char *err, size_t errlen, int code, const char *why)
{
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, "%s", why);
    return code;
}

static int set_prefix(redis_store *st, const char *prefix, char *err, size_t errlen)
{
    const char *p = prefix != NULL ? prefix : RS_DEFAULT_PREFIX;
    size_t n = strlen(p);
    if (n > RS_PREFIX_MAX || strpbrk(p, "{}") != NULL)
        return fail(err, errlen, SESS_EINVAL,
                    "the Redis key prefix must be at most 64 bytes without '{' or '}'");
    memcpy(st->prefix, p, n + 1);
    st->prefix_len = n;
    snprintf(st->channel, sizeof(st->channel), "%sinv", p);
    return 0;
}

static bool given(const char *s)
{
    return s != NULL && s[0] != '\0';
}

/* Cluster seed nodes, with the URL only for credentials. */
static int set_cluster(rs_target *t, const sess_store_opts *opts, char *why, size_t n)
{
    int r = given(opts->redis_url) ? sess__rs_target_parse(opts->redis_url, t, why, n) : 0;
    if (!given(opts->redis_url))
        memset(t, 0, sizeof(*t));
    if (r == 0 && given(opts->redis_sentinels)) {
        snprintf(why, n, "redis_cluster and redis_sentinels exclude each other");
        return SESS_EINVAL;
    }
    if (r == 0 && (t->unix_path[0] != '\0' || t->db != 0)) {
        snprintf(why, n,
                 "with redis_cluster, redis_url gives credentials only: use redis:// without a "
                 "database (a Cluster has only database 0)");
        return SESS_EINVAL;
    }
    return r == 0 ? sess__rs_seeds_parse(opts->redis_cluster, t, why, n) : r;
}

/* The URL, or the Sentinels and the master, or the Cluster's seed nodes (with the URL only
 * for credentials). */
static int set_target(rs_target *t, const sess_store_opts *opts, char *why, size_t n)
{
    if (given(opts->redis_cluster))
        return set_cluster(t, opts, why, n);
    if (!given(opts->redis_sentinels))
        return sess__rs_target_parse(opts->redis_url, t, why, n);
    if (!given(opts->redis_master) || strlen(opts->redis_master) >= sizeof(t->master)) {
        snprintf(why, n, "Sentinel needs the master's name (at most 127 bytes)");
        return SESS_EINVAL;
    }
    int r = given(opts->redis_url) ? sess__rs_target_parse(opts->redis_url, t, why, n) : 0;
    if (!given(opts->redis_url))
        memset(t, 0, sizeof(*t));
    if (r == 0 && t->unix_path[0] != '\0') {
        snprintf(why, n,
                 "with Sentinel, redis_url gives credentials only: use redis://, not unix:");
        return SESS_EINVAL;
    }
    if (r == 0)
        r = sess__rs_sentinels_parse(opts->redis_sentinels, t, why, n);
    if (r == 0)
        snprintf(t->master, sizeof(t->master), "%s", opts->redis_master);
    return r;
}

static uint32_t or_default(uint32_t v, uint32_t def)
{
    return v != 0 ? v : def;
}

static int init_sync(redis_store *st)
{
    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca) != 0)
        return -1;
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int r = pthread_cond_init(&st->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (r != 0)
        return -1;
    if (pthread_mutex_init(&st->mu, NULL) != 0) {
        pthread_cond_destroy(&st->cv);
        return -1;
    }
    return 0;
}

int sess_store_redis_open(const sess_store_opts *opts, sess_store **out, char *err, size_t errlen)
{
    char why[256];
    *out = NULL;
    if (opts == NULL)
        return fail(err, errlen, SESS_EINVAL, "no options given");
    redis_store *st = calloc(1, sizeof(*st));
    if (st == NULL)
        return fail(err, errlen, SESS_ENOMEM, "out of memory");
    int r = set_target(&st->target, opts, why, sizeof(why));
    if (r == 0)
        r = set_prefix(st, opts->redis_prefix, why, sizeof(why));
    if (r != 0) {
        sess_wipe(&st->target, sizeof(st->target));
        free(st);
        return fail(err, errlen, r, why);
    }
    st->base.ops = &redis_ops;
    st->connect_timeout_ms = or_default(opts->redis_connect_timeout_ms, RS_CONNECT_TIMEOUT_MS);
    st->timeout_ms = or_default(opts->redis_timeout_ms, RS_TIMEOUT_MS);
    st->npool = or_default(opts->redis_pool, RS_POOL);
    st->log = opts->log;
    st->log_arg = opts->log_arg;
    if (init_sync(st) != 0) {
        sess_wipe(&st->target, sizeof(st->target));
        free(st);
        return fail(err, errlen, SESS_EINTERNAL, "cannot create the pool's lock");
    }
    st->idmap = calloc(RS_IDMAP_SIZE, sizeof(*st->idmap));
    if (st->idmap == NULL) {
        redis_close(&st->base);
        return fail(err, errlen, SESS_ENOMEM, "out of memory");
    }
    st->cluster = st->target.nseeds > 0;
    memset(st->slot_node, RS_NO_NODE, sizeof(st->slot_node));
    /* Standalone and Sentinel: node 0 is the server (sess__rs_connect finds it); a Cluster
     * learns its nodes from the slot map. */
    if (!st->cluster && sess__rs_node_find(st, "", 0) != 0) {
        redis_close(&st->base);
        return fail(err, errlen, SESS_ENOMEM, "out of memory");
    }
    if (opts->redis_cache &&
        sess__rs_cache_new(st, or_default(opts->redis_cache_entries, RS_CACHE_ENTRIES),
                           or_default(opts->redis_cache_ttl_ms, RS_CACHE_TTL_MS),
                           &st->cache) != 0) {
        redis_close(&st->base);
        return fail(err, errlen, SESS_ENOMEM, "cannot start the near cache");
    }
    *out = &st->base;
    return 0;
}

int sess_store_redis_cache_stats(sess_store *base, uint64_t *hits, uint64_t *misses)
{
    if (base == NULL || base->ops != &redis_ops || from_base(base)->cache == NULL)
        return SESS_EINVAL;
    sess__rs_cache_stats(from_base(base)->cache, hits, misses);
    return 0;
}
