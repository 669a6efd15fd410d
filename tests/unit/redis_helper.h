/*
 * redis_helper.h - what the unit tests of the Redis backend share: finding the test Redis,
 * giving each test its own key prefix, and removing that prefix's keys afterwards.
 *
 * The tests start nothing: scripts/check.sh starts a redis-server on a free loopback port with
 * a temporary directory and exports SESSD_TEST_REDIS_URL (not SESSIOND_*: the configuration
 * refuses unknown variables of its own prefix). Without it, or when that Redis does not answer,
 * the Redis cases fail with a message saying so; they never skip.
 */
#ifndef SESSIOND_TEST_REDIS_HELPER_H
#define SESSIOND_TEST_REDIS_HELPER_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "../../lib/store/redis_int.h"
#include "sessiond/crypto.h"

#define TEST_REDIS_ENV "SESSD_TEST_REDIS_URL"
/* The seed nodes of a test Cluster ("HOST:PORT,..."; every node a master without replicas),
 * started by scripts/check.sh like the single Redis. */
#define TEST_CLUSTER_ENV "SESSD_TEST_REDIS_CLUSTER"

/* The URL, or NULL after printing why there is none. */
static inline const char *test_redis_url(void)
{
    const char *url = getenv(TEST_REDIS_ENV);
    if (url == NULL || url[0] == '\0') {
        fprintf(stderr,
                "redis tests: %s is not set; run them through 'make check' (which starts a "
                "redis-server), or set it to a Redis you can wipe\n",
                TEST_REDIS_ENV);
        return NULL;
    }
    return url;
}

/* A direct connection to the test Redis (AUTH and SELECT done), or NULL after a message. */
static inline redisContext *test_redis_connect(void)
{
    char why[256];
    rs_target t;
    const char *url = test_redis_url();
    if (url == NULL)
        return NULL;
    if (sess__rs_target_parse(url, &t, why, sizeof(why)) != 0) {
        fprintf(stderr, "redis tests: %s: %s\n", TEST_REDIS_ENV, why);
        return NULL;
    }
    struct timeval tv = {2, 0};
    redisContext *c = t.unix_path[0] ? redisConnectUnixWithTimeout(t.unix_path, tv)
                                     : redisConnectWithTimeout(t.host, t.port, tv);
    if (c == NULL || c->err) {
        fprintf(stderr, "redis tests: cannot connect to the Redis of %s: %s\n", TEST_REDIS_ENV,
                c ? c->errstr : "out of memory");
        if (c != NULL)
            redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv);
    redisReply *r = NULL;
    if (t.password[0] != '\0')
        r = t.user[0] ? redisCommand(c, "AUTH %s %s", t.user, t.password)
                      : redisCommand(c, "AUTH %s", t.password);
    if (r != NULL)
        freeReplyObject(r);
    if ((r = redisCommand(c, "SELECT %d", t.db)) != NULL)
        freeReplyObject(r);
    sess_wipe(&t, sizeof(t));
    return c;
}

/* Runs a command and returns its integer answer, or -1. */
static inline long long test_redis_int(redisContext *c, const char *fmt, const char *arg)
{
    redisReply *r = redisCommand(c, fmt, arg);
    long long v = r != NULL && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    if (r != NULL)
        freeReplyObject(r);
    return v;
}

/* A number from INFO `section`, e.g. connected_clients; -1 when absent. */
static inline long long test_redis_info_int(redisContext *c, const char *section, const char *name)
{
    redisReply *r = redisCommand(c, "INFO %s", section);
    long long v = -1;
    if (r != NULL && r->type == REDIS_REPLY_STRING) {
        char pat[64];
        snprintf(pat, sizeof(pat), "\n%s:", name);
        const char *at = strstr(r->str, pat);
        if (at != NULL)
            v = strtoll(at + strlen(pat), NULL, 10);
    }
    if (r != NULL)
        freeReplyObject(r);
    return v;
}

/* CONFIG SET name value; 0 or -1. */
static inline int test_redis_config_set(redisContext *c, const char *name, long long value)
{
    redisReply *r = redisCommand(c, "CONFIG SET %s %lld", name, value);
    int ok = r != NULL && r->type == REDIS_REPLY_STATUS;
    if (r != NULL)
        freeReplyObject(r);
    return ok ? 0 : -1;
}

/* A prefix no other test uses: "sessiond-test:<16 hex digits>:". */
static inline void test_redis_prefix(char out[40])
{
    uint8_t rnd[8];
    sess_random(rnd, sizeof(rnd));
    int n = snprintf(out, 40, "sessiond-test:");
    for (size_t i = 0; i < sizeof(rnd); i++)
        n += snprintf(out + n, 40 - (size_t)n, "%02x", rnd[i]);
    snprintf(out + n, 40 - (size_t)n, ":");
}

