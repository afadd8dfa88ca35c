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

int cbtest_version_1(void);
int cbtest_version_1(void)
{
    return 1;
}
__asm__(".symver cbtest_version_1, cbtest_version@CBTEST_1.0");
