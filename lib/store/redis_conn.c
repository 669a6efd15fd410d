/*
 * redis_conn.c - talking to Redis for the Redis backend: a bounded pool of blocking hiredis
 * connections per server (one server, or each Cluster master; each opened by redis_net.c),
 * timeouts, reconnection, Cluster redirections, the key layout check, and running Lua scripts.
 *
 * Every command gets one budget, the command timeout, for everything: taking a free connection
 * from the pool (waiting for one), opening it if it has none (connect timeout, AUTH, SELECT, all
 * cut to what is left), and the answer (the socket timeout is set to what is left before the
 * command is sent); then the connection goes back. A connection that saw any error is closed,
 * and the next call opens a fresh one, so recovery after Redis restarts needs nothing but time.
 * After a failed connect no call tries again for RS_RETRY_MS: while Redis is down, calls fail at
 * once with SESS_ESTORE instead of each waiting on its own connect. An idle pooled connection is
 * checked with a zero-timeout poll before use, so one that Redis closed (a restart) is replaced
 * before a write is sent on it, not after. Reads may retry once on a fresh connection within the
 * same budget; writes never do, since a lost answer does not say whether the write happened.
 * A Cluster's MOVED, ASK, TRYAGAIN and CLUSTERDOWN answers are followed within the same budget
 * (Redis executed nothing, so writes follow them too). Every failure here is SESS_ESTORE: the
 * store fails closed.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "redis_int.h"
#include "sessiond/error.h"

redisContext *sess__rs_connect(redis_store *st, int64_t deadline, char *why, size_t n)
{
    if (st->cluster)
        return sess__rs_cluster_connect_any(st, deadline, why, n);
    if (st->target.nsentinels > 0)
        return sess__rs_sentinel_connect(st, deadline, why, n);
    if (st->target.unix_path[0] != '\0')
        return sess__rs_connect_node(st, NULL, 0, deadline, why, n);
    return sess__rs_connect_node(st, st->target.host, st->target.port, deadline, why, n);
}

/* A blocking connection between commands has nothing to read; if it has, Redis closed it (or
 * it is out of step), and it must not carry the next command. */
static bool conn_stale(const redisContext *c)
{
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    return poll(&p, 1, 0) != 0;
}

static void where(redis_store *st, const rs_node *nd, char *buf, size_t n)
{
    pthread_mutex_lock(&st->mu);
    if (st->cluster)
        snprintf(buf, n, "%s:%d (Cluster node)", nd->host, nd->port);
    else if (st->target.nsentinels > 0)
        snprintf(buf, n, "%s:%d (master %s)", st->master_host[0] ? st->master_host : "?",
                 st->master_port, st->target.master);
    else if (st->target.unix_path[0] != '\0')
        snprintf(buf, n, "unix:%s", st->target.unix_path);
    else
        snprintf(buf, n, "%s:%d", st->target.host, st->target.port);
    pthread_mutex_unlock(&st->mu);
}

/* Takes a free pooled connection of node `nd`, waiting until `deadline` at most. */
static int pool_wait(redis_store *st, rs_node *nd, int64_t deadline, rs_conn **out)
{
    int64_t left = deadline - sess__rs_mono_ms();
    struct timespec abs; /* the condition variable runs on CLOCK_MONOTONIC */
    clock_gettime(CLOCK_MONOTONIC, &abs);
    if (left < 0)
        left = 0;
    abs.tv_sec += left / 1000;
    abs.tv_nsec += (long)(left % 1000) * 1000000L;
    if (abs.tv_nsec >= 1000000000L) {
        abs.tv_sec++;
        abs.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&st->mu);
    for (;;) {
        rs_conn *fresh = NULL;
        for (uint32_t i = 0; i < st->npool; i++) {
            if (nd->pool[i].busy)
                continue;
            if (nd->pool[i].c != NULL) {
                fresh = &nd->pool[i];
                break;
            }
            if (fresh == NULL)
                fresh = &nd->pool[i];
        }
        if (fresh != NULL) {
            fresh->busy = true;
            pthread_mutex_unlock(&st->mu);
            *out = fresh;
            return 0;
        }
        if (sess__rs_mono_ms() >= deadline ||
            pthread_cond_timedwait(&st->cv, &st->mu, &abs) == ETIMEDOUT) {
            pthread_mutex_unlock(&st->mu);
            return SESS_ESTORE;
        }
    }
}

