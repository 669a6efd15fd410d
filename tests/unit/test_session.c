/* test_session.c - the session rules of lib/session.c over the memory store, with time passed
 * in: expiry, touches, rotation grace, revoke-all, eviction, preferences and API keys. */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sessiond/error.h"
#include "sessiond/session.h"

#define T0 1700000000

typedef struct fixture {
    sess_store *st;
    sess_ctx *ctx;
} fixture;

static const sess_policy policy = {.idle_timeout = 600,
                                   .absolute_timeout = 3600,
                                   .remember_me = 86400,
                                   .touch_interval = 6,
                                   .rotate_grace = 30,
                                   .max_per_user = 3,
                                   .max_data = 256};

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    char err[128];
    uint8_t key[SESS_KEY_BYTES] = {42};
    if (f == NULL || sess_store_memory_open(NULL, &f->st, err, sizeof(err)) != 0 ||
        sess_ctx_new(f->st, key, &policy, &f->ctx) != 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    sess_ctx_free(f->ctx);
    sess_store_close(f->st);
    free(f);
    return 0;
}

static void create_as(fixture *f, const char *user, int64_t now, char tok[SESS_TOKEN_STRLEN + 1],
                      sess_record *rec)
{
    sess_create_params p = {.user = user,
                            .roles = "admin,dev",
                            .data = "{\"cart\":1}",
                            .data_len = 10,
                            .ip = "127.0.0.1",
                            .agent = "test"};
    assert_int_equal(sess_create(f->ctx, &p, now, tok, rec), 0);
}

static void create_and_verify(void **state)
{
    fixture *f = *state;
    char tok[SESS_TOKEN_STRLEN + 1];
    sess_record rec, got;
    create_as(f, "alice", T0, tok, &rec);
    assert_int_equal(rec.idle_expires, T0 + 600);
    assert_int_equal(rec.abs_expires, T0 + 3600);
    assert_int_equal(sess_verify(f->ctx, tok, strlen(tok), T0 + 1, false, &got), 0);
    assert_string_equal(got.user, "alice");
    assert_string_equal(got.roles, "admin,dev");
    assert_string_equal(got.data, "{\"cart\":1}");
    assert_memory_equal(got.id, rec.id, SESS_ID_BYTES);
    sess_record_dispose(&got);
    sess_record_dispose(&rec);
    /* A token that was never issued, and garbage, are both just "no session". */
    char other[SESS_TOKEN_STRLEN + 1];
    uint8_t raw[SESS_TOKEN_BYTES];
    sess_token_new(raw);
    sess_token_encode(raw, other);
    assert_int_equal(sess_verify(f->ctx, other, strlen(other), T0, false, &got), SESS_ESESSION);
    assert_int_equal(sess_verify(f->ctx, "x", 1, T0, false, &got), SESS_ESESSION);
}

static void create_validates(void **state)
{
    fixture *f = *state;
    char tok[SESS_TOKEN_STRLEN + 1];
    sess_record rec;
    sess_create_params p = {.user = ""};
    assert_int_equal(sess_create(f->ctx, &p, T0, tok, &rec), SESS_EINVAL);
    p.user = "a\nb";
    assert_int_equal(sess_create(f->ctx, &p, T0, tok, &rec), SESS_EINVAL);
    p.user = "bob";
    p.roles = "ok,has space";
    assert_int_equal(sess_create(f->ctx, &p, T0, tok, &rec), SESS_EINVAL);
    p.roles = "a,,b";
    assert_int_equal(sess_create(f->ctx, &p, T0, tok, &rec), SESS_EINVAL);
    p.roles = NULL;
    p.agent = "Mozilla\x1b[31m";
    assert_int_equal(sess_create(f->ctx, &p, T0, tok, &rec), SESS_EINVAL);
    p.agent = NULL;
    p.user = "bob\xc2\x85"; /* U+0085, a C1 control */
    assert_int_equal(sess_create(f->ctx, &p, T0, tok, &rec), SESS_EINVAL);
    p.user = "b\xffob"; /* not UTF-8 */
    assert_int_equal(sess_create(f->ctx, &p, T0, tok, &rec), SESS_EINVAL);
    p.user = "bob";
    p.data = "[1]";
    p.data_len = 3;
    assert_int_equal(sess_create(f->ctx, &p, T0, tok, &rec), SESS_EINVAL);
    char big[400];
    memset(big, 'x', sizeof(big));
    memcpy(big, "{\"k\":\"", 6);
    memcpy(big + sizeof(big) - 2, "\"}", 2);
    p.data = big;
    p.data_len = sizeof(big);
    assert_int_equal(sess_create(f->ctx, &p, T0, tok, &rec), SESS_ETOOLARGE);
    uint64_t n = 99;
    assert_int_equal(f->st->ops->count(f->st, &n), 0);
    assert_int_equal(n, 0);
}

