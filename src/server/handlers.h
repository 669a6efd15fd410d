/*
 * handlers.h - the request handlers, one function per route family. Each answers the request
 * itself (status, headers, body) and returns the status it sent, for metrics; 0 means the
 * answer comes later from the worker pool (workers.h), which counts it then.
 */
#ifndef SESSIOND_SERVER_HANDLERS_H
#define SESSIOND_SERVER_HANDLERS_H

#include "server/http.h"
#include "server/metrics.h"

/* Routes the request (everything under the server's root). */
int sessd_route(h2o_req_t *req, enum sessd_route *route);

/* /v1: `path` is what follows "/v1" (without the query string). */
int sessd_api_v1(h2o_req_t *req, const char *path, size_t len, enum sessd_route *route);

/* /healthz, /readyz, /metrics. */
int sessd_ops_healthz(h2o_req_t *req);
int sessd_ops_readyz(h2o_req_t *req);
int sessd_ops_metrics(h2o_req_t *req);

#endif
