/*
 * Host memory that dlcall hands out, read and written by any guest
 * instruction (contrib/plugins/dlcall.c)
 *
 * The strings dlcall returns (a host attribute, an error message) live
 * in host memory.  The guest must be able to read them with its C
 * library's optimized string routines, which on some guests use vector
 * loads that QEMU checks against its table of guest pages before it
 * performs them (SVE first-fault loads on aarch64).  It must be able
 * to write host memory a host library gives it, and to pass both to its
 * own system calls, as it can any memory its plain loads and stores
 * reach.  Each result is compared with what plain byte loads and stores
 * see.  Built with DLCALL_TEST_SVE (aarch64) or DLCALL_TEST_RVV
 * (riscv64), it also runs vector loads and stores, first-fault ones
 * included, itself.
 *
 * DLCALL_HOST_LIBS in the environment names the folder of the test's
 * host library, libdlcall-host.so, which has a buffer to write to.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "dlcall.h"
#include "dlcall-tests.h"

/* A copy of the string at s, made with plain byte loads. */
static char *plain_copy(const char *s)
{
    const volatile char *p = s; /* volatile: one plain load per byte */
    size_t len = 0;
    char *copy;

    while (p[len]) {
        len++;
    }
    copy = malloc(len + 1);
    for (size_t i = 0; i <= len; i++) {
        copy[i] = p[i];
    }
    return copy;
}

/*
 * Vector loads and stores: load up to a vector of bytes from src with
 * a first-fault load, store what was loaded to dst; returns how many.
 */
#if defined(DLCALL_TEST_SVE)
static long vector_copy(void *dst, const void *src)
{
    long n;

    __asm__ volatile(".arch_extension sve\n\t"
                     "ptrue p0.b\n\t"
                     "setffr\n\t"
                     "ldff1b {z0.b}, p0/z, [%1]\n\t"
                     "rdffr p1.b, p0/z\n\t"
                     "st1b {z0.b}, p1, [%2]\n\t"
                     "cntp %0, p0, p1.b"
                     : "=r"(n) : "r"(src), "r"(dst)
                     : "p0", "p1", "z0", "memory");
    return n;
}
#elif defined(DLCALL_TEST_RVV)
static long vector_copy(void *dst, const void *src)
{
    long n;

    __asm__ volatile(".option push\n\t"
                     ".option arch, +v\n\t"
                     "vsetvli t0, zero, e8, m1, ta, ma\n\t"
                     "vle8ff.v v8, (%1)\n\t"
                     "csrr %0, vl\n\t"
                     "vse8.v v8, (%2)\n\t"
                     ".option pop"
                     : "=r"(n) : "r"(src), "r"(dst) : "t0", "memory");
    return n;
}
#else
#define vector_copy(dst, src) 0L
#endif

/* Read the host string s every way the C library offers. */
static void read_host_string(const char *s)
{
    char *ref = plain_copy(s);
    size_t len = strlen(ref);
    char buf[512], *dup;
    long n;

    check(len > 1 && len < 256);
    check(strlen(s) == len);
    check(strnlen(s, 1000) == len);
    check(strcmp(s, ref) == 0);
    check(strncmp(s, ref, len + 1) == 0);
    check(memcmp(s, ref, len + 1) == 0);
    check(strchr(s, ref[1]) == s + (strchr(ref, ref[1]) - ref));
    check(strrchr(s, ref[len - 1]) == s + len - 1);
    check(strchr(s, 0) == s + len);
    check(memchr(s, 0, len + 1) == s + len);
    check(strstr(s, ref + 1) == s + 1);
    check(strspn(s, ref) == len);
    check(strcspn(s, "") == len);

    memset(buf, 0, sizeof(buf));
    check(strcpy(buf, s) == buf && strcmp(buf, ref) == 0);
    memset(buf, 0, sizeof(buf));
    check(memcpy(buf, s, len + 1) == buf && strcmp(buf, ref) == 0);
    dup = strdup(s);
    check(dup && strcmp(dup, ref) == 0);
    free(dup);
    check(snprintf(buf, sizeof(buf), "[%s]", s) == len + 2);
    check(strncmp(buf + 1, ref, len) == 0 && buf[len + 1] == ']');
    check(printf("host string: %s\n", s) == len + 14);

    /* The string and its NUL sit in one readable host page, at least. */
    memset(buf, 0, sizeof(buf));
    n = vector_copy(buf, s);
#if defined(DLCALL_TEST_SVE) || defined(DLCALL_TEST_RVV)
    check(n >= 1);
#endif
    for (long i = 0; i < n && i <= len; i++) {
        check(buf[i] == ref[i]);
    }
    free(ref);
}

