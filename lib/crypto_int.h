/*
 * crypto_int.h - what lib/crypto.c offers the rest of libsessiond beyond crypto.h (internal,
 * not installed): the one module that includes <sodium.h> keeps every primitive.
 */
#ifndef SESSIOND_LIB_CRYPTO_INT_H
#define SESSIOND_LIB_CRYPTO_INT_H

#include <stddef.h>
#include <stdint.h>

#define SESS_SHORTHASH_KEYBYTES 16

/* SipHash-2-4 of `len` bytes of `in` under `key` (libsodium's crypto_shorthash): a keyed hash
 * for hash tables, so that clients cannot aim at one bucket. Not for secrets. */
uint64_t sess__short_hash(const uint8_t key[SESS_SHORTHASH_KEYBYTES], const void *in, size_t len);

#endif