static void utf8_names(void **state)
{
    (void)state;
    assert_int_equal(sess_check_user("J\xc3\xa9r\xc3\xb4me"), 0);   /* Jérôme */
    assert_int_equal(sess_check_user("\xe6\x9d\x8e"), 0);           /* a CJK name */
    assert_int_equal(sess_check_user("\xc0\xaf"), SESS_EINVAL);     /* overlong "/" */
    assert_int_equal(sess_check_user("\xed\xa0\x80"), SESS_EINVAL); /* a surrogate */
    assert_int_equal(sess_check_user("\xe6\x9d"), SESS_EINVAL);     /* cut short */
    assert_int_equal(sess_check_user("a\tb"), SESS_EINVAL);
    /* Leading or trailing spaces would make look-alike accounts; inner ones are a name's. */
    assert_int_equal(sess_check_user(" alice"), SESS_EINVAL);
    assert_int_equal(sess_check_user("alice "), SESS_EINVAL);
    assert_int_equal(sess_check_user(" "), SESS_EINVAL);
    assert_int_equal(sess_check_user("\xc2\xa0"
                                     "alice"),
                     SESS_EINVAL);
    assert_int_equal(sess_check_user("alice\xc2\xa0"), SESS_EINVAL);
    assert_int_equal(sess_check_user("alice smith"), 0);
}

static void idle_and_absolute_expiry(void **state)
{
    fixture *f = *state;
    char tok[SESS_TOKEN_STRLEN + 1];
    sess_record rec, got;
    create_as(f, "alice", T0, tok, &rec);
    sess_record_dispose(&rec);
    assert_int_equal(sess_verify(f->ctx, tok, strlen(tok), T0 + 599, false, &got), 0);
    sess_record_dispose(&got);
    assert_int_equal(sess_verify(f->ctx, tok, strlen(tok), T0 + 600, false, &got), SESS_ESESSION);

    /* Touching every 500 s keeps it past the idle timeout, never past the absolute one. */
    create_as(f, "bob", T0, tok, &rec);
    sess_record_dispose(&rec);
    int64_t t;
    for (t = T0 + 500; t < T0 + 3600; t += 500) {
        assert_int_equal(sess_verify(f->ctx, tok, strlen(tok), t, true, &got), 0);
        assert_true(got.idle_expires <= T0 + 3600);
        sess_record_dispose(&got);
        assert_int_equal(sess_touch_flush(f->ctx), 0);
    }
    assert_int_equal(sess_verify(f->ctx, tok, strlen(tok), T0 + 3600, true, &got), SESS_ESESSION);
}

static void touch_is_throttled_and_queued(void **state)
{
    fixture *f = *state;
    char tok[SESS_TOKEN_STRLEN + 1];
    sess_record rec, got;
    create_as(f, "alice", T0, tok, &rec);
    /* Within touch_interval: nothing queued, the stored record is unchanged after a flush. */
    assert_int_equal(sess_verify(f->ctx, tok, strlen(tok), T0 + 5, true, &got), 0);
    assert_int_equal(got.last_seen, T0);
    sess_record_dispose(&got);
    /* Past it: the answer already shows the new deadline, the store only after the flush. */
    assert_int_equal(sess_verify(f->ctx, tok, strlen(tok), T0 + 10, true, &got), 0);
    assert_int_equal(got.idle_expires, T0 + 610);
    sess_record_dispose(&got);
    assert_int_equal(sess_get(f->ctx, rec.id, T0 + 10, &got), 0);
    assert_int_equal(got.last_seen, T0);
    sess_record_dispose(&got);
    assert_int_equal(sess_touch_flush(f->ctx), 0);
    assert_int_equal(sess_get(f->ctx, rec.id, T0 + 10, &got), 0);
    assert_int_equal(got.last_seen, T0 + 10);
    assert_int_equal(got.idle_expires, T0 + 610);
    sess_record_dispose(&got);
    /* A touch queued for a session deleted before the flush brings nothing back. */
    assert_int_equal(sess_verify(f->ctx, tok, strlen(tok), T0 + 20, true, &got), 0);
    sess_record_dispose(&got);
    assert_int_equal(sess_delete(f->ctx, rec.id), 0);
    assert_int_equal(sess_touch_flush(f->ctx), 0);
    assert_int_equal(sess_get(f->ctx, rec.id, T0 + 20, &got), SESS_ESESSION);
    assert_int_equal(sess_verify(f->ctx, tok, strlen(tok), T0 + 20, false, &got), SESS_ESESSION);
    sess_record_dispose(&rec);
}

