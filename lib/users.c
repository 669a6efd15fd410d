/*
 * users.c - user accounts on top of the store's opaque account records.
 *
 * The record is this module's own binary encoding, versioned so it can grow:
 *
 *   version u8 (1) | flags u32 | created i64 | password_changed i64 |
 *   hash length u8 + argon2id string | roles length u16 + roles
 *
 * integers big-endian. Changes are read, modified and written back with the store's
 * compare-and-replace, retried on conflict, so two administrators changing one account at the
 * same time both win. Password hashing happens before the compare-and-replace loop, so a retry
 * never hashes again.
 */
#include "sessiond/users.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "codec.h"
#include "sessiond/crypto.h"
#include "sessiond/error.h"

#define ACCOUNT_VERSION 1u
#define CAS_ATTEMPTS 16
#define DEFAULT_OPS 2u                  /* libsodium's OPSLIMIT_INTERACTIVE */
#define DEFAULT_MEM ((size_t)64 << 20)  /* libsodium's MEMLIMIT_INTERACTIVE */
#define DUMMY_SLOTS 4                   /* costs remembered at once (a reload may change it) */
#define DUMMY_PASSWORD "sessiond-dummy" /* never a real password: no account holds its hash */
#define PAD_MEM_MIN 8192                /* libsodium's crypto_pwhash_MEMLIMIT_MIN */

/* The decoded record: the public view plus the hash. */
typedef struct account {
    sess_account pub;
    char hash[SESS_PWHASH_STRBYTES];
} account;

/* ---- where hashing runs ------------------------------------------------------------------- */

static sess_hasher hasher = {sess_pwhash, sess_pwhash_verify};

void sess_users_set_hasher(const sess_hasher *h)
{
    hasher = *h;
}

/* ---- encoding ---------------------------------------------------------------------------- */

/* Every account fits its record, so encode never comes back short. */
_Static_assert(1 + 4 + 8 + 8 + 1 + SESS_PWHASH_STRBYTES + 2 + SESS_ROLES_MAX <= SESS_ACCOUNT_MAX,
               "the largest account fits SESS_ACCOUNT_MAX");

static size_t encode(const account *a, uint8_t out[SESS_ACCOUNT_MAX])
{
    size_t hl = strnlen(a->hash, sizeof(a->hash) - 1), rl = strlen(a->pub.roles);
    sess_writer w = sess_writer_of(out, SESS_ACCOUNT_MAX, SESS_BIG_ENDIAN);
    sess_put_uint(&w, ACCOUNT_VERSION, 1);
    sess_put_uint(&w, a->pub.flags, 4);
    sess_put_uint(&w, (uint64_t)a->pub.created, 8);
    sess_put_uint(&w, (uint64_t)a->pub.password_changed, 8);
    sess_put_counted(&w, a->hash, hl, 1);
    sess_put_counted(&w, a->pub.roles, rl, 2);
    return sess_written(&w);
}

static int decode(const char *user, const uint8_t *rec, size_t len, account *a)
{
    sess_reader r = sess_reader_of(rec, len, SESS_BIG_ENDIAN);
    memset(a, 0, sizeof(*a));
    if (sess_take_uint(&r, 1) != ACCOUNT_VERSION)
        return SESS_ECORRUPT;
    a->pub.flags = (uint32_t)sess_take_uint(&r, 4);
    a->pub.created = (int64_t)sess_take_uint(&r, 8);
    a->pub.password_changed = (int64_t)sess_take_uint(&r, 8);
    sess_take_counted_str(&r, 1, a->hash, sizeof(a->hash));
    sess_take_counted_str(&r, 2, a->pub.roles, sizeof(a->pub.roles));
    if (!sess_read_all(&r)) {
        sess_wipe(a, sizeof(*a));
        return SESS_ECORRUPT;
    }
    sess_copy_bounded(a->pub.user, sizeof(a->pub.user), user);
    return 0;
}

/* ---- cost and the dummy hash ------------------------------------------------------------- */

static void cost_of(sess_ctx *ctx, uint64_t *ops, size_t *mem)
{
    sess_policy pol;
    sess_ctx_get_policy(ctx, &pol);
    *ops = pol.argon2_ops ? pol.argon2_ops : DEFAULT_OPS;
    *mem = pol.argon2_mem ? pol.argon2_mem : DEFAULT_MEM;
}

