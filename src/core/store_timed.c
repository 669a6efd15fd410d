/*
 * store_timed.c - the timing wrapper of store_timed.h. Each forwarder is one line through TIMED:
 * the clock is read before and after the inner call, and a write refused for lack of space is
 * counted (sessiond_store_full_total); nothing else changes.
 */
#include "core/store_timed.h"

#include <stdlib.h>
#include <time.h>

#include "core/metrics.h"
#include "sessiond/error.h"

typedef struct timed_store {
    sess_store base;
    sess_store *in;
} timed_store;

static uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static sess_store *inner_of(sess_store *st)
{
    return ((timed_store *)st)->in;
}

#define TIMED(kind, op, ...)                                                                       \
    do {                                                                                           \
        sess_store *in = inner_of(st);                                                             \
        uint64_t t0 = mono_us();                                                                   \
        int r = in->ops->op(in, __VA_ARGS__);                                                      \
        sessd_metrics_store_latency(SESSD_STORE_OP_##kind, mono_us() - t0);                        \
        if (r == SESS_EFULL)                                                                       \
            sessd_metrics_store_full();                                                            \
        return r;                                                                                  \
    } while (0)

static void t_close(sess_store *st)
{
    sess_store *in = inner_of(st);
    sess_store_close(in);
    free(st);
}

static int t_ping(sess_store *st)
{
    sess_store *in = inner_of(st);
    return in->ops->ping(in); /* readiness probes are not store work worth timing */
}

static int t_create(sess_store *st, const sess_record *rec, uint32_t max_per_user,
                    uint32_t *evicted)
{
    TIMED(WRITE, create, rec, max_per_user, evicted);
}

static int t_lookup(sess_store *st, const uint8_t hash[SESS_HASH_BYTES], sess_record *out,
                    uint64_t *user_generation, bool *is_previous)
{
    TIMED(READ, lookup, hash, out, user_generation, is_previous);
}

static int t_get(sess_store *st, const uint8_t id[SESS_ID_BYTES], sess_record *out,
                 uint64_t *user_generation)
{
    TIMED(READ, get, id, out, user_generation);
}

static int t_touch_many(sess_store *st, size_t n, const uint8_t (*ids)[SESS_ID_BYTES],
                        const int64_t *last_seen, const int64_t *idle_expires)
{
    TIMED(WRITE, touch_many, n, ids, last_seen, idle_expires);
}

static int t_patch(sess_store *st, const uint8_t id[SESS_ID_BYTES], const char *patch,
                   size_t patch_len, size_t max_data, sess_record *out)
{
    TIMED(WRITE, patch, id, patch, patch_len, max_data, out);
}

static int t_rotate(sess_store *st, const uint8_t id[SESS_ID_BYTES], const uint8_t *expected_hash,
                    const uint8_t new_hash[SESS_HASH_BYTES], int64_t prev_until, int64_t auth_time,
                    const uint8_t *new_csrf_secret)
{
    TIMED(WRITE, rotate, id, expected_hash, new_hash, prev_until, auth_time, new_csrf_secret);
}

static int t_set_roles(sess_store *st, const char *user, const char *roles)
{
    TIMED(WRITE, set_roles, user, roles);
}

/* Not timed: no I/O, read before every lookup (store.h). */
static uint64_t t_version(sess_store *st)
{
    sess_store *in = inner_of(st);
    return in->ops->version != NULL ? in->ops->version(in) : 0;
}

static int t_generation(sess_store *st, const char *user, uint64_t *generation)
{
    TIMED(READ, generation, user, generation);
}

static int t_del(sess_store *st, const uint8_t id[SESS_ID_BYTES])
{
    TIMED(WRITE, del, id);
}

static int t_revoke_user(sess_store *st, const char *user, uint64_t *generation)
{
    TIMED(WRITE, revoke_user, user, generation);
}

static int t_list_user(sess_store *st, const char *user, sess_record_cb cb, void *arg)
{
    TIMED(SCAN, list_user, user, cb, arg);
}

static int t_list_all(sess_store *st, sess_record_cb cb, void *arg)
{
    TIMED(SCAN, list_all, cb, arg);
}

static int t_count(sess_store *st, uint64_t *n)
{
    TIMED(SCAN, count, n);
}

static int t_sweep(sess_store *st, int64_t now, size_t max_items, size_t *removed)
{
    TIMED(SCAN, sweep, now, max_items, removed);
}

static int t_prefs_get(sess_store *st, const char *user, char **json, size_t *len)
{
    TIMED(READ, prefs_get, user, json, len);
}

static int t_prefs_put(sess_store *st, const char *user, const char *json, size_t len,
                       size_t max_bytes)
{
    TIMED(WRITE, prefs_put, user, json, len, max_bytes);
}

static int t_prefs_patch(sess_store *st, const char *user, const char *patch, size_t len,
                         size_t max_bytes, char **result, size_t *result_len)
{
    TIMED(WRITE, prefs_patch, user, patch, len, max_bytes, result, result_len);
}

static int t_apikey_put(sess_store *st, const char *name, const uint8_t hash[SESS_HASH_BYTES],
                        int64_t created)
{
    TIMED(WRITE, apikey_put, name, hash, created);
}

static int t_apikey_find(sess_store *st, const uint8_t hash[SESS_HASH_BYTES],
                         char name[SESS_APIKEY_NAME_MAX + 1])
{
    TIMED(READ, apikey_find, hash, name);
}

static int t_apikey_del(sess_store *st, const char *name)
{
    TIMED(WRITE, apikey_del, name);
}

static int t_apikey_list(sess_store *st, sess_apikey_cb cb, void *arg)
{
    TIMED(SCAN, apikey_list, cb, arg);
}

static int t_user_get(sess_store *st, const char *user, uint8_t *buf, size_t cap, size_t *len)
{
    TIMED(READ, user_get, user, buf, cap, len);
}

static int t_user_put(sess_store *st, const char *user, const uint8_t *rec, size_t len,
                      const uint8_t *prev, size_t prev_len)
{
    TIMED(WRITE, user_put, user, rec, len, prev, prev_len);
}

static int t_user_del(sess_store *st, const char *user)
{
    TIMED(WRITE, user_del, user);
}

static int t_user_list(sess_store *st, sess_account_cb cb, void *arg)
{
    TIMED(SCAN, user_list, cb, arg);
}

static const sess_store_ops timed_ops = {
    .name = "timed",
    .close = t_close,

    .ping = t_ping,

    .create = t_create,

    .lookup = t_lookup,

    .get = t_get,

    .touch_many = t_touch_many,

    .patch = t_patch,

    .rotate = t_rotate,

    .set_roles = t_set_roles,
    .generation = t_generation,
    .version = t_version,
    .del = t_del,

    .revoke_user = t_revoke_user,

    .list_user = t_list_user,

    .list_all = t_list_all,

    .count = t_count,

    .sweep = t_sweep,

    .prefs_get = t_prefs_get,

    .prefs_put = t_prefs_put,

    .prefs_patch = t_prefs_patch,

    .apikey_put = t_apikey_put,

    .apikey_find = t_apikey_find,

    .apikey_del = t_apikey_del,

    .apikey_list = t_apikey_list,

    .user_get = t_user_get,

    .user_put = t_user_put,

    .user_del = t_user_del,

    .user_list = t_user_list,

};

int sessd_store_timed_new(sess_store *inner, sess_store **out)
{
    timed_store *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return SESS_ENOMEM;
    t->base.ops = &timed_ops;
    t->in = inner;
    *out = &t->base;
    return 0;
}

sess_store *sessd_store_timed_inner(sess_store *st)
{
    return st->ops == &timed_ops ? inner_of(st) : st;
}