/* A touch by id (what the nginx module reports): the same throttle and deadline as a verify's,
 * and never for a session that has ended. */
static void touch_by_id(void **state)
{
    fixture *f = *state;
    char tok[SESS_TOKEN_STRLEN + 1];
    sess_record rec, got;
    uint8_t unknown[SESS_ID_BYTES] = {1, 2, 3};
    create_as(f, "alice", T0, tok, &rec);
    assert_int_equal(sess_touch_id(f->ctx, rec.id, T0 + 5), 0); /* within touch_interval */
    assert_int_equal(sess_touch_flush(f->ctx), 0);
    assert_int_equal(sess_get(f->ctx, rec.id, T0 + 5, &got), 0);
    assert_int_equal(got.last_seen, T0);
    sess_record_dispose(&got);
    assert_int_equal(sess_touch_id(f->ctx, rec.id, T0 + 500), 0);
    assert_int_equal(sess_touch_flush(f->ctx), 0);
    assert_int_equal(sess_get(f->ctx, rec.id, T0 + 500, &got), 0);
    assert_int_equal(got.last_seen, T0 + 500);
    assert_int_equal(got.idle_expires, T0 + 1100);
    sess_record_dispose(&got);
    /* Past its idle deadline: no touch brings it back. */
    assert_int_equal(sess_touch_id(f->ctx, rec.id, T0 + 1100), SESS_ESESSION);
    assert_int_equal(sess_touch_flush(f->ctx), 0);
    assert_int_equal(sess_verify(f->ctx, tok, strlen(tok), T0 + 1100, false, &got), SESS_ESESSION);
    assert_int_equal(sess_touch_id(f->ctx, unknown, T0), SESS_ESESSION);
    sess_record_dispose(&rec);
}

/* A touch promised in a verify's answer holds before it is written, and while it is written. */
static void pending_touch_counts_at_once(void **state)
{
    fixture *f = *state;
    char tok[SESS_TOKEN_STRLEN + 1];
    sess_record rec, got;
    create_as(f, "alice", T0, tok, &rec);
    assert_int_equal(sess_verify(f->ctx, tok, strlen(tok), T0 + 100, true, &got), 0);
    assert_int_equal(got.idle_expires, T0 + 700);
    sess_record_dispose(&got);
    /* Past the stored deadline (T0 + 600), before any flush. */
    assert_int_equal(sess_verify(f->ctx, tok, strlen(tok), T0 + 650, false, &got), 0);
    assert_int_equal(got.idle_expires, T0 + 700);
    sess_record_dispose(&got);
    assert_int_equal(sess_get(f->ctx, rec.id, T0 + 650, &got), 0);
    sess_record_dispose(&got);
    assert_int_equal(sess_verify(f->ctx, tok, strlen(tok), T0 + 700, false, &got), SESS_ESESSION);
    assert_int_equal(sess_touch_flush(f->ctx), 0);
    assert_int_equal(sess_verify(f->ctx, tok, strlen(tok), T0 + 650, false, &got), 0);
    sess_record_dispose(&got);
    sess_record_dispose(&rec);
}

