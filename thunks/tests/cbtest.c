/*
 * libcbtest: see cbtest.h.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <pthread.h>

#include "cbtest.h"

int cbtest_call(cbtest_fn fn, void *ctx, int n)
{
    int sum = 0;

    for (int i = 0; i < n; i++) {
        sum += fn(ctx, i);
    }
    return sum;
}

struct call {
    cbtest_fn fn;
    void *ctx;
    int result;
};

static void *call_on_thread(void *arg)
{
    struct call *c = arg;

    c->result = c->fn(c->ctx, 1);
    return NULL;
}

int cbtest_call_thread(cbtest_fn fn, void *ctx)
{
    struct call c = { fn, ctx, -1 };
    pthread_t thread;

    if (pthread_create(&thread, NULL, call_on_thread, &c)) {
        return -1;
    }
    pthread_join(thread, NULL);
    return c.result;
}

int cbtest_version(void)
{
    return 2;
}

int cbtest_allocate(const struct cbtest_allocator *a, int n)
{
    for (int i = 0; i < n; i++) {
        a->free(a->opaque, a->alloc(a->opaque, 16));
    }
    return n;
}

int cbtest_stream_init(struct cbtest_stream *s)
{
    s->total = 0;
    s->state = s->allocator->alloc(s->allocator->opaque, 64);
    return s->state ? 0 : -1;
}

int cbtest_stream_work(struct cbtest_stream *s, int n)
{
    s->total += cbtest_allocate(s->allocator, n);
    return n;
}

void cbtest_stream_end(struct cbtest_stream *s)
{
    s->allocator->free(s->allocator->opaque, s->state);
    s->state = 0;
}

struct cbtest_handle {
    struct cbtest_mem mem;
};

struct cbtest_handle *cbtest_create(struct cbtest_mem mem)
{
    struct cbtest_handle *h = mem.alloc(mem.opaque, sizeof(*h));

    if (h) {
        h->mem = mem;
    }
    return h;
}

int cbtest_handle_work(struct cbtest_handle *h, int n)
{
    for (int i = 0; i < n; i++) {
        h->mem.free(h->mem.opaque, h->mem.alloc(h->mem.opaque, 16));
    }
    return n;
}

void cbtest_destroy(struct cbtest_handle *h)
{
    h->mem.free(h->mem.opaque, h);
}

struct cbtest_bounds cbtest_get_bounds(int which)
{
    struct cbtest_bounds b = { 0, -which, which, which / 2.0 };

    return b;
}

double cbtest_width(const struct cbtest_bounds b)
{
    return (b.upper - b.lower) * b.scale;
}

/* Exported, but in no header: the drop-in keeps it in the guest. */
int cbtest_internal(int x);
int cbtest_internal(int x)
{
    return x * 3;
}

int cbtest_version_1(void);
int cbtest_version_1(void)
{
    return 1;
}
__asm__(".symver cbtest_version_1, cbtest_version@CBTEST_1.0");
