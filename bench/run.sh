#!/bin/sh
# Benchmarks of dlcall: the cost of one call and the speedup it buys,
# against native and against QEMU's own work, in one session.
#
# Run by "make bench", which builds what it needs first.  Settings come
# from the environment: QEMU_BUILD, GUESTS, SIZE (zlib input, MiB),
# RUNS (runs of each call-cost figure), ZLIB_RUNS, COUNT (calls per
# call-cost run, a tenth of it for the management operations), OUT
# (where results.md and results.png go) and BASELINE (the commit whose
# dlcall plugin, $OUT/libdlcall-baseline.so, is the "before");
# bench/programs.sh, called at the end, takes PROG_JOBS, PROG_SIZE and
# PROG_RUNS; bench/system.sh SYS_JOBS and SYS_RUNS; bench/branches.sh
# BR_RUNS.
#
# Configurations that are compared are run interleaved, one after the
# other in each round, and a comparison is the median of the per-round
# ratios: the machine's speed drifts between rounds, much less within.

set -eu

: "${QEMU_BUILD:=build/qemu-build}" "${GUESTS:=x86_64 aarch64 riscv64}"
: "${SIZE:=64}" "${RUNS:=7}" "${ZLIB_RUNS:=3}" "${COUNT:=200000}"
: "${OUT:=build/bench}" "${PRISTINE:=build/qemu-pristine}"
EX=build/examples
PLUGIN=$QEMU_BUILD/contrib/plugins/libdlcall.so
BASE=$OUT/libdlcall-baseline.so
NOP=$(readlink -f "$OUT/libbench-nop.so")
ADAPTER=$(readlink -f "$EX/libzdemo-adapter.so")
RAW=$OUT/raw
. bench/lib.sh

rm -rf "$RAW"
mkdir -p "$RAW"

# zdemo's total time in ms
ztime() {
    "$@" | sed -n 's/.*total \([0-9.]*\) ms.*/\1/p'
}

echo "bench: call costs, $RUNS rounds of $COUNT calls"
for r in $(seq "$RUNS"); do
    # The series' cost on syscalls no filter takes: QEMU without it.
    if [ -x "$PRISTINE/qemu-x86_64" ] && [ -x "$OUT/callcost-x86_64" ]; then
        before=$("$PRISTINE/qemu-x86_64" "$OUT/callcost-x86_64" getppid "$COUNT")
        after=$("$QEMU_BUILD/qemu-x86_64" "$OUT/callcost-x86_64" getppid "$COUNT")
        put unpatched-getppid "$before"
        put patched-getppid "$after"
        put patched-per-unpatched "$(ratio "$after" "$before")"
    fi
    call=$("$OUT/callcost-native" call "$COUNT")
    ngetppid=$("$OUT/callcost-native" getppid "$COUNT")
    nenosys=$("$OUT/callcost-native" enosys "$COUNT")
    put native-call "$call"
    put native-getppid "$ngetppid"
    put native-enosys "$nenosys"
    for g in $GUESTS; do
        q=$QEMU_BUILD/qemu-$g
        c=$OUT/callcost-$g
        invoke=$("$q" -plugin "$PLUGIN" "$c" invoke "$COUNT" "$NOP")
        enosys=$("$q" "$c" enosys "$COUNT")
        getppid=$("$q" "$c" getppid "$COUNT")
        loaded=$("$q" -plugin "$PLUGIN" "$c" getppid "$COUNT")
        put "$g-invoke" "$invoke"
        put "$g-enosys" "$enosys"
        put "$g-getppid" "$getppid"
        put "$g-getppid-plugin" "$loaded"
        put "$g-invoke-per-enosys" "$(ratio "$invoke" "$enosys")"
        put "$g-plugin-overhead" "$(ratio "$loaded" "$getppid")"
    done
    printf '.'
done
echo

# The dlcall operations with the plugin before and after, in one QEMU.
OPS="invoke attribute proc error loadfree"
if [ -n "${BASELINE:-}" ] && [ -f "$BASE" ]; then
    echo "bench: dlcall operations, $RUNS rounds, plugin at $BASELINE and now"
    for r in $(seq "$RUNS"); do
        for g in $GUESTS; do
            for op in $OPS; do
                n=$COUNT
                [ "$op" = invoke ] || n=$((COUNT / 10))
                q=$QEMU_BUILD/qemu-$g
                c=$OUT/callcost-$g
                before=$("$q" -plugin "$BASE" "$c" "$op" "$n" "$NOP")
                after=$("$q" -plugin "$PLUGIN" "$c" "$op" "$n" "$NOP")
                put "$g-$op-before" "$before"
                put "$g-$op-after" "$after"
                put "$g-$op-ratio" "$(ratio "$after" "$before")"
            done
        done
        printf '.'
    done
    echo
