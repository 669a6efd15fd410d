/*
 * test_store.c - the store conformance suite: every case of store.h's semantics, written once
 * and run against every backend, so that memory, lmdb and redis cannot drift apart.
 *
 * A backend is one row of `backends` below: its name, its open function, and how to prepare and
 * clean up what it needs around each test (a fresh temporary directory for lmdb). Every case gets
 * a freshly opened, empty store through the fixture and is registered once per backend, named
 * "backend/case"; the few cases about reopening run only for durable backends. Adding a backend
 * means adding one row.
 */
#include "harness.h"

#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "sessiond/crypto.h"
#include "sessiond/error.h"
#include "sessiond/record.h"
#include "sessiond/store.h"

#include "redis_helper.h"

/* ---- Backends and the fixture. ---- */

typedef struct backend backend;

typedef struct fixture {
    const backend *be;
    sess_store *st;
    sess_store_opts opts;
    char dir[64];    /* the temporary data directory of on-disk backends */
    char prefix[40]; /* redis: this test's key prefix */
} fixture;

typedef int (*store_open_fn)(const sess_store_opts *opts, sess_store **out, char *err,
                             size_t errlen);

struct backend {
    const char *name;
    store_open_fn open;
    int (*prepare)(fixture *f);  /* before open: fill f->opts; 0 or -1 */
    void (*cleanup)(fixture *f); /* after close: remove what prepare made */
    bool durable;                /* keeps everything across close and open: DURABLE_CASES too */
    int (*ready)(fixture *f);    /* may be NULL; after open: 0, or -1 when it cannot serve */
};

static int prepare_nothing(fixture *f)
{
    (void)f;
    return 0;
}

static void cleanup_nothing(fixture *f)
{
    (void)f;
}

static int prepare_tmpdir(fixture *f)
{
    snprintf(f->dir, sizeof(f->dir), "/tmp/sessiond-test-store.XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        print_error("mkdtemp(%s) failed\n", f->dir);
        return -1;
    }
    f->opts.path = f->dir;
    return 0;
}

/* lmdb with [store] fsync = batch: the same guarantees with group commit. */
static int prepare_tmpdir_batch(fixture *f)
{
    f->opts.group_commit = true;
    return prepare_tmpdir(f);
}

static int remove_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    (void)type;
    (void)ftw;
    return remove(path);
}

