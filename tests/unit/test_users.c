/* test_users.c - user accounts of lib/users.c over the memory store: adding, checking
 * passwords (known, unknown, wrong, disabled, at and past the length bounds), changes that
 * revoke sessions, listing, records that do not decode, and concurrent changes of one account.
 * Argon2id runs at libsodium's minimum cost so the suite stays fast. */
#include "harness.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sessiond/error.h"
#include "sessiond/session.h"
#include "sessiond/users.h"

#define T0 1700000000

#define assert_sess(expected, expr)                                                                \
    do {                                                                                           \
        int got_ = (expr), want_ = (expected);                                                     \
        if (got_ != want_)                                                                         \
            fail_msg("%s: got %s (%d), want %s (%d)", #expr, sess_errname(got_), got_,             \
                     sess_errname(want_), want_);                                                  \
    } while (0)

#define PW(s) (s), strlen(s)

typedef struct fixture {
    sess_store *st;
    sess_ctx *ctx;
} fixture;

static const sess_policy policy = {.idle_timeout = 600,
                                   .absolute_timeout = 3600,
                                   .remember_me = 86400,
                                   .touch_interval = 6,
                                   .rotate_grace = 30,
                                   .max_per_user = 10,
                                   .max_data = 256,
                                   .argon2_ops = 1,
                                   .argon2_mem = 8192};

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    char err[128];
    uint8_t key[SESS_KEY_BYTES] = {7};
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

static void add(fixture *f, const char *user, const char *pw, const char *roles)
{
    assert_sess(0, sess_user_add(f->ctx, user, PW(pw), roles, T0));
}

/* A session for `user`; its token goes into `tok`. */
static void login_session(fixture *f, const char *user, char tok[SESS_TOKEN_STRLEN + 1])
{
    sess_create_params p = {.user = user};
    sess_record rec;
    assert_sess(0, sess_create(f->ctx, &p, T0 + 10, tok, &rec));
    sess_record_dispose(&rec);
}

static int session_alive(fixture *f, const char *tok)
{
    sess_record rec;
    int r = sess_verify(f->ctx, tok, strlen(tok), T0 + 20, false, &rec);
    if (r == 0)
        sess_record_dispose(&rec);
    return r == 0;
}

static void add_and_login(void **state)
{
    fixture *f = *state;
    sess_account a;
    add(f, "alice", "correct horse", "admin,dev");
    assert_sess(0, sess_user_login(f->ctx, "alice", PW("correct horse"), &a));
    assert_string_equal(a.user, "alice");
    assert_string_equal(a.roles, "admin,dev");
    assert_int_equal(a.flags, 0);
    assert_int_equal(a.created, T0);
    assert_int_equal(a.password_changed, T0);
    assert_sess(SESS_EUNAUTHORIZED, sess_user_login(f->ctx, "alice", PW("correct horsf"), &a));
    assert_sess(SESS_EUNAUTHORIZED, sess_user_login(f->ctx, "alice", PW("correct hors"), NULL));
    assert_sess(SESS_EUNAUTHORIZED, sess_user_login(f->ctx, "nobody", PW("correct horse"), &a));
    assert_sess(SESS_EUNAUTHORIZED, sess_user_login(f->ctx, "Alice", PW("correct horse"), &a));
    assert_sess(SESS_EUNAUTHORIZED, sess_user_login(f->ctx, "", PW("correct horse"), &a));
    assert_sess(SESS_EEXIST, sess_user_add(f->ctx, "alice", PW("another one"), NULL, T0));
    assert_sess(0, sess_user_login(f->ctx, "alice", PW("correct horse"), NULL));
}

