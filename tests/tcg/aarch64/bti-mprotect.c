/*
 * A BLR to an instruction that is not a landing pad faults only in a
 * guarded page.  QEMU reads the guard when it translates the target, so
 * mprotect() that adds or removes PROT_BTI between two BLRs to the same
 * address must drop what was translated.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <assert.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#ifndef PROT_BTI
#define PROT_BTI 0x10
#endif

#define MAP_SIZE 65536  /* a multiple of any page size */

static sigjmp_buf fault_jmp;

static void fault_handler(int sig)
{
    siglongjmp(fault_jmp, sig);
}

typedef int (*int_fn)(void);

/* Call @fn 1000 times; return the signal it raised, or 0. */
static int call_all(int_fn fn)
{
    int sig = sigsetjmp(fault_jmp, 1);

    if (sig) {
        return sig;
    }
    for (int i = 0; i < 1000; i++) {
        /* Hide @fn from the compiler: a real BLR. */
        __asm__ volatile("" : "+r"(fn));
        if (fn() != 3) {
            fprintf(stderr, "the code returned a wrong value\n");
            exit(EXIT_FAILURE);
        }
    }
    return 0;
}

int main(void)
{
    static const uint32_t code[] = {
        0x52800060,     /* mov w0, #3 */
        0xd65f03c0,     /* ret */
    };
    struct sigaction sa = { .sa_handler = fault_handler };
    void *page = mmap(NULL, MAP_SIZE, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    int_fn fn = (int_fn)(uintptr_t)page;

    assert(page != MAP_FAILED);
    sigemptyset(&sa.sa_mask);
    sigaction(SIGILL, &sa, NULL);
    memcpy(page, code, sizeof(code));
    __builtin___clear_cache(page, (char *)page + sizeof(code));

    for (int round = 0; round < 3; round++) {
        assert(mprotect(page, MAP_SIZE, PROT_READ | PROT_EXEC) == 0);
        if (call_all(fn) != 0) {
            fprintf(stderr, "round %d: faulted in an unguarded page\n",
                    round);
            return EXIT_FAILURE;
        }
        assert(mprotect(page, MAP_SIZE,
                        PROT_READ | PROT_EXEC | PROT_BTI) == 0);
        if (call_all(fn) != SIGILL) {
            fprintf(stderr, "round %d: a BLR to a guarded page ran code "
                    "without a landing pad\n", round);
            return EXIT_FAILURE;
        }
    }
    return EXIT_SUCCESS;
}
