#!/bin/sh
# Benchmarks of the thunks: what a call through a drop-in and a
# callback round trip cost, against a raw INVOKE_PROC round trip made
# by the same guest program (bench/thunkcost.c), in host instructions
# (callgrind) and in ns.  Prints a section for results.md.
#
# Run by bench/run.sh after "make -f thunks/Makefile bench" built what
# it needs.  Settings: QEMU_BUILD, GUESTS, RUNS, COUNT, OUT, SYSROOT,
# INSN_GUESTS (guests measured with callgrind, default GUESTS).

set -eu

: "${QEMU_BUILD:=build/qemu-build}" "${GUESTS:=x86_64 aarch64 riscv64}"
: "${RUNS:=7}" "${COUNT:=200000}" "${OUT:=build/bench}"
: "${SYSROOT:=build/sysroot}" "${INSN_GUESTS:=$GUESTS}"
TOP=$(pwd)
T=$TOP/build/thunks/tests
PLUGIN=$(readlink -f "$QEMU_BUILD/contrib/plugins/libdlcall.so")
NOP=$(readlink -f "$OUT/libbench-nop.so")
RAW=$OUT/raw-thunks
HOST_ARCH=$(uname -m)

rm -rf "$RAW"
mkdir -p "$RAW"

# hosts GUEST: the host libraries' folders; riscv64 (trixie) needs
# trixie's zlib (build/thunks/host-trixie), libcbtest is in the other
hosts() {
    case $1 in
    riscv64) echo "$TOP/build/thunks/host-trixie:$TOP/build/thunks/host" ;;
    *) echo "$TOP/build/thunks/host" ;;
    esac
}

# run WRAPPER GUEST MODE COUNT [dropin]: thunkcost under qemu-GUEST,
# itself run under WRAPPER (a command and its options, or env),
# with the plugin; with "dropin", zlib's drop-in is used, otherwise the
# guest's own zlib.  (libcbtest's drop-in is always there; its host
# library needs the host's libcbtest.)
run() {
    wrap=$1
    shift
    libs=$T/$1/lib
    [ "${4:-}" = dropin ] && libs=$TOP/build/thunks/$1/lib:$libs
    root=
    [ "$1" = "$HOST_ARCH" ] || root="-L $(readlink -f "$SYSROOT/$1")"
    # libcbtest's function kept in the guest needs its real library.
    # shellcheck disable=SC2086
    LD_LIBRARY_PATH=$T/host $wrap "$QEMU_BUILD/qemu-$1" $root \
        -plugin "$PLUGIN" -E "LD_LIBRARY_PATH=$libs" \
        -E "DLCALL_THUNKS_HOST_DIR=$(hosts "$1")" \
        -E "DLCALL_THUNKS_GUEST_LIBDIR=$T/$1/real" \
        "$T/$1/thunkcost" "$2" "$3" "$NOP"
}
# cost GUEST MODE COUNT [dropin]: thunkcost's figure
cost() {
    run env "$@"
}

