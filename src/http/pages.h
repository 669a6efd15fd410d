/*
 * pages.h - the server-rendered HTML of the browser-facing endpoints: the frame every page
 * shares, the login page, the signed-out page, the stylesheet and the client script.
 *
 * Plain HTML forms that work without JavaScript; <html lang> names the page's language;
 * labelled fields; a skip link, a <nav> and a <main> landmark; messages in role="status" or
 * role="alert" regions; the theme and font size as data attributes on <html> that the one
 * stylesheet applies (theme "system" follows prefers-color-scheme). Every value that came from
 * a request is HTML-escaped.
 */
#ifndef SESSIOND_HTTP_PAGES_H
#define SESSIOND_HTTP_PAGES_H

#include <stdbool.h>
#include <stdio.h>

#include "http/http.h"
#include "core/i18n.h"
#include "http/prefs.h"

/* A page being written: begin, write to `f`, end. */
typedef struct sessd_page {
    h2o_req_t *req;
    FILE *f;
    char *html;
    size_t len;
    enum sessd_lang lang;
    char csrf[SESS_TOKEN_STRLEN + 1]; /* the session's CSRF token; "" for an anonymous visitor */
} sessd_page;

/* Opens a page titled `title` for visitor `v`: the head (stylesheet; the client script when
 * signed in), a skip link, the account navigation when signed in, and <main>. false when out of
 * memory (then 500 has been answered). */
bool sessd_page_begin(sessd_page *p, h2o_req_t *req, const sessd_visitor *v, enum sessd_msg title);
/* Closes the page and answers it with `status` and the security headers (CSP and friends). */
void sessd_page_end(sessd_page *p, int status);

/* The page's text for `m`. */
const char *sessd_page_msg(const sessd_page *p, enum sessd_msg m);
/* A <p role="status"> with `m`. */
void sessd_page_status(sessd_page *p, enum sessd_msg m);
/* Writes base_path + `suffix`, HTML-escaped (for href, src and action attributes). */
void sessd_page_url(sessd_page *p, const char *suffix);
/* A <p class="error" role="alert"> with `m`. */
void sessd_page_error(sessd_page *p, enum sessd_msg m);
/* <input type="hidden" name=NAME value=VALUE> with the value escaped. */
void sessd_page_hidden(sessd_page *p, const char *name, const char *value);
/* For a signed-in visitor, the session's CSRF token as the hidden field `csrf_token` (the one
 * verify forwards in X-CSRF-Token and whoami shows): every form of a signed-in page carries it,
 * and the POST handlers check it (auth_form_token_ok). Nothing for an anonymous visitor. */
void sessd_page_csrf(sessd_page *p);
/* Ends a POST form of ours: the form's CSRF proof (`csrf`, auth_form_proof), the session's
 * token (sessd_page_csrf), the submit button saying `button`, and </form>. */
void sessd_page_form_end(sessd_page *p, h2o_req_t *req, enum sessd_msg button);

typedef struct sessd_login_view {
    const char *action;   /* the form's target (base_path/login) */
    const char *username; /* pre-filled, may be "" */
    const char *rd;       /* carried through, may be "" */
    const char *csrf;     /* the form's CSRF proof */
    int error;            /* -1, or the sessd_msg to show */
    bool reauth; /* step-up: "confirm your password" for the signed-in `username` (fixed) */
} sessd_login_view;

/* Answers `status` with the login page. */
void sessd_page_login(h2o_req_t *req, int status, const sessd_visitor *v,
                      const sessd_login_view *lv);

/* Answers 303 to `location` with a small "you are signed out" page as the body. */
void sessd_page_signed_out(h2o_req_t *req, const sessd_visitor *v, const char *location);

/* The stylesheet, for GET base_path/style.css, and the client script, base_path/session.js. */
extern const char sessd_page_css[];
extern const char sessd_page_script[];

#endif