/* The seed list, or NULL after printing why there is none. */
static inline const char *test_cluster_seeds(void)
{
    const char *seeds = getenv(TEST_CLUSTER_ENV);
    if (seeds == NULL || seeds[0] == '\0') {
        fprintf(stderr,
                "redis cluster tests: %s is not set; run them through 'make check' (which "
                "starts a three-master Cluster), or set it to the nodes of a Cluster you can "
                "wipe\n",
                TEST_CLUSTER_ENV);
        return NULL;
    }
    return seeds;
}

/* Connections to every node the tests use: the test Redis, or (cluster) each seed node. Fills
 * `out` (at most `max`); the count, or -1 after a message. */
static inline int test_redis_nodes(bool cluster, redisContext **out, int max)
{
    char why[256];
    rs_target t;
    int n = 0;
    if (!cluster) {
        out[0] = test_redis_connect();
        return out[0] != NULL ? 1 : -1;
    }
    const char *seeds = test_cluster_seeds();
    if (seeds == NULL || sess__rs_seeds_parse(seeds, &t, why, sizeof(why)) != 0)
        return -1;
    for (int i = 0; i < t.nseeds && n < max; i++) {
        struct timeval tv = {2, 0};
        redisContext *c = redisConnectWithTimeout(t.seeds[i].host, t.seeds[i].port, tv);
        if (c == NULL || c->err) {
            fprintf(stderr, "redis tests: cannot connect to Cluster node %s:%d\n", t.seeds[i].host,
                    t.seeds[i].port);
            if (c != NULL)
                redisFree(c);
            for (int j = 0; j < n; j++)
                redisFree(out[j]);
            return -1;
        }
        redisSetTimeout(c, tv);
        out[n++] = c;
    }
    return n;
}

/* Deletes every key under `prefix` on one server; 0 or -1. */
static inline int test_redis_del_prefix_on(redisContext *c, const char *prefix)
{
    char cursor[32] = "0", pattern[64];
    int rc = 0;
    snprintf(pattern, sizeof(pattern), "%s*", prefix);
    do {
        redisReply *r = redisCommand(c, "SCAN %s MATCH %s COUNT 1000", cursor, pattern);
        if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
            rc = -1;
        } else {
            snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
            for (size_t i = 0; i < r->element[1]->elements; i++) {
                redisReply *k = r->element[1]->element[i];
                redisReply *d = redisCommand(c, "DEL %b", k->str, k->len);
                if (d != NULL)
                    freeReplyObject(d);
            }
        }
        if (r != NULL)
            freeReplyObject(r);
    } while (rc == 0 && strcmp(cursor, "0") != 0);
    return rc;
}

/* Deletes every key under `prefix` (on every node of the test Cluster with `cluster`). */
static inline int test_redis_del_prefix_in(bool cluster, const char *prefix)
{
    redisContext *c[16];
    int n = test_redis_nodes(cluster, c, 16), rc = n > 0 ? 0 : -1;
    for (int i = 0; i < n; i++) {
        if (test_redis_del_prefix_on(c[i], prefix) != 0)
            rc = -1;
        redisFree(c[i]);
    }
    return rc;
}

static inline int test_redis_del_prefix(const char *prefix)
{
    return test_redis_del_prefix_in(false, prefix);
}

/* Waits until `n` clients subscribe to the invalidation channel of `prefix` (at most `ms`;
 * with `cluster`, summed over the nodes, since each counts only its own subscribers), then a
 * little more so that the subscriber has read its confirmation. 0 or -1. */
static inline int test_redis_wait_subscribed_in(bool cluster, const char *prefix, long long n,
                                                int ms)
{
    char chan[64];
    redisContext *c[16];
    int nc = test_redis_nodes(cluster, c, 16), rc = -1;
    if (nc < 0)
        return -1;
    snprintf(chan, sizeof(chan), "%sinv", prefix);
    for (int waited = 0; waited <= ms && rc != 0; waited += 5) {
        long long got = 0;
        for (int i = 0; i < nc; i++) {
            redisReply *r = redisCommand(c[i], "PUBSUB NUMSUB %s", chan);
            if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2)
                got += r->element[1]->integer;
            if (r != NULL)
                freeReplyObject(r);
        }
        if (got >= n)
            rc = 0;
        else
            nanosleep(&(struct timespec){0, 5000000}, NULL);
    }
    for (int i = 0; i < nc; i++)
        redisFree(c[i]);
    if (rc == 0)
        nanosleep(&(struct timespec){0, 50000000}, NULL);
    return rc;
}

static inline int test_redis_wait_subscribed(const char *prefix, long long n, int ms)
{
    return test_redis_wait_subscribed_in(false, prefix, n, ms);
}

#endif
