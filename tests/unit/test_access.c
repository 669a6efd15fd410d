/* test_access.c - the access decision shared by /auth/verify and the nginx module (access.h). */
#include "harness.h"

#include <stdio.h>

#include <string.h>

#include "sessiond/access.h"
#include "sessiond/text.h"
#include "sessiond/crypto.h"
#include "sessiond/record.h"

static void a_record(sess_record *rec, char token[SESS_TOKEN_STRLEN + 1])
{
    sess_record_init(rec);
    strcpy(rec->user, "alice");
    strcpy(rec->roles, "dev,ops");
    rec->auth_time = 1000;
    memset(rec->csrf_secret, 7, sizeof(rec->csrf_secret));
    sess_csrf_token(rec->csrf_secret, token);
}

#define S(lit) ((sess_str){lit, sizeof(lit) - 1})

static enum sess_access_result decide(const sess_record *rec, const char *method,
                                      const sess_csrf_req *q, bool require_token)
{
    sess_csrf_policy p = {require_token, "https://app.example, https://other.example"};
    return sess_access_decide(rec, 1010, NULL, -1, method, strlen(method), q, &p);
}

static void roles_and_freshness(void **state)
{
    (void)state;
    sess_record rec;
    char tok[SESS_TOKEN_STRLEN + 1];
    sess_csrf_policy p = {false, ""};
    sess_csrf_req q = {0};
    a_record(&rec, tok);
    assert_int_equal(sess_access_decide(&rec, 1010, "ops", -1, "GET", 3, &q, &p),
                     SESS_ACCESS_ALLOW);
    assert_int_equal(sess_access_decide(&rec, 1010, "op", -1, "GET", 3, &q, &p),
                     SESS_ACCESS_NO_ROLE);
    assert_int_equal(sess_access_decide(&rec, 1010, "dev,ops", -1, "GET", 3, &q, &p),
                     SESS_ACCESS_NO_ROLE);
    assert_int_equal(sess_access_decide(&rec, 1010, NULL, 10, "GET", 3, &q, &p), SESS_ACCESS_ALLOW);
    assert_int_equal(sess_access_decide(&rec, 1011, NULL, 10, "GET", 3, &q, &p),
                     SESS_ACCESS_REAUTH);
    /* The role is checked first, then freshness, then CSRF. */
    assert_int_equal(sess_access_decide(&rec, 1011, "admin", 10, "POST", 4, &q, &p),
                     SESS_ACCESS_NO_ROLE);
    assert_int_equal(sess_access_decide(&rec, 1011, NULL, 10, "POST", 4, &q, &p),
                     SESS_ACCESS_REAUTH);
    assert_int_equal(sess_access_decide(&rec, 1010, NULL, 10, "POST", 4, &q, &p),
                     SESS_ACCESS_CSRF_FAILED);
}

static void safe_and_unsafe_methods(void **state)
{
    (void)state;
    assert_false(sess_unsafe_method("GET", 3));
    assert_false(sess_unsafe_method("HEAD", 4));
    assert_false(sess_unsafe_method("OPTIONS", 7));
    assert_true(sess_unsafe_method("POST", 4));
    assert_true(sess_unsafe_method("GETX", 4));
    assert_true(sess_unsafe_method("GE", 2));
    assert_true(sess_unsafe_method("", 0));
}

static void csrf_proofs(void **state)
{
    (void)state;
    sess_record rec;
    char tok[SESS_TOKEN_STRLEN + 1], bad[SESS_TOKEN_STRLEN + 1];
    a_record(&rec, tok);
    strcpy(bad, tok);
    bad[0] = bad[0] == 'A' ? 'B' : 'A';
    sess_csrf_req none = {.scheme = S("https"), .host = S("app.test:8443")};
    assert_int_equal(decide(&rec, "POST", &none, false), SESS_ACCESS_CSRF_FAILED);

    sess_csrf_req q = none;
    q.token = (sess_str){tok, SESS_TOKEN_STRLEN};
    assert_int_equal(decide(&rec, "DELETE", &q, true), SESS_ACCESS_ALLOW);
    q.site = S("cross-site"); /* the token wins over a cross-site browser */
    assert_int_equal(decide(&rec, "DELETE", &q, false), SESS_ACCESS_ALLOW);
    q.token = (sess_str){bad, SESS_TOKEN_STRLEN};
    assert_int_equal(decide(&rec, "DELETE", &q, false), SESS_ACCESS_CSRF_FAILED);
    q.token = (sess_str){tok, SESS_TOKEN_STRLEN - 1};
    assert_int_equal(decide(&rec, "DELETE", &q, false), SESS_ACCESS_CSRF_FAILED);

    sess_csrf_req b = none;
    b.site = S("same-origin");
    assert_int_equal(decide(&rec, "PUT", &b, false), SESS_ACCESS_ALLOW);
    assert_int_equal(decide(&rec, "PUT", &b, true), SESS_ACCESS_CSRF_FAILED);
    b.site = S("same-site");
    b.origin = S("https://app.test:8443"); /* Sec-Fetch-Site decides when it is sent */
    assert_int_equal(decide(&rec, "PUT", &b, false), SESS_ACCESS_CSRF_FAILED);

    sess_csrf_req o = none;
    o.origin = S("HTTPS://App.Test:8443");
    assert_int_equal(decide(&rec, "PATCH", &o, false), SESS_ACCESS_ALLOW);
    o.origin = S("http://app.test:8443");
    assert_int_equal(decide(&rec, "PATCH", &o, false), SESS_ACCESS_CSRF_FAILED);
    o.origin = S("https://app.test");
    assert_int_equal(decide(&rec, "PATCH", &o, false), SESS_ACCESS_CSRF_FAILED);
    o.origin = S("https://other.example");
    assert_int_equal(decide(&rec, "PATCH", &o, false), SESS_ACCESS_ALLOW);
    o.origin = S("https://other.example.evil");
    assert_int_equal(decide(&rec, "PATCH", &o, false), SESS_ACCESS_CSRF_FAILED);
    o.origin = S("null");
    assert_int_equal(decide(&rec, "PATCH", &o, false), SESS_ACCESS_CSRF_FAILED);
    sess_record_dispose(&rec);
}

