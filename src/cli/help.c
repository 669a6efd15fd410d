/*
 * help.c - `sessiond --help` and `sessiond help COMMAND`.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static const char common[] =
    "Options every command takes:\n"
    "  -c, --config FILE   configuration file (INI; see docs/configuration.md)\n"
    "  --data DIR          data directory (default ./sessiond-data)\n"
    "  --store KIND        lmdb (default), memory or redis\n"
    "  --redis-url URL     for --store redis: redis://[:PASSWORD@]HOST[:PORT][/DB]\n";

static const struct {
    const char *name, *text;
} topics[] = {
    {"serve",
     "sessiond serve [-c FILE] [--listen HOST:PORT] [--data DIR] [--store lmdb|memory|redis]\n"
     "               [--redis-url URL] [--threads N] [--public-url URL]\n"
     "               [--log-level debug|info|notice|warn] [--log-format text|json]\n"
     "  Runs the server in the foreground. Prints 'sessiond listening on http://HOST:PORT'\n"
     "  when ready (with port 0, the port it got). SIGTERM/SIGINT: finish requests in\n"
     "  flight and exit 0. SIGHUP: reload the configuration file; a bad file is refused\n"
     "  and the running configuration kept; the audit log is reopened (after a rotation).\n"},
    {"apikey", "sessiond apikey create NAME   print a new service API key once, store its hash\n"
               "sessiond apikey list          names and creation times\n"
               "sessiond apikey revoke NAME   the key stops working at once\n"},
    {"session",
     "sessiond session list [--user NAME]   one line per live session: id, user,\n"
     "                                      created, last seen, expires, client\n"
     "sessiond session revoke ID            end one session\n"
     "sessiond session revoke --user NAME   end every session of a user (O(1))\n"
     "sessiond session revoke [--created-before TIME] [--ip CIDR] [--agent TEXT] [--yes]\n"
     "  mass revocation of the live sessions matching every filter given: created\n"
     "  before TIME (unix seconds or YYYY-MM-DD[THH:MM[:SS]][Z], UTC), from a client\n"
     "  address in CIDR, with a user agent containing TEXT (any case). Without --yes\n"
     "  only prints how many match; with it revokes them, progress on stderr.\n"
     "  A revoke made while a server runs on the same data is refused by that server\n"
     "  from its very next request (with redis: by every server on that Redis).\n"},
    {"user", "sessiond user add NAME [--roles a,b] [--password-stdin]   add a login account\n"
             "sessiond user list                  name, roles, enabled/disabled, created,\n"
             "                                    password changed\n"
             "sessiond user passwd NAME [--password-stdin]   set a new password\n"
             "sessiond user roles NAME a,b [--keep-sessions]   replace the roles ('' for\n"
             "                                    none); --keep-sessions: the sessions go on\n"
             "                                    with the new roles and a new token\n"
             "sessiond user disable NAME          refuse further logins\n"
             "sessiond user del NAME              delete the account\n"
             "  The password is read from stdin with --password-stdin (one line), otherwise\n"
             "  asked twice on the terminal without echo; 8 to 1024 bytes. passwd, roles\n"
             "  (without --keep-sessions), disable and del end every session of the user at once. "
             "Hashes are argon2id\n"
             "  at [login] argon2_ops and argon2_mem.\n"},
    {"audit", "sessiond audit verify [FILE...]   check the audit log's hash chain; exit 0\n"
              "                                  intact, 1 naming the first broken line\n"
              "  Without FILE, [audit] path (default DATA/audit.log). Give rotated files\n"
              "  oldest first to check that each continues the one before.\n"},
    {"config", "sessiond config check [-c FILE]   validate a configuration; exit 0, or 2 with\n"
               "                                  an error naming file, line and key\n"
               "sessiond config docs              print the option reference (Markdown)\n"},
};

int cli_help(const char *command)
{
    if (command == NULL) {
        printf("sessiond %s - sessions for web applications\n\n"
               "Usage: sessiond COMMAND [OPTIONS]\n\nCommands:\n"
               "  serve               run the server\n"
               "  apikey              create, list and revoke service API keys\n"
               "  session             list and revoke sessions\n"
               "  user                add, list, change and delete login accounts\n"
               "  config              check a configuration file, print the option reference\n"
               "  audit               verify the audit log's hash chain\n"
               "  help COMMAND        details of one command\n"
               "  --version           print the version\n\n%s",
               SESSIOND_VERSION, common);
        return EXIT_OK;
    }
    for (size_t i = 0; i < sizeof(topics) / sizeof(topics[0]); i++)
        if (strcmp(topics[i].name, command) == 0) {
            printf("%s\n%s", topics[i].text, common);
            return EXIT_OK;
        }
    cli_error("no command '%s'; see 'sessiond --help'", command);
    return EXIT_USAGE;
}
