/*
 * seal.c - sealed session cookies (seal.h): the key ring, the payload codec and the AEAD.
 *
 * Besides crypto.c this is the one module that includes <sodium.h>: it needs libsodium's
 * XChaCha20-Poly1305 and base64 helpers, and keeping the cookie format in one file keeps it
 * auditable. The payload is a fixed layout (little-endian integers, length-prefixed strings);
 * every length is checked against the bytes left and against the record's bounds before it is
 * used, so a value that authenticates but does not decode (a key shared with another program)
 * is refused like a forged one.
 */
#include "sessiond/seal.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "codec.h"
#include "sessiond/error.h"
#include "seal_int.h"

#define FORMAT "v1"
#define PAYLOAD_VERSION 1
#define NONCE_BYTES crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TAG_BYTES crypto_aead_xchacha20poly1305_ietf_ABYTES
/* version, id, flags, five times, epoch, CSRF secret, and the three length prefixes. */
#define FIXED_BYTES (1 + SESS_ID_BYTES + 4 + 5 * 8 + 8 + SESS_CSRF_SECRET_BYTES + 1 + 2 + 4)
/* The most a cookie can carry, decoded: a bound on every buffer below. */
#define RAW_MAX (SESS_SEAL_COOKIE_MAX / 4 * 3)
#define AD_MAX (8 + SESS_SEAL_KID_MAX + 1 + SESS_SEAL_COOKIE_MAX)

/* ---- the key ring ------------------------------------------------------------------------ */

static void say(char *err, size_t errlen, const char *msg)
{
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, "%s", msg);
}

static bool kid_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

