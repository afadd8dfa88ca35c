/*
 * The drop-ins behave as the guest's own libraries do under faults,
 * signals, cancellation and abandoned callbacks (thunks/host.c).  One
 * subcommand per case; each prints what it saw, which thunks/tests/
 * check.sh compares with the same program on the guest's own libraries,
 * and exits non-zero when something is wrong:
 *
 *   gc        a write-barrier collector: zlib writes its output into
 *             read-only pages; the SIGSEGV handler makes each writable
 *             and returns, and zlib goes on
 *   bus       crc32 reads a file mapping past the end of its file: the
 *             SIGBUS handler leaves with siglongjmp
 *   report    uncompress reads a guard page: the handler reports the
 *             page and exits
 *   pipe      gzread on a pipe that only the SIGALRM handler fills: with
 *             SA_RESTART the handler runs while gzread waits and the read
 *             goes on; without SA_RESTART it fails with EINTR
 *   sigterm   SIGTERM ends a process blocked in gzread after a handled
 *             SA_RESTART signal
 *   cancel    pthread_cancel ends a thread blocked in gzread
 *   sigint    the SIGINT handler runs during a long compress2, not after,
 *             and SIGTERM ends a process during one
 *   memcpy    compress2 at level 0, which spends its time in libc's
 *             memcpy, under a 1 ms timer: the first tick's handler runs
 *             during the call
 *   paths     gzopen opens the guest's view: /proc/self/exe is the
 *             guest's program, a path only in QEMU's -L sysroot is found
 *   longjmp   inflateBack's input function leaves by longjmp a million
 *             times: it runs every time, and memory stays flat
 *   exit      inflateBack's input function calls pthread_exit, on 300
 *             threads one after the other: the process's mappings stay
 *             as many (QEMU's own memory grows with each thread a little)
 *   fields    the allocator fields zlib and libbz2 fill in at init are
 *             functions the guest can call
 *   shadows   an lzma_allocator whose opaque changes for each of 4000
 *             jobs: memory stays flat
 *   workers   libzstd compresses with worker threads while timers at
 *             1 ms and exiting children send signals to the process
 *   closures  with no memory mapping left, a call that needs a closure
 *             for a new guest function fails as the library fails when
 *             its allocator does, and QEMU lives on (the drop-in only)
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "tests.h"

#include <bzlib.h>
#include <elf.h>
#include <fcntl.h>
#include <lzma.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

static long page;

/* QEMU's and the guest's memory: the process's, as the kernel sees it. */
static long vm_kib(const char *field)
{
    char line[256];
    long kib = -1;
    FILE *f = fopen("/proc/self/status", "r");

    while (f && fgets(line, sizeof(line), f)) {
        if (!strncmp(line, field, strlen(field))) {
            kib = atol(line + strlen(field) + 1);
        }
    }
    if (f) {
        fclose(f);
    }
    return kib;
}

/*
 * The process's memory mappings, as the kernel counts them: under QEMU,
 * /proc/thread-self is not the guest's view, as /proc/self is, but the
 * host's (a stack that is never freed is two more).
 */
static long mappings(void)
{
    char line[512];
    long n = 0;
    FILE *f = fopen("/proc/thread-self/maps", "r");

    while (f && fgets(line, sizeof(line), f)) {
        n += strchr(line, '\n') != NULL;
    }
    if (f) {
        fclose(f);
    }
    return n;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, ms % 1000 * 1000000 };

    while (nanosleep(&ts, &ts) && errno == EINTR) {
        continue;
    }
}

static void on(int sig, void (*fn)(int, siginfo_t *, void *), int flags)
{
    struct sigaction sa = { .sa_sigaction = fn, .sa_flags = SA_SIGINFO | flags };

    sigemptyset(&sa.sa_mask);
    if (sigaction(sig, &sa, NULL)) {
        fail("sigaction %d", sig);
    }
}

/* gc */

static char *heap;
static size_t heap_size;
static int barrier_faults;

