/*
 * devices.c - "your devices": GET base_path/sessions lists the signed-in user's live sessions
 * (browser, address, when signed in, last seen; the one of this request marked in words, not
 * only by style) and POST base_path/sessions/revoke ends one of them (field session_id) or all
 * but the current one (field others=1). The forms carry the CSRF proof of auth.h; the revoke
 * answers 303 back to the list (or to the login page when the current session was ended).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/audit.h"
#include "core/clock.h"
#include "http/auth.h"
#include "http/pages.h"
#include "http/prefs.h"
#include "core/state.h"
#include "sessiond/error.h"

#define DEVICES_MAX 256 /* rows shown; [session] max_per_user is normally far below */

typedef struct device {
    uint8_t id[SESS_ID_BYTES];
    char ip[SESS_IP_MAX + 1];
    char agent[SESS_AGENT_MAX + 1];
    int64_t created, last_seen;
} device;

typedef struct device_list {
    device *rows;
    size_t n;
} device_list;

static int collect(const sess_record *rec, uint64_t gen, void *arg)
{
    (void)gen;
    device_list *l = arg;
    if (l->n == DEVICES_MAX)
        return 0;
    device *d = &l->rows[l->n++];
    memcpy(d->id, rec->id, SESS_ID_BYTES);
    memcpy(d->ip, rec->ip, sizeof(d->ip));
    memcpy(d->agent, rec->agent, sizeof(d->agent));
    d->created = rec->created;
    d->last_seen = rec->last_seen;
    return 0;
}

/* The user's live sessions into `l` (rows malloc'ed; the caller frees). */
static int list_devices(const char *user, device_list *l)
{
    l->n = 0;
    l->rows = calloc(DEVICES_MAX, sizeof(device));
    if (l->rows == NULL)
        return SESS_ENOMEM;
    return sess_list_user(sessd_srv.ctx, user, sessd_now(), collect, l);
}

static void when(FILE *f, int64_t t)
{
    char iso[32], shown[32];
    struct tm tm;
    time_t tt = (time_t)t;
    gmtime_r(&tt, &tm);
    strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%SZ", &tm);
    strftime(shown, sizeof(shown), "%Y-%m-%d %H:%M UTC", &tm);
    fprintf(f, "<time datetime=\"%s\">%s</time>", iso, shown);
}

static void revoke_form_begin(sessd_page *p, const char *proof)
{
    fputs("<form method=\"post\" action=\"", p->f);
    sessd_page_url(p, "/sessions/revoke");
    fputs("\">\n", p->f);
    sessd_page_hidden(p, "csrf", proof);
    sessd_page_csrf(p);
}

static void row(sessd_page *p, const device *d, bool current, const char *proof)
{
    char id[SESS_ID_STRLEN + 1];
    sess_id_to_hex(d->id, id);
    fprintf(p->f, "<tr%s id=\"s-%s\">\n<td>", current ? " class=\"current\"" : "", id);
    auth_html(p->f, d->agent[0] ? d->agent : sessd_page_msg(p, SESSD_MSG_UNKNOWN_AGENT));
    if (current) {
        fputs(" <strong>(", p->f);
        auth_html(p->f, sessd_page_msg(p, SESSD_MSG_THIS_DEVICE));
        fputs(")</strong>", p->f);
    }
    fputs("</td>\n<td>", p->f);
    auth_html(p->f, d->ip);
    fputs("</td>\n<td>", p->f);
    when(p->f, d->created);
    fputs("</td>\n<td>", p->f);
    when(p->f, d->last_seen);
    fputs("</td>\n<td>", p->f);
    revoke_form_begin(p, proof);
    sessd_page_hidden(p, "session_id", id);
    fprintf(p->f, "<button type=\"submit\" class=\"plain\" aria-describedby=\"s-%s\">", id);
    auth_html(p->f, sessd_page_msg(p, SESSD_MSG_REVOKE));
    fputs("</button></form></td>\n</tr>\n", p->f);
}

