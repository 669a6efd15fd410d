/*
 * conns.c - the connection cap and the send watchdog (see conns.h).
 *
 * A connection over the cap is still accepted, so that it leaves the kernel's queue at once and
 * the client learns why instead of hanging in the backlog: it gets a short 503 with
 * Retry-After and is closed. Nothing of its request is read.
 */
#include "http/conns.h"
#include "core/metrics.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>

typedef struct tracked {
    h2o_linklist_t link;
    h2o_socket_t *sock;
    size_t written;   /* sock->bytes_written when last looked at */
    int64_t since_ms; /* when the pending write was first seen; 0: none pending */
    bool closing;     /* shut down by sessd_conns_close_idle; h2o has yet to close it */
} tracked;

#define BUSY_BODY                                                                                  \
    "{\"error\":\"overloaded\",\"message\":\"too many connections; retry in a moment\"}\n"
static const char busy_answer[] = "HTTP/1.1 503 Service Unavailable\r\n"
                                  "Content-Type: application/json\r\n"
                                  "Content-Disposition: " HTTP_JSON_DISPOSITION "\r\n"
                                  "Cache-Control: no-store\r\n"
                                  "Retry-After: 1\r\n"
                                  "Connection: close\r\n"
                                  "Content-Length: 75\r\n"
                                  "\r\n" BUSY_BODY;
_Static_assert(sizeof(BUSY_BODY) - 1 == 75, "Content-Length of the busy answer");

static void on_busy_sent(h2o_socket_t *sock, const char *err)
{
    (void)err;
    h2o_socket_close(sock);
}

static void refuse(h2o_socket_t *sock)
{
    atomic_fetch_add_explicit(&sessd_conn_count.refused, 1, memory_order_relaxed);
    h2o_iovec_t buf = h2o_iovec_init(busy_answer, sizeof(busy_answer) - 1);
    h2o_socket_write(sock, &buf, 1, on_busy_sent);
}

static void on_conn_close(void *data)
{
    tracked *t = data;
    h2o_linklist_unlink(&t->link);
    free(t);
    atomic_fetch_sub_explicit(&sessd_conn_count.open, 1, memory_order_relaxed);
}

void sessd_conns_admit(h2o_accept_ctx_t *ctx, h2o_socket_t *sock, h2o_linklist_t *list,
                       uint64_t max)
{
    if (atomic_fetch_add_explicit(&sessd_conn_count.open, 1, memory_order_relaxed) >= max) {
        atomic_fetch_sub_explicit(&sessd_conn_count.open, 1, memory_order_relaxed);
        refuse(sock);
        return;
    }
    tracked *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        atomic_fetch_sub_explicit(&sessd_conn_count.open, 1, memory_order_relaxed);
        h2o_socket_close(sock);
        return;
    }
    t->sock = sock;
    h2o_linklist_insert(list, &t->link);
    sock->on_close.cb = on_conn_close;
    sock->on_close.data = t;
    h2o_accept(ctx, sock);
}

void sessd_conns_watch(h2o_linklist_t *list, int64_t now_ms, int64_t timeout_ms)
{
    for (h2o_linklist_t *l = list->next; l != list; l = l->next) {
        tracked *t = H2O_STRUCT_FROM_MEMBER(tracked, link, l);
        if (!h2o_socket_is_writing(t->sock) || t->sock->bytes_written != t->written) {
            /* Idle, or a new write since the last look: start over. */
            t->written = t->sock->bytes_written;
            t->since_ms = h2o_socket_is_writing(t->sock) ? now_ms : 0;
            continue;
        }
        if (t->since_ms == 0) {
            t->since_ms = now_ms;
        } else if (now_ms - t->since_ms > timeout_ms) {
            /* Not closed here: the connection belongs to h2o, which sees the write fail and
             * closes it itself (calling on_conn_close). */
            shutdown(h2o_socket_get_fd(t->sock), SHUT_RDWR);
            t->since_ms = 0;
            atomic_fetch_add_explicit(&sessd_conn_count.send_stalled, 1, memory_order_relaxed);
        }
    }
}

/* Between requests, h2o's HTTP/1 connection reads with an empty input buffer: the bytes of a
 * request (headers and body alike) stay in the socket's input from the first one read until
 * its answer has been sent, and only then are they consumed. So an empty input, a read waiting
 * and no write pending mean that no request is in flight on it. */
static bool between_requests(h2o_socket_t *sock)
{
    return h2o_socket_is_reading(sock) && !h2o_socket_is_writing(sock) && sock->input->size == 0;
}

static void shut(h2o_linklist_t *list, bool busy_too)
{
    for (h2o_linklist_t *l = list->next; l != list; l = l->next) {
        tracked *t = H2O_STRUCT_FROM_MEMBER(tracked, link, l);
        if (!t->closing && (busy_too || between_requests(t->sock))) {
            /* As in sessd_conns_watch: h2o owns the connection; it reads the end of the stream
             * (or fails its next write) and closes it itself. */
            shutdown(h2o_socket_get_fd(t->sock), SHUT_RDWR);
            t->closing = true;
        }
    }
}

void sessd_conns_close_idle(h2o_linklist_t *list)
{
    shut(list, false);
}

void sessd_conns_close_all(h2o_linklist_t *list)
{
    shut(list, true);
}
