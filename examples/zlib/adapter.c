/*
 * Host side of the zlib demo: dlcall wrappers around the host's zlib.
 *
 * Built for the host as libzdemo-adapter.so; the guest program loads it
 * with dlcall and calls these functions through INVOKE_PROC.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <zlib.h>

#include "zdemo-abi.h"

void zdemo_compress2(void *args, void *ret)
{
    struct zdemo_compress2 *a = args;
    uLongf len = a->dest_len;

    *(int32_t *)ret = compress2((Bytef *)(uintptr_t)a->dest, &len,
                                (const Bytef *)(uintptr_t)a->source,
                                a->source_len, a->level);
    a->dest_len = len;
}

void zdemo_uncompress(void *args, void *ret)
{
    struct zdemo_uncompress *a = args;
    uLongf len = a->dest_len;

    *(int32_t *)ret = uncompress((Bytef *)(uintptr_t)a->dest, &len,
                                 (const Bytef *)(uintptr_t)a->source,
                                 a->source_len);
    a->dest_len = len;
}
