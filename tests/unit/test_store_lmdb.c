/*
 * test_store_lmdb.c - what only the LMDB backend has to get right, beyond the shared
 * conformance suite (test_store.c): durability across close and reopen, changes made through
 * another handle or another process seen on the very next lookup despite cached read
 * transactions, read-only opening, refusing damaged or foreign data files without crashing,
 * a full map, a map that grows up to its ceiling (followed by another process), and the on-disk
 * indexes (token hashes, the per-user index) left exactly in step
 * with the sessions. Some cases inspect or damage the environment directly through LMDB while
 * the store is closed.
 */
#include "harness.h"

#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lmdb.h>

#include "sessiond/crypto.h"
#include "sessiond/error.h"
#include "sessiond/record.h"
#include "sessiond/session.h"

#include "../../lib/lookup_cache.h"
#include "sessiond/store.h"

#define T0 INT64_C(1700000000)
#define BIG 1000000

#define CALL(st, op, ...) ((st)->ops->op((st), __VA_ARGS__))

#define assert_sess(expected, expr)                                                                \
    do {                                                                                           \
        int got_ = (expr), want_ = (expected);                                                     \
        if (got_ != want_)                                                                         \
            fail_msg("%s: got %s (%d), want %s (%d)", #expr, sess_errname(got_), got_,             \
                     sess_errname(want_), want_);                                                  \
    } while (0)

/* ---- Fixture: a fresh data directory per test. ---- */

typedef struct fixture {
    char dir[64];
    char store_dir[80];
    char data_file[96];
} fixture;

static int remove_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    (void)type;
    (void)ftw;
    return remove(path);
}

