/*
 * admin.h - the admin socket: SOCKETS/admin.sock ([server] socket_dir, by default the data
 * directory), a unix socket through which `sessiond apikey`
 * and `sessiond session` reach a running server whose store lives in its own memory.
 *
 * Frames: a request is a 4-byte big-endian length and the command's words separated by NULs;
 * the answer is the exit status, then stdout and stderr, each as a 4-byte length and bytes.
 * Only the server's own user (or root) may connect: the socket is 0600 in a 0700 directory
 * (storage.h, sessd_socket_dir) and the peer's credentials are checked.
 */
#ifndef SESSIOND_CORE_ADMIN_H
#define SESSIOND_CORE_ADMIN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sessiond/session.h"

#define SESSD_ADMIN_SOCK "admin.sock"
#define SESSD_ADMIN_MAX_REQUEST 65536
#define SESSD_ADMIN_MAX_ANSWER (16u << 20)

/* Runs one admin command (argv[0] is the group: "apikey" or "session"). */
typedef int (*sessd_admin_fn)(sess_ctx *ctx, int argc, char **argv, FILE *out, FILE *err);

/* Binds SOCKET_DIR/admin.sock and starts its thread. Fails when another server answers on it. */
int sessd_admin_start(const char *socket_dir, sess_ctx *ctx, sessd_admin_fn fn, char *err,
                      size_t errlen);
/* Stops the thread and removes the socket file. */
void sessd_admin_stop(void);

/* Client side: sends argv to the server on SOCKET_DIR/admin.sock and writes its stdout and stderr
 * to ours. Returns the command's exit status, or -1 (with errno) when no server answers. */
int sessd_admin_call(const char *socket_dir, int argc, char **argv);

#endif
