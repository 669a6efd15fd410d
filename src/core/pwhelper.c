/*
 * pwhelper.c - the helper processes of pwhelper.h. One SOCK_SEQPACKET socket pair per helper;
 * a request is one packet (op, cost, hash, password) and so is the answer (result, hash). A
 * helper dies with its parent (PR_SET_PDEATHSIG) and when its socket closes. The password is
 * wiped from every buffer it passed through.
 *
 * A helper that dies or stops answering (a receive timeout bounds the wait) is killed, reaped
 * and replaced by its worker thread, at most MAX_RESPAWNS times per RESPAWN_WINDOW; past that
 * the worker hashes in-process. The request that met the dead helper is hashed in-process.
 */
#include "core/pwhelper.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "sessiond/crypto.h"
#include "sessiond/users.h"

#define MAX_HELPERS 64
#define ANSWER_TIMEOUT_S 60 /* far above argon2id at the highest cost the config allows */
#define MAX_RESPAWNS 5      /* replacements of one helper within RESPAWN_WINDOW */
#define RESPAWN_WINDOW 60   /* seconds */

typedef struct request {
    char op; /* 'H' hash, 'V' verify */
    uint64_t ops;
    uint64_t mem;
    char hash[SESS_PWHASH_STRBYTES]; /* for 'V' */
    uint32_t len;
    char password[SESS_PASSWORD_MAX];
} request;

typedef struct answer {
    int32_t result;
    char hash[SESS_PWHASH_STRBYTES]; /* for 'H' */
} answer;

/* Slot i belongs to worker thread i (sessd_pwhelper_bind): only that thread touches it while
 * the pool runs. */
static int fds[MAX_HELPERS];
static pid_t pids[MAX_HELPERS];
static int respawns[MAX_HELPERS];
static int64_t respawn_window[MAX_HELPERS];
static int count;
static pid_t parent;
static __thread int my_fd = -1;
static __thread int my_slot = -1;

