/*
 * audit.c - the hash-chained audit log of audit.h: appending under a mutex and flock, reopening
 * after a rotation, and checking a chain (`sessiond audit verify`).
 */
#include "core/audit.h"
#include "core/jsonw.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "sessiond/error.h"
#include "sessiond/record.h"
#include "core/metrics.h"
#include "sessiond/text.h"

#define HEX_HASH (SESS_HASH_BYTES * 2)
#define DETAIL_MAX 1024 /* bytes of `detail` kept before escaping */

static const char *event_names[] = {
#define SESSD_AUDIT_NAME(name, text) text,
    SESSD_AUDIT_EVENTS(SESSD_AUDIT_NAME)
#undef SESSD_AUDIT_NAME
};

static struct {
    pthread_mutex_t mu;
    int fd;
    char path[1024];
    bool go_on; /* [audit] on_failure = continue */
    /* Events that could not be written since the last line that was: the next line written is
     * an audit_gap line saying how many, and from when to when. */
    uint64_t lost;
    char lost_from[40], lost_to[40];
    int lost_errno;
} audit = {.mu = PTHREAD_MUTEX_INITIALIZER, .fd = -1};

/* Group commit of the lines that must be durable before their answer: `written` counts the
 * lines this process wrote (moved after each write, under audit.mu, so in file order); a writer
 * waits until `synced` covers its line, which takes an fdatasync that started after its write.
 * Writers that wait at once share one. Lock order: audit.mu, then gc.mu (never held together by
 * a syncer). */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    _Atomic uint64_t written;
    uint64_t synced;
    bool syncing;
} gc = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

/* What a writer needs to know about the file's last line. */
typedef struct tail {
    uint8_t hash[SESS_HASH_BYTES]; /* of the last line, zeros for an empty file */
    uint64_t seq;                  /* its "seq", 0 when absent or unreadable */
    bool needs_newline;            /* the file ends in a torn line without its newline */
    bool start_known;              /* the last line starts inside the window read */
    bool audit_line;               /* the last line is an audit line (checked at open only) */
    off_t size;                    /* of the file */
    off_t start;                   /* where the last line starts */
} tail;

static void to_hex(const uint8_t *b, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = '\0';
}

/* Whether `text` (`len` bytes, no newline) is shaped as an audit line: a JSON object with an
 * integer seq, a string event and a hash in prev. */
static bool is_audit_line(const char *text, size_t len)
{
    json_error_t jerr;
    json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    const char *ph = json_string_value(json_object_get(o, "prev"));
    bool ok = json_is_object(o) && json_is_integer(json_object_get(o, "seq")) &&
              json_is_string(json_object_get(o, "event")) && ph != NULL && strlen(ph) == HEX_HASH;
    json_decref(o);
    return ok;
}

/* Reads and hashes the last line of `fd` (held under flock by the caller). A line longer than
 * the window can only come from an edit: its window is hashed, which verify reports anyway.
 * With `check`, also says whether that line is an audit line (it costs a JSON parse). */
static int read_tail_checked(int fd, tail *t, bool check)
{
    char buf[SESSD_AUDIT_LINE_MAX + 2];
    struct stat st;
    memset(t, 0, sizeof(*t));
    if (fstat(fd, &st) != 0)
        return -1;
    t->size = st.st_size;
    t->start_known = t->audit_line = true;
    if (st.st_size == 0)
        return 0;
    size_t want = (size_t)st.st_size < sizeof(buf) ? (size_t)st.st_size : sizeof(buf);
    ssize_t got = pread(fd, buf, want, st.st_size - (off_t)want);
    if (got != (ssize_t)want)
        return -1;
    size_t end = want;
    if (buf[end - 1] == '\n')
        end--;
    else
        t->needs_newline = true;
    size_t start = end;
    while (start > 0 && buf[start - 1] != '\n')
        start--;
    t->start = st.st_size - (off_t)(want - start);
    t->start_known = start > 0 || (size_t)st.st_size == want;
    if (check)
        t->audit_line = is_audit_line(buf + start, end - start);
    sess_hash(buf + start, end - start, t->hash);
    static const char prefix[] = "{\"seq\":";
    if (end - start > sizeof(prefix) && memcmp(buf + start, prefix, sizeof(prefix) - 1) == 0)
        t->seq = strtoull(buf + start + sizeof(prefix) - 1, NULL, 10);
    return 0;
}

