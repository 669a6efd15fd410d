/*
 * fuzz_http.c - whole requests through h2o's HTTP/1 parser and sessiond's handlers (the router,
 * /v1, /auth, the ops endpoints), without the network: each input is written into one end of a
 * socketpair whose other end is accepted by an h2o event loop, the write side is then shut, and
 * the loop runs until the server closes the connection. The server runs on a memory store with a
 * fixed server key and one API key (sk_ + base64url of the bytes 1..32, as the seeds use), and
 * no password workers, so logins answer 503 after their parsing. Properties: the connection is
 * closed within the bound (no hang on a half-closed client), and whatever comes back starts with
 * an HTTP/1.1 status line.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <h2o.h>

#include "fuzz.h"
#include "core/config.h"
#include "http/handlers.h"
#include "core/storage.h"
#include "http/server.h"
#include "sessiond/crypto.h"
#include "sessiond/session.h"
#include "sessiond/store.h"

/* Loop turns of at most 10 ms each before a connection that has not closed counts as a hang. */
#define MAX_TURNS 500

static h2o_globalconf_t globalconf;
static h2o_context_t ctx;
static h2o_accept_ctx_t accept_ctx;
static h2o_evloop_t *loop;

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    (void)self;
    enum sessd_route route;
    (void)sessd_route(req, &route);
    return 0;
}

static void setup_server(void)
{
    static sessd_config cfg;
    char err[512];
    sessd_config_defaults(&cfg);
    FUZZ_REQUIRE(sessd_config_set(&cfg, "store", "kind", "memory", "fuzz", err, sizeof err) == 0);
    snprintf(cfg.data_dir, sizeof cfg.data_dir, "/nonexistent-fuzz-data");
    FUZZ_REQUIRE(sessd_config_finish(&cfg, err, sizeof err) == 0);
    atomic_store(&sessd_srv.config, &cfg);

    sess_store_opts o = {.path = cfg.store_path};
    FUZZ_REQUIRE(sess_store_memory_open(&o, &sessd_srv.store, err, sizeof err) == 0);
    uint8_t key[SESS_KEY_BYTES], raw[SESS_TOKEN_BYTES], hash[SESS_HASH_BYTES];
    memset(key, 0x42, sizeof key);
    for (int i = 0; i < SESS_TOKEN_BYTES; i++)
        raw[i] = (uint8_t)(i + 1);
    sess_policy pol;
    sessd_policy_from_config(&cfg, &pol);
    FUZZ_REQUIRE(sess_ctx_new(sessd_srv.store, key, &pol, &sessd_srv.ctx) == 0);
    sess_keyed_hash(key, raw, sizeof raw, hash);
    FUZZ_REQUIRE(sessd_srv.store->ops->apikey_put(sessd_srv.store, "fuzz", hash, 0) == 0);
}

static void setup_h2o(void)
{
    h2o_config_init(&globalconf);
    globalconf.server_name = h2o_iovec_init(H2O_STRLIT("sessiond"));
    globalconf.max_request_entity_size = (size_t)sessd_cfg()->max_body * 2 + 4096;
    globalconf.http1.upgrade_to_http2 = 0;
    h2o_hostconf_t *host =
        h2o_config_register_host(&globalconf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
    h2o_handler_t *h = h2o_create_handler(path, sizeof(*h));
    h->on_req = on_req;
    loop = h2o_evloop_create();
    h2o_context_init(&ctx, loop, &globalconf);
    accept_ctx.ctx = &ctx;
    accept_ctx.hosts = globalconf.hosts;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    FUZZ_REQUIRE(sess_crypto_init() == 0);
    setup_server();
    setup_h2o();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int sv[2];
    if (size > 65536)
        return 0;
    FUZZ_REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    /* A buffer big enough for any input, so that the whole request is written at once. */
    int bufsize = 256 * 1024;
    setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &bufsize, sizeof bufsize);
    setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &bufsize, sizeof bufsize);
    FUZZ_REQUIRE(fcntl(sv[1], F_SETFL, O_NONBLOCK) == 0);
    size_t off = 0;
    while (off < size) {
        ssize_t n = write(sv[1], data + off, size - off);
        FUZZ_REQUIRE(n > 0);
        off += (size_t)n;
    }
    shutdown(sv[1], SHUT_WR);

    h2o_socket_t *sock = h2o_evloop_socket_create(loop, sv[0], 0);
    FUZZ_REQUIRE(sock != NULL);
    h2o_accept(&accept_ctx, sock);

    char head[16];
    size_t got = 0;
    bool closed = false;
    for (int turn = 0; turn < MAX_TURNS && !closed; turn++) {
        h2o_evloop_run(loop, 10);
        char buf[16384];
        ssize_t n;
        while ((n = read(sv[1], buf, sizeof buf)) > 0) {
            /* Only the first bytes are kept: the status line is all that is checked. */
            if (got < sizeof head) {
                size_t take = sizeof head - got < (size_t)n ? sizeof head - got : (size_t)n;
                memcpy(head + got, buf, take);
            }
            got += (size_t)n;
        }
        if (n == 0)
            closed = true;
        else
            FUZZ_REQUIRE(errno == EAGAIN || errno == EWOULDBLOCK || errno == ECONNRESET);
        if (n < 0 && errno == ECONNRESET)
            closed = true;
    }
    FUZZ_REQUIRE(closed);
    if (got > 0)
        FUZZ_REQUIRE(got >= 9 && memcmp(head, "HTTP/1.1 ", 9) == 0);
    close(sv[1]);
    /* Let h2o finish disposing of the connection before the next input. */
    h2o_evloop_run(loop, 0);
    return 0;
}
