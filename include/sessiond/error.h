/*
 * error.h - the one error table of libsessiond.
 *
 * Every failure the library can report is a negative sess_err. One X-macro table gives each
 * error its enum name, a human message, the HTTP status the server answers with and the JSON
 * `error` code of the service API (contract section 5). Codes are never renumbered.
 */
#ifndef SESSIOND_ERROR_H
#define SESSIOND_ERROR_H

#include "sessiond/export.h"

/* X(NAME, value, message, http_status, json_code) */
#define SESS_ERRMAP(X)                                                                             \
    X(OK, 0, "success", 200, "ok")                                                                 \
    X(EINVAL, -1, "invalid request", 400, "invalid_request")                                       \
    X(EUNAUTHORIZED, -2, "missing or invalid API key", 401, "unauthorized")                        \
    X(EFORBIDDEN, -3, "forbidden", 403, "forbidden")                                               \
    X(ECSRF, -4, "CSRF check failed", 403, "csrf_failed")                                          \
    X(ENOTFOUND, -5, "not found", 404, "not_found")                                                \
    X(ESESSION, -6, "no such session, or it has expired or been revoked", 404, "invalid_session")  \
    X(ETOOLARGE, -7, "too large", 413, "too_large")                                                \
    X(EMEDIATYPE, -8, "Content-Type must be application/json", 415, "unsupported_media_type")      \
    X(ERATELIMIT, -9, "too many requests", 429, "rate_limited")                                    \
    X(ESTORE, -10, "the session store is unavailable", 503, "store_unavailable")                   \
    X(EINTERNAL, -11, "internal error", 500, "internal")                                           \
    X(ENOMEM, -12, "out of memory", 500, "internal")                                               \
    X(EEXIST, -13, "already exists", 400, "invalid_request")                                       \
    X(EFULL, -14, "the session store is out of space", 507, "store_full")                          \
    X(ECORRUPT, -15, "the store's data is corrupt or of an unknown version", 500, "internal")      \
    X(ELIMIT, -16, "a configured limit was reached", 400, "invalid_request")                       \
    X(ECONFLICT, -17, "changed concurrently; try again", 409, "conflict")                          \
    X(EMETHOD, -18, "method not allowed", 405, "invalid_request")                                  \
    X(EURI, -19, "the request URI is too long", 414, "too_large")                                  \
    X(EHEADERS, -20, "the request headers are too large", 431, "too_large")                        \
    X(EBUSY, -21, "the server is busy; try again", 503, "store_unavailable")                       \
    X(EAUDIT, -22, "the audit log cannot be written; nothing was confirmed", 503,                  \
      "audit_unavailable")

typedef enum sess_err {
#define SESS_ERR_ENUM(name, val, msg, status, code) SESS_##name = (val),
    SESS_ERRMAP(SESS_ERR_ENUM)
#undef SESS_ERR_ENUM
} sess_err;

/* A static message for `err` ("unknown error" for a value outside the table). */
SESS_EXPORT const char *sess_strerror(int err);
/* The enum name without prefix, e.g. "ESTORE". */
SESS_EXPORT const char *sess_errname(int err);
/* The HTTP status the server answers with (500 for unknown values). */
SESS_EXPORT int sess_err_http_status(int err) SESS_WUR;
/* The JSON `error` code of the service API ("internal" for unknown values). */
SESS_EXPORT const char *sess_err_code(int err);

#endif
