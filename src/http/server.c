/*
 * server.c - the server's threads and life cycle.
 *
 * N worker threads each run their own h2o event loop with their own SO_REUSEPORT listener, so
 * the kernel spreads connections and no lock is shared on the request path (the store's own
 * locking aside). The main thread owns signals: it waits for SIGTERM/SIGINT/SIGHUP with a short
 * timeout and in between does the maintenance work: flushing the touch queue (so last-seen is
 * at most touch_interval stale) and a bounded expiry sweep.
 *
 * Shutdown: stop accepting, close keep-alive connections that wait between requests at once,
 * ask h2o to close the others after their current request, run the loops (and the password pool)
 * until the connections are gone (bounded), then flush touches and close the store. Every
 * acknowledged write was already committed when it was answered.
 */
#include "http/server.h"

#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/audit.h"
#include "core/clock.h"
#include "http/conns.h"
#include "http/handlers.h"
#include "core/log.h"
#include "core/pwhelper.h"
#include "core/storage.h"
#include "core/store_timed.h"
#include "core/touchsock.h"
#include "http/workers.h"
#include "sessiond/users.h"
#include "sessiond/error.h"

#define SHUTDOWN_DRAIN_MS 10000 /* bound on finishing requests in flight at SIGTERM */
#define SHUTDOWN_CUT_MS 1000    /* then, for h2o to close the connections cut at that bound */
#define MAINT_TICK_MS 500       /* touch flush period; touch_interval is at least 1 s */
#define SWEEP_EVERY_S 5
#define SWEEP_BATCH 1000

typedef struct worker {
    pthread_t tid;
    int fd;
    h2o_globalconf_t *conf; /* globalconf, or ops_conf for the ops loop */
    h2o_evloop_t *loop;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
    h2o_socket_t *listener;
    h2o_linklist_t conns; /* this loop's client connections (conns.c) */
    bool clean; /* at shutdown: h2o closed every connection, the loop can be disposed of */
} worker;

static h2o_globalconf_t globalconf;
/* [server] ops_listen: one more loop, on its own listener, whose only handler answers /healthz
 * and /metrics. They never call the store, so this loop never waits on it: while every worker
 * loop is stuck in a store call (a hung Redis holds each for redis_timeout), the ops loop still
 * answers at once. Same-port tricks cannot give that: with SO_REUSEPORT the kernel hands a
 * connection to a loop before its path is known. */
static h2o_globalconf_t ops_conf;
/* [log] access_log, opened before the threads start; NULL without one. */
static h2o_access_log_filehandle_t *access_log;

/* Configuration snapshots replaced by reloads; freed at exit. */
static sessd_config *old_configs[64];
static size_t n_old_configs;

/* The one h2o handler of a loop: sessd_route on the workers, sessd_route_ops on the ops loop. */
typedef struct {
    h2o_handler_t super;
    int (*route)(h2o_req_t *req, enum sessd_route *route);
} route_handler;

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    enum sessd_route route;
    /* Counted from what was sent; an answer that comes later (a login on the worker pool) is
     * counted when it is sent (sessd_job_answered). */
    if (((route_handler *)self)->route(req, &route) != 0 && req->res.status != 0)
        sessd_metrics_request(route, req->res.status);
    return 0;
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    worker *w = listener->data;
    if (err != NULL)
        return;
    h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
    if (sock != NULL)
        sessd_conns_admit(&w->accept_ctx, sock, &w->conns, sessd_cfg()->max_connections);
}

/* The shutdown's meeting points between the loops and the main thread: each loop says when its
 * connections are gone (or the drain bound passed), the main thread then stops the password
 * pool, and loops that have also sent home their last job wait until the main thread has
 * disposed of them (see worker_main). */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int drained; /* loops whose connections are gone */
    int parked;  /* loops with no job out any more, waiting to be disposed of */
    bool disposed;
} park = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, false};

static void park_count(int *what)
{
    pthread_mutex_lock(&park.mu);
    (*what)++;
    pthread_cond_broadcast(&park.cv);
    pthread_mutex_unlock(&park.mu);
}

