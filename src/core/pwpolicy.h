/*
 * pwpolicy.h - what a new password chosen on the password page must be (ASVS 5.0 V6.2): at least
 * [login] min_password characters, at most SESS_PASSWORD_MAX bytes, no NUL byte (the login form
 * could never send it back), not the user's name, and not one of the common passwords of a list
 * compiled in at build time (scripts/pwlist.sh from Debian's john-data password.lst). Nothing
 * here touches the network, the disk or the account: it judges a candidate, cheaply enough for
 * an event-loop thread.
 *
 * The list is made into a hash set once, on first use, then only read (any thread). Its bounds:
 * at most SESSD_PWLIST_MAX entries of at most SESSD_PWLIST_ENTRY_MAX bytes, checked when it is
 * generated and again when the set is built.
 */
#ifndef SESSIOND_CORE_PWPOLICY_H
#define SESSIOND_CORE_PWPOLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SESSD_PWLIST_MAX 65536    /* entries of the common-password list */
#define SESSD_PWLIST_ENTRY_MAX 64 /* bytes of one entry */

enum sessd_pw_verdict {
    SESSD_PW_OK,
    SESSD_PW_TOO_SHORT, /* fewer than the minimum characters */
    SESSD_PW_TOO_LONG,  /* more than SESS_PASSWORD_MAX bytes */
    SESSD_PW_INVALID,   /* a NUL byte */
    SESSD_PW_COMMON,    /* on the list, or the user's name (both case-insensitive) */
};

/* The characters of `pw` (`len` bytes) as a person counts them: UTF-8 continuation bytes do not
 * count, so "é" is one character and a byte that is not UTF-8 one each. */
size_t sessd_pw_chars(const char *pw, size_t len);

/* True when `pw` (`len` bytes), compared without regard to ASCII case, is on the list. */
bool sessd_pw_common(const char *pw, size_t len);

/* How many entries the list holds (after duplicates that differ only in case were merged). */
size_t sessd_pw_list_size(void);

/* Judges a new password for `user` (`len` bytes) against a minimum of `min_chars` characters
 * (never less than SESS_PASSWORD_MIN bytes either). The first rule broken, in the order of the
 * enum. */
enum sessd_pw_verdict sessd_pw_judge(const char *user, const char *pw, size_t len,
                                     uint64_t min_chars);

#endif
