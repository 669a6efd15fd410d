/*
 * session_int.h - what lib/session.c shares with lib/refresh.c, internal to libsessiond (not
 * installed).
 */
#ifndef SESSIOND_LIB_SESSION_INT_H
#define SESSIOND_LIB_SESSION_INT_H

#include <stdint.h>

#include "sessiond/crypto.h"
#include "sessiond/session.h"

/* The keyed hash the store keeps for a raw token. */
void sess__token_hash(sess_ctx *ctx, const uint8_t tok[SESS_TOKEN_BYTES],
                      uint8_t out[SESS_HASH_BYTES]);

#endif
