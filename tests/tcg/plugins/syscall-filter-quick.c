/*
 * A system call filter registered as never blocking
 *
 * It answers the test's made-up number FILTER_NR with FILTER_ANSWER when
 * a1 is FILTER_OP, the calls of the loop in
 * tests/tcg/multiarch/test-plugin-syscall-filter-loop.c, and passes any
 * other call on.  Loaded before syscall-filter.c, whose filter may block,
 * it answers the loop's calls without the vCPU leaving its execution
 * loop, and the vCPU must leave it before the second filter runs.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <stdbool.h>
#include <stdint.h>

#include <qemu-plugin.h>

QEMU_PLUGIN_EXPORT int qemu_plugin_version = QEMU_PLUGIN_VERSION;

#define FILTER_NR 4056      /* as in syscall-filter.c */
#define FILTER_ANSWER 4057
#define FILTER_OP 7

static bool filter(unsigned int vcpu_index, int64_t num,
                   uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4,
                   uint64_t a5, uint64_t a6, uint64_t a7, uint64_t a8,
                   int64_t *sysret, void *userdata)
{
    if (num != FILTER_NR || a1 != FILTER_OP) {
        return false;
    }
    *sysret = FILTER_ANSWER;
    return true;
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id,
                                           const qemu_info_t *info,
                                           int argc, char **argv)
{
    qemu_plugin_register_vcpu_syscall_filter_flags_cb(
        id, filter, QEMU_PLUGIN_SYSCALL_FILTER_NEVER_BLOCKS, NULL);
    return 0;
}
