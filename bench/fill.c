/*
 * fill.c - fills a store with N sessions of the benchmark's shape through libsessiond, for the
 * memory-per-session, file-size and restart measurements of bench/run.mjs (`make bench` builds
 * it into build/bench/fill). Filling a million sessions through HTTP would take minutes; this
 * goes through the same sess_create a server runs, so the stored records are the real thing.
 *
 * usage: fill memory N
 *        fill lmdb N DATA_DIR        (DATA_DIR/server.key is used, or created: a server started
 *                                     on DATA_DIR accepts the sessions' tokens)
 *        fill redis N REDIS_URL PREFIX
 *
 * The shape, about 200 bytes of payload: user (10 sessions per user), roles, user agent, client
 * address, CSRF secret, and two data keys. Prints key=value lines: sessions, seconds,
 * rss_before and rss_after (this process's VmRSS in bytes), rss_anon and rss_file after.
 * Writes from several threads (each sess_create is one store transaction or script).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sessiond/error.h"
#include "sessiond/session.h"
#include "sessiond/store.h"

#define SESSIONS_PER_USER 10

typedef struct filler {
    sess_ctx *ctx;
    uint64_t n;
    int64_t now;
    atomic_uint_fast64_t next;
    atomic_int failed;
} filler;

static long status_field(const char *name)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    size_t nl = strlen(name);
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, name, nl) == 0 && line[nl] == ':') {
            v = strtol(line + nl + 1, NULL, 10) * 1024;
            break;
        }
    fclose(f);
    return v;
}

static void *fill_thread(void *arg)
{
    filler *f = arg;
    static const char data[] = "{\"cart\":[1,2,3],\"theme\":\"dark\"}";
    for (;;) {
        uint64_t i = atomic_fetch_add(&f->next, 1);
        if (i >= f->n || atomic_load(&f->failed))
            return NULL;
        char user[32], ip[32], token[SESS_TOKEN_STRLEN + 1];
        snprintf(user, sizeof user, "user%07llu", (unsigned long long)(i / SESSIONS_PER_USER));
        snprintf(ip, sizeof ip, "10.%u.%u.%u", (unsigned)(i >> 16) & 255, (unsigned)(i >> 8) & 255,
                 (unsigned)i & 255);
        sess_create_params p = {
            .user = user,
            .roles = "admin,staff",
            .data = data,
            .data_len = sizeof data - 1,
            .ip = ip,
            .agent = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
        };
        sess_record rec;
        sess_record_init(&rec);
        int r = sess_create(f->ctx, &p, f->now, token, &rec);
        sess_record_dispose(&rec);
        if (r != 0) {
            fprintf(stderr, "fill: create #%llu: %s\n", (unsigned long long)i, sess_strerror(r));
            atomic_store(&f->failed, 1);
            return NULL;
        }
    }
}

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc < 3 || (strcmp(argv[1], "lmdb") == 0 && argc != 4) ||
        (strcmp(argv[1], "redis") == 0 && argc != 5)) {
        fprintf(stderr, "usage: fill memory N | fill lmdb N DATA_DIR | fill redis N URL PREFIX\n");
        return 2;
    }
    uint64_t n = strtoull(argv[2], NULL, 10);
    if (n == 0 || n > 100000000) {
        fprintf(stderr, "fill: N must be 1..100000000\n");
        return 2;
    }
    if (sess_crypto_init() != 0)
        return 1;
    char err[256] = "";
    uint8_t key[SESS_KEY_BYTES];
    sess_store *st = NULL;
    sess_store_opts o = {0};
    int r, threads = 1;
    if (strcmp(argv[1], "memory") == 0) {
        sess_random(key, sizeof key);
        r = sess_store_memory_open(&o, &st, err, sizeof err);
    } else if (strcmp(argv[1], "lmdb") == 0) {
        char path[4096];
        snprintf(path, sizeof path, "%s/server.key", argv[3]);
        if (sess_key_load_or_create(path, key, err, sizeof err) != 0) {
            fprintf(stderr, "fill: %s: %s\n", path, err);
            return 1;
        }
        o.path = argv[3];
        o.group_commit = true;
        threads = 4;
        r = sess_store_lmdb_open(&o, &st, err, sizeof err);
    } else if (strcmp(argv[1], "redis") == 0) {
        sess_random(key, sizeof key);
        o.redis_url = argv[3];
        o.redis_prefix = argv[4];
        o.redis_pool = 16;
        o.redis_timeout_ms = 10000;
        threads = 16;
        r = sess_store_redis_open(&o, &st, err, sizeof err);
    } else {
        fprintf(stderr, "fill: unknown store %s\n", argv[1]);
        return 2;
    }
    if (r != 0) {
        fprintf(stderr, "fill: cannot open the store: %s\n", err);
        return 1;
    }
    sess_policy pol = {.idle_timeout = 30 * 24 * 3600,
                       .absolute_timeout = 30 * 24 * 3600,
                       .remember_me = 30 * 24 * 3600,
                       .touch_interval = 60,
                       .rotate_grace = 30,
                       .max_per_user = 50,
                       .max_data = 16384};
    filler f = {.n = n, .now = (int64_t)time(NULL)};
    if (sess_ctx_new(st, key, &pol, &f.ctx) != 0)
        return 1;
    long before = status_field("VmRSS");
    double t0 = seconds();
    pthread_t th[16];
    for (int i = 0; i < threads; i++)
        pthread_create(&th[i], NULL, fill_thread, &f);
    for (int i = 0; i < threads; i++)
        pthread_join(th[i], NULL);
    double took = seconds() - t0;
    uint64_t count = 0;
    st->ops->count(st, &count);
    printf("sessions=%llu\nseconds=%.3f\nrss_before=%ld\nrss_after=%ld\nrss_anon=%ld\nrss_file=%ld\n",
           (unsigned long long)count, took, before, status_field("VmRSS"),
           status_field("RssAnon"), status_field("RssFile"));
    fflush(stdout);
    sess_ctx_free(f.ctx);
    sess_store_close(st);
    return atomic_load(&f.failed) ? 1 : 0;
}
