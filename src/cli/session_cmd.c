/*
 * session_cmd.c - `sessiond session list [--user NAME]`, `session revoke ID | --user NAME` and
 * `session revoke --created-before TIME | --ip CIDR | --agent TEXT [--yes]` (revoke.h: a dry run
 * that only counts unless --yes, progress on stderr).
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
#include "core/clock.h"
#include "core/audit.h"
#include "core/revoke.h"
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
        /* The admin line that follows (sessd_audit_admin) syncs this one too. */
        if (e == 0)
            e = sessd_audit_change_nosync(SESSD_AUDIT_REVOKE_ALL, user, NULL, NULL,
                                          sessd_audit_actor());
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
        e = sessd_audit_change_nosync(SESSD_AUDIT_REVOKE, NULL, id, NULL, sessd_audit_actor());
    if (e == 0)
        fprintf(out, "revoked %s\n", id_hex);
    else if (e == SESS_ESESSION)
        fprintf(err, "sessiond: no session with id %s\n", id_hex);
    return e;
}

/* The words of `session`: an id, --user, or the filter flags, and --yes. */
typedef struct session_args {
    const char *user, *id;
    sessd_revoke_filter filter;
    bool yes;
} session_args;

static const char USAGE[] =
    "sessiond: usage: sessiond session list [--user NAME] | revoke ID | revoke --user NAME | "
    "revoke [--created-before TIME] [--ip CIDR] [--agent TEXT] [--yes]\n";

/* Takes one filter flag at argv[*i]: 1 taken, 0 not a filter flag, EXIT_USAGE after an error. */
static int filter_flag(int argc, char **argv, int *i, session_args *a, FILE *err)
{
    static const char *const names[] = {"--created-before", "--ip", "--agent"};
    for (int k = 0; k < 3; k++) {
        bool missing = false;
        const char *v = cli_flag_value(argc, argv, i, names[k], &missing);
        if (v == NULL && !missing)
            continue;
        int bad = missing;
        if (!bad && k == 0) {
            bad = sessd_revoke_parse_time(v, &a->filter.created_before) != 0;
            a->filter.has_before = !bad;
        } else if (!bad && k == 1) {
            bad = sessd_revoke_parse_cidr(v, &a->filter) != 0;
        } else if (!bad) {
            bad = sessd_revoke_set_agent(v, &a->filter) != 0;
        }
        if (bad) {
            fprintf(err, "sessiond: %s needs %s\n", names[k],
                    k == 0   ? "a time: unix seconds or YYYY-MM-DD[THH:MM[:SS]][Z] (UTC)"
                    : k == 1 ? "an address or a CIDR block (10.0.0.0/8, 2001:db8::/32)"
                             : "a text of 1 to 256 characters without control characters");
            return EXIT_USAGE;
        }
        return 1;
    }
    return 0;
}

static int parse_words(int argc, char **argv, session_args *a, FILE *err)
{
    memset(a, 0, sizeof(*a));
    for (int i = 2; i < argc; i++) {
        bool missing = false;
        const char *v = cli_flag_value(argc, argv, &i, "--user", &missing);
        int f;
        if (missing) {
            fprintf(err, "sessiond: --user needs a name\n");
            return EXIT_USAGE;
        }
        if (v)
            a->user = v;
        else if ((f = filter_flag(argc, argv, &i, a, err)) == EXIT_USAGE)
            return EXIT_USAGE;
        else if (f == 1)
            continue;
        else if (strcmp(argv[i], "--yes") == 0)
            a->yes = true;
        else if (argv[i][0] != '-' && a->id == NULL)
            a->id = argv[i];
        else {
            fprintf(err, "sessiond: unknown argument '%s'; see 'sessiond help session'\n", argv[i]);
            return EXIT_USAGE;
        }
    }
    return 0;
}

static void progress(size_t done, size_t total, void *arg)
{
    fprintf((FILE *)arg, "sessiond: revoked %zu of %zu sessions\n", done, total);
    fflush((FILE *)arg);
}

static int revoke_filtered(sess_ctx *ctx, const session_args *a, FILE *out, FILE *err)
{
    size_t matched, revoked;
    int e = sessd_revoke_by_filter(ctx, &a->filter, !a->yes, sessd_now(), sessd_audit_actor(), NULL,
                                   &matched, &revoked, progress, err);
    if (!a->yes)
        fprintf(out, "%zu sessions match; run again with --yes to revoke them\n", matched);
    else
        fprintf(out, "revoked %zu sessions (%zu matched)\n", revoked, matched);
    return e;
}

int cli_session_run(sess_ctx *ctx, int argc, char **argv, FILE *out, FILE *err)
{
    const char *verb = argc > 1 ? argv[1] : "";
    session_args a;
    if (parse_words(argc, argv, &a, err) != 0)
        return EXIT_USAGE;
    bool is_list = strcmp(verb, "list") == 0, is_revoke = strcmp(verb, "revoke") == 0;
    bool filtered = sessd_revoke_filter_set(&a.filter);
    int ways = (a.id != NULL) + (a.user != NULL) + filtered;
    if ((!is_list && !is_revoke) || (is_list && (a.id || filtered || a.yes)) ||
        (is_revoke && ways != 1) || (a.yes && !filtered)) {
        fputs(USAGE, err);
        return EXIT_USAGE;
    }
    if (a.user && sess_check_user(a.user) != 0) {
        fprintf(err, "sessiond: '%s' is not a valid user name\n", a.user);
        return EXIT_USAGE;
    }
    if (ctx == NULL)
        return EXIT_OK;
    int e;
    if (is_list) {
        int64_t now = sessd_now();
        fprintf(out, "ID\tUSER\tCREATED\tLAST_SEEN\tEXPIRES\tCLIENT\n");
        e = a.user ? sess_list_user(ctx, a.user, now, print_session, out)
                   : sess_list_all(ctx, now, print_session, out);
    } else if (filtered) {
        e = revoke_filtered(ctx, &a, out, err);
    } else {
        e = revoke(ctx, a.id, a.user, out, err);
    }
    if (e != 0 && e != SESS_EINVAL && e != SESS_ESESSION)
        fprintf(err, "sessiond: %s\n", sess_strerror(e));
    return e == 0 ? EXIT_OK : e == SESS_EINVAL ? EXIT_USAGE : EXIT_RUNTIME;
}
