/*
 * admin_cmd.c - runs the admin command groups (apikey, session, user) where their store is: on
 * the data directory (lmdb, whether or not a server runs), on Redis directly (redis: every server
 * sees the change on its next request, through its near cache's invalidations), or inside the
 * running server through its admin socket (memory store, which lives only in the server's
 * process).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/admin.h"
#include "core/audit.h"

int cli_admin_dispatch(sess_ctx *ctx, int argc, char **argv, FILE *out, FILE *err)
{
    if (argc >= 1 && strcmp(argv[0], "apikey") == 0)
        return cli_apikey_run(ctx, argc, argv, out, err);
    if (argc >= 1 && strcmp(argv[0], "session") == 0)
        return cli_session_run(ctx, argc, argv, out, err);
    if (argc >= 1 && strcmp(argv[0], "user") == 0)
        return cli_user_run(ctx, argc, argv, out, err);
    fprintf(err, "sessiond: unknown admin command\n");
    return EXIT_USAGE;
}

int cli_admin(const cli_args *args, const char *group)
{
    char **words = calloc((size_t)args->argc + 3, sizeof(char *));
    char *password = NULL;
    if (words == NULL)
        return EXIT_RUNTIME;
    words[0] = (char *)group;
    memcpy(words + 1, args->argv, (size_t)args->argc * sizeof(char *));
    int argc = args->argc + 1;
    sessd_config cfg;
    int r = cli_admin_dispatch(NULL, argc, words, stdout, stderr);
    if (r == 0)
        r = cli_load_config(args, &cfg);
    if (r == 0)
        r = cli_finish_config(&cfg);
    /* The password is asked for once the configuration is known to be good. */
    if (r == 0 && strcmp(group, "user") == 0 &&
        (r = cli_user_password_word(argc, words, &password)) == 0 && password != NULL)
        words[argc++] = password;
    /* A sealed cookie carries its roles inside, out of reach of a store write: keeping the
     * sessions would leave them with the old roles until their deadline. */
    if (r == 0 && cfg.store == SESSD_STORE_COOKIE && strcmp(group, "user") == 0 && argc > 1 &&
        strcmp(words[1], "roles") == 0) {
        for (int i = 2; i < argc; i++) {
            if (strcmp(words[i], "--keep-sessions") == 0) {
                cli_error("--keep-sessions cannot reach sealed cookies (store = cookie: their "
                          "roles are sealed inside them); run 'user roles' without it, which "
                          "ends the user's sessions");
                r = EXIT_USAGE;
                break;
            }
        }
    }
    if (r == 0 && cfg.store == SESSD_STORE_MEMORY) {
        r = sessd_admin_call(cfg.socket_dir, argc, words);
        if (r < 0) {
            cli_error("no server answers on %s/%s: the memory store lives inside a running "
                      "server; start 'sessiond serve --store memory --data %s' first (with the "
                      "same [server] socket_dir)",
                      cfg.socket_dir, SESSD_ADMIN_SOCK, cfg.data_dir);
            r = EXIT_RUNTIME;
        }
    } else if (r == 0) {
        /* lmdb or redis. Read-write even to list: a read-only open cannot create an lmdb store
         * that no server has created yet, and listing an empty store should just print
         * nothing. */
        sess_store *st;
        sess_ctx *ctx;
        char err[1200];
        r = cli_open(&cfg, false, &st, &ctx);
        /* Writes are audited here, in this process; a command that cannot be audited does
         * not run. Listings neither write nor open the audit log. */
        bool writes = argc < 2 || strcmp(words[1], "list") != 0;
        if (r == 0 && writes && sessd_audit_open(cfg.audit_path, err, sizeof(err)) != 0) {
            cli_error("%s", err);
            cli_close(st, ctx);
            r = EXIT_RUNTIME;
        } else if (r == 0) {
            sessd_audit_on_failure(strcmp(cfg.audit_on_failure, "continue") == 0);
            r = cli_admin_dispatch(ctx, argc, words, stdout, stderr);
            if (sessd_audit_admin(argc, words, r) != 0) {
                cli_error("the command ran, but its audit line could not be written, so it is "
                          "not confirmed ([audit] on_failure = refuse); check the disk and %s",
                          cfg.audit_path);
                r = EXIT_RUNTIME;
            }
            sessd_audit_close(false);
            cli_close(st, ctx);
        }
    }
    if (password != NULL) {
        sess_wipe(password, strlen(password));
        free(password);
    }
    free(words);
    return r;
}
