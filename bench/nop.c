/*
 * The host function the call-cost benchmark invokes through dlcall.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
void bench_nop(void *arg1, void *arg2);

void bench_nop(void *arg1, void *arg2)
{
}
