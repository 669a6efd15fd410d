/*
 * sealed.c - the server side of [store] kind = cookie: browser sessions sealed into the session
 * cookie (lib/seal.c), revoked through the store's per-user generation and deny entries
 * (session.h sess_stateless_*). See docs/tokens.md for when to choose it.
 *
 * The key ring is parsed from the current configuration at each use (at most 8 base64 keys:
 * about a microsecond), so a SIGHUP that changes [keys] seal takes effect on the next request
 * with no state to swap. A touch that is due (touch_interval) re-seals the session with the new
 * idle deadline and sends it as Set-Cookie: the cookie is the session, so the touch is the
 * answer's, not a store write.
 */
#include "http/sealed.h"

#include <string.h>

#include "http/cookies.h"
#include "core/log.h"
#include "core/state.h"
#include "sessiond/error.h"
#include "sessiond/seal.h"

bool sessd_sealed(void)
{
    return sessd_cfg()->store == SESSD_STORE_COOKIE;
}

static int load_ring(sess_seal_ring *ring)
{
    char err[160];
    if (sess_seal_ring_parse(sessd_cfg()->seal, ring, err, sizeof(err)) != 0) {
        /* config check refuses such a ring: only a race with a reload could get here. */
        sessd_log(SESSD_LOG_WARN, "[keys] seal: %s", err);
        return SESS_EINTERNAL;
    }
    return 0;
}

int sessd_sealed_value(const sess_record *rec, char *out, size_t cap, size_t *len)
{
    sess_seal_ring ring;
    int r = load_ring(&ring);
    if (r == 0)
        r = sess_seal_session(&ring, sessd_cfg()->cookie_name, rec, rec->generation, out, cap, len);
    sess_seal_ring_dispose(&ring);
    return r;
}

int sessd_sealed_issue(h2o_req_t *req, const sess_record *rec, int64_t now)
{
    char value[SESS_SEAL_COOKIE_MAX + 1];
    size_t len;
    int r = sessd_sealed_value(rec, value, sizeof(value), &len);
    if (r == 0)
        auth_set_session_cookie(req, value,
                                (rec->flags & SESS_REC_REMEMBER) ? rec->abs_expires - now : -1);
    sess_wipe(value, sizeof(value));
    return r;
}

int sessd_sealed_open(h2o_req_t *req, const char *value, size_t len, bool touch, int64_t now,
                      sess_record *rec)
{
    sess_seal_ring ring;
    uint64_t epoch;
    int r = load_ring(&ring);
    if (r == 0)
        r = sess_seal_open(&ring, sessd_cfg()->cookie_name, value, len, now, rec, &epoch);
    sess_seal_ring_dispose(&ring);
    if (r != 0)
        return r;
    if ((r = sess_stateless_check(sessd_srv.ctx, rec)) != 0) {
        sess_record_dispose(rec);
        return r;
    }
    if (touch && sess_touch_due(sessd_srv.ctx, rec, now) && sessd_sealed_issue(req, rec, now) != 0)
        sessd_log(SESSD_LOG_WARN, "re-sealing a touched session failed");
    return 0;
}