static int read_tail(int fd, tail *t)
{
    return read_tail_checked(fd, t, false);
}

static int write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Up to `lim` bytes of `v` into `clean` (DETAIL_MAX + 1 bytes), whole UTF-8 characters only,
 * anything else '?'. Returns the length. */
static size_t clean_utf8(const char *v, size_t lim, char *clean)
{
    size_t in = strlen(v), o = 0;
    for (size_t i = 0; i < in && o < lim;) {
        size_t n = sess_utf8_char((const unsigned char *)v + i, in - i);
        if (n == 0 || o + n > lim) {
            clean[o++] = '?';
            i += n == 0 ? 1 : n;
            continue;
        }
        memcpy(clean + o, v + i, n);
        o += n;
        i += n;
    }
    clean[o] = '\0';
    return o;
}

/* A JSON string for `v` (escaped, at most `max` bytes of it and what fits `cap` escaped), or
 * null. Bytes that are not UTF-8 become '?': a client's malformed user name must not make a
 * line that verify cannot parse. Escaped by jsonw, as every JSON sessiond writes. */
static void json_field(char *out, size_t cap, const char *v, size_t max)
{
    if (v == NULL) {
        snprintf(out, cap, "null");
        return;
    }
    size_t lim = max < DETAIL_MAX ? max : DETAIL_MAX;
    for (;;) {
        char clean[DETAIL_MAX + 1];
        size_t n = clean_utf8(v, lim, clean);
        jsonw w;
        jw_init(&w);
        jw_strn(&w, clean, n);
        size_t len = w.failed ? SIZE_MAX : w.len;
        if (len < cap)
            memcpy(out, w.buf, len + 1);
        jw_free(&w);
        if (len < cap)
            return;
        if (len == SIZE_MAX || n == 0) { /* out of memory, or not even "" fits */
            snprintf(out, cap, "null");
            return;
        }
        /* Escapes made it too long: keep less of the value (a byte is at most six escaped). */
        size_t drop = (len + 1 - cap) / 6 + 1;
        lim = n > drop ? n - drop : 0;
    }
}

