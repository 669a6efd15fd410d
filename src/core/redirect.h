/*
 * redirect.h - checking where a login may send the browser back to (the `rd` parameter), so that
 * sessiond is never an open redirect.
 *
 * Accepted: a relative path ("/app?x=1"), or an absolute http(s) URL whose origin is the public
 * URL's or one of [csrf] allowed_origins. Refused: anything else, including scheme-relative
 * "//host", backslashes ("/\host", "\\host"), control characters (CR/LF anywhere), other schemes
 * (javascript:, data:), user info ("https://good@evil"), and percent-encoded forms of these
 * (%2F%2F, %5C, %0D%0A, ...), which are decoded once and checked again.
 */
#ifndef SESSIOND_CORE_REDIRECT_H
#define SESSIOND_CORE_REDIRECT_H

#include <stdbool.h>
#include <stddef.h>

#define SESSD_RD_MAX 2048 /* bytes of an rd value; longer ones are refused */

/* True when `rd` (`len` bytes, already percent-decoded once from the query or form) is a safe
 * target given the public URL and the allowed origins (comma list, may be empty). */
bool sessd_redirect_ok(const char *rd, size_t len, const char *public_url,
                       const char *allowed_origins);

#endif
