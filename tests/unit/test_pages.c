/* test_pages.c - the pure parts of the pages: the string tables, language tags, the
 * Accept-Language parser (bounded: at its limit and one past it), the preferences document
 * reader and patch writer, and the anonymous preferences cookie. */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/i18n.h"
#include "http/prefs.h"
#include "sessiond/error.h"
#include "sessiond/session.h"

#define NEG(s) sessd_lang_negotiate((s), strlen(s))

static void tables_complete(void **state)
{
    (void)state;
    for (int l = 0; l < SESSD_LANG_COUNT; l++) {
        for (int m = 0; m < SESSD_MSG_COUNT; m++) {
            const char *s = sessd_msg((enum sessd_lang)l, (enum sessd_msg)m);
            assert_non_null(s);
            assert_true(strlen(s) > 0);
            /* A translation differs from English except for words both languages share. */
            if (l != SESSD_LANG_EN && m != SESSD_MSG_ADDRESS)
                assert_string_not_equal(s, sessd_msg(SESSD_LANG_EN, (enum sessd_msg)m));
        }
    }
    assert_string_equal(sessd_lang_tag(SESSD_LANG_FR), "fr");
}

static void tags(void **state)
{
    (void)state;
    assert_int_equal(sessd_lang_from_tag("fr", 2), SESSD_LANG_FR);
    assert_int_equal(sessd_lang_from_tag("DE-at", 5), SESSD_LANG_DE);
    assert_int_equal(sessd_lang_from_tag("en-GB-oxendict", 14), SESSD_LANG_EN);
    assert_int_equal(sessd_lang_from_tag("fra", 3), -1);
    assert_int_equal(sessd_lang_from_tag("es", 2), -1);
    assert_int_equal(sessd_lang_from_tag("", 0), -1);
    assert_int_equal(sessd_lang_from_tag("f r", 3), -1);
    assert_int_equal(sessd_lang_from_tag("fr;", 3), -1);
    char at[SESSD_LANG_TAG_MAX + 2];
    memset(at, 'a', sizeof(at));
    memcpy(at, "fr-", 3);
    assert_int_equal(sessd_lang_from_tag(at, SESSD_LANG_TAG_MAX), SESSD_LANG_FR);
    assert_int_equal(sessd_lang_from_tag(at, SESSD_LANG_TAG_MAX + 1), -1);
}

static void negotiate(void **state)
{
    (void)state;
    assert_int_equal(NEG("fr"), SESSD_LANG_FR);
    assert_int_equal(NEG("de-DE,de;q=0.9,en;q=0.8"), SESSD_LANG_DE);
    assert_int_equal(NEG("de;q=0.5, fr;q=0.8"), SESSD_LANG_FR);
    assert_int_equal(NEG("en;q=0.1, de-AT;q=0.2"), SESSD_LANG_DE);
    assert_int_equal(NEG("fr;q=0.500, de;q=0.5"), SESSD_LANG_FR); /* a tie: the earlier */
    assert_int_equal(NEG("fr;q=0.501,de;q=0.5"), SESSD_LANG_FR);
    assert_int_equal(NEG("de;q=0.5,fr;q=0.501"), SESSD_LANG_FR);
    assert_int_equal(NEG("fr;q=0, de"), SESSD_LANG_DE);
    assert_int_equal(NEG("fr;q=0"), -1);
    assert_int_equal(NEG("fr;q=0.000"), -1);
    assert_int_equal(NEG("es, it"), -1);
    assert_int_equal(NEG("*"), SESSD_LANG_EN);
    assert_int_equal(NEG("es,*;q=0.1,de;q=0.2"), SESSD_LANG_DE);
    assert_int_equal(NEG("  fr ; q=0.7 ,de;Q=0.6"), SESSD_LANG_FR);
    assert_int_equal(NEG(""), -1);
    assert_int_equal(sessd_lang_negotiate(NULL, 0), -1);
    /* Malformed weights are skipped, not read as 1. */
    assert_int_equal(NEG("fr;q=2, de;q=0.3"), SESSD_LANG_DE);
    assert_int_equal(NEG("fr;q=1.5, de;q=0.3"), SESSD_LANG_DE);
    assert_int_equal(NEG("fr;q=0.1234, de;q=0.3"), SESSD_LANG_DE);
    assert_int_equal(NEG("fr;q=, de;q=0.3"), SESSD_LANG_DE);
    assert_int_equal(NEG("fr;level=1, de;q=0.3"), SESSD_LANG_DE);
    assert_int_equal(NEG("fr;q=1.000"), SESSD_LANG_FR);
    assert_int_equal(NEG(",,, ,fr"), SESSD_LANG_FR);
}

static void negotiate_bounds(void **state)
{
    (void)state;
    char *v = malloc(SESSD_ACCEPT_LANGUAGE_MAX + 2);
    assert_non_null(v);
    /* At the limit: "x,x,x,...,fr" of exactly SESSD_ACCEPT_LANGUAGE_MAX bytes is read whole. */
    memset(v, ',', SESSD_ACCEPT_LANGUAGE_MAX + 1);
    for (size_t i = 0; i < SESSD_ACCEPT_LANGUAGE_MAX; i += 2)
        v[i] = 'x';
    memcpy(v + SESSD_ACCEPT_LANGUAGE_MAX - 2, "fr", 2);
    assert_int_equal(sessd_lang_negotiate(v, SESSD_ACCEPT_LANGUAGE_MAX), SESSD_LANG_FR);
    /* The same item at the end of a value one byte longer: ignored whole. */
    memset(v, ',', SESSD_ACCEPT_LANGUAGE_MAX + 1);
    memcpy(v + SESSD_ACCEPT_LANGUAGE_MAX - 1, "fr", 2);
    assert_int_equal(sessd_lang_negotiate(v + 1, SESSD_ACCEPT_LANGUAGE_MAX), SESSD_LANG_FR);
    assert_int_equal(sessd_lang_negotiate(v, SESSD_ACCEPT_LANGUAGE_MAX + 1), -1);
    /* One long item, not a tag. */
    memset(v, 'a', SESSD_ACCEPT_LANGUAGE_MAX);
    assert_int_equal(sessd_lang_negotiate(v, SESSD_ACCEPT_LANGUAGE_MAX), -1);
    free(v);
}

