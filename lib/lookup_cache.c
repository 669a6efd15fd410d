/*
 * lookup_cache.c - the per-thread memo of lookup_cache.h.
 *
 * Direct mapped: a text goes to one slot, picked from its last 8 bytes (the caller's own input,
 * so the choice tells nobody anything), and a newer answer replaces the older one there. Only
 * answers whose session data fits a slot are kept (DATA_MAX bytes); others always go to the
 * store. Slots hold no pointers: the memo is sodium_malloc memory, which LeakSanitizer does
 * not scan, so a pointer kept only there would look leaked.
 */
#include "lookup_cache.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "sessiond/crypto.h"

#define SLOTS 64 /* per thread; a power of two */
#define KEY_SLOTS 16
#define PREFS_SLOTS 16
#define TEXT_MAX SESS_APIKEY_STRLEN /* the longest text kept: an API key */
#define DATA_MAX SESS__LCACHE_DATA_MAX

typedef struct slot {
    uint64_t owner, version; /* version 0: empty */
    size_t len;
    char text[TEXT_MAX];
    sess_record rec; /* rec.data is NULL here: the text is in `data` */
    char data[DATA_MAX + 1];
    uint64_t gen;
    bool by_previous;
} slot;

typedef struct key_slot {
    uint64_t owner, version;
    size_t len;
    char text[TEXT_MAX];
    char name[SESS_APIKEY_NAME_MAX + 1];
} key_slot;

typedef struct prefs_slot {
    uint64_t owner, version;
    char user[SESS_USER_MAX + 1];
    size_t len;
    char json[DATA_MAX + 1];
} prefs_slot;

typedef struct memo {
    slot s[SLOTS];
    key_slot k[KEY_SLOTS];
    prefs_slot p[PREFS_SLOTS];
} memo;

static _Atomic uint64_t owners;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_key_t memo_key;
static bool memo_key_ok;
static __thread memo *mine;

static void memo_free(void *p)
{
    if (mine == p) /* a later destructor of this thread must not find it */
        mine = NULL;
    sodium_free(p); /* zeroes it */
}

static void make_key(void)
{
    memo_key_ok = pthread_key_create(&memo_key, memo_free) == 0;
}

static memo *thread_memo(void)
{
    if (mine != NULL)
        return mine;
    pthread_once(&once, make_key);
    /* sodium_malloc needs sodium_init (idempotent); a library user such as the nginx module may
     * not have called it. */
    if (!memo_key_ok || sodium_init() < 0)
        return NULL;
    memo *m = sodium_malloc(sizeof(memo));
    if (m == NULL)
        return NULL;
    memset(m, 0, sizeof(*m));
    if (pthread_setspecific(memo_key, m) != 0) {
        sodium_free(m);
        return NULL;
    }
    return mine = m;
}

static size_t slot_of(const char *text, size_t len, size_t n)
{
    uint64_t w;
    memcpy(&w, text + len - sizeof(w), sizeof(w));
    return (size_t)((w * 0x9e3779b97f4a7c15ULL) >> 32) & (n - 1);
}

static bool usable(uint64_t version, size_t len)
{
    return version != 0 && len >= sizeof(uint64_t) && len <= TEXT_MAX;
}

/* Constant time in the text: it is a secret the caller is trying. */
static bool same_text(const char *kept, size_t kept_len, const char *text, size_t len)
{
    return kept_len == len && sess_ct_equal(kept, text, len);
}

uint64_t sess__lcache_owner(void)
{
    return atomic_fetch_add(&owners, 1) + 1;
}

