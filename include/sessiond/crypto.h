/*
 * crypto.h - tokens, identifiers and keyed hashes: the only module that includes <sodium.h>.
 *
 * A session token is 32 random bytes shown to clients as 43 characters of base64url without
 * padding. The store never sees a token: it sees a keyed BLAKE2b hash of it under the server key,
 * which lives in the data directory (mode 0600). A session id is 16 random bytes shown as 32 hex
 * characters; it names a session for listing and revoking and grants nothing.
 */
#ifndef SESSIOND_CRYPTO_H
#define SESSIOND_CRYPTO_H

#include "sessiond/export.h"

#include <stddef.h>
#include <stdint.h>

#define SESS_TOKEN_BYTES 32
#define SESS_TOKEN_STRLEN 43 /* base64url, no padding */
#define SESS_HASH_BYTES 32
#define SESS_ID_BYTES 16
#define SESS_ID_STRLEN 32 /* lowercase hex */
#define SESS_KEY_BYTES 32
#define SESS_APIKEY_PREFIX "sk_"
#define SESS_APIKEY_STRLEN (3 + SESS_TOKEN_STRLEN)

/* Initialises libsodium; 0 on success, -1 if the CSPRNG cannot be used. Call once at start. */
SESS_EXPORT int sess_crypto_init(void) SESS_WUR;

/* Fills `out` with `len` bytes from the OS CSPRNG. */
SESS_EXPORT void sess_random(void *out, size_t len);

/* A new random token, raw. */
SESS_EXPORT void sess_token_new(uint8_t tok[SESS_TOKEN_BYTES]);
/* Writes the 43-character text form and a NUL into `out`. */
SESS_EXPORT void sess_token_encode(const uint8_t tok[SESS_TOKEN_BYTES],
                                   char out[SESS_TOKEN_STRLEN + 1]);
/* Parses exactly 43 base64url characters; 0 on success, -1 on anything else (no partial output
 * is meaningful on failure). Runs in time independent of the token's value. */
SESS_EXPORT int sess_token_decode(const char *s, size_t len,
                                  uint8_t tok[SESS_TOKEN_BYTES]) SESS_WUR;

/* out = BLAKE2b-256 keyed with `key` over `msg`. Used for tokens and API keys at rest. */
SESS_EXPORT void sess_keyed_hash(const uint8_t key[SESS_KEY_BYTES], const void *msg, size_t len,
                                 uint8_t out[SESS_HASH_BYTES]);

/* out = BLAKE2b-256 (unkeyed) over `msg`: the audit log's hash chain, which anyone holding the
 * file must be able to check. */
SESS_EXPORT void sess_hash(const void *msg, size_t len, uint8_t out[SESS_HASH_BYTES]);

/* A new random session id. */
SESS_EXPORT void sess_id_new(uint8_t id[SESS_ID_BYTES]);
/* `len` bytes as 2 * len lower-case hex digits and a NUL (no branch or table on the bytes). */
SESS_EXPORT void sess_hex_encode(const uint8_t *in, size_t len, char *out);
SESS_EXPORT void sess_id_to_hex(const uint8_t id[SESS_ID_BYTES], char out[SESS_ID_STRLEN + 1]);
/* Parses exactly 32 hex characters (either case); 0 or -1. */
SESS_EXPORT int sess_id_from_hex(const char *s, size_t len, uint8_t id[SESS_ID_BYTES]) SESS_WUR;

/* The CSRF token of a session: HMAC-SHA256(secret, "csrf"), base64url, 43 characters. */
SESS_EXPORT void sess_csrf_token(const uint8_t secret[32], char out[SESS_TOKEN_STRLEN + 1]);

/* Constant-time comparison: 1 when equal, 0 otherwise. The only comparison used for secrets. */
SESS_EXPORT int sess_ct_equal(const void *a, const void *b, size_t len) SESS_WUR;

/* Password hashing: argon2id in libsodium's encoded string form ("$argon2id$v=19$m=...").
 * SESS_PWHASH_STRBYTES is the size of the buffer, NUL included. */
#define SESS_PWHASH_STRBYTES 128

/* Hashes `len` bytes of password with a fresh salt, `ops` passes and `mem` bytes. 0, or -1
 * when the memory cannot be had or the cost is out of libsodium's bounds. Slow on purpose: call
 * it from a worker thread, never from an event loop. */
SESS_EXPORT int sess_pwhash(const char *password, size_t len, uint64_t ops, size_t mem,
                            char out[SESS_PWHASH_STRBYTES]) SESS_WUR;
/* 0 when `password` matches `hash` (which names its own cost), -1 otherwise (including a
 * malformed hash). Takes as long as hashing at that cost. */
SESS_EXPORT int sess_pwhash_verify(const char *hash, const char *password, size_t len) SESS_WUR;
/* 1 when `hash` was made with another cost than (ops, mem) or is not argon2id. */
SESS_EXPORT int sess_pwhash_needs_rehash(const char *hash, uint64_t ops, size_t mem) SESS_WUR;

/* Wipes a secret from memory. */
SESS_EXPORT void sess_wipe(void *p, size_t len);

/* Reads the 32-byte server key at `path` and never creates it (a reader such as the nginx
 * module). 0, or -1 with a reason in `err`: absent, not ours, group/other permissions, size. */
SESS_EXPORT int sess_key_load(const char *path, uint8_t key[SESS_KEY_BYTES], char *err,
                              size_t errlen) SESS_WUR;

/* Reads the 32-byte server key at `path`, creating it (mode 0600, written to a temp file, fsynced
 * and renamed) when absent. 0 on success; -1 with a reason in `err` otherwise (a key file of the
 * wrong size or with group/other permissions is refused). */
SESS_EXPORT int sess_key_load_or_create(const char *path, uint8_t key[SESS_KEY_BYTES], char *err,
                                        size_t errlen) SESS_WUR;

#endif
