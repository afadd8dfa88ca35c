/*
 * The interface between the zlib demo's guest program (zdemo.c) and
 * its host-side adapter library (adapter.c).
 *
 * dlcall calls host functions as void f(void *args, void *ret), so the
 * adapter unpacks each zlib call's arguments from a structure in guest
 * memory.  Guest and host are both 64-bit little-endian and share this
 * layout; fixed-width types keep it the same on every such target.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef ZDEMO_ABI_H
#define ZDEMO_ABI_H

#include <stdint.h>

/* The adapter's file name, and its functions' names. */
#define ZDEMO_ADAPTER "libzdemo-adapter.so"
#define ZDEMO_COMPRESS2 "zdemo_compress2"
#define ZDEMO_UNCOMPRESS "zdemo_uncompress"

/* compress2(dest, &dest_len, source, source_len, level) */
struct zdemo_compress2 {
    uint64_t dest;          /* unsigned char * */
    uint64_t dest_len;      /* in: room at dest; out: bytes written */
    uint64_t source;        /* const unsigned char * */
    uint64_t source_len;
    int32_t level;
};

/* uncompress(dest, &dest_len, source, source_len) */
struct zdemo_uncompress {
    uint64_t dest;
    uint64_t dest_len;
    uint64_t source;
    uint64_t source_len;
};

/* Both adapters store zlib's return code (Z_OK, ...) at ret, an int32_t. */

#endif /* ZDEMO_ABI_H */