static void add_refuses_bad_input(void **state)
{
    fixture *f = *state;
    char longest[SESS_USER_MAX + 2];
    memset(longest, 'u', sizeof(longest));
    longest[SESS_USER_MAX] = '\0';
    assert_sess(0, sess_user_add(f->ctx, longest, PW("password"), NULL, T0));
    longest[SESS_USER_MAX] = 'u';
    longest[SESS_USER_MAX + 1] = '\0';
    assert_sess(SESS_EINVAL, sess_user_add(f->ctx, longest, PW("password"), NULL, T0));
    assert_sess(SESS_EINVAL, sess_user_add(f->ctx, "", PW("password"), NULL, T0));
    assert_sess(SESS_EINVAL, sess_user_add(f->ctx, "bad\nname", PW("password"), NULL, T0));
    assert_sess(SESS_EINVAL, sess_user_add(f->ctx, "a,b", PW("password"), NULL, T0));
    assert_sess(SESS_EINVAL, sess_user_add(f->ctx, "bob", PW("password"), "ad min", T0));
    assert_sess(SESS_EINVAL, sess_user_add(f->ctx, "bob", PW("password"), "a,,b", T0));
    sess_account a;
    assert_sess(SESS_ENOTFOUND, sess_user_get(f->ctx, "bob", &a));
}

/* Passwords: SESS_PASSWORD_MIN and SESS_PASSWORD_MAX bytes are accepted, one less and one more
 * are refused; a login with an over-long password fails without matching anything. */
static void password_bounds(void **state)
{
    fixture *f = *state;
    static char pw[SESS_PASSWORD_MAX + 2];
    memset(pw, 'p', sizeof(pw) - 1);
    assert_sess(SESS_EINVAL, sess_user_add(f->ctx, "short", pw, SESS_PASSWORD_MIN - 1, NULL, T0));
    assert_sess(0, sess_user_add(f->ctx, "min", pw, SESS_PASSWORD_MIN, NULL, T0));
    assert_sess(0, sess_user_login(f->ctx, "min", pw, SESS_PASSWORD_MIN, NULL));
    assert_sess(0, sess_user_add(f->ctx, "max", pw, SESS_PASSWORD_MAX, NULL, T0));
    assert_sess(0, sess_user_login(f->ctx, "max", pw, SESS_PASSWORD_MAX, NULL));
    assert_sess(SESS_EINVAL, sess_user_add(f->ctx, "over", pw, SESS_PASSWORD_MAX + 1, NULL, T0));
    assert_sess(SESS_EUNAUTHORIZED,
                sess_user_login(f->ctx, "max", pw, SESS_PASSWORD_MAX + 1, NULL));
    assert_sess(SESS_EUNAUTHORIZED, sess_user_login(f->ctx, "max", pw, 0, NULL));
    assert_sess(SESS_EINVAL, sess_user_passwd(f->ctx, "max", pw, SESS_PASSWORD_MAX + 1, T0));
    assert_sess(SESS_EINVAL, sess_user_passwd(f->ctx, "max", pw, SESS_PASSWORD_MIN - 1, T0));
}

/* Only an argon2id hash is stored: the password's bytes appear nowhere in the record. */
static int find_password(const char *user, const uint8_t *rec, size_t len, void *arg)
{
    (void)user;
    const char *pw = arg;
    assert_null(memmem(rec, len, pw, strlen(pw)));
    assert_non_null(memmem(rec, len, "$argon2id$", 10));
    return 0;
}

static void stores_only_a_hash(void **state)
{
    fixture *f = *state;
    add(f, "alice", "s3cret-passphrase", NULL);
    assert_sess(0, f->st->ops->user_list(f->st, find_password, "s3cret-passphrase"));
}

static void disabled_refused_even_with_right_password(void **state)
{
    fixture *f = *state;
    char tok[SESS_TOKEN_STRLEN + 1];
    sess_account a;
    add(f, "alice", "password1", "x");
    login_session(f, "alice", tok);
    assert_sess(0, sess_user_set_disabled(f->ctx, "alice", true));
    assert_false(session_alive(f, tok));
    assert_sess(SESS_EUNAUTHORIZED, sess_user_login(f->ctx, "alice", PW("password1"), &a));
    assert_sess(0, sess_user_get(f->ctx, "alice", &a));
    assert_int_equal(a.flags & SESS_ACCOUNT_DISABLED, SESS_ACCOUNT_DISABLED);
    assert_sess(0, sess_user_set_disabled(f->ctx, "alice", false));
    assert_sess(0, sess_user_login(f->ctx, "alice", PW("password1"), &a));
    assert_string_equal(a.roles, "x");
}