/* Write host memory a host library gives out, and read it back. */
static void write_host_memory(char *host)
{
    const volatile char *p = host; /* volatile: one access per byte */
    char buf[512];
    long n;

    memset(host, 'a', 300);
    for (int i = 0; i < 300; i++) {
        check(p[i] == 'a');
    }
    strcpy(host, "written by the guest into host memory");
    check(strcmp((char *)p, "written by the guest into host memory") == 0);
    memcpy(host + 1000, host, 100);
    check(memcmp(host + 1000, "written by", 10) == 0);

    memset(buf, 'v', sizeof(buf));
    n = vector_copy(host + 2000, buf);
#if defined(DLCALL_TEST_SVE) || defined(DLCALL_TEST_RVV)
    check(n >= 1);
#endif
    for (long i = 0; i < n; i++) {
        check(p[2000 + i] == 'v');
    }
}

/*
 * The guest's system calls take host memory as its loads and stores do:
 * write(2) from a host string, read(2) into a host buffer.  Memory that
 * neither the guest nor the host has mapped still gives EFAULT.
 */
static void syscalls_on_host_memory(const char *s, char *host)
{
    size_t len = strlen(s);
    char buf[512];
    int fds[2];
    void *hole;

    /* Non-blocking: a write that failed must not leave a read waiting. */
    if (pipe2(fds, O_NONBLOCK)) {
        check(!"pipe2");
        return;
    }
    check(write(fds[1], s, len + 1) == len + 1);
    memset(buf, 0, sizeof(buf));
    check(read(fds[0], buf, sizeof(buf)) == len + 1);
    check(strcmp(buf, s) == 0);

    check(write(fds[1], "from the pipe", 14) == 14);
    memset(host, 0, 64);
    check(read(fds[0], host, 64) == 14);
    check(strcmp(host, "from the pipe") == 0);

    /* A page nobody has mapped: a guest page, unmapped again. */
    hole = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    check(hole != MAP_FAILED && munmap(hole, 4096) == 0);
    errno = 0;
    check(write(fds[1], hole, 16) == -1 && errno == EFAULT);
    close(fds[0]);
    close(fds[1]);
}

int main(void)
{
    const char *dir = getenv("DLCALL_HOST_LIBS");
    const char *value = NULL, *error = NULL;
    void *lib = NULL, *missing = NULL, *buffer = NULL;
    char path[4096];
    int ret = -1;

    check(dlcall_get_host_attribute("emu", &value) == 0 && value);
    if (value) {
        read_host_string(value);
    }

    check(dlcall_load_library("libdlcall-test-missing.so", RTLD_NOW,
                              &missing) == 0 && !missing);
    check(dlcall_get_library_error(&error) == 0 && error);
    if (error) {
        read_host_string(error);
    }

    if (!dir) {
        fprintf(stderr, "FAIL: DLCALL_HOST_LIBS is not set\n");
        return EXIT_FAILURE;
    }
    snprintf(path, sizeof(path), "%s/libdlcall-host.so", dir);
    check(dlcall_load_library(path, RTLD_NOW, &lib) == 0 && lib);
    check(dlcall_get_proc_address(lib, "dlcall_host_buffer", &buffer) == 0 &&
          buffer);
    if (buffer) {
        write_host_memory(buffer);
        if (value) {
            syscalls_on_host_memory(value, buffer);
        }
    }
    check(dlcall_free_library(lib, &ret) == 0 && ret == 0);

    return failures ? EXIT_FAILURE : EXIT_SUCCESS;
}