static void now_iso(char out[40])
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(out, 40, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 40 - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

/* Writes one line after the tail `t` of `fd` (flock held by the caller) and moves `t` past it.
 * A write cut short (ENOSPC, EIO) is cut back off the file, so no torn line stays behind; -1
 * with errno then. */
static int write_line(int fd, tail *t, enum sessd_audit_event ev, const char *user,
                      const uint8_t *session_id, const char *client, const char *detail)
{
    char when[40], prev[HEX_HASH + 1], id[SESS_ID_STRLEN + 1];
    char f_user[6 * SESS_USER_MAX + 8], f_id[SESS_ID_STRLEN + 32], f_client[512];
    char f_detail[2048];
    now_iso(when);
    to_hex(t->hash, SESS_HASH_BYTES, prev);
    if (session_id != NULL)
        sess_id_to_hex(session_id, id);
    json_field(f_user, sizeof(f_user), user, SESS_USER_MAX);
    json_field(f_id, sizeof(f_id), session_id ? id : NULL, SESS_ID_STRLEN);
    json_field(f_client, sizeof(f_client), client, 80);
    json_field(f_detail, sizeof(f_detail), detail, DETAIL_MAX);
    char line[SESSD_AUDIT_LINE_MAX + 2];
    int n = snprintf(line, sizeof(line),
                     "{\"seq\":%" PRIu64 ",\"time\":\"%s\",\"event\":\"%s\",\"user\":%s,"
                     "\"session_id\":%s,\"client\":%s,\"detail\":%s,\"prev\":\"%s\"}\n",
                     t->seq + 1, when, event_names[ev], f_user, f_id, f_client, f_detail, prev);
    if (n < 0 || (size_t)n >= sizeof(line)) {
        errno = EOVERFLOW;
        return -1;
    }
    if (write_all(fd, line, (size_t)n) != 0) {
        int e = errno;
        /* When even this fails, the next append cuts the torn line (cut_tail). */
        if (ftruncate(fd, t->size) != 0)
            sessd_log(SESSD_LOG_WARN, "audit log %s: cannot cut a failed write: %s", audit.path,
                      strerror(errno));
        errno = e;
        return -1;
    }
    sess_hash(line, (size_t)n - 1, t->hash);
    t->seq++;
    t->start = t->size;
    t->size += n;
    return 0;
}

/* A torn tail is what a write cut short by a crash leaves: bytes after the last newline (a line
 * is written with its newline in one write, so a cut one never has it). Cuts it back to the
 * last whole line, syncs that, and writes an "audit_gap" line saying how many bytes went,
 * chained like any other line, so that verify passes and says so. What is no torn write is
 * never cut: a tail longer than any line, or (`at_open`, where the last line is parsed) a whole
 * last line that is not an audit line (another tool's file under a wrong [audit] path, or an
 * edit): -1 with EILSEQ. 0 when there was nothing to cut; `t` is the tail afterwards. */
static int cut_tail(int fd, tail *t, bool at_open)
{
    if (!t->needs_newline && (!at_open || t->audit_line))
        return 0;
    if (!t->needs_newline || !t->start_known || t->size - t->start > SESSD_AUDIT_LINE_MAX + 1) {
        errno = EILSEQ;
        return -1;
    }
    off_t cut = t->size - t->start;
    if (ftruncate(fd, t->start) != 0 || fdatasync(fd) != 0 || read_tail(fd, t) != 0)
        return -1;
    char detail[96];
    snprintf(detail, sizeof(detail), "torn tail of %lld bytes cut %s", (long long)cut,
             at_open ? "at start" : "before an append");
    sessd_log(SESSD_LOG_WARN, "audit log %s: a %s", audit.path, detail);
    return write_line(fd, t, SESSD_AUDIT_GAP, NULL, NULL, NULL, detail);
}

/* Appends one line to `fd` (audit.mu and flock held by the caller), after cutting a torn tail
 * and after the audit_gap line of the events lost before it. */
static int append_line(int fd, enum sessd_audit_event ev, const char *user,
                       const uint8_t *session_id, const char *client, const char *detail)
{
    tail t;
    if (read_tail(fd, &t) != 0 || cut_tail(fd, &t, false) != 0)
        return -1;
    if (audit.lost > 0) {
        char gap[160];
        snprintf(gap, sizeof(gap),
                 "%" PRIu64 " event%s lost from %s to %s: the audit log could not be written (%s)",
                 audit.lost, audit.lost == 1 ? "" : "s", audit.lost_from, audit.lost_to,
                 strerror(audit.lost_errno));
        if (write_line(fd, &t, SESSD_AUDIT_GAP, NULL, NULL, NULL, gap) != 0)
            return -1;
        sessd_log(SESSD_LOG_NOTICE, "audit log %s: writing again; %s", audit.path, gap);
        audit.lost = 0;
    }
    return write_line(fd, &t, ev, user, session_id, client, detail);
}

/* Counts an event that could not be written (audit.mu held), for the next audit_gap line. */
static void note_lost(int err)
{
    char when[40];
    now_iso(when);
    if (audit.lost++ == 0)
        memcpy(audit.lost_from, when, sizeof(when));
    memcpy(audit.lost_to, when, sizeof(when));
    audit.lost_errno = err;
}

/* Read access too: writers hash the last line. */
static int open_rw(const char *path)
{
    return open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
}

int sessd_audit_open(const char *path, char *err, size_t errlen)
{
    if (strlen(path) >= sizeof(audit.path)) {
        snprintf(err, errlen, "the audit log path is too long");
        return -1;
    }
    int fd = open_rw(path);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open the audit log %s: %s (check [audit] path)", path,
                 strerror(errno));
        return -1;
    }
    pthread_mutex_lock(&audit.mu);
    snprintf(audit.path, sizeof(audit.path), "%s", path);
    /* A crash in the middle of an append leaves a torn last line: cut it now, before anything
     * is appended after it (docs/operations.md). */
    tail t;
    int r = flock(fd, LOCK_EX);
    if (r == 0) {
        r = read_tail_checked(fd, &t, true) == 0 ? cut_tail(fd, &t, true) : -1;
        int e = errno;
        flock(fd, LOCK_UN);
        errno = e;
    }
    if (r != 0) {
        if (errno == EILSEQ)
            snprintf(err, errlen,
                     "the audit log %s does not end in an audit line, and not in a line cut "
                     "short either (nothing was changed); check [audit] path, and run "
                     "'sessiond audit verify'",
                     path);
        else
            snprintf(err, errlen, "cannot check the end of the audit log %s: %s", path,
                     strerror(errno));
        pthread_mutex_unlock(&audit.mu);
        close(fd);
        return -1;
    }
    if (audit.fd >= 0)
        close(audit.fd);
    audit.fd = fd;
    pthread_mutex_unlock(&audit.mu);
    return 0;
}

