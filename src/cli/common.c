/*
 * common.c - what every command shares: the common flags, configuration loading in its order
 * of precedence (defaults < file < environment < flags), and opening the store for admin work
 * (through storage.h, as the server does).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/clock.h"
#include "core/storage.h"
#include "sessiond/error.h"

void cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("sessiond: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

const char *cli_flag_value(int argc, char **argv, int *i, const char *name, bool *missing)
{
    size_t n = strlen(name);
    const char *w = argv[*i];
    *missing = false;
    if (strncmp(w, name, n) != 0)
        return NULL;
    if (w[n] == '=')
        return w + n + 1;
    if (w[n] != '\0')
        return NULL;
    if (*i + 1 >= argc) {
        *missing = true;
        return NULL;
    }
    return argv[++*i];
}

int cli_parse_common(int argc, char **argv, cli_args *args)
{
    static const char *names[] = {"-c", "--config", "--data", "--store", "--redis-url"};
    memset(args, 0, sizeof(*args));
    args->argv = calloc((size_t)argc + 1, sizeof(char *));
    if (args->argv == NULL)
        return EXIT_RUNTIME;
    for (int i = 0; i < argc; i++) {
        const char *v = NULL;
        size_t k;
        bool missing = false;
        for (k = 0; k < sizeof(names) / sizeof(names[0]); k++)
            if ((v = cli_flag_value(argc, argv, &i, names[k], &missing)) != NULL || missing)
                break;
        if (missing) {
            cli_error("%s needs a value; see 'sessiond --help'", names[k]);
            return EXIT_USAGE;
        }
        if (v == NULL) {
            args->argv[args->argc++] = argv[i];
            continue;
        }
        if (k <= 1)
            args->config_file = v;
        else if (k == 2)
            args->data_dir = v;
        else if (k == 3)
            args->store = v;
        else
            args->redis_url = v;
    }
    return 0;
}

int cli_load_config(const cli_args *a, sessd_config *cfg)
{
    char err[512];
    sessd_config_defaults(cfg);
    if (a->data_dir)
        snprintf(cfg->data_dir, sizeof(cfg->data_dir), "%s", a->data_dir);
    if (a->config_file) {
        if (sessd_config_load_file(cfg, a->config_file, err, sizeof(err)) != 0) {
            cli_error("%s", err);
            return EXIT_USAGE;
        }
        snprintf(cfg->file, sizeof(cfg->file), "%s", a->config_file);
    }
    if (sessd_config_apply_env(cfg, err, sizeof(err)) != 0 ||
        (a->store &&
         sessd_config_set(cfg, "store", "kind", a->store, "--store", err, sizeof(err)) != 0) ||
        (a->redis_url && sessd_config_set(cfg, "store", "redis_url", a->redis_url, "--redis-url",
                                          err, sizeof(err)) != 0)) {
        cli_error("%s", err);
        return EXIT_USAGE;
    }
    if (a->data_dir)
        snprintf(cfg->data_dir, sizeof(cfg->data_dir), "%s", a->data_dir);
    return 0;
}

int cli_finish_config(sessd_config *cfg)
{
    char err[512];
    if (sessd_config_finish(cfg, err, sizeof(err)) != 0) {
        cli_error("%s", err);
        return EXIT_USAGE;
    }
    return 0;
}

/* The Redis store's last warning (unreachable, refused, a risky setting), for the one error
 * line the command prints. The store keeps the pointer: the buffer lives as long as the
 * process. */
static char store_why[256];

static void store_warn(void *arg, int level, const char *msg)
{
    (void)arg;
    if (level == SESS_STORE_LOG_WARN)
        snprintf(store_why, sizeof(store_why), "%s", msg);
}

/* The store of [store] (storage.h), as the server opens it, without a near cache (an admin
 * command makes a few calls and exits; its writes reach every server's near cache through
 * pub/sub) and with two Redis connections. A Redis that does not answer is an error here. */
static int open_store(const sessd_config *cfg, bool read_only, sess_store **store)
{
    char err[512];
    sessd_store_use use = {.redis_pool = 2, .read_only = read_only, .log = store_warn};
    /* Deadlines judged as the server judges them: never before the data directory's clock. */
    sessd_clock_init(cfg->data_dir, err, sizeof(err));
    int r = sessd_store_open(cfg, &use, store, err, sizeof(err));
    bool redis = sessd_store_in_redis(cfg);
    if (r != 0) {
        if (redis)
            cli_error("cannot use the Redis store: %s", err);
        else
            cli_error("cannot open the store in %s: %s", cfg->store_path, err);
        return r == SESS_EINVAL ? EXIT_USAGE : EXIT_RUNTIME;
    }
    if (redis && (*store)->ops->ping(*store) != 0) {
        sess_store_close(*store);
        const char *where = cfg->redis_cluster[0]     ? "[store] redis_cluster"
                            : cfg->redis_sentinels[0] ? "[store] redis_sentinels"
                                                      : "[store] redis_url";
        cli_error("Redis does not answer at %s (%s); check that it runs and that the address, "
                  "password and database are right",
                  where, store_why[0] ? store_why : "no answer within redis_timeout");
        return EXIT_RUNTIME;
    }
    return 0;
}

int cli_open(const sessd_config *cfg, bool read_only, sess_store **store, sess_ctx **ctx)
{
    char err[512];
    uint8_t key[SESS_KEY_BYTES];
    if (cfg->store == SESSD_STORE_MEMORY) {
        cli_error("the memory store lives inside the server process and cannot be managed from "
                  "the command line; use the /v1 API, or --store lmdb");
        return EXIT_USAGE;
    }
    if (sessd_server_key(cfg, key, err, sizeof(err)) != 0) {
        cli_error("%s", err);
        return EXIT_RUNTIME;
    }
    int r = open_store(cfg, read_only, store);
    if (r != 0) {
        sess_wipe(key, sizeof(key));
        return r;
    }
    sess_policy pol;
    sessd_policy_from_config(cfg, &pol);
    r = sess_ctx_new(*store, key, &pol, ctx);
    sess_wipe(key, sizeof(key));
    if (r != 0) {
        sess_store_close(*store);
        cli_error("cannot use the store: %s", sess_strerror(r));
        return EXIT_RUNTIME;
    }
    return 0;
}

void cli_close(sess_store *store, sess_ctx *ctx)
{
    sess_ctx_free(ctx);
    sess_store_close(store);
}
