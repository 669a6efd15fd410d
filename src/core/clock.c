/*
 * clock.c - wall-clock seconds that never go back (clock.h).
 *
 * One number carries the state: the largest (wall - monotonic) offset seen, in milliseconds. A
 * reading adds it to the monotonic clock; a wall clock ahead of that raises it (compare and
 * swap, so concurrent readers agree). Stepping the wall clock back lowers (wall - monotonic) but
 * never the kept offset, so time keeps running at the monotonic pace from the highest point it
 * reached. NTP's slewing moves the offset by parts per million: at worst the clock runs that
 * much ahead after a slow correction back.
 */
#include "core/clock.h"
#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* A recorded time past this (the year 36812) is no time: it would overflow in milliseconds. */
#define FLOOR_MAX_S ((int64_t)1 << 40)

static _Atomic int64_t best_offset_ms = INT64_MIN;
static char clock_path[4096]; /* DATA/clock; "" before init */

/* Maintenance thread only. */
static int64_t last_tick_offset_ms;
static bool ticked;
static int64_t last_saved_s;

static int64_t ms_of(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void raise_offset(int64_t off)
{
    int64_t cur = atomic_load_explicit(&best_offset_ms, memory_order_relaxed);
    while (off > cur &&
           !atomic_compare_exchange_weak_explicit(&best_offset_ms, &cur, off, memory_order_relaxed,
                                                  memory_order_relaxed)) {
    }
}

int64_t sessd_clock_observe(int64_t wall_ms, int64_t mono_ms)
{
    raise_offset(wall_ms - mono_ms);
    return (mono_ms + atomic_load_explicit(&best_offset_ms, memory_order_relaxed)) / 1000;
}

int64_t sessd_now(void)
{
    return sessd_clock_observe(ms_of(CLOCK_REALTIME), ms_of(CLOCK_MONOTONIC));
}

void sessd_clock_init(const char *data_dir, char *warn, size_t cap)
{
    warn[0] = '\0';
    /* The first tick compares with the clock as it is now, so a step before it is seen too. */
    last_tick_offset_ms = ms_of(CLOCK_REALTIME) - ms_of(CLOCK_MONOTONIC);
    ticked = true;
    int n = snprintf(clock_path, sizeof(clock_path), "%s/clock", data_dir);
    if (n < 0 || (size_t)n >= sizeof(clock_path)) {
        clock_path[0] = '\0';
        snprintf(warn, cap, "the data directory's path is too long for its clock file");
        return;
    }
    FILE *f = fopen(clock_path, "re");
    if (f == NULL) {
        if (errno != ENOENT)
            snprintf(warn, cap, "%s: %s; no floor for the clock", clock_path, strerror(errno));
        return;
    }
    int64_t floor_s = 0, wall_s = ms_of(CLOCK_REALTIME) / 1000;
    if (fscanf(f, "%" SCNd64, &floor_s) != 1 || floor_s <= 0 || floor_s > FLOOR_MAX_S) {
        snprintf(warn, cap, "%s: not a time; no floor for the clock", clock_path);
        floor_s = 0;
    } else {
        raise_offset(floor_s * 1000 - ms_of(CLOCK_MONOTONIC));
        if (floor_s - wall_s > 86400)
            snprintf(warn, cap,
                     "%s: the time this data directory reached is %" PRId64
                     " s ahead of the wall clock; deadlines run from it. If the wall clock is "
                     "right (the other was a mistaken step), stop sessiond, delete that file "
                     "and start again (docs/operations.md)",
                     clock_path, floor_s - wall_s);
    }
    fclose(f);
    last_saved_s = floor_s;
}

int sessd_clock_save(void)
{
    char tmp[sizeof(clock_path) + 8], text[32];
    if (clock_path[0] == '\0')
        return 0;
    int64_t now = sessd_now();
    int len = snprintf(text, sizeof(text), "%" PRId64 "\n", now);
    snprintf(tmp, sizeof(tmp), "%s.tmp", clock_path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    bool ok = write(fd, text, (size_t)len) == len && fdatasync(fd) == 0;
    int saved = errno;
    if (close(fd) != 0 && ok) {
        ok = false;
        saved = errno;
    }
    if (!ok || rename(tmp, clock_path) != 0) {
        saved = ok ? errno : saved;
        unlink(tmp);
        errno = saved;
        return -1;
    }
    last_saved_s = now;
    return 0;
}

bool sessd_clock_tick(int64_t warn_after_s, int64_t *step_s)
{
    int64_t wall = ms_of(CLOCK_REALTIME), mono = ms_of(CLOCK_MONOTONIC);
    int64_t off = wall - mono, now = sessd_clock_observe(wall, mono);
    bool stepped = false;
    if (ticked) {
        int64_t d = off - last_tick_offset_ms;
        if (d > warn_after_s * 1000 || d <= -1000) {
            *step_s = (d + (d < 0 ? -500 : 500)) / 1000; /* rounded: readings jitter by ms */
            stepped = true;
        }
    }
    last_tick_offset_ms = off;
    ticked = true;
    if (now != last_saved_s) {
        /* A failure leaves the last value, an older floor: said once until it works again. */
        static bool failing;
        bool failed = sessd_clock_save() != 0;
        if (failed && !failing)
            sessd_log(SESSD_LOG_WARN,
                      "cannot record the clock in %s: %s; a restart after a step "
                      "back may move deadlines back to the last recorded time",
                      clock_path, strerror(errno));
        failing = failed;
    }
    return stepped;
}