static void barrier(int sig, siginfo_t *info, void *uc)
{
    char *at = info->si_addr;

    if (at < heap || at >= heap + heap_size) {
        _exit(99);
    }
    barrier_faults++;
    mprotect((void *)((uintptr_t)at & -page), page, PROT_READ | PROT_WRITE);
}

static void test_gc(void)
{
    uLong len = 1 << 20, out_len;
    unsigned char *in = make_text(len, 1), *back = malloc(len);
    uLongf back_len = len;

    heap_size = compressBound(len);
    heap = mmap(NULL, heap_size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    on(SIGSEGV, barrier, 0);
    out_len = heap_size;
    if (compress2((Bytef *)heap, &out_len, in, len, 6) != Z_OK ||
        uncompress(back, &back_len, (Bytef *)heap, out_len) != Z_OK ||
        back_len != len || memcmp(in, back, len)) {
        fail("compress2 into pages made writable by the handler");
    }
    printf("gc: %lu bytes, the handler made %d pages writable\n",
           (unsigned long)out_len, barrier_faults);
}

/* bus */

static sigjmp_buf escape;
static char *mapped;

static void bus(int sig, siginfo_t *info, void *uc)
{
    printf("bus: SIGBUS at page %ld of the mapping\n",
           ((char *)info->si_addr - mapped) / page);
    siglongjmp(escape, 1);
}

static void test_bus(void)
{
    char path[] = "/tmp/contract-XXXXXX";
    int fd = mkstemp(path);

    unlink(path);
    if (fd < 0 || ftruncate(fd, 2 * page)) {
        fail("a file to map");
    }
    mapped = mmap(NULL, 2 * page, PROT_READ, MAP_SHARED, fd, 0);
    if (mapped == MAP_FAILED || ftruncate(fd, page)) {
        fail("mmap");
    }
    on(SIGBUS, bus, 0);
    if (!sigsetjmp(escape, 1)) {
        crc32(0, (Bytef *)mapped, 2 * page);
        fail("crc32 read past the end of the file");
    }
    printf("bus: left the handler by siglongjmp\n");
}

/* report */

static char *guard;

static void report(int sig, siginfo_t *info, void *uc)
{
    char line[64];
    int n = snprintf(line, sizeof(line), "report: SIGSEGV in page %ld "
                     "of the guard\n", ((char *)info->si_addr - guard) / page);

    if (write(1, line, n) != n) {
        _exit(98);
    }
    _exit(3);
}

static void test_report(void)
{
    unsigned char out[256];
    uLongf out_len = sizeof(out);
    int status;
    pid_t child;

    guard = mmap(NULL, 2 * page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
                 -1, 0);
    crc32(0, Z_NULL, 0);            /* a host call in this process too */
    fflush(stdout);
    child = fork();
    if (!child) {
        on(SIGSEGV, report, 0);
        uncompress(out, &out_len, (Bytef *)guard, page);
        _exit(4);
    }
    if (waitpid(child, &status, 0) != child || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 3) {
        fail("the reporting handler did not end the child (status %#x)",
             status);
    }
    printf("report: the child exited with 3\n");
}

/* pipe, sigterm, cancel */

static volatile sig_atomic_t alarms;

static void alarm_handler(int sig, siginfo_t *info, void *uc)
{
    alarms++;
}

static void after_ms(long ms)
{
    struct itimerval once = { { 0, 0 }, { ms / 1000, ms % 1000 * 1000 } };

    setitimer(ITIMER_REAL, &once, NULL);
}

/*
 * The SIGALRM handler writes a gzip stream of "text" into the pipe that
 * gzread() waits on, and closes it: only if the handler runs while
 * gzread() waits does gzread() get it.  A watchdog ends the process if
 * it hangs.
 */
static int self_pipe[2];

static void feed(int sig, siginfo_t *info, void *uc)
{
    static const unsigned char gz[] = {
        0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 0xff, 0x2b, 0x49, 0xad, 0x28,
        0x01, 0, 0xc7, 0xa7, 0x8b, 0x3b, 4, 0, 0, 0,
    };

    alarms++;
    if (write(self_pipe[1], gz, sizeof(gz)) != sizeof(gz)) {
        _exit(97);
    }
    close(self_pipe[1]);
}

static pid_t watchdog(int seconds)
{
    pid_t parent = getpid(), pid = fork();

    if (!pid) {
        sleep_ms(seconds * 1000);
        kill(parent, SIGKILL);
        _exit(0);
    }
    return pid;
}

static void read_pipe(int restart)
{
    char buf[16] = "";
    pid_t dog = watchdog(20);
    gzFile f;
    int n, err = 0;

    if (pipe(self_pipe)) {
        fail("pipe");
    }
    alarms = 0;
    on(SIGALRM, feed, restart);
    after_ms(100);
    f = gzdopen(self_pipe[0], "rb");
    n = gzread(f, buf, sizeof(buf) - 1);
    if (n < 0) {
        gzerror(f, &err);
    }
    printf("pipe: %s: gzread gave %d%s%s (%s), the handler ran %d times\n",
           restart ? "SA_RESTART" : "no SA_RESTART", n, n > 0 ? ", " : "",
           n > 0 ? buf : "", err == Z_ERRNO ? strerror(errno) : "no error",
           alarms);
    gzclose(f);
    kill(dog, SIGKILL);
    waitpid(dog, NULL, 0);
}

static void test_pipe(void)
{
    read_pipe(SA_RESTART);
    read_pipe(0);
}

static void test_sigterm(void)
{
    int fds[2], status;
    pid_t child;

    if (pipe(fds)) {
        fail("pipe");
    }
    crc32(0, Z_NULL, 0);            /* a host call in this process too */
    fflush(stdout);
    child = fork();
    if (!child) {
        char buf[8];

        on(SIGALRM, alarm_handler, SA_RESTART);
        after_ms(50);
        gzread(gzdopen(fds[0], "rb"), buf, sizeof(buf));
        _exit(5);
    }
    sleep_ms(300);
    kill(child, SIGTERM);
    for (int i = 0; i < 500 && !waitpid(child, &status, WNOHANG); i++) {
        sleep_ms(10);
    }
    if (kill(child, 0) == 0) {
        kill(child, SIGKILL);
        waitpid(child, &status, 0);
        fail("SIGTERM did not end a process blocked in gzread");
    }
    printf("sigterm: %s\n", WIFSIGNALED(status) &&
           WTERMSIG(status) == SIGTERM ? "ended by SIGTERM" : "not by SIGTERM");
}

static void *blocked_reader(void *fd)
{
    char buf[8];

    gzread(gzdopen(*(int *)fd, "rb"), buf, sizeof(buf));
    return NULL;
}

static void test_cancel(void)
{
    int fds[2];
    pthread_t t;
    void *ret = NULL;
    struct timespec until;

    if (pipe(fds)) {
        fail("pipe");
    }
    pthread_create(&t, NULL, blocked_reader, &fds[0]);
    sleep_ms(200);
    pthread_cancel(t);
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 10;
    if (pthread_timedjoin_np(t, &ret, &until)) {
        fail("pthread_cancel did not end a thread blocked in gzread");
    }
    printf("cancel: %s\n", ret == PTHREAD_CANCELED ? "cancelled" : "ended");
}

/* sigint */

/*
 * Whether compress2() is still at work: the middle of its output (which
 * is about a tenth of the input's size) still holds the bytes it was
 * filled with.  Guest code cannot tell a host call that ended from one
 * that did not by any other means: a signal that arrives during it is
 * delivered as its INVOKE_PROC returns.
 */
#define UNWRITTEN 0xa5

static unsigned char *sigint_out;
static uLong sigint_len;
static volatile sig_atomic_t at_work = -1;

static int still_at_work(const unsigned char *out, uLong len)
{
    for (uLong at = len / 32; at < len / 16; at += 4096) {
        if (out[at] != UNWRITTEN) {
            return 0;
        }
    }
    return 1;
}

static void sigint(int sig, siginfo_t *info, void *uc)
{
    at_work = still_at_work(sigint_out, sigint_len);
}

/*
 * SIGTERM, not handled, ends a process during a long call, also after a
 * handled SIGALRM (QEMU holds signals back from a handler's arrival to
 * its run).
 */
static void term_during_call(const unsigned char *in, uLong len)
{
    uLongf out_len = compressBound(len);
    unsigned char *out = mmap(NULL, out_len, PROT_READ | PROT_WRITE,
                              MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    int status;
    pid_t child;

    memset(out, UNWRITTEN, out_len);
    child = fork();
    if (!child) {
        on(SIGALRM, alarm_handler, SA_RESTART);
        after_ms(20);
        compress2(out, &out_len, in, len, 9);
        _exit(0);
    }
    sleep_ms(100);
    kill(child, SIGTERM);
    waitpid(child, &status, 0);
    printf("sigint: SIGTERM ended the process %s\n",
           !WIFSIGNALED(status) || WTERMSIG(status) != SIGTERM ? "otherwise" :
           still_at_work(out, len) ? "during the call" : "after the call");
}

/* memcpy */

static volatile sig_atomic_t first_tick = -1;

/* Ticks before the call has written anything do not count. */
static void tick(int sig, siginfo_t *info, void *uc)
{
    const unsigned char *out = sigint_out;

    if (first_tick < 0 && out[0] != UNWRITTEN) {
        first_tick = out[sigint_len - sigint_len / 4] == UNWRITTEN &&
                     out[sigint_len - 1] == UNWRITTEN;
    }
}

/*
 * A signal that arrives in memcpy cannot run its handler there (it is
 * libc's code, which may hold locks), but as memcpy returns into zlib.
 * (One that arrives in malloc waits until the call ends: a first call
 * leaves malloc with nothing to ask the kernel for in the second.)
 */
static void test_memcpy(void)
{
    uLong len = 64 << 20;
    unsigned char *in = malloc(len);
    uLongf out_len = compressBound(len);
    unsigned char *out = malloc(out_len);
    struct itimerval every = { { 0, 1000 }, { 0, 1000 } }, off = { 0 };

    memset(in, 'x', len);
    if (compress2(out, &out_len, in, 1, 0) != Z_OK) {
        fail("compress2");
    }
    out_len = compressBound(len);
    memset(out, UNWRITTEN, out_len);
    sigint_out = out;
    sigint_len = len;
    on(SIGALRM, tick, SA_RESTART);
    setitimer(ITIMER_REAL, &every, NULL);
    if (compress2(out, &out_len, in, len, 0) != Z_OK) {
        fail("compress2");
    }
    setitimer(ITIMER_REAL, &off, NULL);
    printf("memcpy: the first tick's handler ran %s\n",
           first_tick == 1 ? "during the call" :
           first_tick == 0 ? "after the call" : "never");
    if (first_tick != 1) {
        exit(1);
    }
}

static void test_sigint(void)
{
    uLong len = 8 << 20;
    unsigned char *in = make_text(len, 2);
    uLongf out_len = compressBound(len);
    unsigned char *out = malloc(out_len);
    pid_t parent = getpid(), child;

    memset(out, UNWRITTEN, out_len);
    sigint_out = out;
    sigint_len = len;
    on(SIGINT, sigint, 0);
    fflush(stdout);
    child = fork();
    if (!child) {
        sleep_ms(50);
        _exit(kill(parent, SIGINT) != 0);
    }
    if (compress2(out, &out_len, in, len, 9) != Z_OK) {
        fail("compress2");
    }
    waitpid(child, NULL, 0);
    printf("sigint: the handler ran %s\n", at_work == 1 ? "during the call" :
           at_work == 0 ? "after the call" : "never");
    term_during_call(in, len);
}

/* paths */

static void read_elf(const char *path)
{
    Elf64_Ehdr h;
    gzFile f = gzopen(path, "rb");
    int n = f ? gzread(f, &h, sizeof(h)) : -1;

    if (f) {
        gzclose(f);
    }
    printf("paths: %s: %s\n", path, n != sizeof(h) ? "cannot be read" :
           memcmp(h.e_ident, ELFMAG, SELFMAG) ? "not ELF" :
#if defined(__aarch64__)
           h.e_machine == EM_AARCH64
#elif defined(__riscv)
           h.e_machine == EM_RISCV
#elif defined(__x86_64__)
           h.e_machine == EM_X86_64
#else
           0
#endif
           ? "ELF for this machine" : "ELF for another machine");
}

static void test_paths(const char *sysroot_only)
{
    read_elf("/proc/self/exe");
    if (sysroot_only) {
        read_elf(sysroot_only);
    }
}

/* longjmp, exit */

static jmp_buf out;
static unsigned long inputs;

static unsigned leave(void *how, z_const unsigned char **buf)
{
    inputs++;
    if (how) {
        pthread_exit(NULL);
    }
    longjmp(out, 1);
}

static int sink(void *desc, unsigned char *buf, unsigned len)
{
    return 0;
}

static z_stream back_stream;

static void back_init(void)
{
    static unsigned char window[1 << 15];

    if (inflateBackInit(&back_stream, 15, window) != Z_OK) {
        fail("inflateBackInit");
    }
}

static void test_longjmp(void)
{
    const unsigned long n = 1000000;
    long before = 0, after;

    back_init();
    for (unsigned long i = 0; i < n; i++) {
        if (i == 10000) {
            before = vm_kib("VmSize:");
        }
        if (!setjmp(out)) {
            inflateBack(&back_stream, leave, NULL, sink, NULL);
            fail("inflateBack returned");
        }
    }
    after = vm_kib("VmSize:");
    inflateBackEnd(&back_stream);
    printf("longjmp: the input function ran %lu times of %lu; memory %s\n",
           inputs, n, after - before < 64 * 1024 ? "flat" : "grew");
    if (inputs != n || after - before >= 64 * 1024) {
        fail("%ld KiB more after %lu longjmps", after - before, n);
    }
}

static void *exit_in_callback(void *unused)
{
    inflateBack(&back_stream, leave, (void *)1, sink, NULL);
    return NULL;
}

static void test_exit(void)
{
    const int n = 300;
    long before = 0, after;

    back_init();
    for (int i = 0; i < n; i++) {
        pthread_t t;

        if (i == 50) {
            before = mappings();
        }
        pthread_create(&t, NULL, exit_in_callback, NULL);
        pthread_join(t, NULL);
    }
    after = mappings();
    printf("exit: the input function ran %lu times on %d threads; "
           "mappings %s\n", inputs, n, after - before < 64 ? "flat" : "grew");
    if (inputs != (unsigned long)n || after - before >= 64) {
        fail("%ld more mappings after %d threads", after - before, n);
    }
}

/* fields */

static int mine;

static voidpf my_alloc(voidpf opaque, uInt n, uInt size)
{
    mine++;
    return malloc((size_t)n * size);
}

/* The allocator zlib filled in works, for the guest too. */
static void use_zalloc(z_stream *s, const char *what)
{
    char *p;

    if (!s->zalloc || !s->zfree) {
        fail("%s: zalloc %p, zfree %p", what, s->zalloc, s->zfree);
    }
    p = s->zalloc(s->opaque, 3, 5);
    memset(p, 1, 15);
    s->zfree(s->opaque, p);
}

static void test_fields(void)
{
    unsigned char in[1000], out[2000];
    z_stream d = { 0 }, i = { 0 }, h = { .zalloc = my_alloc };
    bz_stream b = { 0 };
    char *p;

    memset(in, 'a', sizeof(in));
    if (deflateInit(&d, 6) != Z_OK) {
        fail("deflateInit");
    }
    use_zalloc(&d, "deflateInit");
    d.next_in = in;
    d.avail_in = sizeof(in);
    d.next_out = out;
    d.avail_out = sizeof(out);
    if (deflate(&d, Z_FINISH) != Z_STREAM_END) {
        fail("deflate");
    }
    use_zalloc(&d, "deflate");
    i.next_in = out;
    i.avail_in = d.total_out;
    if (deflateEnd(&d) != Z_OK || inflateInit(&i) != Z_OK) {
        fail("deflateEnd, inflateInit");
    }
    use_zalloc(&i, "inflateInit");
    i.next_out = in;
    i.avail_out = sizeof(in);
    if (inflate(&i, Z_FINISH) != Z_STREAM_END || inflateEnd(&i) != Z_OK) {
        fail("inflate");
    }
    /* A half-set pair: zlib's half frees what the guest's allocates. */
    if (deflateInit(&h, 1) != Z_OK || !h.zfree || !mine) {
        fail("deflateInit with zalloc only");
    }
    p = h.zalloc(h.opaque, 1, 100);
    h.zfree(h.opaque, p);
    deflateEnd(&h);
    if (BZ2_bzCompressInit(&b, 1, 0, 0) != BZ_OK || !b.bzalloc || !b.bzfree) {
        fail("BZ2_bzCompressInit: bzalloc %p, bzfree %p", b.bzalloc,
             b.bzfree);
    }
    p = b.bzalloc(b.opaque, 10, 10);
    memset(p, 2, 100);
    b.bzfree(b.opaque, p);
    BZ2_bzCompressEnd(&b);
    printf("fields: zlib's and libbz2's allocators are the guest's to call\n");
}

/* shadows */

static void *counted_alloc(void *opaque, size_t n, size_t size)
{
    return malloc(n * size);
}

static void counted_free(void *opaque, void *p)
{
    free(p);
}

static void test_shadows(void)
{
    const int n = 4000;
    lzma_allocator a = { counted_alloc, counted_free, NULL };
    lzma_options_lzma opt;
    lzma_filter filters[] = {
        { LZMA_FILTER_LZMA2, &opt }, { LZMA_VLI_UNKNOWN, NULL },
    };
    unsigned char in[100], out[1000];
    long before = 0, after;

    /* A small dictionary, so that a job is quick. */
    lzma_lzma_preset(&opt, 0);
    opt.dict_size = LZMA_DICT_SIZE_MIN;
    memset(in, 'x', sizeof(in));
    for (int i = 0; i < n; i++) {
        size_t pos = 0;

        if (i == 500) {
            before = vm_kib("VmData:");
        }
        a.opaque = (void *)(uintptr_t)(i + 1);
        if (lzma_raw_buffer_encode(filters, &a, in, sizeof(in), out, &pos,
                                   sizeof(out)) != LZMA_OK) {
            fail("lzma_raw_buffer_encode, job %d", i);
        }
    }
    after = vm_kib("VmData:");
    /* Each job left 176 bytes behind before it was mended. */
    printf("shadows: %d jobs, each with its own opaque; memory %s\n", n,
           after - before < 256 ? "flat" : "grew");
    if (after - before >= 256) {
        fail("%ld KiB more after %d jobs", after - before, n);
    }
}

/* workers */

static volatile sig_atomic_t profs, reals, children;


static void counter(int sig, siginfo_t *info, void *uc)
{
    switch (sig) {
    case SIGPROF:
        profs++;
        break;
    case SIGALRM:
        reals++;
        break;
    case SIGCHLD:
        while (waitpid(-1, NULL, WNOHANG) > 0) {
            children++;
        }
        break;
    }
}

static void test_workers(void)
{
    const size_t len = 16 << 20;
    const int rounds = 8;
    unsigned char *in = make_text(len, 3), *back = malloc(len);
    size_t cap = ZSTD_compressBound(len), out_len;
    unsigned char *out = malloc(cap);
    struct itimerval ms = { { 0, 1000 }, { 0, 1000 } };

    on(SIGPROF, counter, SA_RESTART);
    on(SIGALRM, counter, SA_RESTART);
    on(SIGCHLD, counter, SA_RESTART | SA_NOCLDSTOP);
    /* Children that exit one by one while the workers run. */
    for (int i = 1; i <= 20; i++) {
        if (!fork()) {
            sleep_ms(50 * i);
            _exit(0);
        }
    }
    setitimer(ITIMER_PROF, &ms, NULL);
    setitimer(ITIMER_REAL, &ms, NULL);
    for (int round = 0; round < rounds; round++) {
        /* New workers each round, in small jobs that keep them busy. */
        ZSTD_CCtx *c = ZSTD_createCCtx();

        if (ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_nbWorkers, 2)) ||
            ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_jobSize, 1 << 20))) {
            fail("libzstd without threads");
        }
        out_len = ZSTD_compress2(c, out, cap, in, len);
        if (ZSTD_isError(out_len) ||
            ZSTD_decompress(back, len, out, out_len) != len ||
            memcmp(in, back, len)) {
            fail("ZSTD_compress2 with workers, round %d", round);
        }
        ZSTD_freeCCtx(c);
    }
    memset(&ms, 0, sizeof(ms));
    setitimer(ITIMER_PROF, &ms, NULL);
    setitimer(ITIMER_REAL, &ms, NULL);
    printf("workers: %d rounds with 2 new workers each, signals taken: %s\n",
           rounds,
           profs && reals && children ? "SIGPROF, SIGALRM, SIGCHLD" : "not all");
}

