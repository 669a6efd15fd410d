/*
 * audit_cmd.c - `sessiond audit verify [FILE...]`: checks the audit log's hash chain (audit.h).
 * Without FILE, the configured one ([audit] path, default DATA/audit.log). Several files are
 * checked in the order given (oldest first), each later one continuing the one before.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/audit.h"

int cli_audit(const cli_args *a)
{
    const char *verb = a->argc > 0 ? a->argv[0] : "";
    if (strcmp(verb, "verify") != 0) {
        cli_error("usage: sessiond audit verify [FILE...]");
        return EXIT_USAGE;
    }
    for (int i = 1; i < a->argc; i++)
        if (a->argv[i][0] == '-') {
            cli_error("unknown argument '%s'; see 'sessiond help audit'", a->argv[i]);
            return EXIT_USAGE;
        }
    if (a->argc > 1)
        return sessd_audit_verify((const char *const *)a->argv + 1, a->argc - 1, stdout, stderr);
    sessd_config cfg;
    int r = cli_load_config(a, &cfg);
    if (r == 0)
        r = cli_finish_config(&cfg);
    if (r != 0)
        return r;
    const char *file = cfg.audit_path;
    return sessd_audit_verify(&file, 1, stdout, stderr);
}
