/*
 * pages.c - the frame every page shares, the login and signed-out pages, and the one small
 * stylesheet. Pages load nothing from elsewhere (no inline script, no inline style, no font),
 * so a strict Content-Security-Policy holds.
 */
#include "http/pages.h"

#include <stdlib.h>
#include <string.h>

#include "http/auth.h"
#include "core/state.h"

#define DARK_VARS                                                                                  \
    "color-scheme:dark;--bg:#111418;--fg:#e6e8eb;--card:#1b1f24;--line:#5a636f;"                   \
    "--accent:#8ab4f8;--err:#f2b8b5"

const char sessd_page_css[] =
    ":root{color-scheme:light;--bg:#f6f7f9;--fg:#1b1f24;--card:#fff;--line:#6b7280;"
    "--accent:#0b57d0;--err:#b3261e}\n"
    "@media (prefers-color-scheme:dark){:root:not([data-theme=light]){" DARK_VARS "}}\n"
    ":root[data-theme=dark]{" DARK_VARS "}\n"
    "html[data-font=small]{font-size:87.5%}html[data-font=large]{font-size:118.75%}"
    "html[data-font=x-large]{font-size:137.5%}\n"
    "body{margin:0;font:1rem/1.5 system-ui,sans-serif;background:var(--bg);color:var(--fg)}\n"
    "main{max-width:40rem;margin:5vh auto;padding:2rem;background:var(--card);"
    "border:1px solid var(--line);border-radius:.5rem}\n"
    "nav ul{display:flex;gap:1rem;list-style:none;margin:0;padding:.75rem 1rem;flex-wrap:wrap}"
    "nav form{display:inline}\n"
    "a{color:var(--accent)}h1{font-size:1.4rem;margin:0 0 1rem}"
    "label{display:block;margin:.75rem 0 .25rem}\n"
    "input[type=text],input[type=password],select{width:100%;box-sizing:border-box;"
    "padding:.5rem;font:inherit;color:inherit;background:var(--card);"
    "border:1px solid var(--line);border-radius:.25rem}\n"
    ".check{display:flex;gap:.5rem;align-items:center;margin:1rem 0}.check label{margin:0}\n"
    "button{padding:.6rem 1rem;margin-top:1rem;font:inherit;border:2px solid var(--accent);"
    "border-radius:.25rem;background:var(--accent);color:var(--card);cursor:pointer}\n"
    "button.plain{background:transparent;color:var(--accent);margin:0;padding:.2rem .5rem;"
    "white-space:nowrap}\n"
    ":focus-visible{outline:3px solid var(--accent);outline-offset:2px}\n"
    ".skip,.sr-only{position:absolute;left:-100vw}.skip:focus{left:1rem;top:1rem}\n"
    "table{width:100%;border-collapse:collapse;font-size:.9rem}th,td{text-align:left;padding:.4rem;"
    "border-bottom:1px solid var(--line);vertical-align:top}\n"
    ".error{color:var(--err);font-weight:600}.error::before{content:\"\\26A0\\FE0E  \"}\n"
    ".current{font-weight:700}\n"
    "#sessiond-warning{position:fixed;bottom:1rem;left:1rem;right:1rem;max-width:30rem;"
    "margin:auto;padding:1rem;background:var(--card);border:2px solid var(--accent);"
    "border-radius:.5rem}\n";

const char *sessd_page_msg(const sessd_page *p, enum sessd_msg m)
{
    return sessd_msg(p->lang, m);
}

static void text(sessd_page *p, enum sessd_msg m)
{
    auth_html(p->f, sessd_page_msg(p, m));
}

void sessd_page_status(sessd_page *p, enum sessd_msg m)
{
    fputs("<p role=\"status\">", p->f);
    text(p, m);
    fputs("</p>\n", p->f);
}

void sessd_page_url(sessd_page *p, const char *suffix)
{
    auth_html(p->f, sessd_cfg()->base_path);
    auth_html(p->f, suffix);
}

void sessd_page_error(sessd_page *p, enum sessd_msg m)
{
    fputs("<p class=\"error\" role=\"alert\">", p->f);
    text(p, m);
    fputs("</p>\n", p->f);
}

void sessd_page_hidden(sessd_page *p, const char *name, const char *value)
{
    fputs("<input type=\"hidden\" name=\"", p->f);
    auth_html(p->f, name);
    fputs("\" value=\"", p->f);
    auth_html(p->f, value);
    fputs("\">\n", p->f);
}