static void park_wait_for(const int *what, int n)
{
    pthread_mutex_lock(&park.mu);
    while (*what < n)
        pthread_cond_wait(&park.cv, &park.mu);
    pthread_mutex_unlock(&park.mu);
}

static void loops_park(void)
{
    pthread_mutex_lock(&park.mu);
    park.parked++;
    pthread_cond_broadcast(&park.cv);
    while (!park.disposed)
        pthread_cond_wait(&park.cv, &park.mu);
    pthread_mutex_unlock(&park.mu);
}

/* Waits until the `n` loops have finished their connections, stops the password pool (a login
 * in flight on a connection still being drained is hashed and answered; what is queued past the
 * drain bound goes home unrun), waits until the loops have no job out, disposes of them, and
 * lets their threads end. */
static void loops_stop(worker *workers, int n)
{
    park_wait_for(&park.drained, n);
    /* The pool before the loops' receivers go: its workers send finished jobs to them. */
    sessd_workers_stop();
    park_wait_for(&park.parked, n);
    for (int i = 0; i < n; i++) {
        /* h2o asserts that a context it disposes of has no connection left; one that h2o did
         * not close in time stays with its loop until the process exits. */
        if (!workers[i].clean) {
            sessd_log(SESSD_LOG_WARN, "shutdown: a connection did not close in time");
            continue;
        }
        h2o_context_dispose(&workers[i].ctx);
        h2o_evloop_destroy(workers[i].loop);
    }
    pthread_mutex_lock(&park.mu);
    park.disposed = true;
    pthread_cond_broadcast(&park.cv);
    pthread_mutex_unlock(&park.mu);
    for (int i = 0; i < n; i++)
        pthread_join(workers[i].tid, NULL);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool conns_gone(worker *w)
{
    return h2o_linklist_is_empty(&w->ctx.http1._conns);
}

/* Runs the loop until its connections are gone. Connections waiting between requests are closed
 * at once, and so is each one once its request in flight is answered (h2o answers requests parsed
 * from now on with Connection: close; close_idle catches those parsed before). Past the drain
 * bound every connection left is cut, and h2o gets SHUTDOWN_CUT_MS more to close them. */
static void drain(worker *w)
{
    int64_t deadline = mono_ms() + SHUTDOWN_DRAIN_MS;
    bool cut = false;
    for (;;) {
        int64_t now = mono_ms();
        if (!cut && now >= deadline) {
            sessd_conns_close_all(&w->conns);
            cut = true;
        } else if (!cut) {
            sessd_conns_close_idle(&w->conns);
        }
        if (conns_gone(w) || now >= deadline + SHUTDOWN_CUT_MS)
            return;
        h2o_evloop_run(w->loop, 10);
    }
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    w->loop = h2o_evloop_create();
    h2o_context_init(&w->ctx, w->loop, w->conf);
    w->accept_ctx.ctx = &w->ctx;
    w->accept_ctx.hosts = w->conf->hosts;
    sessd_workers_attach(&w->ctx);
    h2o_linklist_init_anchor(&w->conns);
    w->listener = h2o_evloop_socket_create(w->loop, w->fd, H2O_SOCKET_FLAG_DONT_READ);
    w->listener->data = w;
    h2o_socket_read_start(w->listener, on_accept);

    int64_t last_watch = mono_ms();
    while (!atomic_load(&sessd_srv.stopping)) {
        h2o_evloop_run(w->loop, 100);
        int64_t now = mono_ms();
        if (now - last_watch >= 1000) {
            sessd_conns_watch(&w->conns, now, sessd_cfg()->send_timeout);
            last_watch = now;
        }
    }

    /* Stop accepting, then let the connections finish the request they are on (drain). */
    h2o_socket_read_stop(w->listener);
    h2o_socket_close(w->listener);
    h2o_context_request_shutdown(&w->ctx);
    drain(w);
    park_count(&park.drained);
    sessd_workers_detach(&w->ctx);
    /* A job that came home after the drain bound answered a connection that was cut: h2o closes
     * it once it sees the write fail. */
    int64_t until = mono_ms() + SHUTDOWN_CUT_MS;
    while (!conns_gone(w) && mono_ms() < until)
        h2o_evloop_run(w->loop, 10);
    w->clean = conns_gone(w);
    /* request_shutdown also arms HTTP/2's graceful-shutdown timer, which has nothing to do
     * here (no HTTP/2 without TLS) and would keep the context from being disposed. */
    if (h2o_timeout_is_linked(&w->ctx.http2._graceful_shutdown_timeout))
        h2o_timeout_unlink(&w->ctx.http2._graceful_shutdown_timeout);
    /* The main thread disposes of the loop while this thread still exists: h2o's loop state
     * may point into this thread's stack, which could be unmapped once the thread is gone. */
    loops_park();
    return NULL;
}

/* Password workers: one core fewer than the machine has (at least one), so that a burst of
 * argon2id hashing leaves a core to the event loops and verify keeps its latency. */
static int pool_size(int nthreads)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int n = cores > 1 ? (int)cores - 1 : 1;
    return n < nthreads ? n : (nthreads > 0 ? nthreads : 1);
}

