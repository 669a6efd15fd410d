/*
 * pwpolicy.c - the rules of pwpolicy.h, and the common-password list as a hash set.
 *
 * The list is the lower-cased, de-duplicated john-data password.lst that scripts/pwlist.sh turns
 * into string literals at build time ($(B)/gen/pwlist.inc): no file is read and no network is
 * asked at run time, and the binary carries what it checks against. On first use (pthread_once)
 * the entries are put into an open-addressing table of twice their count rounded up to a power
 * of two, so a lookup hashes the candidate once and probes a few slots; the table is not written
 * after that, so lookups need no lock.
 */
#include "core/pwpolicy.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sessiond/users.h"

static const char *const entries[] = {
#include "pwlist.inc"
};
#define ENTRIES (sizeof(entries) / sizeof(entries[0]))
_Static_assert(ENTRIES <= SESSD_PWLIST_MAX, "the list is within SESSD_PWLIST_MAX");

static struct {
    pthread_once_t once;
    uint32_t *slots; /* index + 1 into entries; 0 is empty */
    size_t mask;
    size_t n;
} set = {.once = PTHREAD_ONCE_INIT};

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* FNV-1a over the lower-cased bytes: the table is fixed, so no input can lengthen its chains. */
static uint64_t hash_of(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603u;
    for (size_t i = 0; i < len; i++) {
        h ^= (uint8_t)lower(s[i]);
        h *= 1099511628211u;
    }
    return h;
}

static void build(void)
{
    size_t cap = 16;
    while (cap < 2 * ENTRIES)
        cap *= 2;
    set.slots = calloc(cap, sizeof(uint32_t));
    if (set.slots == NULL)
        abort(); /* at most 512 KiB, once: a process that cannot get it cannot serve either */
    set.mask = cap - 1;
    for (size_t i = 0; i < ENTRIES; i++) {
        size_t len = strlen(entries[i]);
        if (len == 0 || len > SESSD_PWLIST_ENTRY_MAX)
            continue;
        size_t s = hash_of(entries[i], len) & set.mask;
        while (set.slots[s] != 0)
            s = (s + 1) & set.mask;
        set.slots[s] = (uint32_t)(i + 1);
        set.n++;
    }
}

bool sessd_pw_common(const char *pw, size_t len)
{
    pthread_once(&set.once, build);
    if (len == 0 || len > SESSD_PWLIST_ENTRY_MAX)
        return false;
    for (size_t s = hash_of(pw, len) & set.mask; set.slots[s] != 0; s = (s + 1) & set.mask) {
        const char *e = entries[set.slots[s] - 1];
        if (strlen(e) == len && strncasecmp(e, pw, len) == 0)
            return true;
    }
    return false;
}

size_t sessd_pw_list_size(void)
{
    pthread_once(&set.once, build);
    return set.n;
}

size_t sessd_pw_chars(const char *pw, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (((uint8_t)pw[i] & 0xC0) != 0x80)
            n++;
    return n;
}

enum sessd_pw_verdict sessd_pw_judge(const char *user, const char *pw, size_t len,
                                     uint64_t min_chars)
{
    if (len < SESS_PASSWORD_MIN || sessd_pw_chars(pw, len) < min_chars)
        return SESSD_PW_TOO_SHORT;
    if (len > SESS_PASSWORD_MAX)
        return SESSD_PW_TOO_LONG;
    if (memchr(pw, '\0', len) != NULL)
        return SESSD_PW_INVALID;
    if (sessd_pw_common(pw, len) ||
        (user != NULL && strlen(user) == len && strncasecmp(user, pw, len) == 0))
        return SESSD_PW_COMMON;
    return SESSD_PW_OK;
}
