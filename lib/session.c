/*
 * session.c - the rules of a session's life on top of the store interface.
 *
 * Stores keep data; this module decides what is live (generation, idle and absolute deadlines,
 * rotation grace), validates what goes in (user names, roles, data, preferences), and keeps the
 * touch queue: verify never writes, it queues "seen at" updates that sess_touch_flush writes in
 * one store call. The queue is a small open-addressing table keyed by session id, so a session
 * verified a thousand times between two flushes costs one write.
 */
#include "sessiond/session.h"
#include "sessiond/text.h"

#include "lookup_cache.h"

#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "sessiond/error.h"
#include "session_int.h"
#include "json_merge.h"

#define TOUCHQ_CAP 8192 /* pending touches; a full queue is flushed by the thread that fills it */

typedef struct touch_entry {
    uint8_t id[SESS_ID_BYTES];
    int64_t last_seen;
    int64_t idle_expires;
    bool used;
} touch_entry;

struct sess_ctx {
    sess_store *store;
    uint8_t key[SESS_KEY_BYTES];
    uint64_t lcache_owner; /* this context's name in the lookup memo (lookup_cache.h) */
    pthread_rwlock_t policy_lock;
    sess_policy policy;
    pthread_mutex_t touch_lock; /* guards touchq, inflight's contents and touch_n */
    pthread_mutex_t flush_lock; /* one flush at a time, so flushed batches stay in order */
    touch_entry *touchq;        /* touches waiting for the next flush */
    touch_entry *inflight;      /* touches a flush is writing now (empty between flushes) */
    size_t touch_n;
    /* The flusher's arguments to touch_many, allocated once. */
    uint8_t (*flush_ids)[SESS_ID_BYTES];
    int64_t *flush_seen;
    int64_t *flush_idle;
};

static void get_policy(sess_ctx *ctx, sess_policy *out)
{
    pthread_rwlock_rdlock(&ctx->policy_lock);
    *out = ctx->policy;
    pthread_rwlock_unlock(&ctx->policy_lock);
}

static void free_queues(sess_ctx *ctx)
{
    free(ctx->touchq);
    free(ctx->inflight);
    free(ctx->flush_ids);
    free(ctx->flush_seen);
    free(ctx->flush_idle);
}

void sess_policy_default(sess_policy *p)
{
    *p = (sess_policy){.idle_timeout = 30 * 60,
                       .absolute_timeout = 24 * 3600,
                       .remember_me = 30 * 86400,
                       .remember_idle = 7 * 86400,
                       .touch_interval = 18,
                       .rotate_grace = 30,
                       .access_ttl = 900,
                       .max_per_user = 50,
                       .max_data = 16 * 1024};
}

/* The idle deadline a remember-me session moves to when used at `now`: remember_idle on, never
 * past its absolute deadline; 0 (no remember_idle) is the absolute deadline itself. */
static int64_t remember_idle_deadline(const sess_policy *pol, const sess_record *rec, int64_t now)
{
    if (pol->remember_idle == 0 || now + pol->remember_idle > rec->abs_expires)
        return rec->abs_expires;
    return now + pol->remember_idle;
}

/* What no session could live under: a zeroed policy is the usual mistake. */
static bool policy_ok(const sess_policy *p)
{
    return p->idle_timeout > 0 && p->absolute_timeout > 0 && p->remember_me >= 0 &&
           p->remember_idle >= 0 && p->touch_interval >= 0 && p->rotate_grace >= 0 &&
           p->access_ttl >= 0 && p->max_per_user > 0;
}

int sess_ctx_new(sess_store *store, const uint8_t key[SESS_KEY_BYTES], const sess_policy *policy,
                 sess_ctx **out)
{
    if (!policy_ok(policy))
        return SESS_EINVAL;
    sess_ctx *ctx = calloc(1, sizeof(*ctx));
    if (ctx == NULL)
        return SESS_ENOMEM;
    ctx->touchq = calloc(TOUCHQ_CAP, sizeof(touch_entry));
    ctx->inflight = calloc(TOUCHQ_CAP, sizeof(touch_entry));
    ctx->flush_ids = calloc(TOUCHQ_CAP, SESS_ID_BYTES);
    ctx->flush_seen = calloc(TOUCHQ_CAP, sizeof(int64_t));
    ctx->flush_idle = calloc(TOUCHQ_CAP, sizeof(int64_t));
    if (!ctx->touchq || !ctx->inflight || !ctx->flush_ids || !ctx->flush_seen || !ctx->flush_idle) {
        free_queues(ctx);
        free(ctx);
        return SESS_ENOMEM;
    }
    ctx->store = store;
    memcpy(ctx->key, key, SESS_KEY_BYTES);
    ctx->lcache_owner = sess__lcache_owner();
    ctx->policy = *policy;
    pthread_rwlock_init(&ctx->policy_lock, NULL);
    pthread_mutex_init(&ctx->touch_lock, NULL);
    pthread_mutex_init(&ctx->flush_lock, NULL);
    *out = ctx;
    return 0;
}