/* closures */

static voidpf another_alloc(voidpf opaque, uInt n, uInt size)
{
    return malloc((size_t)n * size);
}

static void test_closures(void)
{
    enum { MAX_MAPS = 1 << 20 };
    void **at = mmap(NULL, MAX_MAPS * sizeof(void *), PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    z_stream s = { 0 };
    long maps = 0;
    int ret;

    if (at == MAP_FAILED) {
        perror("closures: mmap");
        exit(1);
    }
    /* A call first, so that it has a stack to run on. */
    deflateBound(&s, 100);
    /* Take every memory mapping there is (the pages alternate, so that
     * none merges with its neighbour). */
    while (maps < MAX_MAPS) {
        at[maps] = mmap(NULL, page, maps & 1 ? PROT_READ : PROT_NONE,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (at[maps] == MAP_FAILED) {
            break;
        }
        maps++;
    }
    /* Closures for guest functions the library has not seen before
     * (stand-ins: only passed, never called), until there is no room for
     * another; then one for a function that is called. */
    for (uintptr_t i = 0; i < 100000; i++) {
        s.zalloc = (alloc_func)(uintptr_t)(0x10000 + 16 * i);
        deflateBound(&s, 100);
    }
    memset(&s, 0, sizeof(s));
    s.zalloc = another_alloc;
    ret = deflateInit(&s, 6);
    /* Give the mappings back before anything else needs one: QEMU's own
     * allocations would fail as well. */
    for (long i = 0; i < maps; i++) {
        munmap(at[i], page);
    }
    printf("closures: after %ld mappings, deflateInit gave %s\n", maps,
           ret == Z_MEM_ERROR ? "Z_MEM_ERROR" : ret == Z_OK ? "Z_OK" : "?");
}

int main(int argc, char **argv)
{
    const char *what = argc > 1 ? argv[1] : "";

    page = sysconf(_SC_PAGESIZE);
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (!strcmp(what, "gc")) {
        test_gc();
    } else if (!strcmp(what, "bus")) {
        test_bus();
    } else if (!strcmp(what, "report")) {
        test_report();
    } else if (!strcmp(what, "pipe")) {
        test_pipe();
    } else if (!strcmp(what, "sigterm")) {
        test_sigterm();
    } else if (!strcmp(what, "cancel")) {
        test_cancel();
    } else if (!strcmp(what, "sigint")) {
        test_sigint();
    } else if (!strcmp(what, "memcpy")) {
        test_memcpy();
    } else if (!strcmp(what, "paths")) {
        test_paths(argc > 2 ? argv[2] : NULL);
    } else if (!strcmp(what, "longjmp")) {
        test_longjmp();
    } else if (!strcmp(what, "exit")) {
        test_exit();
    } else if (!strcmp(what, "fields")) {
        test_fields();
    } else if (!strcmp(what, "shadows")) {
        test_shadows();
    } else if (!strcmp(what, "workers")) {
        test_workers();
    } else if (!strcmp(what, "closures")) {
        test_closures();
    } else {
        fail("usage: contract gc|bus|report|pipe|sigterm|cancel|sigint|"
             "memcpy|paths [FILE]|longjmp|exit|fields|shadows|workers|"
             "closures");
    }
    return 0;
}
