/*
 * ops.c - operations endpoints (contract section 6): liveness, readiness and metrics.
 * /healthz and /metrics never call the store, so that the ops loop ([server] ops_listen, see
 * server.c) can serve them while the store hangs.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "http/handlers.h"
#include "core/state.h"
#include "core/store_timed.h"
#include "sessiond/error.h"

int sessd_ops_healthz(h2o_req_t *req)
{
    int status = http_send_text(req, 200, "text/plain; charset=utf-8", H2O_STRLIT("ok\n"));
    return status;
}

/* Not ready while the store cannot be reached, or cannot take writes for lack of space (reads
 * still work then: the body says which). */
int sessd_ops_readyz(h2o_req_t *req)
{
    int rc = sessd_srv.store->ops->ping(sessd_srv.store);
    if (rc == SESS_EFULL)
        return http_send_text(req, 503, "text/plain; charset=utf-8",
                              H2O_STRLIT("store full: the session store is out of space\n"));
    if (rc != 0) {
        int status = http_send_text(req, 503, "text/plain; charset=utf-8",
                                    H2O_STRLIT("store unavailable\n"));
        return status;
    }
    int status = http_send_text(req, 200, "text/plain; charset=utf-8", H2O_STRLIT("ready\n"));
    return status;
}

int sessd_ops_metrics(h2o_req_t *req)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (f == NULL) {
        return http_send_text(req, 500, "text/plain", H2O_STRLIT("out of memory\n"));
    }
    /* Counters only, never the store (whose call may hang): the sessions gauge is the main
     * thread's last count. */
    int64_t live = sessd_metrics_sessions();
    sessd_cache_stats cache;
    bool has_cache = sess_store_redis_cache_stats(sessd_store_timed_inner(sessd_srv.store),
                                                  &cache.hits, &cache.misses) == 0;
    sessd_metrics_write(f, live, has_cache ? &cache : NULL);
    fclose(f);
    int status = http_send_text(req, 200, "text/plain; version=0.0.4; charset=utf-8", buf, len);
    free(buf);
    return status;
}
