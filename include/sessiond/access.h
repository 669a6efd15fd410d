/*
 * access.h - the access decision for one request and one live session, without any HTTP
 * library: what sessiond's /auth/verify decides (src/http/verify.c) and what the nginx module
 * (nginx/ngx_http_sessiond_module.c) decides inside nginx's workers, from the same code.
 *
 * The caller finds the session (sess_verify) and the policy that applies (a [rule] for
 * sessiond, the location's sessiond_policy for nginx), collects the request's CSRF-relevant
 * headers, and asks here. Nothing here reads a clock or writes anything.
 */
#ifndef SESSIOND_ACCESS_H
#define SESSIOND_ACCESS_H

#include "sessiond/export.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sessiond/record.h"

/* A header's value as sent, or {NULL, 0} when absent. Not NUL-terminated. */
typedef struct sess_str {
    const char *p;
    size_t n;
} sess_str;

/* What an unsafe request carries that matters for CSRF. */
typedef struct sess_csrf_req {
    sess_str token;  /* X-CSRF-Token */
    sess_str site;   /* Sec-Fetch-Site */
    sess_str origin; /* Origin */
    sess_str scheme; /* the request's own scheme: "http" or "https" */
    sess_str host;   /* the request's own Host, as sent (with its port) */
} sess_csrf_req;

/* The CSRF settings ([csrf] of sessiond's configuration). */
typedef struct sess_csrf_policy {
    bool require_token;          /* only the token counts */
    const char *allowed_origins; /* comma list of origins besides the request's own; "" none */
} sess_csrf_policy;

enum sess_access_result {
    SESS_ACCESS_ALLOW,
    SESS_ACCESS_NO_ROLE,     /* 403: a role rule and a session without the role */
    SESS_ACCESS_REAUTH,      /* 403 with reason "reauth": the login is older than a fresh: rule */
    SESS_ACCESS_CSRF_FAILED, /* 403: an unsafe method without the CSRF proof */
};

/* Anything but GET, HEAD and OPTIONS can change state. `method` in upper case. */
SESS_EXPORT bool sess_unsafe_method(const char *method, size_t len);

/* True when the comma list `roles` contains `role` exactly. */
SESS_EXPORT bool sess_roles_have(const char *roles, const char *role);

/* An unsafe method needs the session's CSRF token, or (unless require_token) a same-origin
 * Sec-Fetch-Site, or an Origin that is the request's own or an allowed one. The token is
 * compared in constant time. */
SESS_EXPORT bool sess_csrf_ok(const sess_csrf_req *q, const sess_record *rec,
                              const sess_csrf_policy *p);

/* The decision for a live session `rec` at `now`: `role` (NULL for none) is required, a login
 * older than `fresh` seconds (negative: no such rule) needs re-authentication, and an unsafe
 * `method` needs the CSRF proof of `q` under `p`. Checked in that order. */
SESS_EXPORT enum sess_access_result sess_access_decide(const sess_record *rec, int64_t now,
                                                       const char *role, int64_t fresh,
                                                       const char *method, size_t method_len,
                                                       const sess_csrf_req *q,
                                                       const sess_csrf_policy *p);

/* Never normalise and allow: a request target (`len` bytes: the path and, after a "?", the
 * query, as the client sent them) is judged only when it is canonical, that is when normalising
 * it would change nothing. The path must start with "/" and hold no "." or ".." segment, no "//",
 * no "#", ";" or "\\", no control byte, space or other character a browser escapes, no escape
 * in lower-case hex, none of an unreserved character (letters, digits, "-", ".", "_", "~"), of
 * "/", "\\", "%", ";", "#", "?" or a control, and, decoded, only valid UTF-8 (shortest forms, no
 * C1 controls, none of the four characters that case-fold to ASCII letters). The query must hold
 * no "#" and no control byte. docs/gateway.md lists these forms. On success writes the decoded
 * path (what rules match) and a NUL into `path` and returns its length; -1 when the target is
 * not canonical or the path does not fit `cap`. */
SESS_EXPORT int sess_canonical_target(const char *target, size_t len, char *path,
                                      size_t cap) SESS_WUR;

/* Copies `len` bytes of `in` without control characters (C0 and DEL), at most cap - 1 bytes,
 * never ending inside a UTF-8 character, and a NUL. Returns the length. `cap` >= 1. What
 * sessiond stores as a session's user agent and sends as identity header values. */
SESS_EXPORT size_t sess_sanitize_text(const char *in, size_t len, char *out, size_t cap);

/* `v` in decimal and a NUL into `out`; returns the length. X-Auth-Expires on every verify, the
 * numbers of /v1 answers (snprintf costs 800 instructions a number). */
#define SESS_I64_STRLEN 20
SESS_EXPORT size_t sess_i64_text(int64_t v, char out[SESS_I64_STRLEN + 1]);

/* [session] bind_user_agent: true when a session may be used by a client sending `agent` (as
 * sess_sanitize_text left it): the one it was created with, or any when it was created without
 * one. */
SESS_EXPORT bool sess_agent_matches(const sess_record *rec, const char *agent);

/* True when the comma list `list` holds `item` (`len` bytes), compared without case, spaces
 * around each entry ignored: allowed origins, rule methods. */
SESS_EXPORT bool sess_list_has(const char *list, const char *item, size_t len);

#endif