static void prefs_json(void **state)
{
    (void)state;
    sessd_prefs p;
    char out[SESSD_PREFS_JSON_MAX];
    const char *doc = "{\"language\":\"fr-CA\",\"theme\":\"dark\",\"font_size\":20,\"x\":1}";
    sessd_prefs_from_json(doc, strlen(doc), &p);
    assert_string_equal(p.language, "fr-CA");
    assert_string_equal(p.theme, "dark");
    assert_string_equal(p.font, "large");
    doc = "{\"language\":\"es\",\"theme\":\"neon\",\"font_size\":\"huge\"}";
    sessd_prefs_from_json(doc, strlen(doc), &p);
    assert_string_equal(p.language, "");
    assert_string_equal(p.theme, "");
    assert_string_equal(p.font, "");
    sessd_prefs_from_json("[1]", 3, &p);
    assert_string_equal(p.theme, "");

    p = (sessd_prefs){"de", "", "x-large"};
    size_t n = sessd_prefs_to_json(&p, false, out);
    assert_string_equal(out, "{\"language\":\"de\",\"font_size\":\"x-large\"}");
    assert_int_equal(n, strlen(out));
    sessd_prefs_to_json(&p, true, out);
    assert_string_equal(out, "{\"language\":\"de\",\"theme\":null,\"font_size\":\"x-large\"}");
    p = (sessd_prefs){"", "", ""};
    assert_int_equal(sessd_prefs_to_json(&p, false, out), 0);
    /* The longest patch fits. */
    memset(&p, 0, sizeof(p));
    memset(p.language, 'a', SESSD_LANG_TAG_MAX);
    memcpy(p.language, "fr-", 3);
    strcpy(p.theme, "system");
    strcpy(p.font, "x-large");
    n = sessd_prefs_to_json(&p, true, out);
    assert_int_equal(n, strlen(out));
    assert_true(out[n - 1] == '}');
}

static void prefs_cookie(void **state)
{
    (void)state;
    sess_store *st;
    sess_ctx *ctx;
    char err[128], v[SESSD_PREFS_COOKIE_MAX + 1];
    uint8_t key[SESS_KEY_BYTES] = {7};
    sess_policy pol = {.idle_timeout = 600, .absolute_timeout = 3600, .max_per_user = 5};
    assert_int_equal(sess_store_memory_open(NULL, &st, err, sizeof(err)), 0);
    assert_int_equal(sess_ctx_new(st, key, &pol, &ctx), 0);
    sessd_prefs p = {"de", "dark", "large"}, q;
    size_t n = sessd_prefs_cookie_encode(ctx, &p, v);
    assert_int_equal(n, strlen(v));
    assert_int_equal(sessd_prefs_cookie_decode(ctx, v, n, &q), 0);
    assert_string_equal(q.language, "de");
    assert_string_equal(q.theme, "dark");
    assert_string_equal(q.font, "large");
    /* Changed value, truncated MAC, extra byte, other key: refused, nothing filled. */
    v[0] = 'f';
    v[1] = 'r';
    assert_int_equal(sessd_prefs_cookie_decode(ctx, v, n, &q), -1);
    assert_string_equal(q.language, "");
    v[0] = 'd';
    v[1] = 'e';
    assert_int_equal(sessd_prefs_cookie_decode(ctx, v, n - 1, &q), -1);
    assert_int_equal(sessd_prefs_cookie_decode(ctx, "...", 3, &q), -1);
    assert_int_equal(sessd_prefs_cookie_decode(ctx, "", 0, &q), -1);
    /* An invalid value is refused even with a good MAC. */
    sessd_prefs bad = {"de", "neon", ""};
    n = sessd_prefs_cookie_encode(ctx, &bad, v);
    assert_int_equal(sessd_prefs_cookie_decode(ctx, v, n, &q), -1);
    /* The longest valid cookie fits the bound; one byte more is refused unread. */
    sessd_prefs big = {"", "system", "x-large"};
    memset(big.language, 'a', SESSD_LANG_TAG_MAX);
    memcpy(big.language, "fr-", 3);
    n = sessd_prefs_cookie_encode(ctx, &big, v);
    assert_true(n <= SESSD_PREFS_COOKIE_MAX);
    assert_int_equal(sessd_prefs_cookie_decode(ctx, v, n, &q), 0);
    char *longer = calloc(1, SESSD_PREFS_COOKIE_MAX + 2);
    assert_non_null(longer);
    memset(longer, 'a', SESSD_PREFS_COOKIE_MAX + 1);
    assert_int_equal(sessd_prefs_cookie_decode(ctx, longer, SESSD_PREFS_COOKIE_MAX + 1, &q), -1);
    free(longer);
    sess_ctx_free(ctx);
    sess_store_close(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tables_complete), cmocka_unit_test(tags),
        cmocka_unit_test(negotiate),       cmocka_unit_test(negotiate_bounds),
        cmocka_unit_test(prefs_json),      cmocka_unit_test(prefs_cookie),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
