/* test_seal.c - sealed session cookies: key ring parsing, round trip, and every way a cookie
 * must be refused (tampered, truncated, expired, unknown key, other cookie name, over 4096). */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sessiond/crypto.h"
#include "sessiond/error.h"
#include "sessiond/seal.h"

/* 32 bytes of 0x01 and of 0x02, in standard base64 (with padding) and url-safe (without). */
#define KEY_A "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="
#define KEY_B "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI"
#define NOW 1000000

static void make_record(sess_record *r, const char *data)
{
    sess_record_init(r);
    sess_id_new(r->id);
    strcpy(r->user, "alice");
    strcpy(r->roles, "admin,dev");
    r->flags = SESS_REC_REMEMBER;
    r->created = NOW - 10;
    r->last_seen = NOW - 5;
    r->auth_time = NOW - 10;
    r->idle_expires = NOW + 100;
    r->abs_expires = NOW + 1000;
    sess_random(r->csrf_secret, sizeof(r->csrf_secret));
    assert_int_equal(sess_record_set_data(r, data, strlen(data)), 0);
}

static void ring_of(const char *spec, sess_seal_ring *ring)
{
    char err[160];
    assert_int_equal(sess_seal_ring_parse(spec, ring, err, sizeof(err)), 0);
}

static void ring_parse(void **state)
{
    (void)state;
    sess_seal_ring ring;
    char err[160];
    ring_of("new:" KEY_B ", old:" KEY_A, &ring);
    assert_int_equal(ring.n, 2);
    assert_string_equal(ring.keys[0].id, "new");
    assert_int_equal(ring.keys[0].key[0], 2);
    assert_int_equal(ring.keys[1].key[31], 1);
    const char *bad[] = {"",
                         ",",
                         "nokey",
                         ":" KEY_A,
                         "k:",
                         "k:AQEB",
                         "k:" KEY_A "AQ",
                         "k!:" KEY_A,
                         "k:" KEY_A ",k:" KEY_B,
                         "k:" KEY_A "#"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_int_equal(sess_seal_ring_parse(bad[i], &ring, err, sizeof(err)), SESS_EINVAL);
        assert_true(err[0] != '\0');
        assert_null(strstr(err, "AQEB")); /* never quotes a key */
        assert_int_equal(ring.n, 0);
    }
    char nine[1024] = "";
    for (int i = 0; i < 9; i++)
        snprintf(nine + strlen(nine), sizeof(nine) - strlen(nine), "%sk%d:%s", i ? "," : "", i,
                 KEY_B);
    assert_int_equal(sess_seal_ring_parse(nine, &ring, err, sizeof(err)), SESS_EINVAL);
}

static void roundtrip(void **state)
{
    (void)state;
    sess_seal_ring ring;
    sess_record in, out;
    char cookie[SESS_SEAL_COOKIE_MAX + 1];
    size_t len;
    uint64_t epoch;
    ring_of("k1:" KEY_A, &ring);
    make_record(&in, "{\"cart\":[1,2]}");
    assert_int_equal(sess_seal_session(&ring, "sid", &in, 7, cookie, sizeof(cookie), &len), 0);
    assert_int_equal(strlen(cookie), len);
    assert_memory_equal(cookie, "v1.k1.", 6);
    assert_null(strstr(cookie, "alice")); /* encrypted, not only signed */
    assert_int_equal(sess_seal_open(&ring, "sid", cookie, len, NOW, &out, &epoch), 0);
    assert_int_equal(epoch, 7);
    assert_memory_equal(out.id, in.id, SESS_ID_BYTES);
    assert_string_equal(out.user, "alice");
    assert_string_equal(out.roles, "admin,dev");
    assert_string_equal(out.data, "{\"cart\":[1,2]}");
    assert_int_equal(out.flags, SESS_REC_REMEMBER);
    assert_int_equal(out.idle_expires, NOW + 100);
    assert_int_equal(out.abs_expires, NOW + 1000);
    assert_int_equal(out.auth_time, NOW - 10);
    assert_memory_equal(out.csrf_secret, in.csrf_secret, SESS_CSRF_SECRET_BYTES);
    sess_record_dispose(&out);
    /* Two seals of one session differ (random nonce). */
    char again[SESS_SEAL_COOKIE_MAX + 1];
    size_t len2;
    assert_int_equal(sess_seal_session(&ring, "sid", &in, 7, again, sizeof(again), &len2), 0);
    assert_int_equal(len, len2);
    assert_memory_not_equal(cookie, again, len);
    sess_record_dispose(&in);
}

