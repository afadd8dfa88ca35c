#!/bin/sh
# What a filtered system call costs with and without the fast path that
# answers it in translated code (the *-syscall-fast-path patches),
# against QEMU's own round trip, and a chatty library workload.  Run
# by run.sh with its settings; prints a section of results.md on
# stdout, its progress on stderr.
#
# Three builds in one run: QEMU as released (PRISTINE), the series
# without the fast path (NOFAST) and the whole series (QEMU_BUILD).
# Instructions come from callgrind; times are medians of rounds that
# run every configuration back to back, and ratios are medians of the
# ratios within each round, as in run.sh.

set -eu

: "${QEMU_BUILD:=build/qemu-build}" "${PRISTINE:=build/qemu-pristine}"
: "${NOFAST:=build/qemu-nofast-build}" "${GUESTS:=x86_64 aarch64 riscv64}"
: "${OUT:=build/bench}" "${RUNS:=7}" "${COUNT:=200000}"
: "${CRC_MIB:=32}" "${CRC_RUNS:=3}"
RAW=$OUT/raw-fastpath
. bench/lib.sh
NOP=$(readlink -f "$OUT/libbench-nop.so")
CRCLIB=$(readlink -f "$OUT/libbench-crc32.so")

rm -rf "$RAW"
mkdir -p "$RAW"

say() {
    echo "fastpath: $*" >&2
}

# The builds, by the letter that names them in the raw figures.
build() {
    case $1 in
    p) echo "$PRISTINE" ;;
    n) echo "$NOFAST" ;;
    f) echo "$QEMU_BUILD" ;;
    esac
}

# The call-cost runs (bench/callcost.c) and the builds each runs on.
# getppid-dlcall is getppid with dlcall loaded, a filter that passes
# it on; invoke is an INVOKE_PROC of an empty host function; filter is
# a call that QEMU's test filter plugin (syscall-filter.c) answers, and
# filter-quick the same answered by a filter registered as never
# blocking (syscall-filter-quick.c, which only the whole series has).
MODES="invoke enosys getppid getppid-dlcall filter filter-quick"
builds_of() {
    case $1 in
    enosys | getppid) echo p n f ;;
    filter-quick) echo f ;;
    *) echo n f ;;
    esac
}
describe() {
    case $1 in
    invoke) echo "INVOKE_PROC of a no-op" ;;
    enosys) echo "unknown system call (ENOSYS)" ;;
    getppid) echo "getppid" ;;
    getppid-dlcall) echo "getppid, dlcall loaded" ;;
    filter) echo "a test filter's answer" ;;
    filter-quick) echo "the same, filter never blocks" ;;
    esac
}

# call B GUEST MODE N [WRAPPER...]: one call-cost run of N calls
call() {
    q=$(build "$1")/qemu-$2
    p=$(build "$1")/contrib/plugins/libdlcall.so
    t=$(build "$1")/tests/tcg/plugins
    c=$OUT/callcost-$2
    m=$3
    n=$4
    shift 4
    case $m in
    enosys | getppid) "$@" "$q" "$c" "$m" "$n" ;;
    getppid-dlcall) "$@" "$q" -plugin "$p" "$c" getppid "$n" ;;
    invoke) "$@" "$q" -plugin "$p" "$c" invoke "$n" "$NOP" ;;
    filter) "$@" "$q" -plugin "$t/libsyscall-filter.so" "$c" filtered "$n" ;;
    filter-quick) "$@" "$q" -plugin "$t/libsyscall-filter-quick.so" "$c" \
        filtered "$n" ;;
    esac
}

# last NAME: the figure of this round
last() {
    tail -n 1 "$RAW/$1"
}
# mid NAME: the median of a raw figure
mid() {
    median "$RAW/$1"
}

# profile FILE COMMAND...: the instructions COMMAND executes, counted
# by callgrind, which writes its profile to FILE
profile() {
    file=$1
    shift
    valgrind --tool=callgrind --callgrind-out-file="$file" "$@" 2>&1 \
        >/dev/null | sed -n 's/.*Collected : //p'
}

# Instructions per call: the difference of a 10000- and a 110000-call
# run, which cancels start-up and exit.  The profiles of INVOKE_PROC
# are kept for the breakdown by function.
say "instructions per call, with callgrind"
for g in $GUESTS; do
    for m in $MODES; do
        for b in $(builds_of "$m"); do
            keep=$RAW/profile-$g-$b-$m
            a=$(call "$b" "$g" "$m" 10000 profile "$keep.10000")
            z=$(call "$b" "$g" "$m" 110000 profile "$keep.110000")
            put "insns-$g-$b-$m" $(((z - a) / 100000))
            [ "$m" = invoke ] || rm -f "$keep".*
        done
    done
done

