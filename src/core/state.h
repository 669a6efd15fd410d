/*
 * state.h - the running server's shared state: one process-wide sessd_server holding the store
 * and session context (thread-safe) and the current configuration (an immutable snapshot
 * replaced whole on SIGHUP). The HTTP layer (http/server.c) fills it at start; handlers read it.
 */
#ifndef SESSIOND_CORE_STATE_H
#define SESSIOND_CORE_STATE_H

#include <stdatomic.h>
#include <stdbool.h>

#include "core/config.h"
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

#endif
