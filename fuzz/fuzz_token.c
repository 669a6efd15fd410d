/*
 * fuzz_token.c - token and session id decoding (sess_token_decode, sess_id_from_hex).
 * Properties: a decoded token encodes back to exactly the input (one token, one text form); a
 * decoded id prints back as the input in lower case; anything not exactly 43 (32) characters long
 * is refused.
 */
#include <ctype.h>
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "sessiond/crypto.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    FUZZ_REQUIRE(sess_crypto_init() == 0);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    uint8_t tok[SESS_TOKEN_BYTES];
    if (sess_token_decode(s, size, tok) == 0) {
        char again[SESS_TOKEN_STRLEN + 1];
        FUZZ_REQUIRE(size == SESS_TOKEN_STRLEN);
        sess_token_encode(tok, again);
        FUZZ_REQUIRE(memcmp(again, s, SESS_TOKEN_STRLEN) == 0);
    }
    uint8_t id[SESS_ID_BYTES];
    if (sess_id_from_hex(s, size, id) == 0) {
        char hex[SESS_ID_STRLEN + 1];
        FUZZ_REQUIRE(size == SESS_ID_STRLEN);
        sess_id_to_hex(id, hex);
        for (size_t i = 0; i < SESS_ID_STRLEN; i++)
            FUZZ_REQUIRE(hex[i] == tolower((unsigned char)s[i]));
    }
    return 0;
}
