/*
 * Test the dlcall plugin from several guest threads and a forked child
 *
 * Each thread opens the host's C library, looks up and calls strcpy on
 * its own buffer, fails on purpose (an absent symbol, a library that
 * does not exist, a handle that is not one) and closes the library,
 * thousands of times, while the others do the same.  Every thread must
 * see only its own errors and its own results.  The run checks that no
 * library handle is left open at exit.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dlcall.h"

#define THREADS 8
#define ROUNDS 400

static int fail(int id, int round, const char *what)
{
    fprintf(stderr, "FAIL: thread %d, round %d: %s\n", id, round, what);
    return 1;
}

/* Is this thread's pending error one that mentions what? */
static bool error_mentions(const char *what)
{
    const char *error = NULL;

    return dlcall_get_library_error(&error) == 0 && error &&
           strstr(error, what);
}

/* One round; returns 0 if every result was right. */
static int round_trip(int id, int round)
{
    char name[64], buf[64], expect[64];
    const char *error = NULL;
    void *libc = NULL, *fn = NULL, *absent = (void *)-1, *missing = NULL;
    int ret = -1;

    if (dlcall_load_library("libc.so.6", RTLD_NOW, &libc) != 0 || !libc) {
        return fail(id, round, "loading libc.so.6");
    }
    if (dlcall_get_proc_address(libc, "strcpy", &fn) != 0 || !fn) {
        return fail(id, round, "looking up strcpy");
    }
    snprintf(expect, sizeof(expect), "thread %d round %d", id, round);
    memset(buf, 0, sizeof(buf));
    if (dlcall_invoke_proc(fn, buf, expect) != 0 || strcmp(buf, expect)) {
        return fail(id, round, "calling strcpy");
    }

    /* A failure whose message names this thread and round. */
    snprintf(name, sizeof(name), "dlcall_absent_%d_%d", id, round);
    if (dlcall_get_proc_address(libc, name, &absent) != 0 || absent) {
        return fail(id, round, "looking up an absent symbol");
    }
    if (!error_mentions(name)) {
        return fail(id, round, "this thread's dlsym error");
    }

    snprintf(name, sizeof(name), "libdlcall-missing-%d-%d.so", id, round);
    if (dlcall_load_library(name, RTLD_NOW, &missing) != 0 || missing) {
        return fail(id, round, "loading a missing library");
    }
    if (!error_mentions(name)) {
        return fail(id, round, "this thread's dlopen error");
    }

    if (dlcall_free_library(buf, &ret) != 0 || ret == 0) {
        return fail(id, round, "closing a handle that is not one");
    }
    if (!error_mentions("not a handle")) {
        return fail(id, round, "this thread's bad handle error");
    }

    if (dlcall_free_library(libc, &ret) != 0 || ret != 0) {
        return fail(id, round, "closing libc");
    }
    if (dlcall_get_library_error(&error) != 0 || error) {
        return fail(id, round, "an error left over");
    }
    return 0;
}

static void *worker(void *arg)
{
    int id = (int)(intptr_t)arg;

    for (int round = 0; round < ROUNDS; round++) {
        if (round_trip(id, round)) {
            return (void *)1;
        }
    }
    return NULL;
}

int main(void)
{
    pthread_t threads[THREADS];
    int failures = 0, status;
    pid_t child;

    for (int i = 0; i < THREADS; i++) {
        if (pthread_create(&threads[i], NULL, worker, (void *)(intptr_t)i)) {
            perror("pthread_create");
            return 1;
        }
    }
    for (int i = 0; i < THREADS; i++) {
        void *result;

        pthread_join(threads[i], &result);
        failures += result != NULL;
    }

    /* dlcall keeps working in a child forked after the plugin loaded. */
    child = fork();
    if (child < 0) {
        perror("fork");
        return 1;
    }
    if (child == 0) {
        _exit(round_trip(THREADS, 0));
    }
    if (waitpid(child, &status, 0) != child || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0) {
        fprintf(stderr, "FAIL: dlcall in a forked child\n");
        failures++;
    }

    return failures ? EXIT_FAILURE : EXIT_SUCCESS;
}
