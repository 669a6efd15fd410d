/*
 * prefs.c - who the visitor is and what it prefers (prefs.h), and GET/POST
 * base_path/preferences: a form of three choices that works signed in (the user's preferences)
 * and anonymously (the signed preferences cookie). A POST answers 303 back to the page
 * (post/redirect/get), so reloading never resubmits.
 */
#include "http/prefs.h"
#include "core/clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http/auth.h"
#include "core/log.h"
#include "http/pages.h"
#include "core/state.h"
#include "sessiond/error.h"

static const char *const themes[] = {"system", "light", "dark"};
static const char *const fonts[] = {"small", "medium", "large", "x-large"};
static const enum sessd_msg theme_msgs[] = {SESSD_MSG_THEME_SYSTEM, SESSD_MSG_THEME_LIGHT,
                                            SESSD_MSG_THEME_DARK};
static const enum sessd_msg font_msgs[] = {SESSD_MSG_FONT_SMALL, SESSD_MSG_FONT_MEDIUM,
                                           SESSD_MSG_FONT_LARGE, SESSD_MSG_FONT_XLARGE};
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static bool one_of(const char *s, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, list[i]) == 0)
            return true;
    return false;
}

bool sessd_prefs_valid(const sessd_prefs *p)
{
    return (p->theme[0] == '\0' || one_of(p->theme, themes, COUNT(themes))) &&
           (p->font[0] == '\0' || one_of(p->font, fonts, COUNT(fonts))) &&
           (p->language[0] == '\0' || sessd_lang_from_tag(p->language, strlen(p->language)) >= 0);
}

/* ---- the user's document ------------------------------------------------------------------ */

static const char *font_of_points(json_int_t pt)
{
    return pt <= 13 ? "small" : pt <= 17 ? "medium" : pt <= 21 ? "large" : "x-large";
}

void sessd_prefs_from_json(const char *json, size_t len, sessd_prefs *out)
{
    memset(out, 0, sizeof(*out));
    json_t *o = json_loadb(json, len, 0, NULL);
    const char *s;
    json_t *v;
    if (!json_is_object(o))
        goto done;
    if ((s = json_string_value(json_object_get(o, "language"))) != NULL &&
        sessd_lang_from_tag(s, strlen(s)) >= 0)
        snprintf(out->language, sizeof(out->language), "%s", s);
    if ((s = json_string_value(json_object_get(o, "theme"))) != NULL &&
        one_of(s, themes, COUNT(themes)))
        snprintf(out->theme, sizeof(out->theme), "%s", s);
    v = json_object_get(o, "font_size");
    if (json_is_integer(v))
        snprintf(out->font, sizeof(out->font), "%s", font_of_points(json_integer_value(v)));
    else if ((s = json_string_value(v)) != NULL && one_of(s, fonts, COUNT(fonts)))
        snprintf(out->font, sizeof(out->font), "%s", s);
done:
    json_decref(o);
}

size_t sessd_prefs_to_json(const sessd_prefs *p, bool nulls, char out[SESSD_PREFS_JSON_MAX])
{
    const char *keys[] = {"language", "theme", "font_size"};
    const char *vals[] = {p->language, p->theme, p->font};
    size_t n = 1, set = 0;
    out[0] = '{';
    for (size_t i = 0; i < 3; i++) {
        if (vals[i][0] == '\0' && !nulls)
            continue;
        /* The values are checked tags and fixed words: nothing to escape. */
        int w = vals[i][0] != '\0' ? snprintf(out + n, SESSD_PREFS_JSON_MAX - n, "%s\"%s\":\"%s\"",
                                              n > 1 ? "," : "", keys[i], vals[i])
                                   : snprintf(out + n, SESSD_PREFS_JSON_MAX - n, "%s\"%s\":null",
                                              n > 1 ? "," : "", keys[i]);
        n += (size_t)w;
        set++;
    }
    snprintf(out + n, SESSD_PREFS_JSON_MAX - n, "}");
    return set > 0 ? n + 1 : 0;
}

/* ---- the anonymous cookie ----------------------------------------------------------------- */

static void mac_of(sess_ctx *ctx, const char *text, size_t len, char out[SESS_TOKEN_STRLEN + 1])
{
    uint8_t mac[SESS_HASH_BYTES];
    sess_ctx_sign(ctx, "anon-prefs", text, len, mac);
    sess_token_encode(mac, out);
}

size_t sessd_prefs_cookie_encode(sess_ctx *ctx, const sessd_prefs *p,
                                 char out[SESSD_PREFS_COOKIE_MAX + 1])
{
    char mac[SESS_TOKEN_STRLEN + 1];
    int n = snprintf(out, SESSD_PREFS_COOKIE_MAX + 1, "%s.%s.%s.", p->language, p->theme, p->font);
    mac_of(ctx, out, (size_t)n, mac);
    return (size_t)n + (size_t)snprintf(out + n, SESSD_PREFS_COOKIE_MAX + 1 - (size_t)n, "%s", mac);
}

