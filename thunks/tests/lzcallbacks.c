/*
 * Guest allocators through liblzma, for the thunks: built for each
 * guest, linked with liblzma dynamically, run with the drop-in (and
 * without).  The exit status is the verdict.
 *
 *  - lzma_stream's allocator: guest functions that count in guest
 *    memory (the counts move), given back untouched in the guest's
 *    lzma_stream;
 *  - half-set allocators, { alloc, NULL } and { NULL, free }: liblzma
 *    serves the NULL half with libc's malloc or free, which must be
 *    the guest's (see tests.h): every block of the guest's alloc
 *    comes back to the guest's free, and the guest's free gets only
 *    blocks of the guest's heap;
 *  - the multithreaded encoder and decoder with a guest allocator: their
 *    worker threads allocate and free too;
 *  - an allocator passed as an argument (lzma_raw_buffer_encode,
 *    lzma_index_init);
 *  - the functions kept in the guest, whose memory the caller frees
 *    with free() (lzma_properties_decode, lzma_str_from_filters).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "tests.h"

#include <lzma.h>

#define SIZE (1536 * 1024)

struct counts {
    unsigned long allocs, frees;
};

static void *count_alloc(void *opaque, size_t nmemb, size_t size)
{
    __atomic_fetch_add(&((struct counts *)opaque)->allocs, 1,
                       __ATOMIC_RELAXED);
    return heap_mine(nmemb * size);
}

static void count_free(void *opaque, void *p)
{
    if (p) {
        __atomic_fetch_add(&((struct counts *)opaque)->frees, 1,
                           __ATOMIC_RELAXED);
    }
    heap_free(p);
}

/* Run strm to the end over in[0..in_size) into out; returns the size. */
static size_t run(lzma_stream *strm, const uint8_t *in, size_t in_size,
                  uint8_t *out, size_t room, const char *what)
{
    lzma_ret ret;

    strm->next_in = in;
    strm->avail_in = in_size;
    strm->next_out = out;
    strm->avail_out = room;
    do {
        ret = lzma_code(strm, LZMA_FINISH);
    } while (ret == LZMA_OK);
    if (ret != LZMA_STREAM_END) {
        fail("%s: lzma_code returned %d", what, ret);
    }
    return strm->total_out;
}

/*
 * Compress and decompress with allocator a (threads > 0: the
 * multithreaded coders); check the round trip and that the guest's
 * allocator pointer is back in the lzma_stream.
 */
static void round_trip(const uint8_t *in, const lzma_allocator *a,
                       uint32_t threads, const char *what)
{
    lzma_stream strm = LZMA_STREAM_INIT;
    size_t room = SIZE + SIZE / 2, size;
    uint8_t *packed = malloc(room), *back = malloc(SIZE);
    lzma_ret ret;

    strm.allocator = a;
    if (threads) {
        lzma_mt mt = {
            .threads = threads, .block_size = 128 * 1024, .preset = 1,
            .check = LZMA_CHECK_CRC64,
        };

        ret = lzma_stream_encoder_mt(&strm, &mt);
    } else {
        ret = lzma_easy_encoder(&strm, 1, LZMA_CHECK_CRC32);
    }
    if (ret != LZMA_OK) {
        fail("%s: encoder init returned %d", what, ret);
    }
    size = run(&strm, in, SIZE, packed, room, what);
    if (strm.allocator != a) {
        fail("%s: the guest's allocator is not back in its lzma_stream", what);
    }
    lzma_end(&strm);

    strm = (lzma_stream)LZMA_STREAM_INIT;
    strm.allocator = a;
    if (threads) {
        lzma_mt mt = {
            .threads = threads, .memlimit_threading = 1 << 30,
            .memlimit_stop = UINT64_MAX, .flags = LZMA_FAIL_FAST,
        };

        ret = lzma_stream_decoder_mt(&strm, &mt);
    } else {
        ret = lzma_stream_decoder(&strm, UINT64_MAX, 0);
    }
    if (ret != LZMA_OK) {
        fail("%s: decoder init returned %d", what, ret);
    }
    if (run(&strm, packed, size, back, SIZE, what) != SIZE ||
        memcmp(back, in, SIZE)) {
        fail("%s: the round trip lost data", what);
    }
    lzma_end(&strm);
    free(packed);
    free(back);
}