/* Logs where the chain of `fd` ends, so that the server's own log (journald, syslog) holds an
 * anchor that an attacker rewriting the whole file cannot change. */
static void log_head(int fd, const char *why)
{
    tail t;
    char hex[HEX_HASH + 1];
    if (flock(fd, LOCK_SH) != 0)
        return;
    int r = read_tail(fd, &t);
    flock(fd, LOCK_UN);
    if (r != 0)
        return;
    to_hex(t.hash, SESS_HASH_BYTES, hex);
    sessd_log(SESSD_LOG_NOTICE, "audit log %s: %s ends at seq %" PRIu64 ", hash %s", audit.path,
              why, t.seq, hex);
}

int sessd_audit_reopen(void)
{
    pthread_mutex_lock(&audit.mu);
    struct stat cur, now;
    int r = 0;
    if (audit.fd < 0 || (fstat(audit.fd, &cur) == 0 && stat(audit.path, &now) == 0 &&
                         cur.st_dev == now.st_dev && cur.st_ino == now.st_ino)) {
        pthread_mutex_unlock(&audit.mu);
        return 0;
    }
    int fd = open_rw(audit.path);
    tail old;
    if (fd < 0 || flock(audit.fd, LOCK_EX) != 0 || read_tail(audit.fd, &old) != 0) {
        sessd_log(SESSD_LOG_WARN, "audit log: cannot reopen %s: %s; still writing the old file",
                  audit.path, strerror(errno));
        if (fd >= 0)
            close(fd);
        flock(audit.fd, LOCK_UN);
        pthread_mutex_unlock(&audit.mu);
        return -1;
    }
    char prev[HEX_HASH + 1], detail[HEX_HASH + 64];
    to_hex(old.hash, SESS_HASH_BYTES, prev);
    snprintf(detail, sizeof(detail), "previous file ended at seq %" PRIu64, old.seq);
    (void)fsync(audit.fd);
    flock(audit.fd, LOCK_UN);
    log_head(audit.fd, "moved away (rotated), the old file");
    close(audit.fd);
    audit.fd = fd;
    /* A new file starts with the link to the old one; another process may have written first,
     * in which case its lines start a fresh chain (verify accepts either). */
    if (flock(fd, LOCK_EX) == 0) {
        struct stat st;
        if (fstat(fd, &st) == 0 && st.st_size == 0) {
            char line[SESSD_AUDIT_LINE_MAX];
            char when[40];
            now_iso(when);
            int n = snprintf(line, sizeof(line),
                             "{\"seq\":1,\"time\":\"%s\",\"event\":\"audit_continued\","
                             "\"user\":null,\"session_id\":null,\"client\":null,\"detail\":\"%s\","
                             "\"prev\":\"%s\"}\n",
                             when, detail, prev);
            r = write_all(fd, line, (size_t)n);
        }
        flock(fd, LOCK_UN);
    }
    pthread_mutex_unlock(&audit.mu);
    return r;
}

