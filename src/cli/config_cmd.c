/*
 * config_cmd.c - `sessiond config check [-c FILE]` validates a configuration the way `serve`
 * would read it; `sessiond config docs` prints the option reference generated from the table.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

int cli_config(const cli_args *a)
{
    const char *verb = a->argc > 0 ? a->argv[0] : "";
    if (strcmp(verb, "docs") == 0 && a->argc == 1) {
        sessd_config_write_docs(stdout);
        return EXIT_OK;
    }
    if (strcmp(verb, "check") != 0 || a->argc != 1) {
        cli_error("usage: sessiond config check [-c FILE] | config docs");
        return EXIT_USAGE;
    }
    sessd_config cfg;
    int r = cli_load_config(a, &cfg);
    if (r == 0)
        r = cli_finish_config(&cfg);
    if (r != 0)
        return r;
    /* Valid, but said loudly: [session] require_secure = true would refuse it. */
    char why[512];
    if (sessd_config_insecure_cookie(&cfg, why, sizeof(why)))
        fprintf(stderr,
                "sessiond: warning: %s (set [session] require_secure = true to refuse this)\n",
                why);
    printf("%s: ok\n", a->config_file ? a->config_file : "defaults and environment");
    return EXIT_OK;
}