static void rotation_grace(void **state)
{
    fixture *f = *state;
    char tok[SESS_TOKEN_STRLEN + 1], fresh[SESS_TOKEN_STRLEN + 1];
    sess_record rec, got;
    create_as(f, "alice", T0, tok, &rec);
    assert_int_equal(sess_rotate(f->ctx, tok, strlen(tok), T0 + 100, false, fresh, &got), 0);
    assert_string_not_equal(tok, fresh);
    assert_memory_equal(got.id, rec.id, SESS_ID_BYTES);
    sess_record_dispose(&got);
    assert_int_equal(sess_verify(f->ctx, fresh, strlen(fresh), T0 + 101, false, &got), 0);
    sess_record_dispose(&got);
    assert_int_equal(sess_verify(f->ctx, tok, strlen(tok), T0 + 129, false, &got), 0);
    sess_record_dispose(&got);
    assert_int_equal(sess_verify(f->ctx, tok, strlen(tok), T0 + 130, false, &got), SESS_ESESSION);
    /* The superseded token cannot rotate again, even inside its grace. */
    char again[SESS_TOKEN_STRLEN + 1];
    assert_int_equal(sess_rotate(f->ctx, tok, strlen(tok), T0 + 101, false, again, &got),
                     SESS_ESESSION);
    /* Re-authentication renews the CSRF secret and the auth time. */
    assert_int_equal(sess_rotate(f->ctx, fresh, strlen(fresh), T0 + 200, true, again, &got), 0);
    assert_int_equal(got.auth_time, T0 + 200);
    assert_memory_not_equal(got.csrf_secret, rec.csrf_secret, SESS_CSRF_SECRET_BYTES);
    sess_record_dispose(&got);
    /* ... and keeps no grace (ASVS 7.2.4): the token it replaced is refused at once. */
    assert_int_equal(sess_verify(f->ctx, fresh, strlen(fresh), T0 + 200, false, &got),
                     SESS_ESESSION);
    assert_int_equal(sess_verify(f->ctx, again, strlen(again), T0 + 200, false, &got), 0);
    sess_record_dispose(&got);
    sess_record_dispose(&rec);
}

static void revoke_all_and_eviction(void **state)
{
    fixture *f = *state;
    char t[5][SESS_TOKEN_STRLEN + 1], other[SESS_TOKEN_STRLEN + 1];
    sess_record rec, got;
    for (int i = 0; i < 5; i++) {
        create_as(f, "alice", T0 + i, t[i], &rec);
        sess_record_dispose(&rec);
    }
    create_as(f, "bob", T0, other, &rec);
    sess_record_dispose(&rec);
    /* max_per_user = 3: the two oldest went. */
    assert_int_equal(sess_verify(f->ctx, t[0], SESS_TOKEN_STRLEN, T0 + 10, false, &got),
                     SESS_ESESSION);
    assert_int_equal(sess_verify(f->ctx, t[1], SESS_TOKEN_STRLEN, T0 + 10, false, &got),
                     SESS_ESESSION);
    for (int i = 2; i < 5; i++) {
        assert_int_equal(sess_verify(f->ctx, t[i], SESS_TOKEN_STRLEN, T0 + 10, false, &got), 0);
        sess_record_dispose(&got);
    }
    assert_int_equal(sess_revoke_user(f->ctx, "alice"), 0);
    for (int i = 2; i < 5; i++)
        assert_int_equal(sess_verify(f->ctx, t[i], SESS_TOKEN_STRLEN, T0 + 10, false, &got),
                         SESS_ESESSION);
    assert_int_equal(sess_verify(f->ctx, other, SESS_TOKEN_STRLEN, T0 + 10, false, &got), 0);
    sess_record_dispose(&got);
    /* A session made after the revoke is live. */
    create_as(f, "alice", T0 + 20, t[0], &rec);
    sess_record_dispose(&rec);
    assert_int_equal(sess_verify(f->ctx, t[0], SESS_TOKEN_STRLEN, T0 + 21, false, &got), 0);
    sess_record_dispose(&got);
}

static void remember_me(void **state)
{
    fixture *f = *state;
    char tok[SESS_TOKEN_STRLEN + 1];
    sess_record rec, got;
    sess_create_params p = {.user = "carol", .remember = true};
    assert_int_equal(sess_create(f->ctx, &p, T0, tok, &rec), 0);
    assert_int_equal(rec.abs_expires, T0 + 86400);
    assert_true(rec.flags & SESS_REC_REMEMBER);
    assert_int_equal(sess_verify(f->ctx, tok, strlen(tok), T0 + 7200, false, &got), 0);
    sess_record_dispose(&got);
    assert_int_equal(sess_verify(f->ctx, tok, strlen(tok), T0 + 86400, false, &got), SESS_ESESSION);
    sess_record_dispose(&rec);
}

