/*
 * What the crc32 benchmark passes to the host through dlcall: shared by
 * the guest program (bench/crc32.c) and the host side
 * (bench/crc32-host.c), so 64-bit fields only.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef BENCH_CRC32_ABI_H
#define BENCH_CRC32_ABI_H

#include <stdint.h>

struct bench_crc32 {
    uint64_t crc;       /* in: the CRC so far; out: with the piece */
    uint64_t len;       /* the length of each piece */
};

#endif