/* Splits "host:port" / "[v6]:port". */
static int split_listen(const char *listen, char *host, size_t hcap, char *port, size_t pcap)
{
    const char *colon = strrchr(listen, ':');
    if (colon == NULL)
        return -1;
    const char *h = listen;
    size_t hl = (size_t)(colon - listen);
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    if (hl >= hcap || strlen(colon + 1) >= pcap)
        return -1;
    memcpy(host, h, hl);
    host[hl] = '\0';
    strcpy(port, colon + 1);
    return 0;
}

/* SO_REUSEPORT lets any process of the same user join a port, so a second sessiond started by
 * mistake would silently share the traffic. Bind once without it first: that fails when anyone
 * listens there already. */
static int port_is_free(const char *host, const char *port, char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    if (strcmp(port, "0") == 0 || getaddrinfo(host[0] ? host : NULL, port, &hints, &res) != 0)
        return 0; /* port 0 is always free; resolution errors are reported by open_listener */
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0), r = 0;
    int on = 1;
    if (fd >= 0 && (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
                    bind(fd, res->ai_addr, res->ai_addrlen) != 0)) {
        snprintf(err, errlen, "cannot listen on %s:%s: %s (is another sessiond running?)", host,
                 port, strerror(errno));
        r = -1;
    }
    if (fd >= 0)
        close(fd);
    freeaddrinfo(res);
    return r;
}

/* Opens one listening socket; `port` may be "0" for the first one. */
static int open_listener(const char *host, const char *port, char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
    if (gai != 0) {
        snprintf(err, errlen, "cannot resolve listen address %s: %s", host, gai_strerror(gai));
        return -1;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int on = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) != 0 ||
        bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 1024) != 0) {
        snprintf(err, errlen, "cannot listen on %s:%s: %s", host, port, strerror(errno));
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

static int bound_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
        return -1;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

/* h2o answers some errors itself before any handler runs: a body whose announced or read
 * length passes max_request_entity_size gets 413 with a text body. A filter on the host's
 * fallback path (where those answers go) turns them into the contract's JSON error. */
static const char too_large_json[] =
    "{\"error\":\"too_large\",\"message\":\"request body is over [server] max_body\"}";

static void send_json_413(h2o_ostream_t *self, h2o_req_t *req, h2o_iovec_t *bufs, size_t bufcnt,
                          h2o_send_state_t state)
{
    (void)bufs;
    (void)bufcnt;
    if (h2o_send_state_is_in_progress(state)) {
        h2o_ostream_send_next(self, req, NULL, 0, state);
        return;
    }
    h2o_iovec_t body = h2o_iovec_init(too_large_json, sizeof(too_large_json) - 1);
    h2o_ostream_send_next(self, req, &body, 1, state);
}

static void on_error_ostream(h2o_filter_t *self, h2o_req_t *req, h2o_ostream_t **slot)
{
    (void)self;
    if (req->res.status == 413) {
        ssize_t i = h2o_find_header(&req->res.headers, H2O_TOKEN_CONTENT_TYPE, -1);
        if (i >= 0)
            h2o_delete_header(&req->res.headers, i);
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                       H2O_STRLIT("application/json"));
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
                       H2O_STRLIT("no-store"));
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_DISPOSITION, NULL,
                       H2O_STRLIT(HTTP_JSON_DISPOSITION));
        req->res.content_length = sizeof(too_large_json) - 1;
        h2o_ostream_t *os = h2o_add_ostream(req, sizeof(*os), slot);
        os->do_send = send_json_413;
        slot = &os->next;
    }
    h2o_setup_next_ostream(req, slot);
}