static void passwd_revokes_and_replaces(void **state)
{
    fixture *f = *state;
    char tok[SESS_TOKEN_STRLEN + 1], other[SESS_TOKEN_STRLEN + 1];
    sess_account a;
    add(f, "alice", "old password", NULL);
    add(f, "bob", "bob password", NULL);
    login_session(f, "alice", tok);
    login_session(f, "bob", other);
    assert_true(session_alive(f, tok));
    assert_sess(0, sess_user_passwd(f->ctx, "alice", PW("new password"), T0 + 50));
    assert_false(session_alive(f, tok));
    assert_true(session_alive(f, other)); /* only alice's sessions go */
    assert_sess(SESS_EUNAUTHORIZED, sess_user_login(f->ctx, "alice", PW("old password"), &a));
    assert_sess(0, sess_user_login(f->ctx, "alice", PW("new password"), &a));
    assert_int_equal(a.password_changed, T0 + 50);
    assert_int_equal(a.created, T0);
    assert_sess(SESS_ENOTFOUND, sess_user_passwd(f->ctx, "nobody", PW("new password"), T0));
}

/* A role change does not end the sessions: they carry the new roles at once, flagged for a
 * new token (the server rotates them on their next request). */
static void roles_reach_sessions(void **state)
{
    fixture *f = *state;
    char tok[SESS_TOKEN_STRLEN + 1], fresh[SESS_TOKEN_STRLEN + 1];
    sess_account a;
    sess_record rec;
    add(f, "alice", "password1", "a");
    login_session(f, "alice", tok);
    assert_sess(0, sess_user_set_roles(f->ctx, "alice", "admin,ops"));
    assert_sess(0, sess_verify(f->ctx, tok, strlen(tok), T0 + 20, false, &rec));
    assert_string_equal(rec.roles, "admin,ops");
    assert_true(rec.flags & SESS_REC_ROLES_CHANGED);
    sess_record_dispose(&rec);
    assert_sess(0, sess_rotate(f->ctx, tok, strlen(tok), T0 + 21, false, fresh, &rec));
    assert_string_equal(rec.roles, "admin,ops");
    assert_false(rec.flags & SESS_REC_ROLES_CHANGED);
    sess_record_dispose(&rec);
    assert_true(session_alive(f, fresh));
    assert_sess(0, sess_user_get(f->ctx, "alice", &a));
    assert_string_equal(a.roles, "admin,ops");
    assert_sess(0, sess_user_set_roles(f->ctx, "alice", ""));
    assert_sess(0, sess_user_get(f->ctx, "alice", &a));
    assert_string_equal(a.roles, "");
    assert_sess(SESS_EINVAL, sess_user_set_roles(f->ctx, "alice", "bad role"));
    assert_sess(SESS_ENOTFOUND, sess_user_set_roles(f->ctx, "nobody", "a"));
    assert_sess(SESS_ENOTFOUND, sess_user_set_disabled(f->ctx, "nobody", true));
}

/* A role change between a login's password check and its new session: the re-check gives the
 * new session the current roles; without a change it touches nothing. */