/* The one comma-list membership test (allowed origins, rule methods, rd origins): whole
 * entries only, without case, spaces around entries ignored, empty entries never match. */
static void comma_lists(void **state)
{
    (void)state;
    const char *l = " https://a.test , HTTPS://B.test,,post";
    assert_true(sess_list_has(l, "https://a.test", 14));
    assert_true(sess_list_has(l, "https://b.test", 14));
    assert_true(sess_list_has(l, "POST", 4));
    assert_false(sess_list_has(l, "https://a.tes", 13));
    assert_false(sess_list_has(l, "https://a.test ", 15));
    assert_false(sess_list_has(l, "", 0));
    assert_false(sess_list_has("", "x", 1));
    assert_false(sess_list_has(NULL, "x", 1));
}

/* sess_canonical_target: what is judged (and how it reads), and every form that normalising
 * would change, each of which is refused. */
static void canonical_targets(void **state)
{
    (void)state;
    static const struct {
        const char *in, *path;
    } ok[] = {{"/", "/"},
              {"/a/b", "/a/b"},
              {"/admin/", "/admin/"},
              {"/static/a.css?v=1", "/static/a.css"},
              {"/a?x=/../b&y=%2e%2e", "/a"},
              {"/a?q=100%", "/a"},
              {"/caf%C3%A9", "/caf\xc3\xa9"},
              {"/caf\xc3\xa9", "/caf\xc3\xa9"},
              {"/a%20b", "/a b"},
              {"/a%2Bb%40", "/a+b@"},
              {"/%C4%B2%C3%85", "/\xc4\xb2\xc3\x85"},
              {"/.well-known/x", "/.well-known/x"},
              {"/a.../..b/...", "/a.../..b/..."},
              {"/a.b/c.d", "/a.b/c.d"},
              {"/!$&'()*+,=:@|^[]~-_", "/!$&'()*+,=:@|^[]~-_"},
              {"/Admin/X", "/Admin/X"}};
    char out[64];
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        int n = sess_canonical_target(ok[i].in, strlen(ok[i].in), out, sizeof(out));
        if (n < 0)
            fail_msg("refused a canonical target: %s", ok[i].in);
        assert_int_equal(n, (int)strlen(ok[i].path));
        assert_string_equal(out, ok[i].path);
    }
    static const char *const bad[] = {
        "", "admin", "*", "http://x/admin", "?a",
        /* dot segments, raw and escaped in any case */
        "/.", "/..", "/./admin", "/admin/.", "/admin/..", "/static/../admin/x",
        "/admin/users/../../static/a.css", "/static/%2e%2e/admin", "/static/%2E%2E/admin",
        "/static/.%2e/admin", "/static/%2e./admin", "/static/%2e/admin", "/a%2E",
        /* "//" anywhere */
        "//admin/x", "/admin//x", "/admin/x//",
        /* "#", raw in the path or the query */
        "/admin#/../static/x", "/admin#x", "/admin/x#/../../app", "/a?b#c", "/#",
        /* encoded "/" and "\\", raw "\\", ";" */
        "/a%2fb", "/a%2Fb", "/static%2F..%2Fadmin", "/a%5Cb", "/a%5cb", "/a\\b", "/admin;x/y",
        "/a%3Bb", "/admin%23x", "/admin%23/../static", "/a%3Fb",
        /* escapes normalisation would decode, or write in upper case */
        "/%61dmin", "/%41", "/a%7E", "/a%2D", "/a%5F", "/a%30", "/caf%c3%a9", "/a%3fb",
        /* "%" read twice, bad escapes */
        "/a%25b", "/a%252e%252e/x", "/a%", "/a%2", "/a%zz", "/a%G0", "/a%%41",
        /* NUL, controls and DEL, raw or escaped, in the path or the query */
        "/a%00b", "/a%0Ab", "/a%7F", "/a%C2%85", "/a\tb", "/a\x7f", "/a?x\ty", "/a?\x01",
        /* what a browser escapes */
        "/a b", "/a\"b", "/a<b", "/a>b", "/a`b", "/a{b", "/a}b",
        /* invalid, overlong or surrogate UTF-8, raw or escaped */
        "/%C0%AE%C0%AE/admin", "/%C0%AF", "/%E0%80%AE", "/%C3", "/%C3%28", "/%ED%A0%80",
        "/%F4%90%80%80", "/%FF", "/\xc0\xae", "/\xc3", "/\xff", "/caf\xc3%28",
        /* what Unicode case folding turns into ASCII letters (dotted and dotless i, long s,
         * Kelvin sign): rules fold ASCII only */
        "/adm%C4%B1n", "/%C4%B0", "/%C5%BFtatic", "/%E2%84%AA", "/adm\xc4\xb1n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (sess_canonical_target(bad[i], strlen(bad[i]), out, sizeof(out)) != -1)
            fail_msg("accepted a target that is not canonical: %s", bad[i]);
    }
    /* NUL inside the given length. */
    assert_int_equal(sess_canonical_target("/a\0b", 4, out, sizeof(out)), -1);
    /* At the bound and one past it: `cap` holds the path and its NUL. */
    char longp[70];
    memset(longp, 'a', sizeof(longp));
    longp[0] = '/';
    assert_int_equal(sess_canonical_target(longp, 63, out, sizeof(out)), 63);
    assert_int_equal(sess_canonical_target(longp, 64, out, sizeof(out)), -1);
    assert_int_equal(sess_canonical_target("/abcdef", 7, out, 4), -1);
}

