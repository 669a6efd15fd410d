/*
 * storage.h - what a process of sessiond works on, opened one way for `serve` and for every admin
 * command: the data directory and its server key, the store that [store] names, and the session
 * policy of the configuration. No HTTP here.
 */
#ifndef SESSIOND_CORE_STORAGE_H
#define SESSIOND_CORE_STORAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "sessiond/crypto.h"
#include "sessiond/session.h"
#include "sessiond/store.h"

/* Reads the server key from DATA/server.key, creating the data directory (0700) and the key
 * (0600) on first start. The data and store directories must be this user's and closed to
 * group and others. 0, or -1 with a message. */
int sessd_server_key(const sessd_config *c, uint8_t key[SESS_KEY_BYTES], char *err, size_t errlen);

/* Makes [server] socket_dir (mode 0700) when missing and checks it as the data directory is
 * checked: a directory of this user's, not writable by group or others, so that nobody else can
 * replace the admin or touch socket there. 0, or -1 with a message. */
int sessd_socket_dir(const sessd_config *c, char *err, size_t errlen);

/* Policy for lib/session from a configuration. */
void sessd_policy_from_config(const sessd_config *c, sess_policy *p);

/* True when the store's records live in Redis: [store] kind = redis, or kind = cookie with a
 * Redis configured (redis_url, redis_sentinels or redis_cluster), which then keeps the
 * revocations, accounts, API keys and preferences that several nodes must share. */
bool sessd_store_in_redis(const sessd_config *c);

/* How the caller will use the store. */
typedef struct sessd_store_use {
    uint32_t redis_pool; /* connections per Redis node when [store] redis_pool is 0 */
    bool redis_cache;    /* the near cache as [store] redis_cache says (a server); else off */
    bool read_only;      /* lmdb opened read-only */
    /* The store's own events (Redis unreachable or back); never NULL. */
    void (*log)(void *arg, int level, const char *msg);
} sessd_store_use;

/* Opens the store that [store] names: memory, lmdb in [store] path, Redis (a server, Sentinel
 * group or Cluster), or for kind = cookie Redis when one is configured, else lmdb. 0 with
 * *store (close it with its ops->close), or an error (SESS_EINVAL for a configuration that
 * cannot be opened) with a message in `err`. A Redis that does not answer is not an error
 * here: the caller pings. */
int sessd_store_open(const sessd_config *c, const sessd_store_use *u, sess_store **store, char *err,
                     size_t errlen);

#endif
