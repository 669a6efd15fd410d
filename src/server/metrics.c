/*
 * metrics.c - request counters by route and status, a verify latency histogram, store errors
 * and login outcomes. Relaxed atomics: each counter is exact, a scrape is not a snapshot.
 */
#include "server/metrics.h"

#include <inttypes.h>
#include <stdatomic.h>

#include "server/conns.h"

static const char *route_labels[] = {
#define SESSD_ROUTE_LABEL(name, label) label,
    SESSD_ROUTES(SESSD_ROUTE_LABEL)
#undef SESSD_ROUTE_LABEL
};

/* The statuses sessiond answers with; anything else is counted as "other". */
static const int statuses[] = {200, 201, 204, 302, 303, 400, 401, 403, 404,
                               405, 409, 413, 414, 415, 429, 431, 500, 503};
#define NSTATUS (sizeof(statuses) / sizeof(statuses[0]) + 1)

static const uint64_t buckets_us[] = {100, 250, 500, 1000, 2500, 5000, 10000, 50000, 250000};
#define NBUCKET (sizeof(buckets_us) / sizeof(buckets_us[0]))

static _Atomic uint64_t requests[SESSD_ROUTE_COUNT][NSTATUS];
static _Atomic uint64_t verify_bucket[NBUCKET + 1];
static _Atomic uint64_t verify_sum_us;
static _Atomic uint64_t verify_count;
static _Atomic uint64_t store_errors;
static _Atomic uint64_t logins[2];

void sessd_metrics_request(enum sessd_route route, int status)
{
    size_t s = NSTATUS - 1;
    for (size_t i = 0; i < NSTATUS - 1; i++)
        if (statuses[i] == status)
            s = i;
    atomic_fetch_add_explicit(&requests[route][s], 1, memory_order_relaxed);
}

void sessd_metrics_verify_latency(uint64_t usec)
{
    size_t b = NBUCKET;
    for (size_t i = 0; i < NBUCKET; i++)
        if (usec <= buckets_us[i]) {
            b = i;
            break;
        }
    atomic_fetch_add_explicit(&verify_bucket[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&verify_sum_us, usec, memory_order_relaxed);
    atomic_fetch_add_explicit(&verify_count, 1, memory_order_relaxed);
}

void sessd_metrics_store_error(void)
{
    atomic_fetch_add_explicit(&store_errors, 1, memory_order_relaxed);
}

void sessd_metrics_login(int ok)
{
    atomic_fetch_add_explicit(&logins[ok ? 1 : 0], 1, memory_order_relaxed);
}

void sessd_metrics_write(FILE *out, int64_t live_sessions)
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
    uint64_t cum = 0;
    for (size_t i = 0; i < NBUCKET; i++) {
        cum += atomic_load_explicit(&verify_bucket[i], memory_order_relaxed);
        fprintf(out, "sessiond_verify_duration_seconds_bucket{le=\"%g\"} %" PRIu64 "\n",
                (double)buckets_us[i] / 1e6, cum);
    }
    cum += atomic_load_explicit(&verify_bucket[NBUCKET], memory_order_relaxed);
    fprintf(out, "sessiond_verify_duration_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n", cum);
    fprintf(out, "sessiond_verify_duration_seconds_sum %g\n",
            (double)atomic_load_explicit(&verify_sum_us, memory_order_relaxed) / 1e6);
    fprintf(out, "sessiond_verify_duration_seconds_count %" PRIu64 "\n",
            atomic_load_explicit(&verify_count, memory_order_relaxed));
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
    sessd_conns_stats cs;
    sessd_conns_stats_get(&cs);
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
            cs.open, cs.refused, cs.send_stalled);
}
