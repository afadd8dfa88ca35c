/*
 * What the dlcall tests share: check(), which reports a condition that
 * does not hold and counts it in failures, so that one run shows every
 * failure; main() returns non-zero when failures is not 0.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef DLCALL_TESTS_H
#define DLCALL_TESTS_H

#include <stdio.h>

static int failures;

#define check(cond) do {                                        \
        if (!(cond)) {                                          \
            fprintf(stderr, "%s:%d: FAIL: %s\n",                \
                    __FILE__, __LINE__, #cond);                 \
            failures++;                                         \
        }                                                       \
    } while (0)

#endif
