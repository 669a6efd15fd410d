/*
 * source.c - the two session sources of source.h.
 *
 * Stored: libsessiond's token calls (sess_create, sess_verify, sess_delete).
 *
 * Sealed: the record sealed into the value with the user's generation as its epoch
 * (sess_seal_session), opened only when sealed by a key of the ring for this cookie name, live,
 * and not revoked: its epoch is the user's current generation and no deny entry has its id
 * (sess_stateless_check). Ending one files a deny entry until its absolute deadline. The key
 * ring is parsed from the current configuration at each use (at most 8 base64 keys: about a
 * microsecond), so a SIGHUP that changes [keys] seal takes effect on the next request with no
 * state to swap. See docs/tokens.md for when to choose it.
 */
#include "core/source.h"

#include <string.h>

#include "core/log.h"
#include "core/state.h"
#include "sessiond/error.h"

/* ---- stored ------------------------------------------------------------------------------ */

static int stored_create(const sess_create_params *p, int64_t now, sessd_value *out,
                         sess_record *rec)
{
    _Static_assert(SESS_TOKEN_STRLEN <= SESSD_VALUE_MAX, "a token is a value");
    out->len = 0;
    int r = sess_create(sessd_srv.ctx, p, now, out->text, rec);
    if (r == 0)
        out->len = SESS_TOKEN_STRLEN;
    return r;
}

static int stored_open(const char *value, size_t len, int64_t now, bool touch, sess_record *rec,
                       sessd_value *renewed)
{
    if (renewed != NULL)
        renewed->len = 0;
    return sess_verify(sessd_srv.ctx, value, len, now, touch, rec);
}

static int stored_end(const sess_record *rec, int64_t now)
{
    (void)now;
    return sess_delete(sessd_srv.ctx, rec->id);
}

static int stored_end_id(const uint8_t id[SESS_ID_BYTES], int64_t now)
{
    (void)now;
    return sess_delete(sessd_srv.ctx, id);
}

const sessd_source sessd_source_stored = {
    .name = "stored",
    .too_large = "\"data\" is over [session] max_data",
    .create = stored_create,
    .open = stored_open,
    .end = stored_end,
    .end_id = stored_end_id,
};

/* ---- sealed ------------------------------------------------------------------------------ */

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

static int seal(const sess_record *rec, sessd_value *out)
{
    sess_seal_ring ring;
    out->len = 0;
    int r = load_ring(&ring);
    if (r == 0)
        r = sess_seal_session(&ring, sessd_cfg()->cookie_name, rec, rec->generation, out->text,
                              sizeof(out->text), &out->len);
    sess_seal_ring_dispose(&ring);
    return r;
}

static int sealed_create(const sess_create_params *p, int64_t now, sessd_value *out,
                         sess_record *rec)
{
    out->len = 0;
    int r = sess_new_stateless(sessd_srv.ctx, p, now, rec);
    if (r == 0 && (r = seal(rec, out)) != 0)
        sess_record_dispose(rec);
    return r;
}

static int sealed_open(const char *value, size_t len, int64_t now, bool touch, sess_record *rec,
                       sessd_value *renewed)
{
    sess_seal_ring ring;
    uint64_t epoch;
    if (renewed != NULL)
        renewed->len = 0;
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
    /* The value is the session: a touch is a new value for the client, not a store write. */
    if (touch && renewed != NULL && sess_touch_due(sessd_srv.ctx, rec, now) &&
        seal(rec, renewed) != 0)
        sessd_log(SESSD_LOG_WARN, "re-sealing a touched session failed");
    return 0;
}

static int sealed_end(const sess_record *rec, int64_t now)
{
    return sess_stateless_end(sessd_srv.ctx, rec, now);
}

static int sealed_end_id(const uint8_t id[SESS_ID_BYTES], int64_t now)
{
    return sess_stateless_end_id(sessd_srv.ctx, id, now);
}

const sessd_source sessd_source_sealed = {
    .name = "sealed",
    .too_large = "the session would not fit in its cookie (name plus value at most 4096 bytes, "
                 "sealed) or \"data\" is over [session] max_data; store less data",
    .create = sealed_create,
    .open = sealed_open,
    .end = sealed_end,
    .end_id = sealed_end_id,
};

/* ---- choosing ---------------------------------------------------------------------------- */

const sessd_source *sessd_source_cookie(void)
{
    return sessd_cfg()->store == SESSD_STORE_COOKIE ? &sessd_source_sealed : &sessd_source_stored;
}

const sessd_source *sessd_source_of(size_t len)
{
    return len > SESS_TOKEN_STRLEN ? sessd_source_cookie() : &sessd_source_stored;
}

int sessd_source_end_id(const uint8_t id[SESS_ID_BYTES], int64_t now)
{
    /* Bearer tokens are stored sessions under every store kind; the cookie's may be sealed. */
    int r = sessd_source_stored.end_id(id, now);
    const sessd_source *c = sessd_source_cookie();
    if (r == 0 && c != &sessd_source_stored)
        r = c->end_id(id, now);
    return r;
}
