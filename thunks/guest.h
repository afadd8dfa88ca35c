/*
 * Guest runtime of the thunks: what a generated guest drop-in library
 * (build/thunks/gen/<lib>/guest-<arch>.c) is built on.  See guest.c.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef THUNKS_GUEST_H
#define THUNKS_GUEST_H

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>

#include "abi.h"
#include "dlcall.h"

#define THUNK_HIDDEN __attribute__((visibility("hidden")))
#define THUNK_EXPORT __attribute__((visibility("default")))
#define THUNK_LIKELY(x) __builtin_expect(!!(x), 1)
#define THUNK_UNLIKELY(x) __builtin_expect(!!(x), 0)

/*
 * One drop-in library.  Functions 0..hosted-1 run on the host when the
 * host path is on (entry[i] is then their host entry); the others are
 * kept in the guest or written by hand in the library's file.  real[i]
 * is the guest's own function, filled when the drop-in falls back or a
 * function kept in the guest is first called.
 */
struct thunk_lib {
    const char *soname;             /* "libz.so.1" */
    const char *name;               /* "zlib": the host library is zlib.so */
    uint32_t count, hosted, sigs;
    const char *const *names, *const *versions, *const *protos;
    const char *sig_digest;
    void **entry, **real;
    void *resume, *stats;
    void *real_handle;
    int started, on_host, debug;
};

void thunk_start(struct thunk_lib *lib) THUNK_HIDDEN;
void thunk_stop(struct thunk_lib *lib) THUNK_HIDDEN;
void thunk_need(struct thunk_lib *lib, unsigned i) THUNK_HIDDEN;
void thunk_bad_callback(struct thunk_lib *lib, struct thunk_req *req)
    THUNK_HIDDEN __attribute__((noreturn));

/* For hand-written functions: is the host path on? */
static inline int thunk_on_host(struct thunk_lib *lib)
{
    thunk_start(lib);
    return lib->on_host;
}

/* For hand-written functions: the guest's own function i. */
static inline void *thunk_real(struct thunk_lib *lib, unsigned i)
{
    if (!lib->real[i]) {
        thunk_need(lib, i);
    }
    return lib->real[i];
}

/* The generated file defines thunk_lib, THUNK_I_<f> and thunk_t_<f>. */
#define THUNK_REAL(f) ((thunk_t_##f *)thunk_real(&thunk_lib, THUNK_I_##f))
#define THUNK_ON_HOST() thunk_on_host(&thunk_lib)

#endif /* THUNKS_GUEST_H */
