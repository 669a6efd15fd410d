/*
 * auth.h - what the browser-facing endpoints under [server] base_path share (contract section
 * 4): finding the session token of a request (cookie, then Authorization: Bearer), the client's
 * address (X-Forwarded-For believed only from [server] trusted_proxies), same-origin checks,
 * the session cookie, small answers (JSON or text), and form and query parsing.
 */
#ifndef SESSIOND_HTTP_AUTH_H
#define SESSIOND_HTTP_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/audit.h"
#include "core/config.h"
#include "http/cookies.h"
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
int sessd_auth_api_login(h2o_req_t *req);   /* apiauth.c */
int sessd_auth_api_refresh(h2o_req_t *req); /* apiauth.c */
int sessd_auth_api_logout(h2o_req_t *req);  /* apiauth.c */

/* The request's session token (43 characters when well-formed, but not checked here): the
 * session cookie first, then a Bearer credential. NULL when neither is there, and NULL when the
 * request is ambiguous: two different values for the session cookie (in one Cookie header or
 * several) or two Authorization headers. Such a request has no session, never one of them
 * (contract section 4). A cookie and a Bearer credential naming another live session are
 * refused by auth_session_check. */
const char *auth_token(h2o_req_t *req, size_t *len);
/* auth_token, telling whether the token came from the cookie. */
const char *auth_token_src(h2o_req_t *req, size_t *len, bool *from_cookie);
/* True when auth_token found the request ambiguous; the event is then audited
 * ("cookie_conflict", at most 10 lines a second, the rest counted in the next). For the paths
 * that answer "no session" (verify's 401, the login page). */
bool auth_token_ambiguous(h2o_req_t *req);
/* For a logout that found no one session: ends the session of every token the request
 * presents (each session cookie value and the Bearer credential, at most 8; holding a token is
 * authority enough to end its session), each audited as a logout. 0, or the store's first
 * error. */
int auth_end_presented_sessions(h2o_req_t *req);

/* The live session of the request (auth_token) into `rec`: 0, SESS_ESESSION without one (or
 * when a Bearer credential names another live session than the cookie's, audited), or the
 * store's error (fail closed). On the way it applies what a browser request implies:
 * [session] bind_user_agent (a token sent by another user agent than the one that created the
 * session ends the session: deleted, SESS_ESESSION), and a role change (SESS_REC_ROLES_CHANGED:
 * a cookie token is rotated and the answer gets the new cookie; `rec` is then the rotated
 * session). Dispose `rec` on 0. No allocation unless it rotates. */
int auth_session(h2o_req_t *req, bool touch, int64_t now, sess_record *rec);
/* auth_session in two steps, for an answer that passes a Set-Cookie on only when it is a
 * success (verify behind a proxy): the checks, then the rotation of a role change. */
int auth_session_check(h2o_req_t *req, bool touch, int64_t now, sess_record *rec);
void auth_session_rotate(h2o_req_t *req, sess_record *rec, int64_t now);

/* The request's User-Agent as a session records it (sanitised, at most SESS_AGENT_MAX bytes). */
void auth_client_agent(h2o_req_t *req, char out[SESS_AGENT_MAX + 1]);
/* False when [session] bind_user_agent is on and `agent` is not the one the session was created
 * with (sessions created without one are not bound). */
bool auth_agent_matches(const sess_record *rec, const char *agent);

/* Ends the request's session `rec` (logout): deleted, or for a sealed cookie a deny entry. */
int auth_end_session(h2o_req_t *req, const sess_record *rec);

/* Deletes a session whose token came from another user agent (logged with its id and user). */
void auth_end_bound_session(const sess_record *rec);

/* The value of cookie `name` in any Cookie header, or NULL. */
const char *auth_cookie(h2o_req_t *req, const char *name, size_t *len);

/* The client's address into `out` (64 bytes): the peer, or, when the peer is a trusted proxy,
 * the right-most X-Forwarded-For entry that is not itself a trusted proxy. */