static int fx_setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/sessiond-test-lmdb.XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    snprintf(f->store_dir, sizeof(f->store_dir), "%s/store", f->dir);
    snprintf(f->data_file, sizeof(f->data_file), "%s/data.mdb", f->store_dir);
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    fixture *f = *state;
    nftw(f->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

/* ---- Helpers. ---- */

static int try_open(const fixture *f, size_t map_size, bool read_only, sess_store **st, char *err,
                    size_t errlen)
{
    sess_store_opts opts = {.path = f->dir, .map_size = map_size, .read_only = read_only};
    *st = NULL;
    return sess_store_lmdb_open(&opts, st, err, errlen);
}

static sess_store *open_ok(const fixture *f, size_t map_size, bool read_only)
{
    char err[512] = "";
    sess_store *st;
    int rc = try_open(f, map_size, read_only, &st, err, sizeof(err));
    if (rc != 0)
        fail_msg("open %s: %s (%s)", f->dir, sess_errname(rc), err);
    return st;
}

/* Opening must fail with `want` and say something containing `needle`. */
static void open_fails(const fixture *f, size_t map_size, bool read_only, int want,
                       const char *needle)
{
    char err[512] = "";
    sess_store *st;
    int rc = try_open(f, map_size, read_only, &st, err, sizeof(err));
    if (rc == 0)
        sess_store_close(st);
    assert_sess(want, rc);
    assert_null(st);
    if (needle != NULL && strstr(err, needle) == NULL)
        fail_msg("error message \"%s\" does not mention \"%s\"", err, needle);
}

static void new_record(sess_record *r, const char *user, int64_t created)
{
    static const char data[] = "{\"cart\":[1,2],\"n\":1}";
    sess_record_init(r);
    sess_id_new(r->id);
    sess_random(r->token_hash, sizeof(r->token_hash));
    sess_copy_bounded(r->user, sizeof(r->user), user);
    sess_copy_bounded(r->roles, sizeof(r->roles), "admin");
    sess_copy_bounded(r->ip, sizeof(r->ip), "192.0.2.1");
    sess_copy_bounded(r->agent, sizeof(r->agent), "test-agent");
    r->created = created;
    r->last_seen = created;
    r->idle_expires = created + 1800;
    r->abs_expires = created + 86400;
    r->auth_time = created;
    sess_random(r->csrf_secret, sizeof(r->csrf_secret));
    assert_sess(0, sess_record_set_data(r, data, sizeof(data) - 1));
}

static void make(sess_store *st, sess_record *r, const char *user, int64_t created)
{
    new_record(r, user, created);
    assert_sess(0, CALL(st, create, r, BIG, NULL));
}

/* Looks a hash up; returns the sess_err and, on success, the generation and previous flag. */
static int lookup(sess_store *st, const uint8_t *hash, uint64_t *gen, bool *prev)
{
    sess_record out;
    uint64_t g = 0;
    bool p = false;
    int rc = CALL(st, lookup, hash, &out, &g, &p);
    sess_record_dispose(&out);
    if (gen != NULL)
        *gen = g;
    if (prev != NULL)
        *prev = p;
    return rc;
}

static int get(sess_store *st, const uint8_t *id)
{
    sess_record out;
    int rc = CALL(st, get, id, &out, &(uint64_t){0});
    sess_record_dispose(&out);
    return rc;
}

static uint64_t count(sess_store *st)
{
    uint64_t n = 12345;
    assert_sess(0, CALL(st, count, &n));
    return n;
}

/* ---- Raw LMDB access, only while no store handle is open on the directory. ---- */

typedef struct raw {
    MDB_env *env;
    MDB_txn *txn;
} raw;

static void raw_begin(const fixture *f, raw *r, bool write)
{
    assert_int_equal(mdb_env_create(&r->env), 0);
    assert_int_equal(mdb_env_set_maxdbs(r->env, 16), 0);
    assert_int_equal(mdb_env_set_mapsize(r->env, (size_t)1 << 30), 0);
    assert_int_equal(mdb_env_open(r->env, f->store_dir, 0, 0600), 0);
    assert_int_equal(mdb_txn_begin(r->env, NULL, write ? 0 : MDB_RDONLY, &r->txn), 0);
}

static MDB_dbi raw_dbi(raw *r, const char *name)
{
    MDB_dbi dbi;
    assert_int_equal(mdb_dbi_open(r->txn, name, 0, &dbi), 0);
    return dbi;
}

static void raw_end(raw *r, bool commit)
{
    if (commit)
        assert_int_equal(mdb_txn_commit(r->txn), 0);
    else
        mdb_txn_abort(r->txn);
    mdb_env_close(r->env);
}

static size_t raw_entries(const fixture *f, const char *name)
{
    raw r;
    MDB_stat ms;
    raw_begin(f, &r, false);
    assert_int_equal(mdb_stat(r.txn, raw_dbi(&r, name), &ms), 0);
    raw_end(&r, false);
    return ms.ms_entries;
}

static void raw_put(raw *r, const char *name, const void *k, size_t klen, const void *v,
                    size_t vlen)
{
    MDB_val key = {klen, (void *)k}, val = {vlen, (void *)v};
    assert_int_equal(mdb_put(r->txn, raw_dbi(r, name), &key, &val, 0), 0);
}

/* ---- Durability and visibility. ---- */

static void test_reopen_keeps_everything(void **state)
{
    fixture *f = *state;
    sess_store *st = open_ok(f, 0, false);
    sess_record a, b, out;
    uint8_t h2[SESS_HASH_BYTES], key[SESS_HASH_BYTES];
    char name[SESS_APIKEY_NAME_MAX + 1], *prefs = NULL;
    size_t len;
    uint64_t gen;
    bool prev;

    make(st, &a, "alice", T0);
    make(st, &b, "bob", T0 + 1);
    sess_random(h2, sizeof(h2));
    assert_sess(0, CALL(st, rotate, a.id, NULL, h2, T0 + 30, 0, NULL));
    assert_sess(0, CALL(st, patch, b.id, "{\"k\":\"v\"}", 9, 4096, NULL));
    assert_sess(0, CALL(st, revoke_user, "bob", NULL));
    assert_sess(0, CALL(st, prefs_put, "alice", "{\"theme\":\"dark\"}", 16, 4096));
    sess_random(key, sizeof(key));
    assert_sess(0, CALL(st, apikey_put, "deploy", key, T0));
    sess_store_close(st);

    st = open_ok(f, 0, false);
    assert_int_equal(count(st), 2);
    assert_sess(0, lookup(st, a.token_hash, &gen, &prev));
    assert_true(prev);
    assert_sess(0, lookup(st, h2, &gen, &prev));
    assert_false(prev);
    assert_sess(0, CALL(st, get, b.id, &out, &gen));
    assert_int_equal(gen, 1);
    assert_int_equal(out.generation, 0);
    assert_string_equal(out.data, "{\"cart\":[1,2],\"k\":\"v\",\"n\":1}");
    assert_memory_equal(out.csrf_secret, b.csrf_secret, SESS_CSRF_SECRET_BYTES);
    sess_record_dispose(&out);
    assert_sess(0, CALL(st, prefs_get, "alice", &prefs, &len));
    assert_string_equal(prefs, "{\"theme\":\"dark\"}");
    free(prefs);
    assert_sess(0, CALL(st, apikey_find, key, name));
    assert_string_equal(name, "deploy");
    sess_store_close(st);

    /* The directory holding the environment is private to the user. */
    struct stat sb;
    assert_int_equal(stat(f->store_dir, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0700);
    sess_record_dispose(&a);
    sess_record_dispose(&b);
}

static void test_second_handle_sees_changes(void **state)
{
    fixture *f = *state;
    sess_store *one = open_ok(f, 0, false), *two = open_ok(f, 0, false);
    sess_record a, b;
    uint64_t gen = 99;

    make(one, &a, "alice", T0);
    make(one, &b, "alice", T0 + 1);
    /* Both handles have a cached read transaction from here on. */
    assert_sess(0, lookup(two, a.token_hash, &gen, NULL));
    assert_int_equal(gen, 0);
    assert_sess(0, lookup(one, a.token_hash, NULL, NULL));

    assert_sess(0, CALL(one, del, a.id));
    assert_sess(SESS_ESESSION, lookup(two, a.token_hash, NULL, NULL));
    assert_sess(0, CALL(one, revoke_user, "alice", NULL));
    assert_sess(0, lookup(two, b.token_hash, &gen, NULL));
    assert_int_equal(gen, 1);

    /* And the other way round. */
    assert_sess(0, CALL(two, del, b.id));
    assert_sess(SESS_ESESSION, lookup(one, b.token_hash, NULL, NULL));
    sess_store_close(one);
    /* The shared environment stays open for the remaining handle. */
    assert_int_equal(count(two), 0);
    sess_store_close(two);
    sess_record_dispose(&a);
    sess_record_dispose(&b);
}

/* What the child process does to the store; its exit status says whether all went well. */
static int child_revokes(const fixture *f, const sess_record *gone, sess_record *added)
{
    char err[256];
    sess_store *st;
    if (try_open(f, 0, false, &st, err, sizeof(err)) != 0)
        return 10;
    int rc = CALL(st, del, gone->id);
    if (rc == 0)
        rc = CALL(st, revoke_user, "alice", NULL);
    if (rc == 0)
        rc = CALL(st, create, added, BIG, NULL);
    sess_store_close(st);
    return rc == 0 ? 0 : 11;
}

static void test_other_process_sees_changes(void **state)
{
    fixture *f = *state;
    sess_store *st = open_ok(f, 0, false);
    sess_record a, b, c;
    uint64_t gen = 99;
    int status = 0;

    make(st, &a, "alice", T0);
    make(st, &b, "alice", T0 + 1);
    new_record(&c, "carol", T0 + 2);
    /* Warm this thread's cached read transaction. */
    assert_sess(0, lookup(st, a.token_hash, &gen, NULL));
    assert_sess(SESS_ESESSION, lookup(st, c.token_hash, NULL, NULL));

    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(child_revokes(f, &a, &c));
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);

    /* The very next lookups see what the other process committed. */
    assert_sess(SESS_ESESSION, lookup(st, a.token_hash, NULL, NULL));
    assert_sess(0, lookup(st, b.token_hash, &gen, NULL));
    assert_int_equal(gen, 1);
    assert_sess(0, lookup(st, c.token_hash, NULL, NULL));
    assert_int_equal(count(st), 2);
    /* And this process can go on writing to the same environment. */
    assert_sess(0, CALL(st, del, b.id));
    sess_store_close(st);
    sess_record_dispose(&a);
    sess_record_dispose(&b);
    sess_record_dispose(&c);
}

/* ---- The lookup memo (lib/lookup_cache.h) across processes. ---- */

static const sess_policy memo_policy = {.idle_timeout = 600,
                                        .absolute_timeout = 3600,
                                        .remember_me = 86400,
                                        .touch_interval = 60,
                                        .rotate_grace = 30,
                                        .max_per_user = 10,
                                        .max_data = 4096};
static const uint8_t memo_key[SESS_KEY_BYTES] = {7, 7, 7};

static sess_ctx *memo_ctx(sess_store *st)
{
    sess_ctx *ctx = NULL;
    assert_sess(0, sess_ctx_new(st, memo_key, &memo_policy, &ctx));
    return ctx;
}

/* The child, as the CLI would be: its own environment and context, one write each. */
static int child_writes(const fixture *f, const uint8_t id[SESS_ID_BYTES], int what)
{
    char err[256];
    sess_store *st;
    sess_ctx *ctx = NULL;
    if (try_open(f, 0, false, &st, err, sizeof(err)) != 0 ||
        sess_ctx_new(st, memo_key, &memo_policy, &ctx) != 0)
        return 10;
    int rc = what == 0   ? sess_delete(ctx, id)
             : what == 1 ? sess_apikey_revoke(ctx, "deploy")
                         : sess_patch(ctx, id, "{\"step\":2}", 10, T0 + 3, NULL);
    sess_ctx_free(ctx);
    sess_store_close(st);
    return rc == 0 ? 0 : 20 + rc;
}

static void run_child(const fixture *f, const uint8_t id[SESS_ID_BYTES], int what)
{
    int status = 0;
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(child_writes(f, id, what));
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* A verify answered from the memo must still see what another process wrote since: a delete,
 * an API key's revocation, new data; each on the very next call. */
static void test_memo_sees_other_process(void **state)
{
    fixture *f = *state;
    sess_store *st = open_ok(f, 0, false);
    sess_ctx *ctx = memo_ctx(st);
    char tok[SESS_TOKEN_STRLEN + 1], key[SESS_APIKEY_STRLEN + 1], name[SESS_APIKEY_NAME_MAX + 1];
    sess_record rec, got;
    sess_create_params p = {
        .user = "alice", .roles = "dev", .data = "{\"step\":1}", .data_len = 10};
    assert_sess(0, sess_create(ctx, &p, T0, tok, &rec));
    assert_sess(0, sess_apikey_create(ctx, "deploy", T0, key));
    for (int i = 0; i < 3; i++) { /* the second and third come from the memo */
        assert_sess(0, sess_verify(ctx, tok, strlen(tok), T0 + 1, false, &got));
        assert_string_equal(got.data, "{\"step\":1}");
        assert_string_equal(got.user, "alice");
        assert_memory_equal(got.id, rec.id, SESS_ID_BYTES);
        sess_record_dispose(&got);
        assert_sess(0, sess_apikey_check(ctx, key, strlen(key), name));
        assert_string_equal(name, "deploy");
    }
    run_child(f, rec.id, 2);
    assert_sess(0, sess_verify(ctx, tok, strlen(tok), T0 + 4, false, &got));
    assert_string_equal(got.data, "{\"step\":2}");
    sess_record_dispose(&got);
    /* Deadlines are judged on every call, memo or not. */
    assert_sess(SESS_ESESSION, sess_verify(ctx, tok, strlen(tok), T0 + 3600, false, &got));
    run_child(f, rec.id, 1);
    assert_sess(SESS_EUNAUTHORIZED, sess_apikey_check(ctx, key, strlen(key), name));
    run_child(f, rec.id, 0);
    assert_sess(SESS_ESESSION, sess_verify(ctx, tok, strlen(tok), T0 + 5, false, &got));
    sess_record_dispose(&rec);
    sess_ctx_free(ctx);
    sess_store_close(st);
}

/* Data exactly at the memo's bound is memoised, one byte more is not; both come back whole,
 * from the memo and from the store alike. */
static void test_memo_data_bound(void **state)
{
    fixture *f = *state;
    sess_store *st = open_ok(f, 0, false);
    sess_ctx *ctx = memo_ctx(st);
    for (size_t n = SESS__LCACHE_DATA_MAX - 1; n <= SESS__LCACHE_DATA_MAX + 1; n++) {
        char data[SESS__LCACHE_DATA_MAX + 2], tok[SESS_TOKEN_STRLEN + 1];
        memcpy(data, "{\"k\":\"", 6);
        memset(data + 6, 'x', n - 8);
        memcpy(data + n - 2, "\"}", 3);
        assert_int_equal(strlen(data), n);
        sess_create_params p = {.user = "alice", .data = data, .data_len = n};
        sess_record rec, got;
        assert_sess(0, sess_create(ctx, &p, T0, tok, &rec));
        for (int i = 0; i < 3; i++) {
            assert_sess(0, sess_verify(ctx, tok, strlen(tok), T0 + 1, false, &got));
            assert_int_equal(got.data_len, n);
            assert_string_equal(got.data, data);
            assert_memory_equal(got.id, rec.id, SESS_ID_BYTES);
            sess_record_dispose(&got);
        }
        sess_record_dispose(&rec);
    }
    sess_ctx_free(ctx);
    sess_store_close(st);
}

/* A thread keeps verifying a token (its memo warm, racing the commit) while another deletes the
 * session; once the delete has returned, that thread's very next verify must refuse. The memo
 * was once keyed by the meta page's transaction id, which a commit writes before readers can see
 * the snapshot: 163 of 200 deleted sessions still verified then. */
typedef struct race {
    sess_ctx *ctx;
    char tok[SESS_TOKEN_STRLEN + 1];
    atomic_int phase;  /* 0 wait, 1 verify in a loop, 2 deleted: verify once more, -1 stop */
    atomic_int result; /* 0 pending, 1 refused, 2 still verified */
} race;

static void *race_reader(void *arg)
{
    race *r = arg;
    for (;;) {
        int ph;
        while ((ph = atomic_load(&r->phase)) == 0)
            ;
        if (ph < 0)
            return NULL;
        sess_record rec;
        while (atomic_load(&r->phase) == 1)
            if (sess_verify(r->ctx, r->tok, strlen(r->tok), T0 + 1, false, &rec) == 0)
                sess_record_dispose(&rec);
        int rc = sess_verify(r->ctx, r->tok, strlen(r->tok), T0 + 1, false, &rec);
        if (rc == 0)
            sess_record_dispose(&rec);
        atomic_store(&r->phase, 0);
        atomic_store(&r->result, rc == 0 ? 2 : 1);
    }
}

static void test_memo_never_outlives_a_delete(void **state)
{
    fixture *f = *state;
    sess_store *st = open_ok(f, 0, false);
    race *r = calloc(1, sizeof(*r));
    assert_non_null(r);
    r->ctx = memo_ctx(st);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, race_reader, r), 0);
    int stale = 0, rounds = 200;
    for (int i = 0; i < rounds; i++) {
        sess_create_params p = {.user = "alice", .roles = "dev"};
        sess_record rec;
        assert_sess(0, sess_create(r->ctx, &p, T0, r->tok, &rec));
        atomic_store(&r->result, 0);
        atomic_store(&r->phase, 1);
        usleep(100);
        assert_sess(0, sess_delete(r->ctx, rec.id));
        sess_record_dispose(&rec);
        atomic_store(&r->phase, 2);
        while (atomic_load(&r->result) == 0)
            ;
        stale += atomic_load(&r->result) == 2;
    }
    atomic_store(&r->phase, -1);
    pthread_join(th, NULL);
    if (stale != 0)
        fail_msg("%d of %d deleted sessions still verified after sess_delete returned", stale,
                 rounds);
    sess_ctx_free(r->ctx);
    free(r);
    sess_store_close(st);
}