# byfunction PROFILE: "COUNT FUNCTION" lines, instructions executed in
# each function itself; the translated code shows as addresses
byfunction() {
    callgrind_annotate --auto=no --threshold=100 "$1" 2>/dev/null | awk '
        /file:function/ { go = 1; next }
        go && /^ *[0-9,]+ / {
            n = $1
            gsub(",", "", n)
            sub(/^ *[0-9,]+ +(\([ 0-9.%]+\) +)?/, "")
            sub(/ \[.*$/, "")
            sub(/^.*:/, "")
            if ($0 ~ /^0x/) {
                $0 = "translated-code"
            }
            s[$0] += n
        }
        END { for (f in s) print s[f], f }'
}
# percall GUEST BUILD: "INSTRUCTIONS FUNCTION" per INVOKE_PROC, largest first
percall() {
    f=$RAW/profile-$1-$2-invoke
    byfunction "$f.10000" >"$f.by10000"
    byfunction "$f.110000" >"$f.by110000"
    awk 'NR == FNR { a[$2] = $1; next }
         { d = ($1 - a[$2]) / 100000; if (d >= 0.5) printf "%.0f %s\n", d, $2 }' \
        "$f.by10000" "$f.by110000" | sort -rn
}

say "time per call, $RUNS rounds of $COUNT calls"
for _ in $(seq "$RUNS"); do
    for g in $GUESTS; do
        for m in $MODES; do
            for b in $(builds_of "$m"); do
                put "ns-$g-$b-$m" "$(call "$b" "$g" "$m" "$COUNT")"
            done
        done
        for b in n f; do
            put "ns-$g-$b-invoke-per-enosys" \
                "$(ratio "$(last "ns-$g-$b-invoke")" "$(last "ns-$g-$b-enosys")")"
        done
        for m in $MODES; do
            [ -f "$RAW/ns-$g-n-$m" ] || continue
            put "ns-$g-f-per-n-$m" \
                "$(ratio "$(last "ns-$g-f-$m")" "$(last "ns-$g-n-$m")")"
        done
        printf '.' >&2
    done
done
echo >&2

# crc MODE B GUEST: "CRC MS" of the crc32 benchmark (bench/crc32.c)
crc() {
    case $1 in
    native) "$OUT/crc32-native" own "$CRC_MIB" ;;
    own) "$(build "$2")/qemu-$3" "$OUT/crc32-$3" own "$CRC_MIB" ;;
    dlcall) "$(build "$2")/qemu-$3" \
        -plugin "$(build "$2")/contrib/plugins/libdlcall.so" \
        "$OUT/crc32-$3" dlcall "$CRC_MIB" "$CRCLIB" ;;
    esac | sed -n 's/^crc \([0-9a-f]*\) total \([0-9.]*\) ms$/\1 \2/p'
}
# crcput NAME MODE B GUEST: record one crc32 run
crcput() {
    name=$1
    shift
    crc "$@" >"$RAW/crc-last"
    read -r value ms <"$RAW/crc-last" || true
    echo "${value:-none}" >>"$RAW/crc-values"
    put "crc-$name" "${ms:-0}"
}
say "crc32 of $CRC_MIB MiB in 64-byte pieces, $CRC_RUNS rounds"
for _ in $(seq "$CRC_RUNS"); do
    crcput native native
    for g in $GUESTS; do
        crcput "$g-own" own f "$g"
        crcput "$g-n-dlcall" dlcall n "$g"
        crcput "$g-f-dlcall" dlcall f "$g"
        put "crc-$g-n-per-f" \
            "$(ratio "$(last "crc-$g-n-dlcall")" "$(last "crc-$g-f-dlcall")")"
        put "crc-$g-f-per-native" \
            "$(ratio "$(last "crc-$g-f-dlcall")" "$(last crc-native)")"
    done
done
if [ "$(sort -u "$RAW/crc-values" | wc -l)" -eq 1 ]; then
    crc_check="every run computed the same CRC, $(head -n 1 "$RAW/crc-values")"
else
    crc_check="the runs DISAGREE on the CRC: $(sort -u "$RAW/crc-values" | tr '\n' ' ')"
fi

# The section of results.md.
insns() {
    cat "$RAW/insns-$1"
}
cell() {
    if [ -f "$RAW/insns-$1" ]; then insns "$1"; else echo "-"; fi
}
# fn A B: the ratio of two figures of cell(), or "-"
fn() {
    if [ "$1" = - ] || [ "$2" = - ]; then echo -; else ratio "$1" "$2"; fi
}
# midcell NAME: mid() of a raw figure, or "-"
midcell() {
    if [ -f "$RAW/$1" ]; then mid "$1"; else echo "-"; fi
}
echo
echo "## Filtered system calls answered in translated code"
echo
echo "Three builds in the same run: QEMU 10.2.2 as released, the series"
echo "without the fast path for filtered calls (the patches up to, not"
echo "including, the first of it) and the whole series. Instructions are"
echo "the host instructions QEMU executes per guest call, counted by"
echo "callgrind (the difference of a 10000- and a 110000-call run)."
echo
echo "### Instructions per call"
echo
echo "| guest | call | QEMU as released | without fast path | whole series | whole / without |"
echo "|---|---|---|---|---|---|"
for g in $GUESTS; do
    for m in $MODES; do
        echo "| $g | $(describe "$m") | $(cell "$g-p-$m") | $(cell "$g-n-$m") | $(insns "$g-f-$m") | $(fn "$(insns "$g-f-$m")" "$(cell "$g-n-$m")") |"
    done
