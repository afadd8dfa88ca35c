/*
 * The cost of the thunks, in ns: a guest program for bench/thunks.sh,
 * linked dynamically with zlib and libcbtest (thunks/tests/cbtest.h),
 * run with their drop-ins.
 *
 * usage: thunkcost MODE COUNT [LIBRARY]
 *   version   COUNT calls of zlibVersion(), a function that does nothing
 *   crc       COUNT calls of crc32() of one byte: a call that passes a
 *             pointer, which the drop-in runs on a coroutine
 *   callback  one call of cbtest_call() that calls back COUNT times
 *   invoke    COUNT raw INVOKE_PROCs of bench_nop() in the host LIBRARY
 *             (bench/nop.c), for comparison in the same program
 *
 * Prints the mean ns per call or per callback.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "cbtest.h"
#include "dlcall.h"

static int nothing(void *ctx, int value)
{
    return 0;
}

static double now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 2 ? argv[1] : "";
    long count = argc > 2 ? atol(argv[2]) : 0;
    const char *volatile version;
    void *lib = NULL, *fn = NULL;
    double t0, t1;

    if (count <= 0) {
        fprintf(stderr, "usage: thunkcost version|crc|callback|invoke COUNT "
                "[LIBRARY]\n");
        return 2;
    }
    if (!strcmp(mode, "invoke")) {
        if (argc < 4 || dlcall_load_library(argv[3], RTLD_NOW, &lib) || !lib ||
            dlcall_get_proc_address(lib, "bench_nop", &fn) || !fn) {
            fprintf(stderr, "thunkcost: no dlcall, or no bench_nop in %s\n",
                    argc > 3 ? argv[3] : "(no library given)");
            return 1;
        }
        t0 = now_ns();
        for (long i = 0; i < count; i++) {
            dlcall_invoke_proc(fn, NULL, NULL);
        }
        t1 = now_ns();
    } else if (!strcmp(mode, "version")) {
        t0 = now_ns();
        for (long i = 0; i < count; i++) {
            version = zlibVersion();
        }
        t1 = now_ns();
        (void)version;
    } else if (!strcmp(mode, "crc")) {
        static const unsigned char byte[1] = { 42 };
        volatile uLong crc = 0;

        t0 = now_ns();
        for (long i = 0; i < count; i++) {
            crc = crc32(crc, byte, 1);
        }
        t1 = now_ns();
    } else if (!strcmp(mode, "callback")) {
        cbtest_call(nothing, NULL, 1);      /* makes the closure */
        t0 = now_ns();
        cbtest_call(nothing, NULL, count);
        t1 = now_ns();
    } else {
        fprintf(stderr, "thunkcost: unknown mode %s\n", mode);
        return 2;
    }
    printf("%.1f\n", (t1 - t0) / count);
    return 0;
}
