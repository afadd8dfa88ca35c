/*
 * The protocol between a guest drop-in library and its host library,
 * shared by guest.c and host.c.  Both sides are 64-bit little-endian
 * LP64, so these structures have one layout; they live in guest memory
 * (the guest's stack) and the host reads and writes them in place.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef THUNKS_ABI_H
#define THUNKS_ABI_H

#include <stdint.h>

/* Bumped whenever a structure below or the stub protocol changes. */
#define THUNK_ABI 3

/* The one symbol every host library exports: see struct thunk_bind. */
#define THUNK_BIND_SYMBOL "thunk_bind"

/*
 * Every call that passes a pointer (so may fault, call back or run for
 * long) passes one of these as INVOKE_PROC's second argument, on the
 * guest stub's stack.  The host sets state on every return:
 *
 * THUNK_DONE         the call finished.
 * THUNK_CALLBACK     it is parked and wants the guest to run
 *                    fn(*args[0], ...), of signature sig, and store the
 *                    result at ret.
 * THUNK_FAULT        it is parked at an instruction of host code that
 *                    took host signal signo: for SIGSEGV and SIGBUS an
 *                    access to addr (a write if write is 1), which the
 *                    guest makes itself, so that it takes the signal the
 *                    kernel would give for that access, and its handler
 *                    runs; any other signal the guest raises.
 * THUNK_INTERRUPTED  it is parked because a signal for the guest
 *                    arrived: the guest got it when INVOKE_PROC returned.
 *
 * In every state but THUNK_DONE the guest then resumes the call: an
 * INVOKE_PROC of the resume entry with this request.  The instruction
 * that faulted runs again; a fault the guest's handler did not mend
 * comes back.  A call whose stub the guest leaves (longjmp out of a
 * callback or of a signal handler) is abandoned: the host reclaims it
 * at the thread's next call from a shallower stack, or at its exit.
 */
enum {
    THUNK_DONE = 0,
    THUNK_CALLBACK = 1,
    THUNK_FAULT = 2,
    THUNK_INTERRUPTED = 3,
};

struct thunk_req {
    int32_t state;
    uint32_t sig;               /* CALLBACK */
    void *fn;                   /* CALLBACK */
    void **args;                /* CALLBACK */
    void *ret;                  /* CALLBACK */
    void *coro;                 /* the parked call, for resume */
    void *addr;                 /* FAULT */
    int32_t signo;              /* FAULT */
    int32_t write;              /* FAULT */
};

/*
 * INVOKE_PROC(thunk_bind, &bind, NULL) at start-up: the guest says
 * which functions it needs (name, version node or "" for the base
 * version, and the prototype both sides were generated with); the
 * host resolves every one in the host's real library with that
 * version, or fails and says why.
 */
struct thunk_bind {
    uint32_t abi;                   /* in: THUNK_ABI */
    uint32_t count;                 /* in: number of functions */
    uint32_t sigs;                  /* in: number of callback signatures */
    uint32_t debug;                 /* in: count calls for the statistics */
    const char *const *names;       /* in */
    const char *const *versions;    /* in */
    const char *const *protos;      /* in */
    const char *sig_digest;         /* in: the callback signatures, spelt */
    uint32_t nstandins;             /* in: see standins */
    void *const *standins;          /* in: the guest's allocator halves
                                     * (for a NULL half: see host.h) */
    void **entries;                 /* out: host entry per function */
    void *resume;                   /* out: entry that resumes a request */
    void *stats;                    /* out: entry that fills thunk_stats */
    int32_t ok;                     /* out: 1 if every function resolved */
    char host_library[256];         /* out: the host's real library */
    char error[512];                /* out: why not, when ok is 0 */
};

/* INVOKE_PROC(stats, &stats, NULL): what ran on the host so far. */
struct thunk_stats {
    uint64_t calls;
    uint64_t callbacks;
};

#endif /* THUNKS_ABI_H */