done
echo
echo "Targets: an INVOKE_PROC at most 0.25 of QEMU's ENOSYS round trip;"
echo "calls no filter takes within 1% of the series without the fast path,"
echo "with and without a filter plugin loaded."
echo
echo "| guest | INVOKE_PROC / ENOSYS, without fast path | INVOKE_PROC / ENOSYS, whole series | getppid, whole / without | getppid with dlcall loaded, whole / without |"
echo "|---|---|---|---|---|"
for g in $GUESTS; do
    echo "| $g | $(ratio "$(insns "$g-n-invoke")" "$(insns "$g-n-enosys")") | $(ratio "$(insns "$g-f-invoke")" "$(insns "$g-f-enosys")") | $(ratio "$(insns "$g-f-getppid")" "$(insns "$g-n-getppid")") | $(ratio "$(insns "$g-f-getppid-dlcall")" "$(insns "$g-n-getppid-dlcall")") |"
done
echo
echo "A filter registered as never blocking is answered without the vCPU"
echo "pause (whole series):"
echo
echo "| guest | test filter / ENOSYS | never blocking / ENOSYS | never blocking / test filter |"
echo "|---|---|---|---|"
for g in $GUESTS; do
    echo "| $g | $(ratio "$(insns "$g-f-filter")" "$(insns "$g-f-enosys")") | $(ratio "$(insns "$g-f-filter-quick")" "$(insns "$g-f-enosys")") | $(ratio "$(insns "$g-f-filter-quick")" "$(insns "$g-f-filter")") |"
done
echo
echo "### Time per call (ns)"
echo
echo "Medians of $RUNS rounds of $COUNT calls; the ratios are medians of"
echo "the ratios within each round."
echo
echo "| guest | call | QEMU as released | without fast path | whole series | whole / without |"
echo "|---|---|---|---|---|---|"
for g in $GUESTS; do
    for m in $MODES; do
        echo "| $g | $(describe "$m") | $(midcell "ns-$g-p-$m") | $(midcell "ns-$g-n-$m") | $(mid "ns-$g-f-$m") | $(midcell "ns-$g-f-per-n-$m") |"
    done
done
echo
echo "| guest | INVOKE_PROC / ENOSYS, without fast path | INVOKE_PROC / ENOSYS, whole series |"
echo "|---|---|---|"
for g in $GUESTS; do
    echo "| $g | $(mid "ns-$g-n-invoke-per-enosys") | $(mid "ns-$g-f-invoke-per-enosys") |"
done
echo
echo "### Where the instructions of an INVOKE_PROC go"
echo
echo "Per call, by function (instructions executed in the function"
echo "itself; translated-code is the guest's code, translated), for the"
echo "whole series and, for comparison, the series without the fast"
echo "path: the 12 largest, and the rest."
for g in $GUESTS; do
    for b in f n; do
        percall "$g" "$b" >"$RAW/percall-$g-$b"
        total=$(insns "$g-$b-invoke")
        echo
        if [ "$b" = f ]; then
            echo "$g, whole series: $total instructions per call"
        else
            echo "$g, without the fast path: $total instructions per call"
        fi
        echo
        echo "| function | instructions | share |"
        echo "|---|---|---|"
        awk -v t="$total" '
            NR <= 12 { printf "| %s | %d | %.0f%% |\n", $2, $1, 100 * $1 / t }
            NR > 12 { s += $1 }
            END { printf "| the rest | %d | %.0f%% |\n", s, 100 * s / t }' \
            "$RAW/percall-$g-$b"
    done
done
echo
echo "### A chatty workload: crc32 of $CRC_MIB MiB in 64-byte pieces (ms)"
echo
echo "\`bench/crc32.c\` feeds zlib's crc32() 64 bytes per call: the guest's"
echo "own zlib under emulation, or the host's zlib through one INVOKE_PROC"
echo "per call, on the series without the fast path and on the whole"
echo "series, against the host program. Medians of $CRC_RUNS rounds; $crc_check."
echo
echo "| guest | emulated | dlcall, without fast path | dlcall, whole series | native | without / whole | whole / native |"
echo "|---|---|---|---|---|---|---|"
for g in $GUESTS; do
    echo "| $g | $(mid "crc-$g-own") | $(mid "crc-$g-n-dlcall") | $(mid "crc-$g-f-dlcall") | $(mid crc-native) | $(mid "crc-$g-n-per-f") | $(mid "crc-$g-f-per-native") |"
done
echo
echo "Raw figures: \`$RAW/\`."
