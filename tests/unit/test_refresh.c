/* test_refresh.c - token families of API clients (lib/refresh.c) over the memory and lmdb
 * stores, with time passed in: the access token's short life, refresh, the grace window for
 * parallel refreshes, reuse detection that ends one family and nothing else. */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sessiond/error.h"
#include "sessiond/session.h"

#define T0 1700000000
#define TTL 60

typedef struct fixture {
    sess_store *st;
    sess_ctx *ctx;
    char dir[64];
} fixture;

static const sess_policy policy = {.idle_timeout = 600,
                                   .absolute_timeout = 3600,
                                   .remember_me = 86400,
                                   .touch_interval = 6,
                                   .rotate_grace = 30,
                                   .access_ttl = TTL,
                                   .max_per_user = 5,
                                   .max_data = 256};

static int open_ctx(fixture *f)
{
    uint8_t key[SESS_KEY_BYTES] = {7};
    return sess_ctx_new(f->st, key, &policy, &f->ctx);
}

static int setup_memory(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    char err[128];
    if (f == NULL || sess_store_memory_open(NULL, &f->st, err, sizeof(err)) != 0 || open_ctx(f))
        return -1;
    *state = f;
    return 0;
}

static int setup_lmdb(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    char err[128];
    if (f == NULL)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/sessiond-refresh.XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    sess_store_opts o = {.path = f->dir};
    if (sess_store_lmdb_open(&o, &f->st, err, sizeof(err)) != 0 || open_ctx(f))
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    sess_ctx_free(f->ctx);
    sess_store_close(f->st);
    if (f->dir[0] != '\0') {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
        if (system(cmd) != 0)
            return -1;
    }
    free(f);
    return 0;
}

typedef struct pair {
    char access[SESS_TOKEN_STRLEN + 1];
    char refresh[SESS_REFRESH_STRLEN + 1];
} pair;

static void login(fixture *f, const char *user, int64_t now, pair *p)
{
    sess_create_params cp = {.user = user, .roles = "dev"};
    sess_record rec;
    assert_int_equal(sess_api_login(f->ctx, &cp, now, p->access, p->refresh, &rec), 0);
    assert_int_equal(strlen(p->access), SESS_TOKEN_STRLEN);
    assert_int_equal(strlen(p->refresh), SESS_REFRESH_STRLEN);
    sess_record_dispose(&rec);
}

static int verify(fixture *f, const char *tok, int64_t now)
{
    sess_record rec;
    int r = sess_verify(f->ctx, tok, strlen(tok), now, false, &rec);
    if (r == 0)
        sess_record_dispose(&rec);
    return r;
}

static int refresh(fixture *f, const char *tok, int64_t now, pair *out)
{
    sess_record rec;
    int r = sess_api_refresh(f->ctx, tok, strlen(tok), now, out->access, out->refresh, &rec);
    sess_record_dispose(&rec);
    return r;
}

static void access_lives_access_ttl(void **state)
{
    fixture *f = *state;
    pair p;
    login(f, "alice", T0, &p);
    assert_int_equal(verify(f, p.access, T0), 0);
    assert_int_equal(verify(f, p.access, T0 + TTL - 1), 0);
    assert_int_equal(verify(f, p.access, T0 + TTL), SESS_ESESSION);
    /* The refresh token is no access token, in either of its parts. */
    assert_int_equal(verify(f, p.refresh, T0), SESS_ESESSION);
    assert_int_equal(verify(f, p.refresh + SESS_ID_STRLEN + 1, T0), SESS_ESESSION);
    /* After the access token expired, the refresh token still gets a new pair. */
    pair q;
    assert_int_equal(refresh(f, p.refresh, T0 + TTL + 5, &q), 0);
    assert_int_equal(verify(f, q.access, T0 + TTL + 5), 0);
    assert_int_equal(verify(f, q.access, T0 + 2 * TTL + 5), SESS_ESESSION);
}

static void refresh_rotates(void **state)
{
    fixture *f = *state;
    pair p, q, r;
    login(f, "alice", T0, &p);
    assert_int_equal(refresh(f, p.refresh, T0 + 10, &q), 0);
    assert_string_not_equal(q.access, p.access);
    assert_string_not_equal(q.refresh, p.refresh);
    assert_memory_equal(q.refresh, p.refresh, SESS_ID_STRLEN);     /* same family */
    assert_int_equal(verify(f, p.access, T0 + 10), SESS_ESESSION); /* a refresh ends it */
    assert_int_equal(verify(f, q.access, T0 + 10), 0);
    assert_int_equal(refresh(f, q.refresh, T0 + 20, &r), 0);
    assert_int_equal(verify(f, r.access, T0 + 20), 0);
}

/* Parallel refreshes of one token (here one after the other within rotate_grace): all get the
 * same new pair, which works. */