void auth_client_ip(h2o_req_t *req, const sessd_config *c, char out[64]);

/* Appends an audit event (audit.h) with this request's client address (auth_client_ip). */
void auth_audit(h2o_req_t *req, enum sessd_audit_event ev, const char *user,
                const uint8_t *session_id, const char *detail);

/* True when the client asked for JSON (Accept: application/json, or X-Requested-With). */
bool auth_wants_json(h2o_req_t *req);

/* For unsafe browser requests to sessiond itself (login, logout, keepalive): false when
 * Sec-Fetch-Site says cross-site or Origin names an origin that is neither the public URL's nor
 * an allowed one; true when Sec-Fetch-Site says same-origin, whatever Origin says (a page with
 * Referrer-Policy: no-referrer posts with "Origin: null"). Requests without either header
 * (non-browser clients) pass. */
bool auth_same_origin(h2o_req_t *req, const sessd_config *c);
/* Positive evidence only: Sec-Fetch-Site same-origin, or an Origin that is the public URL's or
 * an allowed one (and no Sec-Fetch-Site cross-site). False without either header. */
bool auth_origin_proven(h2o_req_t *req, const sessd_config *c);

/* The CSRF proof of sessiond's own HTML forms (login, preferences, devices): a signed double
 * submit. auth_form_proof puts a random nonce in the cookie <cookie_name>_login (unless the
 * browser has one) and writes MAC(server key, nonce) into `proof` for the form. The MAC key is
 * derived from the server key, so another site can neither read the cookie nor compute the
 * proof. */
void auth_form_proof(h2o_req_t *req, char proof[SESS_TOKEN_STRLEN + 1]);
/* True when the request's form field `csrf` is the proof of its nonce cookie and the request is
 * same-origin (auth_same_origin). */
bool auth_form_proof_ok(h2o_req_t *req);
/* Expires the nonce cookie (after a login: the next form gets a fresh nonce). */
void auth_form_proof_clear(h2o_req_t *req);

/* The session's own CSRF token on a signed-in request: the X-CSRF-Token header (session.js)
 * or else the form field `csrf_token` (sessd_page_csrf). When sent it must be the session's
 * (constant-time compare); with [csrf] require_token it must be sent; without it, a request
 * that came with the cookie needs auth_origin_proven (a Bearer one needs nothing). */
bool auth_form_token_ok(h2o_req_t *req, const sess_record *rec);

/* The request body (form) and its length; "" and 0 without one. */
const char *auth_body(h2o_req_t *req, size_t *len);

/* Answers 303 to `location` (a path under our control, never a token) with a short body. */
int auth_see_other(h2o_req_t *req, const char *location);

/* Adds Retry-After: `wait` (seconds) to the answer (a login lockout). */
void auth_retry_after(h2o_req_t *req, int64_t wait);

/* Answers 401/403/429/503... as {"error","message"} JSON when the client wants JSON, else as a
 * one-line text. Returns `status`. */
int auth_deny(h2o_req_t *req, int status, const char *code, const char *msg);

/* The value of form field or query parameter `name` in `src` (application/x-www-form-urlencoded,
 * '+' is a space), percent-decoded into `out` (`cap` bytes with NUL). Returns its length, -1
 * when absent, -2 when longer than cap - 1 or badly encoded. With `to_end`, the value runs to
 * the end of `src` (the rd= of a login URL whose own query was not escaped). */
long auth_form_value(const char *src, size_t len, const char *name, char *out, size_t cap,
                     bool to_end);

/* Writes `s` HTML-escaped (& < > " ') to `f`. */
void auth_html(FILE *f, const char *s);

/* Copies an identity header value without control characters, at most SESSD_HEADER_VALUE_MAX
 * bytes, cut at a UTF-8 character boundary. Returns the length. */
size_t auth_sanitize(const char *in, size_t len, char *out, size_t cap);

#endif