static void refused(void **state)
{
    (void)state;
    sess_seal_ring ring;
    sess_record in, out;
    char cookie[SESS_SEAL_COOKIE_MAX + 1];
    size_t len;
    uint64_t epoch;
    ring_of("k1:" KEY_A, &ring);
    make_record(&in, "{}");
    assert_int_equal(sess_seal_session(&ring, "sid", &in, 1, cookie, sizeof(cookie), &len), 0);
    /* Every single flipped character of the value is refused. */
    for (size_t i = 0; i < len; i++) {
        char copy[SESS_SEAL_COOKIE_MAX + 1];
        memcpy(copy, cookie, len);
        copy[i] = copy[i] == 'A' ? 'B' : 'A';
        assert_int_equal(sess_seal_open(&ring, "sid", copy, len, NOW, &out, &epoch), SESS_ESESSION);
    }
    /* Every truncation is refused. */
    for (size_t n = 0; n < len; n++)
        assert_int_equal(sess_seal_open(&ring, "sid", cookie, n, NOW, &out, &epoch), SESS_ESESSION);
    /* Another cookie name (the AD binds it). */
    assert_int_equal(sess_seal_open(&ring, "other", cookie, len, NOW, &out, &epoch), SESS_ESESSION);
    /* Expired: idle deadline, absolute deadline. */
    assert_int_equal(sess_seal_open(&ring, "sid", cookie, len, NOW + 100, &out, &epoch),
                     SESS_ESESSION);
    assert_int_equal(sess_seal_open(&ring, "sid", cookie, len, NOW + 99, &out, &epoch), 0);
    sess_record_dispose(&out);
    /* A ring without the key (removed), or with another key under the same id. */
    sess_seal_ring other;
    ring_of("k2:" KEY_A, &other);
    assert_int_equal(sess_seal_open(&other, "sid", cookie, len, NOW, &out, &epoch), SESS_ESESSION);
    ring_of("k1:" KEY_B, &other);
    assert_int_equal(sess_seal_open(&other, "sid", cookie, len, NOW, &out, &epoch), SESS_ESESSION);
    /* Relabelled with another key id of the ring (the AD binds the id). */
    ring_of("k1:" KEY_A ",k2:" KEY_A, &other);
    char relabel[SESS_SEAL_COOKIE_MAX + 1];
    snprintf(relabel, sizeof(relabel), "v1.k2.%s", cookie + 6);
    assert_int_equal(sess_seal_open(&other, "sid", relabel, len, NOW, &out, &epoch), SESS_ESESSION);
    /* Other format versions and garbage. */
    char v2[SESS_SEAL_COOKIE_MAX + 1];
    memcpy(v2, cookie, len);
    v2[1] = '2';
    assert_int_equal(sess_seal_open(&ring, "sid", v2, len, NOW, &out, &epoch), SESS_ESESSION);
    assert_int_equal(sess_seal_open(&ring, "sid", "v1..", 4, NOW, &out, &epoch), SESS_ESESSION);
    assert_int_equal(sess_seal_open(&ring, "sid", "v1.k1.", 6, NOW, &out, &epoch), SESS_ESESSION);
    sess_record_dispose(&in);
}

