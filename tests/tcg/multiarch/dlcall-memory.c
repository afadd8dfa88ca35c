/*
 * dlcall's pointer operands, treated as the kernel treats a system
 * call's (contrib/plugins/dlcall.c)
 *
 * Every out pointer the guest could not write itself, and every string
 * it could not read, must give -EFAULT with nothing written: unmapped
 * memory, a value straddling the end of a mapping, read-only pages,
 * .rodata, .text, execute-only and guard pages, and file mappings past
 * the end of their file, where a plain access raises SIGBUS.  The same
 * file mappings within the file work.  Strings up to 64 KiB, NUL
 * included, are read wherever they start; longer ones are refused.
 *
 * DLCALL_HOST_LIBS in the environment names the folder of the test's
 * host library, libdlcall-host.so, which has a symbol name longer than
 * two pages.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "dlcall.h"
#include "dlcall-tests.h"

#define PAGE 4096
#define PATTERN 0x5a
#define MAX_STRING DLCALL_MAX_STRING
#define LONG_NAME_LEN 10012 /* "dlcall_long_" and 10000 times 'x' */

static const uint64_t rodata_slot[2] = { 1, 2 };

static void *map(size_t len, int prot, int flags, int fd)
{
    void *p = mmap(NULL, len, prot, flags | (fd < 0 ? MAP_ANONYMOUS : 0),
                   fd, 0);

    if (p == MAP_FAILED) {
        perror("mmap");
        exit(EXIT_FAILURE);
    }
    return p;
}

/*
 * Each operation with an out pointer, run with out as that pointer;
 * returns the system call's result.  The operations' own failures
 * would leave a message, so any message is taken afterwards.
 */
enum { OUT_ATTRIBUTE, OUT_LOAD, OUT_PROC, OUT_FREE, OUT_ERROR, OUT_OPS };
static const char *const out_names[] = {
    "GET_HOST_ATTRIBUTE", "LOAD_LIBRARY", "GET_PROC_ADDRESS",
    "FREE_LIBRARY", "GET_LIBRARY_ERROR"
};

static long call_with_out(int op, void *out)
{
    const char *error;
    long r = -1;

    switch (op) {
    case OUT_ATTRIBUTE:
        r = dlcall_get_host_attribute("emu", out);
        break;
    case OUT_LOAD:
        r = dlcall_load_library("libc.so.6", RTLD_NOW, out);
        break;
    case OUT_PROC:
        r = dlcall_get_proc_address(RTLD_DEFAULT, "strcpy", out);
        break;
    case OUT_FREE:
        /* A handle that is not one: the result must still be written. */
        r = dlcall_free_library((void *)&rodata_slot, out);
        break;
    case OUT_ERROR:
        r = dlcall_get_library_error(out);
        break;
    }
    dlcall_get_library_error(&error);
    return r;
}

/* The size of what op writes through its out pointer. */
static size_t out_size(int op)
{
    return op == OUT_FREE ? sizeof(int) : sizeof(void *);
}

/*
 * out must give -EFAULT for every operation.  If check_len is not 0,
 * the check_len bytes at check (out, or where out straddles into) must
 * keep the pattern the caller put there.
 */
static void refused(const char *what, void *out, void *check,
                    size_t check_len)
{
    for (int op = 0; op < OUT_OPS; op++) {
        long r = call_with_out(op, out);

        if (r != -EFAULT) {
            fprintf(stderr, "FAIL: %s with out pointer %s: %ld, not "
                    "-EFAULT\n", out_names[op], what, r);
            failures++;
        }
        for (size_t i = 0; i < check_len; i++) {
            if (((unsigned char *)check)[i] != PATTERN) {
                fprintf(stderr, "FAIL: %s with out pointer %s wrote "
                        "byte %zu\n", out_names[op], what, i);
                failures++;
                break;
            }
        }
    }
}

/*
 * Out pointers straddling end, the end of what the guest can write:
 * -EFAULT for every operation, with nothing written before end.
 */
static void refused_straddling(const char *what, unsigned char *end)
{
    for (int op = 0; op < OUT_OPS; op++) {
        size_t half = out_size(op) / 2;
        long r;

        memset(end - half, PATTERN, half);
        r = call_with_out(op, end - half);
        if (r != -EFAULT) {
            fprintf(stderr, "FAIL: %s with out pointer straddling %s: %ld, "
                    "not -EFAULT\n", out_names[op], what, r);
            failures++;
        }
        for (size_t i = 0; i < half; i++) {
            if ((end - half)[i] != PATTERN) {
                fprintf(stderr, "FAIL: %s with out pointer straddling %s "
                        "wrote its first half\n", out_names[op], what);
                failures++;
                break;
            }
        }
    }
}