void sessd_audit_close(bool announce)
{
    pthread_mutex_lock(&audit.mu);
    if (audit.fd >= 0) {
        (void)fsync(audit.fd);
        if (announce)
            log_head(audit.fd, "closed, the file");
        close(audit.fd);
        audit.fd = -1;
    }
    pthread_mutex_unlock(&audit.mu);
}

void sessd_audit_on_failure(bool go_on)
{
    pthread_mutex_lock(&audit.mu);
    audit.go_on = go_on;
    pthread_mutex_unlock(&audit.mu);
}

/* Fdatasyncs the open log (a duplicate of its descriptor, so that a rotation may close the
 * original meanwhile: it fsyncs the old file itself first). 0, or -1 with errno. */
static int sync_file(void)
{
    pthread_mutex_lock(&audit.mu);
    int fd = audit.fd >= 0 ? fcntl(audit.fd, F_DUPFD_CLOEXEC, 0) : -2;
    pthread_mutex_unlock(&audit.mu);
    if (fd == -2)
        return 0; /* closed, and close fsyncs */
    if (fd < 0)
        return -1;
    int r = fdatasync(fd);
    int e = errno;
    close(fd);
    errno = e;
    return r;
}

/* Returns once line number `mine` of this process is on disk (see gc). 0, or -1 with errno. */
static int sync_upto(uint64_t mine)
{
    int r = 0;
    pthread_mutex_lock(&gc.mu);
    while (gc.synced < mine && r == 0) {
        if (gc.syncing) {
            pthread_cond_wait(&gc.cv, &gc.mu);
            continue;
        }
        uint64_t target = atomic_load(&gc.written);
        gc.syncing = true;
        pthread_mutex_unlock(&gc.mu);
        r = sync_file();
        int e = errno;
        pthread_mutex_lock(&gc.mu);
        gc.syncing = false;
        if (r == 0 && target > gc.synced)
            gc.synced = target;
        pthread_cond_broadcast(&gc.cv);
        errno = e;
    }
    pthread_mutex_unlock(&gc.mu);
    return r;
}

/* Appends one event: 0, or -1 when it could not be written (logged, counted, and remembered for
 * the next audit_gap line), with `*go_on` saying whether [audit] on_failure = continue and
 * `*mine` the line's number for sync_upto (0 when nothing was written). */
static int append_event(enum sessd_audit_event ev, const char *user, const uint8_t *session_id,
                        const char *client, const char *detail, bool *go_on, uint64_t *mine)
{
    *mine = 0;
    if (ev == SESSD_AUDIT_ROTATE)
        sessd_metrics_rotation();
    else if (ev == SESSD_AUDIT_LOCKOUT)
        sessd_metrics_lockout();
    pthread_mutex_lock(&audit.mu);
    *go_on = audit.go_on;
    if (audit.fd < 0) {
        pthread_mutex_unlock(&audit.mu);
        return 0;
    }
    int r = -1;
    if (flock(audit.fd, LOCK_EX) == 0) {
        r = append_line(audit.fd, ev, user, session_id, client, detail);
        int e = errno;
        flock(audit.fd, LOCK_UN);
        errno = e;
    }
    int e = errno;
    if (r != 0)
        note_lost(e);
    else
        *mine = atomic_fetch_add(&gc.written, 1) + 1;
    pthread_mutex_unlock(&audit.mu);
    if (r != 0) {
        sessd_metrics_audit_error();
        sessd_log(SESSD_LOG_WARN, "audit log: cannot append a %s event: %s", event_names[ev],
                  strerror(e));
    }
    return r;
}

void sessd_audit(enum sessd_audit_event ev, const char *user, const uint8_t *session_id,
                 const char *client, const char *detail)
{
    bool go_on;
    uint64_t mine;
    (void)append_event(ev, user, session_id, client, detail, &go_on, &mine);
}

/* Syncs up to line `mine`: 0, or SESS_EAUDIT when that failed under on_failure = refuse (the
 * line is in the file, but may not survive a power cut). */
static int sync_change(uint64_t mine, bool go_on)
{
    if (mine == 0 || sync_upto(mine) == 0)
        return 0;
    int e = errno;
    sessd_metrics_audit_error();
    sessd_log(SESSD_LOG_WARN, "audit log: cannot sync: %s", strerror(e));
    return go_on ? 0 : SESS_EAUDIT;
}

