/*
 * dlcall while another guest thread unmaps the out pointer's memory
 * (contrib/plugins/dlcall.c)
 *
 * One thread unmaps and maps again, over and over, the page after the
 * one an out pointer starts in; the main thread calls each operation
 * with an out pointer straddling the two pages.  What dlcall's contract
 * allows: a call either succeeds, having written the whole value, or
 * fails with -EFAULT having written none of it (LOAD_LIBRARY and
 * FREE_LIBRARY may have stored the NULL or 0 they store before they
 * act); an operation may have taken effect though it fails
 * (FREE_LIBRARY may have closed the library), but nothing leaks (the
 * run checks that no library is left open at exit) and
 * GET_LIBRARY_ERROR only forgets a message it could hand out.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "dlcall.h"
#include "dlcall-tests.h"

#define PAGE 4096
#define ROUNDS 2000
#define PATTERN 0x5a

static unsigned char *area;
static volatile int stop; /* set by main(), read by toggle() */
static volatile long toggles; /* counted by toggle(), read by main() */

static void *toggle(void *arg)
{
    while (!stop) {
        munmap(area + PAGE, PAGE);
        mmap(area + PAGE, PAGE, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
        toggles++;
    }
    return NULL;
}

/* Where a value of size bytes straddles the two pages, half in each. */
static void *straddle(size_t size)
{
    unsigned char *out = area + PAGE - size / 2;

    memset(out, PATTERN, size / 2);
    return out;
}

/*
 * After a call that wrote size bytes at out: -EFAULT must have left the
 * first half alone, or, for LOAD_LIBRARY and FREE_LIBRARY, which store
 * NULL or 0 before they act, written that whole; success must have
 * written value's first half.
 */
static void check_half(const char *op, long r, void *out, const void *value,
                       size_t size)
{
    unsigned char expect[8];

    if (r == -EFAULT) {
        memset(expect, PATTERN, size / 2);
        if (memcmp(out, expect, size / 2) && strstr(op, "LIBRARY")) {
            memset(expect, 0, size / 2);
        }
    } else if (r == 0) {
        memcpy(expect, value, size / 2);
    } else {
        fprintf(stderr, "FAIL: %s returned %ld\n", op, r);
        failures++;
        return;
    }
    if (memcmp(out, expect, size / 2)) {
        fprintf(stderr, "FAIL: %s returned %ld and wrote part of its "
                "result\n", op, r);
        failures++;
    }
}

/* Is there a pending error, mentioning what? */
static bool error_pending(const char *what)
{
    const char *error = NULL;

    return dlcall_get_library_error(&error) == 0 && error &&
           strstr(error, what);
}

static void one_round(int *faults)
{
    const char *value = NULL, *error = NULL;
    void *entry = NULL, *libc = NULL, *out;
    int ret = -1, zero = 0;
    long r;

    /* The results are host pointers: learn them from calls that work. */
    check(dlcall_get_host_attribute("emu", &value) == 0);
    out = straddle(sizeof(void *));
    r = dlcall_get_host_attribute("emu", out);
    check_half("GET_HOST_ATTRIBUTE", r, out, &value, sizeof(value));
    faults[0] += r == -EFAULT;

    check(dlcall_get_proc_address(RTLD_DEFAULT, "strcpy", &entry) == 0);
    out = straddle(sizeof(void *));
    r = dlcall_get_proc_address(RTLD_DEFAULT, "strcpy", out);
    check_half("GET_PROC_ADDRESS", r, out, &entry, sizeof(entry));
    faults[1] += r == -EFAULT;

    /* LOAD_LIBRARY closes again a handle it could not hand out. */
    check(dlcall_load_library("libc.so.6", RTLD_NOW, &libc) == 0 && libc);
    out = straddle(sizeof(void *));
    r = dlcall_load_library("libc.so.6", RTLD_NOW, out);
    check_half("LOAD_LIBRARY", r, out, &libc, sizeof(libc));
    if (r == 0) {
        check(dlcall_free_library(libc, &ret) == 0 && ret == 0);
    }
    faults[2] += r == -EFAULT;

    /*
     * FREE_LIBRARY may or may not have closed the library when it fails:
     * closing it once more must then work, or be refused.
     */
    out = straddle(sizeof(int));
    r = dlcall_free_library(libc, out);
    check_half("FREE_LIBRARY", r, out, &zero, sizeof(int));
    if (r == -EFAULT) {
        ret = -1;
        check(dlcall_free_library(libc, &ret) == 0);
        if (ret) {
            check(error_pending("not a handle"));
        }
    }
    faults[3] += r == -EFAULT;

    /* GET_LIBRARY_ERROR keeps a message it could not hand out. */
    check(dlcall_free_library((void *)&zero, &ret) == 0 && ret == -1);
    out = straddle(sizeof(void *));
    r = dlcall_get_library_error(out);
    check(r == 0 || r == -EFAULT);
    if (r == -EFAULT) {
        check(error_pending("not a handle"));
    }
    check(dlcall_get_library_error(&error) == 0 && error == NULL);
    faults[4] += r == -EFAULT;
}

int main(void)
{
    static const char *const names[] = {
        "GET_HOST_ATTRIBUTE", "GET_PROC_ADDRESS", "LOAD_LIBRARY",
        "FREE_LIBRARY", "GET_LIBRARY_ERROR"
    };
    int faults[5] = { 0 };
    pthread_t thread;

    area = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE,
                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (area == MAP_FAILED || pthread_create(&thread, NULL, toggle, NULL)) {
        perror("dlcall-unmap");
        return EXIT_FAILURE;
    }
    while (!toggles) {
        sched_yield();
    }
    for (int i = 0; i < ROUNDS; i++) {
        one_round(faults);
    }
    printf("%ld toggles\n", toggles);
    stop = 1;
    pthread_join(thread, NULL);

    for (int i = 0; i < 5; i++) {
        printf("%s: %d of %d calls raced with munmap (-EFAULT)\n",
               names[i], faults[i], ROUNDS);
    }
    return failures ? EXIT_FAILURE : EXIT_SUCCESS;
}
