/*
 * admin.c - the admin socket's server thread and its client. See admin.h for the protocol.
 * One command at a time is plenty for an operator's tool; each connection is bounded in size
 * and time so a stuck client cannot hold the thread.
 */
#include "core/admin.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/audit.h"
#include "core/log.h"

static struct {
    int fd;
    pthread_t tid;
    atomic_bool stop;
    sess_ctx *ctx;
    sessd_admin_fn fn;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
} admin = {.fd = -1};

static int make_addr(const char *socket_dir, struct sockaddr_un *sa, char *err, size_t errlen)
{
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    int n = snprintf(sa->sun_path, sizeof(sa->sun_path), "%s/%s", socket_dir, SESSD_ADMIN_SOCK);
    if (n < 0 || (size_t)n >= sizeof(sa->sun_path)) {
        snprintf(err, errlen, "the socket directory path is too long for a unix socket");
        return -1;
    }
    return 0;
}

static int read_full(int fd, void *buf, size_t len)
{
    uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = read(fd, p, len);
        if (n <= 0) {
            if (n < 0 && errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int write_full(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n <= 0) {
            if (n < 0 && errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int write_u32(int fd, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    return write_full(fd, b, 4);
}

static int read_u32(int fd, uint32_t *v)
{
    uint8_t b[4];
    if (read_full(fd, b, 4) != 0)
        return -1;
    *v = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
    return 0;
}

static int write_blob(int fd, const char *p, size_t len)
{
    return (write_u32(fd, (uint32_t)len) == 0 && write_full(fd, p, len) == 0) ? 0 : -1;
}

static bool peer_allowed(int fd)
{
    struct ucred cred;
    socklen_t len = sizeof(cred);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
        return false;
    return cred.uid == geteuid() || cred.uid == 0;
}

/* Splits the NUL-separated words of a request into argv (at most 64). */
static int split_words(char *buf, size_t len, char **argv, int max)
{
    int argc = 0;
    size_t start = 0;
    for (size_t i = 0; i < len; i++)
        if (buf[i] == '\0') {
            if (argc == max)
                return -1;
            argv[argc++] = buf + start;
            start = i + 1;
        }
    return start == len ? argc : -1;
}

static void serve_one(int fd)
{
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    uint32_t len;
    if (!peer_allowed(fd) || read_u32(fd, &len) != 0 || len == 0 || len > SESSD_ADMIN_MAX_REQUEST)
        return;
    char *buf = malloc(len);
    char *argv[65];
    int argc;
    if (buf == NULL || read_full(fd, buf, len) != 0 ||
        (argc = split_words(buf, len, argv, 64)) < 1) {
        if (buf != NULL)
            sess_wipe(buf, len);
        free(buf);
        return;
    }
    argv[argc] = NULL;
    char *out = NULL, *errt = NULL;
    size_t out_len = 0, err_len = 0;
    FILE *o = open_memstream(&out, &out_len), *e = open_memstream(&errt, &err_len);
    int status = 1;
    if (o && e)
        status = admin.fn(admin.ctx, argc, argv, o, e);
    if (o)
        fclose(o);
    if (e)
        fclose(e);
    /* Not confirmed without its audit line ([audit] on_failure = refuse): the client says so. */
    static const char unaudited[] =
        "sessiond: the command ran, but its audit line could not be written, so it is not "
        "confirmed ([audit] on_failure = refuse); check the disk and the audit log\n";
    if (sessd_audit_admin(argc, argv, status) != 0 && errt != NULL) {
        status = 1;
        char *more = realloc(errt, err_len + sizeof(unaudited));
        if (more != NULL) {
            memcpy(more + err_len, unaudited, sizeof(unaudited));
            errt = more;
            err_len += sizeof(unaudited) - 1;
        }
    }
    sessd_log(SESSD_LOG_NOTICE, "admin socket: %s %s -> exit %d", argv[0], argc > 1 ? argv[1] : "",
              status);
    if (out && errt && out_len <= SESSD_ADMIN_MAX_ANSWER && err_len <= SESSD_ADMIN_MAX_ANSWER)
        (void)(write_u32(fd, (uint32_t)status) == 0 && write_blob(fd, out, out_len) == 0 &&
               write_blob(fd, errt, err_len) == 0);
    /* The output may hold a new API key. */
    if (out)
        sess_wipe(out, out_len);
    free(out);
    free(errt);
    /* The words may hold a password (`user add`, `user passwd`). */
    sess_wipe(buf, len);
    free(buf);
}

static void *admin_main(void *arg)
{
    (void)arg;
    while (!atomic_load(&admin.stop)) {
        struct pollfd p = {admin.fd, POLLIN, 0};
        if (poll(&p, 1, 200) <= 0)
            continue;
        int c = accept4(admin.fd, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0)
            continue;
        serve_one(c);
        close(c);
    }
    return NULL;
}

int sessd_admin_start(const char *socket_dir, sess_ctx *ctx, sessd_admin_fn fn, char *err,
                      size_t errlen)
{
    struct sockaddr_un sa;
    if (make_addr(socket_dir, &sa, err, errlen) != 0)
        return -1;
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
        close(probe);
        snprintf(err, errlen, "another sessiond is serving %s (it answers on %s); stop it first",
                 socket_dir, sa.sun_path);
        return -1;
    }
    if (probe >= 0)
        close(probe);
    unlink(sa.sun_path); /* a stale socket from a server that was killed */
    admin.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    mode_t old = umask(0177);
    int ok = admin.fd >= 0 && bind(admin.fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
             listen(admin.fd, 16) == 0;
    umask(old);
    if (!ok) {
        snprintf(err, errlen, "cannot listen on %s: %s", sa.sun_path, strerror(errno));
        if (admin.fd >= 0)
            close(admin.fd);
        admin.fd = -1;
        return -1;
    }
    snprintf(admin.path, sizeof(admin.path), "%s", sa.sun_path);
    admin.ctx = ctx;
    admin.fn = fn;
    atomic_store(&admin.stop, false);
    if (pthread_create(&admin.tid, NULL, admin_main, NULL) != 0) {
        snprintf(err, errlen, "cannot start the admin thread");
        close(admin.fd);
        admin.fd = -1;
        return -1;
    }
    return 0;
}

void sessd_admin_stop(void)
{
    if (admin.fd < 0)
        return;
    atomic_store(&admin.stop, true);
    pthread_join(admin.tid, NULL);
    close(admin.fd);
    unlink(admin.path);
    admin.fd = -1;
}

static int copy_blob(int fd, FILE *to)
{
    uint32_t len;
    if (read_u32(fd, &len) != 0 || len > SESSD_ADMIN_MAX_ANSWER)
        return -1;
    char buf[4096];
    while (len > 0) {
        size_t n = len < sizeof(buf) ? len : sizeof(buf);
        if (read_full(fd, buf, n) != 0)
            return -1;
        fwrite(buf, 1, n, to);
        len -= (uint32_t)n;
    }
    return 0;
}

int sessd_admin_call(const char *socket_dir, int argc, char **argv)
{
    struct sockaddr_un sa;
    char err[128];
    if (make_addr(socket_dir, &sa, err, sizeof(err)) != 0)
        return -1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    /* The answer is trusted (it may carry a new API key), so the server must be ours too. */
    if (!peer_allowed(fd)) {
        close(fd);
        fprintf(stderr, "sessiond: %s is not served by this user's sessiond; refusing it\n",
                sa.sun_path);
        return 1;
    }
    size_t len = 0;
    for (int i = 0; i < argc; i++)
        len += strlen(argv[i]) + 1;
    uint32_t status = 1;
    int ok = len <= SESSD_ADMIN_MAX_REQUEST && write_u32(fd, (uint32_t)len) == 0;
    for (int i = 0; ok && i < argc; i++)
        ok = write_full(fd, argv[i], strlen(argv[i]) + 1) == 0;
    ok = ok && read_u32(fd, &status) == 0 && copy_blob(fd, stdout) == 0 &&
         copy_blob(fd, stderr) == 0;
    close(fd);
    if (!ok) {
        fprintf(stderr, "sessiond: the server on %s did not answer the admin command\n",
                sa.sun_path);
        return 1;
    }
    return (int)status;
}
