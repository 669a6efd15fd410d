/*
 * identity.h - who a browser-facing request is: its session token (one or none), the live
 * session behind it, and ending it.
 */
#ifndef SESSIOND_HTTP_IDENTITY_H
#define SESSIOND_HTTP_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "core/source.h"
#include "http/http.h"
#include "sessiond/record.h"

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
/* True when the request presents any session token at all: a session cookie (one value or
 * several) or a Bearer credential (one or several), live or not. */
bool auth_token_presented(h2o_req_t *req);
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

/* Opens `value` from source `s` (source.h open); a sealed session's due touch goes out as the
 * Set-Cookie of `answer`. A NULL `answer` (a /v1 call, whose answer goes to a backend, not to
 * the browser) leaves a sealed session untouched. */
int auth_session_open(h2o_req_t *answer, const sessd_source *s, const char *value, size_t len,
                      bool touch, int64_t now, sess_record *rec);

/* Ends the request's session `rec` (logout) in the source its token came from. */
int auth_end_session(h2o_req_t *req, const sess_record *rec);

/* Ends session `rec` of source `s`, whose token came from another user agent (logged with its
 * id and user, audited). */
void auth_end_bound_session(const sessd_source *s, const sess_record *rec);

/* The value of cookie `name` in any Cookie header, or NULL. */
const char *auth_cookie(h2o_req_t *req, const char *name, size_t *len);

#endif