put() {
    echo "$2" >>"$RAW/$1"
}
median() {
    sort -g "$RAW/$1" | awk '{ v[NR] = $1 }
        END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
calc() {
    awk "BEGIN { printf \"$1\n\", $2 }"
}

echo "bench: thunks, $RUNS rounds of $COUNT calls" >&2
for _ in $(seq "$RUNS"); do
    for g in $GUESTS; do
        invoke=$(cost "$g" invoke "$COUNT")
        own=$(cost "$g" version "$COUNT")
        thunk=$(cost "$g" version "$COUNT" dropin)
        callback=$(cost "$g" callback "$COUNT")
        put "$g-invoke" "$invoke"
        put "$g-own" "$own"
        put "$g-thunk" "$thunk"
        put "$g-callback" "$callback"
        put "$g-thunk-minus-invoke" "$(calc %.1f "$thunk - $invoke")"
        put "$g-callback-per-invoke" "$(calc %.3f "$callback / $invoke")"
    done
    printf '.' >&2
done
echo >&2

# Instructions per call: the difference of a 10000- and a 110000-call
# run cancels start-up and exit.
insns() {
    a=$(collected "$1" "$2" 10000 "${3:-}")
    b=$(collected "$1" "$2" 110000 "${3:-}")
    echo $(( (b - a) / 100000 ))
}
collected() {
    run "valgrind --tool=callgrind --callgrind-out-file=/dev/null" "$@" 2>&1 |
        sed -n 's/.*Collected : //p'
}
if command -v valgrind >/dev/null; then
    echo "bench: thunks, instructions per call with callgrind" >&2
    for g in $INSN_GUESTS; do
        case " $GUESTS " in *" $g "*) ;; *) continue ;; esac
        put "insns-$g-invoke" "$(insns "$g" invoke)"
        put "insns-$g-own" "$(insns "$g" version)"
        put "insns-$g-thunk" "$(insns "$g" version dropin)"
        put "insns-$g-crc-own" "$(insns "$g" crc)"
        put "insns-$g-crc" "$(insns "$g" crc dropin)"
        put "insns-$g-callback" "$(insns "$g" callback)"
    done
fi

echo "## Thunks: a call through a drop-in, and a callback"
echo
echo "\`bench/thunks.sh\`: \`bench/thunkcost.c\`, linked dynamically with the"
echo "guest's zlib and libcbtest (\`thunks/tests/cbtest.h\`), under qemu-<guest>"
echo "with the plugin. *raw*: INVOKE_PROC of an empty host function, inline"
echo "in the loop; *own zlibVersion*: the guest's zlib, emulated (what any"
echo "call of a guest library function costs QEMU: the PLT's indirect jump"
echo "and the return); *drop-in*: zlibVersion through zlib's drop-in;"
echo "*callback*: one round trip of a guest callback that does nothing,"
echo "called by the host library (cbtest_call); *crc32*: crc32 of one byte,"
echo "own and through the drop-in, a call that passes a pointer and so runs"
echo "on a coroutine, which a fault or a signal can park; zlibVersion, which"
echo "passes nothing, does not: *coroutine* is drop-in crc32 less drop-in"
echo "zlibVersion, the coroutine's cost and crc32's few host instructions."
echo
if ls "$RAW"/insns-* >/dev/null 2>&1; then
    echo "Host instructions per call (callgrind; 110000 calls minus 10000):"
    echo
    echo "| guest | raw | own zlibVersion | drop-in | drop-in - raw | drop-in - raw - own | own crc32 | drop-in crc32 | coroutine | callback | callback / raw |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|"
    for g in $INSN_GUESTS; do
        [ -f "$RAW/insns-$g-invoke" ] || continue
        i=$(median "insns-$g-invoke")
        o=$(median "insns-$g-own")
        t=$(median "insns-$g-thunk")
        c=$(median "insns-$g-callback")
        co=$(median "insns-$g-crc-own")
        ct=$(median "insns-$g-crc")
        echo "| $g | $i | $o | $t | $((t - i)) | $((t - i - o)) | $co | $ct | $((ct - t)) | $c | $(calc %.2f "$c / $i") |"
    done
    echo
fi
echo "ns per call, median of $RUNS rounds of $COUNT (ratios: medians of"
echo "per-round ratios):"
echo
echo "| guest | raw | own zlibVersion | drop-in | drop-in - raw | callback | callback / raw |"
echo "|---|---|---|---|---|---|---|"
for g in $GUESTS; do
    echo "| $g | $(median "$g-invoke") | $(median "$g-own") | $(median "$g-thunk") | $(median "$g-thunk-minus-invoke") | $(median "$g-callback") | $(median "$g-callback-per-invoke") |"
done
echo
echo "Targets: the thunk layers add at most 200 host instructions to a raw"
echo "INVOKE_PROC; a callback round trip costs at most 2.5 raw ones."
echo
