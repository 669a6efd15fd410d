/*
 * csrf.h - the CSRF proofs of browser-facing requests: the signed double submit of
 * sessiond's own forms, the session's CSRF token, same-origin evidence.
 */
#ifndef SESSIOND_HTTP_CSRF_H
#define SESSIOND_HTTP_CSRF_H

#include <stdbool.h>
#include "core/config.h"
#include "http/http.h"
#include "sessiond/crypto.h"
#include "sessiond/record.h"

/* For unsafe browser requests to sessiond itself (login, logout, keepalive): false when
 * Sec-Fetch-Site says cross-site or Origin names an origin that is neither the public URL's nor
 * an allowed one; true when Sec-Fetch-Site says same-origin, whatever Origin says (a page with
 * Referrer-Policy: no-referrer posts with "Origin: null"). Requests without either header
 * pass this first check; a signed-in one then needs the session's CSRF token
 * (auth_form_token_ok). */
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
 * (constant-time compare); with [csrf] require_token it must be sent; without it, the request
 * needs auth_origin_proven, whether its token came in the cookie or as a Bearer credential
 * (ASVS 3.5.1: a request with neither Origin nor Sec-Fetch-Site proves nothing). */
bool auth_form_token_ok(h2o_req_t *req, const sess_record *rec);

#endif