void sess_ctx_free(sess_ctx *ctx)
{
    if (ctx == NULL)
        return;
    if (sess_touch_flush(ctx) != 0) {
        /* The store is failing at close: the queued last-seen times are lost, which only
         * shortens idle deadlines that were due to move. */
    }
    pthread_rwlock_destroy(&ctx->policy_lock);
    pthread_mutex_destroy(&ctx->touch_lock);
    pthread_mutex_destroy(&ctx->flush_lock);
    free_queues(ctx);
    sess_wipe(ctx->key, sizeof(ctx->key));
    free(ctx);
}

int sess_ctx_set_policy(sess_ctx *ctx, const sess_policy *policy)
{
    if (!policy_ok(policy))
        return SESS_EINVAL;
    pthread_rwlock_wrlock(&ctx->policy_lock);
    ctx->policy = *policy;
    pthread_rwlock_unlock(&ctx->policy_lock);
    return 0;
}

void sess_ctx_get_policy(sess_ctx *ctx, sess_policy *out)
{
    get_policy(ctx, out);
}

sess_store *sess_ctx_store(sess_ctx *ctx)
{
    return ctx->store;
}

/* ---- validation ---------------------------------------------------------------------- */

bool sess_printable_utf8(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        if (p[i] < 0x20 || p[i] == 0x7f)
            return false;
        size_t l = sess_utf8_char(p + i, n - i);
        if (l == 0)
            return false;
        i += l;
    }
    return true;
}

/* Whether `s` starts or ends with a space (printable_utf8 already refuses tabs and newlines):
 * ASCII or no-break (U+00A0). */
static bool edge_space(const char *s, size_t len)
{
    return s[0] == ' ' || s[len - 1] == ' ' || (len >= 2 && memcmp(s, "\xc2\xa0", 2) == 0) ||
           (len >= 2 && memcmp(s + len - 2, "\xc2\xa0", 2) == 0);
}

int sess_check_user(const char *user)
{
    if (user == NULL)
        return SESS_EINVAL;
    size_t len = strlen(user);
    if (len == 0 || len > SESS_USER_MAX || !sess_printable_utf8(user))
        return SESS_EINVAL;
    /* Separators that would break headers, lists or logs. */
    if (strpbrk(user, ",\"\\") != NULL)
        return SESS_EINVAL;
    /* " alice" and "alice " would be other accounts that look the same everywhere. */
    if (edge_space(user, len))
        return SESS_EINVAL;
    return 0;
}

static bool role_char(unsigned char c)
{
    return isalnum(c) || c == '_' || c == '-' || c == '.' || c == ':';
}

int sess_check_roles(const char *roles)
{
    if (roles == NULL || roles[0] == '\0')
        return 0;
    size_t len = strlen(roles), start = 0, count = 0;
    if (len > SESS_ROLES_MAX)
        return SESS_EINVAL;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || roles[i] == ',') {
            size_t n = i - start;
            if (n == 0 || n > SESS_ROLE_MAX || ++count > SESS_ROLES_COUNT)
                return SESS_EINVAL;
            start = i + 1;
        } else if (!role_char((unsigned char)roles[i])) {
            return SESS_EINVAL;
        }
    }
    return 0;
}

bool sess_is_live(const sess_record *rec, uint64_t user_generation, bool by_previous, int64_t now)
{
    if (rec->generation != user_generation || (rec->flags & SESS_REC_DENY))
        return false;
    if (now >= rec->idle_expires || now >= rec->abs_expires)
        return false;
    if (by_previous && now >= rec->prev_until)
        return false;
    return true;
}

/* ---- create ---------------------------------------------------------------------------- */

static int normalise_data(const char *data, size_t len, size_t max, char **out, size_t *out_len)
{
    if (data == NULL)
        return sess_json_merge(NULL, 0, "{}", 2, max, out, out_len);
    return sess_json_merge(NULL, 0, data, len, max, out, out_len);
}

/* Validates `p` and fills `out` as a new session at `now` (data, id, CSRF secret, deadlines);
 * the token is the caller's. Disposes `out` on failure. */
