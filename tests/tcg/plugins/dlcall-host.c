/*
 * A host library for the dlcall tests (tests/tcg/multiarch/dlcall-*.c)
 *
 * Not a plugin: guests load it through the dlcall plugin.  It gives
 * them host memory to write to, a function whose name is longer than
 * two pages, and, built with FORK_IN_CONSTRUCTOR, a constructor that
 * forks as some real libraries do.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

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
