/*
 * redis_sentinel.c - finding the Redis master through Redis Sentinel.
 *
 * With [store] redis_sentinels and redis_master, every new connection goes to the master: first
 * to the one found last time, and when that fails (refused, or ROLE says it is no master any
 * more, as after a failover that demoted it), to the address the Sentinels give, asked in the
 * order listed. A connection that later fails (the master died) or answers READONLY (it was
 * demoted) is closed by the pool, so the next call finds the new master here: a failover needs
 * no restart. Sentinels are asked without a password; the master gets the password and the
 * database of redis_url, if one is set (its host is not used).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_int.h"

/* True when the server on `c` says it is a master. */
static bool is_master(redisContext *c, char *why, size_t n)
{
    redisReply *rep = redisCommand(c, "ROLE");
    bool ok = rep != NULL && rep->type == REDIS_REPLY_ARRAY && rep->elements > 0 &&
              rep->element[0]->type == REDIS_REPLY_STRING &&
              strcmp(rep->element[0]->str, "master") == 0;
    if (!ok)
        snprintf(why, n, "%s", rep == NULL ? c->errstr : "the server Sentinel named is no master");
    if (rep != NULL)
        freeReplyObject(rep);
    return ok;
}

/* A connection to host:port if it is the master, else NULL. */
static redisContext *try_master(redis_store *st, const char *host, int port, int64_t deadline,
                                char *why, size_t n)
{
    redisContext *c = sess__rs_connect_node(st, host, port, deadline, why, n);
    if (c != NULL && !is_master(c, why, n)) {
        redisFree(c);
        c = NULL;
    }
    return c;
}

/* Asks one Sentinel where the master is. 0 with host and port, -1 with a reason. */
static int ask(redis_store *st, int i, int64_t deadline, char host[256], int *port, char *why,
               size_t n)
{
    const rs_target *t = &st->target;
    redisContext *c =
        sess__rs_connect_raw(st, t->sentinels[i].host, t->sentinels[i].port, deadline, why, n);
    if (c == NULL)
        return -1;
    const char *argv[3] = {"SENTINEL", "get-master-addr-by-name", t->master};
    redisReply *rep = redisCommandArgv(c, 3, argv, NULL);
    int r = -1;
    if (rep != NULL && rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
        rep->element[0]->type == REDIS_REPLY_STRING && rep->element[0]->len < 256 &&
        rep->element[1]->type == REDIS_REPLY_STRING) {
        memcpy(host, rep->element[0]->str, rep->element[0]->len + 1);
        *port = atoi(rep->element[1]->str);
        r = *port > 0 && *port <= 65535 ? 0 : -1;
    }
    if (r != 0)
        snprintf(why, n, "Sentinel %s:%d does not know master %s", t->sentinels[i].host,
                 t->sentinels[i].port, t->master);
    if (rep != NULL)
        freeReplyObject(rep);
    redisFree(c);
    return r;
}

/* Remembers the master found; says so when it moved. */
static void remember(redis_store *st, const char *host, int port)
{
    pthread_mutex_lock(&st->mu);
    bool moved = st->master_host[0] != '\0' &&
                 (strcmp(st->master_host, host) != 0 || st->master_port != port);
    snprintf(st->master_host, sizeof(st->master_host), "%s", host);
    st->master_port = port;
    pthread_mutex_unlock(&st->mu);
    if (moved)
        sess__rs_log(st, SESS_STORE_LOG_INFO, "Sentinel: master %s is now at %s:%d",
                     st->target.master, host, port);
}

redisContext *sess__rs_sentinel_connect(redis_store *st, int64_t deadline, char *why, size_t n)
{
    char host[256];
    int port;
    pthread_mutex_lock(&st->mu);
    memcpy(host, st->master_host, sizeof(host));
    port = st->master_port;
    pthread_mutex_unlock(&st->mu);
    redisContext *c = host[0] != '\0' ? try_master(st, host, port, deadline, why, n) : NULL;
    for (int i = 0; c == NULL && i < st->target.nsentinels; i++) {
        if (ask(st, i, deadline, host, &port, why, n) != 0)
            continue;
        if ((c = try_master(st, host, port, deadline, why, n)) != NULL)
            remember(st, host, port);
    }
    return c;
}