static void grace_gives_same_pair(void **state)
{
    fixture *f = *state;
    pair p, q[10];
    login(f, "alice", T0, &p);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(refresh(f, p.refresh, T0 + 1 + i, &q[i]), 0);
        assert_string_equal(q[i].access, q[0].access);
        assert_string_equal(q[i].refresh, q[0].refresh);
    }
    assert_int_equal(verify(f, q[9].access, T0 + 12), 0);
    pair n;
    assert_int_equal(refresh(f, q[0].refresh, T0 + 12, &n), 0);
}

static void reuse_after_grace_ends_family_only(void **state)
{
    fixture *f = *state;
    pair p, q, other;
    login(f, "alice", T0, &p);
    login(f, "alice", T0, &other); /* another device of the same user */
    assert_int_equal(refresh(f, p.refresh, T0 + 1, &q), 0);
    /* rotate_grace is 30 s: at 1 + 30 the old one is a reuse. */
    sess_record rec;
    pair x;
    assert_int_equal(sess_api_refresh(f->ctx, p.refresh, SESS_REFRESH_STRLEN, T0 + 31, x.access,
                                      x.refresh, &rec),
                     SESS_EFORBIDDEN);
    assert_string_equal(rec.user, "alice"); /* for the audit line */
    char hex[SESS_ID_STRLEN + 1];
    sess_id_to_hex(rec.id, hex);
    assert_memory_equal(hex, q.refresh, SESS_ID_STRLEN); /* the family that was ended */
    sess_record_dispose(&rec);
    assert_int_equal(verify(f, q.access, T0 + 31), SESS_ESESSION);
    assert_int_equal(refresh(f, q.refresh, T0 + 31, &x), SESS_ESESSION);
    assert_int_equal(verify(f, other.access, T0 + 31), 0);
    assert_int_equal(refresh(f, other.refresh, T0 + 31, &x), 0);
}

static void older_ancestor_is_reuse(void **state)
{
    fixture *f = *state;
    pair p[5];
    login(f, "bob", T0, &p[0]);
    for (int i = 1; i < 5; i++)
        assert_int_equal(refresh(f, p[i - 1].refresh, T0 + i, &p[i]), 0);
    pair x;
    assert_int_equal(refresh(f, p[1].refresh, T0 + 6, &x), SESS_EFORBIDDEN);
    assert_int_equal(verify(f, p[4].access, T0 + 6), SESS_ESESSION);
}

/* A guess that names a real family but not one of its secrets ends nothing. */
static void forged_and_malformed(void **state)
{
    fixture *f = *state;
    pair p, x;
    login(f, "carol", T0, &p);
    char forged[SESS_REFRESH_STRLEN + 1];
    memcpy(forged, p.refresh, sizeof(forged));
    forged[SESS_ID_STRLEN + 1] = forged[SESS_ID_STRLEN + 1] == 'A' ? 'B' : 'A';
    assert_int_equal(refresh(f, forged, T0 + 1, &x), SESS_ESESSION);
    const char *bad[] = {"", "x", p.access, p.refresh + 1};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(refresh(f, bad[i], T0 + 1, &x), SESS_ESESSION);
    assert_int_equal(verify(f, p.access, T0 + 1), 0);
    assert_int_equal(refresh(f, p.refresh, T0 + 1, &x), 0);
}

static void revoke_all_and_delete(void **state)
{
    fixture *f = *state;
    pair p, q, x;
    login(f, "dave", T0, &p);
    login(f, "erin", T0, &q);
    assert_int_equal(sess_revoke_user(f->ctx, "dave"), 0);
    assert_int_equal(refresh(f, p.refresh, T0 + 1, &x), SESS_ESESSION);
    sess_record rec;
    assert_int_equal(sess_verify(f->ctx, q.access, SESS_TOKEN_STRLEN, T0, false, &rec), 0);
    assert_int_equal(sess_delete(f->ctx, rec.id), 0);
    sess_record_dispose(&rec);
    assert_int_equal(refresh(f, q.refresh, T0 + 1, &x), SESS_ESESSION);
}

static void family_ends_with_session(void **state)
{
    fixture *f = *state;
    pair p, x;
    login(f, "frank", T0, &p);
    /* Idle for idle_timeout (600 s) with no verify and no refresh: the family is over. */
    assert_int_equal(refresh(f, p.refresh, T0 + 600, &x), SESS_ESESSION);
}

#define BOTH(fn)                                                                                   \
    cmocka_unit_test_setup_teardown(fn, setup_memory, teardown),                                   \
        cmocka_unit_test_setup_teardown(fn, setup_lmdb, teardown)

int main(void)
{
    if (sess_crypto_init() != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        BOTH(access_lives_access_ttl), BOTH(refresh_rotates),
        BOTH(grace_gives_same_pair),   BOTH(reuse_after_grace_ends_family_only),
        BOTH(older_ancestor_is_reuse), BOTH(forged_and_malformed),
        BOTH(revoke_all_and_delete),   BOTH(family_ends_with_session),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
