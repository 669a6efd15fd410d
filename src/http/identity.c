/*
 * identity.c - who a browser-facing request is (identity.h): its session token (the session
 * cookie's one value, else a Bearer credential; none when it names two), the live session
 * behind it with what a browser request implies (bound user agent, rotation after a role
 * change), and ending it.
 */
#include "http/identity.h"
#include "core/clock.h"
#include "http/auth.h"

#include <arpa/inet.h>
#include <stdatomic.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/log.h"
#include "core/source.h"
#include "core/state.h"
#include "http/cookies.h"
#include "sessiond/access.h"
#include "sessiond/cookie.h"
#include "sessiond/error.h"
#include "sessiond/text.h"

const char *auth_cookie(h2o_req_t *req, const char *name, size_t *len)
{
    for (ssize_t i = -1; (i = h2o_find_header(&req->headers, H2O_TOKEN_COOKIE, i)) != -1;) {
        const h2o_iovec_t *v = &req->headers.entries[i].value;
        const char *val;
        if (sess_cookie_find(v->base, v->len, name, &val, len) == 0)
            return val;
    }
    return NULL;
}

const char *auth_token(h2o_req_t *req, size_t *len)
{
    bool from_cookie;
    return auth_token_src(req, len, &from_cookie);
}

/* The session cookie's one value (sess_cookie_pick over every Cookie header) and the Bearer
 * credential. Ambiguous: two different values for the cookie, or two Authorization headers
 * (which one a proxy or an application reads is unknown). */
typedef struct request_token {
    sess_cookie_one cookie;
    const char *bearer;
    size_t bearer_len;
    bool ambiguous;
} request_token;

static void read_token(h2o_req_t *req, request_token *t)
{
    memset(t, 0, sizeof(*t));
    const char *name = sessd_cfg()->cookie_name;
    for (ssize_t i = -1; (i = h2o_find_header(&req->headers, H2O_TOKEN_COOKIE, i)) != -1;)
        sess_cookie_pick(&t->cookie, req->headers.entries[i].value.base,
                         req->headers.entries[i].value.len, name);
    t->bearer = http_bearer(req, &t->bearer_len);
    ssize_t auth = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
    t->ambiguous =
        t->cookie.ambiguous ||
        (auth >= 0 && h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, auth) >= 0);
}

const char *auth_token_src(h2o_req_t *req, size_t *len, bool *from_cookie)
{
    request_token t;
    read_token(req, &t);
    *from_cookie = false;
    if (t.ambiguous)
        return NULL;
    if (t.cookie.value != NULL) {
        *from_cookie = true;
        *len = t.cookie.len;
        return t.cookie.value;
    }
    *len = t.bearer_len;
    return t.bearer;
}

/* At most this many "cookie_conflict" audit lines a second: any client can send such requests
 * at will, and each line costs a locked append. The others are counted and the next line
 * written says how many were left out. */
#define CONFLICT_AUDIT_PER_S 10

static void audit_conflict(h2o_req_t *req, const char *what)
{
    static _Atomic int64_t window;
    static _Atomic unsigned used;
    static _Atomic unsigned long left_out;
    int64_t now = sessd_now(), w = atomic_load(&window);
    if (w != now && atomic_compare_exchange_strong(&window, &w, now))
        atomic_store(&used, 0);
    if (atomic_fetch_add(&used, 1) >= CONFLICT_AUDIT_PER_S) {
        atomic_fetch_add(&left_out, 1);
        return;
    }
    char detail[200];
    unsigned long n = atomic_exchange(&left_out, 0);
    int k = snprintf(detail, sizeof(detail), "%s: treated as no session", what);
    if (n > 0)
        snprintf(detail + k, sizeof(detail) - (size_t)k, " (%lu more not written)", n);
    auth_audit(req, SESSD_AUDIT_COOKIE_CONFLICT, NULL, NULL, detail);
}

bool auth_token_ambiguous(h2o_req_t *req)
{
    request_token t;
    read_token(req, &t);
    if (t.ambiguous)
        audit_conflict(req, t.cookie.ambiguous ? "two different session cookies"
                                               : "two Authorization headers");
    return t.ambiguous;
}

