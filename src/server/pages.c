/*
 * pages.c - HTML of the login page and the one small stylesheet. Every value that came from a
 * request is HTML-escaped; the page loads nothing from elsewhere (no script, no font), so a
 * strict Content-Security-Policy holds.
 */
#include "server/pages.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/auth.h"
#include "server/server.h"

const char sessd_page_css[] =
    ":root{color-scheme:light dark;--bg:#f6f7f9;--fg:#1b1f24;--card:#fff;--line:#c9ced6;"
    "--accent:#0b57d0;--err:#b3261e}\n"
    "@media (prefers-color-scheme:dark){:root{--bg:#111418;--fg:#e6e8eb;--card:#1b1f24;"
    "--line:#3a414b;--accent:#8ab4f8;--err:#f2b8b5}}\n"
    "body{margin:0;font:1rem/1.5 system-ui,sans-serif;background:var(--bg);color:var(--fg)}\n"
    "main{max-width:22rem;margin:10vh auto;padding:2rem;background:var(--card);"
    "border:1px solid var(--line);border-radius:.5rem}\n"
    "h1{font-size:1.4rem;margin:0 0 1rem}label{display:block;margin:.75rem 0 .25rem}\n"
    "input[type=text],input[type=password]{width:100%;box-sizing:border-box;padding:.5rem;"
    "font:inherit;color:inherit;background:transparent;border:1px solid var(--line);"
    "border-radius:.25rem}\n"
    ".check{display:flex;gap:.5rem;align-items:center;margin:1rem 0}"
    ".check label{margin:0}\n"
    "button{width:100%;padding:.6rem;font:inherit;border:0;border-radius:.25rem;"
    "background:var(--accent);color:var(--card);cursor:pointer}\n"
    ":focus-visible{outline:3px solid var(--accent);outline-offset:2px}\n"
    ".error{color:var(--err);font-weight:600}\n";

static void field_hidden(FILE *f, const char *name, const char *value)
{
    fprintf(f, "<input type=\"hidden\" name=\"%s\" value=\"", name);
    auth_html(f, value);
    fputs("\">\n", f);
}

void sessd_page_login(h2o_req_t *req, int status, const sessd_login_view *v)
{
    char *html = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&html, &len);
    if (f == NULL) {
        http_send_text(req, 500, "text/plain; charset=utf-8", H2O_STRLIT("out of memory\n"));
        return;
    }
    fputs("<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\n"
          "<title>Sign in</title>\n<link rel=\"stylesheet\" href=\"",
          f);
    auth_html(f, sessd_cfg()->base_path);
    fputs("/style.css\">\n</head>\n<body>\n<main>\n<h1>Sign in</h1>\n", f);
    if (v->error != NULL) {
        fputs("<p class=\"error\" role=\"alert\" id=\"login-error\">", f);
        auth_html(f, v->error);
        fputs("</p>\n", f);
    }
    fputs("<form method=\"post\" action=\"", f);
    auth_html(f, v->action);
    fputs("\">\n<label for=\"username\">Username</label>\n"
          "<input type=\"text\" id=\"username\" name=\"username\" autocomplete=\"username\" "
          "autocapitalize=\"none\" spellcheck=\"false\" required maxlength=\"128\" value=\"",
          f);
    auth_html(f, v->username);
    fprintf(f,
            "\"%s>\n<label for=\"password\">Password</label>\n"
            "<input type=\"password\" id=\"password\" name=\"password\" "
            "autocomplete=\"current-password\" required maxlength=\"1024\"%s>\n"
            "<div class=\"check\"><input type=\"checkbox\" id=\"remember\" name=\"remember\" "
            "value=\"1\"><label for=\"remember\">Keep me signed in</label></div>\n",
            v->error != NULL ? " aria-describedby=\"login-error\"" : " autofocus",
            v->error != NULL ? " aria-describedby=\"login-error\" autofocus" : "");
    field_hidden(f, "rd", v->rd);
    field_hidden(f, "csrf", v->csrf);
    fputs("<button type=\"submit\">Sign in</button>\n</form>\n</main>\n</body>\n</html>\n", f);
    fclose(f);
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("content-security-policy"), 0,
                          NULL,
                          H2O_STRLIT("default-src 'none'; style-src 'self'; "
                                     "frame-ancestors 'none'; base-uri 'none'"));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-frame-options"), 0, NULL,
                          H2O_STRLIT("DENY"));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("referrer-policy"), 0, NULL,
                          H2O_STRLIT("no-referrer"));
    http_send_text(req, status, "text/html; charset=utf-8", html, len);
    free(html);
}

int sessd_auth_style(h2o_req_t *req)
{
    http_send_text(req, 200, "text/css; charset=utf-8", sessd_page_css, sizeof(sessd_page_css) - 1);
    return 200;
}
