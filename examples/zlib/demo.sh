#!/bin/sh
# Run the zlib demo three ways on the same input and compare:
# emulated (the guest's own zlib), dlcall (the host's zlib called from
# the guest) and native (the same program built for the host).
#
# usage: demo.sh QEMU PLUGIN GUEST-ZDEMO NATIVE-ZDEMO ADAPTER MIB

set -eu
qemu=$1 plugin=$2 guest=$3 native=$4 adapter=$5 mib=$6
arch=${qemu##*qemu-}

# run LABEL COMMAND...: print the demo's line, keep its total time
run() {
    label=$1
    shift
    echo "== $label: $*"
    line=$("$@")
    echo "$line"
    total=$(printf '%s\n' "$line" | sed -n 's/.*total \([0-9.]*\) ms.*/\1/p')
    [ -n "$total" ] || { echo "demo: no time in the output" >&2; exit 1; }
}

run "emulated ($arch guest, its own zlib)" "$qemu" "$guest" -m own -s "$mib"
emulated=$total
run "dlcall ($arch guest, host zlib)" "$qemu" -plugin "$plugin" "$guest" \
    -m dlcall -a "$adapter" -s "$mib"
dlcall=$total
run "native (host program, host zlib)" "$native" -m own -s "$mib"
native=$total

echo
awk -v e="$emulated" -v d="$dlcall" -v n="$native" -v a="$arch" -v m="$mib" 'BEGIN {
    printf "zlib, %s MiB, compress + uncompress, %s guest on this host:\n", m, a
    printf "  emulated  %9.1f ms\n", e
    printf "  dlcall    %9.1f ms\n", d
    printf "  native    %9.1f ms\n", n
    printf "dlcall is %.1fx faster than emulation; dlcall/native = %.3f\n", e / d, d / n
}'
