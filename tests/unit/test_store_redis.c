/*
 * test_store_redis.c - what only the Redis backend has to get right, beyond the shared
 * conformance suite (test_store.c): parsing the URL without ever echoing a password, failing
 * closed and on time when Redis is away or silent, a bounded pool, reconnecting by itself, keys
 * of users whose names look like key syntax, and the near cache: a change made through one
 * handle (one node) is seen through another handle's cache within 100 ms, and a handle that
 * lost its invalidation subscription stops answering from its cache.
 *
 * The Redis is the one scripts/check.sh starts (SESSD_TEST_REDIS_URL); a "silent Redis" is a
 * listening socket of this test that never answers.
 */
#include "harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "sessiond/crypto.h"
#include "sessiond/error.h"
#include "sessiond/record.h"
#include "sessiond/store.h"

#include "redis_helper.h"

#define CALL(st, op, ...) ((st)->ops->op((st), __VA_ARGS__))

#define assert_sess(expected, expr)                                                                \
    do {                                                                                           \
        int got_ = (expr), want_ = (expected);                                                     \
        if (got_ != want_)                                                                         \
            fail_msg("%s: got %s (%d), want %s (%d)", #expr, sess_errname(got_), got_,             \
                     sess_errname(want_), want_);                                                  \
    } while (0)

/* How soon another node must see a change (the issue's bound). */
#define PROPAGATION_MS 100

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    nanosleep(&(struct timespec){ms / 1000, (long)(ms % 1000) * 1000000L}, NULL);
}

/* ---- Fixture: two handles on one prefix, like two nodes. ---- */

typedef struct fixture {
    char prefix[40];
    sess_store *a; /* no near cache */
    sess_store *b; /* near cache */
} fixture;

static sess_store *open_handle(const char *url, const char *prefix, bool cache)
{
    char err[256] = "";
    sess_store *st = NULL;
    sess_store_opts o = {.redis_url = url, .redis_prefix = prefix, .redis_cache = cache};
    int r = sess_store_redis_open(&o, &st, err, sizeof(err));
    if (r != 0)
        print_error("open: %s (%s)\n", sess_errname(r), err);
    return st;
}

static int fx_setup(void **state)
{
    const char *url = test_redis_url();
    fixture *f = calloc(1, sizeof(*f));
    if (url == NULL || f == NULL) {
        free(f);
        return -1;
    }
    test_redis_prefix(f->prefix);
    f->a = open_handle(url, f->prefix, false);
    f->b = open_handle(url, f->prefix, true);
    if (f->a == NULL || f->b == NULL || f->a->ops->ping(f->a) != 0 ||
        test_redis_wait_subscribed(f->prefix, 1, 5000) != 0) {
        print_error("the Redis of %s does not answer, or the near cache did not subscribe\n",
                    TEST_REDIS_ENV);
        if (f->a != NULL)
            sess_store_close(f->a);
        if (f->b != NULL)
            sess_store_close(f->b);
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    fixture *f = *state;
    redisContext *c = test_redis_connect();
    if (c != NULL) { /* a failed case may have left Redis refusing clients */
        test_redis_config_set(c, "maxclients", 10000);
        redisFree(c);
    }
    sess_store_close(f->a);
    sess_store_close(f->b);
    test_redis_del_prefix(f->prefix);
    free(f);
    return 0;
}

/* A live session of `user` (times from now, so the near cache may keep it). */
static void new_session(sess_record *r, const char *user)
{
    int64_t now = (int64_t)time(NULL);
    sess_record_init(r);
    sess_id_new(r->id);
    sess_random(r->token_hash, sizeof(r->token_hash));
    sess_random(r->csrf_secret, sizeof(r->csrf_secret));
    sess_copy_bounded(r->user, sizeof(r->user), user);
    r->created = now;
    r->last_seen = now;
    r->idle_expires = now + 1800;
    r->abs_expires = now + 86400;
    r->auth_time = now;
    assert_sess(0, sess_record_set_data(r, "{\"n\":1}", 7));
}

/* Looks `hash` up through `st`; the record is disposed. */
static int lookup(sess_store *st, const uint8_t *hash, uint64_t *gen, bool *prev, char *data,
                  size_t cap)
{
    sess_record out;
    uint64_t g = 0;
    bool p = false;
    sess_record_init(&out);
    int r = CALL(st, lookup, hash, &out, &g, &p);
    if (r == 0) {
        if (gen != NULL)
            *gen = g;
        if (prev != NULL)
            *prev = p;
        if (data != NULL)
            snprintf(data, cap, "%s", out.data);
        sess_record_dispose(&out);
    }
    return r;
}

/* Proves that `st` answers this lookup from its near cache: Redis is paused for 400 ms, and the
 * answer must come well before that. */
static void assert_cached(sess_store *st, const uint8_t *hash)
{
    redisContext *c = test_redis_connect();
    assert_non_null(c);
    redisReply *r = redisCommand(c, "CLIENT PAUSE 400 ALL");
    assert_non_null(r);
    freeReplyObject(r);
    int64_t t0 = now_ms();
    int got = lookup(st, hash, NULL, NULL, NULL, 0);
    int64_t took = now_ms() - t0;
    redisFree(c);
    sleep_ms(450); /* let the pause end before anything else talks to Redis */
    assert_sess(0, got);
    if (took >= 200)
        fail_msg("a cached lookup took %lld ms: it went to Redis", (long long)took);
}

/* ---- The URL. ---- */

static void test_url_forms(void **state)
{
    (void)state;
    rs_target t;
    char why[256];
    assert_sess(0, sess__rs_target_parse("redis://127.0.0.1", &t, why, sizeof(why)));
    assert_string_equal(t.host, "127.0.0.1");
    assert_int_equal(t.port, 6379);
    assert_int_equal(t.db, 0);
    assert_string_equal(t.password, "");
    assert_sess(0, sess__rs_target_parse("redis://:p%40ss@host:6380/3", &t, why, sizeof(why)));
    assert_string_equal(t.host, "host");
    assert_int_equal(t.port, 6380);
    assert_int_equal(t.db, 3);
    assert_string_equal(t.user, "");
    assert_string_equal(t.password, "p@ss");
    assert_sess(0, sess__rs_target_parse("redis://app:s3:cr@t@[::1]:7000/", &t, why, sizeof(why)));
    assert_string_equal(t.host, "::1");
    assert_int_equal(t.port, 7000);
    assert_string_equal(t.user, "app");
    assert_string_equal(t.password, "s3:cr@t");
    assert_sess(0, sess__rs_target_parse("unix:/run/redis.sock?db=2", &t, why, sizeof(why)));
    assert_string_equal(t.unix_path, "/run/redis.sock");
    assert_int_equal(t.db, 2);
    assert_sess(0, sess__rs_target_parse("unix:///tmp/r.sock", &t, why, sizeof(why)));
    assert_string_equal(t.unix_path, "/tmp/r.sock");
}

static void test_url_refused_without_echo(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "http://host",
        "rediss://:hunter2secret@host",
        "redis://:hunter2secret@",
        "redis://:hunter2secret@host:0",
        "redis://:hunter2secret@host:65536",
        "redis://:hunter2secret@host:12x",
        "redis://:hunter2secret@host/db",
        "redis://hunter2secret@host",
        "redis://:hunter2secret%zz@host",
        "redis://:hunter2secret%00@host",
        "redis://:hunter2secret@[::1",
        "redis://:hunter2secret@host?x=1",
        "unix:relative/path",
        "unix:/tmp/s?hunter2secret",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        rs_target t;
        char why[256] = "";
        if (sess__rs_target_parse(bad[i], &t, why, sizeof(why)) != SESS_EINVAL)
            fail_msg("accepted \"%s\"", bad[i]);
        assert_true(why[0] != '\0');
        if (strstr(why, "hunter2") != NULL)
            fail_msg("the reason quotes the password: %s", why);
    }
}

