/*
 * fuzz_seal.c - the sealed-cookie opener (sess_seal_open). The first byte picks the mode:
 * even: the rest is a cookie value as a browser could send it; it must never open (nobody
 * without the key can make one that does) and never crash. Odd: the rest is a payload, sealed
 * with the ring's key and opened again, so the decoder behind the tag sees arbitrary bytes; when
 * it opens, the record is bounded and NUL-terminated, and sealing it again opens to the same.
 */
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "sessiond/error.h"
#include "sessiond/seal.h"
#include "../lib/seal_int.h"

static sess_seal_ring ring;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char err[128];
    FUZZ_REQUIRE(sess_crypto_init() == 0);
    FUZZ_REQUIRE(sess_seal_ring_parse("k1:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE", &ring, err,
                                      sizeof(err)) == 0);
    return 0;
}

static void check_open(const char *cookie, size_t len)
{
    sess_record rec, again;
    uint64_t epoch, epoch2;
    /* now = 0: a payload's deadlines only have to be positive. */
    if (sess_seal_open(&ring, "sid", cookie, len, 0, &rec, &epoch) != 0)
        return;
    FUZZ_REQUIRE(strlen(rec.user) > 0 && strlen(rec.user) <= SESS_USER_MAX);
    FUZZ_REQUIRE(strlen(rec.roles) <= SESS_ROLES_MAX);
    FUZZ_REQUIRE(rec.data != NULL && strlen(rec.data) == rec.data_len);
    char out[SESS_SEAL_COOKIE_MAX + 1];
    size_t ol;
    FUZZ_REQUIRE(sess_seal_session(&ring, "sid", &rec, epoch, out, sizeof(out), &ol) == 0);
    FUZZ_REQUIRE(sess_seal_open(&ring, "sid", out, ol, 0, &again, &epoch2) == 0);
    FUZZ_REQUIRE(epoch2 == epoch && strcmp(again.user, rec.user) == 0);
    FUZZ_REQUIRE(again.data_len == rec.data_len && memcmp(again.data, rec.data, rec.data_len) == 0);
    sess_record_dispose(&again);
    sess_record_dispose(&rec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    if (data[0] % 2 == 0) {
        sess_record rec;
        uint64_t epoch;
        FUZZ_REQUIRE(
            sess_seal_open(&ring, "sid", (const char *)data + 1, size - 1, 0, &rec, &epoch) != 0);
        return 0;
    }
    char cookie[SESS_SEAL_COOKIE_MAX + 1];
    size_t len;
    if (sess__seal_raw(&ring, "sid", data + 1, size - 1, cookie, sizeof(cookie), &len) == 0)
        check_open(cookie, len);
    return 0;
}
