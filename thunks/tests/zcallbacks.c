/*
 * Guest callbacks through zlib, for the thunks: built for each guest,
 * linked with zlib dynamically, run with the drop-in (and without).
 *
 *  - z_stream's zalloc/zfree: guest allocators that count in guest
 *    memory (the counts must move), and that zlib gets back untouched
 *    in the guest's z_stream, deflateCopy's copy included;
 *  - half-set pairs, { zalloc, Z_NULL } and { Z_NULL, zfree }: zlib
 *    serves the Z_NULL half with its own, which calls libc's malloc or
 *    free: the guest's it must be (see tests.h);
 *  - inflateBack with guest in/out functions;
 *  - a callback that calls zlib again: out() checksums with crc32 and
 *    recompresses with a second stream whose allocators are guest
 *    functions too (callbacks inside a call made from a callback);
 *  - 8 threads doing all that at once;
 *  - gzprintf, which the drop-in formats on the guest side, with a
 *    line longer than its buffer, read back with gzgets;
 *  - errno after a gz* call that fails (the host's is carried back).
 *
 * The exit status is the verdict.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "tests.h"

#include <zlib.h>

#define SIZE (256 * 1024)
#define THREADS 8

struct counts {
    unsigned long allocs, frees;
};

static voidpf count_alloc(voidpf opaque, uInt items, uInt size)
{
    ((struct counts *)opaque)->allocs++;
    return calloc(items, size);
}

static void count_free(voidpf opaque, voidpf p)
{
    ((struct counts *)opaque)->frees++;
    free(p);
}

static void use_counts(z_stream *s, struct counts *c)
{
    memset(s, 0, sizeof(*s));
    s->zalloc = count_alloc;
    s->zfree = count_free;
    s->opaque = c;
}

/* Raw deflate of in[0..SIZE) with guest allocators; returns its size. */
static size_t compress_counted(const unsigned char *in, unsigned char *out,
                               size_t room, struct counts *c)
{
    z_stream s, copy;

    use_counts(&s, c);
    if (deflateInit2(&s, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        fail("deflateInit2 with guest allocators failed");
    }
    if (s.zalloc != count_alloc || s.zfree != count_free || s.opaque != c) {
        fail("deflateInit2 left host pointers in the guest's z_stream");
    }
    if (!c->allocs) {
        fail("zlib did not call the guest's zalloc");
    }
    if (deflateCopy(&copy, &s) != Z_OK || copy.zalloc != count_alloc ||
        copy.zfree != count_free || deflateEnd(&copy) != Z_OK) {
        fail("deflateCopy's copy does not hold the guest's allocators");
    }
    s.next_in = (unsigned char *)in;
    s.avail_in = SIZE;
    s.next_out = out;
    s.avail_out = room;
    if (deflate(&s, Z_FINISH) != Z_STREAM_END) {
        fail("deflate did not finish");
    }
    if (deflateEnd(&s) != Z_OK || c->frees != c->allocs) {
        fail("deflateEnd: %lu allocations, %lu frees", c->allocs, c->frees);
    }
    return s.total_out;
}

struct back {
    const unsigned char *in;
    size_t in_len, in_used;
    unsigned in_calls, out_calls;
    unsigned char *out;
    size_t out_len;
    uLong crc;
    z_stream again;             /* recompresses what out() sees */
    struct counts again_counts;
    unsigned char *again_out;
};

static unsigned in_fn(void *desc, z_const unsigned char **buf)
{
    struct back *b = desc;
    size_t n = b->in_len - b->in_used < 1000 ? b->in_len - b->in_used : 1000;

    b->in_calls++;
    *buf = (unsigned char *)b->in + b->in_used;
    b->in_used += n;
    return n;
}

static int out_fn(void *desc, unsigned char *buf, unsigned len)
{
    struct back *b = desc;

    if (!b->out_calls++) {
        /* Nested: zlib calls the guest's allocators from inside out(). */
        use_counts(&b->again, &b->again_counts);
        if (deflateInit(&b->again, 1) != Z_OK || !b->again_counts.allocs) {
            fail("deflateInit inside a callback failed");
        }
        b->again.next_out = b->again_out;
        b->again.avail_out = 2 * SIZE;
    }
    if (b->out_len + len > SIZE) {
        return 1;
    }
    memcpy(b->out + b->out_len, buf, len);
    b->out_len += len;
    b->crc = crc32(b->crc, buf, len);
    b->again.next_in = buf;
    b->again.avail_in = len;
    return deflate(&b->again, Z_NO_FLUSH) != Z_OK;
}

/* One round of everything; returns 0 or fails. */
static void *round_trip(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    unsigned char *in = make_text(SIZE, seed), *packed = malloc(2 * SIZE);
    unsigned char window[32768], *again_back = malloc(SIZE);
    struct counts c = { 0, 0 };
    struct back b;
    z_stream s;
    uLongf back_len = SIZE;
    size_t len = compress_counted(in, packed, 2 * SIZE, &c);

    memset(&b, 0, sizeof(b));
    b.in = packed;
    b.in_len = len;
    b.out = malloc(SIZE);
    b.again_out = malloc(2 * SIZE);
    b.crc = crc32(0, Z_NULL, 0);
    use_counts(&s, &c);
    if (inflateBackInit(&s, 15, window) != Z_OK) {
        fail("inflateBackInit failed");
    }
    if (inflateBack(&s, in_fn, &b, out_fn, &b) != Z_STREAM_END) {
        fail("inflateBack did not finish: %s", s.msg ? s.msg : "no message");
    }
    if (inflateBackEnd(&s) != Z_OK || c.frees != c.allocs) {
        fail("inflateBackEnd: %lu allocations, %lu frees", c.allocs, c.frees);
    }
    if (b.out_len != SIZE || memcmp(b.out, in, SIZE)) {
        fail("inflateBack gave back other data");
    }
    if (b.in_calls < 2 || b.out_calls < 2) {
        fail("inflateBack called in() %u and out() %u times", b.in_calls,
             b.out_calls);
    }
    if (b.crc != crc32(crc32(0, Z_NULL, 0), in, SIZE)) {
        fail("crc32 called from out() disagrees");
    }
    if (deflate(&b.again, Z_FINISH) != Z_STREAM_END ||
        deflateEnd(&b.again) != Z_OK ||
        b.again_counts.frees != b.again_counts.allocs ||
        uncompress(again_back, &back_len, b.again_out, b.again.total_out) !=
            Z_OK || back_len != SIZE || memcmp(again_back, in, SIZE)) {
        fail("the stream compressed inside out() does not round-trip");
    }
    free(in);
    free(packed);
    free(again_back);
    free(b.out);
    free(b.again_out);
    return NULL;
}

static voidpf mine_alloc(voidpf opaque, uInt items, uInt size)
{
    ((struct counts *)opaque)->allocs++;
    return heap_mine((size_t)items * size);
}

/* (zlib sets opaque to Z_NULL when it serves zalloc itself.) */
static unsigned long known_frees;

static void known_free(voidpf opaque, voidpf p)
{
    known_frees += p != NULL;
    heap_free(p);
}

/* One half of the allocator pair set, the other Z_NULL. */
static void half_allocators(void)
{
    unsigned char *in = make_text(SIZE, 99), *packed = malloc(2 * SIZE);

    for (int half = 0; half < 2; half++) {
        struct counts c = { 0, 0 };
        z_stream s;

        heap_watch(1);
        memset(&s, 0, sizeof(s));
        s.zalloc = half ? Z_NULL : mine_alloc;
        s.zfree = half ? known_free : Z_NULL;
        s.opaque = &c;
        s.next_in = in;
        s.avail_in = SIZE;
        s.next_out = packed;
        s.avail_out = 2 * SIZE;
        if (deflateInit(&s, 6) != Z_OK || deflate(&s, Z_FINISH) !=
            Z_STREAM_END || deflateEnd(&s) != Z_OK) {
            fail("deflate with a half-set allocator pair failed");
        }
        heap_watch(0);
        if (half ? !known_frees : !c.allocs || heap_mine_freed != c.allocs) {
            fail("half-set allocators: %lu allocations, %lu came back to the "
                 "guest's free, %lu frees", c.allocs, heap_mine_freed,
                 known_frees);
        }
    }
    free(in);
    free(packed);
}

/* zlib's own allocator, stored when the guest passes Z_NULL, still works. */
static void own_allocator(void)
{
    z_stream s;

    memset(&s, 0, sizeof(s));
    if (deflateInit(&s, 6) != Z_OK || !s.zalloc || !s.zfree ||
        deflateEnd(&s) != Z_OK) {
        fail("deflate with zlib's own allocator failed");
    }
    if (deflateInit(&s, 6) != Z_OK || deflateEnd(&s) != Z_OK) {
        fail("reusing a z_stream holding zlib's own allocator failed");
    }
}

/* gzprintf of a long line, through a file in the current directory. */
static void long_gzprintf(void)
{
    char line[3000], back[3100];
    gzFile f;

    memset(line, 'x', sizeof(line) - 1);
    line[sizeof(line) - 1] = 0;
    f = gzopen("zcallbacks.gz", "wb");
    if (!f || gzprintf(f, "%s %d\n", line, 42) != (int)sizeof(line) + 3 ||
        gzclose(f) != Z_OK) {
        fail("gzprintf of a long line failed");
    }
    f = gzopen("zcallbacks.gz", "rb");
    if (!f || !gzgets(f, back, sizeof(back)) || strncmp(back, line, 2999) ||
        strcmp(back + 2999, " 42\n") || gzclose(f) != Z_OK) {
        fail("gzprintf's long line did not come back");
    }
    remove("zcallbacks.gz");
    errno = 0;
    if (gzopen("zcallbacks-none/none.gz", "rb") || errno != ENOENT) {
        fail("gzopen of a missing file left errno %d, not ENOENT", errno);
    }
}

int main(void)
{
    pthread_t threads[THREADS];

    own_allocator();
    half_allocators();
    long_gzprintf();
    round_trip((void *)1);
    for (uintptr_t i = 0; i < THREADS; i++) {
        if (pthread_create(&threads[i], NULL, round_trip, (void *)(i + 2))) {
            fail("pthread_create failed");
        }
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(threads[i], NULL);
    }
    printf("zcallbacks: allocators, inflateBack, nested calls and %d "
           "threads: ok\n", THREADS);
    return 0;
}