/* ASVS 7.3.1: a remember-me session has an inactivity timeout of its own (remember_idle), and
 * remember-me can be turned off (remember_me = 0). */
static void remember_me_idle_and_off(void **state)
{
    fixture *f = *state;
    sess_policy pol = policy;
    pol.remember_idle = 3600;
    assert_int_equal(sess_ctx_set_policy(f->ctx, &pol), 0);
    char tok[SESS_TOKEN_STRLEN + 1], unused[SESS_TOKEN_STRLEN + 1];
    sess_record rec, got;
    sess_create_params p = {.user = "carol", .remember = true};
    assert_int_equal(sess_create(f->ctx, &p, T0, tok, &rec), 0);
    assert_int_equal(rec.abs_expires, T0 + 86400);
    assert_int_equal(rec.idle_expires, T0 + 3600);
    sess_record_dispose(&rec);
    assert_int_equal(sess_create(f->ctx, &p, T0, unused, &rec), 0);
    sess_record_dispose(&rec);
    /* Used every 50 minutes, it lives on; left an hour, it ends. */
    for (int64_t t = T0 + 3000; t < T0 + 20000; t += 3000) {
        assert_int_equal(sess_verify(f->ctx, tok, strlen(tok), t, true, &got), 0);
        assert_int_equal(got.idle_expires, t + 3600);
        sess_record_dispose(&got);
        assert_int_equal(sess_touch_flush(f->ctx), 0);
    }
    assert_int_equal(sess_verify(f->ctx, unused, strlen(unused), T0 + 3599, false, &got), 0);
    sess_record_dispose(&got);
    assert_int_equal(sess_verify(f->ctx, unused, strlen(unused), T0 + 3600, false, &got),
                     SESS_ESESSION);
    /* Never past its absolute deadline. */
    pol.remember_idle = 2 * 86400;
    assert_int_equal(sess_ctx_set_policy(f->ctx, &pol), 0);
    assert_int_equal(sess_create(f->ctx, &p, T0, tok, &rec), 0);
    assert_int_equal(rec.idle_expires, rec.abs_expires);
    sess_record_dispose(&rec);
    assert_int_equal(sess_verify(f->ctx, tok, strlen(tok), T0 + 80000, true, &got), 0);
    assert_int_equal(got.idle_expires, T0 + 86400);
    sess_record_dispose(&got);

    pol.remember_me = 0;
    assert_int_equal(sess_ctx_set_policy(f->ctx, &pol), 0);
    assert_int_equal(sess_create(f->ctx, &p, T0, tok, &rec), SESS_EINVAL);
    p.remember = false;
    assert_int_equal(sess_create(f->ctx, &p, T0, tok, &rec), 0);
    sess_record_dispose(&rec);
}

static void patch_live_only(void **state)
{
    fixture *f = *state;
    char tok[SESS_TOKEN_STRLEN + 1];
    sess_record rec, got;
    create_as(f, "alice", T0, tok, &rec);
    assert_int_equal(sess_patch(f->ctx, rec.id, "{\"a\":1,\"cart\":null}", 19, T0 + 1, &got), 0);
    assert_string_equal(got.data, "{\"a\":1}");
    sess_record_dispose(&got);
    /* An expired session takes no writes, even before a sweep removed it. */
    assert_int_equal(sess_patch(f->ctx, rec.id, "{\"b\":1}", 7, T0 + 600, &got), SESS_ESESSION);
    sess_record_dispose(&rec);
}