void sessd_page_csrf(sessd_page *p)
{
    if (p->csrf[0] != '\0')
        sessd_page_hidden(p, "csrf_token", p->csrf);
}

void sessd_page_form_end(sessd_page *p, h2o_req_t *req, enum sessd_msg button)
{
    char proof[SESS_TOKEN_STRLEN + 1];
    auth_form_proof(req, proof);
    sessd_page_hidden(p, "csrf", proof);
    sessd_page_csrf(p);
    fputs("<button type=\"submit\">", p->f);
    auth_html(p->f, sessd_page_msg(p, button));
    fputs("</button>\n</form>\n", p->f);
}

/* Logout, like keepalive, refuses a cross-site request and otherwise needs the session's CSRF
 * token or the browser's own same-origin word (csrf.h); the form carries the token, so it
 * passes even from a browser that sends neither Origin nor Sec-Fetch-Site. */
static void nav(sessd_page *p)
{
    fputs("<nav aria-label=\"", p->f);
    text(p, SESSD_MSG_NAVIGATION);
    fputs("\"><ul>\n<li><a href=\"", p->f);
    sessd_page_url(p, "/sessions");
    fputs("\">", p->f);
    text(p, SESSD_MSG_DEVICES);
    fputs("</a></li>\n<li><a href=\"", p->f);
    sessd_page_url(p, "/password");
    fputs("\">", p->f);
    text(p, SESSD_MSG_CHANGE_PASSWORD);
    fputs("</a></li>\n<li><a href=\"", p->f);
    sessd_page_url(p, "/preferences");
    fputs("\">", p->f);
    text(p, SESSD_MSG_PREFERENCES);
    fputs("</a></li>\n<li><form method=\"post\" action=\"", p->f);
    sessd_page_url(p, "/logout");
    fputs("\">", p->f);
    sessd_page_csrf(p);
    fputs("<button type=\"submit\" class=\"plain\">", p->f);
    text(p, SESSD_MSG_SIGN_OUT);
    fputs("</button></form></li>\n</ul></nav>\n", p->f);
}

bool sessd_page_begin(sessd_page *p, h2o_req_t *req, const sessd_visitor *v, enum sessd_msg title)
{
    memset(p, 0, sizeof(*p));
    p->req = req;
    p->lang = v->lang;
    if (v->signed_in)
        sess_csrf_token(v->rec.csrf_secret, p->csrf);
    p->f = open_memstream(&p->html, &p->len);
    if (p->f == NULL) {
        http_send_text(req, 500, "text/plain; charset=utf-8", H2O_STRLIT("out of memory\n"));
        return false;
    }
    fprintf(p->f, "<!doctype html>\n<html lang=\"%s\"", sessd_lang_tag(v->lang));
    if (v->prefs.theme[0] != '\0')
        fprintf(p->f, " data-theme=\"%s\"", v->prefs.theme);
    if (v->prefs.font[0] != '\0')
        fprintf(p->f, " data-font=\"%s\"", v->prefs.font);
    fputs(">\n<head>\n<meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\n<title>",
          p->f);
    text(p, title);
    fputs("</title>\n<link rel=\"stylesheet\" href=\"", p->f);
    sessd_page_url(p, "/style.css");
    fputs("\">\n", p->f);
    if (v->signed_in) {
        fputs("<script src=\"", p->f);
        sessd_page_url(p, "/session.js");
        fputs("\" defer></script>\n", p->f);
    }
    fputs("</head>\n<body>\n<a class=\"skip\" href=\"#main\">", p->f);
    text(p, SESSD_MSG_SKIP);
    fputs("</a>\n", p->f);
    if (v->signed_in)
        nav(p);
    fputs("<main id=\"main\">\n<h1>", p->f);
    text(p, title);
    fputs("</h1>\n", p->f);
    return true;
}

static void security_headers(h2o_req_t *req, enum sessd_lang lang)
{
    const char *tag = sessd_lang_tag(lang);
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("content-security-policy"), 0,
                          NULL,
                          H2O_STRLIT("default-src 'none'; style-src 'self'; script-src 'self'; "
                                     "connect-src 'self'; frame-ancestors 'none'; "
                                     "base-uri 'none'"));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-frame-options"), 0, NULL,
                          H2O_STRLIT("DENY"));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("referrer-policy"), 0, NULL,
                          H2O_STRLIT("no-referrer"));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("content-language"), 0, NULL,
                          tag, strlen(tag));
}

