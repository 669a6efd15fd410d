/*
 * pages.h - the server-rendered HTML of the browser-facing endpoints: the login page and its
 * stylesheet. Plain HTML forms that work without JavaScript, labelled fields, an error message
 * in a role="alert" region, light and dark themes from the visitor's system setting.
 */
#ifndef SESSIOND_SERVER_PAGES_H
#define SESSIOND_SERVER_PAGES_H

#include "server/http.h"

typedef struct sessd_login_view {
    const char *action;   /* the form's target (base_path/login) */
    const char *username; /* pre-filled, may be "" */
    const char *rd;       /* carried through, may be "" */
    const char *csrf;     /* the login CSRF proof */
    const char *error;    /* NULL, or the message to show */
} sessd_login_view;

/* Answers `status` with the login page. */
void sessd_page_login(h2o_req_t *req, int status, const sessd_login_view *v);

/* The stylesheet, for GET base_path/style.css. */
extern const char sessd_page_css[];

#endif
