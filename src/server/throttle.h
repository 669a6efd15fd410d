/*
 * throttle.h - login throttling ([login] max_failures, failure_window, lockout): failures are
 * counted per user name and per client address; once either reaches max_failures within
 * failure_window, logins for it are refused (429) until lockout has passed, whatever the
 * password. Counters live in this process (a fixed-size table keyed by a keyed hash of the name
 * or address, so it holds no user names and cannot grow without bound); a restart clears them.
 */
#ifndef SESSIOND_SERVER_THROTTLE_H
#define SESSIOND_SERVER_THROTTLE_H

#include <stddef.h>
#include <stdint.h>

#define SESSD_THROTTLE_SLOTS 16384 /* keys tracked at once; the least recently failed give way */

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
/* Forgets the failures of `key` (a successful login of that user). */
void sessd_throttle_reset(enum sessd_throttle_kind kind, const char *key);

#endif