/* The child: opened with a bigger map than the parent's, it writes past the parent's map. */
static int child_grows(const fixture *f, sess_record *late)
{
    char err[256], data[1000];
    sess_store *st;
    if (try_open(f, 8u << 20, false, &st, err, sizeof(err)) != 0)
        return 10;
    memset(data, 'd', sizeof(data));
    memcpy(data, "{\"d\":\"", 6);
    memcpy(data + sizeof(data) - 2, "\"}", 2);
    int rc = 0;
    for (int i = 0; i < 600 && rc == 0; i++) {
        sess_record r;
        new_record(&r, "filler", T0 + i);
        rc = sess_record_set_data(&r, data, sizeof(data));
        if (rc == 0)
            rc = CALL(st, create, &r, BIG, NULL);
        sess_record_dispose(&r);
    }
    if (rc == 0)
        rc = CALL(st, create, late, BIG, NULL);
    sess_store_close(st);
    return rc == 0 ? 0 : 11;
}

/* A reader (the nginx module, the CLI) with a small map goes on reading after another process
 * grew the data file past it (MDB_MAP_RESIZED is handled by adopting the new size). */
static void test_reader_follows_grown_map(void **state)
{
    fixture *f = *state;
    const size_t small = 256 * 1024;
    sess_store *st = open_ok(f, small, false);
    sess_record a, late;
    int status = 0;
    make(st, &a, "alice", T0);
    sess_store_close(st);
    st = open_ok(f, small, true);
    assert_sess(0, lookup(st, a.token_hash, NULL, NULL));
    new_record(&late, "carol", T0 + 1000);

    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(child_grows(f, &late));
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    struct stat sb;
    assert_int_equal(stat(f->data_file, &sb), 0);
    assert_true((size_t)sb.st_size > small); /* the premise: the file outgrew our map */

    assert_sess(0, lookup(st, late.token_hash, NULL, NULL));
    assert_sess(0, lookup(st, a.token_hash, NULL, NULL));
    assert_int_equal(count(st), 602);
    sess_store_close(st);
    sess_record_dispose(&a);
    sess_record_dispose(&late);
}