bool auth_token_presented(h2o_req_t *req)
{
    request_token t;
    read_token(req, &t);
    return t.cookie.value != NULL || t.bearer != NULL || t.ambiguous;
}

/* A session cookie's live session `rec` and a Bearer credential that names another live
 * session: the request names two sessions (contract section 4). A Bearer credential that is
 * no session token (an application's own) or the same session's does not count. 0 when there
 * is no conflict, SESS_ESESSION (audited) when there is one, or the store's error. Only when
 * both are sent, which a browser alone never does: one more lookup then. */
static int bearer_conflict(h2o_req_t *req, const sess_record *rec, int64_t now)
{
    size_t cl, bl;
    bool from_cookie;
    const char *b = http_bearer(req, &bl);
    if (b == NULL) /* the usual case: one header lookup */
        return 0;
    const char *c = auth_token_src(req, &cl, &from_cookie);
    if (!from_cookie || (bl == cl && sess_ct_equal(b, c, cl)))
        return 0;
    sess_record other;
    int r = sess_verify(sessd_srv.ctx, b, bl, now, false, &other);
    if (r == SESS_ESESSION)
        return 0;
    if (r != 0)
        return r;
    bool same = sess_ct_equal(other.id, rec->id, SESS_ID_BYTES);
    sess_record_dispose(&other);
    if (same)
        return 0;
    audit_conflict(req, "a session cookie and a Bearer token of another session");
    return SESS_ESESSION;
}

/* Ends the session of every token the request presents under the session cookie's name and as
 * a Bearer credential (at most MAX_PRESENTED): for a logout that found no one session, as
 * holding a token is authority enough to end its session. 0, or the store's first error. */
#define MAX_PRESENTED 8

static int end_presented(h2o_req_t *req, const char *tok, size_t len, bool cookie, int64_t now)
{
    const sessd_source *s = cookie ? sessd_source_cookie() : &sessd_source_stored;
    sess_record rec;
    int r = s->open(tok, len, now, false, &rec, NULL);
    if (r == SESS_ESESSION)
        return 0;
    if (r != 0)
        return r;
    r = s->end(&rec, now);
    int a = auth_audit(req, SESSD_AUDIT_LOGOUT, rec.user, rec.id,
                       r == 0 ? "one of several tokens presented" : "failed");
    if (r == 0)
        r = a; /* ended, but not confirmed without its audit line */
    sess_record_dispose(&rec);
    return r;
}

int auth_end_presented_sessions(h2o_req_t *req)
{
    const char *name = sessd_cfg()->cookie_name;
    int64_t now = sessd_now();
    int first = 0, n = 0;
    for (ssize_t i = -1; (i = h2o_find_header(&req->headers, H2O_TOKEN_COOKIE, i)) != -1;) {
        const h2o_iovec_t *h = &req->headers.entries[i].value;
        const char *v;
        size_t vl, at = 0;
        while (n < MAX_PRESENTED && at < h->len &&
               sess_cookie_find(h->base + at, h->len - at, name, &v, &vl) == 0) {
            int r = end_presented(req, v, vl, true, now);
            first = first != 0 ? first : r;
            n++;
            at = (size_t)(v - h->base) + vl + 1;
        }
    }
    size_t bl;
    const char *b = http_bearer(req, &bl);
    if (b != NULL && n < MAX_PRESENTED) {
        int r = end_presented(req, b, bl, false, now);
        first = first != 0 ? first : r;
    }
    return first;
}

void auth_client_agent(h2o_req_t *req, char out[SESS_AGENT_MAX + 1])
{
    size_t n;
    const char *ua = http_header(req, "user-agent", &n);
    out[0] = '\0';
    if (ua != NULL)
        auth_sanitize(ua, n < SESS_AGENT_MAX ? n : SESS_AGENT_MAX, out, SESS_AGENT_MAX + 1);
}

bool auth_agent_matches(const sess_record *rec, const char *agent)
{
    return !sessd_cfg()->bind_user_agent || sess_agent_matches(rec, agent);
}