/* Gives a connection back; with `broken` it is closed first. */
static void pool_put(redis_store *st, rs_conn *cn, bool broken)
{
    redisContext *dead = NULL;
    pthread_mutex_lock(&st->mu);
    if (broken) {
        dead = cn->c;
        cn->c = NULL;
    }
    cn->busy = false;
    pthread_cond_broadcast(&st->cv);
    pthread_mutex_unlock(&st->mu);
    if (dead != NULL)
        redisFree(dead);
}

/* An allkeys-* eviction policy may evict the generation counters (they have no TTL), and a
 * lost counter makes revoked sessions valid again: say so. Redis may refuse CONFIG (ACL,
 * renamed command); then nothing is said. */
static void check_policy(redis_store *st, redisContext *c, int64_t deadline)
{
    const char *argv[3] = {"CONFIG", "GET", "maxmemory-policy"};
    if (!sess__rs_arm(c, st->timeout_ms, deadline))
        return;
    redisReply *rep = redisCommandArgv(c, 3, argv, NULL);
    if (rep != NULL && rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
        rep->element[1]->type == REDIS_REPLY_STRING &&
        strncmp(rep->element[1]->str, "allkeys", 7) == 0)
        sess__rs_log(st, SESS_STORE_LOG_WARN,
                     "Redis evicts with maxmemory-policy %.40s, which can drop revoke-all counters "
                     "and revive revoked sessions; use noeviction or a volatile-* policy",
                     rep->element[1]->str);
    if (rep != NULL)
        freeReplyObject(rep);
}

/* Whether the server runs in Cluster mode (false when it does not say). */
static bool is_cluster(redis_store *st, redisContext *c, int64_t deadline)
{
    const char *argv[2] = {"INFO", "cluster"};
    if (!sess__rs_arm(c, st->timeout_ms, deadline))
        return false;
    redisReply *rep = redisCommandArgv(c, 2, argv, NULL);
    bool cluster = rep != NULL && rep->type == REDIS_REPLY_STRING &&
                   strstr(rep->str, "cluster_enabled:1") != NULL;
    if (rep != NULL)
        freeReplyObject(rep);
    return cluster;
}

/* What is checked once per handle, on its first connection. False when the server cannot be
 * used at all: a Cluster node named by redis_url (the scripts would be sent to one node for
 * keys of every slot), or a standalone server named by redis_cluster. */
static bool check_server(redis_store *st, redisContext *c, int64_t deadline)
{
    bool cluster = is_cluster(st, c, deadline);
    if (cluster && !st->cluster) {
        sess__rs_log(st, SESS_STORE_LOG_WARN,
                     "Redis runs in Cluster mode: name its nodes in [store] redis_cluster "
                     "instead of redis_url (see docs/redis.md); every store call fails");
        return false;
    }
    if (!cluster && st->cluster) {
        sess__rs_log(st, SESS_STORE_LOG_WARN,
                     "[store] redis_cluster names a Redis that does not run in Cluster mode; "
                     "use redis_url for it; every store call fails");
        return false;
    }
    check_policy(st, c, deadline);
    return true;
}

static redisContext *node_connect(redis_store *st, rs_node *nd, int64_t deadline, char *why,
                                  size_t n)
{
    char host[256];
    int port;
    if (!st->cluster)
        return sess__rs_connect(st, deadline, why, n);
    pthread_mutex_lock(&st->mu);
    memcpy(host, nd->host, sizeof(host));
    port = nd->port;
    pthread_mutex_unlock(&st->mu);
    return sess__rs_connect_node(st, host, port, deadline, why, n);
}

