/*
 * ops.c - operations endpoints (contract section 6): liveness, readiness and metrics.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "http/handlers.h"
#include "core/state.h"
#include "core/store_timed.h"

int sessd_ops_healthz(h2o_req_t *req)
{
    http_send_text(req, 200, "text/plain; charset=utf-8", H2O_STRLIT("ok\n"));
    return 200;
}

int sessd_ops_readyz(h2o_req_t *req)
{
    if (sessd_srv.store->ops->ping(sessd_srv.store) != 0) {
        http_send_text(req, 503, "text/plain; charset=utf-8", H2O_STRLIT("store unavailable\n"));
        return 503;
    }
    http_send_text(req, 200, "text/plain; charset=utf-8", H2O_STRLIT("ready\n"));
    return 200;
}

int sessd_ops_metrics(h2o_req_t *req)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (f == NULL) {
        http_send_text(req, 500, "text/plain", H2O_STRLIT("out of memory\n"));
        return 500;
    }
    uint64_t n = 0;
    int64_t live = sessd_srv.store->ops->count(sessd_srv.store, &n) == 0 ? (int64_t)n : -1;
    sessd_cache_stats cache;
    bool has_cache = sess_store_redis_cache_stats(sessd_store_timed_inner(sessd_srv.store),
                                                  &cache.hits, &cache.misses) == 0;
    sessd_metrics_write(f, live, has_cache ? &cache : NULL);
    fclose(f);
    http_send_text(req, 200, "text/plain; version=0.0.4; charset=utf-8", buf, len);
    free(buf);
    return 200;
}
