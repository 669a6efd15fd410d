/*
 * users.h - user accounts for the login page: add, check a password, change password, roles and
 * the disabled flag, delete, list.
 *
 * Passwords are hashed with argon2id (libsodium) at the cost of the context's policy
 * (argon2_ops, argon2_mem); only the encoded hash is stored, inside an account record that the
 * store keeps as opaque bytes (store.h user_*). A change of password, disabled flag or deletion
 * revokes all of that user's sessions through the user's generation, so it takes effect on
 * their very next request. A change of roles does not end the sessions: it writes the new roles
 * into each of them at once and flags them SESS_REC_ROLES_CHANGED, so that the server rotates
 * their tokens on their next request (a privilege change gets a new token).
 *
 * Hashing and checking are slow on purpose (tens to hundreds of milliseconds): the server calls
 * these from its worker pool, never from an event loop. sess_user_login takes the same time
 * whether or not the user exists: an unknown user is checked against a dummy hash of the same
 * cost, so timing does not tell which user names exist.
 */
#ifndef SESSIOND_USERS_H
#define SESSIOND_USERS_H

#include "sessiond/export.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sessiond/record.h"
#include "sessiond/session.h"

#define SESS_PASSWORD_MIN 8    /* bytes */
#define SESS_PASSWORD_MAX 1024 /* bytes; longer input is refused, never truncated */

#define SESS_ACCOUNT_DISABLED 0x1u /* logins refused; the account and its data stay */

/* What an account shows (never the hash). */
typedef struct sess_account {
    char user[SESS_USER_MAX + 1];
    char roles[SESS_ROLES_MAX + 1]; /* "a,b"; empty for none */
    uint32_t flags;                 /* SESS_ACCOUNT_* */
    int64_t created;
    int64_t password_changed;
} sess_account;

/* Where password hashing runs. By default in the calling thread (libsodium); a server may route
 * it elsewhere, e.g. to helper processes, so that argon2id's large short-lived mappings do not
 * stall the other threads of its process. Both functions behave like sess_pwhash and
 * sess_pwhash_verify (crypto.h). Set once, before any other call of this module. */
typedef struct sess_hasher {
    int (*hash)(const char *password, size_t len, uint64_t ops, size_t mem,
                char out[SESS_PWHASH_STRBYTES]);
    int (*verify)(const char *hash, const char *password, size_t len);
} sess_hasher;
SESS_EXPORT void sess_users_set_hasher(const sess_hasher *h);

/* 0 when a password's length is within SESS_PASSWORD_MIN..SESS_PASSWORD_MAX, else SESS_EINVAL. */
SESS_EXPORT int sess_check_password(size_t len) SESS_WUR;

/* Computes, for the context's current cost, the dummy hash that unknown users are checked
 * against, so the first such login does not pay for it. Call at start and after the cost
 * changes; login does it itself when needed. 0 or SESS_ENOMEM. */
SESS_EXPORT int sess_users_prepare(sess_ctx *ctx) SESS_WUR;

/* Adds a user. SESS_EINVAL for a bad name (sess_check_user), role list (sess_check_roles) or
 * password length; SESS_EEXIST when the name is taken; SESS_ENOMEM when hashing cannot get its
 * memory; store errors as they come. */
SESS_EXPORT int sess_user_add(sess_ctx *ctx, const char *user, const char *password, size_t len,
                              const char *roles, int64_t now) SESS_WUR;

/* Checks a login. 0 and the account in `out` (may be NULL) when the user exists, is not
 * disabled and the password matches; SESS_EUNAUTHORIZED for every other case, after the same
 * work; store errors (SESS_ESTORE, ...) as they come, so that a failing store fails closed and
 * visibly. Timing is equal for accounts hashed at the configured cost; a successful login
 * re-hashes an account made at another cost (after [login] argon2_* changed), so each account
 * converges at its next login. */
SESS_EXPORT int sess_user_login(sess_ctx *ctx, const char *user, const char *password, size_t len,
                                sess_account *out) SESS_WUR;

/* Changes a user's password, roles, or disabled flag, or deletes the account; each but
 * sess_user_set_roles revokes all of the user's sessions (sess_user_set_roles rotates them
 * instead: see the top of this file). SESS_ENOTFOUND when the
 * user has no account; SESS_EINVAL for bad input. A concurrent change of the same account is
 * retried, never lost. */
SESS_EXPORT int sess_user_passwd(sess_ctx *ctx, const char *user, const char *password, size_t len,
                                 int64_t now) SESS_WUR;
SESS_EXPORT int sess_user_set_roles(sess_ctx *ctx, const char *user, const char *roles) SESS_WUR;
SESS_EXPORT int sess_user_set_roles_and_revoke(sess_ctx *ctx, const char *user,
                                               const char *roles) SESS_WUR;
SESS_EXPORT int sess_user_set_disabled(sess_ctx *ctx, const char *user, bool disabled) SESS_WUR;

/* After a login created a session with the roles of `seen` (sess_user_login's account): when
 * the account's roles have changed since, gives the user's sessions, the new one included, the
 * current roles (as sess_user_set_roles does). A role change that ran between the login's read
 * and its create would otherwise miss the new session. 0, or the store's error. */
SESS_EXPORT int sess_user_recheck_roles(sess_ctx *ctx, const sess_account *seen) SESS_WUR;
SESS_EXPORT int sess_user_delete(sess_ctx *ctx, const char *user) SESS_WUR;

/* One account; SESS_ENOTFOUND when absent. */
SESS_EXPORT int sess_user_get(sess_ctx *ctx, const char *user, sess_account *out) SESS_WUR;

/* Calls `cb` for each account in order of names; non-zero from `cb` stops (the call still
 * returns 0). Records that do not decode are reported as SESS_ECORRUPT after the others. */
typedef int (*sess_user_cb)(const sess_account *acct, void *arg);
SESS_EXPORT int sess_user_list(sess_ctx *ctx, sess_user_cb cb, void *arg) SESS_WUR;

/* Counts into `n` the accounts whose password hash was made at another argon2id cost than the
 * context's: a wrong password for one hashed at a higher cost takes longer than for an unknown
 * user until that account signs in again (and is rehashed). 0, or the store's error. */
SESS_EXPORT int sess_users_other_cost(sess_ctx *ctx, size_t *n) SESS_WUR;

#endif
