/* test_cookie.c - Set-Cookie formatting and Cookie header lookup. */
#include "harness.h"

#include <string.h>

#include "sessiond/cookie.h"

static void format_session_cookie(void **state)
{
    (void)state;
    char out[512];
    sess_cookie_opts o = {"sid", NULL, "lax", false, NULL};
    assert_true(sess_cookie_format(&o, "VALUE", -1, out, sizeof(out)) > 0);
    assert_string_equal(out, "sid=VALUE; Path=/; HttpOnly; SameSite=Lax");
    sess_cookie_opts h = {"__Host-sid", NULL, "strict", true, NULL};
    assert_true(sess_cookie_format(&h, "V", 3600, out, sizeof(out)) > 0);
    assert_string_equal(out,
                        "__Host-sid=V; Path=/; Max-Age=3600; Secure; HttpOnly; SameSite=Strict");
    assert_true(sess_cookie_format(&h, "", 0, out, sizeof(out)) > 0);
    assert_non_null(strstr(out, "Max-Age=0"));
}

static void format_bounds(void **state)
{
    (void)state;
    char small[16], big[8192], value[5000];
    sess_cookie_opts o = {"sid", NULL, "lax", false, NULL};
    assert_int_equal(sess_cookie_format(&o, "VALUE", -1, small, sizeof(small)), -1);
    memset(value, 'a', sizeof(value) - 1);
    value[sizeof(value) - 1] = '\0';
    assert_int_equal(sess_cookie_format(&o, value, -1, big, sizeof(big)), -1);
    /* At the bound (name plus value, what browsers count) and one past it. */
    size_t fixed = strlen("sid=") + strlen("; Path=/; HttpOnly; SameSite=Lax");
    value[SESS_COOKIE_MAX - 3] = '\0';
    assert_int_equal(sess_cookie_format(&o, value, -1, big, sizeof(big)),
                     SESS_COOKIE_MAX - 3 + fixed);
    value[SESS_COOKIE_MAX - 3] = 'a';
    value[SESS_COOKIE_MAX - 2] = '\0';
    assert_int_equal(sess_cookie_format(&o, value, -1, big, sizeof(big)), -1);
}

static void find_cookie(void **state)
{
    (void)state;
    const char *v;
    size_t n;
    const char *h = "a=1; sidx=2;  sid = \"tok\" ; b=3";
    assert_int_equal(sess_cookie_find(h, strlen(h), "sid", &v, &n), 0);
    assert_int_equal(n, 3);
    assert_memory_equal(v, "tok", 3);
    assert_int_equal(sess_cookie_find(h, strlen(h), "c", &v, &n), -1);
    assert_int_equal(sess_cookie_find("sid", 3, "sid", &v, &n), -1);
    assert_int_equal(sess_cookie_find(";;;=;", 5, "sid", &v, &n), -1);
    /* Never reads past len: the cookie after the cut is not seen. */
    assert_int_equal(sess_cookie_find(h, 4, "sid", &v, &n), -1);
}

/* sess_cookie_pick: one value across every Cookie header, or none at all. */
static void pick_one(void **state)
{
    (void)state;
    sess_cookie_one one = {0};
    const char *a = "x=1; sid=AAA", *b = "sid=AAA; y=2", *c = "sid=BBB";
    sess_cookie_pick(&one, a, strlen(a), "sid");
    assert_false(one.ambiguous);
    assert_int_equal(one.len, 3);
    assert_memory_equal(one.value, "AAA", 3);
    /* The same value again, in another header (and quoted), is still one value. */
    sess_cookie_pick(&one, b, strlen(b), "sid");
    sess_cookie_pick(&one, "sid=\"AAA\"", 9, "sid");
    assert_false(one.ambiguous);
    /* A different one, in another header: ambiguous. */
    sess_cookie_pick(&one, c, strlen(c), "sid");
    assert_true(one.ambiguous);
    /* In one header, whichever comes first. */
    static const char *const twice[] = {"sid=BBB; sid=AAA", "sid=AAA;sid=", "sid=; sid=AAA",
                                        "sid=AAA; other=1; sid = AAAB"};
    for (size_t i = 0; i < sizeof(twice) / sizeof(twice[0]); i++) {
        sess_cookie_one t = {0};
        sess_cookie_pick(&t, twice[i], strlen(twice[i]), "sid");
        if (!t.ambiguous)
            fail_msg("one value in: %s", twice[i]);
    }
    /* Other names and look-alikes do not count. */
    sess_cookie_one u = {0};
    const char *h = "sidx=1; xsid=2; SID=3; sid=OK; __Host-sid=4";
    sess_cookie_pick(&u, h, strlen(h), "sid");
    assert_false(u.ambiguous);
    assert_int_equal(u.len, 2);
    sess_cookie_one none = {0};
    sess_cookie_pick(&none, "a=1", 3, "sid");
    assert_null(none.value);
    assert_false(none.ambiguous);
}

/* A Path other than "/" is only for clearing; it is refused when it could break the header. */
static void format_path(void **state)
{
    (void)state;
    char out[512];
    sess_cookie_opts o = {"sid", "example.test", "lax", true, "/auth"};
    assert_true(sess_cookie_format(&o, "", 0, out, sizeof(out)) > 0);
    assert_string_equal(out, "sid=; Path=/auth; Domain=example.test; Max-Age=0; Secure; HttpOnly; "
                             "SameSite=Lax");
    static const char *const bad[] = {"auth", "/a;b", "/a\r\nSet-Cookie: x=1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        o.path = bad[i];
        assert_int_equal(sess_cookie_format(&o, "", 0, out, sizeof(out)), -1);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(format_session_cookie), cmocka_unit_test(format_bounds),
        cmocka_unit_test(find_cookie),           cmocka_unit_test(pick_one),
        cmocka_unit_test(format_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
