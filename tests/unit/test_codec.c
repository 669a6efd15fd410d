/* test_codec.c - lib/codec.h, the one bounds-checked binary codec of the LMDB record, the sealed
 * payload and the account record: byte orders, the bounds of both sides, counted strings. */
#include "harness.h"

#include <string.h>

#include "../../lib/codec.h"

static void byte_orders(void **state)
{
    (void)state;
    uint8_t be[8], le[8];
    sess_writer w = sess_writer_of(be, sizeof(be), SESS_BIG_ENDIAN);
    sess_put_uint(&w, 0x01020304u, 4);
    sess_put_uint(&w, 0x0506u, 2);
    sess_put_uint(&w, 0x07u, 1);
    sess_put_uint(&w, 0x08u, 1);
    assert_int_equal(sess_written(&w), 8);
    assert_memory_equal(be, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
    w = sess_writer_of(le, sizeof(le), SESS_LITTLE_ENDIAN);
    sess_put_uint(&w, 0x0807060504030201ull, 8);
    assert_memory_equal(le, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
    sess_reader r = sess_reader_of(be, sizeof(be), SESS_BIG_ENDIAN);
    assert_int_equal(sess_take_uint(&r, 8), 0x0102030405060708ull);
    assert_true(sess_read_all(&r));
    r = sess_reader_of(le, sizeof(le), SESS_LITTLE_ENDIAN);
    assert_int_equal(sess_take_uint(&r, 4), 0x04030201u);
    assert_int_equal(sess_take_uint(&r, 4), 0x08070605u);
    assert_true(sess_read_all(&r));
}

static void a_writer_never_passes_its_end(void **state)
{
    (void)state;
    uint8_t buf[8] = {0};
    sess_writer w = sess_writer_of(buf, 6, SESS_BIG_ENDIAN);
    sess_put_uint(&w, 0xffffffffu, 4);
    sess_put_uint(&w, 0xffffffffu, 4); /* does not fit: nothing of it written */
    assert_true(w.over);
    assert_int_equal(sess_written(&w), 0);
    assert_memory_equal(buf + 4, "\0\0\0\0", 4);
    sess_put(&w, "ab", 2); /* over stays over */
    assert_memory_equal(buf + 4, "\0\0", 2);
    /* A count that does not fit its prefix is refused, not cut. */
    char big[300];
    memset(big, 'x', sizeof(big));
    w = sess_writer_of(buf, sizeof(buf), SESS_BIG_ENDIAN);
    sess_put_counted(&w, big, sizeof(big), 1);
    assert_true(w.over);
}

static void a_reader_never_passes_its_end(void **state)
{
    (void)state;
    const uint8_t in[5] = {0, 3, 'a', 'b', 'c'};
    char s[8];
    sess_reader r = sess_reader_of(in, sizeof(in), SESS_BIG_ENDIAN);
    sess_take_counted_str(&r, 2, s, sizeof(s));
    assert_string_equal(s, "abc");
    assert_true(sess_read_all(&r));
    assert_int_equal(sess_take_uint(&r, 1), 0); /* past the end: zero, and bad from now on */
    assert_true(r.bad);
    assert_false(sess_read_all(&r));
    /* A count past the end, a string longer than its field, a NUL inside. */
    const uint8_t long_count[3] = {0, 9, 'a'};
    r = sess_reader_of(long_count, sizeof(long_count), SESS_BIG_ENDIAN);
    sess_take_counted_str(&r, 2, s, sizeof(s));
    assert_true(r.bad);
    r = sess_reader_of(in, sizeof(in), SESS_BIG_ENDIAN);
    sess_take_counted_str(&r, 2, s, 3); /* "abc" needs 4 bytes with its NUL */
    assert_true(r.bad);
    const uint8_t nul[4] = {0, 2, 'a', 0};
    r = sess_reader_of(nul, sizeof(nul), SESS_BIG_ENDIAN);
    sess_take_counted_str(&r, 2, s, sizeof(s));
    assert_true(r.bad);
    /* Bytes left over are not "all read". */
    r = sess_reader_of(in, sizeof(in), SESS_BIG_ENDIAN);
    sess_take_uint(&r, 2);
    assert_false(sess_read_all(&r));
}

static void what_is_written_reads_back(void **state)
{
    (void)state;
    uint8_t buf[64];
    for (int o = 0; o < 2; o++) {
        enum sess_byte_order order = o == 0 ? SESS_BIG_ENDIAN : SESS_LITTLE_ENDIAN;
        sess_writer w = sess_writer_of(buf, sizeof(buf), order);
        sess_put_uint(&w, 7, 1);
        sess_put_uint(&w, (uint64_t)-5, 8);
        sess_put_counted(&w, "alice", 5, 1);
        sess_put_counted(&w, "", 0, 4);
        sess_put(&w, "\xde\xad", 2);
        size_t n = sess_written(&w);
        assert_int_equal(n, 1 + 8 + 1 + 5 + 4 + 2);
        sess_reader r = sess_reader_of(buf, n, order);
        char user[16], empty[4];
        uint8_t tail[2];
        assert_int_equal(sess_take_uint(&r, 1), 7);
        assert_int_equal((int64_t)sess_take_uint(&r, 8), -5);
        sess_take_counted_str(&r, 1, user, sizeof(user));
        sess_take_counted_str(&r, 4, empty, sizeof(empty));
        sess_take_bytes(&r, tail, 2);
        assert_true(sess_read_all(&r));
        assert_string_equal(user, "alice");
        assert_string_equal(empty, "");
        assert_memory_equal(tail, "\xde\xad", 2);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(byte_orders),
        cmocka_unit_test(a_writer_never_passes_its_end),
        cmocka_unit_test(a_reader_never_passes_its_end),
        cmocka_unit_test(what_is_written_reads_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
