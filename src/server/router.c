/*
 * router.c - the one h2o handler: bounds the request's headers and body, then dispatches by
 * path to the ops endpoints and /v1. Every answer is counted in metrics by route and status.
 */
#include <string.h>

#include "server/handlers.h"
#include "server/server.h"
#include "sessiond/error.h"

int sessd_route(h2o_req_t *req, enum sessd_route *route)
{
    const sessd_config *c = sessd_cfg();
    *route = SESSD_ROUTE_OTHER;
    if (http_header_bytes(req) > c->max_header) {
        http_send_error_status(req, 431, "too_large", "request headers are over [server] max_header");
        return 431;
    }
    if (req->entity.base != NULL && req->entity.len > c->max_body) {
        http_send_error(req, SESS_ETOOLARGE, "request body is over [server] max_body");
        return 413;
    }
    /* The path without its query string; routes are matched exactly. */
    size_t len = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
    const char *p = req->path.base;
    bool get = http_method_is(req, "GET") || http_method_is(req, "HEAD");
    if (h2o_memis(p, len, H2O_STRLIT("/healthz"))) {
        *route = SESSD_ROUTE_HEALTHZ;
        return get ? sessd_ops_healthz(req) : (http_send_error_status(req, 405, "invalid_request", "method not allowed"), 405);
    }
    if (h2o_memis(p, len, H2O_STRLIT("/readyz"))) {
        *route = SESSD_ROUTE_READYZ;
        return get ? sessd_ops_readyz(req) : (http_send_error_status(req, 405, "invalid_request", "method not allowed"), 405);
    }
    if (h2o_memis(p, len, H2O_STRLIT("/metrics"))) {
        *route = SESSD_ROUTE_METRICS;
        return get ? sessd_ops_metrics(req) : (http_send_error_status(req, 405, "invalid_request", "method not allowed"), 405);
    }
    if (len >= 4 && memcmp(p, "/v1/", 4) == 0)
        return sessd_api_v1(req, p + 3, len - 3, route);
    http_send_error(req, SESS_ENOTFOUND, "no such endpoint");
    return 404;
}