/* Dummy hashes by cost, process-wide: the cost, not the context, decides the timing. */
static struct {
    pthread_mutex_t mu;
    struct {
        uint64_t ops;
        size_t mem;
        char hash[SESS_PWHASH_STRBYTES];
    } slot[DUMMY_SLOTS];
    size_t n, next;
} dummies = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* Copies the dummy hash for (ops, mem) into `out`, computing it on first use. */
static int dummy_hash(uint64_t ops, size_t mem, char out[SESS_PWHASH_STRBYTES])
{
    int r = 0;
    pthread_mutex_lock(&dummies.mu);
    for (size_t i = 0; i < dummies.n; i++) {
        if (dummies.slot[i].ops == ops && dummies.slot[i].mem == mem) {
            memcpy(out, dummies.slot[i].hash, SESS_PWHASH_STRBYTES);
            pthread_mutex_unlock(&dummies.mu);
            return 0;
        }
    }
    pthread_mutex_unlock(&dummies.mu);
    /* Hashed outside the lock; two threads may both compute it once, which is harmless. */
    if (hasher.hash(DUMMY_PASSWORD, strlen(DUMMY_PASSWORD), ops, mem, out) != 0)
        return SESS_ENOMEM;
    pthread_mutex_lock(&dummies.mu);
    size_t i = dummies.n < DUMMY_SLOTS ? dummies.n++ : dummies.next++ % DUMMY_SLOTS;
    dummies.slot[i].ops = ops;
    dummies.slot[i].mem = mem;
    memcpy(dummies.slot[i].hash, out, SESS_PWHASH_STRBYTES);
    pthread_mutex_unlock(&dummies.mu);
    return r;
}

int sess_users_prepare(sess_ctx *ctx)
{
    uint64_t ops;
    size_t mem;
    char h[SESS_PWHASH_STRBYTES];
    cost_of(ctx, &ops, &mem);
    return dummy_hash(ops, mem, h);
}

/* ---- store access ------------------------------------------------------------------------ */

static int load(sess_ctx *ctx, const char *user, account *a, uint8_t *raw, size_t *raw_len)
{
    sess_store *st = sess_ctx_store(ctx);
    int r = st->ops->user_get(st, user, raw, SESS_ACCOUNT_MAX, raw_len);
    return r != 0 ? r : decode(user, raw, *raw_len, a);
}

/* A change applied to a decoded account; returns 0 or an error that stops the update. */
typedef int (*change_fn)(account *a, const void *arg);

/* Reads, changes and compare-and-replaces until no other writer got in between. */
static int update(sess_ctx *ctx, const char *user, change_fn change, const void *arg)
{
    sess_store *st = sess_ctx_store(ctx);
    uint8_t old[SESS_ACCOUNT_MAX], rec[SESS_ACCOUNT_MAX];
    size_t old_len = 0;
    account a;
    int r = SESS_ECONFLICT;
    if (sess_check_user(user) != 0)
        return SESS_EINVAL;
    for (int i = 0; i < CAS_ATTEMPTS && r == SESS_ECONFLICT; i++) {
        if ((r = load(ctx, user, &a, old, &old_len)) != 0 || (r = change(&a, arg)) != 0)
            break;
        size_t len = encode(&a, rec);
        r = st->ops->user_put(st, user, rec, len, old, old_len);
    }
    sess_wipe(&a, sizeof(a));
    sess_wipe(old, sizeof(old));
    sess_wipe(rec, sizeof(rec));
    return r;
}

/* The change is in the store; now every session of the user goes. */
static int update_and_revoke(sess_ctx *ctx, const char *user, change_fn change, const void *arg)
{
    int r = update(ctx, user, change, arg);
    return r != 0 ? r : sess_revoke_user(ctx, user);
}

/* ---- operations -------------------------------------------------------------------------- */

int sess_check_password(size_t len)
{
    return len >= SESS_PASSWORD_MIN && len <= SESS_PASSWORD_MAX ? 0 : SESS_EINVAL;
}

static int hash_password(sess_ctx *ctx, const char *password, size_t len,
                         char out[SESS_PWHASH_STRBYTES])
{
    uint64_t ops;
    size_t mem;
    if (sess_check_password(len) != 0)
        return SESS_EINVAL;
    cost_of(ctx, &ops, &mem);
    return hasher.hash(password, len, ops, mem, out) == 0 ? 0 : SESS_ENOMEM;
}

int sess_user_add(sess_ctx *ctx, const char *user, const char *password, size_t len,
                  const char *roles, int64_t now)
{
    account a;
    uint8_t rec[SESS_ACCOUNT_MAX];
    if (sess_check_user(user) != 0 || sess_check_roles(roles) != 0)
        return SESS_EINVAL;
    memset(&a, 0, sizeof(a));
    int r = hash_password(ctx, password, len, a.hash);
    if (r == 0) {
        sess_copy_bounded(a.pub.roles, sizeof(a.pub.roles), roles ? roles : "");
        a.pub.created = a.pub.password_changed = now;
        sess_store *st = sess_ctx_store(ctx);
        r = st->ops->user_put(st, user, rec, encode(&a, rec), NULL, 0);
    }
    sess_wipe(&a, sizeof(a));
    sess_wipe(rec, sizeof(rec));
    return r;
}