/* The page; `note` is -1, SESSD_MSG_REVOKED, or an error message. */
static void show(h2o_req_t *req, int status, const sessd_visitor *v, const device_list *l, int note)
{
    static const enum sessd_msg heads[] = {SESSD_MSG_DEVICE, SESSD_MSG_ADDRESS, SESSD_MSG_CREATED,
                                           SESSD_MSG_LAST_SEEN};
    char proof[SESS_TOKEN_STRLEN + 1];
    sessd_page p;
    if (!sessd_page_begin(&p, req, v, SESSD_MSG_DEVICES))
        return;
    auth_form_proof(req, proof);
    if (note == SESSD_MSG_REVOKED)
        sessd_page_status(&p, SESSD_MSG_REVOKED);
    else if (note >= 0)
        sessd_page_error(&p, (enum sessd_msg)note);
    fputs("<table>\n<caption>", p.f);
    auth_html(p.f, sessd_page_msg(&p, SESSD_MSG_DEVICES_CAPTION));
    fputs("</caption>\n<thead><tr>", p.f);
    for (size_t i = 0; i < sizeof(heads) / sizeof(heads[0]); i++) {
        fputs("<th scope=\"col\">", p.f);
        auth_html(p.f, sessd_page_msg(&p, heads[i]));
        fputs("</th>", p.f);
    }
    fputs("<th scope=\"col\"><span class=\"sr-only\">", p.f);
    auth_html(p.f, sessd_page_msg(&p, SESSD_MSG_SIGN_OUT));
    fputs("</span></th></tr></thead>\n<tbody>\n", p.f);
    for (size_t i = 0; i < l->n; i++)
        row(&p, &l->rows[i], memcmp(l->rows[i].id, v->rec.id, SESS_ID_BYTES) == 0, proof);
    fputs("</tbody>\n</table>\n", p.f);
    revoke_form_begin(&p, proof);
    fputs("<input type=\"hidden\" name=\"others\" value=\"1\">\n<button type=\"submit\">", p.f);
    auth_html(p.f, sessd_page_msg(&p, SESSD_MSG_REVOKE_OTHERS));
    fputs("</button>\n</form>\n", p.f);
    sessd_page_end(&p, status);
}

/* Answers the page for the request's session (or sends a visitor without one to log in). */
static int page(h2o_req_t *req, int status, int note)
{
    sessd_visitor v;
    device_list l = {0};
    sessd_visitor_load(req, status == 200, &v);
    if (!v.signed_in)
        return auth_sign_in_first(req, "/sessions");
    int r = list_devices(v.rec.user, &l);
    if (r == 0) {
        show(req, status, &v, &l, note);
    } else {
        http_send_error(req, r, NULL);
        status = sess_err_http_status(r);
    }
    free(l.rows);
    sessd_visitor_dispose(&v);
    return status;
}

int sessd_auth_devices_page(h2o_req_t *req)
{
    return page(req, 200, auth_query_flag(req, "revoked") ? SESSD_MSG_REVOKED : -1);
}

/* Ends every session of the user but the current one, a page of DEVICES_MAX at a time (the
 * current one stays in each page, so a full page that ended nothing is the last). */
static int revoke_others(const sessd_visitor *v)
{
    device_list l = {0};
    size_t ended;
    int r;
    do {
        ended = 0;
        r = list_devices(v->rec.user, &l);
        for (size_t i = 0; r == 0 && i < l.n; i++) {
            if (memcmp(l.rows[i].id, v->rec.id, SESS_ID_BYTES) != 0) {
                r = sess_delete(sessd_srv.ctx, l.rows[i].id);
                if (r == 0)
                    r = sessd_audit_change_nosync(SESSD_AUDIT_REVOKE, v->rec.user, l.rows[i].id,
                                                  NULL, "by the user: every other device");
                ended++;
            }
        }
        free(l.rows);
    } while (r == 0 && l.n == DEVICES_MAX && ended > 0);
    return r == 0 ? sessd_audit_sync() : r;
}

/* Ends one session of the user's; SESS_ENOTFOUND for another user's or an unknown one (the
 * answer does not tell them apart). */
