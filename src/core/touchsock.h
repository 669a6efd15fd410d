/*
 * touchsock.h - SOCKET_DIR/touch.sock ([server] socket_dir, by default the data directory): where
 * the nginx module (docs/nginx-module.md) reports the sessions it let through, so that their idle
 * deadlines move as if the requests had reached sessiond. A unix datagram socket, 0600 in a 0700
 * directory: only the server's own user can send. A datagram is 1 to SESSD_TOUCH_MAX_IDS session
 * ids of 16 bytes; each live one gets the touch a verify would give it (sess_touch_id: at most once
 * per touch_interval, written by the periodic flush). Anything else is dropped. Nothing is ever
 * answered.
 */
#ifndef SESSIOND_CORE_TOUCHSOCK_H
#define SESSIOND_CORE_TOUCHSOCK_H

#include <stddef.h>

#include "sessiond/session.h"

#define SESSD_TOUCH_SOCK "touch.sock"
#define SESSD_TOUCH_MAX_IDS 64

/* Binds SOCKET_DIR/touch.sock (replacing a stale one: call it after sessd_admin_start, which fails
 * when another server runs on the directory) and starts its thread. */
int sessd_touchsock_start(const char *socket_dir, sess_ctx *ctx, char *err, size_t errlen);
/* Stops the thread and removes the socket file; a no-op when not started. */
void sessd_touchsock_stop(void);

#endif
