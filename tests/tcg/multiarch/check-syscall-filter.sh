#!/bin/sh
#
# Check the log of test-plugin-syscall-filter run with -strace and the
# syscall plugin: calls a filter answered stay visible, to -strace with
# the filter's result and to the plugin's syscall and syscall-return
# callbacks, which count them (and their negative results) per number.
#
# SPDX-License-Identifier: GPL-2.0-or-later

log=$1
status=0

if ! grep -q '^[0-9]* syscall_4056(2,0,0,0,0,0) = -1 errno=33 ' "$log"; then
    echo "FAIL: -strace does not show the filter's EDOM for syscall 4056"
    status=1
fi
# The parent made three calls of 4056 before it forked: two or three of
# them (on 32-bit guests, the narrowed answer too) returned a negative
# value.
if ! grep -Eq '^4056 +3 +[23]$' "$log"; then
    echo "FAIL: the syscall plugin did not count 3 calls of 4056"
    status=1
fi
exit $status