/* Copies field `i` of "a.b.c.mac" into `out` (cap bytes); false when absent or too long. */
static bool field(const char *v, size_t len, size_t *at, char *out, size_t cap)
{
    const char *dot = memchr(v + *at, '.', len - *at);
    if (dot == NULL)
        return false;
    size_t n = (size_t)(dot - (v + *at));
    if (n >= cap)
        return false;
    memcpy(out, v + *at, n);
    out[n] = '\0';
    *at += n + 1;
    return true;
}

int sessd_prefs_cookie_decode(sess_ctx *ctx, const char *value, size_t len, sessd_prefs *out)
{
    char mac[SESS_TOKEN_STRLEN + 1];
    size_t at = 0;
    memset(out, 0, sizeof(*out));
    if (len > SESSD_PREFS_COOKIE_MAX ||
        !field(value, len, &at, out->language, sizeof(out->language)) ||
        !field(value, len, &at, out->theme, sizeof(out->theme)) ||
        !field(value, len, &at, out->font, sizeof(out->font)) || len - at != SESS_TOKEN_STRLEN)
        goto bad;
    mac_of(ctx, value, at, mac);
    if (!sess_ct_equal(mac, value + at, SESS_TOKEN_STRLEN) || !sessd_prefs_valid(out))
        goto bad;
    return 0;
bad:
    memset(out, 0, sizeof(*out));
    return -1;
}

void sessd_prefs_cookie_name(char *out, size_t cap)
{
    snprintf(out, cap, "%s%s", sessd_cfg()->cookie_name, SESSD_PREFS_COOKIE_SUFFIX);
}

int sessd_prefs_anon(h2o_req_t *req, sessd_prefs *out)
{
    char name[160];
    size_t len;
    sessd_prefs_cookie_name(name, sizeof(name));
    const char *v = auth_cookie(req, name, &len);
    memset(out, 0, sizeof(*out));
    return v != NULL ? sessd_prefs_cookie_decode(sessd_srv.ctx, v, len, out) : -1;
}

/* ---- the visitor -------------------------------------------------------------------------- */

void sessd_visitor_load(h2o_req_t *req, bool touch, sessd_visitor *v)
{
    size_t len;
    memset(v, 0, sizeof(*v));
    sess_record_init(&v->rec);
    int r = auth_session(req, touch, sessd_now(), &v->rec);
    if (r != 0 && sess_err_http_status(r) >= 500) /* the store failed, not the token */
        v->session_error = r;
    if (r == 0) {
        char *json = NULL;
        size_t jl = 0;
        v->signed_in = true;
        if (sess_prefs_get(sessd_srv.ctx, v->rec.user, &json, &jl) == 0)
            sessd_prefs_from_json(json, jl, &v->prefs);
        free(json);
    } else {
        v->anon_cookie = sessd_prefs_anon(req, &v->prefs) == 0;
    }
    int l = sessd_lang_from_tag(v->prefs.language, strlen(v->prefs.language));
    if (l < 0) {
        const char *al = http_header(req, "accept-language", &len);
        l = sessd_lang_negotiate(al, len);
    }
    v->lang = l >= 0 ? (enum sessd_lang)l : SESSD_LANG_EN;
}

void sessd_visitor_dispose(sessd_visitor *v)
{
    if (v->signed_in)
        sess_record_dispose(&v->rec);
    v->signed_in = false;
}

/* ---- the page ----------------------------------------------------------------------------- */

static void option(sessd_page *p, const char *value, const char *label, const char *current)
{
    fputs("<option value=\"", p->f);
    auth_html(p->f, value);
    fprintf(p->f, "\"%s>", strcmp(value, current) == 0 ? " selected" : "");
    auth_html(p->f, label);
    fputs("</option>\n", p->f);
}

static void select_begin(sessd_page *p, const char *name, enum sessd_msg label)
{
    fprintf(p->f, "<label for=\"%s\">", name);
    auth_html(p->f, sessd_page_msg(p, label));
    fprintf(p->f, "</label>\n<select id=\"%s\" name=\"%s\">\n", name, name);
}