/* The h2o configuration of the worker loops (route: sessd_route) or of the ops loop
 * (sessd_route_ops). */
static void setup_h2o(h2o_globalconf_t *conf, const sessd_config *c,
                      int (*route)(h2o_req_t *, enum sessd_route *))
{
    h2o_config_init(conf);
    /* No Server header: it tells an attacker what runs here and nothing a client needs, and
     * h2o formats it with a second sprintf per answer (about 1,400 instructions, a tenth of a
     * verify). */
    conf->server_name = h2o_iovec_init(NULL, 0);
    /* h2o refuses bodies past this with its own 413; the router answers the JSON 413 for
     * anything between max_body and this. */
    conf->max_request_entity_size = (size_t)c->max_body * 2 + 4096;
    conf->http1.upgrade_to_http2 = 0;
    /* Bounds the whole request (a slowloris trickle of header bytes, a slow body) and the idle
     * wait for the next request on a keep-alive connection. */
    conf->http1.req_timeout = (uint64_t)c->request_timeout;
    h2o_hostconf_t *host =
        h2o_config_register_host(conf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_filter_t *f = h2o_create_filter(&host->fallback_path, sizeof(*f));
    f->on_setup_ostream = on_error_ostream;
    h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
    route_handler *h = (route_handler *)h2o_create_handler(path, sizeof(*h));
    h->super.on_req = on_req;
    h->route = route;
    if (access_log != NULL)
        h2o_access_log_register(path, access_log);
}

/* ---- reload and maintenance ------------------------------------------------------------ */

/* At start and after each reload: a session cookie without Secure or a prefix is said loudly
 * ([session] require_secure = true refuses such a configuration instead). */
static void warn_insecure_cookie(const sessd_config *c)
{
    char why[512];
    if (sessd_config_insecure_cookie(c, why, sizeof(why)))
        sessd_log(SESSD_LOG_WARN, "%s (set [session] require_secure = true to refuse this)", why);
}

static void reload(void)
{
    const sessd_config *cur = sessd_cfg();
    if (cur->file[0] == '\0') {
        sessd_log(SESSD_LOG_NOTICE, "SIGHUP: no configuration file to reload");
        return;
    }
    sessd_config *next = malloc(sizeof(*next));
    char err[512];
    if (next == NULL) {
        sessd_log(SESSD_LOG_WARN, "SIGHUP: out of memory, kept the current configuration");
        return;
    }
    /* Start from the current values, so command-line overrides stay; the file then env win
     * for what they name. */
    sessd_config_defaults(next);
    memcpy(next->data_dir, cur->data_dir, sizeof(next->data_dir));
    if (sessd_config_load_file(next, cur->file, err, sizeof(err)) != 0 ||
        sessd_config_apply_env(next, err, sizeof(err)) != 0 ||
        sessd_config_finish(next, err, sizeof(err)) != 0) {
        sessd_log(SESSD_LOG_WARN, "SIGHUP: %s; kept the current configuration", err);
        free(next);
        return;
    }
    /* Options that need a restart keep their running values. */
    char changed[512];
    if (sessd_config_keep_static(next, cur, changed, sizeof(changed)) > 0)
        sessd_log(SESSD_LOG_WARN, "SIGHUP: %s changed; a restart is needed to apply it", changed);
    memcpy(next->file, cur->file, sizeof(next->file));
    if (n_old_configs == sizeof(old_configs) / sizeof(old_configs[0])) {
        sessd_log(SESSD_LOG_WARN, "SIGHUP: too many reloads in one run; restart to reload again");
        free(next);
        return;
    }
    sess_policy pol;
    sessd_policy_from_config(next, &pol);
    if (sess_ctx_set_policy(sessd_srv.ctx, &pol) != 0) {
        /* The configuration's bounds never allow such a policy; refuse it all the same. */
        sessd_log(SESSD_LOG_WARN, "SIGHUP: the session policy is unusable; kept the current "
                                  "configuration");
        free(next);
        return;
    }
    sessd_log_configure(next->log_level, next->log_format);
    old_configs[n_old_configs++] = atomic_exchange(&sessd_srv.config, next);
    sessd_log(SESSD_LOG_NOTICE, "configuration reloaded from %s", next->file);
    warn_insecure_cookie(next);
}

static void maintenance(int64_t *last_sweep)
{
    int64_t step;
    if (sessd_clock_tick(sessd_cfg()->clock_step_warning, &step))
        sessd_log(SESSD_LOG_WARN,
                  step > 0 ? "the wall clock stepped forward by %" PRId64
                             " s; sessions whose deadlines it passed have ended"
                           : "the wall clock stepped back by %" PRId64
                             " s; deadlines are judged on the time already reached, which runs on "
                             "until the wall clock catches up",
                  step > 0 ? step : -step);
    if (sess_touch_flush(sessd_srv.ctx) != 0)
        sessd_log(SESSD_LOG_WARN, "could not write last-seen updates; will retry");
    int64_t now = sessd_now();
    /* The sessions gauge is counted here, so that /metrics never waits for the store. */
    uint64_t n = 0;
    if (sessd_metrics_sessions_due(now))
        sessd_metrics_sessions_set(
            sessd_srv.store->ops->count(sessd_srv.store, &n) == 0 ? (int64_t)n : -1, now);
    if (now - *last_sweep >= SWEEP_EVERY_S) {
        size_t removed = 0;
        if (sessd_srv.store->ops->sweep(sessd_srv.store, now, SWEEP_BATCH, &removed) == 0 &&
            removed > 0)
            sessd_log(SESSD_LOG_DEBUG, "swept %zu expired sessions", removed);
        *last_sweep = now;
    }
}

static void wait_for_signals(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    int64_t last_sweep = 0;
    for (;;) {
        struct timespec ts = {0, MAINT_TICK_MS * 1000000L};
        int sig = sigtimedwait(&set, NULL, &ts);
        if (sig == SIGTERM || sig == SIGINT) {
            sessd_log(SESSD_LOG_NOTICE, "%s: finishing requests in flight, then exiting",
                      sig == SIGTERM ? "SIGTERM" : "SIGINT");
            return;
        }
        if (sig == SIGHUP) {
            reload();
            sessd_audit_reopen();
        }
        maintenance(&last_sweep);
    }
}

/* ---- start and stop ---------------------------------------------------------------------- */

/* The store's own events (Redis unreachable or back, the near cache's subscription) go to the
 * log; they never carry a secret. */
static void store_log(void *arg, int level, const char *msg)
{
    (void)arg;
    sessd_log(level == SESS_STORE_LOG_WARN ? SESSD_LOG_WARN : SESSD_LOG_NOTICE, "store: %s", msg);
}

/* The store of [store] (storage.h) behind the timing wrapper (store_timed.h). Redis: one
 * connection per worker thread, plus the main and the admin thread, and the near cache as
 * configured. The server starts even when Redis is down: /readyz says 503 until it answers. */
static int open_store(const sessd_config *c, int nthreads, char *err, size_t errlen)
{
    sessd_store_use use = {
        .redis_pool = (uint32_t)nthreads + 2, .redis_cache = true, .log = store_log};
    int r = sessd_store_open(c, &use, &sessd_srv.store, err, errlen);
    if (r == 0 && sessd_store_in_redis(c) && sessd_srv.store->ops->ping(sessd_srv.store) != 0)
        sessd_log(SESSD_LOG_WARN, "Redis does not answer yet; /readyz answers 503 until it does");
    sess_store *timed;
    if (r == 0 && (r = sessd_store_timed_new(sessd_srv.store, &timed)) != 0) {
        sess_store_close(sessd_srv.store);
        snprintf(err, errlen, "out of memory");
    } else if (r == 0) {
        sessd_srv.store = timed;
    }
    return r;
}

/* Opens one listening socket per worker, all on the same port. 0, or an exit status after
 * printing the error (workers' fds are then closed). */
static int open_listeners(const sessd_config *cfg, worker *workers, int n, char *host, size_t hcap,
                          char *port, size_t pcap)
{
    char err[512];
    if (split_listen(cfg->listen, host, hcap, port, pcap) != 0) {
        fprintf(stderr, "sessiond: bad listen address %s (want HOST:PORT)\n", cfg->listen);
        return 2;
    }
    if (port_is_free(host, port, err, sizeof(err)) != 0) {
        fprintf(stderr, "sessiond: %s\n", err);
        return 1;
    }
    for (int i = 0; i < n; i++) {
        workers[i].fd = open_listener(host, port, err, sizeof(err));
        if (workers[i].fd < 0) {
            fprintf(stderr, "sessiond: %s\n", err);
            while (i-- > 0)
                close(workers[i].fd);
            return 1;
        }
        /* With port 0 the first socket picks the port; the others join it. */
        snprintf(port, pcap, "%d", bound_port(workers[i].fd));
    }
    return 0;
}

/* [server] ops_listen's socket into `w` (port 0 picks one; `port` gets it). 0, or an exit
 * status after printing the error. */
static int open_ops_listener(const sessd_config *cfg, worker *w, char *port, size_t pcap)
{
    char err[512], host[256];
    if (split_listen(cfg->ops_listen, host, sizeof(host), port, pcap) != 0) {
        fprintf(stderr, "sessiond: bad ops_listen address %s (want HOST:PORT)\n", cfg->ops_listen);
        return 2;
    }
    if (port_is_free(host, port, err, sizeof(err)) != 0 ||
        (w->fd = open_listener(host, port, err, sizeof(err))) < 0) {
        fprintf(stderr, "sessiond: [server] ops_listen: %s\n", err);
        return 1;
    }
    snprintf(port, pcap, "%d", bound_port(w->fd));
    return 0;
}

/* The key, the store, the session context and the admin socket. 0, or 1 after printing the
 * error with everything it opened closed again. */
static int open_state(const sessd_config *cfg, sessd_admin_fn admin_fn)
{
    char err[512];
    uint8_t key[SESS_KEY_BYTES];
    sess_policy pol;
    sessd_policy_from_config(cfg, &pol);
    if (sessd_server_key(cfg, key, err, sizeof(err)) != 0) {
        fprintf(stderr, "sessiond: %s\n", err);
        return 1;
    }
    int nthreads = cfg->threads > 0 ? cfg->threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (nthreads < 1)
        nthreads = 1;
    sessd_clock_init(cfg->data_dir, err, sizeof(err));
    if (err[0] != '\0')
        sessd_log(SESSD_LOG_WARN, "%s", err);
    if (open_store(cfg, nthreads, err, sizeof(err)) != 0) {
        fprintf(stderr, "sessiond: cannot open the %s store: %s\n", cfg->store_kind, err);
        sess_wipe(key, sizeof(key));
        return 1;
    }
    int r = sess_ctx_new(sessd_srv.store, key, &pol, &sessd_srv.ctx);
    sess_wipe(key, sizeof(key));
    sessd_audit_on_failure(strcmp(cfg->audit_on_failure, "continue") == 0);
    if (r != 0) {
        fprintf(stderr, "sessiond: cannot use the store: %s\n", sess_strerror(r));
    } else if (sessd_audit_open(cfg->audit_path, err, sizeof(err)) != 0) {
        fprintf(stderr, "sessiond: %s\n", err);
        sess_ctx_free(sessd_srv.ctx);
    } else if (sessd_socket_dir(cfg, err, sizeof(err)) != 0 ||
               sessd_admin_start(cfg->socket_dir, sessd_srv.ctx, admin_fn, err, sizeof(err)) != 0) {
        fprintf(stderr, "sessiond: %s\n", err);
        sessd_audit_close(true);
        sess_ctx_free(sessd_srv.ctx);
    } else if (cfg->store == SESSD_STORE_LMDB &&
               sessd_touchsock_start(cfg->socket_dir, sessd_srv.ctx, err, sizeof(err)) != 0) {
        fprintf(stderr, "sessiond: %s\n", err);
        sessd_admin_stop();
        sessd_audit_close(true);
        sess_ctx_free(sessd_srv.ctx);
    } else {
        return 0;
    }
    sess_store_close(sessd_srv.store);
    return 1;
}

/* Room for max_connections sockets plus the store, logs, helpers and listeners: raises the
 * soft file descriptor limit as far as the hard one allows, and says so when that is too little
 * (accept would then fail with EMFILE before the cap is reached). */
#define FD_RESERVE 256

static void fit_fd_limit(const sessd_config *cfg)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rlim_t need = (rlim_t)cfg->max_connections + FD_RESERVE;
    if (rl.rlim_cur >= need)
        return;
    rl.rlim_cur = rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need ? rl.rlim_max : need;
    setrlimit(RLIMIT_NOFILE, &rl);
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < need)
        sessd_log(SESSD_LOG_WARN,
                  "[server] max_connections = %llu needs %llu file descriptors, the limit is "
                  "%llu: lower max_connections or raise the limit (ulimit -n, LimitNOFILE=)",
                  (unsigned long long)cfg->max_connections, (unsigned long long)need,
                  (unsigned long long)rl.rlim_cur);
}

