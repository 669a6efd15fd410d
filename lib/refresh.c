/*
 * refresh.c - token families for API clients: login, refresh with theft detection (session.h).
 *
 * A family is one session. Its refresh secrets form a chain, s(n+1) = MAC(k_next, s(n)); from a
 * secret s derive the access token A(s) and the handle R(s) (MACs under two other derived keys).
 * After issuing the pair for s the session's current token hash is H(R(s)) and its previous one
 * H(A(s)) until issue time + access_ttl, where H is the keyed hash every token has at rest. Two
 * store rotations get there from the parent's state; each checks the hash it replaces, so of
 * parallel refreshes one does the rotations and the others find the child already installed
 * and hand out the same pair (they can compute it: it is determined by the secret they hold).
 *
 * A refresh token whose child was installed more than rotate_grace ago, or any ancestor up to
 * SESS_REFRESH_WALK steps back, is a reuse: someone holds a copy of a token the client has
 * replaced. The family is deleted (the client and the thief both have to log in again); the
 * user's other sessions are untouched. Every comparison of hashes is constant-time.
 */
#include <string.h>
#include <time.h>

#include "sessiond/error.h"
#include "sessiond/session.h"
#include "session_int.h"

typedef struct link {
    uint8_t s[SESS_TOKEN_BYTES]; /* the refresh secret */
    uint8_t a[SESS_TOKEN_BYTES]; /* the access token */
    uint8_t ha[SESS_HASH_BYTES]; /* H(access) */
    uint8_t hr[SESS_HASH_BYTES]; /* H(handle) */
} link;

static void derive(sess_ctx *ctx, const uint8_t s[SESS_TOKEN_BYTES], link *l)
{
    uint8_t r[SESS_TOKEN_BYTES];
    memmove(l->s, s, SESS_TOKEN_BYTES);
    sess_ctx_sign(ctx, "refresh-access", l->s, SESS_TOKEN_BYTES, l->a);
    sess_ctx_sign(ctx, "refresh-handle", l->s, SESS_TOKEN_BYTES, r);
    sess__token_hash(ctx, l->a, l->ha);
    sess__token_hash(ctx, r, l->hr);
    sess_wipe(r, sizeof(r));
}

static void step(sess_ctx *ctx, const link *from, link *to)
{
    uint8_t n[SESS_TOKEN_BYTES];
    sess_ctx_sign(ctx, "refresh-next", from->s, SESS_TOKEN_BYTES, n);
    derive(ctx, n, to);
    sess_wipe(n, sizeof(n));
}

static int64_t access_ttl(const sess_policy *pol)
{
    return pol->access_ttl > 0 ? pol->access_ttl : 900;
}

/* The second rotation: the access token becomes the previous token (until now + access_ttl) and
 * the handle the current one. SESS_ESESSION when another refresh finished it first. */
static int finish(sess_ctx *ctx, const uint8_t id[SESS_ID_BYTES], const link *l, int64_t now,
                  const sess_policy *pol)
{
    sess_store *st = sess_ctx_store(ctx);
    return st->ops->rotate(st, id, l->ha, l->hr, now + access_ttl(pol), 0, NULL);
}

/* The texts of the pair and the session after it. */
static int issue(sess_ctx *ctx, const uint8_t id[SESS_ID_BYTES], const link *l, int64_t now,
                 char access[SESS_TOKEN_STRLEN + 1], char refresh[SESS_REFRESH_STRLEN + 1],
                 sess_record *out)
{
    sess_token_encode(l->a, access);
    /* A verify with touch: a refresh is activity, so the family's idle deadline moves. */
    int r = sess_verify(ctx, access, SESS_TOKEN_STRLEN, now, true, out);
    if (r != 0) {
        sess_wipe(access, SESS_TOKEN_STRLEN + 1);
        return r;
    }
    sess_id_to_hex(id, refresh);
    refresh[SESS_ID_STRLEN] = '.';
    sess_token_encode(l->s, refresh + SESS_ID_STRLEN + 1);
    return 0;
}

int sess_api_login(sess_ctx *ctx, const sess_create_params *p, int64_t now,
                   char access[SESS_TOKEN_STRLEN + 1], char refresh[SESS_REFRESH_STRLEN + 1],
                   sess_record *out)
{
    sess_policy pol;
    sess_ctx_get_policy(ctx, &pol);
    char first[SESS_TOKEN_STRLEN + 1];
    sess_record rec;
    int r = sess_create(ctx, p, now, first, &rec);
    sess_wipe(first, sizeof(first));
    if (r != 0)
        return r;
    uint8_t s[SESS_TOKEN_BYTES];
    link l;
    sess_token_new(s);
    derive(ctx, s, &l);
    sess_wipe(s, sizeof(s));
    sess_store *st = sess_ctx_store(ctx);
    /* The created token is never given out: it is refused at once (prev_until = now). */
    r = st->ops->rotate(st, rec.id, rec.token_hash, l.ha, now, 0, NULL);
    if (r == 0)
        r = finish(ctx, rec.id, &l, now, &pol);
    if (r == 0)
        r = issue(ctx, rec.id, &l, now, access, refresh, out);
    if (r != 0 && sess_delete(ctx, rec.id) != 0) {
        /* Left behind: a session whose only token was refused from the start and was never
         * given out; its deadlines end it. */
    }
    sess_record_dispose(&rec);
    sess_wipe(&l, sizeof(l));
    return r;
}