static void recheck_roles_after_login(void **state)
{
    fixture *f = *state;
    char tok[SESS_TOKEN_STRLEN + 1];
    sess_account seen;
    sess_record rec;
    add(f, "alice", "password1", "a");
    assert_sess(0, sess_user_login(f->ctx, "alice", PW("password1"), &seen));
    sess_create_params p = {.user = "alice", .roles = seen.roles};
    assert_sess(0, sess_create(f->ctx, &p, T0 + 10, tok, &rec));
    sess_record_dispose(&rec);
    assert_sess(0, sess_user_recheck_roles(f->ctx, &seen));
    assert_sess(0, sess_verify(f->ctx, tok, strlen(tok), T0 + 20, false, &rec));
    assert_string_equal(rec.roles, "a");
    assert_false(rec.flags & SESS_REC_ROLES_CHANGED);
    sess_record_dispose(&rec);

    /* The change lands after the login read the account, before its session exists. */
    assert_sess(0, sess_user_set_roles(f->ctx, "alice", "a,admin"));
    assert_sess(0, sess_create(f->ctx, &p, T0 + 11, tok, &rec));
    sess_record_dispose(&rec);
    assert_sess(0, sess_user_recheck_roles(f->ctx, &seen));
    assert_sess(0, sess_verify(f->ctx, tok, strlen(tok), T0 + 20, false, &rec));
    assert_string_equal(rec.roles, "a,admin");
    assert_true(rec.flags & SESS_REC_ROLES_CHANGED);
    sess_record_dispose(&rec);
}

static void delete_revokes(void **state)
{
    fixture *f = *state;
    char tok[SESS_TOKEN_STRLEN + 1];
    sess_account a;
    add(f, "alice", "password1", NULL);
    login_session(f, "alice", tok);
    assert_sess(0, sess_user_delete(f->ctx, "alice"));
    assert_false(session_alive(f, tok));
    assert_sess(SESS_ENOTFOUND, sess_user_get(f->ctx, "alice", &a));
    assert_sess(SESS_EUNAUTHORIZED, sess_user_login(f->ctx, "alice", PW("password1"), &a));
    assert_sess(SESS_ENOTFOUND, sess_user_delete(f->ctx, "alice"));
    /* The name can be taken again, with a new password. */
    add(f, "alice", "password2", NULL);
    assert_sess(SESS_EUNAUTHORIZED, sess_user_login(f->ctx, "alice", PW("password1"), &a));
    assert_sess(0, sess_user_login(f->ctx, "alice", PW("password2"), &a));
}

struct names {
    int n;
    char user[4][SESS_USER_MAX + 1];
};

static int collect(const sess_account *a, void *arg)
{
    struct names *ns = arg;
    if (ns->n < 4)
        snprintf(ns->user[ns->n], sizeof(ns->user[0]), "%s", a->user);
    ns->n++;
    return 0;
}

static void list_in_order(void **state)
{
    fixture *f = *state;
    struct names ns = {0};
    add(f, "carol", "password", NULL);
    add(f, "alice", "password", NULL);
    add(f, "bob", "password", NULL);
    assert_sess(0, sess_user_list(f->ctx, collect, &ns));
    assert_int_equal(ns.n, 3);
    assert_string_equal(ns.user[0], "alice");
    assert_string_equal(ns.user[1], "bob");
    assert_string_equal(ns.user[2], "carol");
}

/* A record this version cannot read: get and list say so, login refuses like any failure. */
static void corrupt_record(void **state)
{
    fixture *f = *state;
    struct names ns = {0};
    sess_account a;
    add(f, "alice", "password", NULL);
    assert_sess(0, f->st->ops->user_put(f->st, "mallory", (const uint8_t *)"\x09junk", 5, NULL, 0));
    assert_sess(SESS_ECORRUPT, sess_user_get(f->ctx, "mallory", &a));
    assert_sess(SESS_EUNAUTHORIZED, sess_user_login(f->ctx, "mallory", PW("password"), &a));
    assert_sess(SESS_ECORRUPT, sess_user_list(f->ctx, collect, &ns));
    assert_int_equal(ns.n, 1);
    assert_string_equal(ns.user[0], "alice");
}

/* Two administrators change one account at once: neither change is lost. */
#define ROUNDS 40

