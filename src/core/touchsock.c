/*
 * touchsock.c - SOCKET_DIR/touch.sock, the touches the nginx module reports (touchsock.h).
 */
#include "core/touchsock.h"
#include "core/clock.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"

#define RECV_TIMEOUT_MS 200 /* how soon the thread sees a stop */

static struct {
    int fd;
    pthread_t tid;
    atomic_bool stop;
    bool running;
    sess_ctx *ctx;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
} ts = {.fd = -1};

static void *touch_main(void *arg)
{
    (void)arg;
    uint8_t buf[SESSD_TOUCH_MAX_IDS * SESS_ID_BYTES + 1];
    while (!atomic_load(&ts.stop)) {
        ssize_t n = recv(ts.fd, buf, sizeof(buf), 0);
        if (n <= 0 || n % SESS_ID_BYTES != 0 || n > SESSD_TOUCH_MAX_IDS * SESS_ID_BYTES)
            continue; /* a timeout, or not ours to read */
        int64_t now = sessd_now();
        for (ssize_t i = 0; i < n; i += SESS_ID_BYTES)
            if (sess_touch_id(ts.ctx, buf + i, now) != 0)
                continue; /* ended meanwhile, or the store failing: a touch is best effort */
    }
    return NULL;
}

int sessd_touchsock_start(const char *socket_dir, sess_ctx *ctx, char *err, size_t errlen)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int n = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", socket_dir, SESSD_TOUCH_SOCK);
    if (n < 0 || (size_t)n >= sizeof(sa.sun_path)) {
        snprintf(err, errlen, "the socket directory path is too long for %s", SESSD_TOUCH_SOCK);
        return -1;
    }
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create %s: %s", sa.sun_path, strerror(errno));
        return -1;
    }
    struct timeval tv = {0, RECV_TIMEOUT_MS * 1000};
    (void)unlink(sa.sun_path);
    /* Created 0600 (umask), not chmod'ed after: no window in which others may send. */
    mode_t old_mask = umask(0177);
    int bound = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0 &&
                bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    umask(old_mask);
    if (!bound || chmod(sa.sun_path, 0600) != 0) {
        snprintf(err, errlen, "cannot bind %s: %s", sa.sun_path, strerror(errno));
        close(fd);
        (void)unlink(sa.sun_path);
        return -1;
    }
    memcpy(ts.path, sa.sun_path, sizeof(ts.path));
    ts.fd = fd;
    ts.ctx = ctx;
    atomic_store(&ts.stop, false);
    if (pthread_create(&ts.tid, NULL, touch_main, NULL) != 0) {
        snprintf(err, errlen, "cannot start the thread of %s", sa.sun_path);
        close(fd);
        (void)unlink(sa.sun_path);
        ts.fd = -1;
        return -1;
    }
    ts.running = true;
    return 0;
}

void sessd_touchsock_stop(void)
{
    if (!ts.running)
        return;
    atomic_store(&ts.stop, true);
    pthread_join(ts.tid, NULL);
    close(ts.fd);
    (void)unlink(ts.path);
    ts.fd = -1;
    ts.running = false;
}
