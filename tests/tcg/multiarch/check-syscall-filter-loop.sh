#!/bin/sh
#
# check-syscall-filter-loop.sh strace|callbacks LOG
#
# Check the log of test-plugin-syscall-filter-loop run with
# FIXED_CALLS_ONLY=1 and the syscall-filter plugin: each of its 100
# filtered calls must show in -strace (strace) or be counted by the
# syscall plugin's callbacks (callbacks), although with the filter
# alone QEMU would answer them without leaving the translated code.
#
# SPDX-License-Identifier: GPL-2.0-or-later

mode=$1
log=$2
calls=100

case $mode in
strace)
    seen=$(grep -c '^[0-9]* syscall_4056(7,[0-9]*,0,0,0,0) = 4057$' "$log")
    ;;
callbacks)
    seen=$(sed -n 's/^4056 *\([0-9]*\) *0$/\1/p' "$log")
    ;;
*)
    echo "usage: $0 strace|callbacks LOG" >&2
    exit 2
    ;;
esac
if [ "${seen:-0}" -ne $calls ]; then
    echo "FAIL: $mode saw ${seen:-no} of the $calls filtered calls"
    exit 1
fi
