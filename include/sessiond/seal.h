/*
 * seal.h - sessions sealed into the cookie itself (the `cookie` store, contract section 2).
 *
 * A sealed cookie value is "v1.KID.BODY": the format version, the id of the key that sealed it
 * (in clear, so the opener tries the right key instead of every key), and base64url (no
 * padding) of a 24-byte random nonce followed by the XChaCha20-Poly1305 ciphertext and tag. The
 * associated data binds the format version, the key id and the cookie's name, so a value cannot
 * be moved to another cookie name or relabelled with another key id. The plaintext is a small
 * binary encoding of the session: id, user, roles, flags, times (created, auth, idle and
 * absolute deadlines), the user's epoch (generation) when sealed, the CSRF secret and the data.
 *
 * A key ring holds 1..SESS_SEAL_KEYS keys: the first seals, every key opens. Rotating keys is
 * adding a new first key (old cookies still open) and, later, removing the old one (its cookies
 * stop opening). Nothing here reads a clock or a store: deadlines are judged at the `now` the
 * caller passes; the epoch is compared by the caller with the one it keeps server side.
 */
#ifndef SESSIOND_SEAL_H
#define SESSIOND_SEAL_H

#include "sessiond/export.h"

#include <stddef.h>
#include <stdint.h>

#include "sessiond/crypto.h"
#include "sessiond/record.h"

#define SESS_SEAL_KEYS 8          /* keys in one ring */
#define SESS_SEAL_KID_MAX 32      /* bytes of a key id: letters, digits, '_' or '-' */
#define SESS_SEAL_KEY_BYTES 32    /* XChaCha20-Poly1305 key */
#define SESS_SEAL_COOKIE_MAX 4096 /* bytes of cookie name plus value, what browsers keep */

typedef struct sess_seal_key {
    char id[SESS_SEAL_KID_MAX + 1];
    uint8_t key[SESS_SEAL_KEY_BYTES];
} sess_seal_key;

typedef struct sess_seal_ring {
    size_t n; /* keys[0] seals */
    sess_seal_key keys[SESS_SEAL_KEYS];
} sess_seal_ring;

/* Parses "ID:BASE64KEY,ID:BASE64KEY..." (base64 standard or url-safe, padding optional; each key
 * exactly 32 bytes; ids unique) into `ring`. 0, or SESS_EINVAL with a reason in `err` that never
 * quotes a key. `ring` is wiped on failure. */
SESS_EXPORT int sess_seal_ring_parse(const char *spec, sess_seal_ring *ring, char *err,
                                     size_t errlen) SESS_WUR;
/* Wipes the keys. */
SESS_EXPORT void sess_seal_ring_dispose(sess_seal_ring *ring);

/* Seals `rec` (its id, user, roles, flags, created, auth_time, idle and absolute deadlines,
 * CSRF secret and data; not the token hashes) with the user's `epoch` under the ring's first
 * key into `out` (`cap` bytes, NUL included) for cookie `name`. The written length (without
 * NUL) in `*out_len`. SESS_ETOOLARGE when name plus value would pass SESS_SEAL_COOKIE_MAX or
 * `cap`; SESS_EINVAL for an empty ring or name. */
SESS_EXPORT int sess_seal_session(const sess_seal_ring *ring, const char *name,
                                  const sess_record *rec, uint64_t epoch, char *out, size_t cap,
                                  size_t *out_len) SESS_WUR;

/* Opens a cookie value `in` (`len` bytes) for cookie `name`: the key named in it must be in the
 * ring, the tag must verify with the associated data, the payload must decode, and the session
 * must be live at `now` (now < idle_expires and now < abs_expires). Then fills `out` (dispose
 * it; its data is malloc'ed) and `*epoch`. SESS_ESESSION for anything else (malformed,
 * truncated, tampered, unknown key, expired), SESS_ENOMEM when out of memory. The caller
 * compares `*epoch` with the user's current one. */
SESS_EXPORT int sess_seal_open(const sess_seal_ring *ring, const char *name, const char *in,
                               size_t len, int64_t now, sess_record *out, uint64_t *epoch) SESS_WUR;

#endif