static int new_record(const sess_policy *pol, const sess_create_params *p, int64_t now,
                      sess_record *out)
{
    if (sess_check_user(p->user) != 0 || sess_check_roles(p->roles) != 0)
        return SESS_EINVAL;
    /* Shown by `session list` and "your devices": no terminal escapes, no forged lines. */
    if ((p->ip && !sess_printable_utf8(p->ip)) || (p->agent && !sess_printable_utf8(p->agent)))
        return SESS_EINVAL;
    if (p->roles != NULL && strlen(p->roles) > SESS_ROLES_MAX)
        return SESS_EINVAL;
    if (p->remember && pol->remember_me == 0) /* remember-me is turned off */
        return SESS_EINVAL;

    sess_record_init(out);
    char *data = NULL;
    size_t data_len = 0;
    int r = normalise_data(p->data, p->data_len, pol->max_data, &data, &data_len);
    if (r != 0)
        return r;
    out->data = data;
    out->data_len = data_len;
    sess_id_new(out->id);
    sess_random(out->csrf_secret, sizeof(out->csrf_secret));
    sess_copy_bounded(out->user, sizeof(out->user), p->user);
    sess_copy_bounded(out->roles, sizeof(out->roles), p->roles ? p->roles : "");
    sess_copy_bounded(out->ip, sizeof(out->ip), p->ip ? p->ip : "");
    sess_copy_bounded(out->agent, sizeof(out->agent), p->agent ? p->agent : "");
    out->created = now;
    out->last_seen = now;
    out->auth_time = p->auth_time > 0 ? p->auth_time : now;
    out->abs_expires = now + (p->remember ? pol->remember_me : pol->absolute_timeout);
    out->idle_expires = now + pol->idle_timeout;
    if (p->remember) {
        out->flags |= SESS_REC_REMEMBER;
        /* A remember-me session outlives browser restarts and idle gaps up to remember_idle
         * (none: up to its lifetime). */
        out->idle_expires = remember_idle_deadline(pol, out, now);
    }
    if (out->idle_expires > out->abs_expires)
        out->idle_expires = out->abs_expires;
    return 0;
}

int sess_new_stateless(sess_ctx *ctx, const sess_create_params *p, int64_t now, sess_record *out)
{
    sess_policy pol;
    get_policy(ctx, &pol);
    int r = new_record(&pol, p, now, out);
    if (r == 0 && (r = ctx->store->ops->generation(ctx->store, out->user, &out->generation)) != 0)
        sess_record_dispose(out);
    return r;
}

int sess_stateless_check(sess_ctx *ctx, const sess_record *rec)
{
    uint64_t gen = 0, ignored;
    int r = ctx->store->ops->generation(ctx->store, rec->user, &gen);
    if (r != 0)
        return r;
    if (gen != rec->generation)
        return SESS_ESESSION;
    sess_record deny;
    r = ctx->store->ops->get(ctx->store, rec->id, &deny, &ignored);
    if (r == SESS_ESESSION)
        return 0;
    if (r == 0)
        sess_record_dispose(&deny);
    return r == 0 ? SESS_ESESSION : r;
}

/* Writes the deny entry of session `id` until `until`. The entry is filed under a name of its
 * own ("," and the id: sess_check_user refuses ',' in every user name, so no account and no
 * created session can share it), not under the session's user: filed there, the user's next
 * sessions (bearer logins, /v1 creates) would count it towards max_per_user and evict it, and the
 * logged-out cookie would open again. On its own it is never evicted; the sweep removes it after
 * `until`. */
static int deny(sess_ctx *ctx, const uint8_t id[SESS_ID_BYTES], int64_t until, int64_t now)
{
    sess_policy pol;
    get_policy(ctx, &pol);
    sess_record d;
    sess_record_init(&d);
    memcpy(d.id, id, SESS_ID_BYTES);
    d.user[0] = ',';
    sess_id_to_hex(id, d.user + 1);
    sess_random(d.token_hash, sizeof(d.token_hash)); /* no token finds it */
    d.flags = SESS_REC_DENY;
    d.created = d.last_seen = d.auth_time = now;
    d.abs_expires = d.idle_expires = until > now ? until : now + 1;
    char empty[] = "{}";
    d.data = empty;
    d.data_len = 2;
    uint32_t evicted = 0;
    int r = ctx->store->ops->create(ctx->store, &d, pol.max_per_user, &evicted);
    return r == SESS_EEXIST ? 0 : r; /* EEXIST: ended already */
}

int sess_stateless_end(sess_ctx *ctx, const sess_record *rec, int64_t now)
{
    return deny(ctx, rec->id, rec->abs_expires, now);
}

