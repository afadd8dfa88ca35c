/*
 * The functions of tests/tcg/plugins/dlcall-host.c that the dlcall
 * tests call through INVOKE_PROC, or that dlcall calls.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DLCALL_HOST_H
#define DLCALL_HOST_H

#include <signal.h>
#include <stdint.h>

int dlcall_host_signal(int signo, siginfo_t *info, void *context);
void dlcall_host_fault(int32_t *result, void *bus);
void dlcall_host_wait(int32_t *result, void *unused);
void dlcall_host_start_thread(int32_t *result, void *unused);
void dlcall_host_blocked_wait(int32_t *fds, void *unused);
void dlcall_host_thread_blocks(int32_t *result, void *unused);

#endif