/* The events whose line is on disk before their answer: those that end access, and admin
 * commands. A login or a rotation is answered once its line reached the kernel. */
static bool synced_event(enum sessd_audit_event ev)
{
    return ev == SESSD_AUDIT_REVOKE || ev == SESSD_AUDIT_REVOKE_ALL ||
           ev == SESSD_AUDIT_REVOKE_FILTER || ev == SESSD_AUDIT_LOGOUT || ev == SESSD_AUDIT_ADMIN;
}

int sessd_audit_change(enum sessd_audit_event ev, const char *user, const uint8_t *session_id,
                       const char *client, const char *detail)
{
    bool go_on;
    uint64_t mine;
    if (append_event(ev, user, session_id, client, detail, &go_on, &mine) != 0)
        return go_on ? 0 : SESS_EAUDIT;
    return synced_event(ev) ? sync_change(mine, go_on) : 0;
}

int sessd_audit_change_nosync(enum sessd_audit_event ev, const char *user,
                              const uint8_t *session_id, const char *client, const char *detail)
{
    bool go_on;
    uint64_t mine;
    if (append_event(ev, user, session_id, client, detail, &go_on, &mine) != 0 && !go_on)
        return SESS_EAUDIT;
    return 0;
}

int sessd_audit_sync(void)
{
    pthread_mutex_lock(&audit.mu);
    bool go_on = audit.go_on;
    pthread_mutex_unlock(&audit.mu);
    return sync_change(atomic_load(&gc.written), go_on);
}

static const char *_Atomic actor = "cli";

void sessd_audit_set_actor(const char *a)
{
    atomic_store(&actor, a);
}

const char *sessd_audit_actor(void)
{
    return atomic_load(&actor);
}

int sessd_audit_admin(int argc, char **argv, int status)
{
    if (argc < 2 || strcmp(argv[1], "list") == 0)
        return 0;
    char detail[DETAIL_MAX + 1];
    size_t n = 0;
    for (int i = 0; i < argc && n < sizeof(detail); i++) {
        if (argv[i][0] == '\x1b') /* an internal word: the password of user add/passwd */
            continue;
        int w = snprintf(detail + n, sizeof(detail) - n, "%s%s", n ? " " : "", argv[i]);
        n = w < 0 ? sizeof(detail) : n + (size_t)w;
    }
    char tail_text[48];
    snprintf(tail_text, sizeof(tail_text), " -> exit %d", status);
    if (n + strlen(tail_text) < sizeof(detail))
        memcpy(detail + n, tail_text, strlen(tail_text) + 1);
    /* The target user of `user ...` commands, for searching the log by user. */
    const char *user = strcmp(argv[0], "user") == 0 && argc > 2 ? argv[2] : NULL;
    return sessd_audit_change(SESSD_AUDIT_ADMIN, user, NULL, sessd_audit_actor(), detail);
}

/* ---- verify ------------------------------------------------------------------------------ */

typedef struct chain {
    const char *file;
    uint64_t line;
    uint8_t last[SESS_HASH_BYTES]; /* hash of the last line read */
    bool has_prev_file;
    uint8_t prev_file_last[SESS_HASH_BYTES];
    uint64_t gaps; /* audit_gap lines in this file */
    FILE *out, *err;
} chain;

static int broken(chain *c, uint64_t line, const char *why)
{
    fprintf(c->err, "sessiond: %s:%" PRIu64 ": the audit chain is broken: %s\n", c->file, line,
            why);
    return 1;
}

