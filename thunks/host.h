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

/* A function of the library: its host entry and the real function. */
struct thunk_host_fn {
    const char *name, *version, *proto;
    void (*entry)(void *block, void *req);
    void **real;
};

/* A callback signature, as libffi describes it. */
struct thunk_sig {
    ffi_type *ret;
    unsigned nargs;
    ffi_type **args;
};

/* A function pointer field of a structure the library reads later. */
struct thunk_field {
    uint32_t offset, sig;
};
#define THUNK_FIELDS_END { 0, UINT32_MAX }

struct thunk_host_lib {
    const char *soname;
    const struct thunk_host_fn *fns;
    unsigned count;
    const struct thunk_sig *sigs;
    unsigned nsigs;
    const char *sig_digest;
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

/* Run fn(block) on a coroutine, parking it whenever it calls back. */
void thunk_run(void (*fn)(void *), void *block, void *req) THUNK_HIDDEN;

/* A host pointer for guest function fn of signature sig (closures). */
void *thunk_closure(void *fn, unsigned sig) THUNK_HIDDEN;

/* Swap the function pointer fields of *p for closures, and back. */
void thunk_swap_in(void *p, const struct thunk_field *fields) THUNK_HIDDEN;
void thunk_swap_out(void *p, const struct thunk_field *fields) THUNK_HIDDEN;

#endif /* THUNKS_HOST_H */
