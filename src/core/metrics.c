/*
 * metrics.c - request counters by route and status, verify and store latency histograms, store
 * errors, writes refused for lack of space and how much of its ceiling the lmdb map uses, login
 * outcomes, lockouts, rotations, audit write failures and the near cache's hits. Relaxed
 * atomics: each counter is exact, a scrape is not a snapshot.
 */
#include "core/metrics.h"
#include "core/clock.h"
#include "core/state.h"
#include "core/store_timed.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <time.h>
#include <string.h>

sessd_conn_counters sessd_conn_count;

static const char *route_labels[] = {
#define SESSD_ROUTE_LABEL(name, label) label,
    SESSD_ROUTES(SESSD_ROUTE_LABEL)
#undef SESSD_ROUTE_LABEL
};

/* The statuses sessiond answers with; anything else is counted as "other". */
static const int statuses[] = {200, 201, 204, 302, 303, 400, 401, 403, 404, 405,
                               409, 413, 414, 415, 429, 431, 500, 503, 507};
#define NSTATUS (sizeof(statuses) / sizeof(statuses[0]) + 1)

static const uint64_t buckets_us[] = {100, 250, 500, 1000, 2500, 5000, 10000, 50000, 250000};
#define NBUCKET (sizeof(buckets_us) / sizeof(buckets_us[0]))

typedef struct histogram {
    _Atomic uint64_t bucket[NBUCKET + 1];
    _Atomic uint64_t sum_us;
    _Atomic uint64_t count;
} histogram;

static const char *store_op_labels[] = {"read", "write", "scan"};

static _Atomic uint64_t requests[SESSD_ROUTE_COUNT][NSTATUS];
static histogram verify_hist;
static histogram store_hist[SESSD_STORE_OP_COUNT];
static _Atomic uint64_t store_errors, store_full;
static _Atomic uint64_t logins[2];
static _Atomic uint64_t lockouts, rotations, audit_errors;
static _Atomic int64_t sessions = -1, sessions_at, sessions_read_at; /* seconds; 0: never */

void sessd_metrics_request(enum sessd_route route, int status)
{
    size_t s = NSTATUS - 1;
    for (size_t i = 0; i < NSTATUS - 1; i++)
        if (statuses[i] == status)
            s = i;
    atomic_fetch_add_explicit(&requests[route][s], 1, memory_order_relaxed);
}

