/*
 * session_cmd.c - `sessiond session list [--user NAME]` and `session revoke ID | --user NAME`.
 *
 * With the lmdb store these work on the data directory directly, and a running server sees the
 * change on its very next request: every verify reads the store in a fresh read transaction,
 * and LMDB makes another process's commit visible to the next one. With the redis store they
 * write to Redis, whose scripts publish the invalidations every server's near cache applies.
 * With the memory store they run inside the server, through its admin socket.
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
    char id[SESS_ID_STRLEN + 1], created[32], seen[32], expires[32];
    sess_id_to_hex(rec->id, id);
    iso_time(rec->created, created);
    iso_time(rec->last_seen, seen);
    iso_time(rec->idle_expires < rec->abs_expires ? rec->idle_expires : rec->abs_expires, expires);
    fprintf((FILE *)arg, "%s\t%s\t%s\t%s\t%s\t%s\n", id, rec->user, created, seen, expires,
            rec->ip[0] ? rec->ip : "-");
    return 0;
}

static int revoke(sess_ctx *ctx, const char *id_hex, const char *user, FILE *out, FILE *err)
{
    if (user != NULL) {
        int e = sess_revoke_user(ctx, user);
        if (e == 0)
            fprintf(out, "revoked every session of %s\n", user);
        return e;
    }
    uint8_t id[SESS_ID_BYTES];
    if (sess_id_from_hex(id_hex, strlen(id_hex), id) != 0) {
        fprintf(err,
                "sessiond: '%s' is not a session id (32 hex characters; see 'sessiond "
                "session list')\n",
                id_hex);
        return SESS_EINVAL;
    }
    sess_store *st = sess_ctx_store(ctx);
    int e = st->ops->del(st, id);
    if (e == 0)
        fprintf(out, "revoked %s\n", id_hex);
    else if (e == SESS_ESESSION)
        fprintf(err, "sessiond: no session with id %s\n", id_hex);
    return e;
}

int cli_session_run(sess_ctx *ctx, int argc, char **argv, FILE *out, FILE *err)
{
    const char *verb = argc > 1 ? argv[1] : "";
    const char *user = NULL, *id = NULL;
    for (int i = 2; i < argc; i++) {
        bool missing = false;
        const char *v = cli_flag_value(argc, argv, &i, "--user", &missing);
        if (missing) {
            fprintf(err, "sessiond: --user needs a name\n");
            return EXIT_USAGE;
        }
        if (v)
            user = v;
        else if (argv[i][0] != '-' && id == NULL)
            id = argv[i];
        else {
            fprintf(err, "sessiond: unknown argument '%s'; see 'sessiond help session'\n", argv[i]);
            return EXIT_USAGE;
        }
    }
    bool is_list = strcmp(verb, "list") == 0, is_revoke = strcmp(verb, "revoke") == 0;
    if ((!is_list && !is_revoke) || (is_list && id) || (is_revoke && !id == !user)) {
        fprintf(err, "sessiond: usage: sessiond session list [--user NAME] | revoke ID | "
                     "revoke --user NAME\n");
        return EXIT_USAGE;
    }
    if (user && sess_check_user(user) != 0) {
        fprintf(err, "sessiond: '%s' is not a valid user name\n", user);
        return EXIT_USAGE;
    }
    if (ctx == NULL)
        return EXIT_OK;
    int e;
    if (is_list) {
        int64_t now = (int64_t)time(NULL);
        fprintf(out, "ID\tUSER\tCREATED\tLAST_SEEN\tEXPIRES\tCLIENT\n");
        e = user ? sess_list_user(ctx, user, now, print_session, out)
                 : sess_list_all(ctx, now, print_session, out);
    } else {
        e = revoke(ctx, id, user, out, err);
    }
    if (e != 0 && e != SESS_EINVAL && e != SESS_ESESSION)
        fprintf(err, "sessiond: %s\n", sess_strerror(e));
    return e == 0 ? EXIT_OK : e == SESS_EINVAL ? EXIT_USAGE : EXIT_RUNTIME;
}
