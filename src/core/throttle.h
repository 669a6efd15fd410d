/*
 * throttle.h - login throttling ([login] max_failures, failure_window, lockout): failures are
 * counted per user name and per client address; once either reaches max_failures within
 * failure_window, logins for it are refused (429) until lockout has passed, whatever the
 * password. Counters live in this process (a fixed-size table keyed by a keyed hash of the name
 * or address, so it holds no user names and cannot grow without bound); a restart clears them.
 *
 * Password checks run in parallel on the worker pool, so a failure is only known after the
 * check. An attempt therefore reserves its place before it is submitted: attempts in flight
 * count as failures until released, so a burst of parallel guesses gets no more checks than
 * max_failures. An address may also have only SESSD_THROTTLE_ADDR_IN_FLIGHT attempts out.
 */
#ifndef SESSIOND_CORE_THROTTLE_H
#define SESSIOND_CORE_THROTTLE_H

#include <stddef.h>
#include <stdint.h>

#include "sessiond/users.h"

#define SESSD_THROTTLE_SLOTS 16384 /* keys tracked at once; the least recently failed give way */
#define SESSD_THROTTLE_ADDR_IN_FLIGHT 4 /* password checks out at once for one client address */

typedef struct sessd_throttle_policy {
    uint64_t max_failures;
    int64_t window;  /* seconds */
    int64_t lockout; /* seconds */
} sessd_throttle_policy;

enum sessd_throttle_kind { SESSD_THROTTLE_USER, SESSD_THROTTLE_ADDR };

/* Seconds until `key` may try again (0: now). */
int64_t sessd_throttle_wait(enum sessd_throttle_kind kind, const char *key, int64_t now);
/* Counts a failure; returns the seconds of lockout it started (0 when none). */
int64_t sessd_throttle_fail(enum sessd_throttle_kind kind, const char *key, int64_t now,
                            const sessd_throttle_policy *p);
/* Reserves an attempt of `key` before its password is checked: until released it counts as a
 * failure, and at most `cap` (0: no bound) are out at once. 0 when reserved (the caller must
 * release it), or the seconds to wait (nothing reserved): the lockout, or 1 while the attempts
 * out may still reach max_failures. */
int64_t sessd_throttle_reserve(enum sessd_throttle_kind kind, const char *key, int64_t now,
                               const sessd_throttle_policy *p, uint32_t cap);
/* Releases an attempt reserved by sessd_throttle_reserve (after counting its failure, if any). */
void sessd_throttle_release(enum sessd_throttle_kind kind, const char *key);
/* A login attempt's reservation for its client address `ip` (at most
 * SESSD_THROTTLE_ADDR_IN_FLIGHT out at once) and for `user`, both or neither: 0 when reserved
 * (release both later), or the seconds to wait. */
int64_t sessd_throttle_reserve_login(const char *ip, const char *user, int64_t now,
                                     const sessd_throttle_policy *p);
/* Releases both reservations of sessd_throttle_reserve_login. */
void sessd_throttle_release_login(const char *ip, const char *user);
/* Seconds until a login from `ip` for `user` (may be "") may be tried: either one locked out. */
int64_t sessd_throttle_wait_login(const char *ip, const char *user, int64_t now);

/* On a worker: a login's password check with its throttling (login.c; the form and the API
 * login share it). Wipes `password` (`len` bytes). sess_user_login's result, or
 * SESS_ERATELIMIT with `*wait` > 0 when the lockout began meanwhile (nothing checked). A wrong
 * password counts a failure for `user` and `ip`; a right one forgets the user's failures. */
int sessd_login_check(const char *ip, const char *user, char *password, size_t len,
                      const sessd_throttle_policy *p, int64_t now, int64_t *wait,
                      sess_account *acct);

/* Forgets the failures of `key` (a successful login of that user). */
void sessd_throttle_reset(enum sessd_throttle_kind kind, const char *key);

#endif
