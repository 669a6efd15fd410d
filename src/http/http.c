/*
 * http.c - request and response helpers shared by the handlers. Every answer carries
 * Cache-Control: no-store (session state must never be cached by a proxy) and nosniff; every
 * JSON answer also Content-Disposition: attachment (HTTP_JSON_DISPOSITION in http.h).
 */
#include "http/http.h"

#include <arpa/inet.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "core/jsonflat.h"
#include "core/jsonw.h"
#include "core/metrics.h"
#include "sessiond/error.h"
#include "sessiond/record.h"

const char *http_header(h2o_req_t *req, const char *name, size_t *len)
{
    ssize_t i = h2o_find_header_by_str(&req->headers, name, strlen(name), -1);
    if (i < 0) {
        *len = 0;
        return NULL;
    }
    *len = req->headers.entries[i].value.len;
    return req->headers.entries[i].value.base;
}

/* http_header for a name h2o knows as a token: h2o files such headers under the token, so this
 * finds the same entry by comparing one pointer a header instead of the names' bytes. */
static const char *token_header(h2o_req_t *req, const h2o_token_t *token, size_t *len)
{
    ssize_t i = h2o_find_header(&req->headers, token, -1);
    if (i < 0) {
        *len = 0;
        return NULL;
    }
    *len = req->headers.entries[i].value.len;
    return req->headers.entries[i].value.base;
}

size_t http_header_bytes(h2o_req_t *req)
{
    size_t n = req->path.len + req->method.len + req->authority.len;
    for (size_t i = 0; i < req->headers.size; i++)
        n += req->headers.entries[i].name->len + req->headers.entries[i].value.len + 4;
    return n;
}

/* The header line [p, end) is `name` (lower case, with its colon): its value, trimmed, in *v. */
static bool head_line_is(const char *p, const char *end, const char *name, h2o_iovec_t *v)
{
    size_t n = strlen(name);
    if ((size_t)(end - p) < n || strncasecmp(p, name, n) != 0)
        return false;
    p += n;
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    *v = h2o_iovec_init(p, (size_t)(end - p));
    return true;
}

bool http_head_framing_ambiguous(const char *head, size_t len)
{
    const char *p = head, *end = head + len;
    size_t lengths = 0, encodings = 0;
    bool chunked = false, request_line = true;
    while (p < end && (*p == '\r' || *p == '\n')) /* empty lines before a request are skipped */
        p++;
    for (;;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (nl == NULL)
            return true; /* no end of the head: not a request h2o parsed; fail closed */
        const char *le = nl > p && nl[-1] == '\r' ? nl - 1 : nl;
        if (le == p)
            break; /* the empty line that ends the head */
        h2o_iovec_t v;
        if (!request_line && (*p == ' ' || *p == '\t'))
            return true; /* a folded line continues the header before it: read two ways */
        if (request_line) {
            request_line = false;
        } else if (head_line_is(p, le, "content-length:", &v)) {
            lengths++;
        } else if (head_line_is(p, le, "transfer-encoding:", &v)) {
            encodings++;
            chunked = h2o_lcstris(v.base, v.len, H2O_STRLIT("chunked"));
        }
        p = nl + 1;
    }
    return lengths > 1 || encodings > 1 || (encodings == 1 && (lengths > 0 || !chunked));
}

bool http_framing_ambiguous(h2o_req_t *req)
{
    /* Only a request that had a Content-Length or a Transfer-Encoding has an entity; h2o 2.2
     * keeps both headers out of req->headers, so they are read again from the request's head,
     * which is still at the start of the connection's input (h2o drops a request's bytes from it
     * only once its answer is sent). HTTP/2 frames bodies itself. */
    if (req->entity.base == NULL || req->version >= 0x200)
        return false;
    h2o_socket_t *sock = req->conn->callbacks->get_socket != NULL
                             ? req->conn->callbacks->get_socket(req->conn)
                             : NULL;
    if (sock == NULL || sock->input == NULL)
        return true;
    return http_head_framing_ambiguous(sock->input->bytes, sock->input->size);
}

