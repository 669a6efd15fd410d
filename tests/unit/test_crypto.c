/* test_crypto.c - tokens, ids, keyed hashes, CSRF tokens and the server key file. */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sessiond/crypto.h"

#include <sodium.h>
#include "sessiond/error.h"

static void token_roundtrip(void **state)
{
    (void)state;
    uint8_t a[SESS_TOKEN_BYTES], b[SESS_TOKEN_BYTES];
    char text[SESS_TOKEN_STRLEN + 1];
    for (int i = 0; i < 100; i++) {
        sess_token_new(a);
        sess_token_encode(a, text);
        assert_int_equal(strlen(text), SESS_TOKEN_STRLEN);
        for (size_t k = 0; k < SESS_TOKEN_STRLEN; k++)
            assert_non_null(strchr(
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", text[k]));
        assert_int_equal(sess_token_decode(text, SESS_TOKEN_STRLEN, b), 0);
        assert_memory_equal(a, b, SESS_TOKEN_BYTES);
    }
}

static void token_decode_rejects(void **state)
{
    (void)state;
    uint8_t tok[SESS_TOKEN_BYTES];
    char text[SESS_TOKEN_STRLEN + 2];
    sess_token_new(tok);
    sess_token_encode(tok, text);
    assert_int_equal(sess_token_decode(text, SESS_TOKEN_STRLEN - 1, tok), -1); /* short */
    assert_int_equal(sess_token_decode(NULL, 0, tok), -1);
    char bad[SESS_TOKEN_STRLEN + 1];
    memcpy(bad, text, sizeof(bad));
    bad[5] = '+'; /* standard base64, not base64url */
    assert_int_equal(sess_token_decode(bad, SESS_TOKEN_STRLEN, tok), -1);
    memcpy(bad, text, sizeof(bad));
    bad[10] = '=';
    assert_int_equal(sess_token_decode(bad, SESS_TOKEN_STRLEN, tok), -1);
    /* The last character carries 2 spare bits: a non-canonical variant must be refused so one
     * token has one text. 'A' encodes 0; 'B' differs only in the spare bits when the last
     * 6-bit group holds 4 data bits. */
    memset(tok, 0, sizeof(tok));
    sess_token_encode(tok, text);
    assert_int_equal(text[SESS_TOKEN_STRLEN - 1], 'A');
    text[SESS_TOKEN_STRLEN - 1] = 'B';
    assert_int_equal(sess_token_decode(text, SESS_TOKEN_STRLEN, tok), -1);
}

/* The reference: libsodium's decoder, plus a re-encode to insist on the canonical text. */
static int reference_decode(const char *s, size_t len, uint8_t out[SESS_TOKEN_BYTES])
{
    size_t n = 0;
    const char *end = NULL;
    char again[SESS_TOKEN_STRLEN + 1];
    if (sodium_base642bin(out, SESS_TOKEN_BYTES, s, len, NULL, &n, &end,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        n != SESS_TOKEN_BYTES || end != s + len)
        return -1;
    sess_token_encode(out, again);
    return len == SESS_TOKEN_STRLEN && memcmp(again, s, len) == 0 ? 0 : -1;
}

/* The word-at-a-time decoder against the reference: random tokens, and every byte value at
 * every position of one (the class edges, bytes >= 0x80 next to good ones, NUL). */
static void token_decode_matches_reference(void **state)
{
    (void)state;
    uint8_t tok[SESS_TOKEN_BYTES], a[SESS_TOKEN_BYTES], b[SESS_TOKEN_BYTES];
    char text[SESS_TOKEN_STRLEN + 1];
    for (int i = 0; i < 2000; i++) {
        sess_token_new(tok);
        sess_token_encode(tok, text);
        assert_int_equal(sess_token_decode(text, SESS_TOKEN_STRLEN, a), 0);
        assert_memory_equal(a, tok, SESS_TOKEN_BYTES);
    }
    int accepted = 0;
    for (int round = 0; round < 4; round++) {
        sess_token_new(tok);
        if (round == 0)
            memset(tok, 0, sizeof(tok));
        sess_token_encode(tok, text);
        for (size_t pos = 0; pos < SESS_TOKEN_STRLEN; pos++) {
            char orig = text[pos];
            for (int c = 0; c < 256; c++) {
                text[pos] = (char)c;
                int want = reference_decode(text, SESS_TOKEN_STRLEN, b);
                int got = sess_token_decode(text, SESS_TOKEN_STRLEN, a);
                assert_int_equal(got, want);
                if (want == 0) {
                    assert_memory_equal(a, b, SESS_TOKEN_BYTES);
                    accepted++;
                }
            }
            text[pos] = orig;
        }
    }
    /* 64 characters at 42 positions, 16 at the last (2 spare bits): 2,704 per round. */
    assert_int_equal(accepted, 4 * (42 * 64 + 16));
}

static void keyed_hash_depends_on_key(void **state)
{
    (void)state;
    uint8_t k1[SESS_KEY_BYTES] = {1}, k2[SESS_KEY_BYTES] = {2};
    uint8_t h1[SESS_HASH_BYTES], h2[SESS_HASH_BYTES], h3[SESS_HASH_BYTES];
    sess_keyed_hash(k1, "token", 5, h1);
    sess_keyed_hash(k2, "token", 5, h2);
    sess_keyed_hash(k1, "token", 5, h3);
    assert_memory_not_equal(h1, h2, SESS_HASH_BYTES);
    assert_memory_equal(h1, h3, SESS_HASH_BYTES);
}

static void id_hex(void **state)
{
    (void)state;
    uint8_t id[SESS_ID_BYTES], back[SESS_ID_BYTES];
    char hex[SESS_ID_STRLEN + 1];
    sess_id_new(id);
    sess_id_to_hex(id, hex);
    assert_int_equal(strlen(hex), SESS_ID_STRLEN);
    char want[SESS_ID_STRLEN + 1];
    sodium_bin2hex(want, sizeof(want), id, SESS_ID_BYTES);
    assert_string_equal(hex, want);
    uint8_t all[SESS_ID_BYTES];
    for (int v = 0; v < 256; v += SESS_ID_BYTES) { /* every byte value once */
        for (int i = 0; i < SESS_ID_BYTES; i++)
            all[i] = (uint8_t)(v + i);
        sess_id_to_hex(all, hex);
        sodium_bin2hex(want, sizeof(want), all, SESS_ID_BYTES);
        assert_string_equal(hex, want);
    }
    sess_id_to_hex(id, hex);
    assert_int_equal(sess_id_from_hex(hex, SESS_ID_STRLEN, back), 0);
    assert_memory_equal(id, back, SESS_ID_BYTES);
    hex[3] = 'g';
    assert_int_equal(sess_id_from_hex(hex, SESS_ID_STRLEN, back), -1);
    assert_int_equal(sess_id_from_hex(hex, SESS_ID_STRLEN - 1, back), -1);
}

static void csrf_token_stable_per_secret(void **state)
{
    (void)state;
    uint8_t s1[32] = {7}, s2[32] = {8};
    char a[SESS_TOKEN_STRLEN + 1], b[SESS_TOKEN_STRLEN + 1], c[SESS_TOKEN_STRLEN + 1];
    sess_csrf_token(s1, a);
    sess_csrf_token(s1, b);
    sess_csrf_token(s2, c);
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);
}

static void ct_equal(void **state)
{
    (void)state;
    assert_true(sess_ct_equal("abcdef", "abcdef", 6));
    assert_false(sess_ct_equal("abcdef", "abcdeg", 6));
    assert_true(sess_ct_equal("x", "y", 0));
    /* Every length up to 70 (the word loop and the tail), a difference in each single bit of
     * each byte, unaligned starts. */
    unsigned char a[80], b[80];
    for (size_t len = 1; len <= 70; len++) {
        for (size_t off = 0; off < 3; off++) {
            sess_random(a + off, len);
            memcpy(b + off, a + off, len);
            assert_true(sess_ct_equal(a + off, b + off, len));
            for (size_t i = 0; i < len; i++) {
                for (int bit = 0; bit < 8; bit++) {
                    b[off + i] ^= (unsigned char)(1u << bit);
                    assert_false(sess_ct_equal(a + off, b + off, len));
                    b[off + i] ^= (unsigned char)(1u << bit);
                }
            }
        }
    }
}

static void key_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/sessiond-key-XXXXXX", path[256], err[256];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/server.key", dir);
    uint8_t k1[SESS_KEY_BYTES], k2[SESS_KEY_BYTES];
    assert_int_equal(sess_key_load_or_create(path, k1, err, sizeof(err)), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, SESS_KEY_BYTES);
    assert_int_equal(sess_key_load_or_create(path, k2, err, sizeof(err)), 0);
    assert_memory_equal(k1, k2, SESS_KEY_BYTES);
    /* A key readable by others is refused, not silently used. */
    chmod(path, 0644);
    assert_int_equal(sess_key_load_or_create(path, k2, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "chmod 600"));
    /* A truncated key is refused. */
    chmod(path, 0600);
    assert_int_equal(truncate(path, 5), 0);
    assert_int_equal(sess_key_load_or_create(path, k2, err, sizeof(err)), -1);
    unlink(path);
    rmdir(dir);
}

static void error_table(void **state)
{
    (void)state;
    assert_int_equal(sess_err_http_status(SESS_ESTORE), 503);
    assert_string_equal(sess_err_code(SESS_ESTORE), "store_unavailable");
    assert_int_equal(sess_err_http_status(SESS_ESESSION), 404);
    assert_string_equal(sess_err_code(SESS_ESESSION), "invalid_session");
    assert_string_equal(sess_err_code(SESS_EMEDIATYPE), "unsupported_media_type");
    assert_int_equal(sess_err_http_status(SESS_ETOOLARGE), 413);
    assert_string_equal(sess_errname(SESS_ECSRF), "ECSRF");
    assert_int_equal(sess_err_http_status(-999), 500);
    assert_string_equal(sess_strerror(-999), "unknown error");
}

int main(void)
{
    if (sess_crypto_init() != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(token_roundtrip),
        cmocka_unit_test(token_decode_rejects),
        cmocka_unit_test(token_decode_matches_reference),
        cmocka_unit_test(keyed_hash_depends_on_key),
        cmocka_unit_test(id_hex),
        cmocka_unit_test(csrf_token_stable_per_secret),
        cmocka_unit_test(ct_equal),
        cmocka_unit_test(key_file),
        cmocka_unit_test(error_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