/* Checks line number c->line (1-based), `len` bytes without the newline. */
static int check_line(chain *c, const char *text, size_t len)
{
    json_error_t jerr;
    json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    json_t *seq = json_object_get(o, "seq"), *prev = json_object_get(o, "prev");
    const char *ev = json_string_value(json_object_get(o, "event"));
    const char *ph = json_string_value(prev);
    char want[HEX_HASH + 1], why[160];
    int r = 0;
    if (!json_is_object(o) || !json_is_integer(seq) || ph == NULL || strlen(ph) != HEX_HASH) {
        r = broken(c, c->line, "not an audit line (edited, or a torn write)");
    } else if ((uint64_t)json_integer_value(seq) != c->line) {
        snprintf(why, sizeof(why), "its seq is %" JSON_INTEGER_FORMAT ", expected %" PRIu64 " (%s)",
                 json_integer_value(seq), c->line,
                 (uint64_t)json_integer_value(seq) > c->line ? "lines before it were deleted"
                                                             : "lines were inserted or edited");
        r = broken(c, c->line, why);
    } else if (c->line == 1) {
        static const uint8_t zero[SESS_HASH_BYTES];
        bool continued = ev != NULL && strcmp(ev, "audit_continued") == 0;
        to_hex(c->has_prev_file ? c->prev_file_last : zero, SESS_HASH_BYTES, want);
        if ((continued && c->has_prev_file && strcmp(ph, want) != 0) ||
            (!continued && strcmp(ph, want) != 0 && !c->has_prev_file))
            r = broken(c, 1, "the first line does not start a chain");
        else if (!continued && c->has_prev_file)
            r = broken(c, 1, "the file does not continue the previous one");
    } else {
        to_hex(c->last, SESS_HASH_BYTES, want);
        if (strcmp(ph, want) != 0) {
            snprintf(why, sizeof(why),
                     "line %" PRIu64 " was changed (line %" PRIu64 " recorded another hash for it)",
                     c->line - 1, c->line);
            r = broken(c, c->line - 1, why);
        }
    }
    /* A gap is part of the chain (so the chain passes) but the reader must hear of it. */
    if (r == 0 && ev != NULL && strcmp(ev, "audit_gap") == 0) {
        c->gaps++;
        const char *d = json_string_value(json_object_get(o, "detail"));
        fprintf(c->out, "%s:%" PRIu64 ": note: audit_gap: %s\n", c->file, c->line,
                d ? d : "(no detail)");
    }
    json_decref(o);
    sess_hash(text, len, c->last);
    return r;
}

static int verify_file(chain *c)
{
    FILE *f = fopen(c->file, "re");
    if (f == NULL) {
        fprintf(c->err, "sessiond: cannot read the audit log %s: %s\n", c->file, strerror(errno));
        return 1;
    }
    char *buf = NULL;
    size_t cap = 0;
    ssize_t n;
    int r = 0;
    c->line = 0;
    c->gaps = 0;
    while (r == 0 && (n = getline(&buf, &cap, f)) > 0) {
        c->line++;
        if (buf[n - 1] != '\n')
            r = broken(c, c->line,
                       "the last line has no newline (a torn write; the server's next start, or "
                       "the next admin command, cuts it and writes an audit_gap line)");
        else if ((size_t)n > SESSD_AUDIT_LINE_MAX + 1)
            r = broken(c, c->line, "the line is longer than any audit line");
        else
            r = check_line(c, buf, (size_t)n - 1);
    }
    if (r == 0 && ferror(f)) {
        fprintf(c->err, "sessiond: cannot read the audit log %s: %s\n", c->file, strerror(errno));
        r = 1;
    }
    free(buf);
    fclose(f);
    return r;
}

int sessd_audit_verify(const char *const *files, int n, FILE *out, FILE *err)
{
    chain c = {.out = out, .err = err};
    for (int i = 0; i < n; i++) {
        c.file = files[i];
        if (verify_file(&c) != 0)
            return 1;
        char hex[HEX_HASH + 1];
        to_hex(c.last, SESS_HASH_BYTES, hex);
        if (c.line == 0)
            fprintf(out, "%s: empty\n", c.file);
        else
            fprintf(out, "%s: intact, %" PRIu64 " lines, last hash %s%s\n", c.file, c.line, hex,
                    c.gaps ? " (with the gaps noted above)" : "");
        /* An empty file passes the link through unchanged. */
        if (c.line > 0 || !c.has_prev_file)
            memcpy(c.prev_file_last, c.last, SESS_HASH_BYTES);
        c.has_prev_file = true;
    }
    return 0;
}