/* Out pointers the guest could not write. */
static void test_out_pointers(void)
{
    unsigned char *two = map(2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE,
                             -1);
    unsigned char *ro = map(PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, -1);
    unsigned char *x = map(PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, -1);
    unsigned char text_before[16];

    munmap(two + PAGE, PAGE);
    refused_straddling("the end of a mapping", two + PAGE);

    /* Read-only and execute-only pages, .rodata, .text. */
    memset(ro, PATTERN, PAGE);
    mprotect(ro, PAGE, PROT_READ);
    refused("on a read-only page", ro, ro, 8);

    memset(x, PATTERN, PAGE);
    mprotect(x, PAGE, PROT_EXEC);
    refused("on an execute-only page", x, NULL, 0);
    mprotect(x, PAGE, PROT_READ);
    check(x[0] == PATTERN && x[7] == PATTERN);

    refused("in .rodata", (void *)rodata_slot, NULL, 0);
    check(rodata_slot[0] == 1 && rodata_slot[1] == 2);

    memcpy(text_before, (void *)call_with_out, sizeof(text_before));
    refused("in .text", (void *)call_with_out, NULL, 0);
    check(memcmp(text_before, (void *)call_with_out,
                 sizeof(text_before)) == 0);

    munmap(two, PAGE);
    munmap(ro, PAGE);
    munmap(x, PAGE);
}

/* A thread's stack guard page: just below its lowest usable address. */
static void *guard_thread(void *arg)
{
    pthread_attr_t attr;
    size_t size, guard;
    void *low;

    if (pthread_getattr_np(pthread_self(), &attr) ||
        pthread_attr_getstack(&attr, &low, &size) ||
        pthread_attr_getguardsize(&attr, &guard)) {
        fprintf(stderr, "FAIL: no stack attributes\n");
        failures++;
        return NULL;
    }
    if (guard == 0) {
        fprintf(stderr, "FAIL: the thread has no guard page\n");
        failures++;
    } else {
        refused("in a stack guard page", (char *)low - 8, NULL, 0);
    }
    pthread_attr_destroy(&attr);
    return NULL;
}

static void test_guard_page(void)
{
    pthread_t thread;

    if (pthread_create(&thread, NULL, guard_thread, NULL) == 0) {
        pthread_join(thread, NULL);
    } else {
        fprintf(stderr, "FAIL: pthread_create\n");
        failures++;
    }
}

/* A file of one page holding "emu", in the current directory. */
static int small_file(void)
{
    char name[] = "dlcall-memory-XXXXXX";
    char data[PAGE] = "emu";
    int fd = mkstemp(name);

    if (fd < 0 || write(fd, data, PAGE) != PAGE) {
        perror("dlcall-memory: a file to map");
        exit(EXIT_FAILURE);
    }
    unlink(name);
    return fd;
}

/*
 * File mappings: within the file they work like any memory; past its
 * end, where a plain access raises SIGBUS, they give -EFAULT and QEMU
 * must survive.
 */
static void test_file_mapping(int flags, const char *kind)
{
    int fd = small_file();
    unsigned char *m = map(2 * PAGE, PROT_READ | PROT_WRITE, flags, fd);
    unsigned char *past = m + PAGE;
    const char *value = NULL;
    void *entry = NULL;
    char what[64];

    /* Within the file: a string and out pointers. */
    check(dlcall_get_host_attribute((char *)m, (void *)(m + 64)) == 0);
    memcpy(&value, m + 64, sizeof(value));
    check(value && strcmp(value, "qemu") == 0);
    check(dlcall_get_proc_address(RTLD_DEFAULT, "strcpy",
                                  (void *)(m + 128)) == 0);
    memcpy(&entry, m + 128, sizeof(entry));
    check(entry != NULL);

    /* Past the end: a string, an out pointer, and one straddling it. */
    check(dlcall_get_host_attribute((char *)past, (void *)(m + 64)) ==
          -EFAULT);
    check(dlcall_load_library((char *)past, RTLD_NOW, (void *)(m + 64)) ==
          -EFAULT);
    snprintf(what, sizeof(what), "past the end of a %s file mapping", kind);
    refused(what, past, NULL, 0);
    snprintf(what, sizeof(what), "the end of a %s file", kind);
    refused_straddling(what, past);

    munmap(m, 2 * PAGE);
    close(fd);
}

