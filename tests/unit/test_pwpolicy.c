/* test_pwpolicy.c - the password page's rules (src/core/pwpolicy.c): the compiled-in list of
 * common passwords as a case-insensitive hash set, the character count, and the order and
 * bounds of the rules (the minimum at its limit and one below, SESS_PASSWORD_MAX at its limit
 * and one past). */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

#include "core/pwpolicy.h"
#include "sessiond/users.h"

#define COMMON(s) sessd_pw_common((s), strlen(s))
#define JUDGE(u, s, min) sessd_pw_judge((u), (s), strlen(s), (min))

static void list_lookup(void **state)
{
    (void)state;
    /* john-data's password.lst has about 3500 entries; a build against an empty or truncated
     * list would pass the other checks by accident. */
    assert_true(sessd_pw_list_size() > 3000);
    assert_true(sessd_pw_list_size() <= SESSD_PWLIST_MAX);
    assert_true(COMMON("password"));
    assert_true(COMMON("PassWord"));
    assert_true(COMMON("12345678"));
    assert_true(COMMON("qwertyuiop"));
    assert_true(COMMON("PASSWORD1"));
    assert_false(COMMON("password "));
    assert_false(COMMON("passwor"));
    assert_false(COMMON("correct horse battery staple"));
    assert_false(COMMON(""));
    /* Longer than any entry can be: refused without a probe. */
    char long_pw[SESSD_PWLIST_ENTRY_MAX + 2];
    memset(long_pw, 'a', sizeof(long_pw) - 1);
    long_pw[sizeof(long_pw) - 1] = '\0';
    assert_false(COMMON(long_pw));
    /* A NUL inside never matches the entry it prefixes. */
    assert_false(sessd_pw_common("password\0x", 10));
}

static void chars(void **state)
{
    (void)state;
    assert_int_equal(sessd_pw_chars("abc", 3), 3);
    assert_int_equal(sessd_pw_chars("\xc3\xa9t\xc3\xa9", 5), 3); /* été */
    assert_int_equal(sessd_pw_chars("\xf0\x9f\x94\x91", 4), 1);  /* one emoji */
    assert_int_equal(sessd_pw_chars("\xff\xfe", 2), 2);          /* not UTF-8: bytes */
}

static void rules(void **state)
{
    (void)state;
    assert_int_equal(JUDGE("alice", "fifteen chars!!", 15), SESSD_PW_OK);
    assert_int_equal(JUDGE("alice", "fourteen chars", 15), SESSD_PW_TOO_SHORT);
    /* Characters, not bytes: 15 two-byte letters pass 15, 14 do not. */
    assert_int_equal(JUDGE("alice",
                           "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                           "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                           "\xc3\xa9",
                           15),
                     SESSD_PW_OK);
    assert_int_equal(JUDGE("alice",
                           "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                           "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9",
                           15),
                     SESSD_PW_TOO_SHORT);
    /* The library's floor in bytes holds whatever the minimum says. */
    assert_int_equal(JUDGE("alice", "seven77", 1), SESSD_PW_TOO_SHORT);
    /* Common, case-insensitively, once it is long enough to be judged at all. */
    assert_int_equal(JUDGE("alice", "Password1", 8), SESSD_PW_COMMON);
    assert_int_equal(JUDGE("alice", "Password1", 15), SESSD_PW_TOO_SHORT);
    assert_int_equal(JUDGE("longusername", "LongUserName", 8), SESSD_PW_COMMON);
    assert_int_equal(sessd_pw_judge("alice", "abcd\0efghijklmnop", 17, 8), SESSD_PW_INVALID);
    /* SESS_PASSWORD_MAX bytes at the limit and one past. */
    char *big = malloc(SESS_PASSWORD_MAX + 2);
    assert_non_null(big);
    memset(big, 'x', SESS_PASSWORD_MAX + 1);
    big[SESS_PASSWORD_MAX + 1] = '\0';
    assert_int_equal(sessd_pw_judge("alice", big, SESS_PASSWORD_MAX, 15), SESSD_PW_OK);
    assert_int_equal(sessd_pw_judge("alice", big, SESS_PASSWORD_MAX + 1, 15), SESSD_PW_TOO_LONG);
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(list_lookup),
        cmocka_unit_test(chars),
        cmocka_unit_test(rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
