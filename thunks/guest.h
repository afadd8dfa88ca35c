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
 * written by hand in the library's file, or kept in the guest.  real[i]
 * is the guest's own function, filled when the drop-in falls back, at
 * start-up if some functions are kept in the guest, or when a
 * hand-written function first asks for one.
 */
struct thunk_lib {
    const char *soname;             /* "libz.so.1" */
    const char *name;               /* "zlib": the host library is zlib.so */
    uint32_t count, hosted, kept, sigs;
    uint32_t version;               /* 1 + the version function, or 0 */
    const char *const *names, *const *versions, *const *protos;
    const char *sig_digest;
    uint32_t nstandins;             /* see struct thunk_bind */
    void *const *standins;
    void **entry, **real;
    void *resume, *stats;
    void *host_handle, *real_handle;
    const char *real_path;          /* where real_handle came from */
    int started, on_host, debug;
};

void thunk_start(struct thunk_lib *lib) THUNK_HIDDEN;
void thunk_stop(struct thunk_lib *lib) THUNK_HIDDEN;
void thunk_need(struct thunk_lib *lib, unsigned i) THUNK_HIDDEN;
void thunk_signal(struct thunk_lib *lib, struct thunk_req *req) THUNK_HIDDEN;

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

/*
 * A function kept in the guest, whatever its signature (no header may
 * declare it): jump to the guest's own function thunk_realfn[i], loaded
 * at start-up, with every argument register untouched.
 */
void thunk_early(void) THUNK_HIDDEN __attribute__((noreturn));
#define THUNK_STR(x) #x
#if defined(__x86_64__)
#define THUNK_FORWARD(name, i) __asm__( \
    ".text\n.globl " name "\n.type " name ", @function\n" name ":\n" \
    "    movq thunk_realfn+8*" THUNK_STR(i) "(%rip), %r11\n" \
    "    testq %r11, %r11\n    jz thunk_early\n    jmp *%r11\n" \
    ".size " name ", .-" name "\n")
#elif defined(__aarch64__)
#define THUNK_FORWARD(name, i) __asm__( \
    ".text\n.globl " name "\n.type " name ", %function\n" name ":\n" \
    "    adrp x16, thunk_realfn+8*" THUNK_STR(i) "\n" \
    "    ldr x16, [x16, #:lo12:thunk_realfn+8*" THUNK_STR(i) "]\n" \
    "    cbz x16, thunk_early\n    br x16\n" \
    ".size " name ", .-" name "\n")
#elif defined(__riscv)
#define THUNK_FORWARD(name, i) __asm__( \
    ".text\n.globl " name "\n.type " name ", @function\n" name ":\n" \
    "1:  auipc t1, %pcrel_hi(thunk_realfn+8*" THUNK_STR(i) ")\n" \
    "    ld t1, %pcrel_lo(1b)(t1)\n    beqz t1, 2f\n    jr t1\n" \
    "2:  tail thunk_early\n.size " name ", .-" name "\n")
#elif defined(__powerpc64__)
#define THUNK_FORWARD(name, i) __asm__( \
    ".text\n.globl " name "\n.type " name ", @function\n" name ":\n" \
    "0:  addis 2, 12, .TOC.-0b@ha\n    addi 2, 2, .TOC.-0b@l\n" \
    "    .localentry " name ", .-" name "\n" \
    "    addis 12, 2, thunk_realfn+8*" THUNK_STR(i) "@toc@ha\n" \
    "    ld 12, thunk_realfn+8*" THUNK_STR(i) "@toc@l(12)\n" \
    "    cmpdi 12, 0\n    beq 1f\n    mtctr 12\n    bctr\n" \
    "1:  b thunk_early\n    nop\n.size " name ", .-" name "\n")
#endif

/* The generated file defines thunk_lib, THUNK_I_<f> and thunk_t_<f>. */
#define THUNK_REAL(f) ((thunk_t_##f *)thunk_real(&thunk_lib, THUNK_I_##f))
#define THUNK_ON_HOST() thunk_on_host(&thunk_lib)

#endif /* THUNKS_GUEST_H */