static void test_sentinel_lists(void **state)
{
    (void)state;
    rs_target t;
    char why[256];
    memset(&t, 0, sizeof(t));
    assert_sess(0, sess__rs_sentinels_parse("s1:26379, [::1]:26380,s3", &t, why, sizeof(why)));
    assert_int_equal(t.nsentinels, 3);
    assert_string_equal(t.sentinels[0].host, "s1");
    assert_int_equal(t.sentinels[0].port, 26379);
    assert_string_equal(t.sentinels[1].host, "::1");
    assert_int_equal(t.sentinels[1].port, 26380);
    assert_int_equal(t.sentinels[2].port, 26379);
    static const char *const bad[] = {"", " , ", "s1:0", "s1:x", "[::1", "s1:26379,:1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (sess__rs_sentinels_parse(bad[i], &t, why, sizeof(why)) != SESS_EINVAL)
            fail_msg("accepted the Sentinel list \"%s\"", bad[i]);

    /* Opening: the master's name is needed; a URL then only gives credentials (not unix:). */
    char err[256];
    sess_store *st = NULL;
    sess_store_opts o = {.redis_sentinels = "127.0.0.1:26379"};
    assert_sess(SESS_EINVAL, sess_store_redis_open(&o, &st, err, sizeof(err)));
    o.redis_master = "mymaster";
    o.redis_url = "unix:/tmp/x.sock";
    assert_sess(SESS_EINVAL, sess_store_redis_open(&o, &st, err, sizeof(err)));
    o.redis_url = "redis://:pw@ignored:1/2";
    assert_sess(0, sess_store_redis_open(&o, &st, err, sizeof(err)));
    sess_store_close(st);
}

static void test_open_refuses_bad_options(void **state)
{
    (void)state;
    char err[256];
    sess_store *st = NULL;
    sess_store_opts tls = {.redis_url = "rediss://:hunter2@127.0.0.1"};
    assert_sess(SESS_EINVAL, sess_store_redis_open(&tls, &st, err, sizeof(err)));
    assert_non_null(strstr(err, "TLS"));
    assert_null(strstr(err, "hunter2"));
    static const char *const prefixes[] = {
        "a{b", "a}b", "0123456789012345678901234567890123456789012345678901234567890123456789"};
    for (size_t i = 0; i < 3; i++) {
        sess_store_opts o = {.redis_url = "redis://127.0.0.1", .redis_prefix = prefixes[i]};
        assert_sess(SESS_EINVAL, sess_store_redis_open(&o, &st, err, sizeof(err)));
    }
    assert_null(st);
}

/* ---- Failing closed and on time. ---- */

/* A port on which nothing listens (bound, never listened on, then closed). */
static int dead_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* A "Redis" that accepts connections (the kernel does, from the backlog) and never answers. */
static int silent_server(int *port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(fd, 64), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

/* ---- Redis Cluster: slots, redirections, options. ---- */

static void test_cluster_slots(void **state)
{
    (void)state;
    /* The check value of CRC16/XMODEM, and key slots that Redis itself reports (CLUSTER
     * KEYSLOT), hash tags included. */
    assert_int_equal(sess__rs_crc16("123456789", 9), 0x31c3);
    assert_int_equal(sess__rs_key_slot("foo", 3), 12182);
    assert_int_equal(sess__rs_key_slot("bar", 3), 5061);
    assert_int_equal(sess__rs_key_slot("", 0), 0);
    assert_int_equal(sess__rs_key_slot("{user1000}.following", 20),
                     sess__rs_key_slot("{user1000}.followers", 20));
    assert_int_equal(sess__rs_key_slot("{user1000}.following", 20),
                     sess__rs_key_slot("user1000", 8));
    /* Only the first {...} counts; an empty one makes the whole key the tag. */
    assert_int_equal(sess__rs_key_slot("foo{}{bar}", 10), sess__rs_crc16("foo{}{bar}", 10) & 16383);
    assert_int_equal(sess__rs_key_slot("foo{{bar}}zap", 13), sess__rs_key_slot("{bar", 4));
    assert_int_equal(sess__rs_key_slot("foo{bar}{zap}", 13), sess__rs_key_slot("bar", 3));
    assert_int_equal(sess__rs_key_slot("{", 1), sess__rs_crc16("{", 1) & 16383);
    /* A user's keys share a slot whatever the name holds; sessions of two users need not. */
    static const char *const keys[] = {"P s{u:a}}0123456789abcdef", "P z{u:a}}", "P g{u:a}}"};
    for (size_t i = 1; i < 3; i++)
        assert_int_equal(sess__rs_key_slot(keys[i], strlen(keys[i])),
                         sess__rs_key_slot(keys[0], strlen(keys[0])));
}

static void test_cluster_redirects_and_options(void **state)
{
    (void)state;
    char host[256], why[256], err[256];
    int slot, port;
    static const char moved[] = "MOVED 3999 127.0.0.1:6381", ask[] = "ASK 16383 [::1]:7000";
    assert_int_equal(sess__rs_redirect_parse(moved, strlen(moved), &slot, host, &port), 0);
    assert_int_equal(slot, 3999);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 6381);
    assert_int_equal(sess__rs_redirect_parse(ask, strlen(ask), &slot, host, &port), 0);
    assert_int_equal(slot, 16383);
    assert_string_equal(host, "[::1]");
    static const char *const bad[] = {"MOVED",       "MOVED 16384 h:1", "MOVED x h:1",
                                      "MOVED 1 h:0", "MOVED 1 :7",      "MOVED 1 h"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (sess__rs_redirect_parse(bad[i], strlen(bad[i]), &slot, host, &port) == 0)
            fail_msg("accepted the redirection \"%s\"", bad[i]);

    rs_target t;
    assert_sess(0, sess__rs_seeds_parse("10.0.0.1:7000,10.0.0.2", &t, why, sizeof(why)));
    assert_int_equal(t.nseeds, 2);
    assert_int_equal(t.seeds[1].port, 6379);
    assert_sess(SESS_EINVAL, sess__rs_seeds_parse(" , ", &t, why, sizeof(why)));

    /* A Cluster has database 0 only, no unix socket here, and no Sentinels. */
    sess_store *st = NULL;
    sess_store_opts o = {.redis_cluster = "127.0.0.1:7000", .redis_url = "redis://:pw@x/3"};
    assert_sess(SESS_EINVAL, sess_store_redis_open(&o, &st, err, sizeof(err)));
    assert_null(strstr(err, "pw"));
    o.redis_url = "unix:/tmp/x.sock";
    assert_sess(SESS_EINVAL, sess_store_redis_open(&o, &st, err, sizeof(err)));
    o.redis_url = NULL;
    o.redis_sentinels = "127.0.0.1:26379";
    o.redis_master = "m";
    assert_sess(SESS_EINVAL, sess_store_redis_open(&o, &st, err, sizeof(err)));
    o.redis_sentinels = NULL;
    o.redis_url = "redis://:pw@ignored";
    assert_sess(0, sess_store_redis_open(&o, &st, err, sizeof(err)));
    sess_store_close(st);
}

/* No seed node answers: calls fail closed and at once. */
static void test_cluster_unreachable(void **state)
{
    (void)state;
    char seeds[64], err[256];
    sess_store *st;
    sess_record out;
    uint8_t h[SESS_HASH_BYTES] = {1};
    snprintf(seeds, sizeof(seeds), "127.0.0.1:%d,127.0.0.1:%d", dead_port(), dead_port());
    sess_store_opts o = {.redis_cluster = seeds, .redis_cache = true};
    assert_sess(0, sess_store_redis_open(&o, &st, err, sizeof(err)));
    int64_t t0 = now_ms();
    assert_sess(SESS_ESTORE, st->ops->ping(st));
    sess_record_init(&out);
    assert_sess(SESS_ESTORE, CALL(st, lookup, h, &out, &(uint64_t){0}, &(bool){0}));
    assert_sess(SESS_ESTORE, CALL(st, revoke_user, "alice", NULL));
    if (now_ms() - t0 > 500)
        fail_msg("refused connections took %lld ms to report", (long long)(now_ms() - t0));
    sess_store_close(st);
}

static void test_unreachable_fails_fast(void **state)
{
    (void)state;
    char url[64], err[256];
    sess_store *st;
    sess_record out, rec;
    uint8_t h[SESS_HASH_BYTES] = {1};
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d", dead_port());
    sess_store_opts o = {.redis_url = url, .redis_cache = true};
    assert_sess(0, sess_store_redis_open(&o, &st, err, sizeof(err)));
    int64_t t0 = now_ms();
    assert_sess(SESS_ESTORE, st->ops->ping(st));
    sess_record_init(&out);
    assert_sess(SESS_ESTORE, CALL(st, lookup, h, &out, &(uint64_t){0}, &(bool){0}));
    new_session(&rec, "alice");
    assert_sess(SESS_ESTORE, CALL(st, create, &rec, 50, NULL));
    assert_sess(SESS_ESTORE, CALL(st, del, rec.id));
    assert_sess(SESS_ESTORE, CALL(st, revoke_user, "alice", NULL));
    if (now_ms() - t0 > 500)
        fail_msg("refused connections took %lld ms to report", (long long)(now_ms() - t0));
    sess_record_dispose(&rec);
    sess_store_close(st);
}

/* No Sentinel answers: calls fail closed and on time. */
static void test_sentinel_unreachable(void **state)
{
    (void)state;
    char list[64], err[256];
    sess_store *st;
    snprintf(list, sizeof(list), "127.0.0.1:%d,127.0.0.1:%d", dead_port(), dead_port());
    sess_store_opts o = {.redis_sentinels = list, .redis_master = "m", .redis_timeout_ms = 200};
    assert_sess(0, sess_store_redis_open(&o, &st, err, sizeof(err)));
    int64_t t0 = now_ms();
    assert_sess(SESS_ESTORE, st->ops->ping(st));
    if (now_ms() - t0 > 500)
        fail_msg("took %lld ms", (long long)(now_ms() - t0));
    sess_store_close(st);
}

static void test_silent_redis_times_out(void **state)
{
    (void)state;
    char url[64], err[256];
    int port, lfd = silent_server(&port);
    sess_store *st;
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d", port);
    sess_store_opts o = {
        .redis_url = url, .redis_timeout_ms = 200, .redis_connect_timeout_ms = 200};
    assert_sess(0, sess_store_redis_open(&o, &st, err, sizeof(err)));
    for (int i = 0; i < 3; i++) {
        int64_t t0 = now_ms();
        assert_sess(SESS_ESTORE, st->ops->ping(st));
        int64_t took = now_ms() - t0;
        /* Everything of a command, a read's retry included, fits in one timeout (+ slack). */
        if (took > 200 + 100)
            fail_msg("a call on a silent Redis took %lld ms (timeout 200 ms)", (long long)took);
    }
    sess_store_close(st);
    close(lfd);
}

struct pinger {
    sess_store *st;
    int result;
    int64_t took;
};

static void *ping_thread(void *arg)
{
    struct pinger *p = arg;
    int64_t t0 = now_ms();
    p->result = p->st->ops->ping(p->st);
    p->took = now_ms() - t0;
    return NULL;
}

struct short_patcher {
    sess_store *st;
    const uint8_t *id;
    int index, ok, estore, other;
};

static void *short_patch_thread(void *arg)
{
    struct short_patcher *p = arg;
    char patch[64];
    for (int i = 0; i < 25; i++) {
        snprintf(patch, sizeof(patch), "{\"o\":{\"t%d\":%d},\"p%d\":%d}", p->index, i, p->index, i);
        int r = CALL(p->st, patch, p->id, patch, strlen(patch), 4096, NULL);
        if (r == 0)
            p->ok++;
        else if (r == SESS_ESTORE)
            p->estore++;
        else
            p->other++;
    }
    return NULL;
}

/* Concurrent merging patches through a handle whose command timeout (3 ms) is too short for
 * many of them: connections time out mid-command, are dropped and reopened, scripts lose races.
 * Every call ends in success or SESS_ESTORE, nothing crashes or corrupts memory (the ASan pass
 * checks), and the session is intact for a handle with the normal timeout afterwards. */
static void test_concurrent_patches_time_out_cleanly(void **state)
{
    (void)state;
    const char *url = test_redis_url();
    char prefix[40], err[256] = "";
    sess_store *slow = NULL, *st;
    sess_record r, out;
    pthread_t th[8];
    struct short_patcher p[8];
    assert_non_null(url);
    test_redis_prefix(prefix);
    assert_non_null(st = open_handle(url, prefix, false));
    sess_store_opts o = {
        .redis_url = url, .redis_prefix = prefix, .redis_timeout_ms = 3, .redis_pool = 4};
    assert_sess(0, sess_store_redis_open(&o, &slow, err, sizeof(err)));
    new_session(&r, "alice");
    assert_sess(0, CALL(st, create, &r, 50, NULL));
    for (int i = 0; i < 8; i++) {
        p[i] = (struct short_patcher){.st = slow, .id = r.id, .index = i};
        assert_int_equal(pthread_create(&th[i], NULL, short_patch_thread, &p[i]), 0);
    }
    join_all(th, 8);
    sess_store_close(slow);
    int ok = 0, estore = 0;
    for (int i = 0; i < 8; i++) {
        ok += p[i].ok;
        estore += p[i].estore;
    }
    print_message("  %d patches succeeded, %d failed with SESS_ESTORE\n", ok, estore);
    for (int i = 0; i < 8; i++)
        if (p[i].other != 0)
            fail_msg("thread %d: %d patches failed with neither success nor SESS_ESTORE", i,
                     p[i].other);
    assert_sess(0, CALL(st, patch, r.id, "{\"o\":{\"z\":1}}", 13, 4096, NULL));
    sess_record_init(&out);
    assert_sess(0, CALL(st, get, r.id, &out, NULL));
    assert_non_null(strstr(out.data, "\"z\":1"));
    sess_record_dispose(&out);
    sess_record_dispose(&r);
    sess_store_close(st);
    assert_int_equal(test_redis_del_prefix(prefix), 0);
}

/* One pooled connection, four callers, a silent Redis: nobody waits past its bound. */
static void test_pool_is_bounded(void **state)
{
    (void)state;
    char url[64], err[256];
    int port, lfd = silent_server(&port);
    sess_store *st;
    pthread_t th[4];
    struct pinger p[4];
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d", port);
    sess_store_opts o = {.redis_url = url, .redis_timeout_ms = 200, .redis_pool = 1};
    assert_sess(0, sess_store_redis_open(&o, &st, err, sizeof(err)));
    for (int i = 0; i < 4; i++) {
        p[i] = (struct pinger){.st = st};
        assert_int_equal(pthread_create(&th[i], NULL, ping_thread, &p[i]), 0);
    }
    join_all(th, 4);
    for (int i = 0; i < 4; i++) {
        assert_sess(SESS_ESTORE, p[i].result);
        /* Waiting for the connection counts against the same 200 ms (+ slack). */
        if (p[i].took > 200 + 150)
            fail_msg("caller %d waited %lld ms", i, (long long)p[i].took);
    }
    sess_store_close(st);
    close(lfd);
}

/* Connections Redis closes (a restart, CLIENT KILL) are replaced without failing a call. */
static void test_reconnects_by_itself(void **state)
{
    fixture *f = *state;
    sess_record r;
    new_session(&r, "alice");
    assert_sess(0, CALL(f->a, create, &r, 50, NULL));
    for (int i = 0; i < 3; i++) {
        redisContext *c = test_redis_connect();
        assert_non_null(c);
        redisReply *k = redisCommand(c, "CLIENT KILL TYPE normal SKIPME yes");
        assert_non_null(k);
        freeReplyObject(k);
        redisFree(c);
        sleep_ms(20);
        assert_sess(0, f->a->ops->ping(f->a));
        assert_sess(0, CALL(f->a, touch_many, 1, (const uint8_t(*)[SESS_ID_BYTES])r.id,
                            &(int64_t){r.last_seen + 10 + i}, &(int64_t){r.idle_expires + 10}));
        assert_sess(0, lookup(f->a, r.token_hash, NULL, NULL, NULL, 0));
    }
    sess_record_dispose(&r);
}

/* ---- What the store tells the operator. ---- */

struct logged {
    pthread_mutex_t mu;
    int n;
    char text[8][256];
};

static void capture(void *arg, int level, const char *msg)
{
    struct logged *l = arg;
    (void)level;
    pthread_mutex_lock(&l->mu);
    if (l->n < 8)
        snprintf(l->text[l->n++], sizeof(l->text[0]), "%s", msg);
    pthread_mutex_unlock(&l->mu);
}

static bool logged_has(struct logged *l, const char *needle)
{
    bool found = false;
    pthread_mutex_lock(&l->mu);
    for (int i = 0; i < l->n && !found; i++)
        found = strstr(l->text[i], needle) != NULL;
    pthread_mutex_unlock(&l->mu);
    return found;
}

/* Unreachable and back are each said once, without the password. */
static void test_logs_transitions_without_secrets(void **state)
{
    (void)state;
    char url[96], err[256];
    struct logged l = {.mu = PTHREAD_MUTEX_INITIALIZER};
    sess_store *st;
    snprintf(url, sizeof(url), "redis://:hunter2secret@127.0.0.1:%d", dead_port());
    sess_store_opts o = {.redis_url = url, .log = capture, .log_arg = &l};
    assert_sess(0, sess_store_redis_open(&o, &st, err, sizeof(err)));
    for (int i = 0; i < 3; i++) {
        assert_sess(SESS_ESTORE, st->ops->ping(st));
        sleep_ms(300); /* past the reconnect pause: each ping tries again */
    }
    sess_store_close(st);
    assert_int_equal(l.n, 1);
    assert_true(logged_has(&l, "is unreachable"));
    assert_false(logged_has(&l, "hunter2"));
}

/* Keys of the layout before 2 (one script over several slots) are refused with a message,
 * and nothing is written; a Redis without sessiond keys gets the layout mark. */
static void test_old_layout_refused(void **state)
{
    (void)state;
    char err[256], prefix[40], key[64];
    struct logged l = {.mu = PTHREAD_MUTEX_INITIALIZER};
    sess_store *st;
    sess_record rec;
    redisContext *c = test_redis_connect();
    assert_non_null(c);
    test_redis_prefix(prefix);
    snprintf(key, sizeof(key), "%sak", prefix);
    redisReply *r = redisCommand(c, "HSET %s deploy x", key);
    assert_non_null(r);
    freeReplyObject(r);
    sess_store_opts o = {
        .redis_url = test_redis_url(), .redis_prefix = prefix, .log = capture, .log_arg = &l};
    assert_sess(0, sess_store_redis_open(&o, &st, err, sizeof(err)));
    assert_sess(SESS_ESTORE, st->ops->ping(st));
    new_session(&rec, "alice");
    assert_sess(SESS_ESTORE, CALL(st, create, &rec, 50, NULL));
    sess_store_close(st);
    assert_true(logged_has(&l, "another key layout"));
    snprintf(key, sizeof(key), "%s*", prefix);
    r = redisCommand(c, "KEYS %s", key);
    assert_non_null(r);
    assert_int_equal(r->elements, 1); /* only the old key: nothing was written */
    freeReplyObject(r);
    assert_int_equal(test_redis_del_prefix(prefix), 0);

    /* Empty: the mark is written and the store works. */
    assert_sess(0, sess_store_redis_open(&o, &st, err, sizeof(err)));
    assert_sess(0, CALL(st, create, &rec, 50, NULL));
    sess_store_close(st);
    snprintf(key, sizeof(key), "%slayout", prefix);
    r = redisCommand(c, "GET %s", key);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_string_equal(r->str, "2");
    freeReplyObject(r);
    assert_int_equal(test_redis_del_prefix(prefix), 0);
    sess_record_dispose(&rec);
    redisFree(c);
}

/* An allkeys-* eviction policy could drop revoke-all counters: the store warns. */
static void test_warns_about_allkeys_eviction(void **state)
{
    (void)state;
    char err[256];
    struct logged l = {.mu = PTHREAD_MUTEX_INITIALIZER};
    sess_store *st;
    redisContext *c = test_redis_connect();
    assert_non_null(c);
    redisReply *r = redisCommand(c, "CONFIG SET maxmemory-policy allkeys-lru");
    assert_non_null(r);
    freeReplyObject(r);
    sess_store_opts o = {.redis_url = test_redis_url(), .log = capture, .log_arg = &l};
    assert_sess(0, sess_store_redis_open(&o, &st, err, sizeof(err)));
    int got = st->ops->ping(st);
    sess_store_close(st);
    r = redisCommand(c, "CONFIG SET maxmemory-policy noeviction");
    if (r != NULL)
        freeReplyObject(r);
    redisFree(c);
    assert_sess(0, got);
    assert_true(logged_has(&l, "maxmemory-policy allkeys-lru"));
}

/* ---- Keys: user names that look like key syntax stay apart. ---- */

struct ids_seen {
    size_t n;
    uint8_t ids[8][SESS_ID_BYTES];
};

static int collect(const sess_record *rec, uint64_t gen, void *arg)
{
    (void)gen;
    struct ids_seen *s = arg;
    if (s->n < 8)
        memcpy(s->ids[s->n], rec->id, SESS_ID_BYTES);
    s->n++;
    return 0;
}

static void test_user_names_stay_apart(void **state)
{
    fixture *f = *state;
    static const char *const users[] = {"a", "a}:z", "a}:g", "{u:a}", "a:z", "\xc3\xa9t\xc3\xa9"};
    enum { N = sizeof(users) / sizeof(users[0]) };
    sess_record r[N];
    uint64_t gen;
    for (size_t i = 0; i < N; i++) {
        new_session(&r[i], users[i]);
        assert_sess(0, CALL(f->a, create, &r[i], 50, NULL));
    }
    assert_sess(0, CALL(f->a, revoke_user, "a}:g", &gen));
    assert_int_equal(gen, 1);
    assert_sess(0, CALL(f->a, prefs_put, "a}:z", "{\"theme\":\"dark\"}", 16, 4096));
    for (size_t i = 0; i < N; i++) {
        struct ids_seen seen = {0};
        char *json = NULL;
        size_t len;
        assert_sess(0, CALL(f->a, list_user, users[i], collect, &seen));
        assert_int_equal(seen.n, 1);
        assert_memory_equal(seen.ids[0], r[i].id, SESS_ID_BYTES);
        assert_sess(0, lookup(f->a, r[i].token_hash, &gen, NULL, NULL, 0));
        assert_int_equal(gen, strcmp(users[i], "a}:g") == 0 ? 1 : 0);
        int pr = CALL(f->a, prefs_get, users[i], &json, &len);
        assert_sess(strcmp(users[i], "a}:z") == 0 ? 0 : SESS_ENOTFOUND, pr);
        free(json);
        sess_record_dispose(&r[i]);
    }
}

/* The longest prefix with the longest user name: every key still fits (its buffers are sized
 * for this; ASan runs catch an overflow) and every operation works. */
static void test_longest_keys(void **state)
{
    (void)state;
    char prefix[RS_PREFIX_MAX + 1], user[SESS_USER_MAX + 1], err[256];
    sess_store *st;
    sess_record r, out;
    memset(prefix, 'p', RS_PREFIX_MAX);
    prefix[RS_PREFIX_MAX] = '\0';
    memset(user, 'u', SESS_USER_MAX);
    user[SESS_USER_MAX] = '\0';
    sess_store_opts o = {.redis_url = test_redis_url(), .redis_prefix = prefix};
    assert_non_null(o.redis_url);
    /* The prefix is fixed: whatever an interrupted run left under it goes first. */
    assert_int_equal(test_redis_del_prefix(prefix), 0);
    assert_sess(0, sess_store_redis_open(&o, &st, err, sizeof(err)));
    new_session(&r, user);
    assert_sess(0, CALL(st, create, &r, 50, NULL));
    assert_sess(0, lookup(st, r.token_hash, NULL, NULL, NULL, 0));
    sess_record_init(&out);
    assert_sess(0, CALL(st, patch, r.id, "{\"a\":{\"b\":1}}", 13, 4096, &out));
    assert_string_equal(out.user, user);
    sess_record_dispose(&out);
    assert_sess(0, CALL(st, prefs_put, user, "{\"theme\":\"dark\"}", 16, 4096));
    assert_sess(0, CALL(st, revoke_user, user, NULL));
    size_t removed = 0;
    assert_sess(0, CALL(st, sweep, r.created, 100, &removed));
    assert_int_equal(removed, 1);
    sess_store_close(st);
    assert_int_equal(test_redis_del_prefix(prefix), 0);
    sess_record_dispose(&r);
}

/* ---- The near cache across two handles. ---- */

/* Polls `cond` every millisecond for PROPAGATION_MS; fails the test if it never holds. */
#define EVENTUALLY(what, cond)                                                                     \
    do {                                                                                           \
        int64_t t0_ = now_ms();                                                                    \
        while (!(cond)) {                                                                          \
            if (now_ms() - t0_ > PROPAGATION_MS)                                                   \
                fail_msg("%s: not seen by the other node within %d ms", what, PROPAGATION_MS);     \
            sleep_ms(1);                                                                           \
        }                                                                                          \
    } while (0)

static void test_cache_serves_locally(void **state)
{
    fixture *f = *state;
    sess_record r;
    new_session(&r, "alice");
    assert_sess(0, CALL(f->a, create, &r, 50, NULL));
    assert_sess(0, lookup(f->b, r.token_hash, NULL, NULL, NULL, 0));
    assert_cached(f->b, r.token_hash);
    sess_record_dispose(&r);
}

static void test_cache_sees_delete(void **state)
{
    fixture *f = *state;
    sess_record r;
    new_session(&r, "alice");
    assert_sess(0, CALL(f->a, create, &r, 50, NULL));
    assert_sess(0, lookup(f->b, r.token_hash, NULL, NULL, NULL, 0));
    assert_sess(0, lookup(f->b, r.token_hash, NULL, NULL, NULL, 0));
    assert_sess(0, CALL(f->a, del, r.id));
    EVENTUALLY("delete", lookup(f->b, r.token_hash, NULL, NULL, NULL, 0) == SESS_ESESSION);
    sess_record_dispose(&r);
}

static void test_cache_sees_revoke_all(void **state)
{
    fixture *f = *state;
    sess_record r;
    uint64_t gen = 99, now_gen = 0;
    new_session(&r, "alice");
    assert_sess(0, CALL(f->a, create, &r, 50, NULL));
    assert_sess(0, lookup(f->b, r.token_hash, &gen, NULL, NULL, 0));
    assert_int_equal(gen, 0);
    assert_sess(0, CALL(f->a, revoke_user, "alice", &now_gen));
    EVENTUALLY("revoke-all",
               lookup(f->b, r.token_hash, &gen, NULL, NULL, 0) == 0 && gen == now_gen);
    sess_record_dispose(&r);
}

static void test_cache_sees_patch_rotate_touch(void **state)
{
    fixture *f = *state;
    sess_record r, out;
    uint8_t h2[SESS_HASH_BYTES];
    char data[64] = "";
    bool prev = false;
    new_session(&r, "alice");
    assert_sess(0, CALL(f->a, create, &r, 50, NULL));
    assert_sess(0, lookup(f->b, r.token_hash, NULL, NULL, data, sizeof(data)));
    assert_string_equal(data, "{\"n\":1}");

    assert_sess(0, CALL(f->a, patch, r.id, "{\"n\":2}", 7, 4096, NULL));
    EVENTUALLY("patch", lookup(f->b, r.token_hash, NULL, NULL, data, sizeof(data)) == 0 &&
                            strcmp(data, "{\"n\":2}") == 0);

    sess_random(h2, sizeof(h2));
    assert_sess(0, CALL(f->a, rotate, r.id, NULL, h2, r.created + 30, 0, NULL));
    EVENTUALLY("rotate", lookup(f->b, r.token_hash, NULL, &prev, NULL, 0) == 0 && prev);

    int64_t seen = r.last_seen + 60;
    assert_sess(0, CALL(f->a, touch_many, 1, (const uint8_t(*)[SESS_ID_BYTES])r.id, &seen,
                        &(int64_t){r.idle_expires + 60}));
    sess_record_init(&out);
    EVENTUALLY("touch", CALL(f->b, lookup, h2, &out, &(uint64_t){0}, &(bool){0}) == 0 &&
                            (sess_record_dispose(&out), out.last_seen == seen));
    sess_record_dispose(&r);
}

/* The roles a lookup of `hash` through `st` answers, or "" and the error. */
static int lookup_roles(sess_store *st, const uint8_t *hash, char *roles, size_t cap,
                        uint32_t *flags)
{
    sess_record out;
    sess_record_init(&out);
    int r = CALL(st, lookup, hash, &out, &(uint64_t){0}, &(bool){0});
    snprintf(roles, cap, "%s", r == 0 ? out.roles : "");
    *flags = r == 0 ? out.flags : 0;
    sess_record_dispose(&out);
    return r;
}

/* set_roles on one handle reaches the other's near cache; roles a record cannot hold are
 * refused with nothing written. */
static void test_cache_sees_set_roles(void **state)
{
    fixture *f = *state;
    sess_record r;
    char roles[SESS_ROLES_MAX + 2];
    uint32_t flags = 0;
    new_session(&r, "alice");
    sess_copy_bounded(r.roles, sizeof(r.roles), "dev");
    assert_sess(0, CALL(f->a, create, &r, 50, NULL));
    assert_sess(0, lookup_roles(f->b, r.token_hash, roles, sizeof(roles), &flags));
    assert_cached(f->b, r.token_hash);
    assert_string_equal(roles, "dev");

    assert_sess(0, CALL(f->a, set_roles, "alice", "auditor"));
    EVENTUALLY("set_roles", lookup_roles(f->b, r.token_hash, roles, sizeof(roles), &flags) == 0 &&
                                strcmp(roles, "auditor") == 0);
    assert_int_equal(flags, SESS_REC_ROLES_CHANGED);

    memset(roles, 'a', SESS_ROLES_MAX + 1);
    roles[SESS_ROLES_MAX + 1] = '\0';
    assert_sess(SESS_EINVAL, CALL(f->a, set_roles, "alice", roles));
    assert_sess(0, lookup_roles(f->a, r.token_hash, roles, sizeof(roles), &flags));
    assert_string_equal(roles, "auditor");
    sess_record_dispose(&r);
}

static void test_cache_sees_apikey_and_prefs(void **state)
{
    fixture *f = *state;
    uint8_t h[SESS_HASH_BYTES];
    char name[SESS_APIKEY_NAME_MAX + 1], *json = NULL;
    size_t len;
    sess_random(h, sizeof(h));
    assert_sess(0, CALL(f->a, apikey_put, "deploy", h, 1));
    assert_sess(0, CALL(f->b, apikey_find, h, name));
    assert_sess(0, CALL(f->b, apikey_find, h, name));
    assert_sess(0, CALL(f->a, apikey_del, "deploy"));
    EVENTUALLY("API key revoke", CALL(f->b, apikey_find, h, name) == SESS_ENOTFOUND);

    assert_sess(SESS_ENOTFOUND, CALL(f->b, prefs_get, "alice", &json, &len));
    assert_sess(0, CALL(f->a, prefs_put, "alice", "{\"theme\":\"dark\"}", 16, 4096));
    EVENTUALLY("preferences", CALL(f->b, prefs_get, "alice", &json, &len) == 0);
    assert_string_equal(json, "{\"theme\":\"dark\"}");
    free(json);
}

/* A handle whose subscription is cut must not answer from its cache: a change it missed (made
 * here behind its back, without a message) is seen at once; and it subscribes again. */
static void test_cache_dropped_without_subscription(void **state)
{
    fixture *f = *state;
    sess_record r;
    char key[128];
    new_session(&r, "alice");
    assert_sess(0, CALL(f->a, create, &r, 50, NULL));
    assert_sess(0, lookup(f->b, r.token_hash, NULL, NULL, NULL, 0));
    assert_cached(f->b, r.token_hash);

    /* Redis takes no new client for a while, so the subscriber cannot come back at once, and
     * the handle must not answer from its cache meanwhile (an error or the truth, never the
     * cached session, which is deleted here behind its back). */
    redisContext *c = test_redis_connect();
    assert_non_null(c);
    long long clients = test_redis_info_int(c, "clients", "connected_clients");
    assert_true(clients > 1);
    assert_int_equal(test_redis_config_set(c, "maxclients", clients - 1), 0);
    redisReply *k = redisCommand(c, "CLIENT KILL TYPE pubsub");
    assert_non_null(k);
    freeReplyObject(k);
    size_t n = (size_t)snprintf(key, sizeof(key), "%st:", f->prefix);
    memcpy(key + n, r.token_hash, SESS_HASH_BYTES);
    k = redisCommand(c, "DEL %b", key, n + SESS_HASH_BYTES);
    assert_non_null(k);
    freeReplyObject(k);
    int64_t t0 = now_ms();
    while (now_ms() - t0 < 300) {
        int got = lookup(f->b, r.token_hash, NULL, NULL, NULL, 0);
        if (got == 0 && now_ms() - t0 > 20)
            fail_msg("answered from its cache %lld ms after losing its subscription",
                     (long long)(now_ms() - t0));
        sleep_ms(5);
    }
    assert_int_equal(test_redis_config_set(c, "maxclients", 10000), 0);
    redisFree(c);

    /* Back: it subscribes again and serves from its cache again. */
    assert_int_equal(test_redis_wait_subscribed(f->prefix, 1, 3000), 0);
    sess_record s;
    new_session(&s, "bob");
    assert_sess(0, CALL(f->a, create, &s, 50, NULL));
    assert_sess(0, lookup(f->b, s.token_hash, NULL, NULL, NULL, 0));
    assert_cached(f->b, s.token_hash);
    sess_record_dispose(&r);
    sess_record_dispose(&s);
}

/* Sends one command to every node; 0 when each answered without an error. */
static int on_all(redisContext **c, int n, const char *fmt, int arg)
{
    int rc = 0;
    for (int i = 0; i < n; i++) {
        redisReply *r = redisCommand(c[i], fmt, arg);
        if (r == NULL || r->type == REDIS_REPLY_ERROR)
            rc = -1;
        if (r != NULL)
            freeReplyObject(r);
    }
    return rc;
}

/* Whether every node serves the slot of `key` again: a GET answers a value or MOVED, not
 * CLUSTERDOWN, once the slot has an owner. */
static bool slot_served(redisContext **c, int n, const char *key)
{
    for (int i = 0; i < n; i++) {
        redisReply *r = redisCommand(c[i], "GET %s", key);
        bool down =
            r == NULL || (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "CLUSTERDOWN", 11) == 0);
        if (r != NULL)
            freeReplyObject(r);
        if (down)
            return false;
    }
    return true;
}

/* Cluster: a slot nobody serves any more (CLUSTER DELSLOTS on every node, after sessiond
 * loaded the map) answers CLUSTERDOWN; the store retries within its timeout, then fails closed;
 * once the slot is served again, calls work without reopening. */
static void test_cluster_down_fails_closed(void **state)
{
    (void)state;
    char prefix[40], err[256], key[64];
    redisContext *c[16];
    sess_store *st = NULL;
    sess_record r;
    int n = test_redis_nodes(true, c, 16);
    assert_true(n >= 2);
    test_redis_prefix(prefix);
    sess_store_opts o = {
        .redis_cluster = test_cluster_seeds(), .redis_prefix = prefix, .redis_timeout_ms = 300};
    assert_sess(0, sess_store_redis_open(&o, &st, err, sizeof(err)));
    new_session(&r, "alice");
    assert_sess(0, CALL(st, create, &r, 50, NULL));
    snprintf(key, sizeof(key), "{u:alice}");
    int slot = sess__rs_key_slot(key, strlen(key));
    /* The owner, to give the slot back to. */
    int owner = -1;
    for (int i = 0; i < n && owner < 0; i++) {
        redisReply *g = redisCommand(c[i], "EXISTS %sz{u:alice}", prefix);
        if (g != NULL && g->type == REDIS_REPLY_INTEGER && g->integer == 1)
            owner = i;
        if (g != NULL)
            freeReplyObject(g);
    }
    assert_true(owner >= 0);
    assert_int_equal(on_all(c, n, "CLUSTER DELSLOTS %d", slot), 0);
    sess_record out;
    sess_record_init(&out);
    int64_t t0 = now_ms();
    int got = CALL(st, get, r.id, &out, NULL);
    int64_t took = now_ms() - t0;
    if (got == 0)
        sess_record_dispose(&out);
    redisReply *x = redisCommand(c[owner], "CLUSTER ADDSLOTS %d", slot);
    assert_non_null(x);
    freeReplyObject(x);
    assert_sess(SESS_ESTORE, got);
    if (took < 200 || took > 300 + 400)
        fail_msg("CLUSTERDOWN answered after %lld ms (retries within 300 ms expected)",
                 (long long)took);
    snprintf(key, sizeof(key), "%sz{u:alice}", prefix);
    t0 = now_ms();
    while (!slot_served(c, n, key)) {
        if (now_ms() - t0 > 10000)
            fail_msg("slot %d not served again within 10 s", slot);
        sleep_ms(20);
    }
    assert_sess(0, CALL(st, revoke_user, "alice", NULL));
    sess_store_close(st);
    assert_int_equal(test_redis_del_prefix_in(true, prefix), 0);
    for (int i = 0; i < n; i++)
        redisFree(c[i]);
    sess_record_dispose(&r);
}

/* The node that holds the one subscription of `prefix` among `c` (-1 when none or several). */
static int subscriber_node(redisContext **c, int n, const char *prefix)
{
    char chan[64];
    int at = -1, found = 0;
    snprintf(chan, sizeof(chan), "%sinv", prefix);
    for (int i = 0; i < n; i++) {
        redisReply *r = redisCommand(c[i], "PUBSUB NUMSUB %s", chan);
        if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
            r->element[1]->integer > 0) {
            at = i;
            found += (int)r->element[1]->integer;
        }
        if (r != NULL)
            freeReplyObject(r);
    }
    return found == 1 ? at : -1;
}

