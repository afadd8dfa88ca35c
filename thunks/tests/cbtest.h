/*
 * libcbtest: a tiny library that calls back, for the thunks' tests and
 * benchmarks (built for the host only; its drop-in is generated like
 * zlib's, from this header and thunks/tests/cbtest.thunk).  It passes
 * guest functions the ways the next libraries do: as arguments, in a
 * const structure the library keeps a pointer to (lzma_allocator,
 * through lzma_stream), by value into a handle that keeps them
 * (ZSTD_customMem), and it passes structures by value (ZSTD_bounds).
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

struct cbtest_allocator {
    void *(*alloc)(void *opaque, unsigned long size);
    void (*free)(void *opaque, void *ptr);
    void *opaque;
};

/* Allocates and frees n blocks through *a; returns n. */
int cbtest_allocate(const struct cbtest_allocator *a, int n);

/* A stream the caller owns; the library allocates through allocator. */
struct cbtest_stream {
    unsigned long total;
    const struct cbtest_allocator *allocator;
    void *state;
};

/* Allocates s->state; 0 on success. */
int cbtest_stream_init(struct cbtest_stream *s);
/* Allocates and frees n blocks, adds n to s->total; returns n. */
int cbtest_stream_work(struct cbtest_stream *s, int n);
/* Frees s->state. */
void cbtest_stream_end(struct cbtest_stream *s);

struct cbtest_mem {
    void *(*alloc)(void *opaque, unsigned long size);
    void (*free)(void *opaque, void *ptr);
    void *opaque;
};

/* A handle allocated through mem, which it keeps for the calls on it. */
struct cbtest_handle;
struct cbtest_handle *cbtest_create(struct cbtest_mem mem);
/* Allocates and frees n blocks through the handle's mem; returns n. */
int cbtest_handle_work(struct cbtest_handle *h, int n);
void cbtest_destroy(struct cbtest_handle *h);

struct cbtest_bounds {
    long error;
    int lower, upper;
    double scale;
};

/* { 0, -which, which, which / 2.0 } */
struct cbtest_bounds cbtest_get_bounds(int which);
/* (b.upper - b.lower) * b.scale */
double cbtest_width(const struct cbtest_bounds b);

#endif /* CBTEST_H */
