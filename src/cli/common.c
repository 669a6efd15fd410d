/*
 * common.c - what every command shares: the common flags, configuration loading in its order
 * of precedence (defaults < file < environment < flags), and opening the store for admin work.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "server/server.h"
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

/* Creates the data directory (mode 0700) when missing. */
static int ensure_dir(const char *dir)
{
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        cli_error("cannot create the data directory %s: %s", dir, strerror(errno));
        return -1;
    }
    return 0;
}

/* A data directory others can write to would let them swap the store or the key under us:
 * it must be ours and closed to group and others. A symbolic link is followed (the data may
 * live on another disk), and the directory it leads to is what is checked. */
static int check_private_dir(const char *dir, char *err, size_t errlen)
{
    struct stat st;
    if (stat(dir, &st) != 0)
        return 0; /* absent: created later with mode 0700 */
    if (!S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "%s is not a directory", dir);
        return -1;
    }
    if (st.st_uid != geteuid()) {
        snprintf(err, errlen,
                 "%s belongs to uid %u, not to this user (uid %u); use a data "
                 "directory of your own",
                 dir, (unsigned)st.st_uid, (unsigned)geteuid());
        return -1;
    }
    if (st.st_mode & 022) {
        snprintf(err, errlen, "%s is writable by group or others (mode %03o); run chmod 700 %s",
                 dir, (unsigned)(st.st_mode & 0777), dir);
        return -1;
    }
    return 0;
}

int sessd_server_key(const sessd_config *c, uint8_t key[SESS_KEY_BYTES], char *err, size_t errlen)
{
    char path[SESSD_STR + 16];
    if (ensure_dir(c->data_dir) != 0) {
        snprintf(err, errlen, "cannot use the data directory %s", c->data_dir);
        return -1;
    }
    snprintf(path, sizeof(path), "%s/store", c->store_path);
    if (check_private_dir(c->data_dir, err, errlen) != 0 ||
        check_private_dir(c->store_path, err, errlen) != 0 ||
        check_private_dir(path, err, errlen) != 0)
        return -1;
    snprintf(path, sizeof(path), "%s/server.key", c->data_dir);
    return sess_key_load_or_create(path, key, err, errlen);
}

static int open_lmdb(const sessd_config *cfg, bool read_only, sess_store **store)
{
    char err[512];
    sess_store_opts o = {.path = cfg->store_path, .read_only = read_only};
    if (sess_store_lmdb_open(&o, store, err, sizeof(err)) != 0) {
        cli_error("cannot open the store in %s: %s", cfg->store_path, err);
        return EXIT_RUNTIME;
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

/* Redis, as the server sees it (same key prefix), without a near cache: an admin command makes
 * a few calls and exits. Its writes reach every server's near cache through pub/sub. */
static int open_redis(const sessd_config *cfg, sess_store **store)
{
    char err[512];
    sess_store_opts o = {.log = store_warn};
    sessd_redis_opts(cfg, 2, &o);
    int r = sess_store_redis_open(&o, store, err, sizeof(err));
    if (r != 0) {
        cli_error("cannot use the Redis store: %s", err);
        return r == SESS_EINVAL ? EXIT_USAGE : EXIT_RUNTIME;
    }
    if ((*store)->ops->ping(*store) != 0) {
        (*store)->ops->close(*store);
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
    if (strcmp(cfg->store_kind, "memory") == 0) {
        cli_error("the memory store lives inside the server process and cannot be managed from "
                  "the command line; use the /v1 API, or --store lmdb");
        return EXIT_USAGE;
    }
    /* The cookie store keeps accounts, API keys and revocations in Redis when one is
     * configured, else in lmdb (server.c open_store does the same). */
    bool cookie = strcmp(cfg->store_kind, "cookie") == 0;
    bool redis = strcmp(cfg->store_kind, "redis") == 0 ||
                 (cookie && (cfg->redis_url[0] || cfg->redis_sentinels[0]));
    if (!redis && !cookie && strcmp(cfg->store_kind, "lmdb") != 0) {
        cli_error("store kind \"%s\" is not available in this build yet", cfg->store_kind);
        return EXIT_USAGE;
    }
    if (sessd_server_key(cfg, key, err, sizeof(err)) != 0) {
        cli_error("%s", err);
        return EXIT_RUNTIME;
    }
    int r = redis ? open_redis(cfg, store) : open_lmdb(cfg, read_only, store);
    if (r != 0) {
        sess_wipe(key, sizeof(key));
        return r;
    }
    sess_policy pol = {0};
    pol.max_per_user = (uint32_t)cfg->max_per_user;
    pol.max_data = (size_t)cfg->max_data;
    pol.argon2_ops = cfg->argon2_ops;
    pol.argon2_mem = (size_t)cfg->argon2_mem;
    r = sess_ctx_new(*store, key, &pol, ctx);
    sess_wipe(key, sizeof(key));
    if (r != 0) {
        (*store)->ops->close(*store);
        cli_error("out of memory");
        return EXIT_RUNTIME;
    }
    return 0;
}

void cli_close(sess_store *store, sess_ctx *ctx)
{
    sess_ctx_free(ctx);
    store->ops->close(store);
}
