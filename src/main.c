/*
 * main.c - dispatch only: the first word picks the command group. `serve` is the one that joins
 * the command line (its configuration) to the HTTP server.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "http/server.h"

int main(int argc, char **argv)
{
    if (sess_crypto_init() != 0) {
        cli_error("cannot initialise libsodium (no usable random source)");
        return EXIT_RUNTIME;
    }
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
        return cli_help(NULL);
    if (strcmp(argv[1], "--version") == 0) {
        printf("sessiond %s\n", SESSIOND_VERSION);
        return EXIT_OK;
    }
    if (strcmp(argv[1], "help") == 0)
        return cli_help(argc > 2 ? argv[2] : NULL);

    static const char *const commands[] = {"serve", "apikey", "session", "config", "user", "audit"};
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(argv[1], commands[i]) != 0)
            continue;
        cli_args args;
        int r = cli_parse_common(argc - 2, argv + 2, &args);
        sessd_config *cfg = NULL;
        if (r == 0 && i == 0 && (r = cli_serve_config(&args, &cfg)) == 0)
            r = sessd_serve(cfg, cli_admin_dispatch);
        else if (r == 0 && i != 0)
            r = i == 3   ? cli_config(&args)
                : i == 5 ? cli_audit(&args)
                         : cli_admin(&args, commands[i]);
        free(args.argv);
        return r;
    }
    cli_error("unknown command '%s'; see 'sessiond --help'", argv[1]);
    return EXIT_USAGE;
}
