/* test_source.c - the session source conformance cases (core/source.h): each case written once
 * and run over both sources, stored (tokens over the memory store) and sealed ([store] kind =
 * cookie: the record sealed into the value, its revocations in the memory store), with time
 * passed in. What the sources do differently by nature is listed in source.h; the cases below
 * assert only what both promise. */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/source.h"
#include "core/state.h"
#include "sessiond/error.h"
#include "sessiond/session.h"

#define T0 1700000000

static const sess_policy policy = {.idle_timeout = 600,
                                   .absolute_timeout = 3600,
                                   .remember_me = 86400,
                                   .touch_interval = 6,
                                   .rotate_grace = 30,
                                   .max_per_user = 50,
                                   .max_data = 256};

typedef struct fixture {
    const sessd_source *src;
    sessd_config cfg;
    sess_store *st;
    sess_ctx *ctx;
} fixture;

static int setup(void **state, const sessd_source *src)
{
    fixture *f = calloc(1, sizeof(*f));
    char err[256];
    uint8_t key[SESS_KEY_BYTES] = {7};
    if (f == NULL)
        return -1;
    f->src = src;
    sessd_config_defaults(&f->cfg);
    if (src == &sessd_source_sealed &&
        (sessd_config_set(&f->cfg, "store", "kind", "cookie", "test", err, sizeof(err)) != 0 ||
         sessd_config_set(&f->cfg, "keys", "seal", "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
                          "test", err, sizeof(err)) != 0))
        return -1;
    if (sessd_config_finish(&f->cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "config: %s\n", err);
        return -1;
    }
    if (sess_store_memory_open(NULL, &f->st, err, sizeof(err)) != 0 ||
        sess_ctx_new(f->st, key, &policy, &f->ctx) != 0)
        return -1;
    atomic_store(&sessd_srv.config, &f->cfg);
    sessd_srv.ctx = f->ctx;
    *state = f;
    return 0;
}

static int setup_stored(void **state)
{
    return setup(state, &sessd_source_stored);
}

static int setup_sealed(void **state)
{
    return setup(state, &sessd_source_sealed);
}

static int teardown(void **state)
{
    fixture *f = *state;
    atomic_store(&sessd_srv.config, NULL);
    sessd_srv.ctx = NULL;
    sess_ctx_free(f->ctx);
    sess_store_close(f->st);
    free(f);
    return 0;
}

/* A session of `user` made at `now`; its value in `v`, its id in `id`. */
static void make(fixture *f, const char *user, int64_t now, sessd_value *v,
                 uint8_t id[SESS_ID_BYTES])
{
    sess_create_params p = {.user = user, .roles = "admin", .data = "{\"a\":1}", .data_len = 7};
    sess_record rec;
    assert_int_equal(f->src->create(&p, now, v, &rec), 0);
    assert_int_equal(strlen(v->text), v->len);
    memcpy(id, rec.id, SESS_ID_BYTES);
    sess_record_dispose(&rec);
}

/* The result of opening `v` at `now` without a touch. */
static int opens(fixture *f, const sessd_value *v, int64_t now)
{
    sess_record rec;
    int r = f->src->open(v->text, v->len, now, false, &rec, NULL);
    if (r == 0)
        sess_record_dispose(&rec);
    return r;
}

static void the_source_cookies_use(void **state)
{
    fixture *f = *state;
    assert_ptr_equal(sessd_source_cookie(), f->src);
    assert_ptr_equal(sessd_source_of(SESS_TOKEN_STRLEN), &sessd_source_stored);
    assert_ptr_equal(sessd_source_of(SESS_TOKEN_STRLEN + 1), f->src);
}