fi

# Instructions per call, counted by callgrind, where the clock is too
# noisy.  Two runs of different lengths cancel start-up and exit, whose
# count varies by some 10^5 instructions from run to run; the 100000
# calls between them bring that to a few instructions per call, and the
# median of three such pairs is taken.
# collected N COMMAND...: instructions of COMMAND, with its word @N as N
collected() {
    n=$1
    shift
    for arg; do
        shift
        [ "$arg" = @N ] && arg=$n
        set -- "$@" "$arg"
    done
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 |
        sed -n 's/.*Collected : //p'
}
# insns NAME COMMAND...: record the instructions per call; INSNS_N
# (default 100000) is the difference in calls between the two runs.
insns() {
    name=$1
    n=${INSNS_N:-100000}
    shift
    for i in 1 2 3; do
        a=$(collected $((n / 10)) "$@")
        b=$(collected $((n + n / 10)) "$@")
        echo $(( (b - a) / n ))
    done >"$RAW/insns-$name.runs"
    put "insns-$name" "$(median "$RAW/insns-$name.runs")"
}
if command -v valgrind >/dev/null && [ -x "$OUT/callcost-x86_64" ]; then
    echo "bench: instructions per call on qemu-x86_64, with callgrind"
    c=$OUT/callcost-x86_64
    q=$QEMU_BUILD/qemu-x86_64
    if [ -x "$PRISTINE/qemu-x86_64" ]; then
        insns unpatched-getppid "$PRISTINE/qemu-x86_64" "$c" getppid @N
    fi
    insns getppid "$q" "$c" getppid @N
    insns getppid-plugin "$q" -plugin "$PLUGIN" "$c" getppid @N
    insns enosys "$q" "$c" enosys @N
    insns invoke "$q" -plugin "$PLUGIN" "$c" invoke @N "$NOP"
    if [ -n "${BASELINE:-}" ] && [ -f "$BASE" ]; then
        insns invoke-before "$q" -plugin "$BASE" "$c" invoke @N "$NOP"
        for op in attribute proc error loadfree; do
            INSNS_N=2000 insns "$op-before" "$q" -plugin "$BASE" "$c" "$op" @N "$NOP"
            INSNS_N=2000 insns "$op" "$q" -plugin "$PLUGIN" "$c" "$op" @N "$NOP"
        done
    fi
fi

echo "bench: zlib, $SIZE MiB, $ZLIB_RUNS rounds"
for r in $(seq "$ZLIB_RUNS"); do
    native=$(ztime "$EX/zdemo-native" -m own -s "$SIZE")
    put zlib-native "$native"
    for g in $GUESTS; do
        q=$QEMU_BUILD/qemu-$g
        z=$EX/zdemo-$g
        emulated=$(ztime "$q" "$z" -m own -s "$SIZE")
        dlcall=$(ztime "$q" -plugin "$PLUGIN" "$z" -m dlcall -a "$ADAPTER" \
                 -s "$SIZE")
        put "zlib-$g-emulated" "$emulated"
        put "zlib-$g-dlcall" "$dlcall"
        put "zlib-$g-dlcall-per-native" "$(ratio "$dlcall" "$native")"
        put "zlib-$g-emulated-per-dlcall" "$(ratio "$emulated" "$dlcall")"
    done
    printf '.'
