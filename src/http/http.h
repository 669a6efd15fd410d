/*
 * http.h - small helpers over h2o for handlers: reading headers and JSON bodies, and answering
 * with JSON, errors and plain text. Everything allocated here lives in the request's pool.
 */
#ifndef SESSIOND_HTTP_HTTP_H
#define SESSIOND_HTTP_HTTP_H

#define H2O_USE_LIBUV 0
#include <h2o.h>
#include <jansson.h>
#include <stdbool.h>

#include "core/jsonflat.h"

/* The value of header `name` (lower case), or NULL with *len = 0. */
const char *http_header(h2o_req_t *req, const char *name, size_t *len);

/* Total bytes of the request's header names and values. */
size_t http_header_bytes(h2o_req_t *req);

/* True when the request's body framing could be read two ways, as a proxy in front may read it
 * differently and the bytes after the body become another request: more than one
 * Content-Length, more than one Transfer-Encoding, Transfer-Encoding with Content-Length, or a
 * Transfer-Encoding other than "chunked" alone. (h2o 2.2 would frame the body with the first
 * Content-Length, or with the Transfer-Encoding, and go on.) */
bool http_framing_ambiguous(h2o_req_t *req);
/* The same judgement on a raw HTTP/1 request head (`len` bytes from its request line, at least
 * to the empty line that ends it; what follows is not read). No end of the head is ambiguous. */
bool http_head_framing_ambiguous(const char *head, size_t len);

/* True when the method is `m` (e.g. "POST"). */
bool http_method_is(h2o_req_t *req, const char *m);

/* The bearer credential from Authorization, or NULL. */
const char *http_bearer(h2o_req_t *req, size_t *len);

/* The client's address as text into `out` (at least 64 bytes). */
void http_peer_addr(h2o_req_t *req, char *out, size_t cap);

/* Every application/json answer carries `Content-Disposition: attachment` with this value (ASVS
 * 4.0.3 14.4.2): an API answer opened as a page is saved, never rendered as a document. fetch()
 * and XMLHttpRequest ignore the header, so the pages' own calls read the JSON as before. The
 * two JSON answers sent outside http_send_* (h2o's own 413 rewritten by server.c, the busy 503
 * of conns.c) carry it too. */
#define HTTP_JSON_DISPOSITION "attachment; filename=\"api.json\""

/* The answer functions send at once and return the status they sent, which is what the
 * handlers return: the status is said once, where it is sent (metrics count what was sent).
 * Everything they allocate lives in the request's pool. */

/* Answers `status` with `body` (serialised compactly, then decref'ed); 500 when it cannot be. */
int http_send_json(h2o_req_t *req, int status, json_t *body);
/* Answers a contract error: {"error": CODE, "message": TEXT} with the error's status. `msg` may be
 * NULL for the table's message. Never put a secret in `msg`. */
int http_send_error(h2o_req_t *req, int err, const char *msg);
/* Answers `status` with a body of `content_type` (text, or JSON already written). */
int http_send_text(h2o_req_t *req, int status, const char *content_type, const char *body,
                   size_t len);
/* Answers 204. */
int http_send_empty(h2o_req_t *req, int status);
/* The status of the answer a helper has already sent (a body that http_json_body refused, a key
 * that http_only_keys refused, a page), for the handler to return. */
static inline int http_sent(h2o_req_t *req)
{
    return req->res.status;
}

/* Parses the request body as a JSON object after checking the Content-Type. On failure it has
 * already answered (415 or 400) and returns NULL. The caller decrefs the result. */
json_t *http_json_body(h2o_req_t *req);

/* The body as a flat object (jsonflat.h), read without jansson, after the Content-Type check of
 * http_json_body: 1, with the members' keys and strings NUL-terminated in a copy in the
 * request's pool; 0 when the body is not one jsonflat reads (use http_json_body, whose answer
 * for it is the one to give); -1 when the Content-Type is not JSON (415 answered). */
int http_flat_body(h2o_req_t *req, sessd_flat *out);

/* Answers 400: `key` (NUL-terminated) is not a field of the request. */
void http_unknown_field(h2o_req_t *req, const char *key);

/* Fails (400, answered) when `obj` has a key not in the NULL-terminated `allowed` list. */
bool http_only_keys(h2o_req_t *req, json_t *obj, const char *const *allowed);
/* The same, and on success vals[i] is the value of allowed[i] in `obj` (borrowed), or NULL when
 * absent: one pass over the object instead of a lookup a field. `vals` has one slot for each
 * name in `allowed` (or is NULL). */
bool http_take_keys(h2o_req_t *req, json_t *obj, const char *const *allowed, json_t **vals);

#endif
