/*
 * cookies.c - the Set-Cookie headers sessiond answers with (cookies.h): the session cookie, our
 * other cookies with its attributes, and the clearing of every copy a browser may hold.
 */
#include "http/cookies.h"

#include <string.h>

#include "core/state.h"
#include "sessiond/cookie.h"
#include "sessiond/crypto.h"

static void cookie_opts(sess_cookie_opts *o)
{
    const sessd_config *c = sessd_cfg();
    *o = (sess_cookie_opts){c->cookie_name, c->cookie_domain, c->same_site, sessd_srv.https, NULL};
}

void auth_set_cookie(h2o_req_t *req, const char *name, const char *value, int64_t max_age)
{
    sess_cookie_opts o;
    char buf[SESS_SETCOOKIE_MAX + 1];
    cookie_opts(&o);
    o.name = name;
    int n = sess_cookie_format(&o, value, max_age, buf, sizeof(buf));
    if (n > 0)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_SET_COOKIE, NULL,
                       h2o_strdup(&req->pool, buf, (size_t)n).base, (size_t)n);
    sess_wipe(buf, sizeof(buf));
}

void auth_set_session_cookie(h2o_req_t *req, const char *token, int64_t max_age)
{
    auth_set_cookie(req, sessd_cfg()->cookie_name, token, max_age);
}

void auth_set_session_value(h2o_req_t *req, const char *value, const sess_record *rec, int64_t now)
{
    auth_set_session_cookie(req, value,
                            (rec->flags & SESS_REC_REMEMBER) ? rec->abs_expires - now : -1);
}

void auth_clear_session_cookie(h2o_req_t *req)
{
    auth_set_cookie(req, sessd_cfg()->cookie_name, "", 0);
}

/* The host of public_url into `out` (`cap` bytes), lower case as configured; "" for an IP
 * literal, which has no parent domain. */
static void public_host(const sessd_config *c, char *out, size_t cap)
{
    const char *h = strstr(c->public_url, "://");
    h = h != NULL ? h + 3 : c->public_url;
    size_t n = strcspn(h, ":/?#");
    out[0] = '\0';
    while (n > 0 && h[n - 1] == '.') /* "example.test." is "example.test" */
        n--;
    if (h[0] == '[' || n == 0 || n >= cap || strspn(h, "0123456789.") >= n)
        return;
    memcpy(out, h, n);
    out[n] = '\0';
}

void auth_clear_session_cookies(h2o_req_t *req)
{
    const sessd_config *c = sessd_cfg();
    char host[256];
    sess_cookie_opts o;
    cookie_opts(&o);
    o.domain = NULL;
    /* A __Host- cookie has neither Domain nor another Path: ours is the only one to clear. */
    if (c->cookie_domain[0] != '\0' || strncmp(c->cookie_name, "__Host-", 7) == 0)
        auth_clear_session_cookie(req); /* ours, with its Domain if it has one */
    if (strncmp(c->cookie_name, "__Host-", 7) == 0)
        return;
    const char *paths[] = {"/", c->base_path};
    public_host(c, host, sizeof(host));
    /* Host-only, then the host and each parent domain of it with two labels at least (a public
     * suffix such as co.uk among them is refused by browsers, harmlessly). */
    for (const char *d = NULL;;) {
        for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
            char buf[SESS_SETCOOKIE_MAX + 1];
            o.domain = d;
            o.path = paths[i];
            int n = sess_cookie_format(&o, "", 0, buf, sizeof(buf));
            if (n > 0)
                h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_SET_COOKIE, NULL,
                               h2o_strdup(&req->pool, buf, (size_t)n).base, (size_t)n);
        }
        d = d == NULL ? (host[0] != '\0' ? host : NULL) : strchr(d, '.') + 1;
        if (d == NULL || strchr(d, '.') == NULL)
            break;
    }
}
