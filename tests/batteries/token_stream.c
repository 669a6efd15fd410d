/*
 * token_stream.c - raw bytes of session tokens for the token-quality battery (ent, dieharder).
 * Each token goes the way a client's does: sess_token_new, its 43-character text form, then
 * sess_token_decode of that text; the decoded 32 bytes are written to stdout. With a byte count
 * it stops there; without one it writes until stdout closes (dieharder reading stdin).
 *   token-stream [BYTES]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sessiond/crypto.h"

int main(int argc, char **argv)
{
    unsigned long long want = argc > 1 ? strtoull(argv[1], NULL, 10) : 0, done = 0;
    if (sess_crypto_init() != 0) {
        fprintf(stderr, "token-stream: libsodium cannot be initialised\n");
        return 1;
    }
    while (want == 0 || done < want) {
        uint8_t tok[SESS_TOKEN_BYTES], back[SESS_TOKEN_BYTES];
        char text[SESS_TOKEN_STRLEN + 1];
        sess_token_new(tok);
        sess_token_encode(tok, text);
        if (sess_token_decode(text, strlen(text), back) != 0 ||
            memcmp(tok, back, sizeof tok) != 0) {
            fprintf(stderr, "token-stream: token %s does not decode to its bytes\n", text);
            return 1;
        }
        size_t n = sizeof back;
        if (want != 0 && want - done < n)
            n = (size_t)(want - done);
        if (fwrite(back, 1, n, stdout) != n)
            return errno == EPIPE ? 0 : 1;
        done += n;
    }
    return fflush(stdout) == 0 ? 0 : 1;
}
