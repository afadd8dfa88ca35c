/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * dlcall.h - guest side of the dlcall plugin (contrib/plugins/dlcall.c)
 *
 * Include this in a program built for a 64-bit little-endian Linux
 * guest (x86_64, aarch64, riscv64, ppc64le) to call functions of the
 * host's libraries when the program runs under qemu-user with
 * "-plugin libdlcall.so".  It is the one place guests take the
 * operation IDs and the default system call number from; it needs
 * nothing but the compiler and the guest's C library headers.
 *
 * Each function issues the dlcall system call and returns its result:
 * 0 when the operation ran (its own result is in the out pointer),
 * -EINVAL for an unknown operation, -EFAULT for a pointer operand the
 * guest could not use in a system call of its own (NULL, unmapped,
 * protected against the access, a file mapping past the end of its
 * file: nothing is then written and nothing done), -ENAMETOOLONG for
 * a string longer than DLCALL_MAX_STRING bytes, NUL included, and
 * -ENOSYS when dlcall is not there (natively, or under QEMU without the
 * plugin) or cannot serve this guest.  Another thread that unmaps an
 * out pointer during a call can get the operation done and -EFAULT
 * returned; a value is never written in part.
 *
 * The plugin listens on DLCALL_DEFAULT_SYSCALL unless it was loaded
 * with syscall_num=N; then define DLCALL_SYSCALL_NUM to N (or to a
 * variable holding it) before including this header.
 *
 * Typical use:
 *
 *     void *zlib, *fn;
 *
 *     if (dlcall_available() &&
 *         dlcall_load_library("libz.so.1", RTLD_NOW, &zlib) == 0 && zlib &&
 *         dlcall_get_proc_address(zlib, "my_wrapper", &fn) == 0 && fn) {
 *         dlcall_invoke_proc(fn, &args, &result);
 *     }
 *
 * Host functions called by dlcall_invoke_proc() take two pointers and
 * return nothing: void f(void *arg1, void *arg2).  Pointers the plugin
 * hands back (handles, functions, strings) are host pointers; the guest
 * can read the strings with any instruction or C library function and
 * pass them to its own system calls.
 */

#ifndef DLCALL_H
#define DLCALL_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define DLCALL_DEFAULT_SYSCALL 4096

/* The longest string dlcall takes, in bytes, NUL included. */
#define DLCALL_MAX_STRING (64 * 1024)

#ifndef DLCALL_SYSCALL_NUM
#define DLCALL_SYSCALL_NUM DLCALL_DEFAULT_SYSCALL
#endif

enum dlcall_op {
    DLCALL_GET_HOST_ATTRIBUTE = 0,
    DLCALL_LOAD_LIBRARY = 1,
    DLCALL_GET_PROC_ADDRESS = 2,
    DLCALL_FREE_LIBRARY = 3,
    DLCALL_GET_LIBRARY_ERROR = 4,
    DLCALL_INVOKE_PROC = 5,
};

/* Issue system call num with a1..a4; returns its result (or -errno). */
static inline long dlcall_syscall(long num, long a1, long a2, long a3,
                                  long a4)
{
#if UINTPTR_MAX != 0xffffffffffffffffu
#error "dlcall serves 64-bit guests only"
#elif defined(__x86_64__)
    register long r10 __asm__("r10") = a4;
    long ret;

    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(num), "D"(a1), "S"(a2), "d"(a3), "r"(r10)
                     : "rcx", "r11", "memory");
    return ret;
#elif defined(__aarch64__) && defined(__AARCH64EL__)
    register long x8 __asm__("x8") = num;
    register long x0 __asm__("x0") = a1;
    register long x1 __asm__("x1") = a2;
    register long x2 __asm__("x2") = a3;
    register long x3 __asm__("x3") = a4;

    __asm__ volatile("svc #0"
                     : "+r"(x0)
                     : "r"(x8), "r"(x1), "r"(x2), "r"(x3)
                     : "memory");
    return x0;