bool http_method_is(h2o_req_t *req, const char *m)
{
    return h2o_memis(req->method.base, req->method.len, m, strlen(m));
}

const char *http_bearer(h2o_req_t *req, size_t *len)
{
    size_t n;
    const char *v = token_header(req, H2O_TOKEN_AUTHORIZATION, &n);
    if (v == NULL || n < 7 || strncasecmp(v, "Bearer ", 7) != 0)
        return NULL;
    v += 7;
    n -= 7;
    while (n > 0 && *v == ' ') {
        v++;
        n--;
    }
    while (n > 0 && v[n - 1] == ' ')
        n--;
    *len = n;
    return n ? v : NULL;
}

void http_peer_addr(h2o_req_t *req, char *out, size_t cap)
{
    struct sockaddr_storage ss;
    socklen_t sl = req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss);
    out[0] = '\0';
    if (sl == 0 || cap < 64)
        return;
    if (ss.ss_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, out, (socklen_t)cap);
    else if (ss.ss_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, out, (socklen_t)cap);
}

static const char *reason_phrase(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 413:
        return "Content Too Large";
    case 415:
        return "Unsupported Media Type";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 503:
        return "Service Unavailable";
    default:
        return status < 500 ? "Error" : "Internal Server Error";
    }
}

static void common_headers(h2o_req_t *req, const char *ctype)
{
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, ctype,
                   strlen(ctype));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
                   H2O_STRLIT("no-store"));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-content-type-options"), 0,
                          NULL, H2O_STRLIT("nosniff"));
    if (strncmp(ctype, "application/json", 16) == 0)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_DISPOSITION, NULL,
                       H2O_STRLIT(HTTP_JSON_DISPOSITION));
}

/* An empty body goes out with no buffer at all: h2o_send_inline's one zero-length buffer made
 * h2o's HTTP/1 writer send the headers, wait for the socket to be writable again (two
 * epoll_ctl calls and an epoll_wait) and write nothing a second time: half the system calls
 * of every 200 of /auth/verify (strace -c; docs/benchmarks.md). */
static void send_body(h2o_req_t *req, const char *body, size_t len)
{
    static h2o_generator_t no_body = {NULL, NULL};
    if (len > 0) {
        h2o_send_inline(req, body, len);
        return;
    }
    h2o_start_response(req, &no_body);
    h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
}

int http_send_text(h2o_req_t *req, int status, const char *content_type, const char *body,
                   size_t len)
{
    req->res.status = status;
    req->res.reason = reason_phrase(status);
    /* A known length keeps the connection alive: without it h2o falls back to chunked, which it
     * only does for 200 and otherwise closes the connection. */
    req->res.content_length = len;
    common_headers(req, content_type);
    send_body(req, body, len);
    return status;
}

static const char oom_answer[] = "{\"error\":\"internal\",\"message\":\"out of memory\"}";

int http_send_json(h2o_req_t *req, int status, json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (text == NULL)
        return http_send_text(req, 500, "application/json", oom_answer, sizeof(oom_answer) - 1);
    http_send_text(req, status, "application/json", text, strlen(text));
    free(text);
    return status;
}

int http_send_error(h2o_req_t *req, int err, const char *msg)
{
    if (err == SESS_ESTORE || err == SESS_EFULL || err == SESS_ECORRUPT || err == SESS_EINTERNAL)
        sessd_metrics_store_error();
    int status = sess_err_http_status(err);
    jsonw w;
    jw_init(&w);
    jw_raw(&w, "{\"error\":", 9);
    jw_str(&w, sess_err_code(err));
    jw_raw(&w, ",\"message\":", 11);
    jw_str(&w, msg != NULL ? msg : sess_strerror(err));
    jw_raw(&w, "}", 1);
    if (w.failed)
        status = http_send_text(req, 500, "application/json", oom_answer, sizeof(oom_answer) - 1);
    else
        http_send_text(req, status, "application/json", w.buf, w.len);
    jw_free(&w);
    return status;
}

