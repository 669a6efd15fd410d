/*
 * csrf.c - the CSRF proofs of browser-facing requests (csrf.h): the signed double submit of
 * sessiond's own forms, the session's CSRF token, and same-origin evidence (Sec-Fetch-Site,
 * Origin).
 */
#include "http/csrf.h"
#include "http/auth.h"

#include <arpa/inet.h>
#include <stdatomic.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/log.h"
#include "core/state.h"
#include "sessiond/access.h"
#include "sessiond/cookie.h"
#include "sessiond/error.h"
#include "sessiond/text.h"

#define NONCE_COOKIE_SUFFIX "_login"
#define NONCE_MAX_AGE 3600

static void nonce_cookie_name(char *out, size_t cap)
{
    snprintf(out, cap, "%s%s", sessd_cfg()->cookie_name, NONCE_COOKIE_SUFFIX);
}

static void proof_of(const char *nonce, size_t len, char out[SESS_TOKEN_STRLEN + 1])
{
    uint8_t mac[SESS_HASH_BYTES];
    sess_ctx_sign(sessd_srv.ctx, "login-csrf", nonce, len, mac);
    sess_token_encode(mac, out);
}

void auth_form_proof(h2o_req_t *req, char proof[SESS_TOKEN_STRLEN + 1])
{
    char name[160], nonce[SESS_TOKEN_STRLEN + 1];
    size_t len;
    nonce_cookie_name(name, sizeof(name));
    const char *have = auth_cookie(req, name, &len);
    if (have != NULL && len == SESS_TOKEN_STRLEN) {
        proof_of(have, len, proof);
        return;
    }
    uint8_t raw[SESS_TOKEN_BYTES];
    sess_token_new(raw);
    sess_token_encode(raw, nonce);
    auth_set_cookie(req, name, nonce, NONCE_MAX_AGE);
    proof_of(nonce, SESS_TOKEN_STRLEN, proof);
}

bool auth_form_proof_ok(h2o_req_t *req)
{
    char name[160], want[SESS_TOKEN_STRLEN + 1], given[SESS_TOKEN_STRLEN + 2];
    size_t len, blen;
    const char *body = auth_body(req, &blen);
    long gl = auth_form_value(body, blen, "csrf", given, sizeof(given), false);
    nonce_cookie_name(name, sizeof(name));
    const char *nonce = auth_cookie(req, name, &len);
    if (!auth_same_origin(req, sessd_cfg()) || nonce == NULL || len != SESS_TOKEN_STRLEN ||
        gl != SESS_TOKEN_STRLEN)
        return false;
    proof_of(nonce, len, want);
    return sess_ct_equal(given, want, SESS_TOKEN_STRLEN);
}

void auth_form_proof_clear(h2o_req_t *req)
{
    char name[160];
    nonce_cookie_name(name, sizeof(name));
    auth_set_cookie(req, name, "", 0);
}

/* "scheme://host[:port]" of the public URL into `out`. */
static size_t public_origin(const sessd_config *c, char *out, size_t cap)
{
    const char *u = c->public_url, *host = strstr(u, "://");
    size_t n = host ? (size_t)(host + 3 - u) + strcspn(host + 3, "/") : strlen(u);
    if (n >= cap)
        n = cap - 1;
    memcpy(out, u, n);
    out[n] = '\0';
    return n;
}

bool auth_origin_proven(h2o_req_t *req, const sessd_config *c)
{
    size_t n;
    char pub[512];
    const char *site = http_header(req, "sec-fetch-site", &n);
    if (site != NULL && h2o_memis(site, n, H2O_STRLIT("cross-site")))
        return false;
    if (site != NULL && h2o_memis(site, n, H2O_STRLIT("same-origin")))
        return true;
    const char *origin = http_header(req, "origin", &n);
    if (origin == NULL)
        return false;
    size_t pl = public_origin(c, pub, sizeof(pub));
    return (n == pl && strncasecmp(origin, pub, n) == 0) ||
           sess_list_has(c->allowed_origins, origin, n);
}

bool auth_same_origin(h2o_req_t *req, const sessd_config *c)
{
    size_t n;
    /* No header at all: a non-browser client, which CSRF cannot use. */
    if (http_header(req, "sec-fetch-site", &n) == NULL && http_header(req, "origin", &n) == NULL)
        return true;
    return auth_origin_proven(req, c);
}

bool auth_form_token_ok(h2o_req_t *req, const sess_record *rec)
{
    size_t n, blen;
    char want[SESS_TOKEN_STRLEN + 1], field[SESS_TOKEN_STRLEN + 2];
    const char *tok = http_header(req, "x-csrf-token", &n);
    if (tok == NULL && req->entity.base != NULL) {
        const char *body = auth_body(req, &blen);
        long fl = auth_form_value(body, blen, "csrf_token", field, sizeof(field), false);
        tok = fl >= 0 ? field : NULL;
        n = fl >= 0 ? (size_t)fl : 0;
    }
    if (tok == NULL) {
        /* Without the token, only the browser's own word that the request is same-origin
         * passes, whether the session came in the cookie or as a Bearer token: a request with
         * neither Origin nor Sec-Fetch-Site is refused, as verify does. A client that is no
         * browser sends the token (whoami and /v1 answer it). */
        return !sessd_cfg()->require_token && auth_origin_proven(req, sessd_cfg());
    }
    sess_csrf_token(rec->csrf_secret, want);
    bool ok = n == SESS_TOKEN_STRLEN && sess_ct_equal(tok, want, SESS_TOKEN_STRLEN);
    sess_wipe(want, sizeof(want));
    return ok;
}
