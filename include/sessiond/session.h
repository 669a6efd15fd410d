/*
 * session.h - the session life cycle on top of a store: create, verify, touch, patch, rotate,
 * delete, revoke-all, preferences and service API keys.
 *
 * This is where the rules live; stores only keep data. A session is live at time `now` when its
 * user's generation has not moved since it was created, now < idle_expires, now < abs_expires,
 * and, when it was found by its previous token, now < prev_until. Nothing here reads a clock:
 * every call takes `now` (unix seconds), so expiry is tested without sleeping. Nothing here
 * prints or exits.
 */
#ifndef SESSIOND_SESSION_H
#define SESSIOND_SESSION_H

#include "sessiond/export.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sessiond/crypto.h"
#include "sessiond/record.h"
#include "sessiond/store.h"

#define SESS_ROLE_MAX 64    /* bytes of one role name */
#define SESS_ROLES_COUNT 32 /* roles per session */
#define SESS_PREFS_MAX 4096 /* bytes of one user's preferences (compact JSON) */
#define SESS_PREFS_KEYS 32  /* keys in one user's preferences */

/* The timing rules, from [session] of the configuration. All durations in seconds. */
typedef struct sess_policy {
    int64_t idle_timeout;
    int64_t absolute_timeout;
    int64_t remember_me;    /* absolute lifetime of a remember-me session; 0: remember-me off */
    int64_t touch_interval; /* a verify writes last-seen at most this often per session */
    int64_t rotate_grace;   /* the previous token keeps working this long after a rotation */
    int64_t access_ttl;     /* life of an API access token (sess_api_login); 0: 900 s */
    uint32_t max_per_user;
    size_t max_data;       /* bytes of a session's data (compact JSON) */
    uint64_t argon2_ops;   /* cost of new password hashes ([login]); 0: libsodium's interactive */
    size_t argon2_mem;     /* bytes; 0: libsodium's interactive (64 MiB) */
    int64_t remember_idle; /* inactivity timeout of a remember-me session; 0: none (it lives to
                              its absolute deadline however long it is left unused) */
} sess_policy;

typedef struct sess_ctx sess_ctx;

/* The contract's defaults (docs/configuration.md): idle 30 minutes, absolute 24 hours,
 * remember-me 30 days with an inactivity timeout of 7 days, touches at most every 18 s (1% of
 * idle), a rotation grace of 30 s, API access tokens of 15 minutes, 50 sessions per user, 16 KiB of
 * data per session, and libsodium's interactive argon2id cost. Start from these and change what
 * differs. */
SESS_EXPORT void sess_policy_default(sess_policy *p);

/* Creates a context over `store` (not owned: the caller closes it after sess_ctx_free) with
 * the server key (copied) and policy. 0; SESS_EINVAL for a policy that could not serve a
 * session (an idle or absolute timeout or sessions per user of 0, as a zeroed policy has: see
 * sess_policy_default; a negative duration); or SESS_ENOMEM. A max_data of 0 allows no data. */
SESS_EXPORT int sess_ctx_new(sess_store *store, const uint8_t key[SESS_KEY_BYTES],
                             const sess_policy *policy, sess_ctx **out) SESS_WUR;
/* Flushes pending touches, then frees the context (not the store). */
SESS_EXPORT void sess_ctx_free(sess_ctx *ctx);
/* Replaces the policy (SIGHUP reload); safe while other threads use the context. SESS_EINVAL
 * (and the old policy kept) for one sess_ctx_new would refuse. */
SESS_EXPORT int sess_ctx_set_policy(sess_ctx *ctx, const sess_policy *policy) SESS_WUR;
SESS_EXPORT void sess_ctx_get_policy(sess_ctx *ctx, sess_policy *out);
SESS_EXPORT sess_store *sess_ctx_store(sess_ctx *ctx);

typedef struct sess_create_params {
    const char *user;  /* required: 1..SESS_USER_MAX bytes, no control characters */
    const char *roles; /* comma list, may be NULL */
    const char *data;  /* JSON object text, may be NULL */
    size_t data_len;
    bool remember;     /* remember-me: absolute lifetime remember_me instead of absolute_timeout
                          (SESS_EINVAL when the policy's remember_me is 0: turned off) */
    const char *ip;    /* may be NULL; truncated to SESS_IP_MAX */
    const char *agent; /* may be NULL; truncated to SESS_AGENT_MAX */
    int64_t auth_time; /* when the user last entered a password; 0 = now */
} sess_create_params;

/* Creates a session. On success writes the new token's text into `token` and the stored record
 * into `out` (dispose it). SESS_EINVAL for a bad user, role list or data (not an object),
 * SESS_ETOOLARGE for data over max_data, store errors as they come. */
SESS_EXPORT int sess_create(sess_ctx *ctx, const sess_create_params *p, int64_t now,
                            char token[SESS_TOKEN_STRLEN + 1], sess_record *out) SESS_WUR;