done
echo

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
{
    echo "# dlcall benchmarks"
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "- machine: $cpu, $(nproc) cores, $(uname -sr)"
    echo "- QEMU: $("$QEMU_BUILD/qemu-x86_64" --version | head -n 1), with the dlcall series"
    echo "- command: \`make bench\` (GUESTS=\"$GUESTS\" SIZE=$SIZE RUNS=$RUNS ZLIB_RUNS=$ZLIB_RUNS COUNT=$COUNT)"
    echo
    echo "Each figure is the median of its rounds, with the min-max range"
    echo "in parentheses. Ratios are medians of per-round ratios."
    echo
    echo "## Cost of one call (ns)"
    echo
    echo "| guest | INVOKE_PROC of a no-op | QEMU ENOSYS | QEMU getppid | INVOKE_PROC / ENOSYS |"
    echo "|---|---|---|---|---|"
    for g in $GUESTS; do
        echo "| $g | $(med "$g-invoke") | $(med "$g-enosys") | $(med "$g-getppid") | $(med "$g-invoke-per-enosys" %.3f) |"
    done
    echo "| native host | $(med native-call) (function call) | $(med native-enosys) | $(med native-getppid) | |"
    echo
    if [ -f "$RAW/patched-per-unpatched" ]; then
        echo "## The series' cost on syscalls no filter takes (ns per getppid)"
        echo
        echo "qemu-x86_64 without any plugin, built from the same source"
        echo "without and with the series."
        echo
        echo "| unpatched | patched | patched / unpatched |"
        echo "|---|---|---|"
        echo "| $(med unpatched-getppid) | $(med patched-getppid) | $(med patched-per-unpatched %.3f) |"
        echo
    fi
    if [ -f "$RAW/insns-getppid" ]; then
        echo "## Instructions per call on qemu-x86_64 (callgrind)"
        echo
        echo "Host instructions QEMU executes per guest call, whole round trip"
        echo "(median of 3; each the difference of a 10000- and a 110000-call"
        echo "run, 200 and 2200 calls for the management operations): steadier"
        echo "than the times above."
        echo
        echo "| call | instructions | against getppid, unpatched QEMU |"
        echo "|---|---|---|"
        base=$(cat "$RAW/insns-unpatched-getppid" 2>/dev/null || true)
        for k in unpatched-getppid getppid getppid-plugin enosys invoke \
                 invoke-before attribute-before attribute proc-before proc \
                 error-before error loadfree-before loadfree; do
            [ -f "$RAW/insns-$k" ] || continue
            v=$(cat "$RAW/insns-$k")
            case $k in
            unpatched-getppid) label="getppid, QEMU without the series" ;;
            getppid) label="getppid, with the series, no plugin" ;;
            getppid-plugin) label="getppid, dlcall loaded but unused" ;;
            enosys) label="unknown system call (ENOSYS), no plugin" ;;
            invoke) label="INVOKE_PROC of a no-op" ;;
            *-before) label="${k%-before}, dlcall plugin at $BASELINE" ;;
            *) label="$k, dlcall plugin now" ;;
            esac
            if [ -n "$base" ]; then
                echo "| $label | $v | $(ratio "$v" "$base") |"
            else
                echo "| $label | $v | |"
            fi
        done
        echo
    fi
    if ls "$RAW"/*-attribute-ratio >/dev/null 2>&1; then
        echo "## dlcall operations before and after (ns per call)"
        echo
        echo "The same QEMU and guest, with the dlcall plugin at $BASELINE"
        echo "(before) and now (after): INVOKE_PROC of a no-op, and the"
        echo "management operations (attribute: GET_HOST_ATTRIBUTE; proc:"
        echo "GET_PROC_ADDRESS; error: GET_LIBRARY_ERROR; loadfree: one"
        echo "LOAD_LIBRARY and one FREE_LIBRARY of a loaded library)."
        echo
        echo "| guest | operation | before | after | after / before |"
        echo "|---|---|---|---|---|"
        for g in $GUESTS; do
            for op in $OPS; do
                [ -f "$RAW/$g-$op-ratio" ] || continue
                echo "| $g | $op | $(med "$g-$op-before") | $(med "$g-$op-after") | $(med "$g-$op-ratio" %.3f) |"
            done
        done
        echo
    fi
    echo "## zlib: compress + uncompress of $SIZE MiB (ms)"
    echo
    echo "| guest | emulated (own zlib) | dlcall (host zlib) | native | dlcall / native | emulated / dlcall |"
    echo "|---|---|---|---|---|---|"
    for g in $GUESTS; do
        echo "| $g | $(med "zlib-$g-emulated") | $(med "zlib-$g-dlcall") | $(med zlib-native) | $(med "zlib-$g-dlcall-per-native" %.3f) | $(med "zlib-$g-emulated-per-dlcall" %.3f) |"
    done
    echo
    echo "## Plugin loaded but unused: getppid loop (ns per call)"
    echo
    echo "| guest | without plugin | with dlcall loaded | ratio |"
    echo "|---|---|---|---|"
    for g in $GUESTS; do
        echo "| $g | $(med "$g-getppid") | $(med "$g-getppid-plugin") | $(med "$g-plugin-overhead" %.3f) |"
    done
    echo
    echo "## Method"
    echo
    echo "- Call costs: \`bench/callcost.c\`, built for each guest and for the"
    echo "  host, times $COUNT calls in a loop with CLOCK_MONOTONIC and prints"
    echo "  the mean per call. Every system call goes through dlcall.h's inline"
    echo "  stub, so INVOKE_PROC, ENOSYS (number 4096, no plugin) and getppid"
    echo "  differ only in what answers them. INVOKE_PROC calls an empty host"
    echo "  function (\`bench/nop.c\`). One round runs every configuration once,"
    echo "  back to back; there are $RUNS rounds."
    echo "- zlib: \`examples/zlib/zdemo\`, level 6, on the same reproducible"
    echo "  text-like input; guests link Debian's zlib source built for them,"
    echo "  the host uses its installed zlib of the same version. The time is"
    echo "  compress2 plus uncompress, taken inside the program. $ZLIB_RUNS rounds."
    echo "- The plugin overhead compares the getppid loop without a plugin and"
    echo "  with dlcall loaded but never called, in the same round."
    echo "- Before and after: the dlcall plugin's source at $BASELINE, built"
    echo "  against this QEMU as \`$BASE\`,"
    echo "  and the current plugin, run back to back in each round on"
    echo "  $((COUNT / 10)) calls ($COUNT for INVOKE_PROC)."
    echo "- Noise: the min-max ranges show how much the machine varied between"
    echo "  rounds; compare ratios, which pair runs made seconds apart."
    echo "- Raw figures: \`$RAW/\`, one file per figure, one line per round."
} >"$OUT/results.md"
bench/programs.sh >>"$OUT/results.md"   # Debian's unmodified programs

# The chart: call costs and zlib times, side by side.
for g in $GUESTS; do
    echo "$g $(median "$RAW/$g-invoke") $(median "$RAW/$g-enosys") $(median "$RAW/$g-getppid")"
done >"$OUT/calls.dat"
echo "native $(median "$RAW/native-call") $(median "$RAW/native-enosys") $(median "$RAW/native-getppid")" >>"$OUT/calls.dat"
for g in $GUESTS; do
    echo "$g $(median "$RAW/zlib-$g-emulated") $(median "$RAW/zlib-$g-dlcall") $(median "$RAW/zlib-native")"
done >"$OUT/zlib.dat"
gnuplot <<EOF
set terminal pngcairo size 1200,500 font ",10" noenhanced
set output "$OUT/results.png"
set multiplot layout 1,2
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set key below
set grid ytics
set yrange [0:*]
set title "Cost of one call (ns, median)"
set ylabel "ns"
plot "$OUT/calls.dat" using 2:xtic(1) title "INVOKE_PROC (native: function call)", \
     "" using 3 title "ENOSYS", "" using 4 title "getppid"
set title "zlib, $SIZE MiB compress + uncompress (ms, median)"
set ylabel "ms"
plot "$OUT/zlib.dat" using 2:xtic(1) title "emulated", \
     "" using 3 title "dlcall", "" using 4 title "native"
unset multiplot
EOF

QEMU_BUILD=$QEMU_BUILD GUESTS=$GUESTS RUNS=$RUNS COUNT=$COUNT OUT=$OUT bench/thunks.sh >>"$OUT/results.md"

# The fast path for filtered system calls has a section of its own.
QEMU_BUILD=$QEMU_BUILD GUESTS=$GUESTS OUT=$OUT RUNS=$RUNS COUNT=$COUNT \
    PRISTINE=$PRISTINE bench/fastpath.sh >>"$OUT/results.md"

# Emulated programs against QEMU as released: the indirect-branch
# patches.
QEMU_BUILD=$QEMU_BUILD PRISTINE=$PRISTINE GUESTS=$GUESTS OUT=$OUT \
    bench/branches.sh >>"$OUT/results.md"

# Whole workloads in root filesystems (bench/system.sh: about half an
# hour a round), where the machine allows it.
if [ "$(id -u)" = 0 ]; then
    OUT=$OUT bench/system.sh >>"$OUT/results.md"
else
    echo "bench: system.sh left out: it needs root" >&2
fi

cat "$OUT/results.md"
echo
echo "bench: wrote $OUT/results.md and $OUT/results.png"