static void preferences(void **state)
{
    fixture *f = *state;
    char *out = NULL;
    size_t n = 0;
    assert_int_equal(sess_prefs_get(f->ctx, "alice", &out, &n), 0);
    assert_string_equal(out, "{}");
    free(out);
    const char *good = "{\"language\":\"fr-CA\",\"theme\":\"dark\",\"font_size\":18}";
    assert_int_equal(sess_prefs_put(f->ctx, "alice", good, strlen(good), &out, &n), 0);
    free(out);
    const char *patch = "{\"theme\":null,\"font_size\":\"large\"}";
    assert_int_equal(sess_prefs_patch(f->ctx, "alice", patch, strlen(patch), &out, &n), 0);
    assert_string_equal(out, "{\"font_size\":\"large\",\"language\":\"fr-CA\"}");
    free(out);
    static const char *bad[] = {"{\"theme\":\"purple\"}",
                                "{\"language\":\"f\"}",
                                "{\"language\":\"fr--CA\"}",
                                "{\"font_size\":200}",
                                "{\"Bad Key\":1}",
                                "{\"x\":{\"nested\":1}}",
                                "[1]",
                                "{\"language\":\"fr-\"}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(sess_prefs_patch(f->ctx, "alice", bad[i], strlen(bad[i]), &out, &n),
                         SESS_EINVAL);
    /* 33 keys is one past the bound. */
    char many[1024] = "{";
    for (int i = 0; i < 33; i++)
        snprintf(many + strlen(many), sizeof(many) - strlen(many), "%s\"k%d\":1", i ? "," : "", i);
    strcat(many, "}");
    assert_int_equal(sess_prefs_put(f->ctx, "bob", many, strlen(many), &out, &n), SESS_EINVAL);
    assert_int_equal(sess_prefs_get(f->ctx, "alice", &out, &n), 0);
    assert_string_equal(out, "{\"font_size\":\"large\",\"language\":\"fr-CA\"}");
    free(out);
}

static void api_keys(void **state)
{
    fixture *f = *state;
    char key[SESS_APIKEY_STRLEN + 1], name[SESS_APIKEY_NAME_MAX + 1];
    assert_int_equal(sess_apikey_create(f->ctx, "backend", T0, key), 0);
    assert_int_equal(strlen(key), SESS_APIKEY_STRLEN);
    assert_memory_equal(key, "sk_", 3);
    assert_int_equal(sess_apikey_check(f->ctx, key, strlen(key), name), 0);
    assert_string_equal(name, "backend");
    char wrong[SESS_APIKEY_STRLEN + 1];
    memcpy(wrong, key, sizeof(wrong));
    wrong[10] = wrong[10] == 'A' ? 'B' : 'A';
    assert_int_equal(sess_apikey_check(f->ctx, wrong, strlen(wrong), name), SESS_EUNAUTHORIZED);
    assert_int_equal(sess_apikey_check(f->ctx, key, 5, name), SESS_EUNAUTHORIZED);
    assert_int_equal(sess_apikey_create(f->ctx, "backend", T0, wrong), SESS_EEXIST);
    assert_int_equal(sess_apikey_create(f->ctx, "bad name", T0, wrong), SESS_EINVAL);
    assert_int_equal(sess_apikey_revoke(f->ctx, "backend"), 0);
    assert_int_equal(sess_apikey_check(f->ctx, key, strlen(key), name), SESS_EUNAUTHORIZED);
}

static int count_live(const sess_record *rec, uint64_t gen, void *arg)
{
    (void)rec;
    (void)gen;
    (*(int *)arg)++;
    return 0;
}

/* The cookie store's revocation side: generations, and deny entries (never listed, never live,
 * never evicted by the user's other sessions: max_per_user is 3 here). */
