/*
 * zlib demo: compress and decompress reproducible data, with the
 * program's own zlib or, through dlcall, with the host's.
 *
 * usage: zdemo [-s MIB] [-l LEVEL] [-m own|dlcall|auto] [-a ADAPTER]
 *
 *   -s MIB      input size in MiB (default 64)
 *   -l LEVEL    compression level (default 6)
 *   -m MODE     own: the zlib linked into this program (emulated under
 *               QEMU); dlcall: the host's zlib through the dlcall plugin;
 *               auto (default): dlcall if it is there, else own
 *   -a ADAPTER  host path of libzdemo-adapter.so (default: found on the
 *               host's library path)
 *
 * It checks that the round trip gives back the input byte for byte,
 * prints the time compression and decompression took, and exits
 * non-zero if anything failed.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "dlcall.h"
#include "zdemo-abi.h"

struct zlib_ops {
    const char *name;
    int (*compress2)(unsigned char *dest, uint64_t *dest_len,
                     const unsigned char *src, uint64_t src_len, int level);
    int (*uncompress)(unsigned char *dest, uint64_t *dest_len,
                      const unsigned char *src, uint64_t src_len);
};

/* The program's own zlib. */

static int own_compress2(unsigned char *dest, uint64_t *dest_len,
                         const unsigned char *src, uint64_t src_len,
                         int level)
{
    uLongf len = *dest_len;
    int ret = compress2(dest, &len, src, src_len, level);

    *dest_len = len;
    return ret;
}

static int own_uncompress(unsigned char *dest, uint64_t *dest_len,
                          const unsigned char *src, uint64_t src_len)
{
    uLongf len = *dest_len;
    int ret = uncompress(dest, &len, src, src_len);

    *dest_len = len;
    return ret;
}

/* The host's zlib, through the adapter library and dlcall. */

static void *host_compress2_fn, *host_uncompress_fn;

static int host_compress2(unsigned char *dest, uint64_t *dest_len,
                          const unsigned char *src, uint64_t src_len,
                          int level)
{
    struct zdemo_compress2 args = {
        .dest = (uintptr_t)dest, .dest_len = *dest_len,
        .source = (uintptr_t)src, .source_len = src_len, .level = level,
    };
    int32_t ret = Z_STREAM_ERROR;

    if (dlcall_invoke_proc(host_compress2_fn, &args, &ret) != 0) {
        return Z_STREAM_ERROR;
    }
    *dest_len = args.dest_len;
    return ret;
}

static int host_uncompress(unsigned char *dest, uint64_t *dest_len,
                           const unsigned char *src, uint64_t src_len)
{
    struct zdemo_uncompress args = {
        .dest = (uintptr_t)dest, .dest_len = *dest_len,
        .source = (uintptr_t)src, .source_len = src_len,
    };
    int32_t ret = Z_STREAM_ERROR;

    if (dlcall_invoke_proc(host_uncompress_fn, &args, &ret) != 0) {
        return Z_STREAM_ERROR;
    }
    *dest_len = args.dest_len;
    return ret;
}

/* Load the adapter; on failure say why and return false. */
static bool load_host_zlib(const char *adapter)
{
    const char *error = NULL;
    void *lib = NULL;

    if (dlcall_load_library(adapter, RTLD_NOW, &lib) == 0 && lib &&
        dlcall_get_proc_address(lib, ZDEMO_COMPRESS2,
                                &host_compress2_fn) == 0 &&
        host_compress2_fn &&
        dlcall_get_proc_address(lib, ZDEMO_UNCOMPRESS,
                                &host_uncompress_fn) == 0 &&
        host_uncompress_fn) {
        return true;
    }
    dlcall_get_library_error(&error);
    fprintf(stderr, "zdemo: cannot use %s on the host: %s\n", adapter,
            error ? error : "unknown error");
    return false;
}

/*
 * Reproducible, text-like input: words drawn by a fixed xorshift
 * generator, so every run and every target compresses the same bytes.
 */
