/*
 * prefs.h - the visitor's display preferences (language, theme, font size) and who the visitor
 * is, for the pages sessiond serves.
 *
 * A signed-in user's preferences are the user's (sess_prefs_*). An anonymous visitor's live in
 * an anonymous session kept by the browser: the cookie <cookie_name>_prefs holds the three
 * values and a MAC under a key derived from the server key ("LANG.THEME.FONT.MAC", at most
 * SESSD_PREFS_COOKIE_MAX bytes, a year long). It names no account and costs the store nothing,
 * so anonymous visitors cannot fill it. At login its values are merged into the user's
 * preferences (the anonymous choices win: they are the latest explicit ones on that device) and
 * the cookie is cleared, so it is used once and never outlives the login.
 */
#ifndef SESSIOND_HTTP_PREFS_H
#define SESSIOND_HTTP_PREFS_H

#include <stdbool.h>
#include <stddef.h>

#include "http/http.h"
#include "core/i18n.h"
#include "sessiond/record.h"
#include "sessiond/session.h"

#define SESSD_PREFS_COOKIE_SUFFIX "_prefs"
#define SESSD_PREFS_COOKIE_AGE (365 * 86400)
#define SESSD_PREFS_COOKIE_MAX 128 /* bytes of the cookie's value; longer ones are ignored */
#define SESSD_PREFS_JSON_MAX 160   /* bytes of the JSON patch made from a sessd_prefs */

typedef struct sessd_prefs {
    char language[SESSD_LANG_TAG_MAX + 1]; /* a tag of a language we have, or "" (automatic) */
    char theme[8];                         /* "light", "dark", "system", or "" */
    char font[8];                          /* "small", "medium", "large", "x-large", or "" */
} sessd_prefs;

typedef struct sessd_visitor {
    bool signed_in;
    int session_error; /* not signed in because the session could not be checked (the store's
                          error, e.g. SESS_ESTORE); 0 when signed in or simply without one */
    sess_record rec;   /* the live session when signed_in */
    bool anon_cookie;  /* the request carried a valid anonymous preferences cookie */
    sessd_prefs prefs;
    enum sessd_lang lang;
} sessd_visitor;

/* Who the request comes from and what it prefers (never fails: a store error reads as "no
 * preferences" and, for the session, as not signed in with session_error set). `touch` extends the
 * session's idle deadline. Dispose with sessd_visitor_dispose. */
void sessd_visitor_load(h2o_req_t *req, bool touch, sessd_visitor *v);
void sessd_visitor_dispose(sessd_visitor *v);

/* The preferences in a user's preferences document (unknown keys and values are ignored; an
 * integer font_size is mapped to the nearest named size). */
void sessd_prefs_from_json(const char *json, size_t len, sessd_prefs *out);
/* A JSON merge patch of the set fields of `p`, with `null` for unset ones when `nulls`. Returns
 * its length; 0 when it would be empty ("{}" is written). */
size_t sessd_prefs_to_json(const sessd_prefs *p, bool nulls, char out[SESSD_PREFS_JSON_MAX]);

/* True when `theme` / `font` / `language` is "" or one of the values the form offers. */
bool sessd_prefs_valid(const sessd_prefs *p);

/* The anonymous cookie's value for `p` (signed with `ctx`), into `out`; its length. */
size_t sessd_prefs_cookie_encode(sess_ctx *ctx, const sessd_prefs *p,
                                 char out[SESSD_PREFS_COOKIE_MAX + 1]);
/* Parses and checks a cookie value: 0 and `out` filled, or -1 (bad MAC, malformed, invalid
 * value, or longer than SESSD_PREFS_COOKIE_MAX). */
int sessd_prefs_cookie_decode(sess_ctx *ctx, const char *value, size_t len, sessd_prefs *out);

/* The anonymous cookie of the request, decoded: 0, or -1 when it has none or it is invalid. */
int sessd_prefs_anon(h2o_req_t *req, sessd_prefs *out);
/* The anonymous cookie's name into `out`. */
void sessd_prefs_cookie_name(char *out, size_t cap);

#endif
