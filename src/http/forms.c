/*
 * forms.c - form and query values, HTML escaping and header value sanitising (forms.h).
 */
#include "http/forms.h"
#include "http/auth.h"

#include <arpa/inet.h>
#include <stdatomic.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/log.h"
#include "core/state.h"
#include "sessiond/access.h"
#include "sessiond/cookie.h"
#include "sessiond/error.h"
#include "sessiond/text.h"

const char *auth_body(h2o_req_t *req, size_t *len)
{
    *len = req->entity.base != NULL ? req->entity.len : 0;
    return req->entity.base != NULL ? req->entity.base : "";
}

bool auth_query_flag(h2o_req_t *req, const char *name)
{
    char v[4];
    return req->query_at != SIZE_MAX &&
           auth_form_value(req->path.base + req->query_at + 1, req->path.len - req->query_at - 1,
                           name, v, sizeof(v), false) > 0;
}

long auth_form_value(const char *src, size_t len, const char *name, char *out, size_t cap,
                     bool to_end)
{
    size_t nl = strlen(name), i = 0;
    while (i < len) {
        const char *amp = memchr(src + i, '&', len - i);
        size_t end = amp ? (size_t)(amp - src) : len;
        if (end - i > nl && memcmp(src + i, name, nl) == 0 && src[i + nl] == '=') {
            size_t vstart = i + nl + 1;
            long n =
                sess_percent_decode(src + vstart, (to_end ? len : end) - vstart, true, out, cap);
            return n < 0 ? -2 : n;
        }
        i = end + 1;
    }
    return -1;
}

void auth_html(FILE *f, const char *s)
{
    for (; *s != '\0'; s++) {
        switch (*s) {
        case '&':
            fputs("&amp;", f);
            break;
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        case '\'':
            fputs("&#39;", f);
            break;
        default:
            fputc(*s, f);
        }
    }
}

size_t auth_sanitize(const char *in, size_t len, char *out, size_t cap)
{
    return sess_sanitize_text(in, len, out,
                              cap - 1 < SESSD_HEADER_VALUE_MAX ? cap : SESSD_HEADER_VALUE_MAX + 1);
}
