/*
 * auth.h - the browser-facing endpoints under [server] base_path (contract section 4): their
 * dispatch, the handlers, and their small answers (JSON or text). What they share comes in with
 * it: who the request is (identity.h), its CSRF proofs (csrf.h), its address (client.h), form
 * values (forms.h) and the cookies of the answer (cookies.h).
 */
#ifndef SESSIOND_HTTP_AUTH_H
#define SESSIOND_HTTP_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/audit.h"
#include "core/config.h"
#include "http/client.h"
#include "http/cookies.h"
#include "http/csrf.h"
#include "http/forms.h"
#include "http/identity.h"
#include "http/http.h"
#include "core/metrics.h"
#include "sessiond/record.h"

#define SESSD_HEADER_VALUE_MAX 1024 /* bytes of one identity header value */
#define SESSD_URI_MAX 8192          /* bytes of the original URI verify looks at */

/* Dispatches everything under base_path; `rest` is what follows it ("/login", ...). Returns the
 * status answered, or 0 when the answer comes later (a login on the worker pool). */
int sessd_auth(h2o_req_t *req, const char *rest, size_t len, enum sessd_route *route);

/* The handlers (auth.c dispatches). */
int sessd_auth_verify(h2o_req_t *req);
int sessd_auth_login_page(h2o_req_t *req);
int sessd_auth_login_post(h2o_req_t *req);
int sessd_auth_logout(h2o_req_t *req);
int sessd_auth_style(h2o_req_t *req);
int sessd_auth_script(h2o_req_t *req);
int sessd_auth_prefs_page(h2o_req_t *req);
int sessd_auth_prefs_post(h2o_req_t *req);
int sessd_auth_devices_page(h2o_req_t *req);
int sessd_auth_devices_revoke(h2o_req_t *req);
int sessd_auth_password_page(h2o_req_t *req); /* password.c */
int sessd_auth_password_post(h2o_req_t *req);
int sessd_auth_api_login(h2o_req_t *req);   /* apiauth.c */
int sessd_auth_api_refresh(h2o_req_t *req); /* apiauth.c */
int sessd_auth_api_logout(h2o_req_t *req);  /* apiauth.c */

/* True when the client asked for JSON (Accept: application/json, or X-Requested-With). */
bool auth_wants_json(h2o_req_t *req);

/* Answers 303 to `location` (a path under our control, never a token) with a short body. */
int auth_see_other(h2o_req_t *req, const char *location);

/* For a page that needs a session, asked without one: a browser's GET goes to the login page
 * and comes back to base_path + `back` afterwards (303); anything else gets 401. Returns the
 * status answered. */
int auth_sign_in_first(h2o_req_t *req, const char *back);

/* Adds Retry-After: `wait` (seconds) to the answer (a login lockout). */
void auth_retry_after(h2o_req_t *req, int64_t wait);

/* Answers error `err` (error.h: its status and code) as {"error","message"} JSON when the client
 * wants JSON, else as one line of text. Returns the status sent. */
int auth_deny(h2o_req_t *req, int err, const char *msg);

#endif
