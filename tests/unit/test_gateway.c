/* test_gateway.c - the pure parts of the browser-facing endpoints: rule matching and globs, the
 * rd= open-redirect check, identity header sanitising, form parsing, and login throttling. */
#include "harness.h"

#include <stdio.h>
#include <string.h>

#include "http/auth.h"
#include "core/config.h"
#include "core/redirect.h"
#include "core/rules.h"
#include "core/throttle.h"
#include "sessiond/crypto.h"

static void glob_cases(void **state)
{
    (void)state;
    assert_true(sessd_glob("", "/x", 2));
    assert_true(sessd_glob("*", "", 0));
    assert_true(sessd_glob("/api/*", "/api/v1/x", 9));
    assert_false(sessd_glob("/api/*", "/apix", 5));
    assert_true(sessd_glob("/a?c", "/abc", 4));
    assert_false(sessd_glob("/a?c", "/ac", 3));
    assert_true(sessd_glob("*.css", "/s/site.css", 11));
    assert_false(sessd_glob("*.css", "/s/site.cssx", 12));
    assert_true(sessd_glob("/a/*/c/*", "/a/b/c/d", 8));
    assert_false(sessd_glob("/exact", "/exact/", 7));
    /* A pathological pattern against a long path ends (bounded backtracking). */
    static char s[4096];
    memset(s, 'a', sizeof(s));
    assert_false(sessd_glob("*a*a*a*a*a*b", s, sizeof(s)));
}

/* http_head_framing_ambiguous: one way to frame the body, or the request is refused. */
static void framing(void **state)
{
    (void)state;
    static const char *const ok[] = {
        "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "POST / HTTP/1.1\r\ntransfer-encoding:  Chunked \r\n\r\n",
        "\r\nPOST / HTTP/1.1\r\ncontent-length: 0\r\n\r\n",
        "POST / HTTP/1.1\nContent-Length: 1\n\nx",
        /* Only the head counts: a body that looks like headers is not read. */
        "POST / HTTP/1.1\r\nContent-Length: 40\r\n\r\nContent-Length: 2\r\nContent-Length: 3\r\n",
        "POST / HTTP/1.1\r\nX-Content-Length: 1\r\nContent-Lengthy: 2\r\nContent-Length: "
        "3\r\n\r\n"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        if (http_head_framing_ambiguous(ok[i], strlen(ok[i])))
            fail_msg("refused: %s", ok[i]);
    }
    static const char *const bad[] = {
        "POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: identity\r\n\r\n",
        /* a folded line continues the header before it */
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n identity\r\n\r\n",
        "POST / HTTP/1.1\r\nX-A: 1\r\n\tContent-Length: 5\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: 5\r\n", /* no end of the head */
        ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (!http_head_framing_ambiguous(bad[i], strlen(bad[i])))
            fail_msg("accepted: %s", bad[i]);
    }
}