/* ---- Read-only. ---- */

static void test_read_only_refuses_writes(void **state)
{
    fixture *f = *state;
    sess_record a, b;
    uint8_t h[SESS_HASH_BYTES];
    size_t removed = 99;
    char *res = NULL;

    /* Nothing there yet: refused, and nothing is created. */
    open_fails(f, 0, true, SESS_ESTORE, f->dir);
    struct stat sb;
    assert_int_not_equal(stat(f->store_dir, &sb), 0);

    sess_store *st = open_ok(f, 0, false);
    make(st, &a, "alice", T0);
    assert_sess(0, CALL(st, apikey_put, "k", a.token_hash, T0));
    sess_store_close(st);

    st = open_ok(f, 0, true);
    assert_sess(0, st->ops->ping(st));
    assert_sess(0, lookup(st, a.token_hash, NULL, NULL));
    assert_int_equal(count(st), 1);
    new_record(&b, "bob", T0);
    sess_random(h, sizeof(h));
    assert_sess(SESS_EINVAL, CALL(st, create, &b, BIG, NULL));
    assert_sess(SESS_EINVAL, CALL(st, touch_many, 1, (const uint8_t(*)[SESS_ID_BYTES])a.id,
                                  &(int64_t){T0 + 5}, &(int64_t){T0 + 5000}));
    assert_sess(SESS_EINVAL, CALL(st, patch, a.id, "{}", 2, 4096, NULL));
    assert_sess(SESS_EINVAL, CALL(st, rotate, a.id, NULL, h, T0, 0, NULL));
    assert_sess(SESS_EINVAL, CALL(st, del, a.id));
    assert_sess(SESS_EINVAL, CALL(st, revoke_user, "alice", NULL));
    assert_sess(SESS_EINVAL, CALL(st, sweep, T0 + BIG, BIG, &removed));
    assert_sess(SESS_EINVAL, CALL(st, prefs_put, "alice", "{}", 2, 4096));
    assert_sess(SESS_EINVAL, CALL(st, prefs_patch, "alice", "{}", 2, 4096, &res, NULL));
    assert_sess(SESS_EINVAL, CALL(st, apikey_put, "other", h, T0));
    assert_sess(SESS_EINVAL, CALL(st, apikey_del, "k"));
    assert_sess(SESS_EINVAL, CALL(st, user_put, "alice", (const uint8_t *)"x", 1, NULL, 0));
    assert_sess(SESS_EINVAL, CALL(st, user_del, "alice"));

    /* A read-only environment cannot serve a writer in the same process. */
    open_fails(f, 0, false, SESS_ESTORE, "read-only");
    sess_store_close(st);

    st = open_ok(f, 0, false);
    assert_int_equal(count(st), 1);
    assert_sess(0, lookup(st, a.token_hash, NULL, NULL));
    sess_store_close(st);
    sess_record_dispose(&a);
    sess_record_dispose(&b);
}

/* ---- Damaged and foreign files. ---- */

static void write_file(const char *path, const void *buf, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, buf, len), (ssize_t)len);
    close(fd);
}

static void test_garbage_data_file(void **state)
{
    fixture *f = *state;
    static uint8_t junk[65536];
    static const char text[] = "this is not an LMDB file\n";

    assert_int_equal(mkdir(f->store_dir, 0700), 0);

    write_file(f->data_file, text, sizeof(text) - 1);
    open_fails(f, 0, false, SESS_ECORRUPT, "data.mdb");
    open_fails(f, 0, true, SESS_ECORRUPT, "data.mdb");

    memset(junk, 0xa5, sizeof(junk));
    write_file(f->data_file, junk, sizeof(junk));
    open_fails(f, 0, false, SESS_ECORRUPT, "corrupt");

    sess_random(junk, sizeof(junk));
    write_file(f->data_file, junk, sizeof(junk));
    open_fails(f, 0, false, SESS_ECORRUPT, "corrupt");
}

static void test_truncated_data_file(void **state)
{
    fixture *f = *state;
    sess_store *st = open_ok(f, 0, false);
    sess_record r;
    char data[600];
    long page = sysconf(_SC_PAGESIZE);

    memset(data, 'x', sizeof(data));
    memcpy(data, "{\"x\":\"", 6);
    memcpy(data + sizeof(data) - 2, "\"}", 2);
    for (int i = 0; i < 200; i++) {
        new_record(&r, "alice", T0 + i);
        assert_sess(0, sess_record_set_data(&r, data, sizeof(data)));
        assert_sess(0, CALL(st, create, &r, BIG, NULL));
        sess_record_dispose(&r);
    }
    sess_store_close(st);

    struct stat sb;
    assert_int_equal(stat(f->data_file, &sb), 0);
    assert_true(sb.st_size > 8 * page);

    /* Meta pages intact, data pages gone: would be SIGBUS on first access. */
    assert_int_equal(truncate(f->data_file, 3 * page), 0);
    open_fails(f, 0, false, SESS_ECORRUPT, "truncated");
    open_fails(f, 0, true, SESS_ECORRUPT, "truncated");

    /* Shorter than the meta pages. */
    assert_int_equal(truncate(f->data_file, page + 100), 0);
    open_fails(f, 0, false, SESS_ECORRUPT, "data.mdb");
    assert_int_equal(truncate(f->data_file, 100), 0);
    open_fails(f, 0, false, SESS_ECORRUPT, "data.mdb");
}

static void test_unknown_format_version(void **state)
{
    fixture *f = *state;
    sess_store *st = open_ok(f, 0, false);
    raw r;
    sess_store_close(st);

    raw_begin(f, &r, true);
    raw_put(&r, "meta", "format", 6, (const uint8_t[4]){0, 0, 0, 99}, 4);
    raw_end(&r, true);
    open_fails(f, 0, false, SESS_ECORRUPT, "version 99");
    open_fails(f, 0, true, SESS_ECORRUPT, "version 99");

    raw_begin(f, &r, true);
    raw_put(&r, "meta", "format", 6, "\x01", 1);
    raw_end(&r, true);
    open_fails(f, 0, false, SESS_ECORRUPT, "format version");

    raw_begin(f, &r, true);
    raw_put(&r, "meta", "format", 6, (const uint8_t[4]){0, 0, 0, 1}, 4);
    raw_end(&r, true);
    st = open_ok(f, 0, false);
    sess_store_close(st);
}

static void test_foreign_environment(void **state)
{
    fixture *f = *state;
    raw r;

    /* Some other program's LMDB environment: not ours to initialise. */
    assert_int_equal(mkdir(f->store_dir, 0700), 0);
    raw_begin(f, &r, true);
    MDB_dbi main_dbi;
    assert_int_equal(mdb_dbi_open(r.txn, NULL, 0, &main_dbi), 0);
    MDB_val k = {5, "hello"}, v = {5, "world"};
    assert_int_equal(mdb_put(r.txn, main_dbi, &k, &v, 0), 0);
    raw_end(&r, true);
    open_fails(f, 0, false, SESS_ECORRUPT, "not a sessiond store");
    open_fails(f, 0, true, SESS_ECORRUPT, "not a sessiond store");
}

/* Every truncation of a valid record, a wrong version and an overlong length field decode to
 * SESS_ECORRUPT; such a record can still be deleted, and sweeping passes over it. */