static void fill_input(unsigned char *buf, size_t len)
{
    static const char *const words[] = {
        "the", "of", "and", "to", "in", "is", "guest", "host", "library",
        "call", "emulation", "native", "speed", "zlib", "plugin", "qemu",
        "compress", "memory", "pointer", "function", "system", "thread",
        "data", "block", "translate", "register", "syscall", "return",
        "value", "error", "handle", "symbol",
    };
    uint64_t x = 0x9e3779b97f4a7c15ull;
    size_t i = 0;

    while (i < len) {
        const char *w;
        size_t n;

        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        w = words[x % (sizeof(words) / sizeof(words[0]))];
        n = strlen(w);
        if (n > len - i) {
            n = len - i;
        }
        memcpy(buf + i, w, n);
        i += n;
        if (i < len) {
            buf[i++] = (x >> 40) % 11 ? ' ' : '\n';
        }
    }
}

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void usage(void)
{
    fprintf(stderr, "usage: zdemo [-s MIB] [-l LEVEL] [-m own|dlcall|auto] "
            "[-a ADAPTER]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const struct zlib_ops own = { "own zlib", own_compress2, own_uncompress };
    const struct zlib_ops host = {
        "host zlib via dlcall", host_compress2, host_uncompress
    };
    const struct zlib_ops *ops;
    const char *mode = "auto", *adapter = ZDEMO_ADAPTER;
    unsigned char *in, *packed, *out;
    uint64_t packed_len, out_len;
    double mib = 64, t0, t1, t2;
    int level = 6, opt, ret;
    size_t len;

    while ((opt = getopt(argc, argv, "s:l:m:a:")) != -1) {
        switch (opt) {
        case 's':
            mib = atof(optarg);
            break;
        case 'l':
            level = atoi(optarg);
            break;
        case 'm':
            mode = optarg;
            break;
        case 'a':
            adapter = optarg;
            break;
        default:
            usage();
        }
    }
    if (optind != argc || mib <= 0 || level < 0 || level > 9) {
        usage();
    }

    if (!strcmp(mode, "own")) {
        ops = &own;
    } else if (!strcmp(mode, "dlcall") || !strcmp(mode, "auto")) {
        if (dlcall_available() && load_host_zlib(adapter)) {
            ops = &host;
        } else if (!strcmp(mode, "auto")) {
            printf("zdemo: dlcall is not available, using the program's "
                   "own zlib\n");
            ops = &own;
        } else {
            fprintf(stderr, "zdemo: dlcall is not available (run under "
                    "qemu-user with -plugin libdlcall.so)\n");
            return 1;
        }
    } else {
        usage();
    }

    len = mib * 1024 * 1024;
    packed_len = compressBound(len);
    in = malloc(len);
    packed = malloc(packed_len);
    out = malloc(len);
    if (!in || !packed || !out) {
        fprintf(stderr, "zdemo: out of memory\n");
        return 1;
    }
    fill_input(in, len);

    t0 = now_ms();
    ret = ops->compress2(packed, &packed_len, in, len, level);
    if (ret != Z_OK) {
        fprintf(stderr, "zdemo: compress2 failed: %d\n", ret);
        return 1;
    }
    t1 = now_ms();
    out_len = len;
    ret = ops->uncompress(out, &out_len, packed, packed_len);
    if (ret != Z_OK) {
        fprintf(stderr, "zdemo: uncompress failed: %d\n", ret);
        return 1;
    }
    t2 = now_ms();

    if (out_len != len || memcmp(in, out, len) != 0) {
        fprintf(stderr, "zdemo: the round trip changed the data\n");
        return 1;
    }
    printf("zdemo: %s, %.6g MiB at level %d -> %.2f MiB: compress %.1f ms, "
           "uncompress %.1f ms, total %.1f ms, round trip exact\n",
           ops->name, mib, level, packed_len / 1048576.0, t1 - t0, t2 - t1,
           t2 - t0);
    return 0;
}
