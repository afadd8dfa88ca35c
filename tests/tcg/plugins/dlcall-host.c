/*
 * A host library for the dlcall tests (tests/tcg/multiarch/dlcall-*.c)
 *
 * Not a plugin: guests load it through the dlcall plugin.  It gives
 * them host memory to write to, a function whose name is longer than
 * two pages, and, built with FORK_IN_CONSTRUCTOR, a constructor that
 * forks as some real libraries do.  For dlcall-signals.c it takes
 * faults and signals in host code, and starts a thread of its own.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dlcall-host.h"

/* Host memory a guest may write. */
char dlcall_host_buffer[4096];

#define X10 "xxxxxxxxxx"
#define X100 X10 X10 X10 X10 X10 X10 X10 X10 X10 X10
#define X1000 X100 X100 X100 X100 X100 X100 X100 X100 X100 X100
#define X10000 X1000 X1000 X1000 X1000 X1000 X1000 X1000 X1000 X1000 X1000

/* void dlcall_long_xxx...(int *result, void *unused), 10012 characters */
void dlcall_long(int *result, void *unused) __asm__("dlcall_long_" X10000);

void dlcall_long(int *result, void *unused)
{
    *result = 42;
}

#ifdef FORK_IN_CONSTRUCTOR
static void __attribute__((constructor)) fork_a_child(void)
{
    pid_t pid = fork();

    if (pid == 0) {
        _exit(0);
    }
    if (pid > 0) {
        waitpid(pid, NULL, 0);
    }
}
#endif

/*
 * Faults and signals in host code (dlcall-signals.c): dlcall passes them
 * to this function, in the signal handler (see contrib/plugins/dlcall.c).
 */
/* Volatile: dlcall_host_signal() reads and writes them in the handler. */
static __thread char *volatile fix_page;  /* volatile: see above */
static __thread volatile int fix_fd = -1, fix_signo; /* volatile: above */
static __thread volatile sig_atomic_t waiting, interrupted;

#define FAULT_AT 100
/* What dlcall_host_fault() maps: at least a page on any host. */
#define AREA (64 * 1024)

int dlcall_host_signal(int signo, siginfo_t *info, void *context)
{
    if (fix_page && info->si_addr == fix_page + FAULT_AT && !fix_signo) {
        /* Mend the fault; the read then runs again and sees '*'. */
        fix_signo = signo;
        if (signo == SIGBUS) {
            return !ftruncate(fix_fd, AREA) &&
                   pwrite(fix_fd, "*", 1, FAULT_AT) == 1;
        }
        if (signo == SIGSEGV) {
            if (mprotect(fix_page, AREA, PROT_READ | PROT_WRITE)) {
                return 0;
            }
            fix_page[FAULT_AT] = '*';
            return 1;
        }
        return 0;
    }
    if (waiting && (info->si_code <= 0 || (signo != SIGSEGV &&
                    signo != SIGBUS && signo != SIGILL && signo != SIGFPE &&
                    signo != SIGTRAP))) {
        interrupted = 1;            /* not a fault: a signal for the guest */
    }
    return 0;
}

/*
 * Read a byte of a page that faults: with SIGSEGV (no access) or SIGBUS
 * (a file mapping past the end of its file).  *result is the byte read
 * (dlcall_host_signal() makes it '*'), times 256, plus the signal.
 */
void dlcall_host_fault(int32_t *result, void *bus)
{
    char path[] = "/tmp/dlcall-host-XXXXXX";
    volatile char *p;           /* volatile: the read must fault */

    fix_signo = 0;
    fix_fd = -1;
    if (bus) {
        fix_fd = mkstemp(path);
        unlink(path);
        p = mmap(NULL, AREA, PROT_READ, MAP_SHARED, fix_fd, 0);
    } else {
        p = mmap(NULL, AREA, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    }
    if (p == MAP_FAILED) {
        *result = -1;
        return;
    }
    fix_page = (char *)p;
    *result = p[FAULT_AT] * 256 + fix_signo;
    fix_page = NULL;
    munmap((void *)p, AREA);
    if (fix_fd >= 0) {
        close(fix_fd);
    }
}

/*
 * Run for up to ten seconds, unless a signal arrives meanwhile:
 * *result is 1 if one did.
 */
void dlcall_host_wait(int32_t *result, void *unused)
{
    struct timespec start, now, ms = { 0, 1000000 };

    interrupted = 0;
    waiting = 1;
    clock_gettime(CLOCK_MONOTONIC, &start);
    do {
        nanosleep(&ms, NULL);
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while (!interrupted && now.tv_sec - start.tv_sec < 10);
    waiting = 0;
    *result = interrupted;
}

/* A thread of the library's own, which blocks no signal. */
static pid_t own_thread;

static void *unblocked(void *arg)
{
    sigset_t none;

    sigemptyset(&none);
    pthread_sigmask(SIG_SETMASK, &none, NULL);
    __atomic_store_n(&own_thread, gettid(), __ATOMIC_RELEASE);
    for (;;) {
        pause();
    }
    return NULL;
}

/* Start it: *result is 0 once it runs. */
void dlcall_host_start_thread(int32_t *result, void *unused)
{
    pthread_t thread;

    *result = pthread_create(&thread, NULL, unblocked, NULL);
    while (!*result && !__atomic_load_n(&own_thread, __ATOMIC_ACQUIRE)) {
        sched_yield();
    }
}

/*
 * With every signal blocked on this thread, write a byte to fds[1] and
 * wait (ten seconds at most) for one on fds[0]: meanwhile, signals for
 * the process can only reach the library's own thread.
 */
void dlcall_host_blocked_wait(int32_t *fds, void *unused)
{
    struct pollfd in = { fds[0], POLLIN, 0 };
    sigset_t all, old;
    char byte = 0;

    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    if (write(fds[1], &byte, 1) == 1 && poll(&in, 1, 10000) == 1 &&
        read(fds[0], &byte, 1) == 1) {
        fds[0] = 0;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* Does the library's own thread block every signal now?  *result is 1. */
void dlcall_host_thread_blocks(int32_t *result, void *unused)
{
    char path[64], line[256];
    FILE *f;

    *result = -1;
    snprintf(path, sizeof(path), "/proc/self/task/%d/status", own_thread);
    f = fopen(path, "r");
    while (f && fgets(line, sizeof(line), f)) {
        unsigned long long blocked;

        if (sscanf(line, "SigBlk: %llx", &blocked) == 1) {
            /* All but SIGKILL, SIGSTOP, SIGSEGV and SIGBUS, at least. */
            *result = (blocked | (1ull << (SIGKILL - 1)) |
                       (1ull << (SIGSTOP - 1)) | (1ull << (SIGSEGV - 1)) |
                       (1ull << (SIGBUS - 1))) == ~0ull;
        }
    }
    if (f) {
        fclose(f);
    }
}