static void test_corrupt_records(void **state)
{
    fixture *f = *state;
    sess_store *st = open_ok(f, 0, false);
    sess_record a;
    uint8_t blob[4096];
    size_t blen;
    raw r;
    enum { EXTRA = 2 };
    static const char data[] = "{\"cart\":[1,2],\"n\":1}"; /* what new_record stores, last */

    make(st, &a, "alice", T0);
    sess_store_close(st);

    raw_begin(f, &r, false);
    MDB_val k = {SESS_ID_BYTES, a.id}, v;
    assert_int_equal(mdb_get(r.txn, raw_dbi(&r, "sessions"), &k, &v), 0);
    assert_true(v.mv_size < sizeof(blob));
    blen = v.mv_size;
    memcpy(blob, v.mv_data, blen);
    raw_end(&r, false);

    size_t n = blen + EXTRA;
    uint8_t(*ids)[SESS_ID_BYTES] = calloc(n, SESS_ID_BYTES);
    uint8_t(*hashes)[SESS_HASH_BYTES] = calloc(n, SESS_HASH_BYTES);
    assert_non_null(ids);
    assert_non_null(hashes);
    raw_begin(f, &r, true);
    for (size_t i = 0; i < n; i++) {
        uint8_t bad[4096];
        size_t len = i < blen ? i : blen;
        memcpy(bad, blob, blen);
        if (i == blen)
            bad[0] = 2; /* an unknown record version */
        if (i == blen + 1)
            bad[blen - (sizeof(data) - 1) - 4] = 0x7f; /* data length far past the end */
        sess_id_new(ids[i]);
        sess_random(hashes[i], SESS_HASH_BYTES);
        raw_put(&r, "sessions", ids[i], SESS_ID_BYTES, bad, len);
        raw_put(&r, "tokens", hashes[i], SESS_HASH_BYTES, ids[i], SESS_ID_BYTES);
    }
    raw_end(&r, true);

    st = open_ok(f, 0, false);
    for (size_t i = 0; i < n; i++) {
        assert_sess(SESS_ECORRUPT, get(st, ids[i]));
        assert_sess(SESS_ECORRUPT, lookup(st, hashes[i], NULL, NULL));
    }
    assert_sess(0, lookup(st, a.token_hash, NULL, NULL));
    size_t removed = 99;
    assert_sess(0, CALL(st, sweep, T0 + BIG, BIG, &removed));
    assert_int_equal(removed, 1); /* only the expired valid one */
    for (size_t i = 0; i < n; i++) {
        assert_sess(0, CALL(st, del, ids[i]));
        assert_sess(SESS_ESESSION, get(st, ids[i]));
        assert_sess(SESS_ESESSION, lookup(st, hashes[i], NULL, NULL));
    }
    assert_int_equal(count(st), 0);
    sess_store_close(st);
    free(ids);
    free(hashes);
    sess_record_dispose(&a);
}

/* ---- Limits. ---- */

static void test_map_full(void **state)
{
    fixture *f = *state;
    const size_t map = 256 * 1024;
    sess_store *st = open_ok(f, map, false);
    enum { MAX = 5000 };
    sess_record *recs = calloc(MAX, sizeof(*recs));
    char data[1000];
    int made = 0, rc = 0;

    assert_non_null(recs);
    memset(data, 'd', sizeof(data));
    memcpy(data, "{\"d\":\"", 6);
    memcpy(data + sizeof(data) - 2, "\"}", 2);
    for (; made < MAX; made++) {
        new_record(&recs[made], "alice", T0 + made);
        assert_sess(0, sess_record_set_data(&recs[made], data, sizeof(data)));
        if ((rc = CALL(st, create, &recs[made], BIG, NULL)) != 0)
            break;
    }
    assert_sess(SESS_EFULL, rc);
    assert_true(made > 10);

    /* Everything acknowledged before is intact; the refused one left nothing behind. */
    assert_int_equal(count(st), made);
    for (int i = 0; i < made; i++)
        assert_sess(0, lookup(st, recs[i].token_hash, NULL, NULL));
    assert_sess(SESS_ESESSION, lookup(st, recs[made].token_hash, NULL, NULL));
    assert_sess(SESS_ESESSION, get(st, recs[made].id));
    /* Readiness says why writes fail; reads go on. */
    assert_sess(SESS_EFULL, st->ops->ping(st));
    sess_store_close(st);

    /* A bigger map takes the refused session and keeps the rest. */
    st = open_ok(f, 0, false);
    assert_sess(0, CALL(st, create, &recs[made], BIG, NULL));
    assert_int_equal(count(st), made + 1);
    for (int i = 0; i <= made; i++) {
        assert_sess(0, lookup(st, recs[i].token_hash, NULL, NULL));
        sess_record_dispose(&recs[i]);
    }
    sess_store_close(st);
    free(recs);
}

/* What the store reported through opts.log. */
typedef struct logbook {
    int warn, info, full, room, grew, pct80, pct95;
} logbook;

static void log_into(void *arg, int level, const char *msg)
{
    logbook *b = arg;
    if (level == SESS_STORE_LOG_WARN)
        b->warn++;
    else
        b->info++;
    b->full += strstr(msg, "out of space") != NULL;
    b->room += strstr(msg, "has room again") != NULL;
    b->grew += strstr(msg, "grew the LMDB map") != NULL;
    b->pct80 += strstr(msg, "uses 80 %") != NULL;
    b->pct95 += strstr(msg, "uses 95 %") != NULL;
}

static sess_store *open_growing(const fixture *f, size_t initial, size_t max, logbook *b)
{
    char err[512] = "";
    sess_store *st = NULL;
    sess_store_opts opts = {.path = f->dir,
                            .map_size = max,
                            .map_initial = initial,
                            .log = b != NULL ? log_into : NULL,
                            .log_arg = b};
    int rc = sess_store_lmdb_open(&opts, &st, err, sizeof(err));
    if (rc != 0)
        fail_msg("open %s: %s (%s)", f->dir, sess_errname(rc), err);
    return st;
}

static uint64_t map_bytes(sess_store *st)
{
    sess_store_usage u;
    assert_sess(0, sess_store_lmdb_usage(st, &u));
    assert_true(u.used_bytes <= u.map_bytes);
    return u.map_bytes;
}

/* A session with ~1 KB of data. */
static void fill_record(sess_record *r, int i)
{
    char data[1000];
    memset(data, 'd', sizeof(data));
    memcpy(data, "{\"d\":\"", 6);
    memcpy(data + sizeof(data) - 2, "\"}", 2);
    new_record(r, "alice", T0 + i);
    assert_sess(0, sess_record_set_data(r, data, sizeof(data)));
}

/* A 256 KiB map with a 4 MiB ceiling: creates go on across four doublings, the ceiling then
 * refuses them as full (logged once, readiness says so, reads go on), and a higher ceiling
 * takes them again. */
