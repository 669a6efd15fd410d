/*
 * fuzz.h - what every libFuzzer target here shares: a property check that aborts (and so makes
 * libFuzzer save the input as a crash) with a message naming the broken property.
 */
#ifndef SESSIOND_FUZZ_H
#define SESSIOND_FUZZ_H

#include <stdio.h>
#include <stdlib.h>

#define FUZZ_REQUIRE(cond)                                                                         \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: property broken: %s\n", __FILE__, __LINE__, #cond);            \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#endif
