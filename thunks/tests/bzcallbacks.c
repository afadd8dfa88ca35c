/*
 * Guest allocators through libbz2, for the thunks: built for each
 * guest, linked with libbz2 dynamically, run with the drop-in (and
 * without).  The exit status is the verdict.
 *
 *  - bz_stream's bzalloc/bzfree: guest functions that count (the counts
 *    move, every block comes back), given back untouched in the guest's
 *    bz_stream;
 *  - half-set pairs, { bzalloc, NULL } and { NULL, bzfree }: libbz2
 *    serves the NULL half with its own, which calls libc's malloc or
 *    free: the guest's it must be (see tests.h);
 *  - the stdio interface (kept in the guest) through a temporary file.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "tests.h"

#include <bzlib.h>

#define SIZE (600 * 1024)

struct counts {
    unsigned long allocs, frees;
};

static void *count_alloc(void *opaque, int n, int m)
{
    ((struct counts *)opaque)->allocs++;
    return heap_mine((size_t)n * m);
}

static void count_free(void *opaque, void *p)
{
    ((struct counts *)opaque)->frees += p != NULL;
    heap_free(p);
}

/* A round trip with allocators { a, f } counting in c. */
static void round_trip(const char *in, void *(*a)(void *, int, int),
                       void (*f)(void *, void *), const char *what)
{
    struct counts c = { 0, 0 };
    unsigned room = SIZE + SIZE / 10, size;
    char *packed = malloc(room), *back = malloc(SIZE);
    bz_stream s;
    int ret;

    heap_watch(1);
    memset(&s, 0, sizeof(s));
    s.bzalloc = a;
    s.bzfree = f;
    s.opaque = &c;
    if (BZ2_bzCompressInit(&s, 5, 0, 0) != BZ_OK) {
        fail("%s: BZ2_bzCompressInit", what);
    }
    if ((a && s.bzalloc != a) || (f && s.bzfree != f) || s.opaque != &c) {
        fail("%s: the guest's bz_stream lost its allocators", what);
    }
    s.next_in = (char *)in;
    s.avail_in = SIZE;
    s.next_out = packed;
    s.avail_out = room;
    do {
        ret = BZ2_bzCompress(&s, BZ_FINISH);
    } while (ret == BZ_FINISH_OK);
    if (ret != BZ_STREAM_END) {
        fail("%s: BZ2_bzCompress returned %d", what, ret);
    }
    size = s.total_out_lo32;
    BZ2_bzCompressEnd(&s);

    memset(&s, 0, sizeof(s));
    s.bzalloc = a;
    s.bzfree = f;
    s.opaque = &c;
    if (BZ2_bzDecompressInit(&s, 0, 0) != BZ_OK) {
        fail("%s: BZ2_bzDecompressInit", what);
    }
    s.next_in = packed;
    s.avail_in = size;
    s.next_out = back;
    s.avail_out = SIZE;
    if (BZ2_bzDecompress(&s) != BZ_STREAM_END || s.total_out_lo32 != SIZE ||
        memcmp(back, in, SIZE)) {
        fail("%s: the round trip lost data", what);
    }
    BZ2_bzDecompressEnd(&s);
    heap_watch(0);
    if ((a && !c.allocs) || (f && !c.frees)) {
        fail("%s: the guest's allocator was not called", what);
    }
    if (a && heap_mine_freed != c.allocs) {
        fail("%s: %lu blocks of the guest's bzalloc, %lu came back to the "
             "guest's free", what, c.allocs, heap_mine_freed);
    }
    printf("%s: %u bytes, %lu allocations, %lu frees\n", what, size,
           c.allocs, c.frees);
    free(packed);
    free(back);
}

/* The stdio interface, kept in the guest, on a temporary file. */
static void stdio(const char *in)
{
    FILE *f = tmpfile();
    char *back = malloc(SIZE + 1);
    int err, n;
    BZFILE *b;

    b = BZ2_bzWriteOpen(&err, f, 9, 0, 0);
    if (!b || err != BZ_OK) {
        fail("BZ2_bzWriteOpen");
    }
    BZ2_bzWrite(&err, b, (void *)in, SIZE);
    BZ2_bzWriteClose(&err, b, 0, NULL, NULL);
    if (err != BZ_OK) {
        fail("BZ2_bzWrite or BZ2_bzWriteClose: %d", err);
    }
    rewind(f);
    b = BZ2_bzReadOpen(&err, f, 0, 0, NULL, 0);
    n = BZ2_bzRead(&err, b, back, SIZE + 1);
    if (err != BZ_STREAM_END || n != SIZE || memcmp(back, in, SIZE)) {
        fail("BZ2_bzRead gave %d bytes, error %d", n, err);
    }
    BZ2_bzReadClose(&err, b);
    fclose(f);
    free(back);
}

int main(void)
{
    char *in = (char *)make_text(SIZE, 3);
    char out[SIZE / 2];
    unsigned size = sizeof(out), back_size = SIZE;
    char *back = malloc(SIZE);

    round_trip(in, count_alloc, count_free, "guest allocators");
    round_trip(in, count_alloc, NULL, "guest bzalloc, NULL bzfree");
    round_trip(in, NULL, count_free, "NULL bzalloc, guest bzfree");
    round_trip(in, NULL, NULL, "libbz2's own allocators");
    if (BZ2_bzBuffToBuffCompress(out, &size, in, SIZE, 9, 0, 0) != BZ_OK ||
        BZ2_bzBuffToBuffDecompress(back, &back_size, out, size, 0, 0) !=
        BZ_OK || back_size != SIZE || memcmp(back, in, SIZE)) {
        fail("BZ2_bzBuffToBuff*");
    }
    stdio(in);
    printf("bzcallbacks: all passed (libbz2 %s)\n", BZ2_bzlibVersion());
    free(back);
    free(in);
    return 0;
}
