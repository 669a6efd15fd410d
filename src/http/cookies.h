/*
 * cookies.h - the Set-Cookie headers sessiond answers with: the session cookie, our other cookies
 * (login CSRF, anonymous preferences) with the session cookie's attributes, and the clearing of
 * every copy of the session cookie a browser may hold. Contract section 3.
 */
#ifndef SESSIOND_HTTP_COOKIES_H
#define SESSIOND_HTTP_COOKIES_H

#include <stdint.h>

#include "http/http.h"
#include "sessiond/record.h"

/* Adds Set-Cookie for a new session token; max_age < 0 for a browser-session cookie. */
void auth_set_session_cookie(h2o_req_t *req, const char *token, int64_t max_age);
/* Adds Set-Cookie for session `rec` presented as `value` (its token or sealed value): kept
 * until the absolute deadline for remember-me, a browser-session cookie otherwise. */
void auth_set_session_value(h2o_req_t *req, const char *value, const sess_record *rec, int64_t now);
/* Adds a Set-Cookie that clears the session cookie (same attributes, Max-Age=0). */
void auth_clear_session_cookie(h2o_req_t *req);
/* Adds any other cookie of ours (login CSRF), with the session cookie's attributes. */
void auth_set_cookie(h2o_req_t *req, const char *name, const char *value, int64_t max_age);

/* Clears, as far as a response can, every session cookie a browser may hold beside ours: with
 * Max-Age=0 for Path=/ and base_path, host-only and with Domain= the public host and each of its
 * parent domains (two labels at least). Nothing more for a __Host- name, which can have no
 * other. For the login page and logout of a request without one session. */
void auth_clear_session_cookies(h2o_req_t *req);

#endif
