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
#define THUNK_ABI 2

/* The one symbol every host library exports: see struct thunk_bind. */
#define THUNK_BIND_SYMBOL "thunk_bind"

/*
 * A call that may call back into the guest passes one of these as
 * INVOKE_PROC's second argument.  The host sets state on every return:
 * THUNK_DONE when the call finished, THUNK_CALLBACK when it is parked
 * and wants the guest to run fn(*args[0], ...) with signature sig,
 * store the result at ret and resume it (INVOKE_PROC of the resume
 * entry with this request).
 */
enum { THUNK_DONE = 0, THUNK_CALLBACK = 1 };

struct thunk_req {
    int32_t state;
    uint32_t sig;
    void *fn;
    void **args;
    void *ret;
    void *coro;
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
    void *guest_malloc, *guest_free; /* in: the guest's malloc and free */
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
