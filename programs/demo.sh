#!/bin/sh
# The demo: Debian's unmodified pigz for GUEST compresses the same MIB
# MiB of text three ways, and the times are compared:
#   emulated  dlcall-run --no-thunks: pigz and its zlib run under QEMU
#   thunks    dlcall-run: pigz runs under QEMU, zlib's work on the host
#   native    the host's own pigz
# Each output must decompress (with the host's gzip) to the input.
#
# usage: programs/demo.sh GUEST MIB    (from the top of the repository)

set -eu
g=$1 mib=$2
TOP=$(pwd)
BUILD=$TOP/build
RUN=$BUILD/bin/dlcall-run
dir=$BUILD/programs/demo
input=$dir/input-$mib
dropin=$BUILD/thunks/$g/lib/libz.so.1

die() {
    echo "demo: $*" >&2
    exit 1
}

# version PACKAGE [GUEST]: its Debian version, on the host or in GUEST's
# sysroot
version() {
    if [ $# = 2 ] && [ "$2" != x86_64 ]; then
        awk -v p="$1" '$1 == p { print $2 }' "$BUILD/sysroot/$2.packages"
    else
        dpkg-query -W -f='${Version}\n' "$1" | head -n 1
    fi
}

mkdir -p "$dir"
[ -f "$input" ] || "$BUILD/programs/textgen" $((mib * 1024)) >"$input"
if [ "$g" = x86_64 ]; then
    pigz=/usr/bin/pigz
else
    pigz=$BUILD/sysroot/$g/usr/bin/pigz
fi
[ -x "$pigz" ] || die "no $pigz: run 'make sysroot'"

# run NAME COMMAND...: time COMMAND compressing the input to stdout,
# check its output, set ms to the time in milliseconds
run() {
    name=$1
    shift
    echo "== $name: $* -c <input" | sed "s|$TOP/||g"
    t0=$(date +%s%N)
    "$@" -c <"$input" >"$dir/$name.gz" || die "$name: $1 failed"
    t1=$(date +%s%N)
    gzip -dc "$dir/$name.gz" | cmp -s - "$input" ||
        die "$name: the output does not decompress to the input"
    ms=$(( (t1 - t0) / 1000000 ))
}

run emulated "$RUN" --no-thunks "$pigz"
emulated=$ms
thunks=
if [ -f "$dropin" ]; then
    run thunks "$RUN" "$pigz"
    thunks=$ms
else
    echo "== thunks: not run, no drop-in built (${dropin#$TOP/} is missing)"
fi
run native /usr/bin/pigz
native=$ms

echo
awk -v e="$emulated" -v t="$thunks" -v n="$native" -v g="$g" -v m="$mib" \
    -v gv="$(version pigz "$g")" -v hv="$(version pigz)" \
    -v threads="$(nproc)" 'BEGIN {
    printf "pigz (level 6, %d threads), %s MiB of text, Debian'"'"'s unmodified %s pigz %s:\n", threads, m, g, gv
    printf "  emulated  %7d ms   (dlcall-run --no-thunks)\n", e
    if (t != "")
        printf "  thunks    %7d ms   (dlcall-run: zlib on the host)\n", t
    else
        printf "  thunks         --      (no drop-in libz.so.1 built)\n"
    printf "  native    %7d ms   (the host'"'"'s pigz %s)\n", n, hv
    if (t != "")
        printf "thunks are %.1fx faster than emulation; thunks/native = %.2f\n", e / t, t / n
    else
        printf "emulated/native = %.2f\n", e / n
}'
