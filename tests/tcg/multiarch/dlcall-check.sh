#!/bin/sh
#
# Checks of the dlcall plugin that a single guest run cannot make.
#
# dlcall-check.sh options QEMU PLUGIN DLCALL-TEST
#   The option: each accepted syscall_num runs dlcall-test on that
#   number; each bad value, an unknown option and a non-zero guest_base
#   must make QEMU exit non-zero with the plugin's one-line message, and
#   so must the plugin given twice.
# dlcall-check.sh refused QEMU PLUGIN GUEST
#   The plugin must refuse to load for this guest.
# dlcall-check.sh no-leaks PLUGIN-LOG
#   Every process of the run closed all the libraries it opened.
#
# SPDX-License-Identifier: GPL-2.0-or-later

mode=$1
shift
if [ "$mode" = no-leaks ]; then
    grep -q "^dlcall: 0 library handles open at exit" "$1" &&
        ! grep "library handles open at exit" "$1" | grep -v "^dlcall: 0 "
    exit
fi
qemu=$1
plugin=$2
guest=$3
fails=0

fail() {
    echo "FAIL: $*"
    fails=$((fails + 1))
}

# accept OPTIONS NUMBER: the plugin loads and serves NUMBER
accept() {
    $qemu -plugin "$plugin$1" -E DLCALL_SYSCALL="$2" "$guest" ||
        fail "'$1' was refused, or dlcall-test failed on syscall $2"
}

# refuse OPTIONS MESSAGE [QEMU-OPTION...]: QEMU fails, saying MESSAGE
refuse() {
    opts=$1
    msg=$2
    shift 2
    if out=$($qemu "$@" -plugin "$plugin$opts" "$guest" 2>&1); then
        fail "'$opts' was accepted"
    elif ! printf '%s\n' "$out" | grep -q "^dlcall: .*$msg"; then
        fail "'$opts' gave no message saying '$msg':"
        printf '%s\n' "$out"
    fi
}

if [ "$mode" = refused ]; then
    refuse "" "must both be 64-bit little-endian"
    exit $((fails != 0))
fi

accept "" 4096
accept ",syscall_num=4096" 4096
accept ",syscall_num=5000" 5000
accept ",syscall_num=0x2000" 8192
accept ",syscall_num=010001" 4097
accept ",syscall_num=2147483647" 2147483647

refuse ",syscall_num=" "needs a value"
refuse ",syscall_num=-5000" "not a non-negative number"
refuse ",syscall_num=abc" "not a non-negative number"
refuse ",syscall_num=5000x" "is not a number"
refuse ",syscall_num=4095" "out of range"
refuse ",syscall_num=0" "out of range"
refuse ",syscall_num=2147483648" "out of range"
refuse ",syscall_num=0x100000000" "out of range"
refuse ",syscall_num=99999999999999999999999" "out of range"
refuse ",verbose=on" "unknown option"

# The plugin given twice, under two spellings of its path, is one
# module: QEMU must refuse to install it again over its own state.
dir=$(dirname "$plugin")
twice=$dir/../$(basename "$dir")/$(basename "$plugin")
if out=$($qemu -plugin "$plugin" -plugin "$twice" "$guest" 2>&1); then
    fail "the plugin was installed twice, as $plugin and $twice"
elif ! printf '%s\n' "$out" | grep -q "already loaded as"; then
    fail "the plugin given twice gave no message saying so:"
    printf '%s\n' "$out"
fi

# A non-zero guest_base: dlcall-test fails (every call gets ENOSYS),
# and the plugin says why, once.
refuse "" "guest_base is 0x100000000000, not 0" -B 0x100000000000
count=$($qemu -B 0x100000000000 -plugin "$plugin" "$guest" 2>&1 |
        grep -c '^dlcall: guest_base')
[ "$count" = 1 ] || fail "guest_base message given $count times, not once"

exit $((fails != 0))