/* Checks a token (its text as sent by the client, `len` bytes). SESS_ESESSION when malformed,
 * unknown, expired, revoked, or a previous token past its grace. On success fills `out`. When
 * `touch` is set and the last touch is older than touch_interval, queues a touch (written by
 * sess_touch_flush, never here) and reports the extended idle deadline in `out`. */
SESS_EXPORT int sess_verify(sess_ctx *ctx, const char *token, size_t len, int64_t now, bool touch,
                            sess_record *out) SESS_WUR;

/* The touch of sess_verify for a session known by id (what the nginx module reports for the
 * sessions it let through, docs/nginx-module.md): queued when the session is live and its last
 * touch is older than touch_interval. 0, SESS_ESESSION when absent or no longer live (a touch
 * never brings a session back), or the store's error. */
SESS_EXPORT int sess_touch_id(sess_ctx *ctx, const uint8_t id[SESS_ID_BYTES], int64_t now) SESS_WUR;

/* When `rec`'s last touch is older than touch_interval: moves its last_seen to `now` and its idle
 * deadline on (never past the absolute one) and returns true. Writes nothing (sess_verify queues
 * the write; the cookie store re-seals the cookie). */
SESS_EXPORT bool sess_touch_due(sess_ctx *ctx, sess_record *rec, int64_t now);

/* Writes the queued touches in one store call. The server calls it periodically (at least once
 * per touch_interval) and at shutdown; 0 or the store's error (the touches are then kept for the
 * next flush, up to the queue's bound). */
SESS_EXPORT int sess_touch_flush(sess_ctx *ctx) SESS_WUR;

/* A live session by id; SESS_ESESSION when absent or no longer live. */
SESS_EXPORT int sess_get(sess_ctx *ctx, const uint8_t id[SESS_ID_BYTES], int64_t now,
                         sess_record *out) SESS_WUR;

/* Merge-patches a live session's data; `out` (may be NULL) receives the record after it. */
SESS_EXPORT int sess_patch(sess_ctx *ctx, const uint8_t id[SESS_ID_BYTES], const char *patch,
                           size_t len, int64_t now, sess_record *out) SESS_WUR;

/* Rotates: the token (which must be the session's current one and live) is replaced by a new
 * one written into `new_token`; the old one works for rotate_grace. `reauth` (a password just
 * proved again) also records a new authentication time and a new CSRF secret, and keeps no
 * grace: the old token is refused at once. `out` receives the record after rotation. */
SESS_EXPORT int sess_rotate(sess_ctx *ctx, const char *token, size_t len, int64_t now, bool reauth,
                            char new_token[SESS_TOKEN_STRLEN + 1], sess_record *out) SESS_WUR;

/* A MAC of `msg` under a key derived from the server key for `purpose` (a short constant such
 * as "login-csrf"): what a browser form or cookie carries to prove the server issued it. Compare
 * with sess_ct_equal. */
SESS_EXPORT void sess_ctx_sign(sess_ctx *ctx, const char *purpose, const void *msg, size_t len,
                               uint8_t out[SESS_HASH_BYTES]);

/* ---- API clients: access and refresh tokens (lib/refresh.c) ----
 *
 * A non-browser client logs in once and gets a short-lived access token (a session token: it
 * verifies wherever a cookie's token does, as Authorization: Bearer) and a refresh token,
 * "SESSION_ID.SECRET". The session is the token family: refreshing replaces both tokens of the
 * same session; ending the session ends the family, and nothing else of the user.
 *
 * Each refresh secret determines its successor (a MAC of it under a key derived from the server
 * key), so parallel refreshes of one refresh token all get the same new pair, and a rotated-out
 * refresh token can be recognised as an ancestor of the family's current one. The store keeps
 * only keyed hashes: the session's current token hash is that of a "handle" derived from the
 * refresh secret (no client ever holds it), its previous hash that of the access token, refused
 * from prev_until = issue time + access_ttl on. A refresh ends the previous access token. */
#define SESS_REFRESH_STRLEN (SESS_ID_STRLEN + 1 + SESS_TOKEN_STRLEN)
/* How many refreshes back a reused refresh token is still recognised as the family's. */
#define SESS_REFRESH_WALK 32

/* Creates a session as sess_create does and turns it into a token family: writes the access
 * token into `access`, the refresh token into `refresh`, the record into `out` (dispose it). */
SESS_EXPORT int sess_api_login(sess_ctx *ctx, const sess_create_params *p, int64_t now,
                               char access[SESS_TOKEN_STRLEN + 1],
                               char refresh[SESS_REFRESH_STRLEN + 1], sess_record *out) SESS_WUR;

/* Exchanges a refresh token for a new pair (same session). 0 when it is the family's current
 * one, or the one just replaced and the replacement happened less than rotate_grace ago (the
 * same new pair is then returned, so parallel refreshes all succeed). SESS_EFORBIDDEN when it is
 * an older one of the family (reuse: the refresh token was copied): the session is deleted and
 * `out` holds the record it had, for the audit trail. SESS_ESESSION for anything else (malformed,
 * unknown, expired, revoked). On 0, `out` holds the session. */
