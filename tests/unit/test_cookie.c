/* test_cookie.c - Set-Cookie formatting and Cookie header lookup. */
#include "harness.h"

#include <string.h>

#include "sessiond/cookie.h"

static void format_session_cookie(void **state)
{
    (void)state;
    char out[512];
    sess_cookie_opts o = {"sid", NULL, "lax", false};
    assert_true(sess_cookie_format(&o, "VALUE", -1, out, sizeof(out)) > 0);
    assert_string_equal(out, "sid=VALUE; Path=/; HttpOnly; SameSite=Lax");
    sess_cookie_opts h = {"__Host-sid", NULL, "strict", true};
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
    sess_cookie_opts o = {"sid", NULL, "lax", false};
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(format_session_cookie),
        cmocka_unit_test(format_bounds),
        cmocka_unit_test(find_cookie),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
