/*
 * A chatty library workload for the benchmarks: the CRC-32 of a buffer,
 * fed to zlib's crc32() 64 bytes at a time, one library call per piece.
 * Built for each guest (with the guest's own zlib) and for the host.
 *
 * usage: crc32 own|dlcall MIB [LIBRARY]
 *   own     call crc32() of the zlib linked in
 *   dlcall  call the host's crc32() through bench_crc32() in the host
 *           LIBRARY (bench/crc32-host.c), one INVOKE_PROC per piece
 *
 * Prints the CRC, which must not depend on the mode, and the time taken
 * by the calls in ms.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "dlcall.h"
#include "crc32-abi.h"

#define PIECE 64

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 2 ? argv[1] : "";
    long mib = argc > 2 ? atol(argv[2]) : 0;
    size_t size = (size_t)mib << 20, i;
    struct bench_crc32 state = { .len = PIECE };
    void *lib = NULL, *fn = NULL;
    unsigned char *buf;
    uint32_t x = 2463534242u;
    unsigned long crc;
    double t0, t1;

    if (mib <= 0 || (strcmp(mode, "own") && strcmp(mode, "dlcall"))) {
        fprintf(stderr, "usage: crc32 own|dlcall MIB [LIBRARY]\n");
        return 2;
    }
    if (!strcmp(mode, "dlcall") &&
        (argc < 4 || dlcall_load_library(argv[3], RTLD_NOW, &lib) || !lib ||
         dlcall_get_proc_address(lib, "bench_crc32", &fn) || !fn)) {
        fprintf(stderr, "crc32: no dlcall, or no bench_crc32 in %s\n",
                argc > 3 ? argv[3] : "(no library given)");
        return 1;
    }
    buf = malloc(size);
    if (!buf) {
        perror("malloc");
        return 1;
    }
    /* Reproducible bytes, the same in every mode. */
    for (i = 0; i < size; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        buf[i] = x;
    }

    crc = crc32(0, Z_NULL, 0);
    t0 = now_ms();
    if (fn) {
        state.crc = crc;
        for (i = 0; i < size; i += PIECE) {
            dlcall_invoke_proc(fn, &state, buf + i);
        }
        crc = state.crc;
    } else {
        for (i = 0; i < size; i += PIECE) {
            crc = crc32(crc, buf + i, PIECE);
        }
    }
    t1 = now_ms();

    printf("crc %08lx total %.1f ms\n", crc, t1 - t0);
    free(buf);
    return 0;
}