static void host_normalisation(void **state)
{
    (void)state;
    char out[32];
    assert_int_equal(sessd_normalize_host("Admin.Test.", 11, out, sizeof(out)), 10);
    assert_string_equal(out, "admin.test");
    assert_true(sessd_normalize_host("admin.test:8080", 15, out, sizeof(out)) > 0);
    assert_string_equal(out, "admin.test");
    assert_true(sessd_normalize_host("[::1]:80", 8, out, sizeof(out)) > 0);
    assert_string_equal(out, "[::1]");
    static const char *const bad[] = {"", ":80", "a b", "a:x", "[::1", "[zz]", "a@b", "[::1]x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(sessd_normalize_host(bad[i], strlen(bad[i]), out, sizeof(out)), -1);
}

static void roles(void **state)
{
    (void)state;
    assert_true(sessd_has_role("admin,dev", "dev"));
    assert_true(sessd_has_role("admin", "admin"));
    assert_false(sessd_has_role("administrator", "admin"));
    assert_false(sessd_has_role("admin,dev", "de"));
    assert_false(sessd_has_role("", "admin"));
}

static sessd_rule *add_rule(sessd_config *c, const char *name, const char *host, const char *path,
                            const char *methods, const char *policy)
{
    sessd_rule *r = &c->rules[c->nrules++];
    memset(r, 0, sizeof(*r));
    snprintf(r->name, sizeof(r->name), "%s", name);
    snprintf(r->host, sizeof(r->host), "%s", host);
    snprintf(r->path, sizeof(r->path), "%s", path);
    snprintf(r->methods, sizeof(r->methods), "%s", methods);
    snprintf(r->policy, sizeof(r->policy), "%s", policy);
    r->touch = true;
    return r;
}

#define MATCH(c, host, path, method, acc)                                                          \
    sessd_rules_match((c), host, strlen(host), path, strlen(path), method, strlen(method), (acc))

static void rule_matching(void **state)
{
    (void)state;
    static sessd_config c;
    sessd_access a;
    memset(&c, 0, sizeof(c));
    /* No rules: deny. */
    assert_int_equal(MATCH(&c, "app.test", "/", "GET", &a), -1);
    assert_int_equal(a.kind, SESSD_POLICY_DENY);

    add_rule(&c, "assets", "", "/static/*", "GET,HEAD", "public");
    add_rule(&c, "admin", "app.test", "/admin/*", "", "role:admin")->touch = false;
    add_rule(&c, "pay", "", "/pay/*", "", "fresh:10m");
    add_rule(&c, "rest", "app.test", "", "", "authenticated");

    assert_int_equal(MATCH(&c, "other.test", "/static/x.css", "GET", &a), 0);
    assert_int_equal(a.kind, SESSD_POLICY_PUBLIC);
    /* Methods restrict: a POST to /static is not public; nothing else matches other.test. */
    assert_int_equal(MATCH(&c, "other.test", "/static/x.css", "POST", &a), -1);
    assert_int_equal(MATCH(&c, "app.test", "/Admin/users", "DELETE", &a),
                     1); /* normalised host; any case */
    assert_int_equal(a.kind, SESSD_POLICY_ROLE);
    assert_string_equal(a.role, "admin");
    assert_false(a.touch);
    assert_int_equal(MATCH(&c, "x", "/pay/now", "POST", &a), 2);
    assert_int_equal(a.kind, SESSD_POLICY_FRESH);
    assert_int_equal(a.fresh, 600);
    assert_int_equal(MATCH(&c, "app.test", "/anything", "GET", &a), 3);
    assert_int_equal(a.kind, SESSD_POLICY_AUTHENTICATED);
    assert_true(a.touch);
    assert_int_equal(MATCH(&c, "evil.test", "/anything", "GET", &a), -1);
    assert_int_equal(a.kind, SESSD_POLICY_DENY);
    /* A host with a prefix of the rule's host is another host. */
    assert_int_equal(MATCH(&c, "app.test.evil", "/anything", "GET", &a), -1);
}

#define PUB "https://app.example.com"
#define ALLOWED "https://other.example.com, http://localhost:3000"

static void redirect_accepts(void **state)
{
    (void)state;
    static const char *const ok[] = {
        "/",
        "/app",
        "/app?x=1&y=2#frag",
        "/%E2%82%AC",
        "https://app.example.com",
        "https://app.example.com/",
        "HTTPS://APP.EXAMPLE.COM/x?y",
        "https://other.example.com/path",
        "http://localhost:3000/",
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        if (!sessd_redirect_ok(ok[i], strlen(ok[i]), PUB, ALLOWED))
            fail_msg("refused a safe target: %s", ok[i]);
}

static void redirect_refuses(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "//evil.com",
        "//evil.com/x",
        "///evil.com",
        "/\\evil.com",
        "\\\\evil.com",
        "\\/evil.com",
        "/%2Fevil.com",
        "/%2fevil.com",
        "%2F%2Fevil.com",
        "/%5Cevil.com",
        "/%5cevil.com",
        "https://evil.com",
        "http://app.example.com", /* another scheme is another origin */
        "https://app.example.com.evil.com/",
        "https://app.example.com@evil.com/",
        "https://user:pw@app.example.com/",
        "https://evil.com#https://app.example.com",
        "https:/evil.com",
        "https:evil.com",
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "/app\r\nSet-Cookie: x=y",
        "/app%0D%0ASet-Cookie:%20x=y",
        "/app%0aX",
        "/app\tx",
        " /app",
        "/app%00",
        "/%09/evil.com",
        "app",
        "evil.com",
        "https://app.example.com//evil.com",
        "/%",
        "/%zz",
        "",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (sessd_redirect_ok(bad[i], strlen(bad[i]), PUB, ALLOWED))
            fail_msg("accepted an unsafe target: %s", bad[i]);
}

/* Bounds: SESSD_RD_MAX bytes are accepted, one more is refused. */
static void redirect_refuses_dot_segments(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "/.//evil.test", "/%2e%2e//evil.test", "/a/../..//evil.test", "/./x", "/x/..", "/a/b/../c"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_false(sessd_redirect_ok(bad[i], strlen(bad[i]), "http://app.test", ""));
    assert_true(sessd_redirect_ok("/a.b/..c/?x=/../", 16, "http://app.test", ""));
}

static void redirect_bounds(void **state)
{
    (void)state;
    static char rd[SESSD_RD_MAX + 2];
    memset(rd, 'a', sizeof(rd) - 1);
    rd[0] = '/';
    assert_true(sessd_redirect_ok(rd, SESSD_RD_MAX, PUB, ""));
    assert_false(sessd_redirect_ok(rd, SESSD_RD_MAX + 1, PUB, ""));
}

static void sanitize(void **state)
{
    (void)state;
    char out[SESSD_HEADER_VALUE_MAX + 1];
    assert_int_equal(auth_sanitize("a\r\nb\tc\x7f"
                                   "d",
                                   8, out, sizeof(out)),
                     4);
    assert_string_equal(out, "abcd");
    static char big[SESSD_HEADER_VALUE_MAX + 10];
    memset(big, 'x', sizeof(big));
    assert_int_equal(auth_sanitize(big, SESSD_HEADER_VALUE_MAX, out, sizeof(out)),
                     SESSD_HEADER_VALUE_MAX);
    assert_int_equal(auth_sanitize(big, sizeof(big), out, sizeof(out)), SESSD_HEADER_VALUE_MAX);
    /* A two-byte character cut by the cap is dropped whole. */
    big[SESSD_HEADER_VALUE_MAX - 1] = (char)0xc3;
    big[SESSD_HEADER_VALUE_MAX] = (char)0xa9;
    assert_int_equal(auth_sanitize(big, sizeof(big), out, sizeof(out)), SESSD_HEADER_VALUE_MAX - 1);
}

static void form_values(void **state)
{
    (void)state;
    char out[16];
    const char *f = "username=al%20ice&password=a+b%26c&rd=%2Fx&empty=&bad=%zz";
    assert_int_equal(auth_form_value(f, strlen(f), "username", out, sizeof(out), false), 6);
    assert_string_equal(out, "al ice");
    assert_int_equal(auth_form_value(f, strlen(f), "password", out, sizeof(out), false), 5);
    assert_string_equal(out, "a b&c");
    assert_int_equal(auth_form_value(f, strlen(f), "empty", out, sizeof(out), false), 0);
    assert_int_equal(auth_form_value(f, strlen(f), "missing", out, sizeof(out), false), -1);
    assert_int_equal(auth_form_value(f, strlen(f), "bad", out, sizeof(out), false), -2);
    assert_int_equal(auth_form_value(f, strlen(f), "user", out, sizeof(out), false), -1);
    /* cap - 1 bytes fit, one more does not. */
    assert_int_equal(auth_form_value("v=123456789012345", 17, "v", out, sizeof(out), false), 15);
    assert_int_equal(auth_form_value("v=1234567890123456", 18, "v", out, sizeof(out), false), -2);
    /* rd= of an unescaped login URL runs to the end. */
    const char *q = "rd=/app?x=1&y=2";
    assert_int_equal(auth_form_value(q, strlen(q), "rd", out, sizeof(out), true), 12);
    assert_string_equal(out, "/app?x=1&y=2");
}

static void throttling(void **state)
{
    (void)state;
    sessd_throttle_policy p = {.max_failures = 3, .window = 60, .lockout = 300};
    const int64_t t = 1700000000;
    assert_int_equal(sessd_throttle_wait(SESSD_THROTTLE_USER, "tom", t), 0);
    assert_int_equal(sessd_throttle_fail(SESSD_THROTTLE_USER, "tom", t, &p), 0);
    assert_int_equal(sessd_throttle_fail(SESSD_THROTTLE_USER, "tom", t + 1, &p), 0);
    assert_int_equal(sessd_throttle_wait(SESSD_THROTTLE_USER, "tom", t + 1), 0);
    assert_int_equal(sessd_throttle_fail(SESSD_THROTTLE_USER, "tom", t + 2, &p), 300);
    assert_int_equal(sessd_throttle_wait(SESSD_THROTTLE_USER, "tom", t + 2), 300);
    assert_int_equal(sessd_throttle_wait(SESSD_THROTTLE_USER, "tom", t + 301), 1);
    assert_int_equal(sessd_throttle_wait(SESSD_THROTTLE_USER, "tom", t + 302), 0);
    /* Kinds and keys are separate counters. */
    assert_int_equal(sessd_throttle_wait(SESSD_THROTTLE_ADDR, "tom", t + 2), 0);
    assert_int_equal(sessd_throttle_wait(SESSD_THROTTLE_USER, "tim", t + 2), 0);
    /* Failures older than the window do not add up. */
    assert_int_equal(sessd_throttle_fail(SESSD_THROTTLE_ADDR, "10.0.0.1", t, &p), 0);
    assert_int_equal(sessd_throttle_fail(SESSD_THROTTLE_ADDR, "10.0.0.1", t + 1, &p), 0);
    assert_int_equal(sessd_throttle_fail(SESSD_THROTTLE_ADDR, "10.0.0.1", t + 61, &p), 0);
    assert_int_equal(sessd_throttle_wait(SESSD_THROTTLE_ADDR, "10.0.0.1", t + 61), 0);
    /* A success forgets a user's failures. */
    assert_int_equal(sessd_throttle_fail(SESSD_THROTTLE_USER, "ann", t, &p), 0);
    assert_int_equal(sessd_throttle_fail(SESSD_THROTTLE_USER, "ann", t, &p), 0);
    sessd_throttle_reset(SESSD_THROTTLE_USER, "ann");
    assert_int_equal(sessd_throttle_fail(SESSD_THROTTLE_USER, "ann", t, &p), 0);
    assert_int_equal(sessd_throttle_wait(SESSD_THROTTLE_USER, "ann", t), 0);
    /* Many keys: the table stays bounded and keeps working. */
    char key[32];
    for (int i = 0; i < 3 * SESSD_THROTTLE_SLOTS; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        sessd_throttle_fail(SESSD_THROTTLE_ADDR, key, t + i, &p);
    }
    sessd_throttle_fail(SESSD_THROTTLE_USER, "last", t, &p);
    sessd_throttle_fail(SESSD_THROTTLE_USER, "last", t, &p);
    assert_int_equal(sessd_throttle_fail(SESSD_THROTTLE_USER, "last", t, &p), 300);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(framing),
        cmocka_unit_test(host_normalisation),
        cmocka_unit_test(glob_cases),
        cmocka_unit_test(roles),
        cmocka_unit_test(rule_matching),
        cmocka_unit_test(redirect_accepts),
        cmocka_unit_test(redirect_refuses),
        cmocka_unit_test(redirect_bounds),
        cmocka_unit_test(redirect_refuses_dot_segments),
        cmocka_unit_test(sanitize),
        cmocka_unit_test(form_values),
        cmocka_unit_test(throttling),
    };
    if (sess_crypto_init() != 0)
        return 1;
    return cmocka_run_group_tests_name("gateway", tests, NULL, NULL);
}
