/*
 * apikey.c - `sessiond apikey create|list|revoke`: service API keys. A new key is printed once
 * on stdout; only its keyed hash is stored.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "sessiond/error.h"

static int print_key(const char *name, int64_t created, void *arg)
{
    (void)arg;
    char when[32];
    time_t t = (time_t)created;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    printf("%s\t%s\n", name, when);
    return 0;
}

int cli_apikey(const cli_args *a)
{
    const char *verb = a->argc > 0 ? a->argv[0] : NULL;
    bool needs_name = verb && (strcmp(verb, "create") == 0 || strcmp(verb, "revoke") == 0);
    bool is_list = verb && strcmp(verb, "list") == 0;
    if (!(needs_name && a->argc == 2) && !(is_list && a->argc == 1)) {
        cli_error("usage: sessiond apikey create NAME | list | revoke NAME");
        return EXIT_USAGE;
    }
    sessd_config cfg;
    sess_store *st;
    sess_ctx *ctx;
    int r = cli_load_config(a, &cfg);
    if (r == 0)
        r = cli_finish_config(&cfg);
    if (r == 0)
        r = cli_open(&cfg, false, &st, &ctx);
    if (r != 0)
        return r;
    int e;
    if (is_list) {
        e = st->ops->apikey_list(st, print_key, NULL);
    } else if (strcmp(verb, "create") == 0) {
        char key[SESS_APIKEY_STRLEN + 1];
        e = sess_apikey_create(ctx, a->argv[1], (int64_t)time(NULL), key);
        if (e == 0) {
            printf("%s\n", key);
            fflush(stdout);
            sess_wipe(key, sizeof(key));
        } else if (e == SESS_EINVAL) {
            cli_error("bad key name '%s': use 1 to 64 of [A-Za-z0-9_.-]", a->argv[1]);
        } else if (e == SESS_EEXIST) {
            cli_error("an API key named '%s' exists; revoke it first or pick another name",
                      a->argv[1]);
        }
    } else {
        e = sess_apikey_revoke(ctx, a->argv[1]);
        if (e == SESS_ENOTFOUND)
            cli_error("no API key named '%s'", a->argv[1]);
        else if (e == SESS_EINVAL)
            cli_error("bad key name '%s'", a->argv[1]);
    }
    if (e != 0 && e != SESS_EINVAL && e != SESS_EEXIST && e != SESS_ENOTFOUND)
        cli_error("%s", sess_strerror(e));
    cli_close(st, ctx);
    return e == 0 ? EXIT_OK : (e == SESS_EINVAL ? EXIT_USAGE : EXIT_RUNTIME);
}