/* text.h: the one hex reader and percent decoder every part uses. */
static void text_tools(void **state)
{
    (void)state;
    for (int c = 0; c < 256; c++) {
        int want = c >= '0' && c <= '9'   ? c - '0'
                   : c >= 'a' && c <= 'f' ? c - 'a' + 10
                   : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                          : -1;
        assert_int_equal(sess_hex_value(c), want);
    }
    char out[8];
    assert_int_equal(sess_percent_decode("a%41+b", 6, false, out, sizeof(out)), 4);
    assert_string_equal(out, "aA+b");
    assert_int_equal(sess_percent_decode("a%41+b", 6, true, out, sizeof(out)), 4);
    assert_string_equal(out, "aA b");
    assert_int_equal(sess_percent_decode("%00x", 4, false, out, sizeof(out)), 2);
    assert_memory_equal(out, "\0x", 3);
    static const char *const bad[] = {"%", "%4", "a%", "%zz", "%4g", "%%41"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(sess_percent_decode(bad[i], strlen(bad[i]), false, out, sizeof(out)), -1);
    /* At the bound (7 bytes and the NUL) and one past it. */
    assert_int_equal(sess_percent_decode("abcdefg", 7, false, out, sizeof(out)), 7);
    assert_int_equal(sess_percent_decode("abcdefgh", 8, false, out, sizeof(out)), -1);
    assert_int_equal(sess_percent_decode("", 0, false, out, 0), -1);
    assert_int_equal(sess_utf8_char((const unsigned char *)"\xc3\xa9", 2), 2);
    assert_int_equal(sess_utf8_char((const unsigned char *)"\xc3\xa9", 1), 0);
    assert_int_equal(sess_utf8_char((const unsigned char *)"\xc2\x85", 2), 0); /* C1 */
    assert_int_equal(sess_utf8_char((const unsigned char *)"\xc0\xae", 2), 0); /* overlong */
}

/* sess_i64_text against snprintf at the edges and across magnitudes. */
static void decimal_text(void **state)
{
    (void)state;
    int64_t cases[] = {0, 1, -1, 9, 10, 99, 1700000000, -1700000000, INT64_MAX, INT64_MIN};
    char got[SESS_I64_STRLEN + 1], want[32];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t n = sess_i64_text(cases[i], got);
        assert_int_equal(n, (size_t)snprintf(want, sizeof(want), "%lld", (long long)cases[i]));
        assert_string_equal(got, want);
    }
    for (int64_t v = 1; v > 0 && v < INT64_MAX / 7; v = v * 7 + 3) {
        sess_i64_text(v, got);
        snprintf(want, sizeof(want), "%lld", (long long)v);
        assert_string_equal(got, want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(roles_and_freshness), cmocka_unit_test(safe_and_unsafe_methods),
        cmocka_unit_test(csrf_proofs),         cmocka_unit_test(comma_lists),
        cmocka_unit_test(decimal_text),        cmocka_unit_test(canonical_targets),
        cmocka_unit_test(text_tools),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
