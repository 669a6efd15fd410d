/*
 * crypto.c - tokens, ids, keyed hashes and the server key, on libsodium. Every secret
 * comparison in sessiond goes through sess_ct_equal.
 */
#include "sessiond/crypto.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "crypto_int.h"

int sess_crypto_init(void)
{
    return sodium_init() < 0 ? -1 : 0;
}

void sess_random(void *out, size_t len)
{
    randombytes_buf(out, len);
}

void sess_token_new(uint8_t tok[SESS_TOKEN_BYTES])
{
    randombytes_buf(tok, SESS_TOKEN_BYTES);
}

void sess_token_encode(const uint8_t tok[SESS_TOKEN_BYTES], char out[SESS_TOKEN_STRLEN + 1])
{
    sodium_bin2base64(out, SESS_TOKEN_STRLEN + 1, tok, SESS_TOKEN_BYTES,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

/* 0xff when a < b, else 0 (a, b < 256), without a branch. */
static unsigned ct_lt(unsigned a, unsigned b)
{
    return ((a - b) >> 8) & 0xff;
}

/* The 6-bit value of a base64url character, or a value with bit 8 set when `c` is not one;
 * without a branch or a table indexed by the (secret) character. */
static unsigned b64url_value(unsigned c)
{
    unsigned upper = ~ct_lt(c, 'A') & ct_lt(c, 'Z' + 1);
    unsigned lower = ~ct_lt(c, 'a') & ct_lt(c, 'z' + 1);
    unsigned digit = ~ct_lt(c, '0') & ct_lt(c, '9' + 1);
    unsigned dash = ~ct_lt(c, '-') & ct_lt(c, '-' + 1);
    unsigned under = ~ct_lt(c, '_') & ct_lt(c, '_' + 1);
    unsigned v = (upper & (c - 'A')) | (lower & (c - 'a' + 26)) | (digit & (c - '0' + 52)) |
                 (dash & 62) | (under & 63);
    unsigned valid = (upper | lower | digit | dash | under) & 1;
    return (v & 63) | ((valid ^ 1) << 8);
}

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
/* Eight characters at once in a 64-bit word (SWAR): the per-character version above costs
 * about 360 ns per token here, run once per verify and twice per /v1 call; this is a fifth
 * of it. Still without a branch or a table indexed by the (secret) characters. */
#define REP8(b) (0x0101010101010101ULL * (uint64_t)(b))

/* Bit 7 of each byte set when lo <= byte <= hi. Exact for bytes below 0x80; a byte at or
 * above 0x80 can disturb its neighbours' bits, but it makes the whole token bad anyway. */
static uint64_t swar_in_range(uint64_t w, unsigned lo, unsigned hi)
{
    uint64_t ge = w + REP8(0x80 - lo), gt = w + REP8(0x80 - (hi + 1));
    return ge & ~gt & REP8(0x80);
}

/* Bit 7 of each byte -> the whole byte. */
static uint64_t swar_widen(uint64_t m)
{
    return (m >> 7) * 0xff;
}

/* Decodes 8 characters into 48 bits, the first character most significant; sets bits of
 * *bad when one of them is not a base64url character. */
static uint64_t swar_decode8(const char *s, uint64_t *bad)
{
    uint64_t w;
    memcpy(&w, s, sizeof(w)); /* little endian: byte i is character i */
    uint64_t up = swar_widen(swar_in_range(w, 'A', 'Z'));
    uint64_t lo = swar_widen(swar_in_range(w, 'a', 'z'));
    uint64_t dg = swar_widen(swar_in_range(w, '0', '9'));
    uint64_t da = swar_widen(swar_in_range(w, '-', '-'));
    uint64_t un = swar_widen(swar_in_range(w, '_', '_'));
    *bad |= (w & REP8(0x80)) | ~(up | lo | dg | da | un);
    /* (c | 0x80) - k never borrows across bytes (k < 0x80); modulo 0x80 it is the character's
     * value for k = 0x80 + first character - first value of its class. */
    uint64_t wh = w | REP8(0x80), m7 = REP8(0x7f);
    uint64_t v = (((wh - REP8(0x41)) & m7) & up) | (((wh - REP8(0x47)) & m7) & lo) |
                 (((wh - REP8(0x7c)) & m7) & dg) | (((wh - REP8(0x6f)) & m7) & da) |
                 (((wh - REP8(0x20)) & m7) & un);
    /* Pairs into 12 bits per 16-bit lane, then 24 bits per 32-bit lane, then 48. */
    const uint64_t l16 = 0x00ff00ff00ff00ffULL, l32 = 0x0000ffff0000ffffULL;
    uint64_t p = ((v & l16) << 6) | ((v >> 8) & l16);
    uint64_t q = ((p & l32) << 12) | ((p >> 16) & l32);
    return ((q & 0xffffffffULL) << 24) | (q >> 32);
}
#endif

/* Decodes here rather than with sodium_base642bin and a re-encode to refuse non-canonical
 * forms: that pair was 5,700 instructions, run once per verify and twice per /v1 call (the
 * API key too). 43 characters carry 258 bits: the 2 spare bits of the last character must be
 * zero, so that one token has exactly one text form. */
int sess_token_decode(const char *s, size_t len, uint8_t tok[SESS_TOKEN_BYTES])
{
    if (s == NULL || len != SESS_TOKEN_STRLEN)
        return -1;
    unsigned bits = 0;
    uint64_t bad = 0;
    uint32_t acc = 0;
    size_t i = 0, o = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    for (; i + 8 <= SESS_TOKEN_STRLEN; i += 8) {
        uint64_t v = swar_decode8(s + i, &bad);
        for (int k = 5; k >= 0; k--)
            tok[o++] = (uint8_t)(v >> (8 * k));
    }
#endif
    for (; i < SESS_TOKEN_STRLEN; i++) {
        unsigned v = b64url_value((unsigned char)s[i]);
        bad |= v >> 8;
        acc = (acc << 6) | (v & 63);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            tok[o++] = (uint8_t)(acc >> bits);
        }
    }
    bad |= acc & ((1u << bits) - 1);
    acc = 0;
    return bad == 0 && o == SESS_TOKEN_BYTES ? 0 : -1;
}

void sess_keyed_hash(const uint8_t key[SESS_KEY_BYTES], const void *msg, size_t len,
                     uint8_t out[SESS_HASH_BYTES])
{
    crypto_generichash(out, SESS_HASH_BYTES, msg, len, key, SESS_KEY_BYTES);
}

void sess_hash(const void *msg, size_t len, uint8_t out[SESS_HASH_BYTES])
{
    crypto_generichash(out, SESS_HASH_BYTES, msg, len, NULL, 0);
}

void sess_id_new(uint8_t id[SESS_ID_BYTES])
{
    randombytes_buf(id, SESS_ID_BYTES);
}

/* A nibble as a lower-case hex digit without a branch or a table: '0' + n, plus 39 more from
 * 10 on ('a' - '0' - 10). */
static char hex_digit(unsigned n)
{
    return (char)('0' + n + (((9u - n) >> 8) & 39u));
}

void sess_hex_encode(const uint8_t *in, size_t len, char *out)
{
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = hex_digit(in[i] >> 4);
        out[2 * i + 1] = hex_digit(in[i] & 15u);
    }
    out[2 * len] = '\0';
}