/* Parses "ID.SECRET"; false when malformed. */
static bool parse(const char *t, size_t len, uint8_t id[SESS_ID_BYTES], uint8_t s[SESS_TOKEN_BYTES])
{
    return len == SESS_REFRESH_STRLEN && t[SESS_ID_STRLEN] == '.' &&
           sess_id_from_hex(t, SESS_ID_STRLEN, id) == 0 &&
           sess_token_decode(t + SESS_ID_STRLEN + 1, SESS_TOKEN_STRLEN, s) == 0;
}

/* True when a link of the chain after `l` (up to SESS_REFRESH_WALK steps) is the family's
 * current or previous one: `l` is an ancestor of what the family holds now. */
static bool ancestor(sess_ctx *ctx, const link *l, const sess_record *rec)
{
    link a = *l, b;
    bool found = false;
    for (int k = 0; k < SESS_REFRESH_WALK && !found; k++) {
        step(ctx, &a, &b);
        found = sess_ct_equal(rec->token_hash, b.hr, SESS_HASH_BYTES) ||
                sess_ct_equal(rec->token_hash, b.ha, SESS_HASH_BYTES) ||
                sess_ct_equal(rec->prev_hash, b.ha, SESS_HASH_BYTES);
        a = b;
    }
    sess_wipe(&a, sizeof(a));
    sess_wipe(&b, sizeof(b));
    return found;
}

/* The family holds `child` (the successor of the presented token): true when the presented
 * token may still refresh (the child is being installed, or was installed within grace), after
 * finishing a half-done installation. */
static bool child_in_grace(sess_ctx *ctx, const sess_record *rec, const link *child, int64_t now,
                           const sess_policy *pol)
{
    if (sess_ct_equal(rec->token_hash, child->ha, SESS_HASH_BYTES)) {
        /* Between the two rotations of another refresh: finish it (whoever is first wins). */
        int r = finish(ctx, rec->id, child, now, pol);
        /* SESS_EEXIST: the other refresh installed the handle's pointer first (redis). */
        return r == 0 || r == SESS_ESESSION || r == SESS_EEXIST;
    }
    if (!sess_ct_equal(rec->token_hash, child->hr, SESS_HASH_BYTES) ||
        !sess_ct_equal(rec->prev_hash, child->ha, SESS_HASH_BYTES))
        return false;
    int64_t installed = rec->prev_until - access_ttl(pol);
    return now < installed + pol->rotate_grace;
}

int sess_api_refresh(sess_ctx *ctx, const char *refresh, size_t len, int64_t now,
                     char access[SESS_TOKEN_STRLEN + 1], char new_refresh[SESS_REFRESH_STRLEN + 1],
                     sess_record *out)
{
    sess_policy pol;
    sess_ctx_get_policy(ctx, &pol);
    uint8_t id[SESS_ID_BYTES], s[SESS_TOKEN_BYTES];
    sess_record_init(out);
    if (refresh == NULL || !parse(refresh, len, id, s))
        return SESS_ESESSION;
    link cur, child;
    derive(ctx, s, &cur);
    sess_wipe(s, sizeof(s));
    step(ctx, &cur, &child);
    sess_store *st = sess_ctx_store(ctx);
    sess_record rec;
    bool won = false;
    int r = sess_get(ctx, id, now, &rec);
    if (r == 0 && sess_ct_equal(rec.token_hash, cur.hr, SESS_HASH_BYTES)) {
        r = st->ops->rotate(st, id, cur.hr, child.ha, now + pol.rotate_grace, 0, NULL);
        if (r == 0)
            r = finish(ctx, id, &child, now, &pol);
        won = r == 0;
        /* A store that installs the new token's pointer before it checks the expected hash
         * (redis, layout 2) reports the winner's pointer as SESS_EEXIST: the derivation is
         * deterministic, so only a parallel refresh of this token can have made it. */
        if (r == SESS_EEXIST)
            r = SESS_ESESSION;
        sess_record_dispose(&rec);
        if (r == 0 || r == SESS_ESESSION) /* lost a race: see what the winner installed */
            r = sess_get(ctx, id, now, &rec);
        /* On redis the winner's pointer can be seen before its rotation has run (SESS_EEXIST
         * above): the record still shows the presented token. Wait for the winner, bounded
         * (at most ~200 ms, only on this lost-race path). */
        for (int i = 0;
             !won && r == 0 && i < 100 && sess_ct_equal(rec.token_hash, cur.hr, SESS_HASH_BYTES);
             i++) {
            sess_record_dispose(&rec);
            nanosleep(&(struct timespec){0, 2000000}, NULL);
            r = sess_get(ctx, id, now, &rec);
        }
    }
    if (r == 0) {
        if (won || child_in_grace(ctx, &rec, &child, now, &pol)) {
            r = issue(ctx, id, &child, now, access, new_refresh, out);
        } else if (sess_ct_equal(rec.token_hash, child.hr, SESS_HASH_BYTES) ||
                   ancestor(ctx, &child, &rec)) {
            r = sess_delete(ctx, id);
            if (r == 0) {
                *out = rec;
                sess_record_init(&rec);
                r = SESS_EFORBIDDEN;
            }
        } else {
            r = SESS_ESESSION;
        }
        sess_record_dispose(&rec);
    }
    sess_wipe(&cur, sizeof(cur));
    sess_wipe(&child, sizeof(child));
    return r;
}
