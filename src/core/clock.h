/*
 * clock.h - the time every deadline is judged by: wall-clock seconds that never go back.
 *
 * sessd_now() is the monotonic clock plus the largest offset to the wall clock seen so far (and
 * at least the time this data directory last recorded): a forward step of the wall clock moves
 * it forward (a session may then expire early, which is safe); a backward step does not move it
 * back, so no session outlives its deadlines by the step and no expiry once observed is undone.
 * It runs on at the monotonic clock's pace until the wall clock catches up. See
 * docs/operations.md ("Clock steps").
 */
#ifndef SESSIOND_CORE_CLOCK_H
#define SESSIOND_CORE_CLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Reads DATA/clock, the highest time this data directory recorded, as a floor (a missing file
 * is no floor; an unreadable one is said in `warn`). Call once at start, before sessd_now. */
void sessd_clock_init(const char *data_dir, char *warn, size_t cap);

/* Seconds since the epoch, never less than any earlier answer in this process or the recorded
 * floor. Thread-safe and cheap (two vDSO clock reads and an atomic). */
int64_t sessd_now(void);

/* The same, from a given wall and monotonic reading in milliseconds (for tests). */
int64_t sessd_clock_observe(int64_t wall_ms, int64_t mono_ms);

/* Once a second from the maintenance thread: records sessd_now() in DATA/clock (written to a
 * temporary file, synced and renamed, so a crash leaves the old or the new value), and reports
 * a step of the wall clock since the last tick larger than `warn_after_s` seconds (forward) or
 * any step back of a second or more: the size into `*step_s` (negative: back), true when one
 * happened. */
bool sessd_clock_tick(int64_t warn_after_s, int64_t *step_s);

/* Records sessd_now() in DATA/clock at once (at shutdown). 0, or -1 with errno. */
int sessd_clock_save(void);

#endif
