/*
 * forms.h - form and query values, HTML escaping, header value sanitising.
 */
#ifndef SESSIOND_HTTP_FORMS_H
#define SESSIOND_HTTP_FORMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include "http/http.h"

/* The request body (form) and its length; "" and 0 without one. */
const char *auth_body(h2o_req_t *req, size_t *len);

/* The value of form field or query parameter `name` in `src` (application/x-www-form-urlencoded,
 * '+' is a space), percent-decoded into `out` (`cap` bytes with NUL). Returns its length, -1
 * when absent, -2 when longer than cap - 1 or badly encoded. With `to_end`, the value runs to
 * the end of `src` (the rd= of a login URL whose own query was not escaped). */
long auth_form_value(const char *src, size_t len, const char *name, char *out, size_t cap,
                     bool to_end);

/* True when the request's query string has parameter `name` with a short non-empty value
 * ("?saved=1"). */
bool auth_query_flag(h2o_req_t *req, const char *name);
/* Writes `s` HTML-escaped (& < > " ') to `f`. */
void auth_html(FILE *f, const char *s);

/* Copies an identity header value without control characters, at most SESSD_HEADER_VALUE_MAX
 * bytes, cut at a UTF-8 character boundary. Returns the length. */
size_t auth_sanitize(const char *in, size_t len, char *out, size_t cap);

#endif