void sess_id_to_hex(const uint8_t id[SESS_ID_BYTES], char out[SESS_ID_STRLEN + 1])
{
    sess_hex_encode(id, SESS_ID_BYTES, out);
}

int sess_id_from_hex(const char *s, size_t len, uint8_t id[SESS_ID_BYTES])
{
    size_t bin_len = 0;
    const char *end = NULL;
    if (s == NULL || len != SESS_ID_STRLEN)
        return -1;
    if (sodium_hex2bin(id, SESS_ID_BYTES, s, len, NULL, &bin_len, &end) != 0)
        return -1;
    return (bin_len == SESS_ID_BYTES && end == s + len) ? 0 : -1;
}

/* The CSRF token is derived on every verify (X-CSRF-Token), and the HMAC-SHA256 with its
 * encoding was 40% of the instructions of a GET /auth/verify (callgrind, docs/benchmarks.md).
 * So each thread keeps the last tokens it derived, in a small direct-mapped cache indexed by the
 * secret's first byte (secrets are random and made by the server, so nobody can aim at one
 * slot) and checked against the whole secret in constant time. The cache holds nothing a
 * session record does not hold already, and only in the process that has the records. */
#define CSRF_CACHE_SLOTS 64
static _Thread_local struct csrf_slot {
    uint8_t secret[32];
    char token[SESS_TOKEN_STRLEN + 1];
    bool used;
} csrf_cache[CSRF_CACHE_SLOTS];

void sess_csrf_token(const uint8_t secret[32], char out[SESS_TOKEN_STRLEN + 1])
{
    struct csrf_slot *slot = &csrf_cache[secret[0] % CSRF_CACHE_SLOTS];
    if (slot->used && sess_ct_equal(slot->secret, secret, 32)) {
        memcpy(out, slot->token, SESS_TOKEN_STRLEN + 1);
        return;
    }
    uint8_t mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256(mac, (const unsigned char *)"csrf", 4, secret);
    sess_token_encode(mac, out);
    sodium_memzero(mac, sizeof(mac));
    memcpy(slot->secret, secret, 32);
    memcpy(slot->token, out, SESS_TOKEN_STRLEN + 1);
    slot->used = true;
}

/* The encoded form must fit the public constant; checked once at compile time. */
_Static_assert(crypto_pwhash_STRBYTES == SESS_PWHASH_STRBYTES, "argon2id string size changed");