static void key_rotation(void **state)
{
    (void)state;
    sess_seal_ring old_ring, new_ring, gone;
    sess_record in, out;
    char a[SESS_SEAL_COOKIE_MAX + 1], b[SESS_SEAL_COOKIE_MAX + 1];
    size_t al, bl;
    uint64_t epoch;
    ring_of("old:" KEY_A, &old_ring);
    ring_of("new:" KEY_B ",old:" KEY_A, &new_ring);
    ring_of("new:" KEY_B, &gone);
    make_record(&in, "{}");
    assert_int_equal(sess_seal_session(&old_ring, "sid", &in, 0, a, sizeof(a), &al), 0);
    assert_int_equal(sess_seal_session(&new_ring, "sid", &in, 0, b, sizeof(b), &bl), 0);
    assert_memory_equal(b, "v1.new.", 7); /* the first key seals */
    assert_int_equal(sess_seal_open(&new_ring, "sid", a, al, NOW, &out, &epoch), 0);
    sess_record_dispose(&out);
    assert_int_equal(sess_seal_open(&new_ring, "sid", b, bl, NOW, &out, &epoch), 0);
    sess_record_dispose(&out);
    assert_int_equal(sess_seal_open(&gone, "sid", a, al, NOW, &out, &epoch), SESS_ESESSION);
    assert_int_equal(sess_seal_open(&gone, "sid", b, bl, NOW, &out, &epoch), 0);
    sess_record_dispose(&out);
    sess_record_dispose(&in);
}

/* Name plus value at most 4096 bytes: the largest data that fits seals to exactly 4096, one
 * byte more is SESS_ETOOLARGE. */
static void size_limit(void **state)
{
    (void)state;
    sess_seal_ring ring;
    sess_record in, out;
    char cookie[SESS_SEAL_COOKIE_MAX + 1];
    size_t len = 0, best = 0;
    uint64_t epoch;
    char *data = malloc(SESS_SEAL_COOKIE_MAX);
    assert_non_null(data);
    ring_of("k1:" KEY_A, &ring);
    for (size_t n = 2800; n < 3200; n++) {
        memset(data, 'x', n);
        memcpy(data, "{\"a\":\"", 6);
        memcpy(data + n - 2, "\"}", 2);
        data[n] = '\0';
        make_record(&in, data);
        int r = sess_seal_session(&ring, "sid", &in, 0, cookie, sizeof(cookie), &len);
        if (r == 0) {
            assert_true(3 + len <= SESS_SEAL_COOKIE_MAX);
            assert_int_equal(sess_seal_open(&ring, "sid", cookie, len, NOW, &out, &epoch), 0);
            assert_int_equal(out.data_len, n);
            sess_record_dispose(&out);
            best = n;
        } else {
            assert_int_equal(r, SESS_ETOOLARGE);
            assert_int_equal(n, best + 1); /* fits up to a point, then never */
            sess_record_dispose(&in);
            break;
        }
        sess_record_dispose(&in);
    }
    assert_true(best > 2800);
    /* At the limit the cookie is within a few bytes of 4096 (base64 steps of 4 for 3). */
    make_record(&in, "{}");
    memset(data, 'x', best);
    memcpy(data, "{\"a\":\"", 6);
    memcpy(data + best - 2, "\"}", 2);
    assert_int_equal(sess_record_set_data(&in, data, best), 0);
    assert_int_equal(sess_seal_session(&ring, "sid", &in, 0, cookie, sizeof(cookie), &len), 0);
    assert_true(3 + len > SESS_SEAL_COOKIE_MAX - 4);
    /* A longer cookie name leaves less room. */
    assert_int_equal(
        sess_seal_session(&ring, "a-much-longer-cookie-name", &in, 0, cookie, sizeof(cookie), &len),
        SESS_ETOOLARGE);
    sess_record_dispose(&in);
    free(data);
}

int main(void)
{
    if (sess_crypto_init() != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ring_parse),   cmocka_unit_test(roundtrip),  cmocka_unit_test(refused),
        cmocka_unit_test(key_rotation), cmocka_unit_test(size_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
