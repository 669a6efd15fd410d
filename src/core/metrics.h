/*
 * metrics.h - counters for /metrics (Prometheus text format), updated lock-free from every
 * event-loop thread.
 */
#ifndef SESSIOND_CORE_METRICS_H
#define SESSIOND_CORE_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* Routes, as they appear in the `route` label. */
#define SESSD_ROUTES(X)                                                                            \
    X(HEALTHZ, "/healthz")                                                                         \
    X(READYZ, "/readyz")                                                                           \
    X(METRICS, "/metrics")                                                                         \
    X(V1_CREATE, "/v1/sessions")                                                                   \
    X(V1_VERIFY, "/v1/sessions/verify")                                                            \
    X(V1_ROTATE, "/v1/sessions/rotate")                                                            \
    X(V1_REVOKE, "/v1/sessions/revoke")                                                            \
    X(V1_SESSION, "/v1/sessions/{id}")                                                             \
    X(V1_USER_SESSIONS, "/v1/users/{user}/sessions")                                               \
    X(V1_USER_PREFS, "/v1/users/{user}/preferences")                                               \
    X(AUTH_VERIFY, "/auth/verify")                                                                 \
    X(AUTH_LOGIN, "/auth/login")                                                                   \
    X(AUTH_LOGOUT, "/auth/logout")                                                                 \
    X(AUTH_WHOAMI, "/auth/whoami")                                                                 \
    X(AUTH_KEEPALIVE, "/auth/keepalive")                                                           \
    X(AUTH_SESSIONS, "/auth/sessions")                                                             \
    X(AUTH_PREFERENCES, "/auth/preferences")                                                       \
    X(AUTH_PASSWORD, "/auth/password")                                                             \
    X(AUTH_API, "/auth/api")                                                                       \
    X(AUTH_OTHER, "/auth/other")                                                                   \
    X(OTHER, "other")

enum sessd_route {
#define SESSD_ROUTE_ENUM(name, label) SESSD_ROUTE_##name,
    SESSD_ROUTES(SESSD_ROUTE_ENUM)
#undef SESSD_ROUTE_ENUM
        SESSD_ROUTE_COUNT
};

void sessd_metrics_request(enum sessd_route route, int status);
/* Records one verify's latency in microseconds. */
void sessd_metrics_verify_latency(uint64_t usec);
void sessd_metrics_store_error(void);
/* One store write refused for lack of space (SESS_EFULL: the file system or the map's ceiling). */
void sessd_metrics_store_full(void);
/* Store operations by kind, for the store latency histogram. */
enum sessd_store_op { SESSD_STORE_OP_READ, SESSD_STORE_OP_WRITE, SESSD_STORE_OP_SCAN };
#define SESSD_STORE_OP_COUNT 3
void sessd_metrics_store_latency(enum sessd_store_op op, uint64_t usec);
void sessd_metrics_lockout(void);
void sessd_metrics_rotation(void);
void sessd_metrics_audit_error(void);
/* The near cache's counters (redis store), when there is one. */
typedef struct sessd_cache_stats {
    uint64_t hits, misses;
} sessd_cache_stats;
void sessd_metrics_login(int ok);
/* Writes the exposition text; `live_sessions` < 0 when the store could not count; `cache` is
 * NULL without a near cache. */
/* The client connection counters: conns.c keeps them (it admits connections by `open`), the
 * metrics answer reads them. Relaxed atomics. */
typedef struct sessd_conn_counters {
    _Atomic uint64_t open;         /* connections open now */
    _Atomic uint64_t refused;      /* refused over max_connections */
    _Atomic uint64_t send_stalled; /* shut down by send_timeout */
} sessd_conn_counters;
extern sessd_conn_counters sessd_conn_count;

void sessd_metrics_write(FILE *out, int64_t live_sessions, const sessd_cache_stats *cache);

/* The sessiond_sessions gauge without asking the store: a count the main thread makes (a store
 * call that may wait for Redis) and /metrics reads. sessions() answers the last count (-1 before
 * the first) and notes that someone scrapes; due() says whether the main thread should count
 * again: never counted yet, or scraped within the last minute and counted SESSD_SESSIONS_EVERY_S
 * or more ago (a count of the Redis store lists every session: nobody scraping, no counting). */
#define SESSD_SESSIONS_EVERY_S 5
int64_t sessd_metrics_sessions(void);
bool sessd_metrics_sessions_due(int64_t now_s);
void sessd_metrics_sessions_set(int64_t n, int64_t now_s);

#endif
