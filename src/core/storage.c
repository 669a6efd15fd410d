/*
 * storage.c - the data directory, its server key and the store, opened one way for `serve` and
 * every admin command (storage.h).
 */
#include "core/storage.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sessiond/error.h"

/* Creates the data (or socket) directory (mode 0700) when missing. */
static int ensure_dir(const char *what, const char *dir, char *err, size_t errlen)
{
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create the %s %s: %s", what, dir, strerror(errno));
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
    if (ensure_dir("data directory", c->data_dir, err, errlen) != 0)
        return -1;
    snprintf(path, sizeof(path), "%s/store", c->store_path);
    if (check_private_dir(c->data_dir, err, errlen) != 0 ||
        check_private_dir(c->store_path, err, errlen) != 0 ||
        check_private_dir(path, err, errlen) != 0)
        return -1;
    snprintf(path, sizeof(path), "%s/server.key", c->data_dir);
    return sess_key_load_or_create(path, key, err, errlen);
}

int sessd_socket_dir(const sessd_config *c, char *err, size_t errlen)
{
    if (ensure_dir("socket directory ([server] socket_dir)", c->socket_dir, err, errlen) != 0 ||
        check_private_dir(c->socket_dir, err, errlen) != 0)
        return -1;
    return 0;
}

void sessd_policy_from_config(const sessd_config *c, sess_policy *p)
{
    p->idle_timeout = c->idle_timeout;
    p->absolute_timeout = c->absolute_timeout;
    p->remember_me = c->remember_me;
    p->remember_idle = c->remember_idle_timeout;
    p->touch_interval = c->touch_interval;
    p->rotate_grace = c->rotate_grace;
    p->access_ttl = c->access_ttl;
    p->max_per_user = (uint32_t)c->max_per_user;
    p->max_data = (size_t)c->max_data;
    p->argon2_ops = c->argon2_ops;
    p->argon2_mem = (size_t)c->argon2_mem;
}

/* Options of the Redis store from [store], with `pool` connections when [store] redis_pool is
 * 0. The near cache stays off: the caller turns it on. */
static void redis_opts(const sessd_config *c, uint32_t pool, sess_store_opts *o)
{
    o->redis_url = c->redis_url;
    o->redis_sentinels = c->redis_sentinels;
    o->redis_cluster = c->redis_cluster;
    o->redis_master = c->redis_master;
    o->redis_prefix = c->redis_prefix;
    o->redis_connect_timeout_ms = (uint32_t)c->redis_connect_timeout;
    o->redis_timeout_ms = (uint32_t)c->redis_timeout;
    o->redis_pool = c->redis_pool > 0 ? (uint32_t)c->redis_pool : pool;
    o->redis_cache = false;
    o->redis_cache_ttl_ms = (uint32_t)c->redis_cache_ttl;
    o->redis_cache_entries = (uint32_t)c->redis_cache_size;
}

bool sessd_store_in_redis(const sessd_config *c)
{
    return c->store == SESSD_STORE_REDIS ||
           (c->store == SESSD_STORE_COOKIE &&
            (c->redis_url[0] || c->redis_sentinels[0] || c->redis_cluster[0]));
}

int sessd_store_open(const sessd_config *c, const sessd_store_use *u, sess_store **store, char *err,
                     size_t errlen)
{
    sess_store_opts o = {.path = c->store_path,
                         .group_commit = strcmp(c->fsync, "batch") == 0,
                         .map_size = (size_t)c->map_size,
                         .read_only = u->read_only,
                         .log = u->log};
    if (sessd_store_in_redis(c)) {
        redis_opts(c, u->redis_pool, &o);
        o.redis_cache = u->redis_cache && c->redis_cache;
        return sess_store_redis_open(&o, store, err, errlen);
    }
    switch (c->store) {
    case SESSD_STORE_MEMORY:
        return sess_store_memory_open(&o, store, err, errlen);
    case SESSD_STORE_LMDB:
    case SESSD_STORE_COOKIE: /* without a Redis: the revocations in lmdb */
        return sess_store_lmdb_open(&o, store, err, errlen);
    case SESSD_STORE_REDIS:
        break; /* sessd_store_in_redis */
    }
    snprintf(err, errlen, "store kind \"%s\" is not available in this build", c->store_kind);
    return SESS_EINVAL;
}