/* The page; `note` is -1, SESSD_MSG_SAVED, or an error message. */
static void show(h2o_req_t *req, int status, const sessd_visitor *v, int note)
{
    sessd_page p;
    if (!sessd_page_begin(&p, req, v, SESSD_MSG_PREFERENCES))
        return;
    if (note == SESSD_MSG_SAVED)
        sessd_page_status(&p, SESSD_MSG_SAVED);
    else if (note >= 0)
        sessd_page_error(&p, (enum sessd_msg)note);
    if (!v->signed_in) {
        fputs("<p>", p.f);
        auth_html(p.f, sessd_page_msg(&p, SESSD_MSG_PREFS_ANON_NOTE));
        fputs("</p>\n", p.f);
    }
    fputs("<form method=\"post\" action=\"", p.f);
    sessd_page_url(&p, "/preferences");
    fputs("\">\n", p.f);
    select_begin(&p, "language", SESSD_MSG_LANGUAGE);
    option(&p, "", sessd_page_msg(&p, SESSD_MSG_LANGUAGE_AUTO), v->prefs.language);
    option(&p, "en", "English", v->prefs.language);
    option(&p, "fr", "Français", v->prefs.language);
    option(&p, "de", "Deutsch", v->prefs.language);
    fputs("</select>\n", p.f);
    select_begin(&p, "theme", SESSD_MSG_THEME);
    for (size_t i = 0; i < COUNT(themes); i++)
        option(&p, themes[i], sessd_page_msg(&p, theme_msgs[i]),
               v->prefs.theme[0] ? v->prefs.theme : "system");
    fputs("</select>\n", p.f);
    select_begin(&p, "font_size", SESSD_MSG_FONT_SIZE);
    for (size_t i = 0; i < COUNT(fonts); i++)
        option(&p, fonts[i], sessd_page_msg(&p, font_msgs[i]),
               v->prefs.font[0] ? v->prefs.font : "medium");
    fputs("</select>\n", p.f);
    sessd_page_form_end(&p, req, SESSD_MSG_SAVE);
    sessd_page_end(&p, status);
}

int sessd_auth_prefs_page(h2o_req_t *req)
{
    sessd_visitor v;
    bool saved = auth_query_flag(req, "saved");
    sessd_visitor_load(req, false, &v);
    show(req, 200, &v, saved ? SESSD_MSG_SAVED : -1);
    sessd_visitor_dispose(&v);
    return http_sent(req);
}

/* The three fields of the form; false when one is missing, over-long or not offered. */
static bool read_form(h2o_req_t *req, sessd_prefs *out)
{
    size_t len;
    const char *body = auth_body(req, &len);
    memset(out, 0, sizeof(*out));
    return auth_form_value(body, len, "language", out->language, sizeof(out->language), false) >=
               0 &&
           auth_form_value(body, len, "theme", out->theme, sizeof(out->theme), false) > 0 &&
           auth_form_value(body, len, "font_size", out->font, sizeof(out->font), false) > 0 &&
           sessd_prefs_valid(out);
}

static int save_user(h2o_req_t *req, const sessd_visitor *v, const sessd_prefs *np)
{
    char patch[SESSD_PREFS_JSON_MAX];
    size_t n = sessd_prefs_to_json(np, true, patch);
    int r = sess_prefs_patch(sessd_srv.ctx, v->rec.user, patch, n, NULL, NULL);
    if (r != 0) {
        sessd_log(SESSD_LOG_WARN, "saving preferences failed: %s", sess_strerror(r));
        http_send_error(req, r, NULL);
        return sess_err_http_status(r);
    }
    return 0;
}

int sessd_auth_prefs_post(h2o_req_t *req)
{
    sessd_visitor v;
    sessd_prefs np;
    char to[160];
    int status = 0;
    bool proof = auth_form_proof_ok(req), form = read_form(req, &np);
    if (auth_wants_json(req) && (!proof || !form))
        return !proof ? auth_deny(req, SESS_ECSRF, "the form's CSRF proof is missing")
                      : auth_deny(req, SESS_EINVAL, "invalid language, theme or size");
    sessd_visitor_load(req, proof && form, &v);
    if (proof && v.signed_in && !auth_form_token_ok(req, &v.rec))
        proof = false; /* a form of another session, or of this one before a re-login */
    if (auth_wants_json(req) && !proof) {
        sessd_visitor_dispose(&v);
        return auth_deny(req, SESS_ECSRF, "the session's CSRF token does not match");
    }
    if (!proof || !form) {
        /* The page again, with a fresh proof and the reason, in the visitor's language. */
        status = !proof ? 403 : 400;
        show(req, status, &v, !proof ? SESSD_MSG_ERR_EXPIRED_FORM : SESSD_MSG_ERR_INVALID_CHOICE);
        sessd_visitor_dispose(&v);
        return status;
    }
    if (v.signed_in) {
        status = save_user(req, &v, &np);
    } else {
        char name[160], value[SESSD_PREFS_COOKIE_MAX + 1];
        sessd_prefs_cookie_name(name, sizeof(name));
        sessd_prefs_cookie_encode(sessd_srv.ctx, &np, value);
        auth_set_cookie(req, name, value, SESSD_PREFS_COOKIE_AGE);
    }
    sessd_visitor_dispose(&v);
    if (status != 0)
        return status;
    snprintf(to, sizeof(to), "%s/preferences?saved=1", sessd_cfg()->base_path);
    return auth_see_other(req, to);
}
