/*
 * session_cmd.c - `sessiond session list [--user NAME]` and `session revoke ID | --user NAME`.
 *
 * These work on the data directory directly. With the lmdb store a running server sees the
 * change on its very next request: every verify reads the store in a fresh read transaction,
 * and LMDB makes another process's commit visible to the next one.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "sessiond/error.h"

static void iso_time(int64_t t, char out[32])
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int print_session(const sess_record *rec, uint64_t gen, void *arg)
{
    (void)gen;
    (void)arg;
    char id[SESS_ID_STRLEN + 1], created[32], seen[32], expires[32];
    sess_id_to_hex(rec->id, id);
    iso_time(rec->created, created);
    iso_time(rec->last_seen, seen);
    iso_time(rec->idle_expires < rec->abs_expires ? rec->idle_expires : rec->abs_expires,
             expires);
    printf("%s\t%s\t%s\t%s\t%s\t%s\n", id, rec->user, created, seen, expires,
           rec->ip[0] ? rec->ip : "-");
    return 0;
}

static int list(sess_ctx *ctx, const char *user)
{
    int64_t now = (int64_t)time(NULL);
    printf("ID\tUSER\tCREATED\tLAST_SEEN\tEXPIRES\tCLIENT\n");
    return user ? sess_list_user(ctx, user, now, print_session, NULL)
                : sess_list_all(ctx, now, print_session, NULL);
}

static int revoke(sess_ctx *ctx, const char *id_hex, const char *user)
{
    if (user != NULL) {
        int e = sess_revoke_user(ctx, user);
        if (e == 0)
            printf("revoked every session of %s\n", user);
        return e;
    }
    uint8_t id[SESS_ID_BYTES];
    if (sess_id_from_hex(id_hex, strlen(id_hex), id) != 0) {
        cli_error("'%s' is not a session id (32 hex characters; see 'sessiond session list')",
                  id_hex);
        return SESS_EINVAL;
    }
    sess_store *st = sess_ctx_store(ctx);
    int e = st->ops->del(st, id);
    if (e == 0)
        printf("revoked %s\n", id_hex);
    return e;
}

int cli_session(const cli_args *a)
{
    const char *verb = a->argc > 0 ? a->argv[0] : "";
    const char *user = NULL, *id = NULL;
    for (int i = 1; i < a->argc; i++) {
        bool missing = false;
        const char *v = cli_flag_value(a->argc, a->argv, &i, "--user", &missing);
        if (missing) {
            cli_error("--user needs a name");
            return EXIT_USAGE;
        }
        if (v)
            user = v;
        else if (a->argv[i][0] != '-' && id == NULL)
            id = a->argv[i];
        else {
            cli_error("unknown argument '%s'; see 'sessiond help session'", a->argv[i]);
            return EXIT_USAGE;
        }
    }
    bool is_list = strcmp(verb, "list") == 0, is_revoke = strcmp(verb, "revoke") == 0;
    if ((!is_list && !is_revoke) || (is_list && id) || (is_revoke && !id == !user)) {
        cli_error("usage: sessiond session list [--user NAME] | revoke ID | revoke --user NAME");
        return EXIT_USAGE;
    }
    if (user && sess_check_user(user) != 0) {
        cli_error("'%s' is not a valid user name", user);
        return EXIT_USAGE;
    }
    sessd_config cfg;
    sess_store *st;
    sess_ctx *ctx;
    int r = cli_load_config(a, &cfg);
    if (r == 0)
        r = cli_finish_config(&cfg);
    if (r == 0)
        r = cli_open(&cfg, is_list, &st, &ctx);
    if (r != 0)
        return r;
    int e = is_list ? list(ctx, user) : revoke(ctx, id, user);
    if (e == SESS_ESESSION)
        cli_error("no live session with id %s", id);
    else if (e != 0 && e != SESS_EINVAL)
        cli_error("%s", sess_strerror(e));
    cli_close(st, ctx);
    return e == 0 ? EXIT_OK : e == SESS_EINVAL ? EXIT_USAGE : EXIT_RUNTIME;
}
