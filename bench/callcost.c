/*
 * The cost of one call, in ns: a guest program for the benchmarks,
 * also built for the host.
 *
 * usage: callcost MODE COUNT [LIBRARY]
 *   invoke   dlcall INVOKE_PROC of bench_nop() in the host LIBRARY
 *   enosys   a system call no one implements (dlcall's default number)
 *   getppid  the getppid system call
 *   filtered the made-up call that QEMU's test filter plugins answer
 *            (tests/tcg/plugins/syscall-filter*.c: 4056, first argument 7)
 *   call     a plain function call through a pointer
 * and dlcall's management operations:
 *   attribute  GET_HOST_ATTRIBUTE("emu"), the key in .rodata
 *   proc       GET_PROC_ADDRESS of bench_nop in LIBRARY, the name in .rodata
 *   error      GET_LIBRARY_ERROR, with no error pending
 *   loadfree   LOAD_LIBRARY of LIBRARY, already loaded, and FREE_LIBRARY
 *
 * All system calls go through dlcall.h's stub, so the modes differ
 * only in what answers the call; results go to the stack.  Prints the
 * mean ns per call (per pair of calls for loadfree).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>

#include "dlcall.h"

static void __attribute__((noinline)) nop(void *a, void *b)
{
    __asm__ volatile("" ::: "memory");
}

static void (*volatile nop_ptr)(void *, void *) = nop;

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
    void *lib = NULL, *fn = NULL;
    double t0, t1;

    if (count <= 0) {
        fprintf(stderr, "usage: callcost invoke|enosys|getppid|call|"
                "attribute|proc|error|loadfree COUNT [LIBRARY]\n");
        return 2;
    }
    if (!strcmp(mode, "invoke") || !strcmp(mode, "proc") ||
        !strcmp(mode, "loadfree")) {
        if (argc < 4 || dlcall_load_library(argv[3], RTLD_NOW, &lib) || !lib ||
            dlcall_get_proc_address(lib, "bench_nop", &fn) || !fn) {
            fprintf(stderr, "callcost: no dlcall, or no bench_nop in %s\n",
                    argc > 3 ? argv[3] : "(no library given)");
            return 1;
        }
    }

    t0 = now_ns();
    if (!strcmp(mode, "invoke")) {
        for (long i = 0; i < count; i++) {
            dlcall_invoke_proc(fn, NULL, NULL);
        }
    } else if (!strcmp(mode, "enosys")) {
        for (long i = 0; i < count; i++) {
            dlcall_syscall(DLCALL_DEFAULT_SYSCALL, 0, 0, 0, 0);
        }
    } else if (!strcmp(mode, "getppid")) {
        for (long i = 0; i < count; i++) {
            dlcall_syscall(SYS_getppid, 0, 0, 0, 0);
        }
    } else if (!strcmp(mode, "filtered")) {
        for (long i = 0; i < count; i++) {
            dlcall_syscall(4056, 7, 0, 0, 0);
        }
    } else if (!strcmp(mode, "call")) {
        for (long i = 0; i < count; i++) {
            nop_ptr(NULL, NULL);
        }
    } else if (!strcmp(mode, "attribute")) {
        for (long i = 0; i < count; i++) {
            const char *value;

            dlcall_get_host_attribute("emu", &value);
        }
    } else if (!strcmp(mode, "proc")) {
        for (long i = 0; i < count; i++) {
            dlcall_get_proc_address(lib, "bench_nop", &fn);
        }
    } else if (!strcmp(mode, "error")) {
        for (long i = 0; i < count; i++) {
            const char *error;

            dlcall_get_library_error(&error);
        }
    } else if (!strcmp(mode, "loadfree")) {
        for (long i = 0; i < count; i++) {
            void *handle;
            int ret;

            dlcall_load_library(argv[3], RTLD_NOW, &handle);
            dlcall_free_library(handle, &ret);
        }
    } else {
        fprintf(stderr, "callcost: unknown mode %s\n", mode);
        return 2;
    }
    t1 = now_ns();

    printf("%.1f\n", (t1 - t0) / count);
    return 0;
}
