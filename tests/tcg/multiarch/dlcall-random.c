/*
 * Throw random input at the dlcall plugin
 *
 * Issues tens of thousands of dlcall system calls with random
 * operation IDs and random, often wild, operands: NULL, small numbers,
 * unmapped and kernel addresses, random 64-bit values and pointers
 * into a scratch area that holds random bytes and, now and then, real
 * library and symbol names.  INVOKE_PROC is left out: it runs whatever
 * host code it is given.  QEMU must not die, every result must be 0,
 * -EINVAL, -EFAULT or -ENAMETOOLONG, and the guest must exit normally.
 *
 * The sequence is reproducible: the seed is fixed unless DLCALL_SEED
 * (a decimal number) is set in the environment.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "dlcall.h"

#define CALLS 20000
#define SCRATCH 65536

static uint64_t rng;

static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static unsigned char *scratch, *unmapped;

/* Refill part of the scratch area with noise or a real name. */
static void stir(void)
{
    static const char *const names[] = {
        "emu", "libc.so.6", "libz.so.1", "strcpy", "dlopen", "", "no such",
    };
    size_t off = next() % (SCRATCH - 64);

    if (next() % 2) {
        const char *s = names[next() % (sizeof(names) / sizeof(names[0]))];

        memcpy(scratch + off, s, strlen(s) + 1);
    } else {
        for (int i = 0; i < 64; i++) {
            scratch[off + i] = next();
        }
    }
}

/* An operand: some are harmless, most are not. */
static uint64_t operand(void)
{
    switch (next() % 8) {
    case 0:
        return 0;
    case 1:
        return next() % 4096;
    case 2:
        return (uintptr_t)unmapped + next() % SCRATCH;
    case 3:
        return 0xffff800000000000ull + next() % (1ull << 40);
    case 4:
        return next();
    case 5:
        return (uint64_t)-1 - next() % 16;
    default:
        return (uintptr_t)scratch + next() % (SCRATCH - 8);
    }
}

int main(void)
{
    const char *seed = getenv("DLCALL_SEED");
    long counts[3] = { 0 };

    rng = seed ? (uint64_t)atoll(seed) : 0x5eed0fd1ca11ull;
    if (!rng) {
        rng = 1;
    }

    scratch = mmap(NULL, SCRATCH, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    unmapped = mmap(NULL, SCRATCH, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
                    -1, 0);
    if (scratch == MAP_FAILED || unmapped == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    munmap(unmapped, SCRATCH);

    for (int i = 0; i < CALLS; i++) {
        long op, ret;

        do {
            op = next() % 10 == 0 ? (long)next() : (long)(next() % 8);
        } while (op == DLCALL_INVOKE_PROC);

        stir();
        ret = dlcall_syscall(DLCALL_SYSCALL_NUM, op, operand(), operand(),
                             operand());
        if (ret == 0) {
            counts[0]++;
        } else if (ret == -EINVAL) {
            counts[1]++;
        } else if (ret == -EFAULT || ret == -ENAMETOOLONG) {
            counts[2]++;
        } else {
            fprintf(stderr, "FAIL: call %d: operation %ld returned %ld\n",
                    i, op, ret);
            return 1;
        }
    }
    printf("%d calls: %ld done, %ld -EINVAL, %ld -EFAULT or -ENAMETOOLONG\n",
           CALLS, counts[0], counts[1], counts[2]);

    /* The guest's own state is intact: dlcall still works. */
    if (!dlcall_available()) {
        fprintf(stderr, "FAIL: dlcall stopped working\n");
        return 1;
    }
    return 0;
}
