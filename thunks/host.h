/*
 * Host runtime of the thunks: what a generated host library
 * (build/thunks/gen/<lib>/host.c) is built on.  See host.c.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef THUNKS_HOST_H
#define THUNKS_HOST_H

#include <errno.h>
#include <stdint.h>

#include <ffi.h>

#include "abi.h"

#define THUNK_HIDDEN __attribute__((visibility("hidden")))
#define THUNK_LIKELY(x) __builtin_expect(!!(x), 1)
#define THUNK_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* A function of the library: its host entry and the real function. */
struct thunk_host_fn {
    const char *name, *version, *proto;
    void (*entry)(void *block, void *req);
    void **real;
};

/*
 * A callback signature, as libffi describes it, and where its
 * arguments point to structures the guest's callback may fill with
 * guest functions (outs[i], or outs NULL): they are swapped for
 * closures when it returns.
 */
struct thunk_sig {
    ffi_type *ret;
    unsigned nargs;
    ffi_type **args;
    const struct thunk_field *const *outs;
};

/*
 * Where a structure holds guest functions, for the host to swap them
 * for closures: a function pointer (THUNK_FN, with its signature), or a
 * pointer to a structure that holds some, const (THUNK_SHADOW: the
 * host points it at a copy of size bytes that holds closures) or not
 * (THUNK_DEEP: swapped in place too).  A table ends with THUNK_END.
 *
 * A function pointer may be one half of an allocator pair (role
 * THUNK_ALLOC: returns a block of the product of its integer
 * arguments; THUNK_FREE: frees its last pointer argument), whose other
 * half is partner bytes away.  THUNK_LIBC: the library serves a NULL
 * half with its own, which calls libc's malloc or free; the guest's
 * drop-in has a function of the same signature that calls the guest's
 * (its stand-in, standin in struct thunk_bind's list).  A NULL half
 * beside one of the guest's becomes the stand-in, so that both halves
 * use the guest's heap; where the library put its own functions (both
 * halves were NULL), the guest sees the stand-ins, which it can call,
 * and the library gets its own back.
 */
enum { THUNK_END, THUNK_FN, THUNK_SHADOW, THUNK_DEEP };
enum { THUNK_ALLOC = 1, THUNK_FREE = 2, THUNK_LIBC = 4 };

struct thunk_field {
    uint32_t kind, offset;
    uint32_t sig, size;
    const struct thunk_field *fields;
    uint32_t role;
    int32_t partner;
    int32_t standin;
};

struct thunk_host_lib {
    const char *soname;
    const struct thunk_host_fn *fns;
    unsigned count;
    const struct thunk_sig *sigs;
    unsigned nsigs;
    const char *sig_digest;
    unsigned nstandins;
};

/* Defined by the generated file. */
extern const struct thunk_host_lib thunk_host_lib THUNK_HIDDEN;

/* Set by thunk_bind when the guest asks for statistics. */
extern int thunk_counting THUNK_HIDDEN;
extern uint64_t thunk_calls THUNK_HIDDEN;

static inline void thunk_count(void)
{
    if (__builtin_expect(thunk_counting, 0)) {
        __atomic_fetch_add(&thunk_calls, 1, __ATOMIC_RELAXED);
    }
}

/*
 * Run fn(block) on a coroutine, parking it whenever it calls back, faults
 * or a signal for the guest interrupts it (see struct thunk_req).
 */
void thunk_run(void (*fn)(void *), void *block, void *req) THUNK_HIDDEN;

/* A host pointer for guest function fn of signature sig (closures). */
void *thunk_closure(void *fn, unsigned sig) THUNK_HIDDEN;

/* Swap the guest functions *p holds for closures, and back. */
void thunk_swap_in(void *p, const struct thunk_field *fields) THUNK_HIDDEN;
void thunk_swap_out(void *p, const struct thunk_field *fields) THUNK_HIDDEN;

/* A lasting copy of const structure *p, holding closures. */
void *thunk_shadow(const void *p, uint32_t size,
                   const struct thunk_field *fields) THUNK_HIDDEN;

#endif /* THUNKS_HOST_H */
