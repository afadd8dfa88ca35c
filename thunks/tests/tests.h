/*
 * What the thunks' tests of the libraries' callbacks share: fail(),
 * text to compress, and the test program's own malloc, calloc, realloc
 * and free (glibc's, through __libc_*), which remember the blocks they
 * hand out while watching is on.  A library that must use "the guest's
 * malloc or free" (for the NULL half of an allocator pair) comes here;
 * a block of the host's heap would not be known.  A test's own
 * allocator takes its blocks with heap_mine(), and the free() of such
 * a block (by the test, or by the library for the test) is counted in
 * heap_mine_freed.  Include it in the one file of a test program.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef THUNKS_TESTS_H
#define THUNKS_TESTS_H

#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Say what is wrong and end the test. */
static inline void fail(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "%s: ", program_invocation_short_name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

/* size bytes of text-like input, different for each seed. */
static inline unsigned char *make_text(size_t size, unsigned seed)
{
    static const char *const words[] = {
        "thunk ", "guest ", "host ", "callback ", "allocator ", "stream ",
        "thread ", "\n",
    };
    unsigned char *in = malloc(size);
    size_t n = 0;

    while (n < size) {
        const char *w = words[(seed = seed * 1103515245 + 12345) >> 16 & 7];
        size_t len = strlen(w);

        memcpy(in + n, w, len < size - n ? len : size - n);
        n += len;
    }
    return in;
}

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t size);
extern void __libc_free(void *p);

#define HEAP_SLOTS (1 << 16)

/* Open addressing; a freed slot becomes a tombstone. */
#define HEAP_GONE ((void *)1)
static void *heap_live[HEAP_SLOTS];
static char heap_ours[HEAP_SLOTS];
static int heap_watching;
static unsigned long heap_mine_freed;
static pthread_mutex_t heap_lock = PTHREAD_MUTEX_INITIALIZER;

static inline unsigned heap_slot(void *p)
{
    return (unsigned)(((uintptr_t)p >> 4) * 2654435761u) % HEAP_SLOTS;
}

static inline void heap_add(void *p, int ours)
{
    unsigned i = heap_slot(p);

    pthread_mutex_lock(&heap_lock);
    while (heap_live[i] && heap_live[i] != HEAP_GONE) {
        i = (i + 1) % HEAP_SLOTS;
    }
    heap_live[i] = p;
    heap_ours[i] = ours;
    pthread_mutex_unlock(&heap_lock);
}

/* Was p handed out by malloc while watching (and not freed)? */
static inline int heap_find(void *p, int remove)
{
    unsigned i = heap_slot(p);
    int found = 0;

    pthread_mutex_lock(&heap_lock);
    for (unsigned n = 0; n < HEAP_SLOTS && heap_live[i]; n++) {
        if (heap_live[i] == p) {
            found = 1;
            if (remove) {
                heap_live[i] = HEAP_GONE;
                heap_mine_freed += heap_ours[i];
            }
            break;
        }
        i = (i + 1) % HEAP_SLOTS;
    }
    pthread_mutex_unlock(&heap_lock);
    return found;
}

/* Start watching afresh, or stop. */
static inline void heap_watch(int on)
{
    pthread_mutex_lock(&heap_lock);
    for (unsigned i = 0; i < HEAP_SLOTS; i++) {
        heap_live[i] = NULL;
    }
    if (on) {
        heap_mine_freed = 0;
    }
    __atomic_store_n(&heap_watching, on, __ATOMIC_SEQ_CST);
    pthread_mutex_unlock(&heap_lock);
}

static inline int heap_known(void *p)
{
    return heap_find(p, 0);
}

/* malloc() for a test's own allocator: its blocks are counted. */
static inline void *heap_mine(size_t size)
{
    void *p = __libc_malloc(size);

    if (p) {
        heap_add(p, 1);
    }
    return p;
}

void *malloc(size_t size)
{
    void *p = __libc_malloc(size);

    if (p && __atomic_load_n(&heap_watching, __ATOMIC_RELAXED)) {
        heap_add(p, 0);
    }
    return p;
}

void *calloc(size_t n, size_t size)
{
    void *p = __libc_calloc(n, size);

    if (p && __atomic_load_n(&heap_watching, __ATOMIC_RELAXED)) {
        heap_add(p, 0);
    }
    return p;
}

void *realloc(void *old, size_t size)
{
    void *p;

    if (old && __atomic_load_n(&heap_watching, __ATOMIC_RELAXED)) {
        heap_find(old, 1);
    }
    p = __libc_realloc(old, size);
    if (p && __atomic_load_n(&heap_watching, __ATOMIC_RELAXED)) {
        heap_add(p, 0);
    }
    return p;
}

void free(void *p)
{
    if (p && __atomic_load_n(&heap_watching, __ATOMIC_RELAXED)) {
        heap_find(p, 1);
    }
    __libc_free(p);
}

/* free() for a test's allocator: p must be a block of the guest's heap. */
static inline void heap_free(void *p)
{
    if (p && !heap_known(p)) {
        fail("the guest's free got %p, which the guest's malloc did not "
             "hand out", p);
    }
    free(p);
}

#endif /* THUNKS_TESTS_H */