/* After a successful login: a hash made at another cost than the configured one is replaced,
 * so that every account converges to the cost unknown users are checked at (equal timing) and
 * to a raised cost. One compare-and-replace attempt; a concurrent change wins. */
static void rehash(sess_ctx *ctx, const char *user, const uint8_t *raw, size_t raw_len,
                   const account *a, const char *password, size_t len)
{
    uint64_t ops;
    size_t mem;
    account b = *a;
    uint8_t rec[SESS_ACCOUNT_MAX];
    cost_of(ctx, &ops, &mem);
    if (!sess_pwhash_needs_rehash(a->hash, ops, mem) ||
        hasher.hash(password, len, ops, mem, b.hash) != 0)
        return;
    sess_store *st = sess_ctx_store(ctx);
    (void)st->ops->user_put(st, user, rec, encode(&b, rec), raw, raw_len);
    sess_wipe(&b, sizeof(b));
    sess_wipe(rec, sizeof(rec));
}

/* The cost an argon2id string was made at ($argon2id$v=19$m=KIB,t=OPS,p=1$...). */
static bool cost_in(const char *hash, uint64_t *ops, uint64_t *kib)
{
    unsigned long long m, t;
    if (sscanf(hash, "$argon2id$v=%*u$m=%llu,t=%llu,", &m, &t) != 2)
        return false;
    *ops = t;
    *kib = m;
    return true;
}

/* A failed login of a known account whose hash was made at a lower cost than the configured one
 * (added before the cost was raised, or with another configuration) must take as long as one of
 * an unknown user, checked at the configured cost: the missing work (argon2id's time goes with
 * passes x memory) is done as throwaway hashing, in passes at the configured memory and one pass
 * over the rest. A hash at a higher cost cannot be made cheaper; it converges to the configured
 * cost at the account's next login (rehash), and `user add` warns about mixed costs. */
static void pad_to_cost(const char *hash, uint64_t ops, size_t mem)
{
    uint64_t h_ops, h_kib, kib = mem / 1024;
    char scratch[SESS_PWHASH_STRBYTES];
    if (!cost_in(hash, &h_ops, &h_kib) || h_ops * h_kib >= ops * kib)
        return;
    uint64_t missing = ops * kib - h_ops * h_kib;
    uint64_t passes = missing / kib, rest = missing % kib;
    if (passes > 0)
        (void)hasher.hash(DUMMY_PASSWORD, strlen(DUMMY_PASSWORD), passes, mem, scratch);
    if (rest * 1024 >= PAD_MEM_MIN)
        (void)hasher.hash(DUMMY_PASSWORD, strlen(DUMMY_PASSWORD), 1, (size_t)rest * 1024, scratch);
}

int sess_user_login(sess_ctx *ctx, const char *user, const char *password, size_t len,
                    sess_account *out)
{
    uint8_t raw[SESS_ACCOUNT_MAX];
    size_t raw_len = 0;
    account a;
    uint64_t ops;
    size_t mem;
    int r = SESS_ENOTFOUND;
    cost_of(ctx, &ops, &mem);
    if (sess_check_user(user) == 0 && len <= SESS_PASSWORD_MAX)
        r = load(ctx, user, &a, raw, &raw_len);
    if (r != 0 && r != SESS_ENOTFOUND && r != SESS_ECORRUPT)
        return r; /* the store failed: say so rather than "wrong password" */
    bool known = r == 0;
    if (!known && dummy_hash(ops, mem, a.hash) != 0)
        return SESS_ENOMEM;
    /* Exactly one argon2id verification whatever the case; an over-long password is checked as
     * an empty one, which no account has (SESS_PASSWORD_MIN), so it costs the same and never
     * matches. */
    bool match = hasher.verify(a.hash, password, len <= SESS_PASSWORD_MAX ? len : 0) == 0;
    bool ok = known && match && (a.pub.flags & SESS_ACCOUNT_DISABLED) == 0;
    if (ok)
        rehash(ctx, user, raw, raw_len, &a, password, len);
    else if (known)
        pad_to_cost(a.hash, ops, mem);
    if (ok && out != NULL)
        *out = a.pub;
    sess_wipe(&a, sizeof(a));
    sess_wipe(raw, sizeof(raw));
    return ok ? 0 : SESS_EUNAUTHORIZED;
}

struct new_hash {
    const char *hash;
    int64_t now;
};

static int set_hash(account *a, const void *arg)
{
    const struct new_hash *h = arg;
    memcpy(a->hash, h->hash, SESS_PWHASH_STRBYTES);
    a->pub.password_changed = h->now;
    return 0;
}

