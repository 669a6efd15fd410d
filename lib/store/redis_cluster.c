/*
 * redis_cluster.c - Redis Cluster for the Redis backend: hash slots, the slot -> node map and
 * redirections, speaking Redis's own cluster protocol (no sharding of our own).
 *
 * With [store] redis_cluster (seed nodes), the handle keeps one bounded pool per master
 * (redis_conn.c) and a map of the 16384 slots to those masters, loaded from CLUSTER SLOTS of
 * the first node that answers: at the first call, and again (at most every RS_MAP_REFRESH_MS)
 * after a MOVED answer or a node that cannot be reached. A MOVED answer also fixes its slot in
 * the map at once, so the retry goes to the right node even before the reload. Every key a
 * script touches shares one hash tag (redis_scripts.c), so each script runs on one node.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_int.h"
#include "sessiond/error.h"

uint16_t sess__rs_crc16(const void *p, size_t n)
{
    const uint8_t *b = p;
    uint16_t crc = 0;
    for (size_t i = 0; i < n; i++) {
        crc ^= (uint16_t)(b[i] << 8);
        for (int bit = 0; bit < 8; bit++)
            crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
    }
    return crc;
}

int sess__rs_key_slot(const void *key, size_t n)
{
    const char *k = key;
    const char *open = memchr(k, '{', n);
    if (open != NULL) {
        size_t at = (size_t)(open - k) + 1;
        const char *close = memchr(open + 1, '}', n - at);
        if (close != NULL && close > open + 1)
            return sess__rs_crc16(open + 1, (size_t)(close - open) - 1) & (RS_SLOTS - 1);
    }
    return sess__rs_crc16(k, n) & (RS_SLOTS - 1);
}

int sess__rs_node_find(redis_store *st, const char *host, int port)
{
    int found = -1;
    pthread_mutex_lock(&st->mu);
    for (uint32_t i = 0; i < st->nnodes && found < 0; i++)
        if (st->nodes[i].port == port && strcmp(st->nodes[i].host, host) == 0)
            found = (int)i;
    if (found < 0 && st->nnodes < RS_NODES_MAX && strlen(host) < sizeof(st->nodes[0].host)) {
        rs_conn *pool = calloc(st->npool, sizeof(*pool));
        if (pool != NULL) {
            rs_node *nd = &st->nodes[st->nnodes];
            memset(nd, 0, sizeof(*nd));
            snprintf(nd->host, sizeof(nd->host), "%s", host);
            nd->port = port;
            nd->pool = pool;
            found = (int)st->nnodes++;
        }
    }
    pthread_mutex_unlock(&st->mu);
    return found;
}

int sess__rs_redirect_parse(const char *msg, size_t len, int *slot, char host[256], int *port)
{
    char buf[320];
    if (len >= sizeof(buf))
        return -1;
    memcpy(buf, msg, len);
    buf[len] = '\0';
    const char *sp1 = strchr(buf, ' ');
    const char *sp2 = sp1 != NULL ? strchr(sp1 + 1, ' ') : NULL;
    const char *colon = sp2 != NULL ? strrchr(sp2 + 1, ':') : NULL;
    if (colon == NULL)
        return -1;
    char *end;
    long s = strtol(sp1 + 1, &end, 10);
    if (end != sp2 || s < 0 || s >= RS_SLOTS)
        return -1;
    long p = strtol(colon + 1, &end, 10);
    size_t hlen = (size_t)(colon - sp2) - 1;
    if (*end != '\0' || p <= 0 || p > 65535 || hlen == 0 || hlen >= 256)
        return -1;
    memcpy(host, sp2 + 1, hlen);
    host[hlen] = '\0';
    *slot = (int)s;
    *port = (int)p;
    return 0;
}

/* Fills `map` from a CLUSTER SLOTS answer of the node at `asked` (whose address stands in for
 * an empty host). 0, or -1 when the answer is malformed or names too many nodes. */
static int map_from_reply(redis_store *st, const redisReply *rep, const char *asked, uint8_t *map)
{
    if (rep->type != REDIS_REPLY_ARRAY)
        return -1;
    memset(map, RS_NO_NODE, RS_SLOTS);
    for (size_t i = 0; i < rep->elements; i++) {
        const redisReply *r = rep->element[i];
        if (r->type != REDIS_REPLY_ARRAY || r->elements < 3 ||
            r->element[0]->type != REDIS_REPLY_INTEGER ||
            r->element[1]->type != REDIS_REPLY_INTEGER ||
            r->element[2]->type != REDIS_REPLY_ARRAY || r->element[2]->elements < 2)
            return -1;
        const redisReply *m = r->element[2];
        long long lo = r->element[0]->integer, hi = r->element[1]->integer;
        if (m->element[0]->type != REDIS_REPLY_STRING ||
            m->element[1]->type != REDIS_REPLY_INTEGER || lo < 0 || hi >= RS_SLOTS || lo > hi)
            return -1;
        const char *host = m->element[0]->len > 0 ? m->element[0]->str : asked;
        int node = sess__rs_node_find(st, host, (int)m->element[1]->integer);
        if (node < 0)
            return -1;
        memset(map + lo, node, (size_t)(hi - lo + 1));
    }
    return 0;
}