static int revoke_one(const sessd_visitor *v, const uint8_t id[SESS_ID_BYTES])
{
    sess_record rec;
    int r = sess_get(sessd_srv.ctx, id, sessd_now(), &rec);
    if (r == SESS_ESESSION)
        return SESS_ENOTFOUND;
    if (r != 0)
        return r;
    bool mine = strcmp(rec.user, v->rec.user) == 0;
    sess_record_dispose(&rec);
    if (!mine)
        return SESS_ENOTFOUND;
    r = sess_delete(sessd_srv.ctx, id);
    if (r == 0) /* ended, but not confirmed without its audit line */
        r = sessd_audit_change(SESSD_AUDIT_REVOKE, v->rec.user, id, NULL,
                               "by the user: one device");
    return r;
}

/* ASVS 7.5.2: ending another device takes the password again unless the login is fresh
 * ([session] devices_fresh). A browser goes through the step-up form, which renews the login
 * and brings it back to this page; a script gets 403 with X-Auth-Reason: reauth, as a fresh:
 * rule answers it. Nothing is ended meanwhile. */
static int confirm_first(h2o_req_t *req)
{
    char to[2 * 128 + 32]; /* base_path twice */
    const char *base = sessd_cfg()->base_path;
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-auth-reason"), 0, NULL,
                          H2O_STRLIT("reauth"));
    if (auth_wants_json(req))
        return auth_deny(req, SESS_EFORBIDDEN,
                         "ending another device needs a recent login; confirm the password at "
                         "the login page with ?reauth=1 first");
    snprintf(to, sizeof(to), "%s/login?reauth=1&rd=%s/sessions", base, base);
    return auth_see_other(req, to);
}

int sessd_auth_devices_revoke(h2o_req_t *req)
{
    sessd_visitor v;
    uint8_t id[SESS_ID_BYTES];
    char hex[SESS_ID_STRLEN + 2], others[4], to[200];
    size_t len;
    const char *body = auth_body(req, &len);
    if (!auth_form_proof_ok(req))
        return auth_wants_json(req) ? auth_deny(req, SESS_ECSRF, "the form's CSRF proof is missing")
                                    : page(req, 403, SESSD_MSG_ERR_EXPIRED_FORM);
    long hl = auth_form_value(body, len, "session_id", hex, sizeof(hex), false);
    bool all = auth_form_value(body, len, "others", others, sizeof(others), false) > 0;
    if (!all && (hl != SESS_ID_STRLEN || sess_id_from_hex(hex, (size_t)hl, id) != 0))
        return auth_deny(req, SESS_EINVAL, "session_id or others=1 is required");
    sessd_visitor_load(req, false, &v);
    if (!v.signed_in)
        return auth_sign_in_first(req, "/sessions");
    if (!auth_form_token_ok(req, &v.rec)) {
        sessd_visitor_dispose(&v);
        return auth_wants_json(req)
                   ? auth_deny(req, SESS_ECSRF, "the session's CSRF token does not match")
                   : page(req, 403, SESSD_MSG_ERR_EXPIRED_FORM);
    }
    bool self = !all && memcmp(id, v.rec.id, SESS_ID_BYTES) == 0;
    if (!self && sessd_now() - v.rec.auth_time >= sessd_cfg()->devices_fresh) {
        sessd_visitor_dispose(&v);
        return confirm_first(req);
    }
    int r = all ? revoke_others(&v) : revoke_one(&v, id);
    sessd_visitor_dispose(&v);
    if (r != 0) {
        http_send_error(req, r, r == SESS_ENOTFOUND ? "no such session of yours" : NULL);
        return sess_err_http_status(r);
    }
    if (self) {
        auth_clear_session_cookie(req);
        snprintf(to, sizeof(to), "%s/login", sessd_cfg()->base_path);
    } else {
        snprintf(to, sizeof(to), "%s/sessions?revoked=1", sessd_cfg()->base_path);
    }
    return auth_see_other(req, to);
}
