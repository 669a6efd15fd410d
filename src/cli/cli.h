/*
 * cli.h - the command line: shared option parsing and the entry point of each command group.
 *
 * Every command takes -c FILE, --data DIR, --store KIND and --redis-url URL so that an admin
 * command finds the same store as the server it manages. Exit statuses: 0 success, 1 runtime
 * failure, 2 bad usage or configuration. Errors are one stderr line starting "sessiond: ".
 */
#ifndef SESSIOND_CLI_H
#define SESSIOND_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "core/config.h"
#include "sessiond/session.h"

enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

/* The options every command accepts, plus the words that are left (positional arguments and
 * command-specific flags, in order). */
typedef struct cli_args {
    const char *config_file;
    const char *data_dir;
    const char *store;
    const char *redis_url;
    int argc;
    char **argv;
} cli_args;

/* Parses the common options out of argv[0..argc); the rest stays in args->argv. Returns 0 or
 * EXIT_USAGE (after printing the error). */
int cli_parse_common(int argc, char **argv, cli_args *args);

/* Loads the configuration: defaults, then the file, then SESSIOND_* variables, then flags.
 * Prints the error and returns EXIT_USAGE on failure. */
int cli_load_config(const cli_args *args, sessd_config *cfg);
/* Derives defaults and checks the whole configuration (sessd_config_finish); EXIT_USAGE after
 * printing the error. */
int cli_finish_config(sessd_config *cfg);

/* Opens the configured store and a session context on it for an admin command. */
int cli_open(const sessd_config *cfg, bool read_only, sess_store **store, sess_ctx **ctx);
void cli_close(sess_store *store, sess_ctx *ctx);

/* Prints "sessiond: MESSAGE" on stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Takes the value of flag `name` at argv[*i] ("--name VALUE" or "--name=VALUE"); NULL if the
 * word is not that flag. Advances *i past a separate value. Sets *missing when it has none. */
const char *cli_flag_value(int argc, char **argv, int *i, const char *name, bool *missing);

/* An admin command's body: `argv` are the group's words ({"apikey", "create", "NAME"}); output
 * goes to `out` and `err`. With ctx == NULL it only checks usage. Returns an exit status. The
 * same bodies run in this process on the data directory, or inside a running server through
 * its admin socket (src/core/admin.h). */
int cli_apikey_run(sess_ctx *ctx, int argc, char **argv, FILE *out, FILE *err);
int cli_session_run(sess_ctx *ctx, int argc, char **argv, FILE *out, FILE *err);
int cli_user_run(sess_ctx *ctx, int argc, char **argv, FILE *out, FILE *err);
/* For `user add` and `user passwd`: reads the password (stdin with --password-stdin, else the
 * terminal without echo) and returns in `*word` (malloc'ed; wipe and free it) the internal word
 * that carries it to cli_user_run; NULL for the other verbs. Refuses that word in argv. Returns
 * an exit status. */
int cli_user_password_word(int argc, char **argv, char **word);
/* Dispatches an admin command by its group word; what the admin socket runs. */
int cli_admin_dispatch(sess_ctx *ctx, int argc, char **argv, FILE *out, FILE *err);
/* Runs an admin command group from the command line: with the memory store through the
 * running server's admin socket, otherwise on the store itself (the data directory, or Redis;
 * the server key always comes from the data directory). */
int cli_admin(const cli_args *args, const char *group);

/* `serve`: the configuration from file, environment and flags, finished, into *out (heap; the
 * server takes it); an exit status otherwise. */
int cli_serve_config(const cli_args *args, sessd_config **out);
int cli_config(const cli_args *args);
int cli_audit(const cli_args *args);
int cli_help(const char *command);

#endif
