/*
 * A second system call filter, for the filter-chain test
 *
 * Loaded after the syscall plugin, it answers every call of the test's
 * made-up number that reaches it with SECOND_ANSWER.  The guest can
 * then tell which filter answered: the syscall plugin's answers prove
 * that it ran first and that its "true" stopped the chain, this one's
 * answer proves that a "false" passed the call on.  See
 * tests/tcg/multiarch/test-plugin-syscall-filter.c.
 *
 * It also answers NOTED_NR, a number no guest has but below the ones
 * whose outcome QEMU notes per vCPU, with NOTED_ANSWER when a1 is 1,
 * and passes it on otherwise: see
 * tests/tcg/multiarch/test-plugin-syscall-filter-loop.c.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <stdbool.h>
#include <stdint.h>

#include <qemu-plugin.h>

QEMU_PLUGIN_EXPORT int qemu_plugin_version = QEMU_PLUGIN_VERSION;

#define FILTER_NR 4056      /* as in syscall.c */
#define SECOND_ANSWER 4057
#define NOTED_NR 1000
#define NOTED_ANSWER 1001

static bool filter(unsigned int vcpu_index, int64_t num,
                   uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4,
                   uint64_t a5, uint64_t a6, uint64_t a7, uint64_t a8,
                   int64_t *sysret, void *userdata)
{
    if (num == NOTED_NR && a1 == 1) {
        *sysret = NOTED_ANSWER;
        return true;
    }
    if (num != FILTER_NR) {
        return false;
    }
    *sysret = SECOND_ANSWER;
    return true;
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id,
                                           const qemu_info_t *info,
                                           int argc, char **argv)
{
    qemu_plugin_register_vcpu_syscall_filter_cb(id, filter, NULL);
    return 0;
}