/* Opens a connection for a taken slot that has none, unless a connect failed too recently. */
static int pool_open(redis_store *st, rs_node *nd, rs_conn *cn, int64_t deadline)
{
    char why[160], at[512];
    pthread_mutex_lock(&st->mu);
    bool wait = sess__rs_mono_ms() < nd->retry_at_ms || st->unusable;
    pthread_mutex_unlock(&st->mu);
    if (wait)
        return SESS_ESTORE;
    redisContext *c = node_connect(st, nd, deadline, why, sizeof(why));
    pthread_mutex_lock(&st->mu);
    bool was_down = nd->down, check = c != NULL && !st->policy_checked;
    nd->down = c == NULL;
    if (c == NULL) {
        nd->retry_at_ms = sess__rs_mono_ms() + RS_RETRY_MS;
        st->map_stale = true; /* a node that went away may have handed its slots over */
    }
    st->policy_checked |= check;
    cn->c = c;
    pthread_mutex_unlock(&st->mu);
    if (check && !check_server(st, c, deadline)) {
        pthread_mutex_lock(&st->mu);
        st->unusable = true;
        cn->c = NULL;
        pthread_mutex_unlock(&st->mu);
        redisFree(c);
        return SESS_ESTORE;
    }
    where(st, nd, at, sizeof(at));
    if (c == NULL && !was_down)
        sess__rs_log(st, SESS_STORE_LOG_WARN, "Redis at %s is unreachable: %s", at, why);
    else if (c != NULL && was_down)
        sess__rs_log(st, SESS_STORE_LOG_INFO, "Redis at %s is reachable again", at);
    return c != NULL ? 0 : SESS_ESTORE;
}

static int pool_take(redis_store *st, rs_node *nd, int64_t deadline, rs_conn **out)
{
    rs_conn *cn;
    int r = pool_wait(st, nd, deadline, &cn);
    if (r != 0)
        return r;
    if (cn->c != NULL && conn_stale(cn->c)) {
        redisFree(cn->c);
        cn->c = NULL;
    }
    if (cn->c == NULL && (r = pool_open(st, nd, cn, deadline)) != 0) {
        pool_put(st, cn, false);
        return r;
    }
    *out = cn;
    return 0;
}

void sess__rs_pool_dispose(redis_store *st)
{
    for (uint32_t n = 0; n < st->nnodes; n++) {
        rs_node *nd = &st->nodes[n];
        for (uint32_t i = 0; nd->pool != NULL && i < st->npool; i++)
            if (nd->pool[i].c != NULL)
                redisFree(nd->pool[i].c);
        free(nd->pool);
        nd->pool = NULL;
    }
    st->nnodes = 0;
}

/* ---- argument lists ---------------------------------------------------------------------- */

void sess__rs_args_init(rs_args *a)
{
    memset(a, 0, sizeof(*a));
}

void sess__rs_args_dispose(rs_args *a)
{
    free(a->a);
    memset(a, 0, sizeof(*a));
}

static rs_arg *args_next(rs_args *a)
{
    if (a->oom)
        return NULL;
    if (a->n == a->cap) {
        int cap = a->cap ? a->cap * 2 : 16;
        rs_arg *p = realloc(a->a, (size_t)cap * sizeof(*p));
        if (p == NULL) {
            a->oom = true;
            return NULL;
        }
        a->a = p;
        a->cap = cap;
    }
    return &a->a[a->n++];
}

void sess__rs_args_bin(rs_args *a, const void *p, size_t len)
{
    rs_arg *x = args_next(a);
    if (x != NULL) {
        x->p = len > 0 ? p : "";
        x->len = len;
    }
}

void sess__rs_args_str(rs_args *a, const char *s)
{
    sess__rs_args_bin(a, s, strlen(s));
}

void sess__rs_args_i64(rs_args *a, int64_t v)
{
    rs_arg *x = args_next(a);
    if (x != NULL) {
        x->p = NULL;
        x->len = (size_t)snprintf(x->num, sizeof(x->num), "%lld", (long long)v);
    }
}

/* ---- commands ---------------------------------------------------------------------------- */

/* Errors after which the connection must not be reused: it talks to a replica (READONLY, after
 * a failover), to a server still loading, or to one without a reachable master. */
static bool error_breaks_conn(const redisReply *rep)
{
    static const char *const prefixes[] = {"READONLY", "LOADING", "MASTERDOWN", "NOAUTH"};
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
        if (strncmp(rep->str, prefixes[i], strlen(prefixes[i])) == 0)
            return true;
    return false;
}

/* What a Cluster answer asks for: nothing (a plain answer), another node (MOVED: the slot
 * moved for good, the map is fixed at once; ASK: this once, during a migration), or a pause
 * (TRYAGAIN during a migration, CLUSTERDOWN while the Cluster is not serving). */
typedef enum { RD_NONE, RD_MOVED, RD_ASK, RD_WAIT } redirect_kind;