static void block_signals(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static void free_configs(void)
{
    for (size_t i = 0; i < n_old_configs; i++)
        free(old_configs[i]);
    free(atomic_load(&sessd_srv.config));
}

int sessd_serve(sessd_config *cfg, sessd_admin_fn admin_fn)
{
    char host[256], port[16];
    atomic_store(&sessd_srv.config, cfg);
    sessd_srv.https = strncmp(cfg->public_url, "https://", 8) == 0;
    sessd_log_configure(cfg->log_level, cfg->log_format);
    sessd_audit_set_actor("admin socket");
    /* Before any thread starts, so that every thread inherits the mask and only the main
     * thread's sigtimedwait ever takes these signals. */
    block_signals();
    /* No core dump or same-user ptrace of a process that holds passwords, tokens and the key. */
    if (prctl(PR_SET_DUMPABLE, 0) != 0)
        sessd_log(SESSD_LOG_WARN, "cannot turn off core dumps (prctl): %s", strerror(errno));
    fit_fd_limit(cfg);

    int nthreads = cfg->threads > 0 ? cfg->threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (nthreads < 1)
        nthreads = 1;
    /* Forked first, while this process has no other thread and nothing open. */
    if (sessd_pwhelper_start(pool_size(nthreads)) != 0)
        sessd_log(SESSD_LOG_WARN, "cannot start password helper processes; hashing in-process");
    /* After the fork: the helpers need no log file. */
    if (cfg->access_log[0] != '\0' &&
        (access_log = h2o_access_log_open_handle(cfg->access_log, cfg->access_log_format,
                                                 strcmp(cfg->log_format, "json") == 0
                                                     ? H2O_LOGCONF_ESCAPE_JSON
                                                     : H2O_LOGCONF_ESCAPE_APACHE)) == NULL) {
        fprintf(stderr,
                "sessiond: cannot open the access log %s with format \"%s\" (see the line "
                "above; check [log] access_log and access_log_format)\n",
                cfg->access_log, cfg->access_log_format);
        sessd_pwhelper_stop();
        free_configs();
        return 1;
    }
    /* The worker loops, then the ops loop when [server] ops_listen is set. */
    int nloops = nthreads + (cfg->ops_listen[0] != '\0');
    char ops_port[16] = "";
    worker *workers = calloc((size_t)nloops, sizeof(worker));
    int status =
        workers ? open_listeners(cfg, workers, nthreads, host, sizeof(host), port, sizeof(port))
                : 1;
    if (status == 0 && nloops > nthreads &&
        (status = open_ops_listener(cfg, &workers[nthreads], ops_port, sizeof(ops_port))) != 0)
        for (int i = 0; i < nthreads; i++)
            close(workers[i].fd);
    if (status == 0 && (status = open_state(cfg, admin_fn)) != 0)
        for (int i = 0; i < nloops; i++)
            close(workers[i].fd);
    /* The dummy hash unknown users are checked against is made now, so that no login pays for
     * it; then the pool that does all password work. */
    if (status == 0 &&
        (sess_users_prepare(sessd_srv.ctx) != 0 || sessd_workers_start(pool_size(nthreads)) != 0)) {
        fprintf(stderr, "sessiond: cannot start the password workers (out of memory?)\n");
        sessd_touchsock_stop();
        sessd_admin_stop();
        sessd_audit_close(true);
        sess_ctx_free(sessd_srv.ctx);
        sess_store_close(sessd_srv.store);
        for (int i = 0; i < nloops; i++)
            close(workers[i].fd);
        status = 1;
    }
    if (status != 0) {
        sessd_pwhelper_stop();
        free(workers);
        free_configs();
        return status;
    }

    setup_h2o(&globalconf, cfg, sessd_route);
    if (nloops > nthreads)
        setup_h2o(&ops_conf, cfg, sessd_route_ops);
    for (int i = 0; i < nloops; i++) {
        workers[i].conf = i < nthreads ? &globalconf : &ops_conf;
        pthread_create(&workers[i].tid, NULL, worker_main, &workers[i]);
    }
    bool v6 = strchr(host, ':') != NULL;
    printf("sessiond listening on http://%s%s%s:%s\n", v6 ? "[" : "", host, v6 ? "]" : "", port);
    if (nloops > nthreads)
        printf("sessiond ops endpoints (/healthz, /metrics) on port %s of %s\n", ops_port,
               cfg->ops_listen);
    fflush(stdout);
    if (sessd_store_in_redis(cfg))
        sessd_log(SESSD_LOG_INFO, "%d threads, %s store in redis (key prefix %s, near cache %s)",
                  nthreads, cfg->store_kind, cfg->redis_prefix, cfg->redis_cache ? "on" : "off");
    else
        sessd_log(SESSD_LOG_INFO, "%d threads, %s store at %s", nthreads, cfg->store_kind,
                  cfg->store_path);
    warn_insecure_cookie(cfg);

    wait_for_signals();
    atomic_store(&sessd_srv.stopping, true);
    loops_stop(workers, nloops);
    /* The admin thread may be hashing a password through the helpers: it stops first, then the
     * helpers (which put the in-process hasher back). */
    sessd_touchsock_stop();
    sessd_admin_stop();
    sessd_pwhelper_stop();
    sess_ctx_free(sessd_srv.ctx); /* flushes pending touches */
    sess_store_close(sessd_srv.store);
    sessd_audit_close(true);
    if (sessd_clock_save() != 0)
        sessd_log(SESSD_LOG_WARN, "could not record the clock in the data directory: %s",
                  strerror(errno));
    free(workers);
    h2o_config_dispose(&globalconf);
    if (nloops > nthreads)
        h2o_config_dispose(&ops_conf);
    free_configs();
    sessd_log(SESSD_LOG_NOTICE, "stopped");
    return 0;
}
