/*
 * server.h - the HTTP server's entry point: N event-loop threads serving the handlers, from a
 * finished configuration, with the shared state of core/state.h.
 */
#ifndef SESSIOND_HTTP_SERVER_H
#define SESSIOND_HTTP_SERVER_H

#include "core/admin.h"
#include "core/config.h"
#include "core/state.h"

/* Runs the server until SIGTERM/SIGINT. Takes ownership of `cfg` (heap). Admin commands that
 * arrive on the admin socket run through `admin_fn`. Returns the process exit status. */
int sessd_serve(sessd_config *cfg, sessd_admin_fn admin_fn);

#endif