static void serve(int fd)
{
    request rq;
    answer an;
    for (;;) {
        ssize_t n = recv(fd, &rq, sizeof(rq), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        memset(&an, 0, sizeof(an));
        an.result = -1;
        if ((size_t)n == sizeof(rq) && rq.len <= SESS_PASSWORD_MAX) {
            rq.hash[SESS_PWHASH_STRBYTES - 1] = '\0';
            if (rq.op == 'H')
                an.result = sess_pwhash(rq.password, rq.len, rq.ops, (size_t)rq.mem, an.hash);
            else if (rq.op == 'V')
                an.result = sess_pwhash_verify(rq.hash, rq.password, rq.len);
        }
        sess_wipe(&rq, sizeof(rq));
        if (send(fd, &an, sizeof(an), MSG_NOSIGNAL) < 0)
            break;
    }
    _exit(0); /* no atexit handlers, no leak report of the parent's copied heap */
}

/* Forks the helper of slot `i`. 0, or -1 (the slot then has none). */
static int spawn(int i)
{
    int pair[2];
    fds[i] = -1;
    pids[i] = -1;
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0) {
        close(pair[0]);
        close(pair[1]);
        return -1;
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(0);
        /* Nothing of the parent's but this socket: a replacement is forked by a running
         * server, which has listeners, the store and the other helpers' sockets open. */
        int fd = dup2(pair[1], 3) == 3 ? 3 : -1;
        if (fd < 0 || close_range(4, ~0U, 0) != 0)
            _exit(1);
        serve(fd);
    }
    close(pair[1]);
    /* A helper that stops (SIGSTOP, a debugger) must not hold its worker forever. */
    struct timeval tv = {ANSWER_TIMEOUT_S, 0};
    setsockopt(pair[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(pair[0], SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    fds[i] = pair[0];
    pids[i] = pid;
    return 0;
}

/* This thread's helper failed: kill and reap it, and start another unless it keeps failing. */
static void replace_mine(void)
{
    int i = my_slot;
    my_fd = -1;
    if (i < 0)
        return;
    pid_t old = pids[i];
    close(fds[i]);
    kill(old, SIGKILL);
    while (waitpid(old, NULL, 0) < 0 && errno == EINTR)
        ;
    int64_t now = (int64_t)time(NULL);
    if (now - respawn_window[i] >= RESPAWN_WINDOW) {
        respawn_window[i] = now;
        respawns[i] = 0;
    }
    if (++respawns[i] > MAX_RESPAWNS || spawn(i) != 0) {
        fds[i] = -1;
        pids[i] = -1;
        sessd_log(SESSD_LOG_WARN,
                  "password helper %d (pid %d) failed and cannot be replaced; this worker now "
                  "hashes in-process",
                  i, (int)old);
        return;
    }
    my_fd = fds[i];
    sessd_log(SESSD_LOG_WARN,
              "password helper %d (pid %d) died or stopped answering; replaced by pid %d", i,
              (int)old, (int)pids[i]);
}

/* One round trip; -1 when the helper is gone (the caller then hashes in-process). */
static int ask(request *rq, answer *an)
{
    int r = -1;
    if (send(my_fd, rq, sizeof(*rq), MSG_NOSIGNAL) == (ssize_t)sizeof(*rq)) {
        ssize_t n;
        while ((n = recv(my_fd, an, sizeof(*an), 0)) < 0 && errno == EINTR)
            ;
        r = n == (ssize_t)sizeof(*an) ? 0 : -1;
    }
    sess_wipe(rq, sizeof(*rq));
    if (r != 0)
        replace_mine();
    return r;
}

static int helper_hash(const char *password, size_t len, uint64_t ops, size_t mem,
                       char out[SESS_PWHASH_STRBYTES])
{
    request rq;
    answer an;
    if (my_fd < 0 || len > SESS_PASSWORD_MAX)
        return sess_pwhash(password, len, ops, mem, out);
    memset(&rq, 0, sizeof(rq));
    rq.op = 'H';
    rq.ops = ops;
    rq.mem = mem;
    rq.len = (uint32_t)len;
    memcpy(rq.password, password, len);
    if (ask(&rq, &an) != 0)
        return sess_pwhash(password, len, ops, mem, out);
    memcpy(out, an.hash, SESS_PWHASH_STRBYTES);
    return an.result == 0 ? 0 : -1;
}

static int helper_verify(const char *hash, const char *password, size_t len)
{
    request rq;
    answer an;
    if (my_fd < 0 || len > SESS_PASSWORD_MAX || memchr(hash, '\0', SESS_PWHASH_STRBYTES) == NULL)
        return sess_pwhash_verify(hash, password, len);
    memset(&rq, 0, sizeof(rq));
    rq.op = 'V';
    memcpy(rq.hash, hash, strlen(hash) + 1);
    rq.len = (uint32_t)len;
    memcpy(rq.password, password, len);
    if (ask(&rq, &an) != 0)
        return sess_pwhash_verify(hash, password, len);
    return an.result == 0 ? 0 : -1;
}

int sessd_pwhelper_start(int n)
{
    if (n > MAX_HELPERS)
        n = MAX_HELPERS;
    parent = getpid();
    for (count = 0; count < n; count++)
        if (spawn(count) != 0)
            return -1;
    static const sess_hasher h = {helper_hash, helper_verify};
    sess_users_set_hasher(&h);
    return 0;
}

void sessd_pwhelper_bind(int i)
{
    my_slot = i >= 0 && i < count ? i : -1;
    my_fd = my_slot >= 0 ? fds[i] : -1;
}

void sessd_pwhelper_stop(void)
{
    static const sess_hasher local = {sess_pwhash, sess_pwhash_verify};
    sess_users_set_hasher(&local);
    for (int i = 0; i < count; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    for (int i = 0; i < count; i++)
        while (pids[i] > 0 && waitpid(pids[i], NULL, 0) < 0 && errno == EINTR)
            ;
    count = 0;
}