int sess_stateless_end_id(sess_ctx *ctx, const uint8_t id[SESS_ID_BYTES], int64_t now)
{
    /* Without the cookie the deadline is not known: the longest a session can live. */
    sess_policy pol;
    get_policy(ctx, &pol);
    int64_t life = pol.remember_me > pol.absolute_timeout ? pol.remember_me : pol.absolute_timeout;
    return deny(ctx, id, now + life, now);
}

int sess_create(sess_ctx *ctx, const sess_create_params *p, int64_t now,
                char token[SESS_TOKEN_STRLEN + 1], sess_record *out)
{
    sess_policy pol;
    get_policy(ctx, &pol);
    int r = new_record(&pol, p, now, out);
    if (r != 0)
        return r;
    uint8_t tok[SESS_TOKEN_BYTES];
    sess_token_new(tok);
    sess_keyed_hash(ctx->key, tok, sizeof(tok), out->token_hash);

    uint32_t evicted = 0;
    r = ctx->store->ops->create(ctx->store, out, pol.max_per_user, &evicted);
    if (r != 0) {
        sess_wipe(tok, sizeof(tok));
        sess_record_dispose(out);
        return r;
    }
    /* The stored generation is the user's current one; read it back so `out` is exact. */
    uint64_t gen = 0;
    sess_record stored;
    sess_record_init(&stored);
    if (ctx->store->ops->get(ctx->store, out->id, &stored, &gen) == 0)
        out->generation = stored.generation;
    sess_record_dispose(&stored);
    sess_token_encode(tok, token);
    sess_wipe(tok, sizeof(tok));
    return 0;
}

/* ---- touch queue ----------------------------------------------------------------------- */

static size_t touch_slot(const uint8_t id[SESS_ID_BYTES])
{
    /* Ids are uniformly random, so their first bytes are a fine hash. */
    uint32_t h;
    memcpy(&h, id, sizeof(h));
    return h & (TOUCHQ_CAP - 1);
}

/* The slot of `id` in `table`: where it is, or the empty slot where it would go. */
static touch_entry *touch_find(touch_entry *table, const uint8_t id[SESS_ID_BYTES])
{
    size_t s = touch_slot(id);
    while (table[s].used && memcmp(table[s].id, id, SESS_ID_BYTES) != 0)
        s = (s + 1) & (TOUCHQ_CAP - 1);
    return &table[s];
}

/* Moves the queue to `inflight` (empty since the last flush ended) and starts a new one. The
 * moved entries stay visible to touch_pending until the flush has written them. */
static size_t touch_take(sess_ctx *ctx)
{
    pthread_mutex_lock(&ctx->touch_lock);
    touch_entry *t = ctx->touchq;
    ctx->touchq = ctx->inflight;
    ctx->inflight = t;
    size_t n = ctx->touch_n;
    ctx->touch_n = 0;
    pthread_mutex_unlock(&ctx->touch_lock);
    return n;
}

/* Ends a flush: on failure puts the entries back (unless newer ones arrived, or the queue is
 * near full), then empties `inflight`. */
static void touch_done(sess_ctx *ctx, bool failed)
{
    pthread_mutex_lock(&ctx->touch_lock);
    for (size_t i = 0; failed && i < TOUCHQ_CAP && ctx->touch_n < TOUCHQ_CAP * 3 / 4; i++) {
        if (!ctx->inflight[i].used)
            continue;
        touch_entry *e = touch_find(ctx->touchq, ctx->inflight[i].id);
        if (!e->used) {
            *e = ctx->inflight[i];
            ctx->touch_n++;
        }
    }
    memset(ctx->inflight, 0, TOUCHQ_CAP * sizeof(touch_entry));
    pthread_mutex_unlock(&ctx->touch_lock);
}

int sess_touch_flush(sess_ctx *ctx)
{
    pthread_mutex_lock(&ctx->flush_lock);
    int r = 0;
    size_t n = 0;
    if (touch_take(ctx) > 0) {
        for (size_t i = 0; i < TOUCHQ_CAP; i++) {
            if (!ctx->inflight[i].used)
                continue;
            memcpy(ctx->flush_ids[n], ctx->inflight[i].id, SESS_ID_BYTES);
            ctx->flush_seen[n] = ctx->inflight[i].last_seen;
            ctx->flush_idle[n] = ctx->inflight[i].idle_expires;
            n++;
        }
        r = ctx->store->ops->touch_many(ctx->store, n,
                                        (const uint8_t(*)[SESS_ID_BYTES])ctx->flush_ids,
                                        ctx->flush_seen, ctx->flush_idle);
        touch_done(ctx, r != 0);
    }
    pthread_mutex_unlock(&ctx->flush_lock);
    return r;
}

