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

/* At shutdown: shuts down every connection of `list` that is between requests (nothing of a
 * next request read, nothing being written), so that h2o closes it as the client having left;
 * a connection with a request in flight is left to finish it. h2o 2.2 does nothing for HTTP/1
 * on a graceful shutdown, and an idle keep-alive connection would otherwise hold the loop until
 * [server] request_timeout. Called from the loop's thread, repeatedly while the loop drains: a
 * request in flight at the signal was parsed before it and keeps its keep-alive, so its
 * connection becomes idle only once answered. */
void sessd_conns_close_idle(h2o_linklist_t *list);

/* At shutdown, once the drain bound has passed: shuts down every connection of `list`, busy or
 * not; h2o closes each as it notices (at once when it reads or writes, when its answer is sent
 * for one whose request waits on a job). The loop's context can only be disposed of once h2o
 * has closed them all. */
void sessd_conns_close_all(h2o_linklist_t *list);

#endif
