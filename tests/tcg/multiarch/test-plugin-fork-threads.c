/*
 * A multi-threaded guest that forks, run with a plugin loaded.
 *
 * Four threads keep making system calls while the main thread forks
 * and reaps a child again and again, up to FORKS times in at most
 * SECONDS.  Each child exits at once; with a plugin loaded its exit
 * goes through the plugin core, which must not wait on anything that
 * belonged to the parent's other threads.  A child that does not exit
 * in time is killed and the test fails.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define THREADS 4
#define FORKS 300
#define SECONDS 5
#define CHILD_TIMEOUT_S 10

static volatile bool stop; /* set by main(), read by the other threads */

static void *busy(void *arg)
{
    while (!stop) {
        syscall(SYS_getppid);
    }
    return NULL;
}

/* Reap pid; false if it did not exit successfully within the timeout. */
static bool reap(pid_t pid)
{
    struct timespec delay = { 0, 1000 * 1000 };
    int status;

    for (int i = 0; i < CHILD_TIMEOUT_S * 1000; i++) {
        pid_t ret = waitpid(pid, &status, WNOHANG);

        if (ret == pid) {
            return WIFEXITED(status) && WEXITSTATUS(status) == 0;
        }
        if (ret < 0) {
            perror("waitpid");
            return false;
        }
        nanosleep(&delay, NULL);
    }
    fprintf(stderr, "child %d did not exit in %d s\n", pid, CHILD_TIMEOUT_S);
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return false;
}

int main(void)
{
    pthread_t threads[THREADS];
    time_t end = time(NULL) + SECONDS;
    bool ok = true;

    for (int i = 0; i < THREADS; i++) {
        if (pthread_create(&threads[i], NULL, busy, NULL)) {
            perror("pthread_create");
            return EXIT_FAILURE;
        }
    }

    for (int i = 0; i < FORKS && ok && time(NULL) < end; i++) {
        pid_t pid = fork();

        if (pid < 0) {
            perror("fork");
            ok = false;
        } else if (pid == 0) {
            _exit(0);
        } else if (!reap(pid)) {
            fprintf(stderr, "fork %d of %d failed\n", i + 1, FORKS);
            ok = false;
        }
    }

    stop = true;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(threads[i], NULL);
    }
    return ok ? EXIT_SUCCESS : EXIT_FAILURE;
}
