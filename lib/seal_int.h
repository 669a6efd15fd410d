/*
 * seal_int.h - what lib/seal.c offers beyond seal.h, internal to libsessiond (not installed):
 * for the fuzz target and tests.
 */
#ifndef SESSIOND_LIB_SEAL_INT_H
#define SESSIOND_LIB_SEAL_INT_H

#include <stddef.h>
#include <stdint.h>

#include "sessiond/seal.h"

/* Seals `len` bytes of payload as they are (so that the
 * payload decoder behind the tag can be exercised). Same errors as sess_seal_session. */
int sess__seal_raw(const sess_seal_ring *ring, const char *name, const uint8_t *plain, size_t len,
                   char *out, size_t cap, size_t *out_len);

#endif