static redirect_kind redirect_of(redis_store *st, const redisReply *rep, int *node)
{
    int slot, port;
    char host[256];
    if (!st->cluster || rep->type != REDIS_REPLY_ERROR)
        return RD_NONE;
    if (strncmp(rep->str, "TRYAGAIN", 8) == 0 || strncmp(rep->str, "CLUSTERDOWN", 11) == 0)
        return RD_WAIT;
    bool moved = strncmp(rep->str, "MOVED ", 6) == 0, ask = strncmp(rep->str, "ASK ", 4) == 0;
    if ((!moved && !ask) || sess__rs_redirect_parse(rep->str, rep->len, &slot, host, &port) != 0 ||
        (*node = sess__rs_node_find(st, host, port)) < 0)
        return RD_NONE;
    if (moved) {
        pthread_mutex_lock(&st->mu);
        st->slot_node[slot] = (uint8_t)*node;
        st->map_stale = true;
        pthread_mutex_unlock(&st->mu);
    }
    return moved ? RD_MOVED : RD_ASK;
}

static int send_asking(redisContext *c)
{
    redisReply *rep = redisCommand(c, "ASKING");
    int ok = rep != NULL && rep->type == REDIS_REPLY_STATUS;
    if (rep != NULL)
        freeReplyObject(rep);
    return ok ? 0 : -1;
}

static void pause_ms(int64_t ms)
{
    if (ms > 0)
        nanosleep(&(struct timespec){.tv_sec = 0, .tv_nsec = (long)ms * 1000000L}, NULL);
}

/* Sends argv on a pooled connection of node `fixed`, or (fixed < 0) of the node serving
 * `slot` (-1: any node), following Cluster redirections. The whole of it (waiting for a
 * connection, opening one, the answer, redirections, a retry) fits in one command timeout. On
 * success *reply may be an error reply. */
static int run_argv(redis_store *st, int slot, int fixed, int argc, const char **argv,
                    const size_t *lens, bool retry, redisReply **reply)
{
    int64_t deadline = sess__rs_mono_ms() + st->timeout_ms;
    int asking = -1;
    bool retried = false;
    for (int round = 0;; round++) {
        int node = fixed >= 0     ? fixed
                   : asking >= 0  ? asking
                   : !st->cluster ? 0
                                  : sess__rs_cluster_route(st, slot, deadline);
        if (node < 0)
            return SESS_ESTORE;
        rs_conn *cn;
        int r = pool_take(st, &st->nodes[node], deadline, &cn);
        if (r != 0)
            return r;
        if (!sess__rs_arm(cn->c, st->timeout_ms, deadline) ||
            (asking >= 0 && send_asking(cn->c) != 0)) {
            pool_put(st, cn, asking >= 0);
            return SESS_ESTORE;
        }
        asking = -1;
        redisReply *rep = redisCommandArgv(cn->c, argc, argv, lens);
        if (rep == NULL) {
            pool_put(st, cn, true);
            if (retry && !retried && sess__rs_budget(st->timeout_ms, deadline) > 0) {
                retried = true;
                continue;
            }
            return SESS_ESTORE;
        }
        pool_put(st, cn, rep->type == REDIS_REPLY_ERROR && error_breaks_conn(rep));
        int to = -1;
        redirect_kind k = fixed < 0 ? redirect_of(st, rep, &to) : RD_NONE;
        if (k == RD_NONE) {
            *reply = rep;
            return 0;
        }
        freeReplyObject(rep);
        if (round + 1 >= RS_REDIRECTS_MAX || sess__rs_budget(st->timeout_ms, deadline) == 0)
            return SESS_ESTORE;
        if (k == RD_ASK)
            asking = to;
        else if (k == RD_WAIT)
            pause_ms(sess__rs_budget(st->timeout_ms / 8 + 1, deadline));
    }
}

/* The argv arrays for `head` words followed by the words of `a`. */
static int build_argv(const char *const *head, const size_t *head_lens, int nhead, rs_args *a,
                      const char ***argv, size_t **lens)
{
    if (a->oom)
        return SESS_ENOMEM;
    int argc = nhead + a->n;
    *argv = malloc((size_t)argc * sizeof(**argv));
    *lens = malloc((size_t)argc * sizeof(**lens));
    if (*argv == NULL || *lens == NULL) {
        free(*argv);
        free(*lens);
        return SESS_ENOMEM;
    }
    for (int i = 0; i < nhead; i++) {
        (*argv)[i] = head[i];
        (*lens)[i] = head_lens[i];
    }
    for (int i = 0; i < a->n; i++) {
        (*argv)[nhead + i] = a->a[i].p != NULL ? a->a[i].p : a->a[i].num;
        (*lens)[nhead + i] = a->a[i].len;
    }
    return 0;
}