/* Queues a touch; returns true when the queue is past its high-water mark and the caller
 * should flush. */
static bool touch_queue(sess_ctx *ctx, const uint8_t id[SESS_ID_BYTES], int64_t seen, int64_t idle)
{
    bool full;
    pthread_mutex_lock(&ctx->touch_lock);
    touch_entry *e = touch_find(ctx->touchq, id);
    if (!e->used) {
        memcpy(e->id, id, SESS_ID_BYTES);
        e->used = true;
        ctx->touch_n++;
    }
    if (seen > e->last_seen)
        e->last_seen = seen;
    if (idle > e->idle_expires)
        e->idle_expires = idle;
    full = ctx->touch_n >= TOUCHQ_CAP * 3 / 4;
    pthread_mutex_unlock(&ctx->touch_lock);
    return full;
}

/* A touch already promised to a client but not yet written: the idle deadline it set holds at
 * once (read-your-writes), not only after the next flush. */
static bool touch_pending(sess_ctx *ctx, sess_record *rec)
{
    bool found = false;
    pthread_mutex_lock(&ctx->touch_lock);
    touch_entry *tables[2] = {ctx->touchq, ctx->inflight};
    for (int t = 0; t < 2; t++) {
        touch_entry *e = touch_find(tables[t], rec->id);
        if (e->used && e->idle_expires > rec->idle_expires) {
            rec->idle_expires = e->idle_expires;
            rec->last_seen = e->last_seen;
            found = true;
        }
    }
    pthread_mutex_unlock(&ctx->touch_lock);
    return found;
}

/* sess_is_live, counting a pending touch when the stored idle deadline has passed. Only that
 * rare case takes the queue's lock. */
static bool live_now(sess_ctx *ctx, sess_record *rec, uint64_t gen, bool by_previous, int64_t now)
{
    if (sess_is_live(rec, gen, by_previous, now))
        return true;
    return now >= rec->idle_expires && now < rec->abs_expires && touch_pending(ctx, rec) &&
           sess_is_live(rec, gen, by_previous, now);
}

/* ---- verify, get, patch, rotate, delete ------------------------------------------------ */

/* The store's version now, or 0 (nothing is memoised) for a store that cannot tell. */
static uint64_t store_version(const sess_ctx *ctx)
{
    return ctx->store->ops->version != NULL ? ctx->store->ops->version(ctx->store) : 0;
}

static int lookup_token(sess_ctx *ctx, const char *token, size_t len, int64_t now, sess_record *out,
                        bool *by_previous)
{
    uint8_t tok[SESS_TOKEN_BYTES], hash[SESS_HASH_BYTES];
    uint64_t gen = 0;
    *by_previous = false;
    /* Read before the lookup: a write that lands in between changes the version again, so an
     * answer is never memoised under a version older than what it saw. */
    uint64_t version = store_version(ctx);
    if (!sess__lcache_get(ctx->lcache_owner, version, token, len, out, &gen, by_previous)) {
        if (sess_token_decode(token, len, tok) != 0)
            return SESS_ESESSION;
        sess_keyed_hash(ctx->key, tok, sizeof(tok), hash);
        sess_wipe(tok, sizeof(tok));
        sess_record_init(out);
        int r = ctx->store->ops->lookup(ctx->store, hash, out, &gen, by_previous);
        if (r != 0)
            return r;
        sess__lcache_put(ctx->lcache_owner, version, token, len, out, gen, *by_previous);
    }
    if (!live_now(ctx, out, gen, *by_previous, now)) {
        sess_record_dispose(out);
        return SESS_ESESSION;
    }
    return 0;
}

int sess_verify(sess_ctx *ctx, const char *token, size_t len, int64_t now, bool touch,
                sess_record *out)
{
    bool by_previous;
    int r = lookup_token(ctx, token, len, now, out, &by_previous);
    if (r != 0 || !touch)
        return r;
    /* A full queue is flushed here; a failing store leaves the touches for the next flush. */
    if (sess_touch_due(ctx, out, now) && touch_queue(ctx, out->id, now, out->idle_expires) &&
        sess_touch_flush(ctx) != 0) {
    }
    return 0;
}

int sess_touch_id(sess_ctx *ctx, const uint8_t id[SESS_ID_BYTES], int64_t now)
{
    sess_record rec;
    int r = sess_get(ctx, id, now, &rec);
    if (r != 0)
        return r;
    if (sess_touch_due(ctx, &rec, now) && touch_queue(ctx, rec.id, now, rec.idle_expires) &&
        sess_touch_flush(ctx) != 0) {
        /* A failing store leaves the touches for the next flush. */
    }
    sess_record_dispose(&rec);
    return 0;
}