SESS_EXPORT int sess_api_refresh(sess_ctx *ctx, const char *refresh, size_t len, int64_t now,
                                 char access[SESS_TOKEN_STRLEN + 1],
                                 char new_refresh[SESS_REFRESH_STRLEN + 1],
                                 sess_record *out) SESS_WUR;

/* ---- the `cookie` store: sessions sealed into the cookie (seal.h) ----
 *
 * The session lives in the cookie; the store keeps only what revokes it: the user's generation
 * (revoke-all bumps it, as for stored sessions) and, for a logout of one session, a deny entry
 * under the session's id until its absolute deadline. */

/* A new session as sess_create makes it, stored nowhere: `out` (dispose it) carries the user's
 * current generation, to be sealed. */
SESS_EXPORT int sess_new_stateless(sess_ctx *ctx, const sess_create_params *p, int64_t now,
                                   sess_record *out) SESS_WUR;
/* 0 when an opened sealed session is not revoked: its generation is the user's current one and
 * no deny entry has its id. SESS_ESESSION when revoked; store errors as they come (the caller
 * fails closed). Two reads, no write. */
SESS_EXPORT int sess_stateless_check(sess_ctx *ctx, const sess_record *rec) SESS_WUR;
/* Ends one sealed session (logout): a deny entry until its absolute deadline, so the user's
 * other devices stay signed in. Each entry is filed under its own name, never under the user,
 * so no later session of the user can evict it. */
SESS_EXPORT int sess_stateless_end(sess_ctx *ctx, const sess_record *rec, int64_t now) SESS_WUR;
/* Ends a sealed session known only by its id (DELETE /v1/sessions/{id}): a deny entry of its
 * own until the longest a session can live (absolute_timeout or remember_me). */
SESS_EXPORT int sess_stateless_end_id(sess_ctx *ctx, const uint8_t id[SESS_ID_BYTES],
                                      int64_t now) SESS_WUR;

/* Deletes a session; deleting an absent one succeeds (idempotent). */
SESS_EXPORT int sess_delete(sess_ctx *ctx, const uint8_t id[SESS_ID_BYTES]) SESS_WUR;

/* Revoke-all for a user: O(1), every session of the user is refused from now on. */
SESS_EXPORT int sess_revoke_user(sess_ctx *ctx, const char *user) SESS_WUR;

/* Calls `cb` for each live session of `user`, oldest first. */
SESS_EXPORT int sess_list_user(sess_ctx *ctx, const char *user, int64_t now, sess_record_cb cb,
                               void *arg) SESS_WUR;
/* Calls `cb` for every live session. */
SESS_EXPORT int sess_list_all(sess_ctx *ctx, int64_t now, sess_record_cb cb, void *arg) SESS_WUR;

/* True when `rec` (with the user's generation) is live at `now`; `by_previous` when it was
 * found through its previous token. */
SESS_EXPORT bool sess_is_live(const sess_record *rec, uint64_t user_generation, bool by_previous,
                              int64_t now);

/* True when `s` is valid UTF-8 without control characters (C0, DEL or C1). */
SESS_EXPORT bool sess_printable_utf8(const char *s);

/* Validators for names: 0 or SESS_EINVAL. */
SESS_EXPORT int sess_check_user(const char *user) SESS_WUR;
SESS_EXPORT int sess_check_roles(const char *roles) SESS_WUR;

/* Preferences. get: "{}" when the user has none (never SESS_ENOTFOUND). put replaces, patch
 * merges; both validate: at most SESS_PREFS_KEYS keys of [a-z0-9_.-]{1,64}, values strings,
 * numbers or booleans, `language` a language tag, `theme` light|dark|system, `font_size` an
 * integer 8..72 or small|medium|large|x-large, SESS_PREFS_MAX bytes in all. `*json` is
 * malloc'ed; the caller frees. */
SESS_EXPORT int sess_prefs_get(sess_ctx *ctx, const char *user, char **json, size_t *len) SESS_WUR;
SESS_EXPORT int sess_prefs_put(sess_ctx *ctx, const char *user, const char *json, size_t len,
                               char **result, size_t *result_len) SESS_WUR;
SESS_EXPORT int sess_prefs_patch(sess_ctx *ctx, const char *user, const char *patch, size_t len,
                                 char **result, size_t *result_len) SESS_WUR;

/* Service API keys. create writes "sk_" + 43 characters into `key` (shown once) and stores only
 * its keyed hash; the name is [A-Za-z0-9_.-]{1,64}. check: 0 and the key's name when `key` is a
 * current API key, SESS_EUNAUTHORIZED otherwise (whatever the reason). */
SESS_EXPORT int sess_apikey_create(sess_ctx *ctx, const char *name, int64_t now,
                                   char key[SESS_APIKEY_STRLEN + 1]) SESS_WUR;
SESS_EXPORT int sess_apikey_check(sess_ctx *ctx, const char *key, size_t len,
                                  char name[SESS_APIKEY_NAME_MAX + 1]) SESS_WUR;
SESS_EXPORT int sess_apikey_revoke(sess_ctx *ctx, const char *name) SESS_WUR;

#endif
