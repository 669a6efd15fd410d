/*
 * harness.h - what every cmocka unit test includes. cmocka needs these system headers first.
 */
#ifndef SESSIOND_TEST_HARNESS_H
#define SESSIOND_TEST_HARNESS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>

/* Joins every one of `n` threads before the caller asserts anything about their results. A check
 * that fails while other threads still run ends the test at once, and its teardown then closes
 * the store under those threads: use after free and heap corruption instead of a clear failure. */
static inline void join_all(pthread_t *th, size_t n)
{
    size_t bad = 0;
    for (size_t i = 0; i < n; i++)
        bad += pthread_join(th[i], NULL) != 0;
    assert_int_equal(bad, 0);
}

#endif