/* Cluster: the node holding the near cache's subscription fails (here: it drops the
 * subscriber and takes no new client). The cache stops serving, the subscriber moves to
 * another node, and invalidations published on any node reach it there. */
static void test_cluster_cache_resubscribes_elsewhere(void **state)
{
    (void)state;
    char prefix[40], err[256];
    redisContext *c[16];
    sess_store *a = NULL, *b = NULL;
    sess_record r, s;
    int n = test_redis_nodes(true, c, 16);
    assert_true(n >= 2);
    test_redis_prefix(prefix);
    sess_store_opts oa = {.redis_cluster = test_cluster_seeds(), .redis_prefix = prefix};
    sess_store_opts ob = oa;
    ob.redis_cache = true;
    assert_sess(0, sess_store_redis_open(&oa, &a, err, sizeof(err)));
    assert_sess(0, sess_store_redis_open(&ob, &b, err, sizeof(err)));
    assert_int_equal(test_redis_wait_subscribed_in(true, prefix, 1, 5000), 0);
    int at = subscriber_node(c, n, prefix);
    assert_true(at >= 0);
    new_session(&r, "alice");
    assert_sess(0, CALL(a, create, &r, 50, NULL));
    assert_sess(0, lookup(b, r.token_hash, NULL, NULL, NULL, 0));

    long long clients = test_redis_info_int(c[at], "clients", "connected_clients");
    assert_int_equal(test_redis_config_set(c[at], "maxclients", clients - 1), 0);
    redisReply *k = redisCommand(c[at], "CLIENT KILL TYPE pubsub");
    assert_non_null(k);
    freeReplyObject(k);
    /* Back on another node; meanwhile nothing came from a cache that may have missed news. */
    int64_t t0 = now_ms();
    int now_at;
    while ((now_at = subscriber_node(c, n, prefix)) < 0) {
        if (now_ms() - t0 > 5000)
            fail_msg("no new subscription within 5 s");
        sleep_ms(5);
    }
    assert_int_equal(test_redis_config_set(c[at], "maxclients", 10000), 0);
    assert_int_not_equal(now_at, at);
    sleep_ms(50); /* the subscriber reads its confirmation */

    /* Cached again, and a delete made through a (published wherever its script ran) reaches
     * b on its new node. */
    new_session(&s, "bob");
    assert_sess(0, CALL(a, create, &s, 50, NULL));
    assert_sess(0, lookup(b, s.token_hash, NULL, NULL, NULL, 0));
    assert_sess(0, CALL(a, del, s.id));
    EVENTUALLY("delete on another node",
               lookup(b, s.token_hash, NULL, NULL, NULL, 0) == SESS_ESESSION);
    sess_store_close(a);
    sess_store_close(b);
    assert_int_equal(test_redis_del_prefix_in(true, prefix), 0);
    for (int i = 0; i < n; i++)
        redisFree(c[i]);
    sess_record_dispose(&r);
    sess_record_dispose(&s);
}

