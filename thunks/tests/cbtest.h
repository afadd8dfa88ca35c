/*
 * libcbtest: a tiny library that calls back, for the thunks' tests and
 * benchmarks (built for the host only; its drop-in is generated like
 * zlib's, from this header and thunks/tests/cbtest.thunk).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef CBTEST_H
#define CBTEST_H

typedef int (*cbtest_fn)(void *ctx, int value);

/* fn(ctx, 0) + fn(ctx, 1) + ... + fn(ctx, n - 1), on this thread. */
int cbtest_call(cbtest_fn fn, void *ctx, int n);

/* fn(ctx, 1), called from a thread of the library's own. */
int cbtest_call_thread(cbtest_fn fn, void *ctx);

/* 2; the old version node CBTEST_1.0 has one that gives 1. */
int cbtest_version(void);

#endif /* CBTEST_H */
