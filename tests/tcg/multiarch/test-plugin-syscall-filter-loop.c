/*
 * Filtered system calls in a tight loop, while a timer sends signals
 *
 * Run with tests/tcg/plugins/syscall-filter.c loaded, whose filter
 * answers the made-up system call FILTER_NR with FILTER_ANSWER.  With
 * only that plugin loaded, QEMU answers the calls without leaving the
 * translated code; signals must still reach the guest while it loops
 * on them, and every answer must be right, in the loop and in the
 * signal handler.
 *
 * The filter also answers NOTED_NR, a number below 1024 that no guest
 * has, but only when its first argument is 1.  QEMU notes, per number
 * below 1024, whether the filters passed a call on, and the translated
 * code sends such numbers the usual way at once; that way must still
 * offer them to the filters, which may answer them now.
 *
 * With FIXED_CALLS_ONLY=1 in the environment, the test makes FIXED_CALLS
 * calls and stops: check-syscall-filter-loop.sh then checks that
 * -strace or the syscall plugin's callbacks saw each of them, and
 * gdbstub/catch-syscall-filter.py stops at them.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define FILTER_NR 4056          /* as in the plugins */
#define FILTER_ANSWER 4057      /* from syscall-filter.c */
#define FILTER_OP 7             /* an a1 the syscall plugin passes on */
#define NOTED_NR 1000           /* from syscall-filter.c */
#define NOTED_ANSWER 1001
#define NOTED_ROUNDS 1000

#define FIXED_CALLS 100
#define SIGNALS 100
#define INTERVAL_US 1000
/* Enough for SIGNALS intervals many times over, at any speed. */
#define MAX_CALLS 50000000L

/* The number of calls, read by the signal handler and by gdb. */
volatile long calls;
/* Counted in the signal handler too. */
static volatile long wrong_answers;
/* The signals the handler saw. */
static volatile sig_atomic_t signals;
static long calls_at_signal[SIGNALS + 2];

static int failures;

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "FAIL: %s\n", what);
        failures++;
    }
}

static void filtered_call(void)
{
    if (syscall(FILTER_NR, FILTER_OP, calls, 0, 0, 0, 0) != FILTER_ANSWER) {
        wrong_answers++;
    }
    calls++;
}

/*
 * NOTED_NR passed on and answered in turn, and answered several times
 * in a row, so that each call meets the other outcome noted or its own.
 */
static void noted_calls(void)
{
    long i, passed_on = 0, answered = 0;

    for (i = 0; i < NOTED_ROUNDS; i++) {
        int answer = i % 4 != 0;

        errno = 0;
        if (answer) {
            answered += syscall(NOTED_NR, 1, i, 0, 0, 0, 0) == NOTED_ANSWER;
        } else {
            passed_on += syscall(NOTED_NR, 2, i, 0, 0, 0, 0) == -1 &&
                         errno == ENOSYS;
        }
    }
    check(answered == NOTED_ROUNDS - NOTED_ROUNDS / 4,
          "a number the filter passed on before is answered");
    check(passed_on == NOTED_ROUNDS / 4,
          "a number the filter answered before is passed on");
}

static void on_alarm(int sig)
{
    int saved_errno = errno;

    if (signals < SIGNALS + 2) {
        calls_at_signal[signals] = calls;
    }
    signals++;
    /* A filtered call made from a signal handler is answered too. */
    if (syscall(FILTER_NR, FILTER_OP, 0, 0, 0, 0, 0) != FILTER_ANSWER) {
        wrong_answers++;
    }
    errno = saved_errno;
}

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * Loop on filtered calls until SIGNALS signals have arrived.  The loop
 * makes no other system call, so only a signal delivered while QEMU
 * answers filtered calls can end it before MAX_CALLS.
 */
static void loop_with_timer(void)
{
    struct itimerval timer = {
        .it_interval = { .tv_usec = INTERVAL_US },
        .it_value = { .tv_usec = INTERVAL_US },
    };
    struct itimerval off = { 0 };
    struct sigaction sa;
    double start, elapsed;
    long first = calls, i, between;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_alarm;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGALRM, &sa, NULL) != 0) {
        perror("sigaction");
        exit(EXIT_FAILURE);
    }

    start = now();
    if (setitimer(ITIMER_REAL, &timer, NULL) != 0) {
        perror("setitimer");
        exit(EXIT_FAILURE);
    }
    while (signals < SIGNALS && calls - first < MAX_CALLS) {
        filtered_call();
    }
    setitimer(ITIMER_REAL, &off, NULL);
    elapsed = now() - start;

    check(signals >= SIGNALS, "every timer signal arrived during the loop");
    /* The timer expires once per interval: no spurious signals. */
    check(signals <= elapsed * 1e6 / INTERVAL_US + 1,
          "no more signals than the timer produced");
    /*
     * The loop went on between signals.  Two signals can come back to
     * back when the host is busy, but not most of them.
     */
    between = 0;
    for (i = 1; i < SIGNALS && i < signals; i++) {
        if (calls_at_signal[i] > calls_at_signal[i - 1]) {
            between++;
        }
    }
    check(between >= SIGNALS / 2, "filtered calls made between signals");
    if (failures) {
        fprintf(stderr, "%d signals in %.3f s, %ld calls, %ld with calls "
                "since the one before\n", (int)signals, elapsed,
                calls - first, between);
    }
}

int main(void)
{
    int i;

    noted_calls();
    for (i = 0; i < FIXED_CALLS; i++) {
        filtered_call();
    }
    if (!getenv("FIXED_CALLS_ONLY")) {
        loop_with_timer();
    }
    check(wrong_answers == 0, "every filtered call answered");

    return failures ? EXIT_FAILURE : EXIT_SUCCESS;
}