static void create_then_open(void **state)
{
    fixture *f = *state;
    sessd_value v;
    uint8_t id[SESS_ID_BYTES];
    make(f, "alice", T0, &v, id);
    sess_record rec;
    assert_int_equal(f->src->open(v.text, v.len, T0 + 1, false, &rec, NULL), 0);
    assert_string_equal(rec.user, "alice");
    assert_string_equal(rec.roles, "admin");
    assert_memory_equal(rec.data, "{\"a\":1}", 7);
    assert_memory_equal(rec.id, id, SESS_ID_BYTES);
    assert_int_equal(rec.idle_expires, T0 + policy.idle_timeout);
    assert_int_equal(rec.abs_expires, T0 + policy.absolute_timeout);
    sess_record_dispose(&rec);
}

static void altered_values_open_nothing(void **state)
{
    fixture *f = *state;
    sessd_value v, w;
    uint8_t id[SESS_ID_BYTES];
    make(f, "alice", T0, &v, id);
    w = v;
    w.text[w.len / 2] = w.text[w.len / 2] == 'A' ? 'B' : 'A';
    assert_int_equal(opens(f, &w, T0), SESS_ESESSION);
    w = v;
    w.text[--w.len] = '\0';
    assert_int_equal(opens(f, &w, T0), SESS_ESESSION);
    w.len = 0;
    w.text[0] = '\0';
    assert_int_equal(opens(f, &w, T0), SESS_ESESSION);
    memset(w.text, 'A', SESSD_VALUE_MAX);
    w.len = SESSD_VALUE_MAX;
    assert_int_equal(opens(f, &w, T0), SESS_ESESSION);
    assert_int_equal(opens(f, &v, T0), 0);
}

static void end_ends_one_session_for_good(void **state)
{
    fixture *f = *state;
    sessd_value a, b;
    uint8_t ida[SESS_ID_BYTES], idb[SESS_ID_BYTES];
    make(f, "alice", T0, &a, ida);
    make(f, "alice", T0, &b, idb);
    sess_record rec;
    assert_int_equal(f->src->open(a.text, a.len, T0 + 1, false, &rec, NULL), 0);
    assert_int_equal(f->src->end(&rec, T0 + 1), 0);
    assert_int_equal(f->src->end(&rec, T0 + 2), 0); /* idempotent */
    sess_record_dispose(&rec);
    assert_int_equal(opens(f, &a, T0 + 2), SESS_ESESSION);
    assert_int_equal(opens(f, &a, T0 + policy.idle_timeout - 1), SESS_ESESSION);
    assert_int_equal(opens(f, &b, T0 + 2), 0); /* the user's other device */
}

static void end_by_id(void **state)
{
    fixture *f = *state;
    sessd_value a, b;
    uint8_t ida[SESS_ID_BYTES], idb[SESS_ID_BYTES];
    make(f, "alice", T0, &a, ida);
    make(f, "bob", T0, &b, idb);
    assert_int_equal(f->src->end_id(ida, T0 + 1), 0);
    assert_int_equal(f->src->end_id(ida, T0 + 1), 0);
    assert_int_equal(opens(f, &a, T0 + 2), SESS_ESESSION);
    assert_int_equal(opens(f, &b, T0 + 2), 0);
    /* What DELETE /v1/sessions/{id} calls: every source this server runs. */
    assert_int_equal(sessd_source_end_id(idb, T0 + 3), 0);
    assert_int_equal(opens(f, &b, T0 + 4), SESS_ESESSION);
}

static void revoke_all_ends_every_session_of_the_user(void **state)
{
    fixture *f = *state;
    sessd_value a1, a2, b, a3;
    uint8_t id[SESS_ID_BYTES];
    make(f, "alice", T0, &a1, id);
    make(f, "alice", T0, &a2, id);
    make(f, "bob", T0, &b, id);
    assert_int_equal(sess_revoke_user(f->ctx, "alice"), 0);
    assert_int_equal(opens(f, &a1, T0 + 1), SESS_ESESSION);
    assert_int_equal(opens(f, &a2, T0 + 1), SESS_ESESSION);
    assert_int_equal(opens(f, &b, T0 + 1), 0);
    make(f, "alice", T0 + 2, &a3, id);
    assert_int_equal(opens(f, &a3, T0 + 3), 0);
}