static int command_on(redis_store *st, int fixed, rs_args *a, bool retry, redisReply **reply)
{
    const char **argv;
    size_t *lens;
    int r = build_argv(NULL, NULL, 0, a, &argv, &lens);
    if (r != 0)
        return r;
    int slot = a->n >= 2 ? sess__rs_key_slot(argv[1], lens[1]) : -1;
    r = run_argv(st, slot, fixed, a->n, argv, lens, retry, reply);
    free(argv);
    free(lens);
    if (r == 0 && (*reply)->type == REDIS_REPLY_ERROR) {
        freeReplyObject(*reply);
        *reply = NULL;
        r = SESS_ESTORE;
    }
    return r;
}

static int check_layout(redis_store *st);

int sess__rs_command(redis_store *st, rs_args *a, bool retry, redisReply **reply)
{
    int r = check_layout(st);
    return r != 0 ? r : command_on(st, -1, a, retry, reply);
}

int sess__rs_command_node(redis_store *st, int node, rs_args *a, redisReply **reply)
{
    int r = check_layout(st);
    return r != 0 ? r : command_on(st, node, a, true, reply);
}

/* One word of a key: P + `name`. */
static int layout_cmd(redis_store *st, const char *cmd, const char *name, const char *val,
                      redisReply **rep)
{
    char key[RS_PREFIX_MAX + 16];
    rs_args a;
    int n = snprintf(key, sizeof(key), "%s%s", st->prefix, name);
    sess__rs_args_init(&a);
    sess__rs_args_str(&a, cmd);
    sess__rs_args_bin(&a, key, (size_t)n);
    if (val != NULL) {
        sess__rs_args_str(&a, val);
        sess__rs_args_str(&a, "NX");
    }
    int r = command_on(st, -1, &a, true, rep);
    sess__rs_args_dispose(&a);
    return r;
}

/* The key layout (redis_scripts.c) is version 2: every script in one hash slot. The first call
 * of a handle checks P layout: "2" passes; absent, it is written, unless keys of the old
 * layout (P e, P ak, P acc: sessions, API keys, accounts) are there, which are refused with a
 * message (docs/redis.md, "Migration"); anything else is refused. */
static int check_layout(redis_store *st)
{
    static const char *const old[] = {"e", "ak", "acc"};
    redisReply *rep;
    pthread_mutex_lock(&st->mu);
    int state = st->layout;
    pthread_mutex_unlock(&st->mu);
    if (state != 0)
        return state > 0 ? 0 : SESS_ESTORE;
    int r = layout_cmd(st, "GET", "layout", NULL, &rep);
    if (r != 0)
        return r;
    bool absent = rep->type == REDIS_REPLY_NIL;
    bool ok = rep->type == REDIS_REPLY_STRING && strcmp(rep->str, RS_LAYOUT) == 0;
    freeReplyObject(rep);
    for (size_t i = 0; absent && i < sizeof(old) / sizeof(old[0]); i++) {
        if ((r = layout_cmd(st, "EXISTS", old[i], NULL, &rep)) != 0)
            return r;
        absent = rep->type == REDIS_REPLY_INTEGER && rep->integer == 0;
        freeReplyObject(rep);
    }
    if (absent) {
        if ((r = layout_cmd(st, "SET", "layout", RS_LAYOUT, &rep)) != 0)
            return r;
        freeReplyObject(rep);
        return check_layout(st);
    }
    if (!ok)
        sess__rs_log(st, SESS_STORE_LOG_WARN,
                     "Redis holds sessiond keys under prefix %s in another key layout than this "
                     "build's (%s); see docs/redis.md, Migration; every store call fails",
                     st->prefix, RS_LAYOUT);
    pthread_mutex_lock(&st->mu);
    st->layout = ok ? 1 : -1;
    pthread_mutex_unlock(&st->mu);
    return ok ? 0 : SESS_ESTORE;
}

