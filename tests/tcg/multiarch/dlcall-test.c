/*
 * Test the dlcall plugin (contrib/plugins/dlcall.c)
 *
 * Runs with the plugin loaded.  DLCALL_SYSCALL in the environment is
 * the syscall_num the plugin was given, in decimal; without it the
 * test relies on dlcall.h's default, which proves that the plugin's
 * default is the same.
 * Every operation is checked on its success and its failure paths,
 * using the host's C library.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static long syscall_num;
#define DLCALL_SYSCALL_NUM syscall_num
#include "dlcall.h"
#include "dlcall-tests.h"

/* The thread's pending dlcall error, or NULL; checks the call itself. */
static const char *last_error(void)
{
    const char *error = NULL;

    check(dlcall_get_library_error(&error) == 0);
    return error;
}

static void test_host_attribute(void)
{
    const char *value = NULL;

    check(dlcall_get_host_attribute("emu", &value) == 0);
    check(value && strcmp(value, "qemu") == 0);

    value = "unchanged";
    check(dlcall_get_host_attribute("no-such-key", &value) == 0);
    check(value == NULL);

    check(dlcall_available());
}

static void test_library(void)
{
    const char *greeting = "written by the host's strcpy";
    char buf[64] = "";
    void *libc = NULL, *missing = (void *)-1, *strcpy_fn = NULL, *absent;
    const char *error;
    int ret = -1;

    /* No error is pending before anything failed. */
    check(last_error() == NULL);

    check(dlcall_load_library("libdlcall-test-missing.so", RTLD_NOW,
                              &missing) == 0);
    check(missing == NULL);
    error = last_error();
    check(error && strstr(error, "libdlcall-test-missing.so"));
    /* Reported once, as dlerror() does. */
    check(last_error() == NULL);

    check(dlcall_load_library("libc.so.6", RTLD_NOW, &libc) == 0);
    check(libc != NULL);
    if (!libc) {
        return;
    }

    check(dlcall_get_proc_address(libc, "strcpy", &strcpy_fn) == 0);
    check(strcpy_fn != NULL);

    absent = (void *)-1;
    check(dlcall_get_proc_address(libc, "dlcall_no_such_symbol",
                                  &absent) == 0);
    check(absent == NULL);
    error = last_error();
    check(error && strstr(error, "dlcall_no_such_symbol"));

    /* The host function writes into guest memory. */
    if (strcpy_fn) {
        check(dlcall_invoke_proc(strcpy_fn, buf, (void *)greeting) == 0);
        check(strcmp(buf, greeting) == 0);
    }

    check(dlcall_free_library(libc, &ret) == 0);
    check(ret == 0);
    check(last_error() == NULL);
}

static void test_bad_input(void)
{
    void *unmapped, *handle = (void *)-1, *entry = (void *)-1;
    const char *value = "unchanged";
    const char *error;
    int ret = 12345;

    unmapped = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
                    -1, 0);
    check(unmapped != MAP_FAILED);
    munmap(unmapped, 4096);

    check(dlcall_op(99, 0, 0, 0) == -EINVAL);
    check(dlcall_op(-1, 0, 0, 0) == -EINVAL);

    /* NULL or unmapped operands fail with nothing written. */
    check(dlcall_get_host_attribute(NULL, &value) == -EFAULT);
    check(dlcall_get_host_attribute(unmapped, &value) == -EFAULT);
    check(strcmp(value, "unchanged") == 0);
    check(dlcall_get_host_attribute("emu", NULL) == -EFAULT);
    check(dlcall_get_host_attribute("emu", unmapped) == -EFAULT);
    check(dlcall_load_library("libc.so.6", RTLD_NOW, unmapped) == -EFAULT);
    check(handle == (void *)-1);
    check(dlcall_get_proc_address(RTLD_DEFAULT, unmapped, &entry) == -EFAULT);
    check(dlcall_get_proc_address(RTLD_DEFAULT, "strcpy", NULL) == -EFAULT);
    check(entry == (void *)-1);
    check(dlcall_free_library(RTLD_DEFAULT, NULL) == -EFAULT);
    check(dlcall_get_library_error(unmapped) == -EFAULT);
    check(dlcall_invoke_proc(NULL, NULL, NULL) == -EFAULT);

    /* dlsym's special handles work; other unknown handles are refused. */
    check(dlcall_get_proc_address(RTLD_DEFAULT, "strcpy", &entry) == 0);
    check(entry != NULL);
    check(dlcall_get_proc_address(&ret, "strcpy", &entry) == 0);
    check(entry == NULL);
    error = last_error();
    check(error && strstr(error, "not a handle"));

    check(dlcall_free_library(&ret, &ret) == 0);
    check(ret != 0);
    error = last_error();
    check(error && strstr(error, "not a handle"));
}

/* Guests written for upstream QEMU's dlcall plugin rely on these. */
static void test_compatibility(void)
{
    void *self = NULL, *fn = NULL, *dl_open = NULL, *dl_sym = NULL;
    const char *error;
    int ret = -1;

    /* A NULL path gives the main program, as for dlopen(). */
    check(dlcall_load_library(NULL, RTLD_NOW, &self) == 0);
    check(self != NULL);
    check(dlcall_get_proc_address(self, "strcpy", &fn) == 0 && fn);
    check(dlcall_free_library(self, &ret) == 0 && ret == 0);

    /*
     * A dl function that fails in host code run by INVOKE_PROC leaves
     * its message for GET_LIBRARY_ERROR, once, as dlerror() would.
     */
    check(dlcall_get_proc_address(RTLD_DEFAULT, "dlsym", &dl_sym) == 0);
    check(dlcall_get_proc_address(RTLD_DEFAULT, "dlopen", &dl_open) == 0);
    check(dl_sym && dl_open);
    if (!dl_sym || !dl_open) {
        return;
    }
    check(dlcall_invoke_proc(dl_sym, RTLD_DEFAULT,
                             "dlcall_invoked_no_such_symbol") == 0);
    error = last_error();
    check(error && strstr(error, "dlcall_invoked_no_such_symbol"));
    check(last_error() == NULL);

    /* The newer failure is the one reported, whichever made it. */
    check(dlcall_load_library("libdlcall-test-missing.so", RTLD_NOW,
                              &fn) == 0 && fn == NULL);
    check(dlcall_invoke_proc(dl_open, "libdlcall-invoked-missing.so",
                             (void *)(intptr_t)RTLD_NOW) == 0);
    error = last_error();
    check(error && strstr(error, "libdlcall-invoked-missing.so"));
    check(last_error() == NULL);
}

int main(void)
{
    const char *num = getenv("DLCALL_SYSCALL");

    syscall_num = num ? atol(num) : DLCALL_DEFAULT_SYSCALL;

    test_host_attribute();
    test_library();
    test_bad_input();
    test_compatibility();

    return failures ? EXIT_FAILURE : EXIT_SUCCESS;
}
