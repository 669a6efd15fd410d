/*
 * serve.c - `sessiond serve`'s flags: builds the configuration from file, environment and flags;
 * main.c hands it to the server (the command line itself runs no server code).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

int cli_serve_config(const cli_args *args, sessd_config **out)
{
    static const struct {
        const char *flag, *section, *key;
    } flags[] = {{"--listen", "server", "listen"},
                 {"--threads", "server", "threads"},
                 {"--public-url", "server", "public_url"},
                 {"--log-level", "log", "level"},
                 {"--log-format", "log", "format"}};
    enum { NFLAGS = sizeof(flags) / sizeof(flags[0]) };
    const char *values[NFLAGS] = {NULL};
    for (int i = 0; i < args->argc; i++) {
        bool missing = false, known = false;
        for (size_t f = 0; f < NFLAGS && !known; f++) {
            const char *v = cli_flag_value(args->argc, args->argv, &i, flags[f].flag, &missing);
            if (missing) {
                cli_error("%s needs a value; see 'sessiond help serve'", flags[f].flag);
                return EXIT_USAGE;
            }
            if (v != NULL) {
                values[f] = v;
                known = true;
            }
        }
        if (!known) {
            cli_error("unknown argument '%s' for serve; see 'sessiond help serve'", args->argv[i]);
            return EXIT_USAGE;
        }
    }
    sessd_config *cfg = malloc(sizeof(*cfg));
    if (cfg == NULL)
        return EXIT_RUNTIME;
    int r = cli_load_config(args, cfg);
    for (size_t f = 0; f < NFLAGS && r == 0; f++) {
        char err[512];
        if (values[f] && sessd_config_set(cfg, flags[f].section, flags[f].key, values[f],
                                          flags[f].flag, err, sizeof(err)) != 0) {
            cli_error("%s", err);
            r = EXIT_USAGE;
        }
    }
    if (r == 0)
        r = cli_finish_config(cfg);
    if (r != 0) {
        free(cfg);
        return r;
    }
    *out = cfg;
    return 0;
}