/* A fetch that overlapped an invalidation must not land in the cache: puts carry the counter
 * read before the fetch (white-box: the put is made by hand, as a racing lookup would). */
static void test_cache_refuses_overtaken_put(void **state)
{
    fixture *f = *state;
    rs_cache *cache = ((redis_store *)f->b)->cache;
    sess_record r, out;
    char msg[1 + SESS_ID_BYTES] = {'i'};
    uint64_t gen;
    bool prev;
    new_session(&r, "alice");
    assert_sess(0, CALL(f->a, create, &r, 50, NULL));

    uint64_t seq = sess__rs_cache_seq(cache);
    memcpy(msg + 1, r.id, SESS_ID_BYTES);
    sess__rs_cache_apply(cache, msg, sizeof(msg)); /* the delete's message arrives first */
    sess__rs_cache_put_lookup(cache, seq, r.token_hash, &r, 0, false);
    sess_record_init(&out);
    assert_false(sess__rs_cache_get_lookup(cache, r.token_hash, &out, &gen, &prev));

    /* Without anything in between, the same put is kept. */
    seq = sess__rs_cache_seq(cache);
    sess__rs_cache_put_lookup(cache, seq, r.token_hash, &r, 0, false);
    assert_true(sess__rs_cache_get_lookup(cache, r.token_hash, &out, &gen, &prev));
    sess_record_dispose(&out);
    sess_record_dispose(&r);
}