void sessd_page_end(sessd_page *p, int status)
{
    fputs("</main>\n</body>\n</html>\n", p->f);
    fclose(p->f);
    security_headers(p->req, p->lang);
    http_send_text(p->req, status, "text/html; charset=utf-8", p->html, p->len);
    free(p->html);
}

void sessd_page_login(h2o_req_t *req, int status, const sessd_visitor *v,
                      const sessd_login_view *lv)
{
    sessd_page p;
    if (!sessd_page_begin(&p, req, v, lv->reauth ? SESSD_MSG_REAUTH : SESSD_MSG_SIGN_IN))
        return;
    if (lv->reauth)
        sessd_page_status(&p, SESSD_MSG_REAUTH_NOTE);
    if (lv->error >= 0) {
        fputs("<p class=\"error\" role=\"alert\" id=\"login-error\">", p.f);
        text(&p, (enum sessd_msg)lv->error);
        fputs("</p>\n", p.f);
    }
    fputs("<form method=\"post\" action=\"", p.f);
    auth_html(p.f, lv->action);
    fputs("\">\n<label for=\"username\">", p.f);
    text(&p, SESSD_MSG_USERNAME);
    fputs("</label>\n<input type=\"text\" id=\"username\" name=\"username\" "
          "autocomplete=\"username\" autocapitalize=\"none\" spellcheck=\"false\" required "
          "maxlength=\"128\" value=\"",
          p.f);
    auth_html(p.f, lv->username);
    /* Step-up: the account is the session's; only the password is asked for. */
    fprintf(p.f, "\"%s%s>\n<label for=\"password\">", lv->reauth ? " readonly" : "",
            lv->error >= 0 ? " aria-describedby=\"login-error\""
            : lv->reauth   ? ""
                           : " autofocus");
    text(&p, SESSD_MSG_PASSWORD);
    fprintf(p.f,
            "</label>\n<input type=\"password\" id=\"password\" name=\"password\" "
            "autocomplete=\"current-password\" required maxlength=\"1024\"%s%s>\n",
            lv->error >= 0 ? " aria-describedby=\"login-error\"" : "",
            lv->error >= 0 || lv->reauth ? " autofocus" : "");
    if (lv->reauth) {
        sessd_page_hidden(&p, "reauth", "1");
    } else if (sessd_cfg()->remember_me > 0) { /* [session] remember_me = off: no checkbox */
        fputs("<div class=\"check\"><input type=\"checkbox\" id=\"remember\" name=\"remember\" "
              "value=\"1\"><label for=\"remember\">",
              p.f);
        text(&p, SESSD_MSG_REMEMBER);
        fputs("</label></div>\n", p.f);
    }
    sessd_page_hidden(&p, "rd", lv->rd);
    sessd_page_hidden(&p, "csrf", lv->csrf);
    sessd_page_csrf(&p);
    fputs("<button type=\"submit\">", p.f);
    text(&p, lv->reauth ? SESSD_MSG_REAUTH : SESSD_MSG_SIGN_IN);
    fputs("</button>\n</form>\n<p><a href=\"", p.f);
    sessd_page_url(&p, "/preferences");
    fputs("\">", p.f);
    text(&p, SESSD_MSG_PREFERENCES);
    fputs("</a></p>\n", p.f);
    sessd_page_end(&p, status);
}

void sessd_page_signed_out(h2o_req_t *req, const sessd_visitor *v, const char *location)
{
    sessd_page p;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_LOCATION, NULL,
                   h2o_strdup(&req->pool, location, SIZE_MAX).base, strlen(location));
    if (!sessd_page_begin(&p, req, v, SESSD_MSG_SIGN_OUT))
        return;
    sessd_page_status(&p, SESSD_MSG_SIGNED_OUT);
    fputs("<p><a href=\"", p.f);
    auth_html(p.f, location);
    fputs("\">", p.f);
    text(&p, SESSD_MSG_SIGN_IN_AGAIN);
    fputs("</a></p>\n", p.f);
    sessd_page_end(&p, 303);
}

int sessd_auth_style(h2o_req_t *req)
{
    int status = http_send_text(req, 200, "text/css; charset=utf-8", sessd_page_css,
                                sizeof(sessd_page_css) - 1);
    return status;
}
