/*
 * utf8.h - the library's one UTF-8 reader (internal to libsessiond, not installed): user names
 * and roles (lib/session.c) and request paths (lib/access.c) are judged by the same rules.
 */
#ifndef SESSIOND_LIB_UTF8_H
#define SESSIOND_LIB_UTF8_H

#include <stddef.h>

/* Length of the valid UTF-8 sequence at `s` (at most `n` bytes, n >= 1), or 0 when it is not
 * one. An ASCII byte is a sequence of 1. Overlong forms, surrogates and code points past U+10FFFF
 * are refused; so are C1 controls (U+0080..U+009F), which terminals interpret. */
size_t sess__utf8_char(const unsigned char *s, size_t n);

#endif