static void idle_and_absolute_deadlines(void **state)
{
    fixture *f = *state;
    sessd_value v;
    uint8_t id[SESS_ID_BYTES];
    make(f, "alice", T0, &v, id);
    assert_int_equal(opens(f, &v, T0 + policy.idle_timeout - 1), 0);
    assert_int_equal(opens(f, &v, T0 + policy.idle_timeout), SESS_ESESSION);
    /* Touched every few minutes, it lives to its absolute deadline and not a second more. */
    make(f, "alice", T0, &v, id);
    int64_t t;
    for (t = T0 + 300; t < T0 + policy.absolute_timeout; t += 300) {
        sess_record rec;
        sessd_value renewed;
        assert_int_equal(f->src->open(v.text, v.len, t, true, &rec, &renewed), 0);
        sess_record_dispose(&rec);
        if (renewed.len > 0)
            v = renewed;
        assert_int_equal(sess_touch_flush(f->ctx), 0);
    }
    assert_int_equal(opens(f, &v, T0 + policy.absolute_timeout - 1), 0);
    assert_int_equal(opens(f, &v, T0 + policy.absolute_timeout), SESS_ESESSION);
}

static void a_touch_moves_the_idle_deadline(void **state)
{
    fixture *f = *state;
    sessd_value v, renewed;
    uint8_t id[SESS_ID_BYTES];
    sess_record rec;
    make(f, "alice", T0, &v, id);
    /* Not due yet: nothing to write, no new value. */
    assert_int_equal(f->src->open(v.text, v.len, T0 + 1, true, &rec, &renewed), 0);
    assert_int_equal(rec.idle_expires, T0 + policy.idle_timeout);
    assert_int_equal(renewed.len, 0);
    sess_record_dispose(&rec);
    int64_t t = T0 + policy.touch_interval + 1;
    assert_int_equal(f->src->open(v.text, v.len, t, true, &rec, &renewed), 0);
    assert_int_equal(rec.idle_expires, t + policy.idle_timeout);
    sess_record_dispose(&rec);
    assert_int_equal(sess_touch_flush(f->ctx), 0);
    if (renewed.len > 0)
        v = renewed;
    /* Past the first idle deadline, within the new one. */
    assert_int_equal(opens(f, &v, T0 + policy.idle_timeout + 1), 0);
    assert_int_equal(opens(f, &v, t + policy.idle_timeout), SESS_ESESSION);
}

static void data_over_max_data_is_refused(void **state)
{
    fixture *f = *state;
    char data[400];
    memset(data, ' ', sizeof(data));
    data[0] = '{';
    memcpy(data + 1, "\"a\":\"", 5);
    memset(data + 6, 'x', sizeof(data) - 8);
    memcpy(data + sizeof(data) - 2, "\"}", 2);
    sess_create_params p = {.user = "alice", .data = data, .data_len = sizeof(data)};
    sessd_value v;
    sess_record rec;
    assert_int_equal(f->src->create(&p, T0, &v, &rec), SESS_ETOOLARGE);
    assert_int_equal(v.len, 0);
}

/* Each case twice, named for its source so that a failure says which. */
#define BOTH(fn)                                                                                   \
    {#fn " (stored)", fn, setup_stored, teardown, NULL},                                           \
    {                                                                                              \
#fn " (sealed)", fn, setup_sealed, teardown, NULL                                          \
    }

int main(void)
{
    const struct CMUnitTest tests[] = {
        BOTH(the_source_cookies_use),
        BOTH(create_then_open),
        BOTH(altered_values_open_nothing),
        BOTH(end_ends_one_session_for_good),
        BOTH(end_by_id),
        BOTH(revoke_all_ends_every_session_of_the_user),
        BOTH(idle_and_absolute_deadlines),
        BOTH(a_touch_moves_the_idle_deadline),
        BOTH(data_over_max_data_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