bool sess_touch_due(sess_ctx *ctx, sess_record *rec, int64_t now)
{
    sess_policy pol;
    get_policy(ctx, &pol);
    if (now - rec->last_seen < pol.touch_interval)
        return false;
    int64_t idle = now + pol.idle_timeout;
    if (rec->flags & SESS_REC_REMEMBER)
        idle = remember_idle_deadline(&pol, rec, now);
    if (idle > rec->abs_expires)
        idle = rec->abs_expires;
    if (idle < rec->idle_expires)
        idle = rec->idle_expires;
    rec->last_seen = now;
    rec->idle_expires = idle;
    return true;
}

int sess_get(sess_ctx *ctx, const uint8_t id[SESS_ID_BYTES], int64_t now, sess_record *out)
{
    uint64_t gen = 0;
    sess_record_init(out);
    int r = ctx->store->ops->get(ctx->store, id, out, &gen);
    if (r != 0)
        return r;
    if (!live_now(ctx, out, gen, false, now)) {
        sess_record_dispose(out);
        return SESS_ESESSION;
    }
    return 0;
}

int sess_patch(sess_ctx *ctx, const uint8_t id[SESS_ID_BYTES], const char *patch, size_t len,
               int64_t now, sess_record *out)
{
    sess_policy pol;
    get_policy(ctx, &pol);
    sess_record cur;
    int r = sess_get(ctx, id, now, &cur);
    if (r != 0)
        return r;
    sess_record_dispose(&cur);
    sess_record tmp;
    sess_record_init(&tmp);
    r = ctx->store->ops->patch(ctx->store, id, patch, len, pol.max_data, out ? out : &tmp);
    sess_record_dispose(&tmp);
    return r;
}

int sess_rotate(sess_ctx *ctx, const char *token, size_t len, int64_t now, bool reauth,
                char new_token[SESS_TOKEN_STRLEN + 1], sess_record *out)
{
    sess_policy pol;
    get_policy(ctx, &pol);
    bool by_previous;
    sess_record cur;
    int r = lookup_token(ctx, token, len, now, &cur, &by_previous);
    if (r != 0)
        return r;
    uint8_t id[SESS_ID_BYTES], expected[SESS_HASH_BYTES];
    memcpy(id, cur.id, sizeof(id));
    memcpy(expected, cur.token_hash, sizeof(expected));
    sess_record_dispose(&cur);
    /* A superseded token cannot start another rotation: two tabs racing would otherwise fork
     * the session into tokens that invalidate each other. It still verifies during its grace.
     * The store re-checks `expected` inside its transaction, which closes the race between
     * this lookup and the rotation. */
    if (by_previous)
        return SESS_ESESSION;

    uint8_t tok[SESS_TOKEN_BYTES], hash[SESS_HASH_BYTES], csrf[SESS_CSRF_SECRET_BYTES];
    sess_token_new(tok);
    sess_keyed_hash(ctx->key, tok, sizeof(tok), hash);
    if (reauth)
        sess_random(csrf, sizeof(csrf));
    /* A re-authentication keeps no grace (ASVS 7.2.4): the token it replaces may be the one an
     * attacker holds, and the client that proved the password has the new one. */
    r = ctx->store->ops->rotate(ctx->store, id, expected, hash,
                                reauth ? now : now + pol.rotate_grace, reauth ? now : 0,
                                reauth ? csrf : NULL);
    sess_wipe(csrf, sizeof(csrf));
    if (r == 0)
        r = sess_get(ctx, id, now, out);
    if (r == 0)
        sess_token_encode(tok, new_token);
    sess_wipe(tok, sizeof(tok));
    return r;
}

void sess__token_hash(sess_ctx *ctx, const uint8_t tok[SESS_TOKEN_BYTES],
                      uint8_t out[SESS_HASH_BYTES])
{
    sess_keyed_hash(ctx->key, tok, SESS_TOKEN_BYTES, out);
}

void sess_ctx_sign(sess_ctx *ctx, const char *purpose, const void *msg, size_t len,
                   uint8_t out[SESS_HASH_BYTES])
{
    /* Domain separation: the derived key never equals the one that hashes tokens, so no
     * signature can be replayed as a token hash or the other way round. */
    uint8_t sub[SESS_HASH_BYTES];
    sess_keyed_hash(ctx->key, purpose, strlen(purpose), sub);
    sess_keyed_hash(sub, msg, len, out);
    sess_wipe(sub, sizeof(sub));
}