int http_send_empty(h2o_req_t *req, int status)
{
    req->res.status = status;
    req->res.reason = reason_phrase(status);
    req->res.content_length = 0;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
                   H2O_STRLIT("no-store"));
    send_body(req, "", 0);
    return status;
}

static bool json_content_type(h2o_req_t *req)
{
    size_t n;
    const char *v = token_header(req, H2O_TOKEN_CONTENT_TYPE, &n);
    if (v == NULL)
        return false;
    size_t base = 0;
    while (base < n && v[base] != ';' && v[base] != ' ')
        base++;
    return (base == 16 && strncasecmp(v, "application/json", 16) == 0) ||
           (base == 28 && strncasecmp(v, "application/merge-patch+json", 28) == 0);
}

int http_flat_body(h2o_req_t *req, sessd_flat *out)
{
    if (!json_content_type(req)) {
        http_send_error(req, SESS_EMEDIATYPE, NULL);
        return -1;
    }
    size_t len = req->entity.len;
    if (len == 0 || len > SESSD_JSONFLAT_MAX_BYTES)
        return 0;
    char *copy = h2o_mem_alloc_pool(&req->pool, len);
    memcpy(copy, req->entity.base, len);
    if (sessd_jsonflat_scan(copy, len, out) != 0)
        return 0;
    /* Every key and string value ends at its closing quote: a NUL there makes it a C string. */
    for (size_t k = 0; k < out->count; k++) {
        const sessd_flat_member *m = &out->m[k];
        copy[(size_t)(m->key - copy) + m->key_len] = '\0';
        if (m->kind == SESSD_FLAT_STRING)
            copy[(size_t)(m->val - copy) + m->val_len] = '\0';
    }
    return 1;
}

json_t *http_json_body(h2o_req_t *req)
{
    if (!json_content_type(req)) {
        http_send_error(req, SESS_EMEDIATYPE, NULL);
        return NULL;
    }
    /* The flat bodies of the hot endpoints without jansson's general parser (about a tenth of
     * its instructions); anything else, malformed text included, is jansson's to answer. */
    json_t *v = sessd_jsonflat_parse(req->entity.base, req->entity.len);
    if (v != NULL)
        return v;
    json_error_t jerr;
    v = json_loadb(req->entity.base, req->entity.len, JSON_REJECT_DUPLICATES, &jerr);
    if (v == NULL) {
        /* jansson's own text may quote the input (a token, say): report the place only. */
        char msg[128];
        snprintf(msg, sizeof(msg), "malformed JSON at line %d, column %d", jerr.line, jerr.column);
        http_send_error(req, SESS_EINVAL, msg);
        return NULL;
    }
    if (!json_is_object(v)) {
        json_decref(v);
        http_send_error(req, SESS_EINVAL, "the body must be a JSON object");
        return NULL;
    }
    return v;
}

void http_unknown_field(h2o_req_t *req, const char *key)
{
    /* The first 64 bytes of the name, cut at a character boundary: half a UTF-8 character would
     * make the answer invalid JSON text (jansson refuses it, and the client got a 500). */
    char name[65], msg[160];
    sess_copy_bounded(name, sizeof(name), key);
    snprintf(msg, sizeof(msg), "unknown field \"%s\"", name);
    http_send_error(req, SESS_EINVAL, msg);
}

bool http_take_keys(h2o_req_t *req, json_t *obj, const char *const *allowed, json_t **vals)
{
    size_t n = 0;
    while (allowed[n] != NULL)
        n++;
    if (vals != NULL)
        memset(vals, 0, n * sizeof(*vals));
    const char *key;
    json_t *val;
    json_object_foreach(obj, key, val)
    {
        size_t a = 0;
        while (a < n && strcmp(allowed[a], key) != 0)
            a++;
        if (a == n) {
            http_unknown_field(req, key);
            return false;
        }
        if (vals != NULL)
            vals[a] = val;
    }
    return true;
}

bool http_only_keys(h2o_req_t *req, json_t *obj, const char *const *allowed)
{
    return http_take_keys(req, obj, allowed, NULL);
}
