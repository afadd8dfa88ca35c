/*
 * Guest callbacks through libzstd, for the thunks: built for each
 * guest, linked with libzstd dynamically, run with the drop-in (and
 * without).  The exit status is the verdict.
 *
 *  - ZSTD_customMem, passed by value and kept by the context: guest
 *    functions that count (the counts move, every block comes back);
 *  - the same with 2 worker threads (ZSTD_c_nbWorkers), which allocate
 *    and free too, and a dictionary created with it;
 *  - a guest sequence producer (ZSTD_registerSequenceProducer) that
 *    writes its sequences into the library's memory: all literals, so
 *    the frame is larger than zstd's own, and still decompresses.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "tests.h"

#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>

#define SIZE (4 << 20)

struct counts {
    unsigned long allocs, frees, sequences;
};

static void *count_alloc(void *opaque, size_t size)
{
    __atomic_fetch_add(&((struct counts *)opaque)->allocs, 1,
                       __ATOMIC_RELAXED);
    return heap_mine(size);
}

static void count_free(void *opaque, void *p)
{
    if (p) {
        __atomic_fetch_add(&((struct counts *)opaque)->frees, 1,
                           __ATOMIC_RELAXED);
    }
    heap_free(p);
}

static void check(size_t ret, const char *what)
{
    if (ZSTD_isError(ret)) {
        fail("%s: %s", what, ZSTD_getErrorName(ret));
    }
}

/* All literals: one block delimiter per block. */
static size_t literals_only(void *state, ZSTD_Sequence *out, size_t room,
                            const void *src, size_t size, const void *dict,
                            size_t dict_size, int level, size_t window)
{
    struct counts *c = state;

    if (room < 1) {
        return ZSTD_SEQUENCE_PRODUCER_ERROR;
    }
    __atomic_fetch_add(&c->sequences, 1, __ATOMIC_RELAXED);
    out[0] = (ZSTD_Sequence){ .offset = 0, .litLength = size,
                              .matchLength = 0, .rep = 0 };
    return 1;
}

/* Decompress with a counted DCtx and compare. */
static void expand(const void *frame, size_t size, const char *in,
                   ZSTD_customMem mem, const char *what)
{
    ZSTD_DCtx *d = ZSTD_createDCtx_advanced(mem);
    char *back = malloc(SIZE);

    if (!d) {
        fail("%s: ZSTD_createDCtx_advanced", what);
    }
    if (ZSTD_decompressDCtx(d, back, SIZE, frame, size) != SIZE ||
        memcmp(back, in, SIZE)) {
        fail("%s: the round trip lost data", what);
    }
    ZSTD_freeDCtx(d);
    free(back);
}

/*
 * Compress with a counted context: workers threads, and a sequence
 * producer if producer; returns the frame's size.
 */
static size_t compress(const char *in, int workers, int producer,
                       const char *what)
{
    struct counts c = { 0, 0, 0 };
    ZSTD_customMem mem = { count_alloc, count_free, &c };
    size_t room = ZSTD_compressBound(SIZE), size;
    char *out = malloc(room);
    ZSTD_CCtx *cctx;

    heap_watch(1);
    cctx = ZSTD_createCCtx_advanced(mem);
    if (!cctx || !c.allocs) {
        fail("%s: ZSTD_createCCtx_advanced did not use the guest's "
             "allocator", what);
    }
    check(ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, 3), what);
    check(ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1), what);
    if (workers) {
        check(ZSTD_CCtx_setParameter(cctx, ZSTD_c_nbWorkers, workers), what);
        check(ZSTD_CCtx_setParameter(cctx, ZSTD_c_jobSize, 512 << 10), what);
    }
    if (producer) {
        ZSTD_registerSequenceProducer(cctx, &c, literals_only);
    }
    size = ZSTD_compress2(cctx, out, room, in, SIZE);
    check(size, what);
    ZSTD_freeCCtx(cctx);
    expand(out, size, in, mem, what);
    heap_watch(0);
    if (c.allocs != heap_mine_freed) {
        fail("%s: %lu blocks of the guest's alloc, %lu came back to the "
             "guest's free", what, c.allocs, heap_mine_freed);
    }
    if (producer && !c.sequences) {
        fail("%s: the guest's sequence producer was not called", what);
    }
    printf("%s: %zu bytes, %lu allocations, %lu frees, %lu blocks of "
           "sequences\n", what, size, c.allocs, c.frees, c.sequences);
    free(out);
    return size;
}

/* A dictionary made with the guest's allocator. */
static void dictionary(const char *in)
{
    struct counts c = { 0, 0, 0 };
    ZSTD_customMem mem = { count_alloc, count_free, &c };
    ZSTD_compressionParameters cp = ZSTD_getCParams(5, SIZE, 64 << 10);
    size_t room = ZSTD_compressBound(SIZE), size;
    char *out = malloc(room), *back = malloc(SIZE);
    ZSTD_CDict *cd;
    ZSTD_DDict *dd;
    ZSTD_CCtx *cctx = ZSTD_createCCtx();
    ZSTD_DCtx *dctx = ZSTD_createDCtx();

    heap_watch(1);
    cd = ZSTD_createCDict_advanced(in, 64 << 10, ZSTD_dlm_byCopy,
                                   ZSTD_dct_rawContent, cp, mem);
    dd = ZSTD_createDDict_advanced(in, 64 << 10, ZSTD_dlm_byCopy,
                                   ZSTD_dct_rawContent, mem);
    if (!cd || !dd) {
        fail("dictionaries with the guest's allocator");
    }
    size = ZSTD_compress_usingCDict(cctx, out, room, in, SIZE, cd);
    check(size, "ZSTD_compress_usingCDict");
    if (ZSTD_decompress_usingDDict(dctx, back, SIZE, out, size, dd) != SIZE ||
        memcmp(back, in, SIZE)) {
        fail("dictionaries: the round trip lost data");
    }
    ZSTD_freeCDict(cd);
    ZSTD_freeDDict(dd);
    heap_watch(0);
    if (!c.allocs || c.allocs != heap_mine_freed) {
        fail("dictionaries: %lu blocks of the guest's alloc, %lu came back "
             "to the guest's free", c.allocs, heap_mine_freed);
    }
    ZSTD_freeCCtx(cctx);
    ZSTD_freeDCtx(dctx);
    free(out);
    free(back);
}

int main(void)
{
    char *in = (char *)make_text(SIZE, 7);
    size_t plain, literal;

    plain = compress(in, 0, 0, "guest allocator");
    compress(in, 2, 0, "guest allocator, 2 workers");
    literal = compress(in, 0, 1, "guest sequence producer");
    if (literal <= plain) {
        fail("the frame of literals only (%zu bytes) is not larger than "
             "zstd's own (%zu): the guest's sequences were not used",
             literal, plain);
    }
    dictionary(in);
    free(in);
    printf("zstdcallbacks: all passed (libzstd %s)\n", ZSTD_versionString());
    return 0;
}