int sess_delete(sess_ctx *ctx, const uint8_t id[SESS_ID_BYTES])
{
    int r = ctx->store->ops->del(ctx->store, id);
    return r == SESS_ESESSION ? 0 : r;
}

int sess_revoke_user(sess_ctx *ctx, const char *user)
{
    if (sess_check_user(user) != 0)
        return SESS_EINVAL;
    return ctx->store->ops->revoke_user(ctx->store, user, NULL);
}

typedef struct live_filter {
    int64_t now;
    sess_record_cb cb;
    void *arg;
} live_filter;

static int filter_live(const sess_record *rec, uint64_t gen, void *arg)
{
    live_filter *f = arg;
    if (!sess_is_live(rec, gen, false, f->now))
        return 0;
    return f->cb(rec, gen, f->arg);
}

int sess_list_user(sess_ctx *ctx, const char *user, int64_t now, sess_record_cb cb, void *arg)
{
    if (sess_check_user(user) != 0)
        return SESS_EINVAL;
    live_filter f = {now, cb, arg};
    return ctx->store->ops->list_user(ctx->store, user, filter_live, &f);
}

int sess_list_all(sess_ctx *ctx, int64_t now, sess_record_cb cb, void *arg)
{
    live_filter f = {now, cb, arg};
    return ctx->store->ops->list_all(ctx->store, filter_live, &f);
}

/* ---- preferences ----------------------------------------------------------------------- */

static bool pref_key_ok(const char *k)
{
    size_t n = strlen(k);
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)k[i];
        if (!(islower(c) || isdigit(c) || c == '_' || c == '-' || c == '.'))
            return false;
    }
    return true;
}

/* A BCP 47-shaped language tag: 2-8 letters, then "-" subtags of 1-8 letters or digits. */
static bool language_ok(const char *s)
{
    size_t n = strlen(s), seg = 0;
    bool first = true;
    if (n == 0 || n > 35)
        return false;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || s[i] == '-') {
            if (seg == 0 || seg > 8 || (first && seg < 2))
                return false;
            first = false;
            seg = 0;
        } else if (first ? isalpha((unsigned char)s[i]) : isalnum((unsigned char)s[i])) {
            seg++;
        } else {
            return false;
        }
    }
    return true;
}

static bool pref_value_ok(const char *key, json_t *v)
{
    if (json_is_null(v))
        return true; /* deletes the key in a merge patch */
    if (strcmp(key, "language") == 0)
        return json_is_string(v) && language_ok(json_string_value(v));
    if (strcmp(key, "theme") == 0) {
        const char *t = json_string_value(v);
        return t && (!strcmp(t, "light") || !strcmp(t, "dark") || !strcmp(t, "system"));
    }
    if (strcmp(key, "font_size") == 0) {
        if (json_is_integer(v))
            return json_integer_value(v) >= 8 && json_integer_value(v) <= 72;
        const char *t = json_string_value(v);
        return t && (!strcmp(t, "small") || !strcmp(t, "medium") || !strcmp(t, "large") ||
                     !strcmp(t, "x-large"));
    }
    if (json_is_string(v))
        return json_string_length(v) <= 256;
    return json_is_number(v) || json_is_boolean(v);
}

/* Checks a preferences object (a full document or a patch). */
static int prefs_validate(const char *json, size_t len, bool allow_null)
{
    json_error_t jerr;
    json_t *o = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    int r = 0;
    if (!json_is_object(o) || json_object_size(o) > SESS_PREFS_KEYS) {
        r = SESS_EINVAL;
        goto out;
    }
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v)
    {
        if (!pref_key_ok(k) || (!allow_null && json_is_null(v)) || !pref_value_ok(k, v)) {
            r = SESS_EINVAL;
            goto out;
        }
    }
out:
    json_decref(o);
    return r;
}

int sess_prefs_get(sess_ctx *ctx, const char *user, char **json, size_t *len)
{
    if (sess_check_user(user) != 0)
        return SESS_EINVAL;
    uint64_t version = store_version(ctx); /* before the read, as in lookup_token */
    if (sess__lcache_prefs_get(ctx->lcache_owner, version, user, json, len))
        return 0;
    int r = ctx->store->ops->prefs_get(ctx->store, user, json, len);
    if (r == SESS_ENOTFOUND) {
        *json = strdup("{}");
        *len = 2;
        r = *json ? 0 : SESS_ENOMEM;
    }
    if (r == 0)
        sess__lcache_prefs_put(ctx->lcache_owner, version, user, *json, *len);
    return r;
}

