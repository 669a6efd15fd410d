/* test_jsonw.c - the answer writer (src/core/jsonw.h) against plain references: snprintf for
 * integers and hex, a byte-by-byte escaper for strings, and jansson reading the text back. */
#include "harness.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "core/jsonw.h"

/* The escaping the writer promises, one byte at a time. */
static size_t ref_escape(const char *s, size_t n, char *out)
{
    size_t o = 0;
    out[o++] = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            o += (size_t)sprintf(out + o, "\\u%04x", c);
        } else {
            out[o++] = (char)c;
        }
    }
    out[o++] = '"';
    out[o] = '\0';
    return o;
}

static void integers(void **state)
{
    (void)state;
    const int64_t v[] = {
        0,     1,          -1,     9,         10,        -10,           99,           100, -100,
        12345, 1764145200, -99999, INT64_MAX, INT64_MIN, INT64_MAX - 1, INT64_MIN + 1};
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        jsonw w;
        char want[32];
        jw_init(&w);
        jw_int(&w, v[i]);
        snprintf(want, sizeof(want), "%" PRId64, v[i]);
        assert_string_equal(w.buf, want);
        assert_int_equal(w.len, strlen(want));
        jw_free(&w);
    }
    /* Every power of ten and its neighbours, where a digit-pair loop goes wrong first. */
    for (int64_t p = 1; p <= INT64_MAX / 10; p *= 10)
        for (int64_t d = -1; d <= 1; d++) {
            jsonw w;
            char want[48];
            jw_init(&w);
            jw_int(&w, p + d);
            jw_int(&w, -(p + d));
            snprintf(want, sizeof(want), "%" PRId64 "%" PRId64, p + d, -(p + d));
            assert_string_equal(w.buf, want);
            jw_free(&w);
        }
}

/* jw_strn of `len` bytes writes what the reference escaper writes. */
static void escapes_like_ref(const char *in, size_t len)
{
    char want[256 * 6 + 3];
    assert_true(len <= 256);
    jsonw w;
    jw_init(&w);
    jw_strn(&w, in, len);
    size_t n = ref_escape(in, len, want);
    assert_int_equal(w.len, n);
    assert_memory_equal(w.buf, want, n + 1);
    jw_free(&w);
}

static void strings_every_byte(void **state)
{
    (void)state;
    char in[256];
    for (int i = 0; i < 256; i++)
        in[i] = (char)i;
    /* All bytes at once, each byte alone, and runs that start and end on an escape. */
    escapes_like_ref(in, sizeof(in));
    jsonw w;
    for (int i = 0; i < 256; i++) {
        char s[3] = {'a', (char)i, 'b'};
        jw_init(&w);
        jw_strn(&w, s + 1, 1);
        jw_strn(&w, s, 3);
        char w1[64], w2[32];
        ref_escape(s + 1, 1, w1);
        ref_escape(s, 3, w2);
        strcat(w1, w2);
        assert_string_equal(w.buf, w1);
        jw_free(&w);
    }
    /* Every byte at every place of a longer plain text: the scan's run of plain bytes ended at
     * each place. */
    for (int i = 0; i < 256; i++)
        for (size_t at = 0; at < 24; at++) {
            char s[24];
            memset(s, 'x', sizeof(s));
            s[at] = (char)i;
            escapes_like_ref(s, sizeof(s));
        }
    jw_init(&w);
    jw_str(&w, "");
    jw_str(&w, "plain text");
    assert_string_equal(w.buf, "\"\"\"plain text\"");
    jw_free(&w);
}

/* Past the inline buffer: the text moves to the heap intact, also for a secret, and a long
 * run of escapes (six bytes each) fits. */
static void growth(void **state)
{
    (void)state;
    for (int secret = 0; secret < 2; secret++) {
        jsonw w;
        jw_init(&w);
        w.secret = secret;
        jw_raw(&w, "[", 1);
        for (int i = 0; i < 500; i++) {
            if (i)
                jw_raw(&w, ",", 1);
            jw_int(&w, i * 1000003);
        }
        char quotes[3000];
        memset(quotes, '"', sizeof(quotes));
        jw_raw(&w, ",", 1);
        jw_strn(&w, quotes, sizeof(quotes));
        jw_raw(&w, "]", 1);
        assert_false(w.failed);
        assert_int_equal(strlen(w.buf), w.len);
        json_error_t err;
        json_t *j = json_loadb(w.buf, w.len, 0, &err);
        assert_non_null(j);
        assert_int_equal(json_array_size(j), 501);
        assert_int_equal(json_integer_value(json_array_get(j, 499)), 499 * 1000003);
        assert_int_equal(json_string_length(json_array_get(j, 500)), sizeof(quotes));
        json_decref(j);
        jw_free(&w);
        assert_null(w.buf);
        jw_free(&w); /* a second free is harmless */
    }
}

static void hex_keys_bools(void **state)
{
    (void)state;
    uint8_t b[256];
    char want[2 * 256 + 3];
    for (int i = 0; i < 256; i++)
        b[i] = (uint8_t)i;
    want[0] = '"';
    for (int i = 0; i < 256; i++)
        snprintf(want + 1 + 2 * i, 3, "%02x", i);
    strcpy(want + 513, "\"");
    jsonw w;
    jw_init(&w);
    jw_hex(&w, b, sizeof(b));
    assert_string_equal(w.buf, want);
    jw_free(&w);
    jw_init(&w);
    jw_raw(&w, "{", 1);
    JW_KEY(&w, "a_key", true);
    jw_bool(&w, true);
    JW_KEY(&w, "other", false);
    jw_bool(&w, false);
    JW_KEY(&w, "empty", false);
    jw_hex(&w, b, 0);
    JW_KEY(&w, "plain", false);
    jw_plain(&w, "Ab-_09xyz", 7);
    jw_raw(&w, "}", 1);
    assert_string_equal(w.buf,
                        "{\"a_key\":true,\"other\":false,\"empty\":\"\",\"plain\":\"Ab-_09x\"}");
    jw_free(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(integers),
        cmocka_unit_test(strings_every_byte),
        cmocka_unit_test(growth),
        cmocka_unit_test(hex_keys_bools),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
