/*
 * crypto.c - tokens, ids, keyed hashes and the server key, on libsodium. Every secret
 * comparison in sessiond goes through sess_ct_equal (sodium_memcmp).
 */
#include "sessiond/crypto.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

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

int sess_token_decode(const char *s, size_t len, uint8_t tok[SESS_TOKEN_BYTES])
{
    size_t bin_len = 0;
    const char *end = NULL;
    if (s == NULL || len != SESS_TOKEN_STRLEN)
        return -1;
    if (sodium_base642bin(tok, SESS_TOKEN_BYTES, s, len, NULL, &bin_len, &end,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
        return -1;
    /* Reject non-canonical encodings (stray low bits in the last character) so that one token
     * has exactly one text form. */
    if (bin_len != SESS_TOKEN_BYTES || end != s + len)
        return -1;
    char again[SESS_TOKEN_STRLEN + 1];
    sess_token_encode(tok, again);
    return sodium_memcmp(again, s, SESS_TOKEN_STRLEN) == 0 ? 0 : -1;
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

void sess_id_to_hex(const uint8_t id[SESS_ID_BYTES], char out[SESS_ID_STRLEN + 1])
{
    sodium_bin2hex(out, SESS_ID_STRLEN + 1, id, SESS_ID_BYTES);
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

void sess_csrf_token(const uint8_t secret[32], char out[SESS_TOKEN_STRLEN + 1])
{
    uint8_t mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256(mac, (const unsigned char *)"csrf", 4, secret);
    sess_token_encode(mac, out);
    sodium_memzero(mac, sizeof(mac));
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

int sess_ct_equal(const void *a, const void *b, size_t len)
{
    return sodium_memcmp(a, b, len) == 0;
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
