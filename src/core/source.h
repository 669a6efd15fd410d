/*
 * source.h - where a presented session lives, behind one interface: a stored session (a 256-bit
 * token naming a record in the store) or a sealed one ([store] kind = cookie: the record sealed
 * into the value the client holds, lib/seal.c). Handlers make, open and end sessions through a
 * source and never ask which kind it is (source.c).
 *
 * Both pass the same conformance cases (tests/unit/test_source.c). Where their semantics differ,
 * by nature of a session the server does not hold:
 * - a sealed session's touch is a new value, which the caller must hand to the client
 *   (`renewed`); a stored one's touch is a store write;
 * - a sealed session has no record to read, list, patch or rotate by id (GET, PATCH
 *   /v1/sessions/{id}, "Your devices", step-up rotation: a step-up makes a new sealed session);
 * - a sealed session carries no user agent, so bind_user_agent has nothing to bind it to;
 * - max_per_user does not evict sealed sessions (the server does not know them).
 */
#ifndef SESSIOND_CORE_SOURCE_H
#define SESSIOND_CORE_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sessiond/record.h"
#include "sessiond/seal.h"
#include "sessiond/session.h"

/* The value a client presents: a token (43 characters) or a sealed session (at most a cookie's
 * 4096 bytes, name included). */
#define SESSD_VALUE_MAX SESS_SEAL_COOKIE_MAX

typedef struct sessd_value {
    char text[SESSD_VALUE_MAX + 1];
    size_t len;
} sessd_value;

typedef struct sessd_source {
    const char *name;      /* "stored" or "sealed", for logs and the audit detail */
    const char *too_large; /* what SESS_ETOOLARGE from create means, for the client */
    /* A new session of `p` at `now`: the value the client will present into `out`, the record
     * into `rec` (dispose it). SESS_ETOOLARGE when the data is over max_data or the sealed value
     * would not fit its cookie. */
    int (*create)(const sess_create_params *p, int64_t now, sessd_value *out, sess_record *rec);
    /* The live, unrevoked session `value` names at `now` into `rec` (dispose it): 0,
     * SESS_ESESSION, or a store error (the caller fails closed). With `touch`, a due touch is
     * done: queued for the store, or, for a sealed session, a new value in `renewed` (its len
     * is 0 when none is due). A NULL `renewed` leaves a sealed session untouched (its new value
     * could not reach the client). */
    int (*open)(const char *value, size_t len, int64_t now, bool touch, sess_record *rec,
                sessd_value *renewed);
    /* Ends the session of `rec`, opened from this source, for every holder of its value
     * (idempotent). */
    int (*end)(const sess_record *rec, int64_t now);
    /* Ends a session of this source known only by its id (idempotent). */
    int (*end_id)(const uint8_t id[SESS_ID_BYTES], int64_t now);
} sessd_source;

extern const sessd_source sessd_source_stored;
extern const sessd_source sessd_source_sealed;

/* Where browser sessions live (the session cookie, the login form): sealed under
 * [store] kind = cookie, stored otherwise. Bearer tokens are always stored sessions. */
const sessd_source *sessd_source_cookie(void);

/* The source of a value that came without saying from where (a /v1 body's "token"): a sealed
 * session's value is longer than a token. */
const sessd_source *sessd_source_of(size_t len);

/* Ends session `id` in every source this server runs (DELETE /v1/sessions/{id}). */
int sessd_source_end_id(const uint8_t id[SESS_ID_BYTES], int64_t now);

#endif
