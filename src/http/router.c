/*
 * router.c - the one h2o handler: refuses ambiguous framing, bounds the request's headers and
 * body, then dispatches by path to the ops endpoints, /v1 and the browser-facing endpoints under
 * base_path. Every answer is counted in metrics by route and status (an asynchronous one when it
 * is sent). sessd_route_ops is the same for the ops loop ([server] ops_listen): /healthz and
 * /metrics only, the two that never call the store.
 */
#include <stdbool.h>
#include <string.h>

#include "http/auth.h"
#include "http/handlers.h"
#include "core/state.h"
#include "sessiond/error.h"

/* The checks every request passes first: 0, or the status of the refusal sent. */
static int refuse_unsafe(h2o_req_t *req)
{
    const sessd_config *c = sessd_cfg();
    if (http_framing_ambiguous(req)) {
        /* Whatever follows on this connection cannot be told apart from this body: close it. */
        req->http1_is_persistent = 0;
        return http_send_error(req, SESS_EINVAL,
                               "ambiguous framing: duplicate or conflicting Content-Length, or "
                               "Content-Length with Transfer-Encoding, or a Transfer-Encoding "
                               "other than chunked");
    }
    if (http_header_bytes(req) > c->max_header) {
        return http_send_error(req, SESS_EHEADERS, "request headers are over [server] max_header");
    }
    if (req->entity.base != NULL && req->entity.len > c->max_body) {
        return http_send_error(req, SESS_ETOOLARGE, "request body is over [server] max_body");
    }
    return 0;
}

/* The ops endpoints; without `readyz`, only those that never call the store. The status sent,
 * or 0 when the path is none of them. */
static int route_ops(h2o_req_t *req, const char *p, size_t len, bool readyz,
                     enum sessd_route *route)
{
    static const struct {
        const char *path;
        enum sessd_route route;
        int (*handler)(h2o_req_t *req);
    } ops[] = {{"/healthz", SESSD_ROUTE_HEALTHZ, sessd_ops_healthz},
               {"/readyz", SESSD_ROUTE_READYZ, sessd_ops_readyz},
               {"/metrics", SESSD_ROUTE_METRICS, sessd_ops_metrics}};
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        if (!h2o_memis(p, len, ops[i].path, strlen(ops[i].path)) ||
            (!readyz && ops[i].route == SESSD_ROUTE_READYZ))
            continue;
        *route = ops[i].route;
        if (http_method_is(req, "GET") || http_method_is(req, "HEAD"))
            return ops[i].handler(req);
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL,
                       H2O_STRLIT("GET, HEAD"));
        return http_send_error(req, SESS_EMETHOD, "method not allowed");
    }
    return 0;
}

int sessd_route(h2o_req_t *req, enum sessd_route *route)
{
    const sessd_config *c = sessd_cfg();
    *route = SESSD_ROUTE_OTHER;
    int status = refuse_unsafe(req);
    if (status != 0)
        return status;
    /* The path without its query string; routes are matched exactly. */
    size_t len = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
    const char *p = req->path.base;
    if ((status = route_ops(req, p, len, true, route)) != 0)
        return status;
    if (len >= 4 && memcmp(p, "/v1/", 4) == 0)
        return sessd_api_v1(req, p + 3, len - 3, route);
    size_t bl = strlen(c->base_path);
    if (len > bl && memcmp(p, c->base_path, bl) == 0 && p[bl] == '/')
        return sessd_auth(req, p + bl, len - bl, route);
    return http_send_error(req, SESS_ENOTFOUND, "no such endpoint");
}

int sessd_route_ops(h2o_req_t *req, enum sessd_route *route)
{
    *route = SESSD_ROUTE_OTHER;
    int status = refuse_unsafe(req);
    if (status != 0)
        return status;
    size_t len = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
    if ((status = route_ops(req, req->path.base, len, false, route)) != 0)
        return status;
    return http_send_error(req, SESS_ENOTFOUND,
                           "only /healthz and /metrics are served on [server] ops_listen");
}