static void stateless_revocation(void **state)
{
    fixture *f = *state;
    sess_create_params p = {.user = "alice"};
    sess_record a, b, c[4];
    assert_int_equal(sess_new_stateless(f->ctx, &p, T0, &a), 0);
    assert_int_equal(sess_new_stateless(f->ctx, &p, T0, &b), 0);
    assert_int_equal(sess_stateless_check(f->ctx, &a), 0);
    assert_int_equal(sess_stateless_end(f->ctx, &a, T0 + 1), 0);
    assert_int_equal(sess_stateless_end(f->ctx, &a, T0 + 1), 0); /* idempotent */
    assert_int_equal(sess_stateless_check(f->ctx, &a), SESS_ESESSION);
    assert_int_equal(sess_stateless_check(f->ctx, &b), 0);
    int n = 0;
    assert_int_equal(sess_list_user(f->ctx, "alice", T0 + 1, count_live, &n), 0);
    assert_int_equal(n, 0); /* a deny entry is no session */
    sess_record got;
    assert_int_equal(sess_get(f->ctx, a.id, T0 + 1, &got), SESS_ESESSION);
    /* Four more logouts and more stored sessions of the user than max_per_user: deny entries are
     * filed apart from the user's sessions, so none is evicted and nothing else ends. */
    for (int i = 0; i < 4; i++) {
        assert_int_equal(sess_new_stateless(f->ctx, &p, T0, &c[i]), 0);
        assert_int_equal(sess_stateless_end(f->ctx, &c[i], T0 + 2), 0);
    }
    for (int i = 0; i < 5; i++) {
        char tok[SESS_TOKEN_STRLEN + 1];
        sess_record s;
        assert_int_equal(sess_create(f->ctx, &p, T0 + 2, tok, &s), 0);
        sess_record_dispose(&s);
    }
    assert_int_equal(sess_stateless_check(f->ctx, &b), 0);
    assert_int_equal(sess_stateless_check(f->ctx, &a), SESS_ESESSION);
    for (int i = 0; i < 4; i++)
        assert_int_equal(sess_stateless_check(f->ctx, &c[i]), SESS_ESESSION);
    /* New sessions; one ended by id only is refused. */
    sess_record d, e;
    assert_int_equal(sess_new_stateless(f->ctx, &p, T0 + 3, &d), 0);
    assert_int_equal(sess_new_stateless(f->ctx, &p, T0 + 3, &e), 0);
    assert_int_equal(sess_stateless_check(f->ctx, &d), 0);
    assert_int_equal(sess_stateless_end_id(f->ctx, d.id, T0 + 3), 0);
    assert_int_equal(sess_stateless_check(f->ctx, &d), SESS_ESESSION);
    assert_int_equal(sess_stateless_check(f->ctx, &e), 0);
    assert_int_equal(sess_revoke_user(f->ctx, "alice"), 0);
    assert_int_equal(sess_stateless_check(f->ctx, &e), SESS_ESESSION);
    sess_record_dispose(&a);
    sess_record_dispose(&b);
    sess_record_dispose(&d);
    sess_record_dispose(&e);
    for (int i = 0; i < 4; i++)
        sess_record_dispose(&c[i]);
}

/* A zeroed policy (the usual mistake) is refused at once, not at the first create; the
 * defaults serve; set_policy keeps the old policy when the new one is refused. */
static void policy_defaults_and_zero(void **state)
{
    (void)state;
    sess_store *st;
    sess_ctx *ctx = NULL;
    char err[128];
    uint8_t key[SESS_KEY_BYTES] = {1};
    assert_int_equal(sess_store_memory_open(NULL, &st, err, sizeof(err)), 0);
    sess_policy zero = {0}, def, got;
    assert_int_equal(sess_ctx_new(st, key, &zero, &ctx), SESS_EINVAL);
    assert_null(ctx);
    sess_policy_default(&def);
    assert_int_equal(def.idle_timeout, 1800);
    assert_int_equal(def.absolute_timeout, 86400);
    assert_int_equal(def.max_per_user, 50);
    assert_int_equal(sess_ctx_new(st, key, &def, &ctx), 0);
    char tok[SESS_TOKEN_STRLEN + 1];
    sess_record rec;
    sess_create_params cp = {.user = "alice"};
    assert_int_equal(sess_create(ctx, &cp, 1000, tok, &rec), 0);
    sess_record_dispose(&rec);
    sess_policy neg = def;
    neg.rotate_grace = -1;
    assert_int_equal(sess_ctx_set_policy(ctx, &zero), SESS_EINVAL);
    assert_int_equal(sess_ctx_set_policy(ctx, &neg), SESS_EINVAL);
    sess_ctx_get_policy(ctx, &got);
    assert_int_equal(got.idle_timeout, def.idle_timeout);
    sess_ctx_free(ctx);
    sess_store_close(st);
    sess_store_close(NULL);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    if (sess_crypto_init() != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        T(create_and_verify),
        T(create_validates),
        T(utf8_names),
        T(idle_and_absolute_expiry),
        T(touch_is_throttled_and_queued),
        T(touch_by_id),

        T(rotation_grace),
        T(pending_touch_counts_at_once),
        T(revoke_all_and_eviction),
        T(remember_me),
        T(remember_me_idle_and_off),
        T(patch_live_only),
        T(preferences),
        T(api_keys),
        T(stateless_revocation),
        cmocka_unit_test(policy_defaults_and_zero),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