static void *roles_thread(void *arg)
{
    fixture *f = arg;
    char roles[16];
    for (int i = 0; i < ROUNDS; i++) {
        snprintf(roles, sizeof(roles), "r%d", i);
        if (sess_user_set_roles(f->ctx, "alice", roles) != 0)
            return (void *)1;
    }
    return NULL;
}

static void *disable_thread(void *arg)
{
    fixture *f = arg;
    for (int i = 0; i < ROUNDS; i++)
        if (sess_user_set_disabled(f->ctx, "alice", i % 2 == 0) != 0)
            return (void *)1;
    return NULL;
}

static void concurrent_changes_kept(void **state)
{
    fixture *f = *state;
    pthread_t a, b;
    void *ra, *rb;
    sess_account acct;
    add(f, "alice", "password", NULL);
    assert_int_equal(pthread_create(&a, NULL, roles_thread, f), 0);
    assert_int_equal(pthread_create(&b, NULL, disable_thread, f), 0);
    pthread_join(a, &ra);
    pthread_join(b, &rb);
    assert_null(ra);
    assert_null(rb);
    assert_sess(0, sess_user_get(f->ctx, "alice", &acct));
    assert_string_equal(acct.roles, "r39");
    assert_int_equal(acct.flags & SESS_ACCOUNT_DISABLED, 0); /* the last round (39) enabled */
}

/* An account hashed at another cost is re-hashed at the configured one by its next login. */
static int hash_has(const char *user, const uint8_t *rec, size_t len, void *arg)
{
    (void)user;
    assert_non_null(memmem(rec, len, arg, strlen(arg)));
    return 0;
}

static void login_rehashes_at_new_cost(void **state)
{
    fixture *f = *state;
    sess_policy p = policy;
    add(f, "alice", "password1", NULL);
    assert_sess(0, f->st->ops->user_list(f->st, hash_has, "m=8,t=1,"));
    p.argon2_mem = 16384;
    p.argon2_ops = 2;
    assert_int_equal(sess_ctx_set_policy(f->ctx, &p), 0);
    assert_sess(SESS_EUNAUTHORIZED, sess_user_login(f->ctx, "alice", PW("password2"), NULL));
    assert_sess(0, f->st->ops->user_list(f->st, hash_has, "m=8,t=1,"));
    assert_sess(0, sess_user_login(f->ctx, "alice", PW("password1"), NULL));
    assert_sess(0, f->st->ops->user_list(f->st, hash_has, "m=16,t=2,"));
    assert_sess(0, sess_user_login(f->ctx, "alice", PW("password1"), NULL));
}

/* The dummy hash for unknown users is computed at the configured cost, once. */
static void prepare_dummy(void **state)
{
    fixture *f = *state;
    assert_sess(0, sess_users_prepare(f->ctx));
    assert_sess(SESS_EUNAUTHORIZED, sess_user_login(f->ctx, "ghost", PW("whatever1"), NULL));
}

/* Argon2id work (passes x KiB) done through the hasher since the last reset. */
static uint64_t work_done;

static void add_work(const char *hash)
{
    unsigned long long m, t;
    assert_int_equal(2, sscanf(hash, "$argon2id$v=%*u$m=%llu,t=%llu,", &m, &t));
    work_done += m * t;
}

static int counting_hash(const char *password, size_t len, uint64_t ops, size_t mem,
                         char out[SESS_PWHASH_STRBYTES])
{
    work_done += ops * (mem / 1024);
    return sess_pwhash(password, len, ops, mem, out);
}

static int counting_verify(const char *hash, const char *password, size_t len)
{
    add_work(hash);
    return sess_pwhash_verify(hash, password, len);
}

/* The work of a failed login, unknown user or known one, at the configured cost. */
static uint64_t failed_login_work(fixture *f, const char *user)
{
    work_done = 0;
    assert_sess(SESS_EUNAUTHORIZED, sess_user_login(f->ctx, user, PW("wrong-password"), NULL));
    return work_done;
}