/* One ID:BASE64KEY entry of `len` bytes into `k`; false with a reason otherwise. */
static bool parse_entry(const char *e, size_t len, sess_seal_key *k, char *err, size_t errlen)
{
    const char *colon = memchr(e, ':', len);
    size_t idl = colon ? (size_t)(colon - e) : 0;
    if (colon == NULL || idl == 0 || idl > SESS_SEAL_KID_MAX) {
        say(err, errlen, "an entry is not ID:BASE64KEY with an ID of 1-32 characters");
        return false;
    }
    for (size_t i = 0; i < idl; i++) {
        if (!kid_char(e[i])) {
            say(err, errlen, "a key id may hold only letters, digits, '_' and '-'");
            return false;
        }
    }
    memcpy(k->id, e, idl);
    k->id[idl] = '\0';
    const char *b = colon + 1;
    size_t bl = len - idl - 1;
    /* Standard or url-safe alphabet, padding optional: normalise to url-safe, no padding. */
    char norm[64];
    size_t nl = 0;
    for (size_t i = 0; i < bl; i++) {
        char c = b[i] == '+' ? '-' : b[i] == '/' ? '_' : b[i];
        if (c == '=') {
            if (strspn(b + i, "=") != bl - i)
                nl = sizeof(norm) + 1; /* padding in the middle: not base64 */
            break;
        }
        if (nl == sizeof(norm)) {
            say(err, errlen, "a key is longer than 32 bytes");
            return false;
        }
        norm[nl++] = c;
    }
    size_t kl = 0;
    int r = nl > sizeof(norm) ? -1
                              : sodium_base642bin(k->key, sizeof(k->key), norm, nl, NULL, &kl, NULL,
                                                  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(norm, sizeof(norm));
    if (r != 0 || kl != SESS_SEAL_KEY_BYTES) {
        say(err, errlen,
            "a key is not 32 bytes of base64 (make one with: head -c 32 /dev/urandom | base64)");
        return false;
    }
    return true;
}

int sess_seal_ring_parse(const char *spec, sess_seal_ring *ring, char *err, size_t errlen)
{
    memset(ring, 0, sizeof(*ring));
    const char *p = spec != NULL ? spec : "";
    while (*p != '\0') {
        while (*p == ' ' || *p == ',')
            p++;
        if (*p == '\0')
            break;
        size_t len = strcspn(p, ", ");
        if (ring->n == SESS_SEAL_KEYS) {
            say(err, errlen, "the key ring holds at most 8 keys");
            goto fail;
        }
        if (!parse_entry(p, len, &ring->keys[ring->n], err, errlen))
            goto fail;
        for (size_t i = 0; i < ring->n; i++) {
            if (strcmp(ring->keys[i].id, ring->keys[ring->n].id) == 0) {
                say(err, errlen, "two keys of the ring have the same id");
                goto fail;
            }
        }
        ring->n++;
        p += len;
    }
    if (ring->n == 0) {
        say(err, errlen, "the key ring is empty; set ID:BASE64KEY");
        goto fail;
    }
    return 0;
fail:
    sess_seal_ring_dispose(ring);
    return SESS_EINVAL;
}

void sess_seal_ring_dispose(sess_seal_ring *ring)
{
    sodium_memzero(ring, sizeof(*ring));
}

/* ---- the payload ------------------------------------------------------------------------- */

static size_t encode_payload(const sess_record *rec, uint64_t epoch, uint8_t *buf, size_t cap)
{
    size_t ul = strlen(rec->user), rl = strlen(rec->roles);
    const char *data = rec->data != NULL ? rec->data : "{}";
    size_t dl = rec->data != NULL ? rec->data_len : 2;
    sess_writer w = sess_writer_of(buf, cap, SESS_LITTLE_ENDIAN);
    sess_put_uint(&w, PAYLOAD_VERSION, 1);
    sess_put(&w, rec->id, SESS_ID_BYTES);
    sess_put_uint(&w, rec->flags, 4);
    sess_put_uint(&w, (uint64_t)rec->created, 8);
    sess_put_uint(&w, (uint64_t)rec->last_seen, 8);
    sess_put_uint(&w, (uint64_t)rec->idle_expires, 8);
    sess_put_uint(&w, (uint64_t)rec->abs_expires, 8);
    sess_put_uint(&w, (uint64_t)rec->auth_time, 8);
    sess_put_uint(&w, epoch, 8);
    sess_put(&w, rec->csrf_secret, SESS_CSRF_SECRET_BYTES);
    sess_put_counted(&w, rec->user, ul, 1);
    sess_put_counted(&w, rec->roles, rl, 2);
    sess_put_counted(&w, data, dl, 4);
    return sess_written(&w);
}

static int decode_payload(const uint8_t *buf, size_t len, sess_record *out, uint64_t *epoch)
{
    sess_reader r = sess_reader_of(buf, len, SESS_LITTLE_ENDIAN);
    if (sess_take_uint(&r, 1) != PAYLOAD_VERSION)
        return SESS_ESESSION;
    sess_take_bytes(&r, out->id, SESS_ID_BYTES);
    out->flags = (uint32_t)sess_take_uint(&r, 4);
    out->created = (int64_t)sess_take_uint(&r, 8);
    out->last_seen = (int64_t)sess_take_uint(&r, 8);
    out->idle_expires = (int64_t)sess_take_uint(&r, 8);
    out->abs_expires = (int64_t)sess_take_uint(&r, 8);
    out->auth_time = (int64_t)sess_take_uint(&r, 8);
    *epoch = sess_take_uint(&r, 8);
    out->generation = *epoch;
    sess_take_bytes(&r, out->csrf_secret, SESS_CSRF_SECRET_BYTES);
    sess_take_counted_str(&r, 1, out->user, sizeof(out->user));
    sess_take_counted_str(&r, 2, out->roles, sizeof(out->roles));
    size_t dl = (size_t)sess_take_uint(&r, 4);
    const uint8_t *data = sess_take(&r, dl);
    /* Data is a JSON object's text: braces around it and no NUL inside. */
    if (!sess_read_all(&r) || out->user[0] == '\0' || dl < 2 || data[0] != '{' ||
        data[dl - 1] != '}' || memchr(data, '\0', dl) != NULL)
        return SESS_ESESSION;
    return sess_record_set_data(out, (const char *)data, dl);
}

/* ---- sealing ----------------------------------------------------------------------------- */

/* The associated data: format, key id and cookie name, each NUL-terminated so that no two
 * different triples give the same bytes. */
static size_t make_ad(const char *kid, const char *name, uint8_t ad[AD_MAX])
{
    size_t fl = sizeof(FORMAT), kl = strlen(kid) + 1, nl = strlen(name) + 1;
    if (fl + kl + nl > AD_MAX)
        return 0;
    memcpy(ad, FORMAT, fl);
    memcpy(ad + fl, kid, kl);
    memcpy(ad + fl + kl, name, nl);
    return fl + kl + nl;
}

/* The room for a payload in a cookie named `name` sealed under `k`: 0 when none. */
static size_t plain_room(const sess_seal_key *k, const char *name)
{
    size_t nl = strlen(name), prefix = sizeof(FORMAT) + strlen(k->id) + 1; /* "v1.KID." */
    if (nl + prefix >= SESS_SEAL_COOKIE_MAX)
        return 0;
    size_t room = SESS_SEAL_COOKIE_MAX - nl - prefix; /* base64 characters left */
    size_t raw_max = room / 4 * 3 + (room % 4 == 3 ? 2 : room % 4 == 2 ? 1 : 0);
    return raw_max > NONCE_BYTES + TAG_BYTES ? raw_max - NONCE_BYTES - TAG_BYTES : 0;
}

int sess__seal_raw(const sess_seal_ring *ring, const char *name, const uint8_t *plain, size_t pl,
                   char *out, size_t cap, size_t *out_len)
{
    if (ring->n == 0 || name == NULL || name[0] == '\0')
        return SESS_EINVAL;
    const sess_seal_key *k = &ring->keys[0];
    uint8_t raw[RAW_MAX], ad[AD_MAX];
    size_t adl = make_ad(k->id, name, ad);
    if (adl == 0 || pl > plain_room(k, name))
        return SESS_ETOOLARGE;
    randombytes_buf(raw, NONCE_BYTES);
    unsigned long long cl = 0;
    crypto_aead_xchacha20poly1305_ietf_encrypt(raw + NONCE_BYTES, &cl, plain, pl, ad, adl, NULL,
                                               raw, k->key);
    size_t rawl = NONCE_BYTES + (size_t)cl;
    size_t b64 = sodium_base64_ENCODED_LEN(rawl, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    size_t prefix = sizeof(FORMAT) + strlen(k->id) + 1;
    if (prefix + b64 > cap || strlen(name) + prefix + b64 - 1 > SESS_SEAL_COOKIE_MAX)
        return SESS_ETOOLARGE;
    int n = snprintf(out, cap, FORMAT ".%s.", k->id);
    sodium_bin2base64(out + n, cap - (size_t)n, raw, rawl,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    *out_len = (size_t)n + b64 - 1;
    return 0;
}

int sess_seal_session(const sess_seal_ring *ring, const char *name, const sess_record *rec,
                      uint64_t epoch, char *out, size_t cap, size_t *out_len)
{
    if (ring->n == 0 || name == NULL || name[0] == '\0')
        return SESS_EINVAL;
    size_t room = plain_room(&ring->keys[0], name);
    if (room == 0)
        return SESS_ETOOLARGE;
    uint8_t *plain = malloc(room);
    if (plain == NULL)
        return SESS_ENOMEM;
    size_t pl = encode_payload(rec, epoch, plain, room);
    int rc = pl == 0 ? SESS_ETOOLARGE : sess__seal_raw(ring, name, plain, pl, out, cap, out_len);
    sodium_memzero(plain, room);
    free(plain);
    return rc;
}

static const sess_seal_key *find_key(const sess_seal_ring *ring, const char *kid, size_t len)
{
    for (size_t i = 0; i < ring->n; i++) {
        if (strlen(ring->keys[i].id) == len && memcmp(ring->keys[i].id, kid, len) == 0)
            return &ring->keys[i];
    }
    return NULL;
}

int sess_seal_open(const sess_seal_ring *ring, const char *name, const char *in, size_t len,
                   int64_t now, sess_record *out, uint64_t *epoch)
{
    sess_record_init(out);
    *epoch = 0;
    size_t fl = sizeof(FORMAT) - 1;
    if (name == NULL || len > SESS_SEAL_COOKIE_MAX || len < fl + 3 || memcmp(in, FORMAT, fl) ||
        in[fl] != '.')
        return SESS_ESESSION;
    const char *kid = in + fl + 1, *dot = memchr(kid, '.', len - fl - 1);
    if (dot == NULL || dot == kid || (size_t)(dot - kid) > SESS_SEAL_KID_MAX)
        return SESS_ESESSION;
    const sess_seal_key *k = find_key(ring, kid, (size_t)(dot - kid));
    if (k == NULL)
        return SESS_ESESSION;
    uint8_t raw[RAW_MAX], plain[RAW_MAX], ad[AD_MAX];
    size_t rawl = 0;
    const char *body = dot + 1;
    if (sodium_base642bin(raw, sizeof(raw), body, len - (size_t)(body - in), NULL, &rawl, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        rawl < NONCE_BYTES + TAG_BYTES)
        return SESS_ESESSION;
    size_t adl = make_ad(k->id, name, ad);
    unsigned long long pl = 0;
    if (adl == 0 ||
        crypto_aead_xchacha20poly1305_ietf_decrypt(plain, &pl, NULL, raw + NONCE_BYTES,
                                                   rawl - NONCE_BYTES, ad, adl, raw, k->key) != 0)
        return SESS_ESESSION;
    int r = decode_payload(plain, (size_t)pl, out, epoch);
    sodium_memzero(plain, sizeof(plain));
    if (r == 0 && (now >= out->idle_expires || now >= out->abs_expires))
        r = SESS_ESESSION;
    if (r != 0)
        sess_record_dispose(out);
    return r;
}
