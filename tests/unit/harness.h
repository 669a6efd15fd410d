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

#endif
