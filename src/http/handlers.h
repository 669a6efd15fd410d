/*
 * handlers.h - the request handlers, one function per route family. Each answers the request
 * itself (status, headers, body) and returns the status it sent, for metrics; 0 means the
 * answer comes later from the worker pool (workers.h), which counts it then.
 */
#ifndef SESSIOND_HTTP_HANDLERS_H
#define SESSIOND_HTTP_HANDLERS_H

#include <stdbool.h>

#include "http/http.h"
#include "core/metrics.h"

/* Routes the request (everything under the server's root). */
int sessd_route(h2o_req_t *req, enum sessd_route *route);
/* The same for [server] ops_listen: /healthz and /metrics (which never call the store), 404 for
 * anything else. */
int sessd_route_ops(h2o_req_t *req, enum sessd_route *route);

/* /v1: `path` is what follows "/v1" (without the query string). */
int sessd_api_v1(h2o_req_t *req, const char *path, size_t len, enum sessd_route *route);

/* POST /v1/sessions/revoke once its body is checked: runs the revocation on the worker pool
 * and answers 200 {"matched","revoked","dry_run"} from there (returns 0), or answers 503 now
 * when the pool is busy (returns 503). `who` and `client` go to the audit log. */
struct sessd_revoke_filter;
int sessd_v1_revoke_submit(h2o_req_t *req, const struct sessd_revoke_filter *f, bool dry_run,
                           const char *who, const char *client);

/* /healthz, /readyz, /metrics. */
int sessd_ops_healthz(h2o_req_t *req);
int sessd_ops_readyz(h2o_req_t *req);
int sessd_ops_metrics(h2o_req_t *req);

#endif