/* A wrong password for an account hashed at a lower cost than the configured one costs as much
 * argon2id work as one for an unknown user (no user enumeration by timing). */
static void wrong_password_work_as_for_unknown(void **state)
{
    static const sess_hasher counting = {counting_hash, counting_verify};
    static const sess_hasher local = {sess_pwhash, sess_pwhash_verify};
    fixture *f = *state;
    sess_policy p = policy;
    sess_users_set_hasher(&counting);
    add(f, "alice", "password1", NULL); /* 1 pass x 8 KiB */
    p.argon2_ops = 3;
    p.argon2_mem = 16384;
    assert_int_equal(sess_ctx_set_policy(f->ctx, &p), 0);
    assert_sess(0, sess_users_prepare(f->ctx));
    uint64_t unknown = failed_login_work(f, "ghost");
    assert_int_equal(3 * 16, unknown);
    assert_int_equal(unknown, failed_login_work(f, "alice"));
    /* Same memory, fewer passes. */
    p.argon2_ops = 4;
    p.argon2_mem = 8192;
    assert_int_equal(sess_ctx_set_policy(f->ctx, &p), 0);
    assert_sess(0, sess_users_prepare(f->ctx));
    assert_int_equal(failed_login_work(f, "ghost"), failed_login_work(f, "alice"));
    /* At the configured cost there is nothing to add. */
    assert_int_equal(sess_ctx_set_policy(f->ctx, &policy), 0);
    assert_sess(0, sess_users_prepare(f->ctx));
    assert_int_equal(8, failed_login_work(f, "alice"));
    assert_int_equal(8, failed_login_work(f, "ghost"));
    sess_users_set_hasher(&local);
}

/* `user add` warns about accounts at another cost: they are counted. */
static void counts_accounts_at_other_cost(void **state)
{
    fixture *f = *state;
    sess_policy p = policy;
    size_t n = 99;
    assert_sess(0, sess_users_other_cost(f->ctx, &n));
    assert_int_equal(0, n);
    add(f, "alice", "password1", NULL);
    assert_sess(0, sess_users_other_cost(f->ctx, &n));
    assert_int_equal(0, n);
    p.argon2_ops = 2;
    assert_int_equal(sess_ctx_set_policy(f->ctx, &p), 0);
    add(f, "bob", "password1", NULL);
    assert_sess(0, sess_users_other_cost(f->ctx, &n));
    assert_int_equal(1, n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(add_and_login, setup, teardown),
        cmocka_unit_test_setup_teardown(add_refuses_bad_input, setup, teardown),
        cmocka_unit_test_setup_teardown(password_bounds, setup, teardown),
        cmocka_unit_test_setup_teardown(stores_only_a_hash, setup, teardown),
        cmocka_unit_test_setup_teardown(disabled_refused_even_with_right_password, setup, teardown),
        cmocka_unit_test_setup_teardown(passwd_revokes_and_replaces, setup, teardown),
        cmocka_unit_test_setup_teardown(roles_reach_sessions, setup, teardown),
        cmocka_unit_test_setup_teardown(recheck_roles_after_login, setup, teardown),
        cmocka_unit_test_setup_teardown(delete_revokes, setup, teardown),
        cmocka_unit_test_setup_teardown(list_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(corrupt_record, setup, teardown),
        cmocka_unit_test_setup_teardown(concurrent_changes_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(prepare_dummy, setup, teardown),
        cmocka_unit_test_setup_teardown(login_rehashes_at_new_cost, setup, teardown),
        cmocka_unit_test_setup_teardown(wrong_password_work_as_for_unknown, setup, teardown),
        cmocka_unit_test_setup_teardown(counts_accounts_at_other_cost, setup, teardown),
    };
    if (sess_crypto_init() != 0)
        return 1;
    return cmocka_run_group_tests_name("users", tests, NULL, NULL);
}