/* A session whose user's roles changed since its token was issued gets a new token now, when
 * the token came in the cookie (the answer's Set-Cookie replaces it; a Bearer client could not
 * learn a new token from a verify answer, so its token stays until it rotates by the API). When
 * another request rotated first, this token is the previous one and keeps working for
 * rotate_grace: nothing to do. */
void auth_session_rotate(h2o_req_t *req, sess_record *rec, int64_t now)
{
    size_t len;
    bool from_cookie;
    char fresh[SESS_TOKEN_STRLEN + 1];
    sess_record after;
    if (!(rec->flags & SESS_REC_ROLES_CHANGED))
        return;
    const char *tok = auth_token_src(req, &len, &from_cookie);
    if (!from_cookie || sess_rotate(sessd_srv.ctx, tok, len, now, false, fresh, &after) != 0)
        return;
    auth_set_session_value(req, fresh, &after, now);
    auth_audit(req, SESSD_AUDIT_ROTATE, after.user, after.id, "the user's roles changed");
    sess_wipe(fresh, sizeof(fresh));
    sess_record_dispose(rec);
    *rec = after;
}

/* Where the request's token lives: the session cookie's source, or stored for a Bearer token. */
static const sessd_source *token_source(bool from_cookie)
{
    return from_cookie ? sessd_source_cookie() : &sessd_source_stored;
}

int auth_end_session(h2o_req_t *req, const sess_record *rec)
{
    size_t len;
    bool from_cookie = false;
    auth_token_src(req, &len, &from_cookie);
    return token_source(from_cookie)->end(rec, sessd_now());
}

void auth_end_bound_session(const sessd_source *s, const sess_record *rec)
{
    /* Another browser holds this session's token: end the session for everyone. */
    char id[SESS_ID_STRLEN + 1];
    sess_id_to_hex(rec->id, id);
    sessd_log(SESSD_LOG_NOTICE, "session %s of %s ended: its token came from another user agent",
              id, rec->user);
    sessd_audit(SESSD_AUDIT_THEFT, rec->user, rec->id, NULL,
                "token used from another user agent (bind_user_agent): session ended");
    if (s->end(rec, sessd_now()) != 0)
        sessd_log(SESSD_LOG_WARN,
                  "session %s could not be ended (the store failed); its token "
                  "is refused from that user agent, and the request was answered 401",
                  id);
}

int auth_session_open(h2o_req_t *answer, const sessd_source *s, const char *value, size_t len,
                      bool touch, int64_t now, sess_record *rec)
{
    sessd_value renewed;
    int r = s->open(value, len, now, touch, rec, answer != NULL ? &renewed : NULL);
    if (r != 0 || answer == NULL || renewed.len == 0)
        return r;
    auth_set_session_value(answer, renewed.text, rec, now);
    sess_wipe(renewed.text, renewed.len);
    return 0;
}

int auth_session_check(h2o_req_t *req, bool touch, int64_t now, sess_record *rec)
{
    size_t len;
    bool from_cookie;
    const char *tok = auth_token_src(req, &len, &from_cookie);
    if (tok == NULL)
        return SESS_ESESSION;
    const sessd_source *s = token_source(from_cookie);
    int r = auth_session_open(req, s, tok, len, touch, now, rec);
    if (r == 0 && from_cookie && (r = bearer_conflict(req, rec, now)) != 0)
        sess_record_dispose(rec);
    if (r != 0)
        return r;
    /* A sealed session carries no user agent: sess_agent_matches finds nothing bound. */
    if (sessd_cfg()->bind_user_agent) {
        char agent[SESS_AGENT_MAX + 1];
        auth_client_agent(req, agent);
        if (!auth_agent_matches(rec, agent)) {
            auth_end_bound_session(s, rec);
            sess_record_dispose(rec);
            return SESS_ESESSION;
        }
    }
    return 0;
}

int auth_session(h2o_req_t *req, bool touch, int64_t now, sess_record *rec)
{
    int r = auth_session_check(req, touch, now, rec);
    if (r == 0)
        auth_session_rotate(req, rec, now);
    return r;
}