static void test_map_grows_to_ceiling(void **state)
{
    fixture *f = *state;
    const size_t initial = 256 * 1024, max = 4 * 1024 * 1024;
    logbook b = {0};
    sess_store *st = open_growing(f, initial, max, &b);
    enum { MAX = 20000 };
    sess_record *recs = calloc(MAX, sizeof(*recs));
    uint64_t sizes[8] = {map_bytes(st)};
    int nsizes = 1, made = 0, rc = 0;

    assert_non_null(recs);
    assert_int_equal(sizes[0], initial);
    for (; made < MAX; made++) {
        fill_record(&recs[made], made);
        if ((rc = CALL(st, create, &recs[made], BIG, NULL)) != 0)
            break;
        uint64_t now = map_bytes(st);
        if (now != sizes[nsizes - 1]) {
            assert_true(nsizes < 8);
            sizes[nsizes++] = now;
        }
    }
    assert_sess(SESS_EFULL, rc);
    /* 256 KiB -> 512 KiB -> 1 MiB -> 2 MiB -> 4 MiB, doubling each time. */
    assert_int_equal(nsizes, 5);
    for (int i = 1; i < nsizes; i++)
        assert_int_equal(sizes[i], sizes[i - 1] * 2);
    assert_int_equal(sizes[nsizes - 1], max);
    assert_int_equal(b.grew, 4);
    assert_true(made > 1500); /* a fixed 256 KiB map takes ~100 of these */

    /* Every acknowledged write is there, the refused one left nothing. */
    assert_int_equal(count(st), made);
    for (int i = 0; i < made; i++)
        assert_sess(0, lookup(st, recs[i].token_hash, NULL, NULL));
    assert_sess(SESS_ESESSION, lookup(st, recs[made].token_hash, NULL, NULL));

    /* One episode, one line, however many writes fail; 80 % and 95 % each warned once. */
    assert_sess(SESS_EFULL, CALL(st, create, &recs[made], BIG, NULL));
    assert_sess(SESS_EFULL, CALL(st, create, &recs[made], BIG, NULL));
    assert_int_equal(b.full, 1);
    assert_int_equal(b.room, 0);
    assert_int_equal(b.pct80, 1);
    assert_int_equal(b.pct95, 1);
    assert_sess(SESS_EFULL, st->ops->ping(st));
    assert_sess(0, lookup(st, recs[0].token_hash, NULL, NULL));

    sess_store_close(st);

    /* Reopened with a higher ceiling: the map covers the data, the data is there, and the
     * refused session goes in after one more doubling. */
    memset(&b, 0, sizeof(b));
    st = open_growing(f, initial, 2 * max, &b);
    assert_true(map_bytes(st) > max / 2);
    assert_sess(0, st->ops->ping(st));
    assert_sess(0, CALL(st, create, &recs[made], BIG, NULL));
    assert_sess(0, lookup(st, recs[made].token_hash, NULL, NULL));
    assert_int_equal(count(st), made + 1);
    assert_int_equal(b.full, 0);
    sess_store_close(st);
    for (int i = 0; i <= made; i++)
        sess_record_dispose(&recs[i]);
    free(recs);
}

static void pipe_send(int fd, const void *p, size_t n)
{
    if (write(fd, p, n) != (ssize_t)n)
        _exit(90);
}

static void pipe_recv(int fd, void *p, size_t n)
{
    if (read(fd, p, n) != (ssize_t)n)
        _exit(91);
}

/* The other process: a read-only handle with a 256 KiB map (as the nginx module or the CLI
 * has one of its own size), opened before the writer's map grew, then asked for a session that
 * lies past it. Exits 0 when it read it, having adopted the grown map. */
static void growth_reader(const fixture *f, int in, int out)
{
    uint8_t first[SESS_HASH_BYTES], last[SESS_HASH_BYTES], ok = 1;
    sess_store *st = NULL;
    char err[256];
    sess_store_opts opts = {
        .path = f->dir, .map_size = 256 * 1024, .map_initial = 256 * 1024, .read_only = true};
    sess_store_usage u;
    sess_record r;
    pipe_recv(in, first, sizeof(first));
    if (sess_store_lmdb_open(&opts, &st, err, sizeof(err)) != 0)
        _exit(92);
    sess_record_init(&r);
    if (CALL(st, lookup, first, &r, NULL, NULL) != 0)
        _exit(93);
    sess_record_dispose(&r);
    if (sess_store_lmdb_usage(st, &u) != 0 || u.map_bytes != 256 * 1024)
        _exit(94);
    pipe_send(out, &ok, 1);
    pipe_recv(in, last, sizeof(last));
    if (CALL(st, lookup, last, &r, NULL, NULL) != 0)
        _exit(95);
    sess_record_dispose(&r);
    if (CALL(st, lookup, first, &r, NULL, NULL) != 0)
        _exit(96);
    sess_record_dispose(&r);
    if (sess_store_lmdb_usage(st, &u) != 0 || u.map_bytes <= 256 * 1024)
        _exit(97);
    sess_store_close(st);
    _exit(0);
}

static void test_growth_followed_by_another_process(void **state)
{
    fixture *f = *state;
    int to_child[2], to_parent[2], status;
    assert_int_equal(pipe(to_child), 0);
    assert_int_equal(pipe(to_parent), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(to_child[1]);
        close(to_parent[0]);
        growth_reader(f, to_child[0], to_parent[1]);
    }
    close(to_child[0]);
    close(to_parent[1]);

    sess_store *st = open_growing(f, 256 * 1024, 4 * 1024 * 1024, NULL);
    sess_record r;
    uint8_t ok = 0;
    fill_record(&r, 0);
    assert_sess(0, CALL(st, create, &r, BIG, NULL));
    assert_int_equal(write(to_child[1], r.token_hash, SESS_HASH_BYTES), SESS_HASH_BYTES);
    sess_record_dispose(&r);
    assert_int_equal(read(to_parent[0], &ok, 1), 1);
    /* Grow to 2 MiB while the other process holds its 256 KiB map. */
    for (int i = 1; map_bytes(st) < 2 * 1024 * 1024; i++) {
        fill_record(&r, i);
        assert_sess(0, CALL(st, create, &r, BIG, NULL));
        sess_record_dispose(&r);
    }
    fill_record(&r, 99999);
    assert_sess(0, CALL(st, create, &r, BIG, NULL));
    assert_int_equal(write(to_child[1], r.token_hash, SESS_HASH_BYTES), SESS_HASH_BYTES);
    sess_record_dispose(&r);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    close(to_child[1]);
    close(to_parent[0]);
    sess_store_close(st);
}

/* ---- Token hashes and the per-user index, checked on disk. ---- */

static void test_token_grace_mapping(void **state)
{
    fixture *f = *state;
    sess_store *st = open_ok(f, 0, false);
    sess_record a;
    uint8_t h2[SESS_HASH_BYTES], h3[SESS_HASH_BYTES];
    size_t removed;
    bool prev;

    make(st, &a, "alice", T0);
    sess_random(h2, sizeof(h2));
    sess_random(h3, sizeof(h3));
    assert_sess(0, CALL(st, rotate, a.id, NULL, h2, T0 + 30, 0, NULL));
    assert_sess(0, lookup(st, a.token_hash, NULL, &prev));
    assert_true(prev);
    /* A hash that is already mapped, even to this session, is refused and changes nothing. */
    assert_sess(SESS_EEXIST, CALL(st, rotate, a.id, NULL, h2, T0 + 35, 0, NULL));
    assert_sess(SESS_EEXIST, CALL(st, rotate, a.id, NULL, a.token_hash, T0 + 35, 0, NULL));
    assert_sess(0, lookup(st, h2, NULL, &prev));
    assert_false(prev);
    assert_sess(0, lookup(st, a.token_hash, NULL, &prev));
    assert_true(prev);
    sess_store_close(st);
    assert_int_equal(raw_entries(f, "tokens"), 2);

    st = open_ok(f, 0, false);
    assert_sess(0, CALL(st, rotate, a.id, NULL, h3, T0 + 40, 0, NULL));
    assert_sess(SESS_ESESSION, lookup(st, a.token_hash, NULL, NULL));
    assert_sess(0, lookup(st, h2, NULL, &prev));
    assert_true(prev);
    assert_sess(0, CALL(st, sweep, T0 + 40, BIG, &removed));
    assert_int_equal(removed, 0);
    assert_sess(SESS_ESESSION, lookup(st, h2, NULL, NULL));
    assert_sess(0, lookup(st, h3, NULL, &prev));
    assert_false(prev);
    sess_store_close(st);
    assert_int_equal(raw_entries(f, "tokens"), 1);

    st = open_ok(f, 0, false);
    assert_sess(0, CALL(st, rotate, a.id, NULL, h2, T0 + 50, 0, NULL));
    assert_sess(0, CALL(st, del, a.id));
    sess_store_close(st);
    assert_int_equal(raw_entries(f, "tokens"), 0);
    assert_int_equal(raw_entries(f, "sessions"), 0);
    assert_int_equal(raw_entries(f, "usess"), 0);
    sess_record_dispose(&a);
}

