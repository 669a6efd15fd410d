/*
 * text.h - the small text tools every part of sessiond shares, written once: hex digits,
 * percent-decoding, and reading UTF-8. The server, the nginx module and the library all judge
 * text with these, so that no two copies can disagree.
 */
#ifndef SESSIOND_TEXT_H
#define SESSIOND_TEXT_H

#include "sessiond/export.h"

#include <stdbool.h>
#include <stddef.h>

/* The value of the hex digit `c` (either case), or -1. */
SESS_EXPORT int sess_hex_value(int c);

/* Percent-decodes `len` bytes of `in` into `out` (`cap` bytes, with a NUL after the result):
 * "%XX" (hex of either case) is the byte XX; with `plus_space`, "+" is a space (HTML forms).
 * The result may hold any byte, NUL included: the caller judges it. Returns its length, or -1
 * for an escape that is not "%" and two hex digits, or when it and its NUL do not fit `cap`. */
SESS_EXPORT long sess_percent_decode(const char *in, size_t len, bool plus_space, char *out,
                                     size_t cap) SESS_WUR;

/* Length of the valid UTF-8 sequence at `s` (at most `n` bytes, n >= 1), or 0 when it is not
 * one. An ASCII byte is a sequence of 1. Overlong forms, surrogates and code points past U+10FFFF
 * are refused; so are C1 controls (U+0080..U+009F), which terminals interpret. */
SESS_EXPORT size_t sess_utf8_char(const unsigned char *s, size_t n) SESS_WUR;

#endif