/* Round trips with allocator { alloc, free } that count in c. */
static void counted(const uint8_t *in, void *(*alloc)(void *, size_t, size_t),
                    void (*free_fn)(void *, void *), uint32_t threads,
                    const char *what)
{
    struct counts c = { 0, 0 };
    lzma_allocator a = { alloc, free_fn, &c };

    heap_watch(1);
    round_trip(in, &a, threads, what);
    heap_watch(0);
    if ((alloc && !c.allocs) || (free_fn && !c.frees)) {
        fail("%s: the guest's allocator was not called (%lu allocs, "
             "%lu frees)", what, c.allocs, c.frees);
    }
    if (alloc && heap_mine_freed != c.allocs) {
        fail("%s: %lu blocks of the guest's alloc, %lu came back to the "
             "guest's free", what, c.allocs, heap_mine_freed);
    }
    printf("%s: %lu allocations, %lu frees by the guest's allocator\n",
           what, c.allocs, c.frees);
}

/* An allocator passed as an argument. */
static void argument(const uint8_t *in)
{
    struct counts c = { 0, 0 };
    lzma_allocator a = { count_alloc, count_free, &c };
    lzma_options_lzma opt;
    lzma_filter filters[2] = {
        { LZMA_FILTER_LZMA2, &opt }, { LZMA_VLI_UNKNOWN, NULL },
    };
    size_t room = SIZE + SIZE / 2, pos = 0, in_pos = 0, out_pos = 0;
    uint8_t *packed = malloc(room), *back = malloc(SIZE);
    lzma_index *index;

    lzma_lzma_preset(&opt, 0);
    if (lzma_raw_buffer_encode(filters, &a, in, SIZE, packed, &pos, room) !=
        LZMA_OK || !c.allocs ||
        lzma_raw_buffer_decode(filters, &a, packed, &in_pos, pos, back,
                               &out_pos, SIZE) != LZMA_OK ||
        out_pos != SIZE || memcmp(back, in, SIZE)) {
        fail("lzma_raw_buffer_* with a guest allocator");
    }
    index = lzma_index_init(&a);
    if (!index || lzma_index_append(index, &a, 100, 1000) != LZMA_OK ||
        lzma_index_uncompressed_size(index) != 1000) {
        fail("lzma_index_* with a guest allocator");
    }
    lzma_index_end(index, &a);
    if (c.allocs != c.frees) {
        fail("allocator arguments: %lu allocations, %lu frees", c.allocs,
             c.frees);
    }
    free(packed);
    free(back);
}

/* The functions kept in the guest: their memory is the guest's. */
static void kept(void)
{
    lzma_options_lzma opt;
    lzma_filter f = { LZMA_FILTER_LZMA2, &opt }, back = { LZMA_FILTER_LZMA2 };
    lzma_filter chain[2] = { f, { LZMA_VLI_UNKNOWN, NULL } };
    uint8_t props[1];
    char *str = NULL;

    lzma_lzma_preset(&opt, 6);
    if (lzma_properties_encode(&f, props) != LZMA_OK ||
        lzma_properties_decode(&back, NULL, props, 1) != LZMA_OK ||
        ((lzma_options_lzma *)back.options)->dict_size != opt.dict_size) {
        fail("lzma_properties_decode");
    }
    free(back.options);
    if (lzma_str_from_filters(&str, chain, 0, NULL) != LZMA_OK || !str ||
        strncmp(str, "lzma2", 5)) {
        fail("lzma_str_from_filters gave \"%s\"", str ? str : "(null)");
    }
    free(str);
}

int main(void)
{
    uint8_t *in = make_text(SIZE, 1);

    counted(in, count_alloc, count_free, 0, "guest allocator");
    counted(in, count_alloc, NULL, 0, "guest alloc, NULL free");
    counted(in, NULL, count_free, 0, "NULL alloc, guest free");
    counted(in, count_alloc, count_free, 4, "guest allocator, 4 threads");
    counted(in, count_alloc, NULL, 4, "guest alloc, NULL free, 4 threads");
    argument(in);
    kept();
    free(in);
    printf("lzcallbacks: all passed (liblzma %s)\n", lzma_version_string());
    return 0;
}