#elif defined(__riscv) && __riscv_xlen == 64
    register long a7_ __asm__("a7") = num;
    register long a0_ __asm__("a0") = a1;
    register long a1_ __asm__("a1") = a2;
    register long a2_ __asm__("a2") = a3;
    register long a3_ __asm__("a3") = a4;

    __asm__ volatile("ecall"
                     : "+r"(a0_)
                     : "r"(a7_), "r"(a1_), "r"(a2_), "r"(a3_)
                     : "memory");
    return a0_;
#elif defined(__powerpc64__) && defined(__LITTLE_ENDIAN__)
    /* The kernel sets cr0.SO on failure and returns a positive errno. */
    register long r0 __asm__("r0") = num;
    register long r3 __asm__("r3") = a1;
    register long r4 __asm__("r4") = a2;
    register long r5 __asm__("r5") = a3;
    register long r6 __asm__("r6") = a4;
    register long r7 __asm__("r7");
    register long r8 __asm__("r8");

    __asm__ volatile("sc\n\t"
                     "bns+ 1f\n\t"
                     "neg %1, %1\n"
                     "1:"
                     : "+r"(r0), "+r"(r3), "+r"(r4), "+r"(r5), "+r"(r6),
                       "=r"(r7), "=r"(r8)
                     :
                     : "r9", "r10", "r11", "r12", "cr0", "ctr", "memory");
    return r3;
#else
#error "dlcall.h has no system call stub for this guest"
#endif
}

static inline long dlcall_op(enum dlcall_op op, const void *a2,
                             const void *a3, const void *a4)
{
    return dlcall_syscall(DLCALL_SYSCALL_NUM, op, (long)(uintptr_t)a2,
                          (long)(uintptr_t)a3, (long)(uintptr_t)a4);
}

/* *value = the host's value for key ("emu" gives "qemu"), or NULL. */
static inline long dlcall_get_host_attribute(const char *key,
                                             const char **value)
{
    return dlcall_op(DLCALL_GET_HOST_ATTRIBUTE, key, value, 0);
}

/* *handle = dlopen(path, flags) on the host (NULL path: the program). */
static inline long dlcall_load_library(const char *path, int flags,
                                       void **handle)
{
    return dlcall_op(DLCALL_LOAD_LIBRARY, path, (void *)(intptr_t)flags,
                     handle);
}

/* *entry = dlsym(handle, name) on the host, or NULL. */
static inline long dlcall_get_proc_address(void *handle, const char *name,
                                           void **entry)
{
    return dlcall_op(DLCALL_GET_PROC_ADDRESS, handle, name, entry);
}

/* *ret = dlclose(handle) on the host: 0 on success. */
static inline long dlcall_free_library(void *handle, int *ret)
{
    return dlcall_op(DLCALL_FREE_LIBRARY, handle, ret, 0);
}

/*
 * *error = this thread's last error message, once, or NULL: from a
 * dlcall operation, or from the host's dlerror() after a dl function
 * failed in host code this thread ran with dlcall_invoke_proc().
 */
static inline long dlcall_get_library_error(const char **error)
{
    return dlcall_op(DLCALL_GET_LIBRARY_ERROR, error, 0, 0);
}

/* Call proc(arg1, arg2) on the host; proc comes from get_proc_address. */
static inline long dlcall_invoke_proc(void *proc, void *arg1, void *arg2)
{
    return dlcall_op(DLCALL_INVOKE_PROC, proc, arg1, arg2);
}

/*
 * Is dlcall there?  Without the plugin the system call fails with
 * -ENOSYS and has no other effect, natively as under QEMU.
 */
static inline bool dlcall_available(void)
{
    const char *value = NULL;

    return dlcall_get_host_attribute("emu", &value) == 0 && value &&
           strcmp(value, "qemu") == 0;
}

#endif /* DLCALL_H */
