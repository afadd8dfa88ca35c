/*
 * Test the system call filters of TCG plugins
 *
 * Run with tests/tcg/plugins/syscall.c loaded, whose filter answers
 * the made-up system call FILTER_NR.  With SECOND_FILTER=1 in the
 * environment, tests/tcg/plugins/syscall-filter.c is loaded after it
 * and answers what the first filter passes on.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define FILTER_NR 4056                      /* as in the plugins */
#define FILTER_ANSWER 0x123456789abcdef0LL  /* from syscall.c */
#define SECOND_ANSWER 4057                  /* from syscall-filter.c */

static int failures;

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "FAIL: %s\n", what);
        failures++;
    }
}

/* Issue FILTER_NR; returns the result and leaves errno as the guest saw it. */
static long filtered(long op)
{
    errno = 0;
    return syscall(FILTER_NR, op, 0, 0, 0, 0, 0);
}

static void check_filters(void)
{
    long r;

    /* A 32-bit guest sees the answer narrowed to its register width. */
    r = filtered(1);
    check(r == (long)FILTER_ANSWER, "first filter's answer");

    r = filtered(2);
    check(r == -1 && errno == EDOM, "first filter's error");

    r = filtered(3);
    if (getenv("SECOND_FILTER")) {
        check(r == SECOND_ANSWER, "call passed on to the second filter");
    } else {
        check(r == -1 && errno == ENOSYS, "call passed on to QEMU");
    }
}

int main(void)
{
    int fds[2], status;
    pid_t child, reported = 0;

    check_filters();

    /*
     * Calls the filters pass on are emulated as usual: the pid a child
     * reports for itself is the one fork() gave the parent.  The child
     * also checks that the filters still work after fork().
     */
    if (pipe(fds) != 0) {
        perror("pipe");
        return 1;
    }
    child = fork();
    if (child < 0) {
        perror("fork");
        return 1;
    }
    if (child == 0) {
        pid_t self = syscall(SYS_getpid);

        check_filters();
        if (write(fds[1], &self, sizeof(self)) != sizeof(self)) {
            failures++;
        }
        _exit(failures ? 1 : 0);
    }
    check(read(fds[0], &reported, sizeof(reported)) == sizeof(reported),
          "read the child's pid");
    check(reported == child, "getpid() passed on to QEMU");
    check(waitpid(child, &status, 0) == child &&
          WIFEXITED(status) && WEXITSTATUS(status) == 0, "child's checks");

    return failures ? EXIT_FAILURE : EXIT_SUCCESS;
}
