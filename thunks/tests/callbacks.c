/*
 * Callbacks through libcbtest's drop-in (see cbtest.h), for the thunks:
 * deep nesting (a callback that calls the library, 50 levels down),
 * both symbol versions of cbtest_version, and a callback from a thread
 * of the library's own: the guest function must not run, the library
 * gets 0 and nothing crashes (check.sh checks the message on stderr).
 *
 * The exit status is the verdict.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>

#include "cbtest.h"

static int calls;

static int count(void *ctx, int value)
{
    calls++;
    return value + *(int *)ctx;
}

static int nest(void *ctx, int value)
{
    int *depth = ctx;

    if (--*depth > 0) {
        return 1 + cbtest_call(nest, ctx, 1);
    }
    return 1;
}

int main(void)
{
    int one = 1, depth = 50;
    int (*old)(void);

    if (cbtest_call(count, &one, 100) != 100 * 99 / 2 + 100 || calls != 100) {
        fprintf(stderr, "callbacks: cbtest_call gave a wrong sum\n");
        return 1;
    }
    if (cbtest_call(nest, &depth, 1) != 50 || depth != 0) {
        fprintf(stderr, "callbacks: nesting 50 deep failed\n");
        return 1;
    }
    old = (int (*)(void))dlvsym(RTLD_DEFAULT, "cbtest_version", "CBTEST_1.0");
    if (cbtest_version() != 2 || !old || old() != 1) {
        fprintf(stderr, "callbacks: the two versions of cbtest_version "
                "are mixed up\n");
        return 1;
    }
    calls = 0;
    if (cbtest_call_thread(count, &one) != 0 || calls != 0) {
        fprintf(stderr, "callbacks: a callback ran on a thread that is not "
                "a guest thread\n");
        return 1;
    }
    printf("callbacks: ok\n");
    return 0;
}
