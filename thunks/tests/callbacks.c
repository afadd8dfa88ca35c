/*
 * Callbacks through libcbtest's drop-in (see cbtest.h), for the thunks:
 * deep nesting (a callback that calls the library, 50 levels down);
 * both symbol versions of cbtest_version; guest allocators in a const
 * structure (in read-only memory: the host must not write it), reached
 * as an argument and through a stream, and passed by value into a
 * handle that keeps them; structures passed and returned by value; and
 * a function kept in the guest; and a callback from a thread of the
 * library's own: with "host", the guest function must not run, the
 * library gets 0 and nothing crashes (check.sh checks the message on
 * stderr); with "fallback", the guest's own library runs it.
 *
 * The exit status is the verdict.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cbtest.h"

static int calls;

static int count(void *ctx, int value)
{
    calls++;
    return value + *(int *)ctx;
}

static int nest(void *ctx, int value)
{
    int *depth = ctx;

    if (--*depth > 0) {
        return 1 + cbtest_call(nest, ctx, 1);
    }
    return 1;
}

struct counts {
    int allocs, frees;
};

static void *count_alloc(void *opaque, unsigned long size)
{
    ((struct counts *)opaque)->allocs++;
    return malloc(size);
}

static void count_free(void *opaque, void *ptr)
{
    ((struct counts *)opaque)->frees++;
    free(ptr);
}

static struct counts counts;
static const struct cbtest_allocator allocator = {
    count_alloc, count_free, &counts
};

static int fail(const char *what)
{
    fprintf(stderr, "callbacks: %s (%d allocations, %d frees)\n", what,
            counts.allocs, counts.frees);
    return 1;
}

/* Guest allocators held in structures, the ways cbtest.h passes them. */
static int allocators(void)
{
    struct cbtest_stream s = { 0, &allocator, NULL };
    struct cbtest_mem mem = { count_alloc, count_free, &counts };
    struct cbtest_handle *h;
    struct cbtest_bounds b = cbtest_get_bounds(4);

    if (cbtest_allocate(&allocator, 3) != 3 || counts.allocs != 3 ||
        counts.frees != 3) {
        return fail("cbtest_allocate did not use the guest's allocator");
    }
    if (cbtest_stream_init(&s) || s.allocator != &allocator ||
        cbtest_stream_work(&s, 5) != 5 || s.total != 5 ||
        s.allocator != &allocator || counts.allocs != 9) {
        return fail("the stream did not allocate through the guest, or "
                    "its allocator pointer was not given back");
    }
    cbtest_stream_end(&s);
    if (counts.frees != 9 || s.state) {
        return fail("cbtest_stream_end did not free through the guest");
    }
    h = cbtest_create(mem);
    if (!h || counts.allocs != 10 || cbtest_handle_work(h, 2) != 2) {
        return fail("cbtest_create or the handle did not allocate through "
                    "the guest");
    }
    cbtest_destroy(h);
    if (counts.allocs != 12 || counts.frees != 12) {
        return fail("the handle did not keep the guest's allocator");
    }
    if (b.error || b.lower != -4 || b.upper != 4 || b.scale != 2.0 ||
        cbtest_width(b) != 16.0) {
        return fail("structures by value came back wrong");
    }
    return 0;
}

int main(int argc, char **argv)
{
    int on_host = argc > 1 && !strcmp(argv[1], "host");
    int one = 1, depth = 50, thread;
    int (*old)(void), (*internal)(int);

    if (cbtest_call(count, &one, 100) != 100 * 99 / 2 + 100 || calls != 100) {
        fprintf(stderr, "callbacks: cbtest_call gave a wrong sum\n");
        return 1;
    }
    if (cbtest_call(nest, &depth, 1) != 50 || depth != 0) {
        fprintf(stderr, "callbacks: nesting 50 deep failed\n");
        return 1;
    }
    old = (int (*)(void))dlvsym(RTLD_DEFAULT, "cbtest_version", "CBTEST_1.0");
    if (cbtest_version() != 2 || !old || old() != 1) {
        fprintf(stderr, "callbacks: the two versions of cbtest_version "
                "are mixed up\n");
        return 1;
    }
    if (allocators()) {
        return 1;
    }
    internal = (int (*)(int))dlsym(RTLD_DEFAULT, "cbtest_internal");
    if (!internal || internal(5) != 15) {
        fprintf(stderr, "callbacks: cbtest_internal, kept in the guest, "
                "failed\n");
        return 1;
    }
    calls = 0;
    thread = cbtest_call_thread(count, &one);
    if (on_host ? thread != 0 || calls != 0 : thread != 2 || calls != 1) {
        fprintf(stderr, "callbacks: the callback from a thread of the "
                "library's gave %d after %d calls\n", thread, calls);
        return 1;
    }
    printf("callbacks: ok\n");
    return 0;
}