/* Strings the guest could not read. */
static void test_strings(void)
{
    unsigned char *two = map(2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE,
                             -1);
    unsigned char *none = map(PAGE, PROT_NONE, MAP_PRIVATE, -1);
    const char *value = "unchanged";
    void *handle = (void *)-1;

    munmap(two + PAGE, PAGE);

    check(dlcall_get_host_attribute((char *)none, &value) == -EFAULT);
    check(dlcall_load_library((char *)none, RTLD_NOW, &handle) == -EFAULT);
    check(dlcall_get_proc_address(RTLD_DEFAULT, (char *)none, &handle) ==
          -EFAULT);
    check(strcmp(value, "unchanged") == 0 && handle == (void *)-1);

    /* Running into the unmapped page without a NUL. */
    memset(two, 'e', PAGE);
    check(dlcall_get_host_attribute((char *)two + PAGE - 2, &value) ==
          -EFAULT);
    /* Ending right before it. */
    memcpy(two + PAGE - 4, "emu", 4);
    check(dlcall_get_host_attribute((char *)two + PAGE - 4, &value) == 0);
    check(value && strcmp(value, "qemu") == 0);

    munmap(two, PAGE);
    munmap(none, PAGE);
}

/*
 * Long strings, wherever they start in a page: a symbol name of len
 * characters at offset into a page.  Names up to MAX_STRING - 1 reach
 * dlsym, which does not find them; longer ones are refused.
 */
static void test_long_name(unsigned char *buf, size_t len, size_t offset)
{
    void *entry = (void *)-1;
    const char *error = NULL;
    long r;

    memset(buf + offset, 'y', len);
    buf[offset + len] = 0;
    r = dlcall_get_proc_address(RTLD_DEFAULT, (char *)buf + offset, &entry);
    if (len < MAX_STRING) {
        if (r != 0 || entry != NULL ||
            dlcall_get_library_error(&error) != 0 || !error) {
            fprintf(stderr, "FAIL: a name of %zu characters at offset %zu: "
                    "%ld\n", len, offset, r);
            failures++;
        }
    } else if (r != -ENAMETOOLONG || entry != (void *)-1) {
        fprintf(stderr, "FAIL: a name of %zu characters was not refused: "
                "%ld\n", len, r);
        failures++;
    }
}

static void test_long_strings(void)
{
    size_t size = MAX_STRING + 2 * PAGE;
    unsigned char *buf = map(size, PROT_READ | PROT_WRITE, MAP_PRIVATE, -1);
    static const size_t lens[] = { 4095, 4096, 8191, 8192, MAX_STRING - 1,
                                   MAX_STRING };
    static const size_t offsets[] = { 0, 1, PAGE - 1 };
    const char *dir = getenv("DLCALL_HOST_LIBS");
    char path[4096], *name = (char *)buf + 1;
    void *lib = NULL, *fn = NULL;
    int result = 0, ret = -1;

    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        for (size_t j = 0; j < sizeof(offsets) / sizeof(offsets[0]); j++) {
            test_long_name(buf, lens[i], offsets[j]);
        }
    }

    /* A real symbol with a name longer than two pages. */
    if (!dir) {
        fprintf(stderr, "FAIL: DLCALL_HOST_LIBS is not set\n");
        failures++;
        return;
    }
    snprintf(path, sizeof(path), "%s/libdlcall-host.so", dir);
    check(dlcall_load_library(path, RTLD_NOW, &lib) == 0 && lib);
    strcpy(name, "dlcall_long_");
    memset(name + 12, 'x', LONG_NAME_LEN - 12);
    name[LONG_NAME_LEN] = 0;
    check(dlcall_get_proc_address(lib, name, &fn) == 0 && fn);
    if (fn) {
        check(dlcall_invoke_proc(fn, &result, NULL) == 0 && result == 42);
    }
    check(dlcall_free_library(lib, &ret) == 0 && ret == 0);
    munmap(buf, size);
}

int main(void)
{
    test_out_pointers();
    test_guard_page();
    test_file_mapping(MAP_SHARED, "shared");
    test_file_mapping(MAP_PRIVATE, "private");
    test_strings();
    test_long_strings();
    return failures ? EXIT_FAILURE : EXIT_SUCCESS;
}
