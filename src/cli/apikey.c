/*
 * apikey.c - `sessiond apikey create|list|revoke`: service API keys. A new key is printed once
 * on stdout; only its keyed hash is stored.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "core/clock.h"
#include "sessiond/error.h"

static int print_key(const char *name, int64_t created, void *arg)
{
    char when[32];
    time_t t = (time_t)created;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    fprintf((FILE *)arg, "%s\t%s\n", name, when);
    return 0;
}

static int create(sess_ctx *ctx, const char *name, FILE *out, FILE *err)
{
    char key[SESS_APIKEY_STRLEN + 1];
    int e = sess_apikey_create(ctx, name, sessd_now(), key);
    if (e == 0) {
        fprintf(out, "%s\n", key);
        sess_wipe(key, sizeof(key));
    } else if (e == SESS_EINVAL) {
        fprintf(err, "sessiond: bad key name '%s': use 1 to 64 of [A-Za-z0-9_.-]\n", name);
    } else if (e == SESS_EEXIST) {
        fprintf(err, "sessiond: an API key named '%s' exists; revoke it or pick another name\n",
                name);
    }
    return e;
}

int cli_apikey_run(sess_ctx *ctx, int argc, char **argv, FILE *out, FILE *err)
{
    const char *verb = argc > 1 ? argv[1] : "";
    bool named = strcmp(verb, "create") == 0 || strcmp(verb, "revoke") == 0;
    bool is_list = strcmp(verb, "list") == 0;
    if (!(named && argc == 3) && !(is_list && argc == 2)) {
        fprintf(err, "sessiond: usage: sessiond apikey create NAME | list | revoke NAME\n");
        return EXIT_USAGE;
    }
    if (ctx == NULL)
        return EXIT_OK;
    sess_store *st = sess_ctx_store(ctx);
    int e;
    if (is_list) {
        e = st->ops->apikey_list(st, print_key, out);
    } else if (strcmp(verb, "create") == 0) {
        e = create(ctx, argv[2], out, err);
    } else {
        e = sess_apikey_revoke(ctx, argv[2]);
        if (e == 0)
            fprintf(out, "revoked API key %s\n", argv[2]);
        else if (e == SESS_ENOTFOUND)
            fprintf(err, "sessiond: no API key named '%s'\n", argv[2]);
        else if (e == SESS_EINVAL)
            fprintf(err, "sessiond: bad key name '%s'\n", argv[2]);
    }
    if (e != 0 && e != SESS_EINVAL && e != SESS_EEXIST && e != SESS_ENOTFOUND)
        fprintf(err, "sessiond: %s\n", sess_strerror(e));
    return e == 0 ? EXIT_OK : (e == SESS_EINVAL ? EXIT_USAGE : EXIT_RUNTIME);
}