bool sess__lcache_get(uint64_t owner, uint64_t version, const char *token, size_t len,
                      sess_record *out, uint64_t *gen, bool *by_previous)
{
    memo *m = mine;
    if (m == NULL || !usable(version, len))
        return false;
    slot *s = &m->s[slot_of(token, len, SLOTS)];
    if (s->version != version && s->version != 0) { /* outdated: the secrets go now */
        sodium_memzero(s, sizeof(*s));
        return false;
    }
    if (s->version != version || s->owner != owner || !same_text(s->text, s->len, token, len))
        return false;
    char *data = malloc(s->rec.data_len + 1);
    if (data == NULL)
        return false;
    memcpy(data, s->data, s->rec.data_len + 1);
    *out = s->rec;
    out->data = data;
    *gen = s->gen;
    *by_previous = s->by_previous;
    return true;
}

void sess__lcache_put(uint64_t owner, uint64_t version, const char *token, size_t len,
                      const sess_record *rec, uint64_t gen, bool by_previous)
{
    memo *m;
    if (!usable(version, len) || rec->data == NULL || rec->data_len > DATA_MAX ||
        (m = thread_memo()) == NULL)
        return;
    slot *s = &m->s[slot_of(token, len, SLOTS)];
    s->owner = owner;
    s->version = version;
    s->len = len;
    memcpy(s->text, token, len);
    s->rec = *rec;
    s->rec.data = NULL;
    memcpy(s->data, rec->data, rec->data_len);
    s->data[rec->data_len] = '\0';
    s->gen = gen;
    s->by_previous = by_previous;
}

bool sess__lcache_key_get(uint64_t owner, uint64_t version, const char *key, size_t len,
                          char name[SESS_APIKEY_NAME_MAX + 1])
{
    memo *m = mine;
    if (m == NULL || !usable(version, len))
        return false;
    key_slot *k = &m->k[slot_of(key, len, KEY_SLOTS)];
    if (k->version != version && k->version != 0) {
        sodium_memzero(k, sizeof(*k));
        return false;
    }
    if (k->version != version || k->owner != owner || !same_text(k->text, k->len, key, len))
        return false;
    memcpy(name, k->name, sizeof(k->name));
    return true;
}

void sess__lcache_key_put(uint64_t owner, uint64_t version, const char *key, size_t len,
                          const char *name)
{
    memo *m;
    size_t n = strlen(name);
    if (!usable(version, len) || n > SESS_APIKEY_NAME_MAX || (m = thread_memo()) == NULL)
        return;
    key_slot *k = &m->k[slot_of(key, len, KEY_SLOTS)];
    k->owner = owner;
    k->version = version;
    k->len = len;
    memcpy(k->text, key, len);
    memcpy(k->name, name, n + 1);
}

/* A user name can be shorter than 8 bytes: its slot comes from its length and first bytes. */
static size_t prefs_slot_of(const char *user, size_t n)
{
    uint64_t w = n;
    memcpy(&w, user, n < sizeof(w) ? n : sizeof(w));
    return (size_t)(((w ^ n) * 0x9e3779b97f4a7c15ULL) >> 32) & (PREFS_SLOTS - 1);
}

bool sess__lcache_prefs_get(uint64_t owner, uint64_t version, const char *user, char **json,
                            size_t *len)
{
    memo *m = mine;
    size_t n = strlen(user);
    if (m == NULL || version == 0 || n > SESS_USER_MAX)
        return false;
    const prefs_slot *p = &m->p[prefs_slot_of(user, n)];
    if (p->version != version || p->owner != owner || strcmp(p->user, user) != 0)
        return false;
    char *copy = malloc(p->len + 1);
    if (copy == NULL)
        return false;
    memcpy(copy, p->json, p->len + 1);
    *json = copy;
    *len = p->len;
    return true;
}

void sess__lcache_prefs_put(uint64_t owner, uint64_t version, const char *user, const char *json,
                            size_t len)
{
    memo *m;
    size_t n = strlen(user);
    if (version == 0 || n > SESS_USER_MAX || len > DATA_MAX || (m = thread_memo()) == NULL)
        return;
    prefs_slot *p = &m->p[prefs_slot_of(user, n)];
    p->owner = owner;
    p->version = version;
    memcpy(p->user, user, n + 1);
    p->len = len;
    memcpy(p->json, json, len);
    p->json[len] = '\0';
}