static void observe(histogram *h, uint64_t usec)
{
    size_t b = NBUCKET;
    for (size_t i = 0; i < NBUCKET; i++)
        if (usec <= buckets_us[i]) {
            b = i;
            break;
        }
    atomic_fetch_add_explicit(&h->bucket[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_us, usec, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
}

void sessd_metrics_verify_latency(uint64_t usec)
{
    observe(&verify_hist, usec);
}

void sessd_metrics_store_latency(enum sessd_store_op op, uint64_t usec)
{
    observe(&store_hist[op], usec);
}

void sessd_metrics_lockout(void)
{
    atomic_fetch_add_explicit(&lockouts, 1, memory_order_relaxed);
}

void sessd_metrics_rotation(void)
{
    atomic_fetch_add_explicit(&rotations, 1, memory_order_relaxed);
}

void sessd_metrics_audit_error(void)
{
    atomic_fetch_add_explicit(&audit_errors, 1, memory_order_relaxed);
}

void sessd_metrics_store_error(void)
{
    atomic_fetch_add_explicit(&store_errors, 1, memory_order_relaxed);
}

void sessd_metrics_store_full(void)
{
    atomic_fetch_add_explicit(&store_full, 1, memory_order_relaxed);
}

/* The lmdb store's data over its ceiling ([store] map_size): the high-water mark of the data
 * file, which pages freed inside it do not lower (they are reused first). */
static void write_map_usage(FILE *out)
{
    sess_store_usage u;
    if (sessd_srv.store == NULL ||
        sess_store_lmdb_usage(sessd_store_timed_inner(sessd_srv.store), &u) != 0 ||
        u.max_bytes == 0)
        return;
    fprintf(out,
            "# HELP sessiond_store_map_used_ratio Pages in use in the lmdb data file over its "
            "ceiling ([store] map_size).\n# TYPE sessiond_store_map_used_ratio gauge\n"
            "sessiond_store_map_used_ratio %.6f\n"
            "# HELP sessiond_store_map_bytes The lmdb map now (it grows up to [store] "
            "map_size).\n# TYPE sessiond_store_map_bytes gauge\n"
            "sessiond_store_map_bytes %" PRIu64 "\n",
            (double)u.used_bytes / (double)u.max_bytes, u.map_bytes);
}

void sessd_metrics_login(int ok)
{
    atomic_fetch_add_explicit(&logins[ok ? 1 : 0], 1, memory_order_relaxed);
}

/* The series of one histogram; `label` is "" or `name="value",`. */
static void write_histogram(FILE *out, const char *name, const char *label, histogram *h)
{
    uint64_t cum = 0;
    for (size_t i = 0; i < NBUCKET; i++) {
        cum += atomic_load_explicit(&h->bucket[i], memory_order_relaxed);
        fprintf(out, "%s_bucket{%sle=\"%g\"} %" PRIu64 "\n", name, label,
                (double)buckets_us[i] / 1e6, cum);
    }
    cum += atomic_load_explicit(&h->bucket[NBUCKET], memory_order_relaxed);
    fprintf(out, "%s_bucket{%sle=\"+Inf\"} %" PRIu64 "\n", name, label, cum);
    size_t n = strlen(label);
    /* The label without its trailing comma, in braces, for _sum and _count. */
    char braces[64] = "";
    if (n > 0 && n < sizeof(braces) - 2)
        snprintf(braces, sizeof(braces), "{%.*s}", (int)(n - 1), label);
    fprintf(out, "%s_sum%s %g\n", name, braces,
            (double)atomic_load_explicit(&h->sum_us, memory_order_relaxed) / 1e6);
    fprintf(out, "%s_count%s %" PRIu64 "\n", name, braces,
            atomic_load_explicit(&h->count, memory_order_relaxed));
}

static void write_counter(FILE *out, const char *name, const char *help, _Atomic uint64_t *v)
{
    fprintf(out, "# HELP %s %s\n# TYPE %s counter\n%s %" PRIu64 "\n", name, help, name, name,
            atomic_load_explicit(v, memory_order_relaxed));
}

void sessd_metrics_write(FILE *out, int64_t live_sessions, const sessd_cache_stats *cache)
{
    fprintf(out, "# HELP sessiond_requests_total HTTP requests by route and status.\n"
                 "# TYPE sessiond_requests_total counter\n");
    for (int r = 0; r < SESSD_ROUTE_COUNT; r++)
        for (size_t s = 0; s < NSTATUS; s++) {
            uint64_t v = atomic_load_explicit(&requests[r][s], memory_order_relaxed);
            if (v == 0)
                continue;
            if (s < NSTATUS - 1)
                fprintf(out, "sessiond_requests_total{route=\"%s\",status=\"%d\"} %" PRIu64 "\n",
                        route_labels[r], statuses[s], v);
            else
                fprintf(out, "sessiond_requests_total{route=\"%s\",status=\"other\"} %" PRIu64 "\n",
                        route_labels[r], v);
        }
    fprintf(out, "# HELP sessiond_verify_duration_seconds Time to answer a verify.\n"
                 "# TYPE sessiond_verify_duration_seconds histogram\n");
    write_histogram(out, "sessiond_verify_duration_seconds", "", &verify_hist);
    fprintf(out, "# HELP sessiond_store_duration_seconds Time of store operations by kind.\n"
                 "# TYPE sessiond_store_duration_seconds histogram\n");
    for (int op = 0; op < SESSD_STORE_OP_COUNT; op++) {
        char label[32];
        snprintf(label, sizeof(label), "op=\"%s\",", store_op_labels[op]);
        write_histogram(out, "sessiond_store_duration_seconds", label, &store_hist[op]);
    }
    fprintf(out,
            "# HELP sessiond_sessions Sessions held by the store (live or not yet swept).\n"
            "# TYPE sessiond_sessions gauge\nsessiond_sessions %" PRId64 "\n",
            live_sessions < 0 ? 0 : live_sessions);
    fprintf(out,
            "# HELP sessiond_logins_total Password logins by outcome.\n"
            "# TYPE sessiond_logins_total counter\n"
            "sessiond_logins_total{result=\"ok\"} %" PRIu64 "\n"
            "sessiond_logins_total{result=\"failed\"} %" PRIu64 "\n",
            atomic_load(&logins[1]), atomic_load(&logins[0]));
    fprintf(out,
            "# HELP sessiond_store_errors_total Store operations that failed.\n"
            "# TYPE sessiond_store_errors_total counter\nsessiond_store_errors_total %" PRIu64 "\n",
            atomic_load(&store_errors));
    write_counter(out, "sessiond_store_full_total",
                  "Store writes refused for lack of space (507 store_full).", &store_full);
    write_map_usage(out);
    write_counter(out, "sessiond_lockouts_total",
                  "Login lockouts started (a user or a client address over max_failures).",
                  &lockouts);
    write_counter(out, "sessiond_rotations_total", "Session token rotations.", &rotations);
    write_counter(out, "sessiond_audit_errors_total", "Audit log lines that could not be written.",
                  &audit_errors);
    if (cache != NULL)
        fprintf(out,
                "# HELP sessiond_near_cache_lookups_total Near cache lookups by result (redis "
                "store).\n# TYPE sessiond_near_cache_lookups_total counter\n"
                "sessiond_near_cache_lookups_total{result=\"hit\"} %" PRIu64 "\n"
                "sessiond_near_cache_lookups_total{result=\"miss\"} %" PRIu64 "\n",
                cache->hits, cache->misses);
    fprintf(out,
            "# HELP sessiond_connections Client connections open now.\n"
            "# TYPE sessiond_connections gauge\nsessiond_connections %" PRIu64 "\n"
            "# HELP sessiond_connections_refused_total Connections refused over "
            "max_connections.\n"
            "# TYPE sessiond_connections_refused_total counter\n"
            "sessiond_connections_refused_total %" PRIu64 "\n"
            "# HELP sessiond_connections_send_timeouts_total Connections closed because the "
            "client did not read its answer within send_timeout.\n"
            "# TYPE sessiond_connections_send_timeouts_total counter\n"
            "sessiond_connections_send_timeouts_total %" PRIu64 "\n",
            atomic_load_explicit(&sessd_conn_count.open, memory_order_relaxed),
            atomic_load_explicit(&sessd_conn_count.refused, memory_order_relaxed),
            atomic_load_explicit(&sessd_conn_count.send_stalled, memory_order_relaxed));
}

int64_t sessd_metrics_sessions(void)
{
    atomic_store_explicit(&sessions_read_at, sessd_now(), memory_order_relaxed);
    return atomic_load_explicit(&sessions, memory_order_relaxed);
}

bool sessd_metrics_sessions_due(int64_t now_s)
{
    int64_t at = atomic_load_explicit(&sessions_at, memory_order_relaxed);
    int64_t read_at = atomic_load_explicit(&sessions_read_at, memory_order_relaxed);
    return at == 0 || (now_s - read_at <= 60 && now_s - at >= SESSD_SESSIONS_EVERY_S);
}

void sessd_metrics_sessions_set(int64_t n, int64_t now_s)
{
    atomic_store_explicit(&sessions, n, memory_order_relaxed);
    atomic_store_explicit(&sessions_at, now_s, memory_order_relaxed);
}
