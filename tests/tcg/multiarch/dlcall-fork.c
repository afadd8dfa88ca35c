/*
 * dlcall and fork: library code that forks or blocks must not stop the
 * guest (contrib/plugins/dlcall.c)
 *
 * A library whose constructor forks loads as it would natively.  While
 * one thread waits in LOAD_LIBRARY for a FIFO that has no writer yet,
 * another thread forks, and a third one, which never uses dlcall, keeps
 * running: neither waits for the load, as neither would if the first
 * thread were blocked in a plain open().  A watchdog process writes to
 * the FIFO after a while, so that a guest that does wait finishes and
 * fails instead of hanging.  And a process whose thread sleeps in the
 * host's sleep(), called with INVOKE_PROC, exits at once.
 *
 * DLCALL_HOST_LIBS in the environment names the folder of the test's
 * host libraries; libdlcall-host-fork.so forks in its constructor.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dlcall.h"
#include "dlcall-tests.h"

#define WATCHDOG_S 10
#define FORK_LIMIT_S 5

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, ms % 1000 * 1000000 };

    nanosleep(&ts, NULL);
}

/*
 * Write to the FIFO, and so end a LOAD_LIBRARY blocked opening it; give
 * up after a few seconds without a reader.
 */
static void feed(const char *fifo)
{
    for (int i = 0; i < 50; i++) {
        int fd = open(fifo, O_WRONLY | O_NONBLOCK);

        if (fd >= 0) {
            if (write(fd, "not a library", 13) != 13) {
                perror("write to the FIFO");
            }
            close(fd);
            return;
        }
        sleep_ms(100);
    }
}

static volatile int loaded; /* set by one thread, read by another */

/* Load a library whose constructor forks, use it and close it. */
static void *load_forking_library(void *dir)
{
    char path[4096];
    void *lib = NULL, *buffer = NULL;
    int ret = -1;

    snprintf(path, sizeof(path), "%s/libdlcall-host-fork.so", (char *)dir);
    check(dlcall_load_library(path, RTLD_NOW, &lib) == 0 && lib);
    check(dlcall_get_proc_address(lib, "dlcall_host_buffer", &buffer) == 0 &&
          buffer);
    check(dlcall_free_library(lib, &ret) == 0 && ret == 0);
    loaded = 1;
    return NULL;
}

/* It must be done long before the watchdog's time. */
static void test_forking_constructor(const char *dir)
{
    pthread_t thread;

    pthread_create(&thread, NULL, load_forking_library, (void *)dir);
    for (int i = 0; i < WATCHDOG_S * 10 && !loaded; i++) {
        sleep_ms(100);
    }
    if (!loaded) {
        fprintf(stderr, "FAIL: loading a library whose constructor forks "
                "did not end in %d s\n", WATCHDOG_S);
        exit(EXIT_FAILURE);
    }
    pthread_join(thread, NULL);
}

static volatile long counter; /* counted by one thread, read by main() */
static volatile int stop; /* set by main(), read by the counting thread */
static char fifo[64];

static void *count(void *arg)
{
    while (!stop) {
        counter++;
    }
    return NULL;
}

static void *load_fifo(void *arg)
{
    void **handle = arg;

    dlcall_load_library(fifo, RTLD_NOW, handle);
    return NULL;
}

static void test_fork_while_loading(void)
{
    pthread_t counter_thread, loader;
    void *handle = (void *)-1;
    const char *error = NULL;
    pid_t watchdog, child;
    long before;
    double t;
    int status;

    snprintf(fifo, sizeof(fifo), "./dlcall-fork-%d.fifo", getpid());
    unlink(fifo);
    if (mkfifo(fifo, 0600)) {
        perror("mkfifo");
        exit(EXIT_FAILURE);
    }

    watchdog = fork();
    if (watchdog == 0) {
        sleep(WATCHDOG_S);
        feed(fifo);
        _exit(0);
    }

    pthread_create(&counter_thread, NULL, count, NULL);
    pthread_create(&loader, NULL, load_fifo, &handle);
    sleep_ms(300); /* the loader is now waiting for a writer */

    t = now();
    child = fork();
    if (child == 0) {
        _exit(0);
    }
    check(child > 0 && waitpid(child, &status, 0) == child &&
          WIFEXITED(status) && WEXITSTATUS(status) == 0);
    t = now() - t;
    if (t > FORK_LIMIT_S) {
        fprintf(stderr, "FAIL: fork() waited %.1f s for LOAD_LIBRARY\n", t);
        failures++;
    }

    before = counter;
    sleep_ms(100);
    check(counter != before);

    feed(fifo);
    pthread_join(loader, NULL);
    check(handle == NULL);
    check(dlcall_get_library_error(&error) == 0);
    stop = 1;
    pthread_join(counter_thread, NULL);

    kill(watchdog, SIGKILL);
    waitpid(watchdog, NULL, 0);
    unlink(fifo);
}

static void *host_sleep;

static void *sleep_in_host(void *arg)
{
    dlcall_invoke_proc(host_sleep, (void *)(long)(WATCHDOG_S * 6), NULL);
    return NULL;
}

/*
 * A child exits while its other thread sleeps in host code; it must be
 * gone long before that thread would wake up.
 */
static void test_exit_while_blocked(void)
{
    pthread_t sleeper;
    void *libc = NULL;
    pid_t child, done = 0;
    int status = -1, ret = -1;

    child = fork();
    if (child == 0) {
        if (dlcall_load_library("libc.so.6", RTLD_NOW, &libc) || !libc ||
            dlcall_get_proc_address(libc, "sleep", &host_sleep) ||
            !host_sleep) {
            _exit(2);
        }
        pthread_create(&sleeper, NULL, sleep_in_host, NULL);
        sleep_ms(300); /* the sleeper is now in the host's sleep() */
        /* QEMU itself keeps libc loaded: sleep() stays where it is. */
        if (dlcall_free_library(libc, &ret) || ret) {
            _exit(3);
        }
        exit(0);
    }
    check(child > 0);
    for (int i = 0; child > 0 && i < WATCHDOG_S * 10 && !done; i++) {
        sleep_ms(100);
        done = waitpid(child, &status, WNOHANG);
    }
    if (child > 0 && !done) {
        fprintf(stderr, "FAIL: a process with a thread in a host call did "
                "not exit in %d s\n", WATCHDOG_S);
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
        failures++;
        return;
    }
    check(done == child && WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

int main(void)
{
    const char *dir = getenv("DLCALL_HOST_LIBS");

    if (!dir) {
        fprintf(stderr, "FAIL: DLCALL_HOST_LIBS is not set\n");
        return EXIT_FAILURE;
    }
    test_fork_while_loading();
    test_forking_constructor(dir);
    test_exit_while_blocked();
    return failures ? EXIT_FAILURE : EXIT_SUCCESS;
}
