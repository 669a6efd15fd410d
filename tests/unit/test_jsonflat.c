/* test_jsonflat.c - the flat-object shortcut (src/core/jsonflat.h) against jansson, the parser
 * it stands in front of: over generated and mutated texts, whenever the shortcut answers, its
 * object must be the one json_loadb(JSON_REJECT_DUPLICATES) builds, keys in the same order; and
 * it must answer the common bodies (else it saves nothing). */
#include "harness.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/jsonflat.h"

static unsigned long long rng_state = 0x9e3779b97f4a7c15ULL;

static unsigned int rnd(unsigned int n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (unsigned int)(rng_state % n);
}

static size_t handled, refused;

/* The property: NULL (jansson decides), or exactly jansson's object. */
static void compare(const char *text, size_t len)
{
    json_t *fast = sessd_jsonflat_parse(text, len);
    if (fast == NULL) {
        refused++;
        return;
    }
    handled++;
    json_error_t err;
    json_t *ref = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
    if (ref == NULL || !json_is_object(ref) || !json_equal(fast, ref))
        fail_msg("the shortcut accepted what jansson reads differently: %.*s", (int)len, text);
    void *a = json_object_iter(fast), *b = json_object_iter(ref);
    while (a != NULL && b != NULL) {
        assert_string_equal(json_object_iter_key(a), json_object_iter_key(b));
        a = json_object_iter_next(fast, a);
        b = json_object_iter_next(ref, b);
    }
    assert_true(a == NULL && b == NULL);
    json_decref(fast);
    json_decref(ref);
}

static const char *const keys[] = {"token", "touch", "method", "origin", "a", "", "csrf_token"};
static const char *const values[] = {
    "\"abc\"",
    "\"\"",
    "true",
    "false",
    "null",
    "\"x y~!\"",
    "\"Zm9vYmFyYmF6cXV4cXV1eHh4eHh4eHh4eHh4eHh4eHh4 ~}|{`_^]@?>=<;:/.-,+*)('&%$#! \"",
    "\"abcdefghij\x7fklmnop\"",
    "\"abcdefghijklmn\xc3\xa9op\"",
    "\"abcdefghijkl\\\"mnop\"",
    "\"abcdefghijklmnopq\x1f\"",
    "1",
    "-0",
    "1.5e3",
    "{}",
    "[]",
    "{\"k\":\"v\"}",
    "[true]",
    "\"a\\\"b\"",
    "\"\\u0041\"",
    "\"\\u00e9\"",
    "\"\xc3\xa9\"",
    "\"\xff\"",
    "\"\xc0\xaf\"",
    "\"\xed\xa0\x80\"",
    "\"\x01\"",
    "\"\x7f\"",
    "tru",
    "nul",
    "falsey",
    "True",
    "\"unterminated",
    "'single'",
};
static const char *const spaces[] = {"",     "",   "",   " ",  "\t",      "\n",
                                     "\r\n", "  ", "\f", "\v", "\xc2\xa0"};

/* A text close to a flat object: random members, values and whitespace; unless `clean`, now
 * and then odd whitespace, odd values, or a missing or doubled comma, colon or brace. */
static size_t generate(char *out, size_t cap, bool clean)
{
    size_t o = 0;
    const unsigned int nv = sizeof(values) / sizeof(values[0]);
    const unsigned int nk = sizeof(keys) / sizeof(keys[0]);
    /* Rare odd pieces: each a 1 in `odd` chance, never when clean. */
    const unsigned int odd = clean ? 0 : 12;
#define ODD() (odd != 0 && rnd(odd) == 0)
#define SPACE() PUT(ODD() ? spaces[rnd(11)] : spaces[rnd(8)])
#define PUT(s)                                                                                     \
    do {                                                                                           \
        const char *s_ = (s);                                                                      \
        size_t l_ = strlen(s_);                                                                    \
        if (o + l_ < cap) {                                                                        \
            memcpy(out + o, s_, l_);                                                               \
            o += l_;                                                                               \
        }                                                                                          \
    } while (0)
    SPACE();
    if (!ODD())
        PUT("{");
    unsigned int members = rnd(6);
    for (unsigned int m = 0; m < members; m++) {
        SPACE();
        if (m > 0 && !ODD())
            PUT(",");
        if (m > 0 && ODD())
            PUT(",");
        SPACE();
        char key[32];
        /* Now and then a key seen before: a duplicate. */
        if (rnd(8) == 0)
            snprintf(key, sizeof(key), "%s", keys[rnd(nk)]);
        else
            snprintf(key, sizeof(key), "%s_%u", keys[rnd(nk)], m);
        PUT("\"");
        PUT(key);
        PUT("\"");
        SPACE();
        if (!ODD())
            PUT(":");
        SPACE();
        PUT(values[ODD() ? rnd(nv) : rnd(7)]);
    }
    SPACE();
    if (!ODD())
        PUT("}");
    if (ODD())
        PUT(rnd(2) ? "}" : "x");
    SPACE();
#undef PUT
#undef SPACE
#undef ODD
    return o;
}