/* Lookups racing deletes from another node. A lookup whose answer left Redis before the delete
 * may still land in the cache if the delete's message has not arrived yet; the message then
 * removes it. So once the racing readers are gone, the session is refused within the
 * propagation bound and stays refused. */
struct racer {
    fixture *f;
    const uint8_t *hash;
    atomic_bool stop;
};

static void *reader_loop(void *arg)
{
    struct racer *x = arg;
    while (!atomic_load(&x->stop))
        (void)lookup(x->f->b, x->hash, NULL, NULL, NULL, 0);
    return NULL;
}

static void test_cache_never_keeps_deleted(void **state)
{
    fixture *f = *state;
    for (int round = 0; round < 100; round++) {
        sess_record r;
        pthread_t th;
        new_session(&r, "racer");
        assert_sess(0, CALL(f->a, create, &r, 0, NULL));
        struct racer x = {.f = f, .hash = r.token_hash};
        atomic_init(&x.stop, false);
        assert_int_equal(pthread_create(&th, NULL, reader_loop, &x), 0);
        for (int i = 0; i < 3; i++) /* each touch invalidates: the reader fetches again */
            assert_sess(0, CALL(f->a, touch_many, 1, (const uint8_t(*)[SESS_ID_BYTES])r.id,
                                &(int64_t){r.last_seen + i + 1}, &(int64_t){r.idle_expires}));
        assert_sess(0, CALL(f->a, del, r.id));
        EVENTUALLY("delete", lookup(f->b, r.token_hash, NULL, NULL, NULL, 0) == SESS_ESESSION);
        atomic_store(&x.stop, true);
        assert_int_equal(pthread_join(th, NULL), 0);
        EVENTUALLY("delete, after the readers",
                   lookup(f->b, r.token_hash, NULL, NULL, NULL, 0) == SESS_ESESSION);
        sleep_ms(5);
        assert_sess(SESS_ESESSION, lookup(f->b, r.token_hash, NULL, NULL, NULL, 0));
        sess_record_dispose(&r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_forms),
        cmocka_unit_test(test_url_refused_without_echo),
        cmocka_unit_test(test_sentinel_lists),
        cmocka_unit_test(test_open_refuses_bad_options),
        cmocka_unit_test(test_cluster_slots),
        cmocka_unit_test(test_cluster_redirects_and_options),
        cmocka_unit_test(test_cluster_unreachable),
        cmocka_unit_test(test_sentinel_unreachable),
        cmocka_unit_test(test_unreachable_fails_fast),
        cmocka_unit_test(test_silent_redis_times_out),
        cmocka_unit_test(test_pool_is_bounded),
        cmocka_unit_test(test_concurrent_patches_time_out_cleanly),
        cmocka_unit_test(test_logs_transitions_without_secrets),
        cmocka_unit_test(test_warns_about_allkeys_eviction),
        cmocka_unit_test(test_old_layout_refused),
        cmocka_unit_test(test_longest_keys),
        cmocka_unit_test_setup_teardown(test_reconnects_by_itself, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_user_names_stay_apart, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_cache_serves_locally, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_cache_sees_delete, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_cache_sees_revoke_all, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_cache_sees_patch_rotate_touch, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_cache_sees_set_roles, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_cache_sees_apikey_and_prefs, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_cache_dropped_without_subscription, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_cache_refuses_overtaken_put, fx_setup, fx_teardown),
        cmocka_unit_test(test_cluster_cache_resubscribes_elsewhere),
        cmocka_unit_test(test_cluster_down_fails_closed),
        cmocka_unit_test_setup_teardown(test_cache_never_keeps_deleted, fx_setup, fx_teardown),
    };
    if (sess_crypto_init() != 0) {
        fprintf(stderr, "test_store_redis: libsodium cannot be initialised\n");
        return 1;
    }
    return cmocka_run_group_tests_name("store_redis", tests, NULL, NULL);
}
