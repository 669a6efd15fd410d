/*
 * server.h - the running server's shared state and its entry point.
 *
 * One process-wide sessd_server: the store and session context (thread-safe), the current
 * configuration (an immutable snapshot replaced whole on SIGHUP), and the listeners' threads.
 */
#ifndef SESSIOND_SERVER_SERVER_H
#define SESSIOND_SERVER_SERVER_H

#include <stdatomic.h>
#include <stdbool.h>

#include "server/admin.h"
#include "server/config.h"
#include "sessiond/session.h"

typedef struct sessd_server {
    sessd_config *_Atomic config; /* current snapshot; old ones live until exit */
    sess_ctx *ctx;
    sess_store *store;
    atomic_bool stopping;
    bool https; /* public_url is https */
} sessd_server;

extern sessd_server sessd_srv;

/* The current configuration snapshot (never NULL while serving). */
static inline const sessd_config *sessd_cfg(void)
{
    return atomic_load_explicit(&sessd_srv.config, memory_order_acquire);
}

/* Runs the server until SIGTERM/SIGINT. Takes ownership of `cfg` (heap). Admin commands that
 * arrive on the admin socket run through `admin_fn`. Returns the process exit status. */
int sessd_serve(sessd_config *cfg, sessd_admin_fn admin_fn);

#endif