int sess_user_passwd(sess_ctx *ctx, const char *user, const char *password, size_t len, int64_t now)
{
    char hash[SESS_PWHASH_STRBYTES];
    account probe;
    uint8_t raw[SESS_ACCOUNT_MAX];
    size_t raw_len;
    if (sess_check_user(user) != 0 || sess_check_password(len) != 0)
        return SESS_EINVAL;
    /* Absent users are refused before paying for a hash. */
    int r = load(ctx, user, &probe, raw, &raw_len);
    sess_wipe(&probe, sizeof(probe));
    if (r == 0)
        r = hash_password(ctx, password, len, hash);
    if (r == 0) {
        struct new_hash h = {hash, now};
        r = update_and_revoke(ctx, user, set_hash, &h);
    }
    sess_wipe(hash, sizeof(hash));
    return r;
}

static int set_roles(account *a, const void *arg)
{
    sess_copy_bounded(a->pub.roles, sizeof(a->pub.roles), arg);
    return 0;
}

int sess_user_set_roles(sess_ctx *ctx, const char *user, const char *roles)
{
    if (roles == NULL)
        roles = "";
    if (sess_check_roles(roles) != 0)
        return SESS_EINVAL;
    /* Not a revoke: the user's sessions carry the new roles from their next request on, and
     * the server gives each a new token then (SESS_REC_ROLES_CHANGED). */
    int r = update(ctx, user, set_roles, roles);
    sess_store *st = sess_ctx_store(ctx);
    return r != 0 ? r : st->ops->set_roles(st, user, roles);
}

int sess_user_set_roles_and_revoke(sess_ctx *ctx, const char *user, const char *roles)
{
    if (roles == NULL)
        roles = "";
    if (sess_check_roles(roles) != 0)
        return SESS_EINVAL;
    return update_and_revoke(ctx, user, set_roles, roles);
}

int sess_user_recheck_roles(sess_ctx *ctx, const sess_account *seen)
{
    sess_account now;
    int r = sess_user_get(ctx, seen->user, &now);
    if (r != 0 || strcmp(now.roles, seen->roles) == 0)
        return r;
    sess_store *st = sess_ctx_store(ctx);
    return st->ops->set_roles(st, now.user, now.roles);
}

static int set_disabled(account *a, const void *arg)
{
    if (*(const bool *)arg)
        a->pub.flags |= SESS_ACCOUNT_DISABLED;
    else
        a->pub.flags &= ~SESS_ACCOUNT_DISABLED;
    return 0;
}

int sess_user_set_disabled(sess_ctx *ctx, const char *user, bool disabled)
{
    return update_and_revoke(ctx, user, set_disabled, &disabled);
}

int sess_user_delete(sess_ctx *ctx, const char *user)
{
    sess_store *st = sess_ctx_store(ctx);
    if (sess_check_user(user) != 0)
        return SESS_EINVAL;
    int r = st->ops->user_del(st, user);
    return r != 0 ? r : sess_revoke_user(ctx, user);
}

int sess_user_get(sess_ctx *ctx, const char *user, sess_account *out)
{
    uint8_t raw[SESS_ACCOUNT_MAX];
    size_t raw_len;
    account a;
    if (sess_check_user(user) != 0)
        return SESS_EINVAL;
    int r = load(ctx, user, &a, raw, &raw_len);
    if (r == 0)
        *out = a.pub;
    sess_wipe(&a, sizeof(a));
    sess_wipe(raw, sizeof(raw));
    return r;
}

struct list_state {
    sess_user_cb cb;
    void *arg;
    int corrupt;
};

static int list_one(const char *user, const uint8_t *rec, size_t len, void *arg)
{
    struct list_state *ls = arg;
    account a;
    if (decode(user, rec, len, &a) != 0) {
        ls->corrupt = SESS_ECORRUPT;
        return 0;
    }
    int stop = ls->cb(&a.pub, ls->arg);
    sess_wipe(&a, sizeof(a));
    return stop;
}

int sess_user_list(sess_ctx *ctx, sess_user_cb cb, void *arg)
{
    sess_store *st = sess_ctx_store(ctx);
    struct list_state ls = {cb, arg, 0};
    int r = st->ops->user_list(st, list_one, &ls);
    return r != 0 ? r : ls.corrupt;
}

struct cost_state {
    uint64_t ops;
    size_t mem;
    size_t other;
};

static int count_other_cost(const char *user, const uint8_t *rec, size_t len, void *arg)
{
    struct cost_state *cs = arg;
    account a;
    if (decode(user, rec, len, &a) == 0 && sess_pwhash_needs_rehash(a.hash, cs->ops, cs->mem))
        cs->other++;
    sess_wipe(&a, sizeof(a));
    return 0;
}

int sess_users_other_cost(sess_ctx *ctx, size_t *n)
{
    struct cost_state cs = {0, 0, 0};
    sess_store *st = sess_ctx_store(ctx);
    cost_of(ctx, &cs.ops, &cs.mem);
    int r = st->ops->user_list(st, count_other_cost, &cs);
    *n = cs.other;
    return r;
}