static void cleanup_tmpdir(fixture *f)
{
    if (f->dir[0] != '\0' && nftw(f->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
        print_error("could not remove %s\n", f->dir);
}

/* The command timeout of the conformance suite's Redis handles: the 1 s default fails a call
 * (SESS_ESTORE, as designed) when a loaded 2-core machine keeps a concurrent case's commands
 * waiting that long; timeouts themselves are tested in test_store_redis.c. */
#define TEST_REDIS_TIMEOUT_MS 5000

/* redis: the Redis of SESSD_TEST_REDIS_URL (started by scripts/check.sh), a key prefix of
 * this test's own, removed afterwards. Unset or unreachable fails the test, never skips it. */
static int prepare_redis(fixture *f)
{
    f->opts.redis_url = test_redis_url();
    if (f->opts.redis_url == NULL)
        return -1;
    test_redis_prefix(f->prefix);
    f->opts.redis_prefix = f->prefix;
    f->opts.redis_timeout_ms = TEST_REDIS_TIMEOUT_MS;
    return 0;
}

/* redis with the near cache: every repeated lookup in a case is answered from it, so the cases
 * also check that each write invalidates what it changes. */
static int prepare_redis_cache(fixture *f)
{
    f->opts.redis_cache = true;
    return prepare_redis(f);
}

/* redis-cluster: the three-master Cluster of SESSD_TEST_REDIS_CLUSTER (scripts/check.sh), with
 * the near cache, so that routing, every script's slot and the invalidations are all checked. */
static int prepare_redis_cluster(fixture *f)
{
    f->opts.redis_cluster = test_cluster_seeds();
    if (f->opts.redis_cluster == NULL)
        return -1;
    f->opts.redis_cache = true;
    test_redis_prefix(f->prefix);
    f->opts.redis_prefix = f->prefix;
    f->opts.redis_timeout_ms = TEST_REDIS_TIMEOUT_MS;
    return 0;
}

static int ready_redis(fixture *f)
{
    bool cluster = f->opts.redis_cluster != NULL;
    int r = f->st->ops->ping(f->st);
    if (r != 0) {
        print_error("redis: no answer from the Redis of %s (%s)\n",
                    cluster ? TEST_CLUSTER_ENV : TEST_REDIS_ENV, sess_errname(r));
        return -1;
    }
    if (f->opts.redis_cache && test_redis_wait_subscribed_in(cluster, f->prefix, 1, 5000) != 0) {
        print_error("redis-cache: the near cache did not subscribe within 5 s\n");
        return -1;
    }
    return 0;
}

static void cleanup_redis(fixture *f)
{
    if (f->prefix[0] != '\0' &&
        test_redis_del_prefix_in(f->opts.redis_cluster != NULL, f->prefix) != 0)
        print_error("could not remove the keys under %s\n", f->prefix);
}

static const backend backends[] = {
    {"memory", sess_store_memory_open, prepare_nothing, cleanup_nothing, false, NULL},
    {"lmdb", sess_store_lmdb_open, prepare_tmpdir, cleanup_tmpdir, true, NULL},
    {"lmdb-batch", sess_store_lmdb_open, prepare_tmpdir_batch, cleanup_tmpdir, true, NULL},
    {"redis", sess_store_redis_open, prepare_redis, cleanup_redis, true, ready_redis},
    {"redis-cache", sess_store_redis_open, prepare_redis_cache, cleanup_redis, true, ready_redis},
    {"redis-cluster", sess_store_redis_open, prepare_redis_cluster, cleanup_redis, true,
     ready_redis},
};

static int fx_setup(void **state)
{
    const backend *be = *state;
    fixture *f = calloc(1, sizeof(*f));
    char err[256] = "";
    if (f == NULL)
        return -1;
    f->be = be;
    if (be->prepare(f) != 0) {
        free(f);
        return -1;
    }
    int r = be->open(&f->opts, &f->st, err, sizeof(err));
    if (r != 0) {
        print_error("%s: open failed: %s (%s)\n", be->name, sess_errname(r), err);
        be->cleanup(f);
        free(f);
        return -1;
    }
    if (be->ready != NULL && be->ready(f) != 0) {
        sess_store_close(f->st);
        be->cleanup(f);
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    fixture *f = *state;
    sess_store_close(f->st);
    f->be->cleanup(f);
    free(f);
    return 0;
}

/* ---- Helpers. ---- */

#define T0 INT64_C(1700000000)
#define BIG 1000000

/* Calls a store operation on the fixture's store. */
#define CALL(f, op, ...) ((f)->st->ops->op((f)->st, __VA_ARGS__))

/* Asserts a sess_err result, printing both names on failure. */
#define assert_sess(expected, expr)                                                                \
    do {                                                                                           \
        int got_ = (expr), want_ = (expected);                                                     \
        if (got_ != want_)                                                                         \
            fail_msg("%s: got %s (%d), want %s (%d)", #expr, sess_errname(got_), got_,             \
                     sess_errname(want_), want_);                                                  \
    } while (0)

#define assert_i64(want, got)                                                                      \
    do {                                                                                           \
        int64_t w_ = (want), g_ = (got);                                                           \
        if (w_ != g_)                                                                              \
            fail_msg("%s: got %lld, want %lld", #got, (long long)g_, (long long)w_);               \
    } while (0)

static void assert_json(const char *want, const char *got)
{
    json_t *w = json_loads(want, JSON_DECODE_ANY, NULL);
    json_t *g = got != NULL ? json_loads(got, JSON_DECODE_ANY, NULL) : NULL;
    bool same = w != NULL && g != NULL && json_equal(w, g);
    json_decref(w);
    json_decref(g);
    if (!same)
        fail_msg("JSON differs: want %s, got %s", want, got != NULL ? got : "(null)");
}

/* A record with every field set to something recognisable. `created` drives the times. */
static void new_record(sess_record *r, const char *user, int64_t created)
{
    static const char data[] = "{\"cart\":[1,2],\"n\":1,\"s\":\"\\u00e9t\\u00e9\"}";
    sess_record_init(r);
    sess_id_new(r->id);
    sess_random(r->token_hash, sizeof(r->token_hash));
    sess_copy_bounded(r->user, sizeof(r->user), user);
    sess_copy_bounded(r->roles, sizeof(r->roles), "admin,dev");
    sess_copy_bounded(r->ip, sizeof(r->ip), "2001:db8::7");
    sess_copy_bounded(r->agent, sizeof(r->agent), "Mozilla/5.0 (X11; Linux x86_64) test");
    r->created = created;
    r->last_seen = created + 1;
    r->idle_expires = created + 1800;
    r->abs_expires = created + 86400;
    r->auth_time = created - 5;
    r->flags = SESS_REC_REMEMBER;
    sess_random(r->csrf_secret, sizeof(r->csrf_secret));
    assert_sess(0, sess_record_set_data(r, data, sizeof(data) - 1));
}

static void create_ok(fixture *f, sess_record *r, uint32_t max_per_user)
{
    uint32_t evicted = 12345;
    assert_sess(0, CALL(f, create, r, max_per_user, &evicted));
    assert_int_equal(evicted, 0);
}

static sess_record *make(fixture *f, sess_record *r, const char *user, int64_t created)
{
    new_record(r, user, created);
    create_ok(f, r, BIG);
    return r;
}

/* Every field the caller gave at creation comes back unchanged. */
static void assert_same_session(const sess_record *want, const sess_record *got)
{
    assert_memory_equal(want->id, got->id, SESS_ID_BYTES);
    assert_string_equal(want->user, got->user);
    assert_string_equal(want->roles, got->roles);
    assert_string_equal(want->ip, got->ip);
    assert_string_equal(want->agent, got->agent);
    assert_i64(want->created, got->created);
    assert_i64(want->last_seen, got->last_seen);
    assert_i64(want->idle_expires, got->idle_expires);
    assert_i64(want->abs_expires, got->abs_expires);
    assert_i64(want->auth_time, got->auth_time);
    assert_int_equal(want->flags, got->flags);
    assert_memory_equal(want->csrf_secret, got->csrf_secret, SESS_CSRF_SECRET_BYTES);
    assert_memory_equal(want->token_hash, got->token_hash, SESS_HASH_BYTES);
    assert_non_null(got->data);
    assert_int_equal(strlen(got->data), got->data_len);
    assert_json(want->data != NULL ? want->data : "{}", got->data);
}

static void assert_absent(fixture *f, const sess_record *r)
{
    sess_record out;
    sess_record_init(&out);
    assert_sess(SESS_ESESSION, CALL(f, lookup, r->token_hash, &out, &(uint64_t){0}, &(bool){0}));
    assert_sess(SESS_ESESSION, CALL(f, get, r->id, &out, &(uint64_t){0}));
}

/* Looks a session up by id, asserting success. Dispose `out`. */
static void get_ok(fixture *f, const uint8_t id[SESS_ID_BYTES], sess_record *out)
{
    uint64_t gen;
    sess_record_init(out);
    assert_sess(0, CALL(f, get, id, out, &gen));
}

static void assert_data(fixture *f, const uint8_t id[SESS_ID_BYTES], const char *want)
{
    sess_record out;
    get_ok(f, id, &out);
    assert_json(want, out.data);
    sess_record_dispose(&out);
}

static uint64_t count(fixture *f)
{
    uint64_t n = 12345;
    assert_sess(0, f->st->ops->count(f->st, &n));
    return n;
}

static void random_hash(uint8_t h[SESS_HASH_BYTES])
{
    sess_random(h, SESS_HASH_BYTES);
}

static void assert_prefs(fixture *f, const char *user, const char *want)
{
    char *json = NULL;
    size_t len = 0;
    assert_sess(0, CALL(f, prefs_get, user, &json, &len));
    assert_non_null(json);
    assert_int_equal(strlen(json), len);
    assert_json(want, json);
    free(json);
}

static int put_text(fixture *f, const char *user, const char *json, size_t max)
{
    return CALL(f, prefs_put, user, json, strlen(json), max);
}

/* Collects what a listing visits. */
struct seen {
    size_t n;
    size_t stop_after; /* 0 = never stop */
    uint8_t ids[16][SESS_ID_BYTES];
    int64_t created[16];
    uint64_t gens[16];
    char users[16][SESS_USER_MAX + 1];
};

static int collect(const sess_record *rec, uint64_t user_generation, void *arg)
{
    struct seen *s = arg;
    if (s->n < 16) {
        memcpy(s->ids[s->n], rec->id, SESS_ID_BYTES);
        s->created[s->n] = rec->created;
        s->gens[s->n] = user_generation;
        memcpy(s->users[s->n], rec->user, sizeof(rec->user));
    }
    s->n++;
    return s->stop_after != 0 && s->n >= s->stop_after;
}

static size_t seen_index(const struct seen *s, const uint8_t id[SESS_ID_BYTES])
{
    size_t found = SIZE_MAX, hits = 0;
    for (size_t i = 0; i < s->n && i < 16; i++) {
        if (memcmp(s->ids[i], id, SESS_ID_BYTES) == 0) {
            found = i;
            hits++;
        }
    }
    if (hits > 1)
        fail_msg("a session was visited %zu times", hits);
    return found;
}

/* ---- Create, lookup, get. ---- */

static void test_create_lookup_roundtrip(void **state)
{
    fixture *f = *state;
    sess_record in, out, empty;
    uint64_t gen = 999;
    bool prev = true;

    new_record(&in, "alice", T0);
    in.generation = 777; /* ignored on input */
    create_ok(f, &in, 50);
    sess_record_init(&out);
    assert_sess(0, CALL(f, lookup, in.token_hash, &out, &gen, &prev));
    assert_false(prev);
    assert_same_session(&in, &out);
    assert_int_equal(out.generation, gen);
    assert_true(sess_ct_equal(out.prev_hash, (uint8_t[SESS_HASH_BYTES]){0}, SESS_HASH_BYTES));
    sess_record_dispose(&out);

    /* Fields at their bounds, and no data at all ("{}" comes back). */
    new_record(&empty, "", T0);
    memset(empty.user, 'u', SESS_USER_MAX);
    memset(empty.roles, 'r', SESS_ROLES_MAX);
    memset(empty.ip, 'i', SESS_IP_MAX);
    memset(empty.agent, 'a', SESS_AGENT_MAX);
    empty.flags = 0;
    free(empty.data);
    empty.data = NULL;
    empty.data_len = 0;
    create_ok(f, &empty, 50);
    sess_record_init(&out);
    assert_sess(0, CALL(f, lookup, empty.token_hash, &out, &gen, &prev));
    assert_same_session(&empty, &out);
    assert_int_equal(strlen(out.user), SESS_USER_MAX);
    assert_string_equal(out.data, "{}");
    sess_record_dispose(&out);

    sess_record_dispose(&in);
    sess_record_dispose(&empty);
}

static void test_get_by_id(void **state)
{
    fixture *f = *state;
    sess_record in, out, again;
    uint8_t unknown[SESS_ID_BYTES];
    uint64_t gen = 999;

    make(f, &in, "alice", T0);
    sess_record_init(&out);
    assert_sess(0, CALL(f, get, in.id, &out, &gen));
    assert_same_session(&in, &out);
    assert_int_equal(out.generation, gen);

    /* The returned record is a copy: scribbling on it changes nothing stored. */
    memset(out.data, ' ', out.data_len);
    out.created = 1;
    get_ok(f, in.id, &again);
    assert_same_session(&in, &again);
    sess_record_dispose(&again);
    sess_record_dispose(&out);

    sess_id_new(unknown);
    sess_record_init(&out);
    assert_sess(SESS_ESESSION, CALL(f, get, unknown, &out, &gen));
    sess_record_dispose(&in);
}

static void test_lookup_unknown(void **state)
{
    fixture *f = *state;
    sess_record in, out;
    uint8_t h[SESS_HASH_BYTES];
    uint64_t gen;
    bool prev;

    random_hash(h);
    sess_record_init(&out);
    assert_sess(SESS_ESESSION, CALL(f, lookup, h, &out, &gen, &prev));
    make(f, &in, "alice", T0);
    assert_sess(SESS_ESESSION, CALL(f, lookup, h, &out, &gen, &prev));
    memset(h, 0, sizeof(h));
    assert_sess(SESS_ESESSION, CALL(f, lookup, h, &out, &gen, &prev));
    sess_record_dispose(&in);
}

/* ---- Delete. ---- */

static void test_delete_removes_everything(void **state)
{
    fixture *f = *state;
    sess_record a, b, out;
    uint8_t h2[SESS_HASH_BYTES];
    struct seen seen = {0};

    make(f, &a, "alice", T0);
    make(f, &b, "alice", T0 + 1);
    random_hash(h2);
    assert_sess(0, CALL(f, rotate, a.id, NULL, h2, T0 + 30, 0, NULL));

    assert_sess(0, CALL(f, del, a.id));
    assert_absent(f, &a);
    sess_record_init(&out);
    assert_sess(SESS_ESESSION, CALL(f, lookup, h2, &out, &(uint64_t){0}, &(bool){0}));
    assert_sess(SESS_ESESSION, CALL(f, del, a.id));
    assert_int_equal(count(f), 1);
    assert_sess(0, CALL(f, list_user, "alice", collect, &seen));
    assert_int_equal(seen.n, 1);
    assert_memory_equal(seen.ids[0], b.id, SESS_ID_BYTES);

    /* The other session is untouched. */
    sess_record_init(&out);
    assert_sess(0, CALL(f, lookup, b.token_hash, &out, &(uint64_t){0}, &(bool){0}));
    assert_same_session(&b, &out);
    sess_record_dispose(&out);
    sess_record_dispose(&a);
    sess_record_dispose(&b);
}

/* ---- Touch. ---- */

static void test_touch_deleted_creates_nothing(void **state)
{
    fixture *f = *state;
    sess_record a;
    struct seen seen = {0};

    make(f, &a, "alice", T0);
    assert_sess(0, CALL(f, del, a.id));
    assert_sess(0, CALL(f, touch_many, 1, (const uint8_t(*)[SESS_ID_BYTES])a.id,
                        &(int64_t){T0 + 60}, &(int64_t){T0 + 2000}));
    assert_absent(f, &a);
    assert_int_equal(count(f), 0);
    assert_sess(0, CALL(f, list_user, "alice", collect, &seen));
    assert_sess(0, CALL(f, list_all, collect, &seen));
    assert_int_equal(seen.n, 0);
    sess_record_dispose(&a);
}

static void test_touch_monotonic_and_capped(void **state)
{
    fixture *f = *state;
    sess_record a, b, out;
    uint8_t ids[3][SESS_ID_BYTES];
    int64_t seen[3], idle[3];

    make(f, &a, "alice", T0); /* last_seen T0+1, idle T0+1800, abs T0+86400 */
    make(f, &b, "bob", T0);

    /* Forward. */
    memcpy(ids[0], a.id, SESS_ID_BYTES);
    assert_sess(0, CALL(f, touch_many, 1, (const uint8_t(*)[SESS_ID_BYTES])ids,
                        &(int64_t){T0 + 100}, &(int64_t){T0 + 1900}));
    get_ok(f, a.id, &out);
    assert_i64(T0 + 100, out.last_seen);
    assert_i64(T0 + 1900, out.idle_expires);
    assert_json(a.data, out.data);
    sess_record_dispose(&out);

    /* Backwards: neither goes down (a late, reordered touch). */
    assert_sess(0, CALL(f, touch_many, 1, (const uint8_t(*)[SESS_ID_BYTES])ids, &(int64_t){T0 + 50},
                        &(int64_t){T0 + 1000}));
    get_ok(f, a.id, &out);
    assert_i64(T0 + 100, out.last_seen);
    assert_i64(T0 + 1900, out.idle_expires);
    sess_record_dispose(&out);

    /* Past the absolute deadline: capped at it. */
    assert_sess(0, CALL(f, touch_many, 1, (const uint8_t(*)[SESS_ID_BYTES])ids,
                        &(int64_t){T0 + 200}, &(int64_t){T0 + 999999}));
    get_ok(f, a.id, &out);
    assert_i64(T0 + 200, out.last_seen);
    assert_i64(T0 + 86400, out.idle_expires);
    assert_i64(T0 + 86400, out.abs_expires);
    sess_record_dispose(&out);

    /* A batch with an absent id in the middle: the others are applied. */
    sess_id_new(ids[1]);
    memcpy(ids[2], b.id, SESS_ID_BYTES);
    seen[0] = T0 + 300;
    idle[0] = T0 + 500;
    seen[1] = T0 + 300;
    idle[1] = T0 + 2100;
    seen[2] = T0 + 400;
    idle[2] = T0 + 2200;
    assert_sess(0, CALL(f, touch_many, 3, (const uint8_t(*)[SESS_ID_BYTES])ids, seen, idle));
    get_ok(f, a.id, &out);
    assert_i64(T0 + 300, out.last_seen);
    assert_i64(T0 + 86400, out.idle_expires);
    sess_record_dispose(&out);
    get_ok(f, b.id, &out);
    assert_i64(T0 + 400, out.last_seen);
    assert_i64(T0 + 2200, out.idle_expires);
    sess_record_dispose(&out);
    assert_int_equal(count(f), 2);

    assert_sess(0, CALL(f, touch_many, 0, (const uint8_t(*)[SESS_ID_BYTES])ids, seen, idle));
    sess_record_dispose(&a);
    sess_record_dispose(&b);
}

/* ---- Patch. ---- */

static int patch_text(fixture *f, const uint8_t id[SESS_ID_BYTES], const char *patch,
                      size_t max_data, sess_record *out)
{
    return CALL(f, patch, id, patch, strlen(patch), max_data, out);
}

static void test_patch_merge_semantics(void **state)
{
    fixture *f = *state;
    sess_record a, out;
    static const char start[] = "{\"a\":1,\"b\":{\"c\":2,\"d\":3},\"e\":\"x\",\"h\":{\"i\":1}}";

    new_record(&a, "alice", T0);
    assert_sess(0, sess_record_set_data(&a, start, sizeof(start) - 1));
    create_ok(f, &a, 50);

    sess_record_init(&out);
    assert_sess(0, patch_text(f, a.id,
                              "{\"a\":2,\"b\":{\"c\":null,\"f\":{\"g\":4}},\"e\":null,"
                              "\"h\":7,\"j\":[1,{\"k\":null}]}",
                              4096, &out));
    /* `out` is the stored record after the patch. */
    assert_memory_equal(out.id, a.id, SESS_ID_BYTES);
    assert_string_equal(out.user, "alice");
    assert_memory_equal(out.token_hash, a.token_hash, SESS_HASH_BYTES);
    assert_i64(a.abs_expires, out.abs_expires);
    assert_int_equal(strlen(out.data), out.data_len);
    assert_json("{\"a\":2,\"b\":{\"d\":3,\"f\":{\"g\":4}},\"h\":7,\"j\":[1,{\"k\":null}]}",
                out.data);
    sess_record_dispose(&out);
    assert_data(f, a.id,
                "{\"a\":2,\"b\":{\"d\":3,\"f\":{\"g\":4}},\"h\":7,\"j\":[1,{\"k\":null}]}");

    /* A scalar becomes an object; an empty patch changes nothing; out may be NULL. */
    assert_sess(0, patch_text(f, a.id, "{\"h\":{\"x\":{\"y\":null,\"z\":true}}}", 4096, NULL));
    assert_sess(0, patch_text(f, a.id, "{}", 4096, NULL));
    assert_data(f, a.id,
                "{\"a\":2,\"b\":{\"d\":3,\"f\":{\"g\":4}},\"h\":{\"x\":{\"z\":true}},"
                "\"j\":[1,{\"k\":null}]}");

    /* The rest of the record is not touched by a patch. */
    get_ok(f, a.id, &out);
    free(out.data);
    out.data = a.data;
    out.data_len = a.data_len;
    assert_same_session(&a, &out);
    out.data = NULL;
    sess_record_dispose(&out);
    sess_record_dispose(&a);
}

static void test_patch_different_keys_kept(void **state)
{
    fixture *f = *state;
    sess_record a;

    make(f, &a, "alice", T0);
    assert_sess(0, patch_text(f, a.id, "{\"k1\":\"one\"}", 4096, NULL));
    assert_sess(0, patch_text(f, a.id, "{\"k2\":\"two\"}", 4096, NULL));
    assert_data(f, a.id,
                "{\"cart\":[1,2],\"n\":1,\"s\":\"\\u00e9t\\u00e9\",\"k1\":\"one\","
                "\"k2\":\"two\"}");
    sess_record_dispose(&a);
}

static void test_patch_too_large(void **state)
{
    fixture *f = *state;
    sess_record a, out;
    char big[1100];

    new_record(&a, "alice", T0);
    free(a.data);
    a.data = NULL;
    a.data_len = 0;
    create_ok(f, &a, 50);

    /* {"k":"xxxxxxxxxx"} is 18 bytes of compact JSON: at the limit it fits, one past it not. */
    assert_sess(0, patch_text(f, a.id, "{\"k\":\"xxxxxxxxxx\"}", 18, NULL));
    assert_data(f, a.id, "{\"k\":\"xxxxxxxxxx\"}");
    sess_record_init(&out);
    assert_sess(SESS_ETOOLARGE, patch_text(f, a.id, "{\"k\":\"xxxxxxxxxxx\"}", 18, &out));
    assert_data(f, a.id, "{\"k\":\"xxxxxxxxxx\"}");

    memset(big, 'y', sizeof(big));
    memcpy(big, "{\"big\":\"", 8);
    memcpy(big + sizeof(big) - 3, "\"}", 3);
    assert_sess(SESS_ETOOLARGE, patch_text(f, a.id, big, 1024, NULL));
    assert_data(f, a.id, "{\"k\":\"xxxxxxxxxx\"}");
    assert_sess(0, patch_text(f, a.id, big, 2048, NULL));
    sess_record_dispose(&a);
}

static void test_patch_not_object(void **state)
{
    fixture *f = *state;
    sess_record a;
    static const char *const bad[] = {"[1,2]", "\"s\"", "42", "null", "{", "", "{\"a\":1}x"};

    make(f, &a, "alice", T0);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_sess(SESS_EINVAL, patch_text(f, a.id, bad[i], 4096, NULL));
        assert_data(f, a.id, a.data);
    }
    sess_record_dispose(&a);
}

static void test_patch_deleted(void **state)
{
    fixture *f = *state;
    sess_record a;
    uint8_t unknown[SESS_ID_BYTES];

    make(f, &a, "alice", T0);
    assert_sess(0, CALL(f, del, a.id));
    assert_sess(SESS_ESESSION, patch_text(f, a.id, "{\"k\":1}", 4096, NULL));
    assert_absent(f, &a);
    assert_int_equal(count(f), 0);
    sess_id_new(unknown);
    assert_sess(SESS_ESESSION, patch_text(f, unknown, "{\"k\":1}", 4096, NULL));
    assert_int_equal(count(f), 0);
    sess_record_dispose(&a);
}

/* ---- Rotate. ---- */

static void lookup_ok(fixture *f, const uint8_t hash[SESS_HASH_BYTES], sess_record *out,
                      bool want_previous)
{
    uint64_t gen;
    bool prev = !want_previous;
    sess_record_init(out);
    assert_sess(0, CALL(f, lookup, hash, out, &gen, &prev));
    assert_int_equal(prev, want_previous);
}

static void test_rotate_previous_hash(void **state)
{
    fixture *f = *state;
    sess_record a, out;
    uint8_t h2[SESS_HASH_BYTES], h3[SESS_HASH_BYTES], csrf2[SESS_CSRF_SECRET_BYTES];

    make(f, &a, "alice", T0);
    random_hash(h2);
    sess_random(csrf2, sizeof(csrf2));
    assert_sess(0, CALL(f, rotate, a.id, NULL, h2, T0 + 30, T0 + 10, csrf2));

    lookup_ok(f, h2, &out, false);
    assert_memory_equal(out.id, a.id, SESS_ID_BYTES);
    assert_memory_equal(out.token_hash, h2, SESS_HASH_BYTES);
    assert_memory_equal(out.prev_hash, a.token_hash, SESS_HASH_BYTES);
    assert_i64(T0 + 30, out.prev_until);
    assert_i64(T0 + 10, out.auth_time);
    assert_memory_equal(out.csrf_secret, csrf2, SESS_CSRF_SECRET_BYTES);
    assert_json(a.data, out.data);
    assert_string_equal(out.roles, a.roles);
    assert_i64(a.abs_expires, out.abs_expires);
    sess_record_dispose(&out);

    lookup_ok(f, a.token_hash, &out, true);
    assert_memory_equal(out.id, a.id, SESS_ID_BYTES);
    assert_memory_equal(out.token_hash, h2, SESS_HASH_BYTES);
    assert_i64(T0 + 30, out.prev_until);
    sess_record_dispose(&out);

    /* auth_time 0 and no CSRF secret keep both. */
    random_hash(h3);
    assert_sess(0, CALL(f, rotate, a.id, NULL, h3, T0 + 60, 0, NULL));
    lookup_ok(f, h3, &out, false);
    assert_i64(T0 + 10, out.auth_time);
    assert_memory_equal(out.csrf_secret, csrf2, SESS_CSRF_SECRET_BYTES);
    assert_i64(T0 + 60, out.prev_until);
    sess_record_dispose(&out);
    assert_int_equal(count(f), 1);
    sess_record_dispose(&a);
}

/* set_roles reaches every session of the user, and only theirs, flags them, keeps everything
 * else; the next rotation clears the flag and keeps the roles. */
static void test_set_roles_flags_sessions(void **state)
{
    fixture *f = *state;
    sess_record a, b, c, out;
    uint8_t h2[SESS_HASH_BYTES];

    make(f, &a, "alice", T0);
    make(f, &b, "alice", T0 + 1);
    make(f, &c, "bob", T0 + 2);
    assert_sess(0, CALL(f, set_roles, "alice", "auditor"));
    assert_sess(0, CALL(f, set_roles, "nobody", "x"));
    for (int i = 0; i < 2; i++) {
        const sess_record *x = i ? &b : &a;
        lookup_ok(f, x->token_hash, &out, false);
        assert_string_equal(out.roles, "auditor");
        assert_int_equal(out.flags, SESS_REC_REMEMBER | SESS_REC_ROLES_CHANGED);
        assert_json(x->data, out.data);
        assert_i64(x->auth_time, out.auth_time);
        assert_memory_equal(out.csrf_secret, x->csrf_secret, SESS_CSRF_SECRET_BYTES);
        sess_record_dispose(&out);
    }
    lookup_ok(f, c.token_hash, &out, false);
    assert_string_equal(out.roles, "admin,dev");
    assert_int_equal(out.flags, SESS_REC_REMEMBER);
    sess_record_dispose(&out);

    random_hash(h2);
    assert_sess(0, CALL(f, rotate, a.id, a.token_hash, h2, T0 + 30, 0, NULL));
    lookup_ok(f, h2, &out, false);
    assert_string_equal(out.roles, "auditor");
    assert_int_equal(out.flags, SESS_REC_REMEMBER);
    sess_record_dispose(&out);
    sess_record_dispose(&a);
    sess_record_dispose(&b);
    sess_record_dispose(&c);
}

static void test_rotate_twice_drops_first(void **state)
{
    fixture *f = *state;
    sess_record a, out;
    uint8_t h2[SESS_HASH_BYTES], h3[SESS_HASH_BYTES];

    make(f, &a, "alice", T0);
    random_hash(h2);
    random_hash(h3);
    assert_sess(0, CALL(f, rotate, a.id, NULL, h2, T0 + 30, 0, NULL));
    assert_sess(0, CALL(f, rotate, a.id, NULL, h3, T0 + 40, 0, NULL));

    sess_record_init(&out);
    assert_sess(SESS_ESESSION, CALL(f, lookup, a.token_hash, &out, &(uint64_t){0}, &(bool){0}));
    lookup_ok(f, h2, &out, true);
    assert_memory_equal(out.prev_hash, h2, SESS_HASH_BYTES);
    assert_memory_equal(out.token_hash, h3, SESS_HASH_BYTES);
    assert_i64(T0 + 40, out.prev_until);
    sess_record_dispose(&out);
    lookup_ok(f, h3, &out, false);
    sess_record_dispose(&out);
    sess_record_dispose(&a);
}

/* Two rotations that both looked up the same current token: only the first may win. */
static void test_rotate_expected_hash(void **state)
{
    fixture *f = *state;
    sess_record a, out;
    uint8_t h2[SESS_HASH_BYTES], h3[SESS_HASH_BYTES], seen[SESS_HASH_BYTES];

    make(f, &a, "alice", T0);
    memcpy(seen, a.token_hash, SESS_HASH_BYTES);
    random_hash(h2);
    random_hash(h3);
    assert_sess(0, CALL(f, rotate, a.id, seen, h2, T0 + 30, 0, NULL));
    assert_sess(SESS_ESESSION, CALL(f, rotate, a.id, seen, h3, T0 + 30, 0, NULL));
    sess_record_init(&out);
    assert_sess(SESS_ESESSION, CALL(f, lookup, h3, &out, &(uint64_t){0}, &(bool){0}));
    lookup_ok(f, h2, &out, false);
    assert_memory_equal(out.prev_hash, seen, SESS_HASH_BYTES);
    sess_record_dispose(&out);
    sess_record_dispose(&a);
}

static void test_rotate_absent(void **state)
{
    fixture *f = *state;
    sess_record a, out;
    uint8_t id[SESS_ID_BYTES], h[SESS_HASH_BYTES];

    sess_id_new(id);
    random_hash(h);
    assert_sess(SESS_ESESSION, CALL(f, rotate, id, NULL, h, T0 + 30, 0, NULL));
    make(f, &a, "alice", T0);
    assert_sess(0, CALL(f, del, a.id));
    assert_sess(SESS_ESESSION, CALL(f, rotate, a.id, NULL, h, T0 + 30, T0, NULL));
    sess_record_init(&out);
    assert_sess(SESS_ESESSION, CALL(f, lookup, h, &out, &(uint64_t){0}, &(bool){0}));
    assert_absent(f, &a);
    assert_int_equal(count(f), 0);
    sess_record_dispose(&a);
}

/* ---- Per-user limit and revoke-all. ---- */

static void test_evict_oldest_first(void **state)
{
    fixture *f = *state;
    sess_record x, y, z, w, v, bob, out;
    uint32_t evicted = 0;
    struct seen seen = {0};

    /* x and y share a creation time: the smaller id is the older. */
    new_record(&x, "alice", T0 + 20);
    new_record(&y, "alice", T0 + 20);
    memset(x.id, 0x02, SESS_ID_BYTES);
    memset(y.id, 0x01, SESS_ID_BYTES);
    create_ok(f, &x, 3);
    make(f, &z, "alice", T0 + 50);
    create_ok(f, &y, 3);
    make(f, &bob, "bob", T0);

    new_record(&w, "alice", T0 + 60);
    assert_sess(0, CALL(f, create, &w, 3, &evicted));
    assert_int_equal(evicted, 1);
    assert_absent(f, &y);
    lookup_ok(f, x.token_hash, &out, false);
    sess_record_dispose(&out);
    lookup_ok(f, z.token_hash, &out, false);
    sess_record_dispose(&out);
    lookup_ok(f, w.token_hash, &out, false);
    sess_record_dispose(&out);
    assert_int_equal(count(f), 4);

    /* Several at once, oldest first; other users keep theirs. */
    new_record(&v, "alice", T0 + 70);
    assert_sess(0, CALL(f, create, &v, 1, &evicted));
    assert_int_equal(evicted, 3);
    assert_absent(f, &x);
    assert_absent(f, &z);
    assert_absent(f, &w);
    assert_sess(0, CALL(f, list_user, "alice", collect, &seen));
    assert_int_equal(seen.n, 1);
    assert_memory_equal(seen.ids[0], v.id, SESS_ID_BYTES);
    lookup_ok(f, bob.token_hash, &out, false);
    sess_record_dispose(&out);
    assert_int_equal(count(f), 2);

    /* `evicted` may be NULL. */
    sess_record_dispose(&w);
    new_record(&w, "alice", T0 + 80);
    assert_sess(0, CALL(f, create, &w, 1, NULL));
    assert_absent(f, &v);
    assert_int_equal(count(f), 2);

    sess_record_dispose(&x);
    sess_record_dispose(&y);
    sess_record_dispose(&z);
    sess_record_dispose(&w);
    sess_record_dispose(&v);
    sess_record_dispose(&bob);
}

static void test_revoke_user_generation(void **state)
{
    fixture *f = *state;
    sess_record a, b, bob, out;
    uint64_t g0 = 0, g1 = 0, gen = 0, bob_gen = 0;

    make(f, &a, "alice", T0);
    make(f, &bob, "bob", T0);
    sess_record_init(&out);
    assert_sess(0, CALL(f, lookup, a.token_hash, &out, &g0, &(bool){0}));
    assert_int_equal(out.generation, g0);
    sess_record_dispose(&out);
    sess_record_init(&out);
    assert_sess(0, CALL(f, get, bob.id, &out, &bob_gen));
    sess_record_dispose(&out);

    assert_sess(0, CALL(f, revoke_user, "alice", &g1));
    assert_true(g1 > g0);
    /* The store does not judge: the session is still there, with the user's new generation. */
    sess_record_init(&out);
    assert_sess(0, CALL(f, lookup, a.token_hash, &out, &gen, &(bool){0}));
    assert_int_equal(gen, g1);
    assert_int_equal(out.generation, g0);
    sess_record_dispose(&out);
    sess_record_init(&out);
    assert_sess(0, CALL(f, get, a.id, &out, &gen));
    assert_int_equal(gen, g1);
    sess_record_dispose(&out);

    /* Other users are not affected. */
    sess_record_init(&out);
    assert_sess(0, CALL(f, get, bob.id, &out, &gen));
    assert_int_equal(gen, bob_gen);
    assert_int_equal(out.generation, bob_gen);
    sess_record_dispose(&out);

    /* A session created afterwards carries the new generation, whatever the caller said. */
    new_record(&b, "alice", T0 + 10);
    b.generation = g0;
    create_ok(f, &b, 50);
    lookup_ok(f, b.token_hash, &out, false);
    assert_int_equal(out.generation, g1);
    sess_record_dispose(&out);
    sess_record_init(&out);
    assert_sess(0, CALL(f, lookup, b.token_hash, &out, &gen, &(bool){0}));
    assert_int_equal(gen, g1);
    sess_record_dispose(&out);

    /* NULL is allowed for the new generation, and it still bumps. */
    assert_sess(0, CALL(f, revoke_user, "alice", NULL));
    sess_record_init(&out);
    assert_sess(0, CALL(f, get, b.id, &out, &gen));
    assert_true(gen > g1);
    sess_record_dispose(&out);

    sess_record_dispose(&a);
    sess_record_dispose(&b);
    sess_record_dispose(&bob);
}

static void test_revoke_user_without_sessions(void **state)
{
    fixture *f = *state;
    sess_record a, out;
    uint64_t g1 = 0, g2 = 0, gen = 0;

    assert_sess(0, CALL(f, revoke_user, "nobody", &g1));
    assert_sess(0, CALL(f, revoke_user, "nobody", &g2));
    assert_true(g2 > g1);
    assert_int_equal(count(f), 0);

    make(f, &a, "nobody", T0);
    sess_record_init(&out);
    assert_sess(0, CALL(f, lookup, a.token_hash, &out, &gen, &(bool){0}));
    assert_int_equal(out.generation, g2);
    assert_int_equal(gen, g2);
    sess_record_dispose(&out);
    sess_record_dispose(&a);
}

/* generation reads what revoke_user wrote, for users with or without anything stored, and
 * refuses a bad name. */
static void test_generation_read(void **state)
{
    fixture *f = *state;
    sess_record a;
    uint64_t g = 99, g1 = 0;
    assert_sess(0, CALL(f, generation, "nobody", &g));
    assert_int_equal(g, 0);
    assert_sess(0, CALL(f, revoke_user, "nobody", &g1));
    assert_sess(0, CALL(f, generation, "nobody", &g));
    assert_int_equal(g, g1);
    assert_true(g1 > 0);
    make(f, &a, "alice", T0);
    assert_sess(0, CALL(f, generation, "alice", &g));
    assert_int_equal(g, 0);
    assert_sess(0, CALL(f, revoke_user, "alice", &g1));
    assert_sess(0, CALL(f, generation, "alice", &g));
    assert_int_equal(g, g1);
    assert_sess(SESS_EINVAL, CALL(f, generation, "", &g));
    sess_record_dispose(&a);
}

static void test_create_after_revoke_drops_stale(void **state)
{
    fixture *f = *state;
    sess_record a, b, c, out;
    struct seen seen = {0};
    size_t removed = 0;

    make(f, &a, "alice", T0);
    make(f, &b, "alice", T0 + 1);
    assert_sess(0, CALL(f, revoke_user, "alice", NULL));
    /* No eviction is needed: the stale entries go anyway. */
    new_record(&c, "alice", T0 + 2);
    assert_sess(0, CALL(f, create, &c, 50, NULL));
    lookup_ok(f, c.token_hash, &out, false);
    sess_record_dispose(&out);

    assert_sess(0, CALL(f, list_user, "alice", collect, &seen));
    assert_int_equal(seen.n, 1);
    assert_memory_equal(seen.ids[0], c.id, SESS_ID_BYTES);

    /* Whatever create left of them, a sweep takes the rest. */
    assert_sess(0, CALL(f, sweep, T0 + 3, BIG, &removed));
    assert_int_equal(count(f), 1);
    assert_absent(f, &a);
    assert_absent(f, &b);
    sess_record_dispose(&a);
    sess_record_dispose(&b);
    sess_record_dispose(&c);
}

/* A user name is 1..SESS_USER_MAX bytes everywhere: at the limit it works, past it or empty it is
 * refused, and nothing is stored. */
static void test_user_name_bounds(void **state)
{
    fixture *f = *state;
    char longest[SESS_USER_MAX + 1], too_long[SESS_USER_MAX + 2];
    sess_record a;
    struct seen seen = {0};
    uint64_t gen = 0;
    char *json = NULL;
    size_t len = 0;

    memset(longest, 'u', SESS_USER_MAX);
    longest[SESS_USER_MAX] = '\0';
    memset(too_long, 'u', SESS_USER_MAX + 1);
    too_long[SESS_USER_MAX + 1] = '\0';

    make(f, &a, longest, T0);
    assert_sess(0, CALL(f, revoke_user, longest, &gen));
    assert_sess(0, CALL(f, list_user, longest, collect, &seen));
    assert_int_equal(seen.n, 1);
    assert_int_equal(seen.gens[0], gen);
    assert_string_equal(seen.users[0], longest);
    assert_sess(0, put_text(f, longest, "{\"theme\":\"dark\"}", 4096));
    assert_prefs(f, longest, "{\"theme\":\"dark\"}");

    assert_sess(SESS_EINVAL, CALL(f, revoke_user, too_long, &gen));
    assert_sess(SESS_EINVAL, CALL(f, list_user, too_long, collect, &seen));
    assert_sess(SESS_EINVAL, CALL(f, prefs_get, too_long, &json, &len));
    assert_sess(SESS_EINVAL, put_text(f, too_long, "{}", 4096));
    assert_sess(SESS_EINVAL, CALL(f, prefs_patch, too_long, "{}", 2, 4096, NULL, NULL));
    assert_sess(SESS_EINVAL, CALL(f, revoke_user, "", &gen));
    assert_sess(SESS_EINVAL, put_text(f, "", "{}", 4096));

    sess_record_dispose(&a);
    new_record(&a, "", T0);
    assert_sess(SESS_EINVAL, CALL(f, create, &a, 50, NULL));
    assert_absent(f, &a);
    assert_int_equal(count(f), 1);
    sess_record_dispose(&a);
}

/* ---- Listing and counting. ---- */

static void test_list_user_oldest_first(void **state)
{
    fixture *f = *state;
    sess_record r[5];
    struct seen seen = {0}, one = {.stop_after = 1}, none = {0};
    uint64_t gen = 0;

    new_record(&r[0], "alice", T0 + 30);
    new_record(&r[1], "alice", T0 + 10);
    new_record(&r[2], "alice", T0 + 20);
    new_record(&r[3], "alice", T0 + 10);
    memset(r[1].id, 0x01, SESS_ID_BYTES);
    memset(r[3].id, 0x02, SESS_ID_BYTES);
    new_record(&r[4], "bob", T0);
    for (int i = 0; i < 5; i++)
        create_ok(f, &r[i], 50);
    assert_sess(0, CALL(f, revoke_user, "alice", &gen));

    assert_sess(0, CALL(f, list_user, "alice", collect, &seen));
    assert_int_equal(seen.n, 4);
    static const int order[4] = {1, 3, 2, 0};
    for (int i = 0; i < 4; i++) {
        assert_memory_equal(seen.ids[i], r[order[i]].id, SESS_ID_BYTES);
        assert_i64(r[order[i]].created, seen.created[i]);
        assert_string_equal(seen.users[i], "alice");
        assert_int_equal(seen.gens[i], gen);
    }

    assert_sess(0, CALL(f, list_user, "alice", collect, &one));
    assert_int_equal(one.n, 1);
    assert_memory_equal(one.ids[0], r[1].id, SESS_ID_BYTES);

    assert_sess(0, CALL(f, list_user, "carol", collect, &none));
    assert_int_equal(none.n, 0);
    for (int i = 0; i < 5; i++)
        sess_record_dispose(&r[i]);
}

static void test_list_all_each_once(void **state)
{
    fixture *f = *state;
    sess_record r[6];
    struct seen seen = {0}, one = {.stop_after = 1};
    static const char *const users[6] = {"alice", "bob", "alice", "carol", "bob", "alice"};

    assert_sess(0, CALL(f, list_all, collect, &seen));
    assert_int_equal(seen.n, 0);
    for (int i = 0; i < 6; i++)
        make(f, &r[i], users[i], T0 + i);
    assert_sess(0, CALL(f, del, r[3].id));

    assert_sess(0, CALL(f, list_all, collect, &seen));
    assert_int_equal(seen.n, 5);
    for (int i = 0; i < 6; i++) {
        size_t at = seen_index(&seen, r[i].id);
        if (i == 3) {
            assert_true(at == SIZE_MAX);
            continue;
        }
        assert_true(at != SIZE_MAX);
        assert_string_equal(seen.users[at], users[i]);
        assert_i64(T0 + i, seen.created[at]);
    }
    assert_sess(0, CALL(f, list_all, collect, &one));
    assert_int_equal(one.n, 1);
    for (int i = 0; i < 6; i++)
        sess_record_dispose(&r[i]);
}

static void test_count_sessions(void **state)
{
    fixture *f = *state;
    sess_record r[4];

    assert_int_equal(count(f), 0);
    for (int i = 0; i < 3; i++)
        make(f, &r[i], "alice", T0 + i);
    assert_int_equal(count(f), 3);
    assert_sess(0, CALL(f, del, r[1].id));
    assert_int_equal(count(f), 2);
    new_record(&r[3], "alice", T0 + 10);
    assert_sess(0, CALL(f, create, &r[3], 2, NULL));
    assert_int_equal(count(f), 2);
    for (int i = 0; i < 4; i++)
        sess_record_dispose(&r[i]);
}

/* ---- Sweep. ---- */

static void test_sweep_removes_expired(void **state)
{
    fixture *f = *state;
    sess_record live, edge, idle_gone, idle_now, abs_now, old_gen, out;
    size_t removed = 99;
    const int64_t now = T0 + 100;

    new_record(&live, "alice", T0);
    live.idle_expires = T0 + 1000;
    live.abs_expires = T0 + 2000;
    new_record(&edge, "dave", T0);
    edge.idle_expires = now + 1; /* still live for one more second */
    edge.abs_expires = now + 1;
    new_record(&idle_gone, "alice", T0 + 1);
    idle_gone.idle_expires = T0 + 50;
    new_record(&idle_now, "bob", T0);
    idle_now.idle_expires = now; /* refused from this second on */
    new_record(&abs_now, "bob", T0 + 1);
    abs_now.idle_expires = T0 + 1000;
    abs_now.abs_expires = now;
    new_record(&old_gen, "carol", T0);
    sess_record *all[] = {&live, &edge, &idle_gone, &idle_now, &abs_now, &old_gen};
    for (size_t i = 0; i < 6; i++)
        create_ok(f, all[i], 50);
    assert_sess(0, CALL(f, revoke_user, "carol", NULL));

    assert_sess(0, CALL(f, sweep, now, BIG, &removed));
    assert_int_equal(removed, 4);
    assert_int_equal(count(f), 2);
    assert_absent(f, &idle_gone);
    assert_absent(f, &idle_now);
    assert_absent(f, &abs_now);
    assert_absent(f, &old_gen);
    lookup_ok(f, live.token_hash, &out, false);
    assert_same_session(&live, &out);
    sess_record_dispose(&out);
    lookup_ok(f, edge.token_hash, &out, false);
    sess_record_dispose(&out);

    assert_sess(0, CALL(f, sweep, now, BIG, &removed));
    assert_int_equal(removed, 0);
    assert_int_equal(count(f), 2);
    assert_sess(0, CALL(f, sweep, now + 1, BIG, &removed));
    assert_int_equal(removed, 1);
    assert_absent(f, &edge);
    for (size_t i = 0; i < 6; i++)
        sess_record_dispose(all[i]);
}

static void test_sweep_respects_max_items(void **state)
{
    fixture *f = *state;
    sess_record r[6];
    size_t removed = 99;

    for (int i = 0; i < 6; i++) {
        new_record(&r[i], i % 2 ? "alice" : "bob", T0 + i);
        r[i].idle_expires = i == 5 ? T0 + 5000 : T0 + 10;
        create_ok(f, &r[i], 50);
    }
    assert_sess(0, CALL(f, sweep, T0 + 100, 0, &removed));
    assert_int_equal(removed, 0);
    assert_int_equal(count(f), 6);
    assert_sess(0, CALL(f, sweep, T0 + 100, 2, &removed));
    assert_int_equal(removed, 2);
    assert_int_equal(count(f), 4);
    assert_sess(0, CALL(f, sweep, T0 + 100, 2, &removed));
    assert_int_equal(removed, 2);
    assert_int_equal(count(f), 2);
    assert_sess(0, CALL(f, sweep, T0 + 100, 2, &removed));
    assert_int_equal(removed, 1);
    assert_int_equal(count(f), 1);
    assert_sess(0, CALL(f, sweep, T0 + 100, 2, &removed));
    assert_int_equal(removed, 0);
    assert_int_equal(count(f), 1);
    assert_data(f, r[5].id, r[5].data);
    for (int i = 0; i < 6; i++)
        sess_record_dispose(&r[i]);
}

static void test_sweep_drops_ended_previous_hash(void **state)
{
    fixture *f = *state;
    sess_record a, out;
    uint8_t h2[SESS_HASH_BYTES];
    size_t removed = 99;

    make(f, &a, "alice", T0);
    random_hash(h2);
    assert_sess(0, CALL(f, rotate, a.id, NULL, h2, T0 + 30, 0, NULL));

    assert_sess(0, CALL(f, sweep, T0 + 29, BIG, &removed));
    assert_int_equal(removed, 0);
    lookup_ok(f, a.token_hash, &out, true);
    sess_record_dispose(&out);

    assert_sess(0, CALL(f, sweep, T0 + 30, BIG, &removed));
    assert_int_equal(removed, 0);
    sess_record_init(&out);
    assert_sess(SESS_ESESSION, CALL(f, lookup, a.token_hash, &out, &(uint64_t){0}, &(bool){0}));
    lookup_ok(f, h2, &out, false);
    assert_memory_equal(out.id, a.id, SESS_ID_BYTES);
    sess_record_dispose(&out);
    assert_int_equal(count(f), 1);
    sess_record_dispose(&a);
}

/* ---- Preferences. ---- */

static void test_prefs_get_put(void **state)
{
    fixture *f = *state;
    char *json = NULL;
    size_t len = 0;

    assert_sess(SESS_ENOTFOUND, CALL(f, prefs_get, "alice", &json, &len));
    assert_sess(0, put_text(f, "alice", "{\"language\":\"en\",\"theme\":\"dark\"}", 4096));
    assert_prefs(f, "alice", "{\"language\":\"en\",\"theme\":\"dark\"}");

    /* put replaces the whole object. */
    assert_sess(0, put_text(f, "alice", "{\"font_size\":12}", 4096));
    assert_prefs(f, "alice", "{\"font_size\":12}");

    static const char *const bad[] = {"[1]", "\"en\"", "null", "{", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_sess(SESS_EINVAL, put_text(f, "alice", bad[i], 4096));
        assert_prefs(f, "alice", "{\"font_size\":12}");
    }
    assert_sess(SESS_ENOTFOUND, CALL(f, prefs_get, "bob", &json, &len));
    assert_sess(SESS_EINVAL, put_text(f, "bob", "[]", 4096));
    assert_sess(SESS_ENOTFOUND, CALL(f, prefs_get, "bob", &json, &len));
}

static void test_prefs_patch(void **state)
{
    fixture *f = *state;
    char *res = NULL;
    size_t len = 0;
    static const char p1[] = "{\"language\":\"de\",\"theme\":\"light\"}";

    assert_sess(0, CALL(f, prefs_patch, "alice", p1, strlen(p1), 4096, &res, &len));
    assert_non_null(res);
    assert_int_equal(strlen(res), len);
    assert_json(p1, res);
    free(res);
    assert_prefs(f, "alice", p1);

    static const char p2[] = "{\"theme\":\"dark\",\"font_size\":\"large\",\"language\":null}";
    res = NULL;
    assert_sess(0, CALL(f, prefs_patch, "alice", p2, strlen(p2), 4096, &res, &len));
    assert_json("{\"theme\":\"dark\",\"font_size\":\"large\"}", res);
    free(res);
    assert_prefs(f, "alice", "{\"theme\":\"dark\",\"font_size\":\"large\"}");

    static const char p3[] = "{\"theme\":\"system\"}";
    assert_sess(0, CALL(f, prefs_patch, "alice", p3, strlen(p3), 4096, NULL, NULL));
    assert_prefs(f, "alice", "{\"theme\":\"system\",\"font_size\":\"large\"}");

    static const char bad[] = "[\"theme\"]";
    assert_sess(SESS_EINVAL, CALL(f, prefs_patch, "alice", bad, strlen(bad), 4096, NULL, NULL));
    assert_prefs(f, "alice", "{\"theme\":\"system\",\"font_size\":\"large\"}");
    assert_sess(SESS_EINVAL, CALL(f, prefs_patch, "bob", bad, strlen(bad), 4096, NULL, NULL));
    assert_sess(SESS_ENOTFOUND, CALL(f, prefs_get, "bob", &res, &len));
}

static void test_prefs_too_large(void **state)
{
    fixture *f = *state;
    char *res = NULL;
    size_t len = 0;

    /* {"a":"xxxx"} is 12 bytes: at the limit it fits, one past it not. */
    assert_sess(0, put_text(f, "alice", "{\"a\":\"xxxx\"}", 12));
    assert_prefs(f, "alice", "{\"a\":\"xxxx\"}");
    assert_sess(SESS_ETOOLARGE, put_text(f, "alice", "{\"a\":\"xxxxx\"}", 12));
    assert_prefs(f, "alice", "{\"a\":\"xxxx\"}");

    static const char grow[] = "{\"b\":1}";
    assert_sess(SESS_ETOOLARGE, CALL(f, prefs_patch, "alice", grow, strlen(grow), 12, &res, &len));
    assert_prefs(f, "alice", "{\"a\":\"xxxx\"}");
    assert_sess(0, CALL(f, prefs_patch, "alice", grow, strlen(grow), 18, &res, &len));
    assert_json("{\"a\":\"xxxx\",\"b\":1}", res);
    free(res);

    assert_sess(SESS_ETOOLARGE, CALL(f, prefs_patch, "bob", grow, strlen(grow), 6, NULL, NULL));
    assert_sess(SESS_ENOTFOUND, CALL(f, prefs_get, "bob", &res, &len));
}

/* ---- API keys. ---- */

struct keys_seen {
    size_t n;
    char names[8][SESS_APIKEY_NAME_MAX + 1];
    int64_t created[8];
};

static int collect_key(const char *name, int64_t created, void *arg)
{
    struct keys_seen *k = arg;
    if (k->n < 8) {
        snprintf(k->names[k->n], sizeof(k->names[0]), "%s", name);
        k->created[k->n] = created;
    }
    k->n++;
    return 0;
}

static void test_apikey_lifecycle(void **state)
{
    fixture *f = *state;
    uint8_t h1[SESS_HASH_BYTES], h2[SESS_HASH_BYTES], h3[SESS_HASH_BYTES];
    char name[SESS_APIKEY_NAME_MAX + 1], longest[SESS_APIKEY_NAME_MAX + 1];
    struct keys_seen seen = {0}, after = {0};

    random_hash(h1);
    random_hash(h2);
    random_hash(h3);
    memset(longest, 'k', SESS_APIKEY_NAME_MAX);
    longest[SESS_APIKEY_NAME_MAX] = '\0';

    assert_sess(0, CALL(f, apikey_list, collect_key, &seen));
    assert_int_equal(seen.n, 0);
    assert_sess(0, CALL(f, apikey_put, "deploy", h1, T0));
    assert_sess(0, CALL(f, apikey_put, longest, h2, T0 + 1));
    assert_sess(0, CALL(f, apikey_find, h1, name));
    assert_string_equal(name, "deploy");
    assert_sess(0, CALL(f, apikey_find, h2, name));
    assert_string_equal(name, longest);
    assert_sess(SESS_ENOTFOUND, CALL(f, apikey_find, h3, name));

    /* A taken name is refused and stores nothing. */
    assert_sess(SESS_EEXIST, CALL(f, apikey_put, "deploy", h3, T0 + 2));
    assert_sess(SESS_ENOTFOUND, CALL(f, apikey_find, h3, name));
    assert_sess(0, CALL(f, apikey_find, h1, name));
    assert_string_equal(name, "deploy");

    assert_sess(0, CALL(f, apikey_list, collect_key, &seen));
    assert_int_equal(seen.n, 2);
    for (size_t i = 0; i < 2; i++) {
        bool deploy = strcmp(seen.names[i], "deploy") == 0;
        assert_true(deploy || strcmp(seen.names[i], longest) == 0);
        assert_i64(deploy ? T0 : T0 + 1, seen.created[i]);
    }
    assert_string_not_equal(seen.names[0], seen.names[1]);

    assert_sess(0, CALL(f, apikey_del, "deploy"));
    assert_sess(SESS_ENOTFOUND, CALL(f, apikey_find, h1, name));
    assert_sess(SESS_ENOTFOUND, CALL(f, apikey_del, "deploy"));
    assert_sess(SESS_ENOTFOUND, CALL(f, apikey_del, "never"));
    assert_sess(0, CALL(f, apikey_list, collect_key, &after));
    assert_int_equal(after.n, 1);
    assert_string_equal(after.names[0], longest);

    /* The name is free again, and so is the old hash. */
    assert_sess(0, CALL(f, apikey_put, "deploy", h1, T0 + 3));
    assert_sess(0, CALL(f, apikey_find, h1, name));
    assert_string_equal(name, "deploy");
}

/* ---- User accounts: opaque records with create-only and compare-and-replace writes. ---- */

static void assert_account(fixture *f, const char *user, const char *want)
{
    uint8_t buf[SESS_ACCOUNT_MAX];
    size_t len = 0;
    assert_sess(0, CALL(f, user_get, user, buf, sizeof(buf), &len));
    assert_int_equal(len, strlen(want));
    assert_memory_equal(buf, want, len);
}

#define ACCT(s) ((const uint8_t *)(s)), strlen(s)

static void test_account_lifecycle(void **state)
{
    fixture *f = *state;
    uint8_t buf[64];
    size_t len = 0;

    assert_sess(SESS_ENOTFOUND, CALL(f, user_get, "alice", buf, sizeof(buf), &len));
    assert_sess(0, CALL(f, user_put, "alice", ACCT("v1"), NULL, 0));
    assert_account(f, "alice", "v1");
    /* Create refuses a taken name and changes nothing. */
    assert_sess(SESS_EEXIST, CALL(f, user_put, "alice", ACCT("other"), NULL, 0));
    assert_account(f, "alice", "v1");
    /* Replace needs the record as it is now. */
    assert_sess(0, CALL(f, user_put, "alice", ACCT("v2"), ACCT("v1")));
    assert_account(f, "alice", "v2");
    assert_sess(SESS_ECONFLICT, CALL(f, user_put, "alice", ACCT("v3"), ACCT("v1")));
    assert_sess(SESS_ECONFLICT, CALL(f, user_put, "alice", ACCT("v3"), ACCT("v")));
    assert_account(f, "alice", "v2");
    /* A buffer too small is an error, not a truncation. */
    assert_sess(SESS_ETOOLARGE, CALL(f, user_get, "alice", buf, 1, &len));

    assert_sess(0, CALL(f, user_del, "alice"));
    assert_sess(SESS_ENOTFOUND, CALL(f, user_get, "alice", buf, sizeof(buf), &len));
    assert_sess(SESS_ENOTFOUND, CALL(f, user_del, "alice"));
    /* A deleted account stays deleted: a late replace creates nothing. */
    assert_sess(SESS_ENOTFOUND, CALL(f, user_put, "alice", ACCT("v3"), ACCT("v2")));
    assert_sess(SESS_ENOTFOUND, CALL(f, user_get, "alice", buf, sizeof(buf), &len));
    assert_sess(0, CALL(f, user_put, "alice", ACCT("again"), NULL, 0));
    assert_account(f, "alice", "again");
}

static void test_account_bounds(void **state)
{
    fixture *f = *state;
    static uint8_t big[SESS_ACCOUNT_MAX + 1], buf[SESS_ACCOUNT_MAX];
    char longest[SESS_USER_MAX + 2];
    size_t len = 0;

    memset(big, 'r', sizeof(big));
    memset(longest, 'u', sizeof(longest));
    longest[SESS_USER_MAX] = '\0';
    assert_sess(0, CALL(f, user_put, longest, big, SESS_ACCOUNT_MAX, NULL, 0));
    assert_sess(0, CALL(f, user_get, longest, buf, sizeof(buf), &len));
    assert_int_equal(len, SESS_ACCOUNT_MAX);
    assert_sess(SESS_EINVAL, CALL(f, user_put, "bob", big, SESS_ACCOUNT_MAX + 1, NULL, 0));
    assert_sess(SESS_EINVAL, CALL(f, user_put, "bob", big, 0, NULL, 0));
    /* A replace one byte past the bound is refused before it is compared. */
    assert_sess(SESS_EINVAL,
                CALL(f, user_put, longest, big, SESS_ACCOUNT_MAX + 1, big, SESS_ACCOUNT_MAX));
    assert_sess(0, CALL(f, user_put, longest, big, SESS_ACCOUNT_MAX - 1, big, SESS_ACCOUNT_MAX));
    assert_sess(0, CALL(f, user_get, longest, buf, sizeof(buf), &len));
    assert_int_equal(len, SESS_ACCOUNT_MAX - 1);
    assert_sess(SESS_ENOTFOUND, CALL(f, user_get, "bob", buf, sizeof(buf), &len));

    longest[SESS_USER_MAX] = 'u';
    longest[SESS_USER_MAX + 1] = '\0';
    assert_sess(SESS_EINVAL, CALL(f, user_put, longest, ACCT("x"), NULL, 0));
    assert_sess(SESS_EINVAL, CALL(f, user_get, longest, buf, sizeof(buf), &len));
    assert_sess(SESS_EINVAL, CALL(f, user_del, longest));
    assert_sess(SESS_EINVAL, CALL(f, user_put, "", ACCT("x"), NULL, 0));
    assert_sess(SESS_EINVAL, CALL(f, user_get, "", buf, sizeof(buf), &len));
}

struct accounts_seen {
    size_t n;
    char names[8][SESS_USER_MAX + 1];
    char recs[8][16];
    fixture *del_from; /* when set, the callback deletes each account it sees */
};

static int collect_account(const char *user, const uint8_t *rec, size_t len, void *arg)
{
    struct accounts_seen *a = arg;
    if (a->n < 8) {
        snprintf(a->names[a->n], sizeof(a->names[0]), "%s", user);
        snprintf(a->recs[a->n], sizeof(a->recs[0]), "%.*s", (int)len, (const char *)rec);
    }
    a->n++;
    if (a->del_from != NULL)
        assert_sess(0, a->del_from->st->ops->user_del(a->del_from->st, user));
    return 0;
}

static void test_account_list(void **state)
{
    fixture *f = *state;
    struct accounts_seen seen = {0}, after = {0}, none = {0};

    assert_sess(0, CALL(f, user_list, collect_account, &none));
    assert_int_equal(none.n, 0);
    assert_sess(0, CALL(f, user_put, "carol", ACCT("c"), NULL, 0));
    assert_sess(0, CALL(f, user_put, "alice", ACCT("a"), NULL, 0));
    assert_sess(0, CALL(f, user_put, "bob", ACCT("b"), NULL, 0));
    /* Preferences and generations are no accounts. */
    assert_sess(0, put_text(f, "dave", "{\"theme\":\"dark\"}", 4096));
    assert_sess(0, CALL(f, revoke_user, "erin", NULL));

    seen.del_from = f; /* the callback may call the store */
    assert_sess(0, CALL(f, user_list, collect_account, &seen));
    assert_int_equal(seen.n, 3);
    assert_string_equal(seen.names[0], "alice");
    assert_string_equal(seen.recs[0], "a");
    assert_string_equal(seen.names[1], "bob");
    assert_string_equal(seen.names[2], "carol");
    assert_string_equal(seen.recs[2], "c");
    assert_sess(0, CALL(f, user_list, collect_account, &after));
    assert_int_equal(after.n, 0);
}

/* Accounts, sessions, generations and preferences of one name live side by side. */
static void test_account_independent(void **state)
{
    fixture *f = *state;
    sess_record a, out;
    uint64_t gen = 0;

    make(f, &a, "alice", T0);
    assert_sess(0, put_text(f, "alice", "{\"theme\":\"dark\"}", 4096));
    assert_sess(0, CALL(f, user_put, "alice", ACCT("acct"), NULL, 0));
    assert_sess(0, CALL(f, revoke_user, "alice", &gen));
    assert_account(f, "alice", "acct");
    assert_sess(0, CALL(f, user_del, "alice"));
    assert_prefs(f, "alice", "{\"theme\":\"dark\"}");
    get_ok(f, a.id, &out);
    assert_int_equal(out.generation, 0);
    sess_record_dispose(&out);
    uint64_t gen2 = 0;
    assert_sess(0, CALL(f, revoke_user, "alice", &gen2));
    assert_int_equal(gen2, gen + 1);
    /* Deleting every session leaves the account alone. */
    assert_sess(0, CALL(f, user_put, "alice", ACCT("acct2"), NULL, 0));
    assert_sess(0, CALL(f, del, a.id));
    assert_account(f, "alice", "acct2");
    sess_record_dispose(&a);
}

/* Threads increment a counter held in one account by read + compare-and-replace, retrying on
 * conflict: no increment may be lost. */
#define CAS_THREADS 6
#define CAS_ROUNDS 30

struct cas_thread {
    fixture *f;
    int failures;
};

static void *cas_thread(void *arg)
{
    struct cas_thread *t = arg;
    for (int i = 0; i < CAS_ROUNDS; i++) {
        for (;;) {
            uint8_t cur[32], next[32];
            size_t len = 0;
            if (CALL(t->f, user_get, "counter", cur, sizeof(cur) - 1, &len) != 0) {
                t->failures++;
                break;
            }
            cur[len] = '\0';
            int n = snprintf((char *)next, sizeof(next), "%ld", strtol((char *)cur, NULL, 10) + 1);
            int r = CALL(t->f, user_put, "counter", next, (size_t)n, cur, len);
            if (r == 0)
                break;
            if (r != SESS_ECONFLICT) {
                t->failures++;
                break;
            }
        }
    }
    return NULL;
}

static void test_account_concurrent_replace(void **state)
{
    fixture *f = *state;
    pthread_t th[CAS_THREADS];
    struct cas_thread t[CAS_THREADS];
    char want[16];

    assert_sess(0, CALL(f, user_put, "counter", ACCT("0"), NULL, 0));
    for (int i = 0; i < CAS_THREADS; i++) {
        t[i] = (struct cas_thread){.f = f};
        assert_int_equal(pthread_create(&th[i], NULL, cas_thread, &t[i]), 0);
    }
    join_all(th, CAS_THREADS);
    for (int i = 0; i < CAS_THREADS; i++)
        assert_int_equal(t[i].failures, 0);
    snprintf(want, sizeof(want), "%d", CAS_THREADS * CAS_ROUNDS);
    assert_account(f, "counter", want);
}

/* ---- Concurrency and readiness. ---- */

#define PATCH_THREADS 8
#define PATCH_ROUNDS 25

struct patcher {
    fixture *f;
    const uint8_t *id;
    int index;
    int failures;
    int last_err; /* the sess_err of the last failed patch */
};

static void assert_no_patch_failures(const struct patcher *p)
{
    for (int i = 0; i < PATCH_THREADS; i++)
        if (p[i].failures != 0)
            fail_msg("patch thread %d: %d of %d patches failed, the last with %s", i, p[i].failures,
                     PATCH_ROUNDS, sess_errname(p[i].last_err));
}

static void *patch_thread(void *arg)
{
    struct patcher *p = arg;
    char patch[64];
    for (int i = 0; i < PATCH_ROUNDS; i++) {
        snprintf(patch, sizeof(patch), "{\"t%d\":%d}", p->index, i);
        int r = CALL(p->f, patch, p->id, patch, strlen(patch), 4096, NULL);
        if (r != 0) {
            p->failures++;
            p->last_err = r;
        }
    }
    return NULL;
}

static void test_concurrent_patches(void **state)
{
    fixture *f = *state;
    sess_record a, out;
    pthread_t th[PATCH_THREADS];
    struct patcher p[PATCH_THREADS];

    make(f, &a, "alice", T0);
    for (int i = 0; i < PATCH_THREADS; i++) {
        p[i] = (struct patcher){.f = f, .id = a.id, .index = i};
        assert_int_equal(pthread_create(&th[i], NULL, patch_thread, &p[i]), 0);
    }
    join_all(th, PATCH_THREADS);
    assert_no_patch_failures(p);

    get_ok(f, a.id, &out);
    json_t *data = json_loads(out.data, 0, NULL);
    assert_non_null(data);
    for (int i = 0; i < PATCH_THREADS; i++) {
        char key[16];
        snprintf(key, sizeof(key), "t%d", i);
        json_t *v = json_object_get(data, key);
        if (!json_is_integer(v) || json_integer_value(v) != PATCH_ROUNDS - 1)
            fail_msg("key %s lost or stale in %s", key, out.data);
    }
    assert_non_null(json_object_get(data, "cart"));
    json_decref(data);
    sess_record_dispose(&out);
    sess_record_dispose(&a);
}

/* Patches that merge into the same object-valued key, from several threads: every nested key
 * survives (a store that merges outside its lock must check that nobody changed the key). */
static void *nested_patch_thread(void *arg)
{
    struct patcher *p = arg;
    char patch[64];
    for (int i = 0; i < PATCH_ROUNDS; i++) {
        snprintf(patch, sizeof(patch), "{\"o\":{\"t%d\":%d},\"p%d\":%d}", p->index, i, p->index, i);
        int r = CALL(p->f, patch, p->id, patch, strlen(patch), 4096, NULL);
        if (r != 0) {
            p->failures++;
            p->last_err = r;
        }
    }
    return NULL;
}

static void test_concurrent_nested_patches(void **state)
{
    fixture *f = *state;
    sess_record a, out;
    pthread_t th[PATCH_THREADS];
    struct patcher p[PATCH_THREADS];

    make(f, &a, "alice", T0);
    for (int i = 0; i < PATCH_THREADS; i++) {
        p[i] = (struct patcher){.f = f, .id = a.id, .index = i};
        assert_int_equal(pthread_create(&th[i], NULL, nested_patch_thread, &p[i]), 0);
    }
    join_all(th, PATCH_THREADS);
    assert_no_patch_failures(p);
    get_ok(f, a.id, &out);
    json_t *data = json_loads(out.data, 0, NULL);
    json_t *o = json_object_get(data, "o");
    assert_true(json_is_object(o));
    for (int i = 0; i < PATCH_THREADS; i++) {
        char key[16];
        snprintf(key, sizeof(key), "t%d", i);
        json_t *v = json_object_get(o, key);
        if (!json_is_integer(v) || json_integer_value(v) != PATCH_ROUNDS - 1)
            fail_msg("nested key %s lost or stale in %s", key, out.data);
        snprintf(key, sizeof(key), "p%d", i);
        v = json_object_get(data, key);
        if (!json_is_integer(v) || json_integer_value(v) != PATCH_ROUNDS - 1)
            fail_msg("key %s lost or stale in %s", key, out.data);
    }
    json_decref(data);
    sess_record_dispose(&out);
    sess_record_dispose(&a);
}

/* max_data counts the compact JSON exactly as written, escapes included: a key and values with
 * quotes, backslashes, control characters and non-ASCII text fit at their exact size and not one
 * byte below it. */
static void test_patch_size_counts_escapes(void **state)
{
    fixture *f = *state;
    sess_record a;
    static const char patch[] =
        "{\"q\\\"k\\\\\":\"a\\nb\\u0001\u00e9\",\"o\":{\"x\\t\":[\"\\\"\"]}}";
    json_t *v = json_loads(patch, 0, NULL);
    assert_non_null(v);
    char *text = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
    size_t exact = strlen(text);
    free(text);
    json_decref(v);

    new_record(&a, "alice", T0);
    free(a.data);
    a.data = NULL;
    a.data_len = 0;
    create_ok(f, &a, 50);
    assert_sess(SESS_ETOOLARGE, patch_text(f, a.id, patch, exact - 1, NULL));
    assert_data(f, a.id, "{}");
    assert_sess(0, patch_text(f, a.id, patch, exact, NULL));
    assert_data(f, a.id, patch);
    /* Replacing a member with one of equal size stays within the bound. */
    assert_sess(0, patch_text(f, a.id, "{\"o\":{\"x\\t\":null,\"y\\t\":[\"\\\"\"]}}", exact, NULL));
    sess_record_dispose(&a);
}

/* Lookups stay exact while other threads create, patch and delete sessions. */
#define READERS 4
#define WRITERS 2
#define WRITER_ROUNDS 40

struct rw_shared {
    fixture *f;
    const sess_record *stable;
    int writers_left; /* guarded by `mu` */
    pthread_mutex_t mu;
};

struct rw_thread {
    struct rw_shared *sh;
    int index;
    long rounds;
    int failures;
};

static bool writers_running(struct rw_shared *sh)
{
    pthread_mutex_lock(&sh->mu);
    bool running = sh->writers_left > 0;
    pthread_mutex_unlock(&sh->mu);
    return running;
}

static void *reader_thread(void *arg)
{
    struct rw_thread *t = arg;
    fixture *f = t->sh->f;
    uint8_t unknown[SESS_HASH_BYTES];
    random_hash(unknown);
    do {
        sess_record out;
        uint64_t gen;
        bool prev = true;
        sess_record_init(&out);
        if (CALL(f, lookup, t->sh->stable->token_hash, &out, &gen, &prev) != 0 || prev ||
            memcmp(out.id, t->sh->stable->id, SESS_ID_BYTES) != 0 ||
            strcmp(out.user, t->sh->stable->user) != 0 || strcmp(out.data, "{}") == 0)
            t->failures++;
        sess_record_dispose(&out);
        if (CALL(f, lookup, unknown, &out, &gen, &prev) != SESS_ESESSION)
            t->failures++;
        t->rounds++;
    } while (writers_running(t->sh) || t->rounds < 100);
    return NULL;
}

static void *writer_thread(void *arg)
{
    struct rw_thread *t = arg;
    fixture *f = t->sh->f;
    char user[16];
    snprintf(user, sizeof(user), "writer%d", t->index);
    for (int i = 0; i < WRITER_ROUNDS; i++) {
        sess_record r;
        new_record(&r, user, T0 + i);
        if (CALL(f, create, &r, 3, NULL) != 0 ||
            CALL(f, patch, r.id, "{\"i\":1}", 7, 4096, NULL) != 0 ||
            (i % 2 == 0 && CALL(f, del, r.id) != 0))
            t->failures++;
        sess_record_dispose(&r);
        t->rounds++;
    }
    pthread_mutex_lock(&t->sh->mu);
    t->sh->writers_left--;
    pthread_mutex_unlock(&t->sh->mu);
    return NULL;
}

static void test_concurrent_lookups_and_writes(void **state)
{
    fixture *f = *state;
    sess_record stable;
    pthread_t th[READERS + WRITERS];
    struct rw_thread t[READERS + WRITERS];
    struct rw_shared sh = {.f = f, .stable = &stable, .writers_left = WRITERS};
    struct seen seen = {0};

    pthread_mutex_init(&sh.mu, NULL);
    make(f, &stable, "alice", T0);
    for (int i = 0; i < READERS + WRITERS; i++) {
        t[i] = (struct rw_thread){.sh = &sh, .index = i};
        assert_int_equal(
            pthread_create(&th[i], NULL, i < READERS ? reader_thread : writer_thread, &t[i]), 0);
    }
    join_all(th, READERS + WRITERS);
    for (int i = 0; i < READERS + WRITERS; i++) {
        if (t[i].failures != 0)
            fail_msg("%s thread %d: %d failures in %ld rounds", i < READERS ? "reader" : "writer",
                     i, t[i].failures, t[i].rounds);
    }
    pthread_mutex_destroy(&sh.mu);
    /* Each writer kept its odd rounds, bounded to its newest three. */
    assert_int_equal(count(f), 1 + WRITERS * 3);
    assert_sess(0, CALL(f, list_user, "writer4", collect, &seen));
    assert_int_equal(seen.n, 3);
    assert_i64(T0 + WRITER_ROUNDS - 5, seen.created[0]);
    assert_i64(T0 + WRITER_ROUNDS - 1, seen.created[2]);
    sess_record_dispose(&stable);
}

/* ---- Durable backends: everything acknowledged is there after closing and opening again. ---- */

static void reopen(fixture *f)
{
    char err[256] = "";
    sess_store_close(f->st);
    f->st = NULL;
    int r = f->be->open(&f->opts, &f->st, err, sizeof(err));
    if (r != 0)
        fail_msg("%s: reopen failed: %s (%s)", f->be->name, sess_errname(r), err);
}

static void test_reopen_keeps_everything(void **state)
{
    fixture *f = *state;
    sess_record a, b, c, out;
    uint8_t h2[SESS_HASH_BYTES], key[SESS_HASH_BYTES];
    char name[SESS_APIKEY_NAME_MAX + 1];
    uint64_t gen = 0, gen_after = 0;
    struct seen seen = {0};

    make(f, &a, "alice", T0);
    make(f, &b, "alice", T0 + 1);
    make(f, &c, "bob", T0 + 2);
    random_hash(h2);
    random_hash(key);
    assert_sess(0, CALL(f, rotate, a.id, NULL, h2, T0 + 30, T0 + 3, NULL));
    assert_sess(0, patch_text(f, a.id, "{\"n\":2,\"z\":true}", 4096, NULL));
    assert_sess(0, CALL(f, touch_many, 1, (const uint8_t(*)[SESS_ID_BYTES])b.id,
                        &(int64_t){T0 + 99}, &(int64_t){T0 + 1999}));
    assert_sess(0, CALL(f, del, c.id));
    assert_sess(0, CALL(f, revoke_user, "bob", &gen));
    assert_sess(0, put_text(f, "alice", "{\"theme\":\"dark\"}", 4096));
    assert_sess(0, CALL(f, apikey_put, "deploy", key, T0));
    assert_sess(0, CALL(f, user_put, "carol", ACCT("account"), NULL, 0));

    reopen(f);
    assert_account(f, "carol", "account");
    assert_int_equal(count(f), 2);
    lookup_ok(f, h2, &out, false);
    assert_memory_equal(out.prev_hash, a.token_hash, SESS_HASH_BYTES);
    assert_i64(T0 + 3, out.auth_time);
    assert_json("{\"cart\":[1,2],\"n\":2,\"s\":\"\\u00e9t\\u00e9\",\"z\":true}", out.data);
    sess_record_dispose(&out);
    lookup_ok(f, a.token_hash, &out, true);
    sess_record_dispose(&out);
    lookup_ok(f, b.token_hash, &out, false);
    assert_i64(T0 + 99, out.last_seen);
    assert_i64(T0 + 1999, out.idle_expires);
    b.last_seen = out.last_seen;
    b.idle_expires = out.idle_expires;
    assert_same_session(&b, &out);
    sess_record_dispose(&out);
    assert_absent(f, &c);
    assert_sess(0, CALL(f, revoke_user, "bob", &gen_after));
    assert_true(gen_after > gen);
    assert_sess(0, CALL(f, list_user, "alice", collect, &seen));
    assert_int_equal(seen.n, 2);
    assert_memory_equal(seen.ids[0], a.id, SESS_ID_BYTES);
    assert_prefs(f, "alice", "{\"theme\":\"dark\"}");
    assert_sess(0, CALL(f, apikey_find, key, name));
    assert_string_equal(name, "deploy");
    sess_record_dispose(&a);
    sess_record_dispose(&b);
    sess_record_dispose(&c);
}

static void test_ping(void **state)
{
    fixture *f = *state;
    assert_sess(0, f->st->ops->ping(f->st));
    assert_non_null(f->st->ops->name);
}

/* ---- Registration: every case once per backend. ---- */

#define STORE_CASES(X)                                                                             \
    X(create_lookup_roundtrip)                                                                     \
    X(get_by_id)                                                                                   \
    X(lookup_unknown)                                                                              \
    X(delete_removes_everything)                                                                   \
    X(touch_deleted_creates_nothing)                                                               \
    X(touch_monotonic_and_capped)                                                                  \
    X(patch_merge_semantics)                                                                       \
    X(patch_different_keys_kept)                                                                   \
    X(patch_too_large)                                                                             \
    X(patch_not_object)                                                                            \
    X(patch_deleted)                                                                               \
    X(rotate_previous_hash)                                                                        \
    X(rotate_twice_drops_first)                                                                    \
    X(rotate_expected_hash)                                                                        \
    X(rotate_absent)                                                                               \
    X(set_roles_flags_sessions)                                                                    \
    X(evict_oldest_first)                                                                          \
    X(revoke_user_generation)                                                                      \
    X(revoke_user_without_sessions)                                                                \
    X(generation_read)                                                                             \
    X(create_after_revoke_drops_stale)                                                             \
    X(user_name_bounds)                                                                            \
    X(list_user_oldest_first)                                                                      \
    X(list_all_each_once)                                                                          \
    X(count_sessions)                                                                              \
    X(sweep_removes_expired)                                                                       \
    X(sweep_respects_max_items)                                                                    \
    X(sweep_drops_ended_previous_hash)                                                             \
    X(prefs_get_put)                                                                               \
    X(prefs_patch)                                                                                 \
    X(prefs_too_large)                                                                             \
    X(apikey_lifecycle)                                                                            \
    X(account_lifecycle)                                                                           \
    X(account_bounds)                                                                              \
    X(account_list)                                                                                \
    X(account_independent)                                                                         \
    X(account_concurrent_replace)                                                                  \
    X(concurrent_patches)                                                                          \
    X(concurrent_nested_patches)                                                                   \
    X(patch_size_counts_escapes)                                                                   \
    X(concurrent_lookups_and_writes)                                                               \
    X(version_moves_on_writes)                                                                     \
    X(ping)

/* The version (store.h) moves after every kind of write and stays put across reads; a backend
 * that answers 0 memoises nothing above it and has nothing to prove here. */
static uint64_t version_after(fixture *f, uint64_t before, const char *what)
{
    uint64_t v = f->st->ops->version(f->st);
    if (v == before) {
        fprintf(stderr, "the version did not move after %s\n", what);
        fail();
    }
    return v;
}

static void test_version_moves_on_writes(void **state)
{
    fixture *f = *state;
    assert_non_null(f->st->ops->version);
    uint64_t v = f->st->ops->version(f->st);
    if (v == 0) {
        assert_int_equal(f->st->ops->version(f->st), 0);
        return;
    }
    sess_record a, b, got;
    new_record(&a, "alice", T0);
    new_record(&b, "alice", T0 + 1);
    create_ok(f, &a, BIG);
    v = version_after(f, v, "create");
    create_ok(f, &b, BIG);
    v = version_after(f, v, "a second create");
    /* Reads leave it alone: otherwise nothing could ever be memoised. */
    uint64_t gen;
    bool prev;
    assert_sess(0, CALL(f, lookup, a.token_hash, &got, &gen, &prev));
    sess_record_dispose(&got);
    get_ok(f, a.id, &got);
    sess_record_dispose(&got);
    assert_sess(0, CALL(f, generation, "alice", &gen));
    assert_true(f->st->ops->version(f->st) == v);

    int64_t seen = T0 + 5, idle = T0 + 700;
    const uint8_t(*ids)[SESS_ID_BYTES] = (const uint8_t(*)[SESS_ID_BYTES])a.id;
    assert_sess(0, CALL(f, touch_many, 1, ids, &seen, &idle));
    v = version_after(f, v, "touch_many");
    assert_sess(0, CALL(f, patch, a.id, "{\"k\":1}", 7, 4096, NULL));
    v = version_after(f, v, "patch");
    uint8_t h[SESS_HASH_BYTES];
    random_hash(h);
    assert_sess(0, CALL(f, rotate, a.id, NULL, h, T0 + 30, 0, NULL));
    v = version_after(f, v, "rotate");
    assert_sess(0, CALL(f, set_roles, "alice", "admin"));
    v = version_after(f, v, "set_roles");
    assert_sess(0, CALL(f, del, b.id));
    v = version_after(f, v, "del");
    assert_sess(0, CALL(f, revoke_user, "alice", &gen));
    v = version_after(f, v, "revoke_user");
    assert_sess(0, CALL(f, prefs_put, "alice", "{\"theme\":\"dark\"}", 16, 4096));
    v = version_after(f, v, "prefs_put");
    assert_sess(0, CALL(f, prefs_patch, "alice", "{\"theme\":null}", 14, 4096, NULL, NULL));
    v = version_after(f, v, "prefs_patch");
    random_hash(h);
    assert_sess(0, CALL(f, apikey_put, "deploy", h, T0));
    v = version_after(f, v, "apikey_put");
    assert_sess(0, CALL(f, apikey_del, "deploy"));
    v = version_after(f, v, "apikey_del");
    assert_sess(0, CALL(f, user_put, "alice", ACCT("v1"), NULL, 0));
    v = version_after(f, v, "user_put");
    assert_sess(0, CALL(f, user_del, "alice"));
    v = version_after(f, v, "user_del");
    sess_record c;
    new_record(&c, "bob", T0);
    c.idle_expires = T0 + 1;
    create_ok(f, &c, BIG);
    v = version_after(f, v, "a third create");
    size_t removed = 0;
    assert_sess(0, CALL(f, sweep, T0 + 10, 100, &removed));
    assert_true(removed >= 1);
    version_after(f, v, "sweep");
    sess_record_dispose(&a);
    sess_record_dispose(&b);
    sess_record_dispose(&c);
}

/* Only for backends marked durable. */
#define DURABLE_CASES(X) X(reopen_keeps_everything)

struct store_case {
    const char *name;
    CMUnitTestFunction fn;
};

#define CASE_ROW(name) {#name, test_##name},
static const struct store_case cases[] = {STORE_CASES(CASE_ROW)};
static const struct store_case durable_cases[] = {DURABLE_CASES(CASE_ROW)};
#undef CASE_ROW

enum {
    N_BACKENDS = sizeof(backends) / sizeof(backends[0]),
    N_CASES = sizeof(cases) / sizeof(cases[0]),
    N_DURABLE = sizeof(durable_cases) / sizeof(durable_cases[0]),
    N_MAX = N_BACKENDS * (N_CASES + N_DURABLE),
};

static char test_names[N_MAX][96];

static void add_case(struct CMUnitTest *tests, size_t *n, const backend *be,
                     const struct store_case *c)
{
    snprintf(test_names[*n], sizeof(test_names[*n]), "%s/%s", be->name, c->name);
    tests[*n] = (struct CMUnitTest){
        .name = test_names[*n],
        .test_func = c->fn,
        .setup_func = fx_setup,
        .teardown_func = fx_teardown,
        .initial_state = (void *)be,
    };
    (*n)++;
}

int main(void)
{
    struct CMUnitTest tests[N_MAX];
    size_t n = 0;

    if (sess_crypto_init() != 0) {
        fprintf(stderr, "test_store: libsodium cannot be initialised\n");
        return 1;
    }
    for (size_t b = 0; b < N_BACKENDS; b++) {
        for (size_t c = 0; c < N_CASES; c++)
            add_case(tests, &n, &backends[b], &cases[c]);
        for (size_t c = 0; backends[b].durable && c < N_DURABLE; c++)
            add_case(tests, &n, &backends[b], &durable_cases[c]);
    }
    /* SESSD_TEST_FILTER runs only the cases whose "backend/case" name matches its pattern
     * (cmocka's '*' and '?'), e.g. "redis*concurrent*" to repeat a few cases in a loop. */
    const char *filter = getenv("SESSD_TEST_FILTER");
    if (filter != NULL && filter[0] != '\0')
        cmocka_set_test_filter(filter);
    /* The count varies by backend, so the array's size is not the number of tests. */
    return _cmocka_run_group_tests("store", tests, n, NULL, NULL);
}