static void test_eviction_order_signed_times(void **state)
{
    fixture *f = *state;
    sess_store *st = open_ok(f, 0, false);
    sess_record r[5];
    uint8_t h[SESS_HASH_BYTES];
    uint32_t evicted = 99;

    /* Negative creation times must sort before positive ones. */
    static const int64_t created[4] = {5, -100, 7, -5};
    for (int i = 0; i < 4; i++) {
        new_record(&r[i], "alice", created[i]);
        r[i].idle_expires = r[i].abs_expires = T0;
        assert_sess(0, CALL(st, create, &r[i], 4, NULL));
    }
    /* The oldest also has a previous token hash, which must go with it. */
    sess_random(h, sizeof(h));
    assert_sess(0, CALL(st, rotate, r[1].id, NULL, h, T0, 0, NULL));

    new_record(&r[4], "alice", 6);
    assert_sess(0, CALL(st, create, &r[4], 2, &evicted));
    assert_int_equal(evicted, 3);
    assert_sess(SESS_ESESSION, get(st, r[1].id)); /* -100 */
    assert_sess(SESS_ESESSION, get(st, r[3].id)); /* -5 */
    assert_sess(SESS_ESESSION, get(st, r[0].id)); /* 5 */
    assert_sess(SESS_ESESSION, lookup(st, h, NULL, NULL));
    assert_sess(SESS_ESESSION, lookup(st, r[1].token_hash, NULL, NULL));
    assert_sess(0, get(st, r[4].id));
    assert_sess(0, get(st, r[2].id));
    sess_store_close(st);
    assert_int_equal(raw_entries(f, "tokens"), 2);
    assert_int_equal(raw_entries(f, "usess"), 2);
    for (int i = 0; i < 5; i++)
        sess_record_dispose(&r[i]);
}

/* The session just created is never the one evicted, even when it is the oldest. */
static void test_new_session_never_evicted(void **state)
{
    fixture *f = *state;
    sess_store *st = open_ok(f, 0, false);
    sess_record a, b, old;
    uint32_t evicted = 0;

    make(st, &a, "alice", T0 + 10);
    make(st, &b, "alice", T0 + 20);
    new_record(&old, "alice", T0);
    assert_sess(0, CALL(st, create, &old, 1, &evicted));
    assert_int_equal(evicted, 2);
    assert_sess(0, get(st, old.id));
    assert_int_equal(count(st), 1);
    sess_store_close(st);
    sess_record_dispose(&a);
    sess_record_dispose(&b);
    sess_record_dispose(&old);
}

static int count_cb(const sess_record *rec, uint64_t gen, void *arg)
{
    (void)rec;
    (void)gen;
    (*(size_t *)arg)++;
    return 0;
}

static void test_revoke_then_create_cleans_index(void **state)
{
    fixture *f = *state;
    sess_store *st = open_ok(f, 0, false);
    sess_record a, b, bob, c, out;
    uint8_t h2[SESS_HASH_BYTES];
    uint64_t gen = 0;
    size_t seen = 0;

    make(st, &a, "alice", T0);
    make(st, &b, "alice", T0 + 1);
    make(st, &bob, "bob", T0);
    sess_random(h2, sizeof(h2));
    assert_sess(0, CALL(st, rotate, b.id, NULL, h2, T0 + 30, 0, NULL));
    assert_sess(0, CALL(st, revoke_user, "alice", &gen));
    assert_int_equal(gen, 1);

    new_record(&c, "alice", T0 + 2);
    c.generation = 0;
    assert_sess(0, CALL(st, create, &c, 50, NULL));
    assert_sess(SESS_ESESSION, get(st, a.id));
    assert_sess(SESS_ESESSION, get(st, b.id));
    assert_sess(SESS_ESESSION, lookup(st, h2, NULL, NULL));
    assert_sess(0, CALL(st, get, c.id, &out, &gen));
    assert_int_equal(out.generation, 1);
    assert_int_equal(gen, 1);
    sess_record_dispose(&out);
    assert_sess(0, CALL(st, list_user, "alice", count_cb, &seen));
    assert_int_equal(seen, 1);
    sess_store_close(st);

    /* On disk: alice's and bob's one session each, nothing else. */
    assert_int_equal(raw_entries(f, "sessions"), 2);
    assert_int_equal(raw_entries(f, "tokens"), 2);
    assert_int_equal(raw_entries(f, "usess"), 2);
    sess_record_dispose(&a);
    sess_record_dispose(&b);
    sess_record_dispose(&bob);
    sess_record_dispose(&c);
}

/* ---- Sweep. ---- */

static void test_sweep_bounded_and_resumes(void **state)
{
    fixture *f = *state;
    sess_store *st = open_ok(f, 0, false);
    enum { DEAD = 30, LIVE = 10 };
    sess_record r;
    size_t removed = 99, total = 0;

    for (int i = 0; i < DEAD + LIVE; i++) {
        new_record(&r, i % 3 ? "alice" : "bob", T0 + i);
        r.idle_expires = i < DEAD ? T0 + 100 : T0 + 5000;
        assert_sess(0, CALL(st, create, &r, BIG, NULL));
        sess_record_dispose(&r);
    }
    static const size_t want[] = {7, 7, 7, 7, 2, 0};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        assert_sess(0, CALL(st, sweep, T0 + 200, 7, &removed));
        assert_int_equal(removed, want[i]);
        total += removed;
        assert_int_equal(count(st), DEAD + LIVE - total);
    }
    /* One at a time also gets through everything (the resume position wraps around). */
    for (int i = 0; i < LIVE; i++) {
        assert_sess(0, CALL(st, sweep, T0 + 6000, 1, &removed));
        assert_int_equal(removed, 1);
    }
    assert_sess(0, CALL(st, sweep, T0 + 6000, 1, &removed));
    assert_int_equal(removed, 0);
    sess_store_close(st);
    assert_int_equal(raw_entries(f, "tokens"), 0);
    assert_int_equal(raw_entries(f, "usess"), 0);
}

/* ---- Threads. ---- */

#define READERS 4
#define READS 3000

struct reader_arg {
    sess_store *st;
    sess_record *recs;
    int n;
    int bad;
};

