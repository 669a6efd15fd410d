/*
 * cookie.h - the session cookie: writing Set-Cookie values and finding a cookie in a request's
 * Cookie header. Contract section 3.
 */
#ifndef SESSIOND_COOKIE_H
#define SESSIOND_COOKIE_H

#include "sessiond/export.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SESS_COOKIE_MAX 4096 /* name plus value, as browsers accept (their count) */
/* A whole Set-Cookie value: name, value and every attribute (a Domain is at most 253 bytes). */
#define SESS_SETCOOKIE_MAX (SESS_COOKIE_MAX + 400)

typedef struct sess_cookie_opts {
    const char *name;      /* e.g. "sid" or "__Host-sid" */
    const char *domain;    /* NULL or "" for a host-only cookie */
    const char *same_site; /* "lax", "strict" or "none" */
    bool secure;
    const char *path; /* NULL for "/" (sessiond's cookies); another only to clear a cookie */
} sess_cookie_opts;

/* Writes a Set-Cookie value into `out` (`cap` bytes with NUL): name=value; Path=/; [Domain];
 * [Max-Age]; [Secure]; HttpOnly; SameSite. max_age < 0 makes a browser-session cookie;
 * max_age == 0 clears the cookie. Returns the length, or -1 when it would not fit in `cap` or
 * name plus value would be over SESS_COOKIE_MAX. */
SESS_EXPORT int sess_cookie_format(const sess_cookie_opts *o, const char *value, int64_t max_age,
                                   char *out, size_t cap) SESS_WUR;

/* Finds the first cookie called `name` in a Cookie header value. 0 with value and vlen pointing
 * into `header`, or -1 when absent. Malformed pairs are skipped, never read past `len`. */
SESS_EXPORT int sess_cookie_find(const char *header, size_t len, const char *name,
                                 const char **value, size_t *vlen) SESS_WUR;

/* One value for a cookie, or none: a request that carries two different values under the
 * session cookie's name (a second cookie planted by a sibling origin, another port, a wider
 * Domain or a narrower Path) must not be read as either of them. */
typedef struct sess_cookie_one {
    const char *value; /* the first value (pointing into a header), NULL when absent */
    size_t len;
    bool ambiguous; /* two different values were seen: use neither */
} sess_cookie_one;

/* Adds the cookies called `name` in one Cookie header value to `one`, which the caller zeroes
 * before the request's first Cookie header and passes again for each further one. The same
 * value twice is one value; a second, different value makes it ambiguous. */
SESS_EXPORT void sess_cookie_pick(sess_cookie_one *one, const char *header, size_t len,
                                  const char *name);

#endif