static void generated_texts(void **state)
{
    (void)state;
    char buf[1024];
    handled = refused = 0;
    for (int i = 0; i < 200000; i++) {
        size_t n = generate(buf, sizeof(buf), rnd(2) == 0);
        compare(buf, n);
        /* The same text mutated: a byte changed, dropped or cut off. */
        if (n > 0) {
            char mut[1024];
            memcpy(mut, buf, n);
            size_t at = rnd((unsigned int)n);
            switch (rnd(3)) {
            case 0:
                mut[at] = (char)rnd(256);
                compare(mut, n);
                break;
            case 1:
                memmove(mut + at, mut + at + 1, n - at - 1);
                compare(mut, n - 1);
                break;
            default:
                compare(mut, at);
                break;
            }
        }
    }
    /* Not vacuous: both ways were taken many times. */
    print_message("shortcut answered %zu texts, left %zu to jansson\n", handled, refused);
    assert_true(handled > 50000);
    assert_true(refused > 50000);
}

/* The bodies the hot endpoints get are answered by the shortcut. */
static void common_bodies(void **state)
{
    (void)state;
    const char *const ok[] = {
        "{\"token\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\",\"touch\":false}",
        "{}",
        " { } ",
        "{\"token\" : \"t\" ,\r\n \"touch\":true, \"method\":\"POST\", \"origin\":null}\n",
        "{\"refresh_token\":\"r\"}",
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        json_t *j = sessd_jsonflat_parse(ok[i], strlen(ok[i]));
        assert_non_null(j);
        compare(ok[i], strlen(ok[i]));
        json_decref(j);
    }
    json_t *j = sessd_jsonflat_parse(ok[0], strlen(ok[0]));
    assert_int_equal(json_object_size(j), 2);
    assert_int_equal(json_string_length(json_object_get(j, "token")), 43);
    assert_true(json_is_false(json_object_get(j, "touch")));
    json_decref(j);
}

/* {"k0":true,"k1":true,...} with `count` members; its length. */
static size_t members_text(char *text, size_t cap, int count)
{
    size_t o = 0;
    text[o++] = '{';
    for (int m = 0; m < count; m++)
        o += (size_t)snprintf(text + o, cap - o, "%s\"k%d\":true", m ? "," : "", m);
    text[o++] = '}';
    return o;
}

/* What it must leave to jansson: duplicates (jansson refuses them), anything malformed, and
 * anything it does not build itself; also past its bounds. */
static void left_to_jansson(void **state)
{
    (void)state;
    const char *const no[] = {
        "{\"a\":\"x\",\"a\":\"y\"}",
        "{\"a\":true,\"b\":1,\"a\":null}",
        "{",
        "{\"a\":}",
        "",
        "{\"a\":\"b\"}}",
        "{'a':'b'}",
        "[]",
        "\"a\"",
        "null",
        "{\"a\":\"\\n\"}",
        "{\"a\":\"\xc3\xa9\"}",
        "{\"a\":1}",
        "{\"a\":{}}",
        "{\"a\":\"b\",}",
        "{,}",
        "{\"a\":\"b\"} x",
        "\xef\xbb\xbf{}",
    };
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
        assert_null(sessd_jsonflat_parse(no[i], strlen(no[i])));
    assert_null(sessd_jsonflat_parse("{\"a\":\"b\"\0}", 10));
    assert_null(sessd_jsonflat_parse("{\"a\0\":\"b\"}", 10));
    assert_null(sessd_jsonflat_parse(NULL, 0));
    /* Members: the bound and one past it. */
    char text[512];
    size_t o = members_text(text, sizeof(text), SESSD_JSONFLAT_MAX_MEMBERS + 1);
    assert_null(sessd_jsonflat_parse(text, o));
    o = members_text(text, sizeof(text), SESSD_JSONFLAT_MAX_MEMBERS);
    compare(text, o);
    json_t *j = sessd_jsonflat_parse(text, o);
    assert_int_equal(json_object_size(j), SESSD_JSONFLAT_MAX_MEMBERS);
    json_decref(j);
    /* Bytes: the bound and one past it. */
    char *big = malloc(SESSD_JSONFLAT_MAX_BYTES + 1);
    assert_non_null(big);
    memset(big, ' ', SESSD_JSONFLAT_MAX_BYTES + 1);
    memcpy(big, "{\"a\":\"", 6);
    memcpy(big + SESSD_JSONFLAT_MAX_BYTES - 2, "\"}", 2);
    j = sessd_jsonflat_parse(big, SESSD_JSONFLAT_MAX_BYTES);
    assert_non_null(j);
    assert_int_equal(json_string_length(json_object_get(j, "a")), SESSD_JSONFLAT_MAX_BYTES - 8);
    json_decref(j);
    assert_null(sessd_jsonflat_parse(big, SESSD_JSONFLAT_MAX_BYTES + 1));
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(common_bodies),
        cmocka_unit_test(left_to_jansson),
        cmocka_unit_test(generated_texts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