int sess_prefs_put(sess_ctx *ctx, const char *user, const char *json, size_t len, char **result,
                   size_t *result_len)
{
    if (sess_check_user(user) != 0 || prefs_validate(json, len, false) != 0)
        return SESS_EINVAL;
    char *norm = NULL;
    size_t norm_len = 0;
    int r = sess_json_merge(NULL, 0, json, len, SESS_PREFS_MAX, &norm, &norm_len);
    if (r != 0)
        return r;
    r = ctx->store->ops->prefs_put(ctx->store, user, norm, norm_len, SESS_PREFS_MAX);
    if (r == 0 && result != NULL) {
        *result = norm;
        *result_len = norm_len;
        return 0;
    }
    free(norm);
    return r;
}

int sess_prefs_patch(sess_ctx *ctx, const char *user, const char *patch, size_t len, char **result,
                     size_t *result_len)
{
    if (sess_check_user(user) != 0 || prefs_validate(patch, len, true) != 0)
        return SESS_EINVAL;
    /* Bound the number of keys: merge against the current document first. A concurrent patch
     * can slip past this check by at most its own keys; the byte bound in the store holds
     * regardless. */
    char *cur = NULL, *merged = NULL;
    size_t cur_len = 0, merged_len = 0;
    int r = sess_prefs_get(ctx, user, &cur, &cur_len);
    if (r == 0)
        r = sess_json_merge(cur, cur_len, patch, len, SESS_PREFS_MAX, &merged, &merged_len);
    if (r == 0 && prefs_validate(merged, merged_len, false) != 0)
        r = SESS_ELIMIT;
    free(cur);
    free(merged);
    if (r != 0)
        return r;
    char *res = NULL;
    size_t res_len = 0;
    r = ctx->store->ops->prefs_patch(ctx->store, user, patch, len, SESS_PREFS_MAX, &res, &res_len);
    if (r != 0)
        return r;
    if (result != NULL) {
        *result = res;
        *result_len = res_len;
    } else {
        free(res);
    }
    return 0;
}

/* ---- API keys -------------------------------------------------------------------------- */

static int apikey_name_ok(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > SESS_APIKEY_NAME_MAX)
        return SESS_EINVAL;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (!(isalnum(c) || c == '_' || c == '-' || c == '.'))
            return SESS_EINVAL;
    }
    return 0;
}

int sess_apikey_create(sess_ctx *ctx, const char *name, int64_t now,
                       char key[SESS_APIKEY_STRLEN + 1])
{
    if (apikey_name_ok(name) != 0)
        return SESS_EINVAL;
    uint8_t raw[SESS_TOKEN_BYTES], hash[SESS_HASH_BYTES];
    sess_token_new(raw);
    sess_keyed_hash(ctx->key, raw, sizeof(raw), hash);
    int r = ctx->store->ops->apikey_put(ctx->store, name, hash, now);
    if (r == 0) {
        memcpy(key, SESS_APIKEY_PREFIX, 3);
        sess_token_encode(raw, key + 3);
    }
    sess_wipe(raw, sizeof(raw));
    return r;
}

int sess_apikey_check(sess_ctx *ctx, const char *key, size_t len,
                      char name[SESS_APIKEY_NAME_MAX + 1])
{
    uint8_t raw[SESS_TOKEN_BYTES], hash[SESS_HASH_BYTES];
    if (len != SESS_APIKEY_STRLEN || memcmp(key, SESS_APIKEY_PREFIX, 3) != 0)
        return SESS_EUNAUTHORIZED;
    uint64_t version = store_version(ctx); /* before the lookup, as in lookup_token */
    if (sess__lcache_key_get(ctx->lcache_owner, version, key, len, name))
        return 0;
    if (sess_token_decode(key + 3, len - 3, raw) != 0)
        return SESS_EUNAUTHORIZED;
    /* The store is searched by the keyed hash, never by the key: a lookup's timing can only
     * tell an attacker about hashes they cannot compute without the server key. */
    sess_keyed_hash(ctx->key, raw, sizeof(raw), hash);
    sess_wipe(raw, sizeof(raw));
    int r = ctx->store->ops->apikey_find(ctx->store, hash, name);
    if (r == SESS_ENOTFOUND)
        return SESS_EUNAUTHORIZED;
    if (r == 0)
        sess__lcache_key_put(ctx->lcache_owner, version, key, len, name);
    return r;
}

int sess_apikey_revoke(sess_ctx *ctx, const char *name)
{
    if (apikey_name_ok(name) != 0)
        return SESS_EINVAL;
    return ctx->store->ops->apikey_del(ctx->store, name);
}
