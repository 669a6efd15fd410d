/*
 * sealed.h - [store] kind = cookie: sessions sealed into the session cookie (sealed.c).
 */
#ifndef SESSIOND_HTTP_SEALED_H
#define SESSIOND_HTTP_SEALED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http/http.h"
#include "sessiond/record.h"

/* True when the configured store is `cookie`. */
bool sessd_sealed(void);

/* Seals `rec` (with its generation as the epoch) for the session cookie into `out` (`cap`
 * bytes); SESS_ETOOLARGE when name plus value would pass 4096 bytes. */
int sessd_sealed_value(const sess_record *rec, char *out, size_t cap, size_t *len);

/* Seals `rec` and adds it as the session cookie's Set-Cookie (Max-Age for remember-me). */
int sessd_sealed_issue(h2o_req_t *req, const sess_record *rec, int64_t now);

/* Opens the session cookie's value: sealed by a key of the ring, for this cookie name, live at
 * `now`, not revoked (sess_stateless_check). With `touch`, a due touch re-seals it into the
 * answer's Set-Cookie. 0 and `rec` (dispose it), SESS_ESESSION, or a store error. */
int sessd_sealed_open(h2o_req_t *req, const char *value, size_t len, bool touch, int64_t now,
                      sess_record *rec);

#endif