int sess_pwhash(const char *password, size_t len, uint64_t ops, size_t mem,
                char out[SESS_PWHASH_STRBYTES])
{
    if (ops < crypto_pwhash_OPSLIMIT_MIN || ops > crypto_pwhash_OPSLIMIT_MAX ||
        mem < crypto_pwhash_MEMLIMIT_MIN || mem > crypto_pwhash_MEMLIMIT_MAX)
        return -1;
    return crypto_pwhash_str_alg(out, password, len, ops, mem, crypto_pwhash_ALG_ARGON2ID13) == 0
               ? 0
               : -1;
}

int sess_pwhash_verify(const char *hash, const char *password, size_t len)
{
    /* A hash that is not NUL-terminated within its buffer is malformed, not read past. */
    if (memchr(hash, '\0', SESS_PWHASH_STRBYTES) == NULL)
        return -1;
    return crypto_pwhash_str_verify(hash, password, len) == 0 ? 0 : -1;
}

int sess_pwhash_needs_rehash(const char *hash, uint64_t ops, size_t mem)
{
    return crypto_pwhash_str_needs_rehash(hash, ops, mem) != 0;
}

/* Eight bytes at a time, every byte of both always read and the differences only OR-ed
 * together: no exit before the end. sodium_memcmp goes a byte at a time through volatile
 * pointers, 640 instructions a verify here for two comparisons. The accumulator is read once
 * through a volatile, so that no compiler turns the loop into one that stops at a difference. */
int sess_ct_equal(const void *a, const void *b, size_t len)
{
    const unsigned char *x = a, *y = b;
    uint64_t d = 0;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t u, v;
        memcpy(&u, x + i, 8);
        memcpy(&v, y + i, 8);
        d |= u ^ v;
    }
    for (; i < len; i++)
        d |= (uint64_t)(x[i] ^ y[i]);
    volatile uint64_t seen = d;
    return seen == 0;
}

void sess_wipe(void *p, size_t len)
{
    sodium_memzero(p, len);
}

static int read_key(const char *path, uint8_t key[SESS_KEY_BYTES], char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return errno == ENOENT
                   ? 1
                   : (snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno)), -1);
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s is not a regular file", path);
        close(fd);
        return -1;
    }
    if (st.st_uid != geteuid()) {
        snprintf(err, errlen, "%s belongs to another user; the server key must be yours", path);
        close(fd);
        return -1;
    }
    if (st.st_mode & 077) {
        snprintf(err, errlen, "%s is readable by group or others; run chmod 600 %s", path, path);
        close(fd);
        return -1;
    }
    uint8_t buf[SESS_KEY_BYTES + 1];
    ssize_t n = read(fd, buf, sizeof(buf));
    close(fd);
    if (n != SESS_KEY_BYTES) {
        snprintf(err, errlen, "%s must hold exactly %d bytes", path, SESS_KEY_BYTES);
        sodium_memzero(buf, sizeof(buf));
        return -1;
    }
    memcpy(key, buf, SESS_KEY_BYTES);
    sodium_memzero(buf, sizeof(buf));
    return 0;
}

int sess_key_load(const char *path, uint8_t key[SESS_KEY_BYTES], char *err, size_t errlen)
{
    int r = read_key(path, key, err, errlen);
    if (r > 0)
        snprintf(err, errlen, "%s does not exist (sessiond creates it when it first starts)", path);
    return r == 0 ? 0 : -1;
}

int sess_key_load_or_create(const char *path, uint8_t key[SESS_KEY_BYTES], char *err, size_t errlen)
{
    int r = read_key(path, key, err, errlen);
    if (r <= 0)
        return r;
    char tmp[4096];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof(tmp)) {
        snprintf(err, errlen, "key path too long");
        return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
        return -1;
    }
    randombytes_buf(key, SESS_KEY_BYTES);
    int ok = write(fd, key, SESS_KEY_BYTES) == SESS_KEY_BYTES && fsync(fd) == 0;
    ok = (close(fd) == 0) && ok;
    /* link() instead of rename() so that two processes starting at once cannot both win:
     * the loser reads the winner's key. */
    if (ok && link(tmp, path) != 0) {
        unlink(tmp);
        if (errno == EEXIST)
            return read_key(path, key, err, errlen) == 0 ? 0 : -1;
        snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
        return -1;
    }
    unlink(tmp);
    if (!ok) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    /* Make the new directory entry durable too. */
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    else
        snprintf(dir, sizeof(dir), ".");
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
}

uint64_t sess__short_hash(const uint8_t key[SESS_SHORTHASH_KEYBYTES], const void *in, size_t len)
{
    _Static_assert(crypto_shorthash_KEYBYTES == SESS_SHORTHASH_KEYBYTES, "SipHash key size");
    _Static_assert(crypto_shorthash_BYTES == sizeof(uint64_t), "SipHash output size");
    unsigned char h[crypto_shorthash_BYTES];
    crypto_shorthash(h, in, len, key);
    uint64_t v;
    memcpy(&v, h, sizeof(v));
    return v;
}
