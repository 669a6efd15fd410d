/*
 * embed.c - libsessiond inside your own program, without the server: open a store, create a
 * session, verify its token, patch its data, then revoke every session of the user.
 *
 * Build against an installed libsessiond:
 *   cc -std=c17 embed.c $(pkg-config --cflags --libs sessiond) -o embed
 * Run: ./embed [DATA_DIR]   (an lmdb store in DATA_DIR, or the memory store without one)
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <sessiond/error.h>
#include <sessiond/session.h>

static int fail(const char *what, int err)
{
    fprintf(stderr, "embed: %s: %s\n", what, sess_strerror(err));
    return 1;
}

int main(int argc, char **argv)
{
    char err[256];
    sess_store *store;
    sess_ctx *ctx;
    uint8_t key[SESS_KEY_BYTES];
    int r;

    if (sess_crypto_init() != 0)
        return fail("crypto", SESS_EINTERNAL);
    /* A real application keeps this key (sess_key_load_or_create); a fresh one is fine here. */
    sess_random(key, sizeof(key));
    sess_store_opts opts = {.path = argc > 1 ? argv[1] : NULL};
    r = argc > 1 ? sess_store_lmdb_open(&opts, &store, err, sizeof(err))
                 : sess_store_memory_open(&opts, &store, err, sizeof(err));
    if (r != 0) {
        fprintf(stderr, "embed: cannot open the store: %s\n", err);
        return 1;
    }
    /* The contract's defaults (30 min idle, 24 h absolute, ...); change what differs. */
    sess_policy policy;
    sess_policy_default(&policy);
    if ((r = sess_ctx_new(store, key, &policy, &ctx)) != 0)
        return fail("context", r);

    int64_t now = (int64_t)time(NULL);
    char token[SESS_TOKEN_STRLEN + 1], id[SESS_ID_STRLEN + 1];
    sess_record rec;
    sess_create_params p = {
        .user = "alice", .roles = "admin", .data = "{\"cart\":[]}", .data_len = 11};
    if ((r = sess_create(ctx, &p, now, token, &rec)) != 0)
        return fail("create", r);
    sess_id_to_hex(rec.id, id);
    printf("created session %s for %s\n", id, rec.user);

    sess_record seen;
    if ((r = sess_verify(ctx, token, strlen(token), now + 1, true, &seen)) != 0)
        return fail("verify", r);
    printf("verified: user=%s roles=%s data=%s\n", seen.user, seen.roles, seen.data);
    sess_record_dispose(&seen);

    const char *patch = "{\"theme\":\"dark\"}";
    if ((r = sess_patch(ctx, rec.id, patch, strlen(patch), now + 2, &seen)) != 0)
        return fail("patch", r);
    printf("patched: data=%s\n", seen.data);
    sess_record_dispose(&seen);

    if ((r = sess_revoke_user(ctx, "alice")) != 0)
        return fail("revoke", r);
    r = sess_verify(ctx, token, strlen(token), now + 3, false, &seen);
    printf("after revoke-all: %s\n", r == SESS_ESESSION ? "refused" : "STILL VALID");
    sess_record_dispose(&rec);
    sess_ctx_free(ctx);
    sess_store_close(store);
    return r == SESS_ESESSION ? 0 : 1;
}
