/*
 * throttle.c - the failure table of throttle.h: open addressing over SESSD_THROTTLE_SLOTS slots
 * under one mutex (a login is milliseconds of argon2id; this lock is nanoseconds). A key is the
 * first 16 bytes of a BLAKE2b hash of kind and name under a random per-process key.
 */
#include "core/throttle.h"

#include "core/audit.h"

#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include "sessiond/crypto.h"

#define PROBE 8

typedef struct slot {
    uint8_t key[16];
    bool used;
    uint64_t failures;
    uint32_t in_flight; /* attempts reserved and not yet released: they count as failures */
    int64_t window_start;
    int64_t locked_until;
    int64_t last; /* last failure or reservation, for eviction */
} slot;

static slot table[SESSD_THROTTLE_SLOTS];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static uint8_t hash_key[SESS_KEY_BYTES];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void init_key(void)
{
    sess_random(hash_key, sizeof(hash_key));
}

static void key_of(enum sessd_throttle_kind kind, const char *name, uint8_t out[16])
{
    uint8_t h[SESS_HASH_BYTES], buf[1 + 512];
    size_t n = strnlen(name, sizeof(buf) - 1);
    pthread_once(&once, init_key);
    buf[0] = (uint8_t)kind;
    memcpy(buf + 1, name, n);
    sess_keyed_hash(hash_key, buf, n + 1, h);
    memcpy(out, h, 16);
}

/* The slot of `key`, or (when `add`) a free or evictable one; NULL when absent. */
static slot *find(const uint8_t key[16], bool add)
{
    uint32_t start;
    memcpy(&start, key, sizeof(start));
    slot *victim = NULL;
    for (int i = 0; i < PROBE; i++) {
        slot *s = &table[(start + (uint32_t)i) % SESSD_THROTTLE_SLOTS];
        if (s->used && memcmp(s->key, key, 16) == 0)
            return s;
        if (!s->used && victim == NULL)
            victim = s;
    }
    if (!add)
        return NULL;
    if (victim == NULL) { /* all taken: the one that failed longest ago gives way */
        victim = &table[start % SESSD_THROTTLE_SLOTS];
        for (int i = 1; i < PROBE; i++) {
            slot *s = &table[(start + (uint32_t)i) % SESSD_THROTTLE_SLOTS];
            if (s->last < victim->last)
                victim = s;
        }
    }
    memset(victim, 0, sizeof(*victim));
    memcpy(victim->key, key, 16);
    victim->used = true;
    return victim;
}

int64_t sessd_throttle_wait(enum sessd_throttle_kind kind, const char *key, int64_t now)
{
    uint8_t k[16];
    key_of(kind, key, k);
    pthread_mutex_lock(&mu);
    slot *s = find(k, false);
    int64_t wait = s != NULL && s->locked_until > now ? s->locked_until - now : 0;
    pthread_mutex_unlock(&mu);
    return wait;
}

int64_t sessd_throttle_fail(enum sessd_throttle_kind kind, const char *key, int64_t now,
                            const sessd_throttle_policy *p)
{
    uint8_t k[16];
    int64_t locked = 0;
    key_of(kind, key, k);
    pthread_mutex_lock(&mu);
    slot *s = find(k, true);
    if (now - s->window_start >= p->window) {
        s->window_start = now;
        s->failures = 0;
    }
    s->last = now;
    if (++s->failures >= p->max_failures) {
        s->locked_until = now + p->lockout;
        s->failures = 0;
        s->window_start = now;
        locked = p->lockout;
    }
    pthread_mutex_unlock(&mu);
    if (locked > 0)
        sessd_audit(SESSD_AUDIT_LOCKOUT, kind == SESSD_THROTTLE_USER ? key : NULL, NULL,
                    kind == SESSD_THROTTLE_ADDR ? key : NULL,
                    kind == SESSD_THROTTLE_USER ? "user locked out" : "address locked out");
    return locked;
}

int64_t sessd_throttle_reserve(enum sessd_throttle_kind kind, const char *key, int64_t now,
                               const sessd_throttle_policy *p, uint32_t cap)
{
    uint8_t k[16];
    int64_t wait = 0;
    key_of(kind, key, k);
    pthread_mutex_lock(&mu);
    slot *s = find(k, true);
    uint64_t failures = now - s->window_start >= p->window ? 0 : s->failures;
    if (s->locked_until > now)
        wait = s->locked_until - now;
    else if (failures + s->in_flight >= p->max_failures || (cap > 0 && s->in_flight >= cap))
        wait = 1; /* the attempts out decide within a password check */
    else
        s->in_flight++;
    s->last = now;
    pthread_mutex_unlock(&mu);
    return wait;
}

void sessd_throttle_release(enum sessd_throttle_kind kind, const char *key)
{
    uint8_t k[16];
    key_of(kind, key, k);
    pthread_mutex_lock(&mu);
    slot *s = find(k, false);
    if (s != NULL && s->in_flight > 0)
        s->in_flight--;
    pthread_mutex_unlock(&mu);
}

void sessd_throttle_reset(enum sessd_throttle_kind kind, const char *key)
{
    uint8_t k[16];
    key_of(kind, key, k);
    pthread_mutex_lock(&mu);
    slot *s = find(k, false);
    if (s != NULL && s->locked_until == 0 && s->in_flight == 0)
        s->used = false;
    else if (s != NULL)
        s->failures = 0;
    pthread_mutex_unlock(&mu);
}

int64_t sessd_throttle_reserve_login(const char *ip, const char *user, int64_t now,
                                     const sessd_throttle_policy *p)
{
    int64_t wait =
        sessd_throttle_reserve(SESSD_THROTTLE_ADDR, ip, now, p, SESSD_THROTTLE_ADDR_IN_FLIGHT);
    if (wait > 0)
        return wait;
    if ((wait = sessd_throttle_reserve(SESSD_THROTTLE_USER, user, now, p, 0)) > 0)
        sessd_throttle_release(SESSD_THROTTLE_ADDR, ip);
    return wait;
}

void sessd_throttle_release_login(const char *ip, const char *user)
{
    sessd_throttle_release(SESSD_THROTTLE_USER, user);
    sessd_throttle_release(SESSD_THROTTLE_ADDR, ip);
}

int64_t sessd_throttle_wait_login(const char *ip, const char *user, int64_t now)
{
    int64_t wait = sessd_throttle_wait(SESSD_THROTTLE_ADDR, ip, now);
    if (wait == 0 && user[0] != '\0')
        wait = sessd_throttle_wait(SESSD_THROTTLE_USER, user, now);
    return wait;
}
