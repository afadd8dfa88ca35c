/*
 * dlcall and signals: faults and signals in host code that INVOKE_PROC
 * runs, and threads of a host library (contrib/plugins/dlcall.c)
 *
 * - A host function faults (SIGSEGV on a page it cannot access, SIGBUS
 *   past the end of a file mapping); the library's dlcall_host_signal()
 *   mends the cause and the read runs again: the guest sees the byte.
 *   Without that path QEMU dies of an internal SIGSEGV or SIGBUS.
 * - A host function runs for ten seconds unless a signal arrives: the
 *   guest's SIGALRM arrives after 100 ms, the library hears of it and
 *   returns at once, and the guest's handler runs.
 * - A host library starts a thread that blocks no signal; then, while
 *   the guest's own thread blocks every signal in host code, a child
 *   process queues 50 real-time signals for the guest: they can only
 *   reach the library's thread.  QEMU passes them on to the process, and
 *   the guest's handler gets each one, with its value, once its thread
 *   takes signals again; the library's thread blocks them from then on.
 *   Without that, QEMU crashes on a thread that has no CPU.
 *
 * DLCALL_HOST_LIBS in the environment names the folder of the test's
 * host library, libdlcall-host.so.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <dlfcn.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dlcall.h"
#include "dlcall-tests.h"

#define QUEUED 50

static void *lib;

static void *host(const char *name)
{
    void *fn = NULL;

    if (dlcall_get_proc_address(lib, name, &fn) || !fn) {
        fprintf(stderr, "FAIL: no %s in the host library\n", name);
        exit(EXIT_FAILURE);
    }
    return fn;
}

static void test_faults(void)
{
    int32_t result;

    check(dlcall_invoke_proc(host("dlcall_host_fault"), &result, NULL) == 0);
    check(result == '*' * 256 + SIGSEGV);
    check(dlcall_invoke_proc(host("dlcall_host_fault"), &result,
                             (void *)1) == 0);
    check(result == '*' * 256 + SIGBUS);
}

static volatile sig_atomic_t alarms;

static void on_alarm(int sig)
{
    alarms++;
}

static void test_interrupted(void)
{
    struct sigaction sa = { .sa_handler = on_alarm, .sa_flags = SA_RESTART };
    struct itimerval once = { { 0, 0 }, { 0, 100000 } };
    int32_t result = -1;

    sigaction(SIGALRM, &sa, NULL);
    setitimer(ITIMER_REAL, &once, NULL);
    check(dlcall_invoke_proc(host("dlcall_host_wait"), &result, NULL) == 0);
    check(result == 1);
    check(alarms == 1);
}

static volatile sig_atomic_t queued, values;

static void on_queued(int sig, siginfo_t *info, void *context)
{
    queued++;
    values += info->si_value.sival_int;
}

static void test_foreign_thread(void)
{
    struct sigaction sa = { .sa_sigaction = on_queued,
                            .sa_flags = SA_SIGINFO | SA_RESTART };
    int to_child[2], to_parent[2];
    int32_t result = -1, fds[2];
    pid_t parent = getpid(), child;
    char byte;
    int status, i;

    sigaction(SIGRTMIN + 1, &sa, NULL);
    check(dlcall_invoke_proc(host("dlcall_host_start_thread"), &result,
                             NULL) == 0 && result == 0);
    if (pipe(to_child) || pipe(to_parent)) {
        perror("pipe");
        exit(EXIT_FAILURE);
    }
    child = fork();
    if (child == 0) {
        /*
         * The child needs no host library; once the parent's thread
         * blocks signals, it queues them.
         */
        if (dlcall_free_library(lib, &status) || status ||
            read(to_child[0], &byte, 1) != 1) {
            _exit(1);
        }
        for (i = 1; i <= QUEUED; i++) {
            union sigval value = { .sival_int = i };

            if (sigqueue(parent, SIGRTMIN + 1, value)) {
                _exit(2);
            }
        }
        _exit(write(to_parent[1], &byte, 1) != 1);
    }
    fds[0] = to_parent[0];
    fds[1] = to_child[1];
    check(dlcall_invoke_proc(host("dlcall_host_blocked_wait"), fds,
                             NULL) == 0);
    check(fds[0] == 0);
    check(waitpid(child, &status, 0) == child && WIFEXITED(status) &&
          WEXITSTATUS(status) == 0);
    /* They come one by one, each with a system call's return. */
    for (i = 0; i < 1000 && queued < QUEUED; i++) {
        usleep(1000);
    }
    check(queued == QUEUED);
    check(values == QUEUED * (QUEUED + 1) / 2);
    check(dlcall_invoke_proc(host("dlcall_host_thread_blocks"), &result,
                             NULL) == 0);
    check(result == 1);
}

int main(void)
{
    const char *dir = getenv("DLCALL_HOST_LIBS");
    char path[4096];
    int ret;

    if (!dir) {
        fprintf(stderr, "FAIL: DLCALL_HOST_LIBS is not set\n");
        return EXIT_FAILURE;
    }
    snprintf(path, sizeof(path), "%s/libdlcall-host.so", dir);
    if (dlcall_load_library(path, RTLD_NOW, &lib) || !lib) {
        fprintf(stderr, "FAIL: cannot load %s\n", path);
        return EXIT_FAILURE;
    }
    test_faults();
    test_interrupted();
    test_foreign_thread();
    check(dlcall_free_library(lib, &ret) == 0 && ret == 0);
    return failures ? EXIT_FAILURE : EXIT_SUCCESS;
}
