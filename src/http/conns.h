/*
 * conns.h - admission and watchdog of client connections: a per-process cap on open
 * connections ([server] max_connections) and a bound on how long one response may wait for a
 * client that does not read ([server] send_timeout). h2o 2.2.5 bounds the reading of a request
 * (headers and body, [server] request_timeout) but not the sending of its answer, and has no
 * connection limit: a slow reader or a flood would otherwise hold sockets and memory without end.
 *
 * Each event-loop thread keeps its own list of connections (no lock on it); only the counters
 * are shared, as relaxed atomics.
 */
#ifndef SESSIOND_HTTP_CONNS_H
#define SESSIOND_HTTP_CONNS_H

#include <stdint.h>

#include "http/http.h"

/* Hands an accepted socket to h2o and tracks it in `list` (the calling loop's), or, when the
 * process already has `max` connections open, answers 503 and closes it. */
void sessd_conns_admit(h2o_accept_ctx_t *ctx, h2o_socket_t *sock, h2o_linklist_t *list,
                       uint64_t max);

/* Shuts down every connection of `list` whose answer has waited longer than `timeout_ms` for
 * the client to read it; h2o then closes it as a failed write. Called from the loop's thread,
 * about once a second. */
void sessd_conns_watch(h2o_linklist_t *list, int64_t now_ms, int64_t timeout_ms);

#endif
