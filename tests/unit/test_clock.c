/* test_clock.c - core/clock.c: wall-clock seconds that never go back, from given readings. */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"

#define W0 1700000000000LL /* a wall reading, ms */

static void steps_forward_count_steps_back_do_not(void **state)
{
    (void)state;
    /* Readings as (wall, monotonic) in ms; the monotonic clock starts at 1,000 s. */
    assert_int_equal(sessd_clock_observe(W0, 1000000), W0 / 1000);
    assert_int_equal(sessd_clock_observe(W0 + 5000, 1005000), W0 / 1000 + 5);
    /* The wall clock goes back an hour: time runs on at the monotonic pace. */
    assert_int_equal(sessd_clock_observe(W0 + 6000 - 3600000, 1006000), W0 / 1000 + 6);
    assert_int_equal(sessd_clock_observe(W0 + 10000 - 3600000, 1010000), W0 / 1000 + 10);
    /* Forward 90 s: time jumps with it. */
    assert_int_equal(sessd_clock_observe(W0 + 101000, 1011000), W0 / 1000 + 101);
    /* Back to the true time: it does not come back down. */
    assert_int_equal(sessd_clock_observe(W0 + 12000, 1012000), W0 / 1000 + 102);
    /* Never less than an earlier answer, whatever the readings. */
    int64_t last = 0;
    for (int i = 0; i < 1000; i++) {
        int64_t mono = 1013000 + i * 10, wall = W0 + (rand() % 200000) - 100000;
        int64_t now = sessd_clock_observe(wall, mono);
        assert_true(now >= last);
        last = now;
    }
}

static void the_recorded_time_is_a_floor(void **state)
{
    (void)state;
    char dir[] = "/tmp/sessiond-clock-XXXXXX", path[64], warn[256];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/clock", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("4000000000\n", f); /* far ahead of any real clock */
    fclose(f);
    sessd_clock_init(dir, warn, sizeof(warn));
    /* Used, and said: that far ahead, it may be a mistaken step the operator should undo. */
    assert_non_null(strstr(warn, "ahead of the wall clock"));
    assert_true(sessd_now() >= 4000000000LL);
    assert_int_equal(sessd_clock_save(), 0);
    f = fopen(path, "r");
    long long saved = 0;
    assert_int_equal(fscanf(f, "%lld", &saved), 1);
    fclose(f);
    assert_true(saved >= 4000000000LL);
    /* A file that is not a time, or one past any real time, is said, and is no floor. */
    const char *bad[] = {"soon\n", "99999999999999999\n", "-5\n"};
    for (size_t i = 0; i < 3; i++) {
        f = fopen(path, "w");
        fputs(bad[i], f);
        fclose(f);
        sessd_clock_init(dir, warn, sizeof(warn));
        assert_non_null(strstr(warn, "not a time"));
    }
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(steps_forward_count_steps_back_do_not),
        cmocka_unit_test(the_recorded_time_is_a_floor),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