static void *reader_thread(void *p)
{
    struct reader_arg *a = p;
    for (int i = 0; i < READS; i++) {
        int rc = lookup(a->st, a->recs[i % a->n].token_hash, NULL, NULL);
        if (rc != 0 && rc != SESS_ESESSION)
            a->bad++;
    }
    return NULL;
}

static void *one_lookup_thread(void *p)
{
    struct reader_arg *a = p;
    if (lookup(a->st, a->recs[0].token_hash, NULL, NULL) != 0)
        a->bad++;
    return NULL;
}

static void test_concurrent_readers_and_writer(void **state)
{
    fixture *f = *state;
    sess_store *st = open_ok(f, 0, false);
    enum { N = 64 };
    sess_record recs[N];
    pthread_t th[READERS];
    struct reader_arg args[READERS];

    for (int i = 0; i < N; i++)
        make(st, &recs[i], i % 2 ? "alice" : "bob", T0 + i);
    for (int i = 0; i < READERS; i++) {
        args[i] = (struct reader_arg){.st = st, .recs = recs, .n = N};
        assert_int_equal(pthread_create(&th[i], NULL, reader_thread, &args[i]), 0);
    }
    for (int i = 1; i < N; i += 2) {
        uint8_t h[SESS_HASH_BYTES];
        sess_random(h, sizeof(h));
        assert_sess(0, CALL(st, rotate, recs[i - 1].id, NULL, h, T0, 0, NULL));
        assert_sess(0, CALL(st, del, recs[i].id));
    }
    join_all(th, READERS);
    for (int i = 0; i < READERS; i++)
        assert_int_equal(args[i].bad, 0);
    assert_int_equal(count(st), N / 2);

    /* More short-lived threads than LMDB has reader slots: each exiting thread must give its
     * cached transaction's slot back. */
    struct reader_arg one = {.st = st, .recs = recs, .n = 1};
    for (int i = 0; i < 600; i++) {
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, one_lookup_thread, &one), 0);
        assert_int_equal(pthread_join(t, NULL), 0);
    }
    assert_int_equal(one.bad, 0);
    sess_store_close(st);
    for (int i = 0; i < N; i++)
        sess_record_dispose(&recs[i]);
}

/* A listing callback may call back into the store on the same thread, reads and writes. */
struct reenter {
    sess_store *st;
    size_t seen, deleted;
    int bad;
};

static int reenter_cb(const sess_record *rec, uint64_t gen, void *arg)
{
    struct reenter *r = arg;
    (void)gen;
    r->seen++;
    if (lookup(r->st, rec->token_hash, NULL, NULL) != 0)
        r->bad++;
    if (r->seen % 2 == 0) {
        if (CALL(r->st, del, rec->id) != 0)
            r->bad++;
        else
            r->deleted++;
    }
    return 0;
}

static void test_listing_callback_reenters(void **state)
{
    fixture *f = *state;
    sess_store *st = open_ok(f, 0, false);
    sess_record r;
    struct reenter all = {.st = st}, user = {.st = st};

    for (int i = 0; i < 10; i++) {
        make(st, &r, "alice", T0 + i);
        sess_record_dispose(&r);
    }
    assert_sess(0, CALL(st, list_user, "alice", reenter_cb, &user));
    assert_int_equal(user.seen, 10);
    assert_int_equal(user.bad, 0);
    assert_int_equal(count(st), 5);
    assert_sess(0, CALL(st, list_all, reenter_cb, &all));
    assert_int_equal(all.seen, 5);
    assert_int_equal(all.bad, 0);
    assert_int_equal(count(st), 5 - all.deleted);
    sess_store_close(st);
}

static void test_bad_arguments(void **state)
{
    fixture *f = *state;
    sess_store *st;
    sess_record r;
    char err[256] = "";
    char long_user[SESS_USER_MAX + 2];

    sess_store_opts none = {.path = NULL};
    assert_sess(SESS_EINVAL, sess_store_lmdb_open(&none, &st, err, sizeof(err)));
    assert_true(err[0] != '\0');

    st = open_ok(f, 0, false);
    new_record(&r, "", T0); /* LMDB keys cannot be empty */
    assert_sess(SESS_EINVAL, CALL(st, create, &r, BIG, NULL));
    memset(long_user, 'u', sizeof(long_user) - 1);
    long_user[sizeof(long_user) - 1] = '\0';
    assert_sess(SESS_EINVAL, CALL(st, revoke_user, long_user, NULL));
    assert_sess(SESS_EINVAL, CALL(st, apikey_put, "", r.token_hash, T0));
    assert_sess(SESS_ENOTFOUND, CALL(st, apikey_del, ""));
    assert_int_equal(count(st), 0);
    sess_store_close(st);
    sess_record_dispose(&r);
}

/* An environment made before user accounts existed (no "accounts" database, as the first
 * release wrote it) still opens: read-only it shows no accounts, read-write adds the database
 * and keeps every session. */
static void test_environment_without_accounts(void **state)
{
    fixture *f = *state;
    sess_record a;
    raw r;
    uint8_t buf[64];
    size_t len = 0;

    sess_store *st = open_ok(f, 0, false);
    make(st, &a, "alice", T0);
    sess_store_close(st);
    raw_begin(f, &r, true);
    assert_int_equal(mdb_drop(r.txn, raw_dbi(&r, "accounts"), 1), 0);
    raw_end(&r, true);
    raw_begin(f, &r, false);
    MDB_dbi gone;
    assert_int_equal(mdb_dbi_open(r.txn, "accounts", 0, &gone), MDB_NOTFOUND);
    raw_end(&r, false);

    st = open_ok(f, 0, true);
    assert_sess(0, lookup(st, a.token_hash, NULL, NULL));
    assert_sess(SESS_ENOTFOUND, CALL(st, user_get, "alice", buf, sizeof(buf), &len));
    assert_sess(0, CALL(st, user_list, NULL, NULL)); /* nothing to call back */
    sess_store_close(st);

    st = open_ok(f, 0, false);
    assert_sess(0, lookup(st, a.token_hash, NULL, NULL));
    assert_sess(0, CALL(st, user_put, "alice", (const uint8_t *)"acct", 4, NULL, 0));
    assert_sess(0, CALL(st, user_get, "alice", buf, sizeof(buf), &len));
    assert_int_equal(len, 4);
    sess_store_close(st);
    assert_int_equal(raw_entries(f, "accounts"), 1);
    sess_record_dispose(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_reopen_keeps_everything, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_second_handle_sees_changes, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_other_process_sees_changes, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_memo_sees_other_process, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_memo_never_outlives_a_delete, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_memo_data_bound, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_reader_follows_grown_map, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_read_only_refuses_writes, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_garbage_data_file, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_truncated_data_file, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_unknown_format_version, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_foreign_environment, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_records, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_map_full, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_token_grace_mapping, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_eviction_order_signed_times, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_new_session_never_evicted, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_revoke_then_create_cleans_index, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_sweep_bounded_and_resumes, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_readers_and_writer, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_listing_callback_reenters, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_bad_arguments, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_environment_without_accounts, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_map_grows_to_ceiling, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_growth_followed_by_another_process, fx_setup,
                                        fx_teardown),
    };
    if (sess_crypto_init() != 0) {
        fprintf(stderr, "test_store_lmdb: libsodium cannot be initialised\n");
        return 1;
    }
    return cmocka_run_group_tests_name("store_lmdb", tests, NULL, NULL);
}