/* The script's SHA1 as Redis names it, loading the script on first use. */
static int script_sha(redis_store *st, rs_script_id id, char sha[41])
{
    pthread_mutex_lock(&st->mu);
    memcpy(sha, st->sha[id], 41);
    pthread_mutex_unlock(&st->mu);
    if (sha[0] != '\0')
        return 0;
    const char *src = sess__rs_script_source(id);
    const char *argv[3] = {"SCRIPT", "LOAD", src};
    size_t lens[3] = {6, 4, strlen(src)};
    redisReply *rep;
    int r = run_argv(st, -1, -1, 3, argv, lens, true, &rep);
    if (r != 0)
        return r;
    if (rep->type != REDIS_REPLY_STRING || rep->len != 40) {
        if (rep->type == REDIS_REPLY_ERROR)
            sess__rs_log(st, SESS_STORE_LOG_WARN, "Redis refused a script: %.150s", rep->str);
        freeReplyObject(rep);
        return SESS_ESTORE;
    }
    memcpy(sha, rep->str, 40);
    sha[40] = '\0';
    freeReplyObject(rep);
    pthread_mutex_lock(&st->mu);
    memcpy(st->sha[id], sha, 41);
    pthread_mutex_unlock(&st->mu);
    return 0;
}

static int status_code(const redisReply *s)
{
    static const struct {
        const char *name;
        int code;
    } map[] = {{"OK", 0},
               {"ESESSION", SESS_ESESSION},
               {"EEXIST", SESS_EEXIST},
               {"ETOOLARGE", SESS_ETOOLARGE},
               {"ENOTFOUND", SESS_ENOTFOUND},
               {"CONFLICT", RS_CONFLICT}};
    if (s->type != REDIS_REPLY_STRING && s->type != REDIS_REPLY_STATUS)
        return SESS_ESTORE;
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (s->len == strlen(map[i].name) && memcmp(s->str, map[i].name, s->len) == 0)
            return map[i].code;
    return SESS_ESTORE;
}

/* Runs EVALSHA, and EVAL when Redis lost its script cache (a restart or a failover; in a
 * Cluster, each node loads a script at its first EVAL). */
static int eval(redis_store *st, rs_script_id id, const char *key, size_t klen, rs_args *a,
                bool retry, redisReply **reply)
{
    char sha[41];
    int r = script_sha(st, id, sha);
    if (r != 0)
        return r;
    const char *src = sess__rs_script_source(id);
    const char *head[5] = {"EVALSHA", sha, "1", key, st->prefix};
    size_t head_lens[5] = {7, 40, 1, klen, st->prefix_len};
    const char **argv;
    size_t *lens;
    int slot = sess__rs_key_slot(key, klen);
    if ((r = build_argv(head, head_lens, 5, a, &argv, &lens)) != 0)
        return r;
    r = run_argv(st, slot, -1, 5 + a->n, argv, lens, retry, reply);
    if (r == 0 && (*reply)->type == REDIS_REPLY_ERROR &&
        strncmp((*reply)->str, "NOSCRIPT", 8) == 0) {
        freeReplyObject(*reply);
        argv[0] = "EVAL";
        lens[0] = 4;
        argv[1] = src;
        lens[1] = strlen(src);
        r = run_argv(st, slot, -1, 5 + a->n, argv, lens, retry, reply);
    }
    free(argv);
    free(lens);
    return r;
}

int sess__rs_script(redis_store *st, rs_script_id id, const char *key, size_t klen, rs_args *a,
                    bool retry, redisReply **reply)
{
    redisReply *rep;
    int r = check_layout(st);
    if (r == 0)
        r = eval(st, id, key, klen, a, retry, &rep);
    if (r != 0)
        return r;
    if (rep->type == REDIS_REPLY_ERROR) {
        /* Script errors name the script's line, never its arguments. */
        sess__rs_log(st, SESS_STORE_LOG_WARN, "Redis script failed: %.150s", rep->str);
        freeReplyObject(rep);
        return SESS_ESTORE;
    }
    r = rep->type == REDIS_REPLY_ARRAY && rep->elements >= 1 ? status_code(rep->element[0])
                                                             : SESS_ESTORE;
    if (r != 0) {
        freeReplyObject(rep);
        return r;
    }
    *reply = rep;
    return 0;
}