/* Asks one node for the map. 0 when `map` is filled. */
static int load_from(redis_store *st, const char *host, int port, int64_t deadline, uint8_t *map)
{
    char why[160];
    redisContext *c = sess__rs_connect_node(st, host, port, deadline, why, sizeof(why));
    if (c == NULL)
        return -1;
    redisReply *rep = redisCommand(c, "CLUSTER SLOTS");
    int r = rep != NULL ? map_from_reply(st, rep, host, map) : -1;
    if (rep != NULL)
        freeReplyObject(rep);
    redisFree(c);
    return r;
}

int sess__rs_cluster_load(redis_store *st, int64_t deadline)
{
    uint8_t *map = malloc(RS_SLOTS);
    int r = -1;
    if (map == NULL)
        return SESS_ESTORE;
    pthread_mutex_lock(&st->mu);
    st->map_at_ms = sess__rs_mono_ms();
    uint32_t known = st->nnodes;
    pthread_mutex_unlock(&st->mu);
    /* Known nodes first (the map may have moved away from the seeds), then the seeds. */
    for (uint32_t i = 0; r != 0 && i < known + (uint32_t)st->target.nseeds; i++) {
        if (deadline != 0 && sess__rs_mono_ms() >= deadline)
            break;
        char host[256];
        int port;
        if (i < known) {
            pthread_mutex_lock(&st->mu);
            bool skip = st->nodes[i].down;
            memcpy(host, st->nodes[i].host, sizeof(host));
            port = st->nodes[i].port;
            pthread_mutex_unlock(&st->mu);
            if (skip)
                continue;
        } else {
            memcpy(host, st->target.seeds[i - known].host, sizeof(host));
            port = st->target.seeds[i - known].port;
        }
        r = load_from(st, host, port, deadline, map);
    }
    if (r == 0) {
        pthread_mutex_lock(&st->mu);
        memcpy(st->slot_node, map, RS_SLOTS);
        st->map_loaded = true;
        st->map_stale = false;
        pthread_mutex_unlock(&st->mu);
    }
    free(map);
    return r == 0 ? 0 : SESS_ESTORE;
}

int sess__rs_cluster_route(redis_store *st, int slot, int64_t deadline)
{
    pthread_mutex_lock(&st->mu);
    bool load = !st->map_loaded ||
                (st->map_stale && sess__rs_mono_ms() - st->map_at_ms >= RS_MAP_REFRESH_MS);
    pthread_mutex_unlock(&st->mu);
    if (load && sess__rs_cluster_load(st, deadline) != 0) {
        pthread_mutex_lock(&st->mu);
        bool have = st->map_loaded;
        pthread_mutex_unlock(&st->mu);
        if (!have)
            return -1;
    }
    pthread_mutex_lock(&st->mu);
    if (slot < 0) /* any node: the next one that serves slots */
        for (uint32_t i = 0; i < RS_SLOTS && slot < 0; i++) {
            uint32_t s = (st->any_next++ * 4099u) % RS_SLOTS;
            if (st->slot_node[s] != RS_NO_NODE)
                slot = (int)s;
        }
    int node = slot >= 0 && st->slot_node[slot] != RS_NO_NODE ? st->slot_node[slot] : -1;
    pthread_mutex_unlock(&st->mu);
    return node;
}

int sess__rs_masters(redis_store *st, int64_t deadline, int *out)
{
    bool seen[RS_NODES_MAX] = {false};
    int n = 0;
    if (!st->cluster) {
        out[0] = 0;
        return 1;
    }
    if (sess__rs_cluster_route(st, 0, deadline) < 0)
        return -1;
    pthread_mutex_lock(&st->mu);
    for (int s = 0; s < RS_SLOTS; s++) {
        uint8_t nd = st->slot_node[s];
        if (nd == RS_NO_NODE) {
            n = -1; /* a slot nobody serves: the Cluster is incomplete */
            break;
        }
        if (!seen[nd]) {
            seen[nd] = true;
            out[n++] = nd;
        }
    }
    pthread_mutex_unlock(&st->mu);
    return n;
}

redisContext *sess__rs_cluster_connect_any(redis_store *st, int64_t deadline, char *why, size_t n)
{
    int masters[RS_NODES_MAX];
    int nm = sess__rs_masters(st, deadline, masters);
    snprintf(why, n, "no Cluster node answers");
    pthread_mutex_lock(&st->mu);
    uint32_t start = st->any_next++;
    pthread_mutex_unlock(&st->mu);
    for (int i = 0; i < nm; i++) {
        char host[256];
        int port;
        pthread_mutex_lock(&st->mu);
        const rs_node *nd = &st->nodes[masters[(start + (uint32_t)i) % (uint32_t)nm]];
        memcpy(host, nd->host, sizeof(host));
        port = nd->port;
        pthread_mutex_unlock(&st->mu);
        redisContext *c = sess__rs_connect_node(st, host, port, deadline, why, n);
        if (c != NULL)
            return c;
    }
    for (int i = 0; i < st->target.nseeds; i++) {
        redisContext *c = sess__rs_connect_node(st, st->target.seeds[i].host,
                                                st->target.seeds[i].port, deadline, why, n);
        if (c != NULL)
            return c;
    }
    return NULL;
}
