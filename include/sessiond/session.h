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
    int64_t remember_me;    /* absolute lifetime of a remember-me session */
    int64_t touch_interval; /* a verify writes last-seen at most this often per session */
    int64_t rotate_grace;   /* the previous token keeps working this long after a rotation */
    uint32_t max_per_user;
    size_t max_data;     /* bytes of a session's data (compact JSON) */
    uint64_t argon2_ops; /* cost of new password hashes ([login]); 0: libsodium's interactive */
    size_t argon2_mem;   /* bytes; 0: libsodium's interactive (64 MiB) */
} sess_policy;

typedef struct sess_ctx sess_ctx;

/* Creates a context over `store` (not owned: the caller closes it after sess_ctx_free) with
 * the server key (copied) and policy. 0, or SESS_ENOMEM. */
int sess_ctx_new(sess_store *store, const uint8_t key[SESS_KEY_BYTES], const sess_policy *policy,
                 sess_ctx **out);
/* Flushes pending touches, then frees the context (not the store). */
void sess_ctx_free(sess_ctx *ctx);
/* Replaces the policy (SIGHUP reload); safe while other threads use the context. */
void sess_ctx_set_policy(sess_ctx *ctx, const sess_policy *policy);
void sess_ctx_get_policy(sess_ctx *ctx, sess_policy *out);
sess_store *sess_ctx_store(sess_ctx *ctx);

typedef struct sess_create_params {
    const char *user;  /* required: 1..SESS_USER_MAX bytes, no control characters */
    const char *roles; /* comma list, may be NULL */
    const char *data;  /* JSON object text, may be NULL */
    size_t data_len;
    bool remember;     /* remember-me: absolute lifetime remember_me instead of absolute_timeout */
    const char *ip;    /* may be NULL; truncated to SESS_IP_MAX */
    const char *agent; /* may be NULL; truncated to SESS_AGENT_MAX */
    int64_t auth_time; /* when the user last entered a password; 0 = now */
} sess_create_params;

/* Creates a session. On success writes the new token's text into `token` and the stored record
 * into `out` (dispose it). SESS_EINVAL for a bad user, role list or data (not an object),
 * SESS_ETOOLARGE for data over max_data, store errors as they come. */
int sess_create(sess_ctx *ctx, const sess_create_params *p, int64_t now,
                char token[SESS_TOKEN_STRLEN + 1], sess_record *out);

/* Checks a token (its text as sent by the client, `len` bytes). SESS_ESESSION when malformed,
 * unknown, expired, revoked, or a previous token past its grace. On success fills `out`. When
 * `touch` is set and the last touch is older than touch_interval, queues a touch (written by
 * sess_touch_flush, never here) and reports the extended idle deadline in `out`. */
int sess_verify(sess_ctx *ctx, const char *token, size_t len, int64_t now, bool touch,
                sess_record *out);

/* The touch of sess_verify for a session known by id (what the nginx module reports for the
 * sessions it let through, docs/nginx-module.md): queued when the session is live and its last
 * touch is older than touch_interval. 0, SESS_ESESSION when absent or no longer live (a touch
 * never brings a session back), or the store's error. */
int sess_touch_id(sess_ctx *ctx, const uint8_t id[SESS_ID_BYTES], int64_t now);

/* Writes the queued touches in one store call. The server calls it periodically (at least once
 * per touch_interval) and at shutdown; 0 or the store's error (the touches are then kept for the
 * next flush, up to the queue's bound). */
int sess_touch_flush(sess_ctx *ctx);

/* A live session by id; SESS_ESESSION when absent or no longer live. */
int sess_get(sess_ctx *ctx, const uint8_t id[SESS_ID_BYTES], int64_t now, sess_record *out);

/* Merge-patches a live session's data; `out` (may be NULL) receives the record after it. */
int sess_patch(sess_ctx *ctx, const uint8_t id[SESS_ID_BYTES], const char *patch, size_t len,
               int64_t now, sess_record *out);

/* Rotates: the token (which must be the session's current one and live) is replaced by a new
 * one written into `new_token`; the old one works for rotate_grace. `reauth` also records a new
 * authentication time and a new CSRF secret. `out` receives the record after rotation. */
int sess_rotate(sess_ctx *ctx, const char *token, size_t len, int64_t now, bool reauth,
                char new_token[SESS_TOKEN_STRLEN + 1], sess_record *out);

/* A MAC of `msg` under a key derived from the server key for `purpose` (a short constant such
 * as "login-csrf"): what a browser form or cookie carries to prove the server issued it. Compare
 * with sess_ct_equal. */
void sess_ctx_sign(sess_ctx *ctx, const char *purpose, const void *msg, size_t len,
                   uint8_t out[SESS_HASH_BYTES]);

/* Deletes a session; deleting an absent one succeeds (idempotent). */
int sess_delete(sess_ctx *ctx, const uint8_t id[SESS_ID_BYTES]);

/* Revoke-all for a user: O(1), every session of the user is refused from now on. */
int sess_revoke_user(sess_ctx *ctx, const char *user);

/* Calls `cb` for each live session of `user`, oldest first. */
int sess_list_user(sess_ctx *ctx, const char *user, int64_t now, sess_record_cb cb, void *arg);
/* Calls `cb` for every live session. */
int sess_list_all(sess_ctx *ctx, int64_t now, sess_record_cb cb, void *arg);

/* True when `rec` (with the user's generation) is live at `now`; `by_previous` when it was
 * found through its previous token. */
bool sess_is_live(const sess_record *rec, uint64_t user_generation, bool by_previous, int64_t now);

/* True when `s` is valid UTF-8 without control characters (C0, DEL or C1). */
bool sess_printable_utf8(const char *s);

/* Validators for names: 0 or SESS_EINVAL. */
int sess_check_user(const char *user);
int sess_check_roles(const char *roles);

/* Preferences. get: "{}" when the user has none (never SESS_ENOTFOUND). put replaces, patch
 * merges; both validate: at most SESS_PREFS_KEYS keys of [a-z0-9_.-]{1,64}, values strings,
 * numbers or booleans, `language` a language tag, `theme` light|dark|system, `font_size` an
 * integer 8..72 or small|medium|large|x-large, SESS_PREFS_MAX bytes in all. `*json` is
 * malloc'ed; the caller frees. */
int sess_prefs_get(sess_ctx *ctx, const char *user, char **json, size_t *len);
int sess_prefs_put(sess_ctx *ctx, const char *user, const char *json, size_t len, char **result,
                   size_t *result_len);
int sess_prefs_patch(sess_ctx *ctx, const char *user, const char *patch, size_t len, char **result,
                     size_t *result_len);

/* Service API keys. create writes "sk_" + 43 characters into `key` (shown once) and stores only
 * its keyed hash; the name is [A-Za-z0-9_.-]{1,64}. check: 0 and the key's name when `key` is a
 * current API key, SESS_EUNAUTHORIZED otherwise (whatever the reason). */
int sess_apikey_create(sess_ctx *ctx, const char *name, int64_t now,
                       char key[SESS_APIKEY_STRLEN + 1]);
int sess_apikey_check(sess_ctx *ctx, const char *key, size_t len,
                      char name[SESS_APIKEY_NAME_MAX + 1]);
int sess_apikey_revoke(sess_ctx *ctx, const char *name);

#endif
