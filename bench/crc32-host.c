/*
 * Host side of the crc32 benchmark (bench/crc32.c): one piece of the
 * buffer into the host's zlib per INVOKE_PROC.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <zlib.h>

#include "crc32-abi.h"

void bench_crc32(void *state, void *piece);

void bench_crc32(void *state, void *piece)
{
    struct bench_crc32 *s = state;

    s->crc = crc32(s->crc, piece, s->len);
}
