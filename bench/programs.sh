#!/bin/sh
# Benchmark of Debian's unmodified programs: each job runs for every
# guest with a sysroot emulated (dlcall-run --no-thunks) and with
# thunks (dlcall-run), and natively (the host's own package), on the
# same input.  In each round a job's runs follow each other, and a
# ratio is the median of the per-round ratios, as in run.sh.
#
# Prints a Markdown section on stdout (run.sh appends it to
# results.md), progress on stderr.  Run from the top of the repository
# after "make bin sysroot"; settings from the environment:
#   GUESTS      guests to run (those without a sysroot are left out)
#   PROG_JOBS   jobs to run, by name (below; default all)
#   PROG_SIZE   MiB of text input (default 64)
#   PROG_RUNS   rounds (default 3)
#   OUT         where the input and the raw figures go (build/bench)

set -eu

: "${GUESTS:=aarch64 riscv64}"
: "${PROG_JOBS:=pigz-p1 pigz-p2 xz-6 dpkg-deb-zstd19 dpkg-deb-x}"
: "${PROG_SIZE:=64}" "${PROG_RUNS:=3}" "${OUT:=build/bench}"
BUILD=$(pwd)/build
RUN=$BUILD/bin/dlcall-run
RAW=$OUT/programs-raw
IN=$(pwd)/$OUT/text-$PROG_SIZE
. bench/lib.sh

# The jobs, one a line: name, the drop-in its thunk run needs, the
# Debian package of its program, the command.  The command's first
# word is the program, taken from the guest's sysroot or the host; it
# runs in an empty folder with its output to /dev/null.  $IN is the
# text input, $TREE a package tree holding it, $DEB a large real
# package (xz-compressed data), fetched when a job uses it.
#
# xz runs on one thread (-T1): trixie's xz would take all CPUs by
# default.  zstd -19 is dpkg-deb's: Debian's zstd program has libzstd
# built in (no libzstd.so.1 to replace), dpkg-deb uses libzstd.so.1,
# with as many workers as CPUs (ZSTD_c_nbWorkers), on every side.
# dpkg-deb runs tar: since -follow-exec (2026-12-03) the guest's own,
# emulated, in both guest modes; the figures recorded before it ran the
# host's tar.
JOBS='pigz-p1 libz.so.1 pigz pigz -p 1 -6 -c $IN
pigz-p2 libz.so.1 pigz pigz -p 2 -6 -c $IN
xz-6 liblzma.so.5 xz-utils xz -6 -T1 -c $IN
dpkg-deb-zstd19 libzstd.so.1 dpkg dpkg-deb --root-owner-group -Zzstd -z19 -b $TREE out.deb
dpkg-deb-x liblzma.so.5 dpkg dpkg-deb -x $DEB out'
# libllvm14 from bookworm: 21.8 MB, data.tar.xz of 20.8 MiB in 5 blocks
# (the threaded decoder has work for 2 CPUs), 105 MiB unpacked.
DEB_PACKAGE=libllvm14

# job NAME: set drop-in, pkg and cmd from NAME's line
job() {
    line=$(printf '%s\n' "$JOBS" | awk -v n="$1" '$1 == n')
    [ -n "$line" ] || { echo "programs.sh: no job $1" >&2; exit 1; }
    set -- $line
    dropin=$2 pkg=$3
    shift 3
    cmd=$*
}

# version PACKAGE [GUEST]: its Debian version, on the host or in GUEST's
# sysroot
version() {
    if [ $# = 2 ]; then
        awk -v p="$1" '$1 == p { print $2 }' "$BUILD/sysroot/$2.packages"
    else
        dpkg-query -W -f='${Version}\n' "$1" | head -n 1
    fi
}

# timed NAME [DLCALL-RUN-OPTION] [SYSROOT]: run the current job's
# command and record its time in ms; a sysroot runs the guest's program
timed() {
    name=$1
    shift
    rm -rf "$OUT/run" "$RAW/$name.log" && mkdir "$OUT/run"
    eval "set -- $cmd"
    prog=$1
    shift
    t0=$(date +%s%N)
    case $name in
    *-native) (cd "$OUT/run" && "$prog" "$@" >/dev/null) ;;
    *-emulated) (cd "$OUT/run" && "$RUN" --no-thunks "$sysroot/usr/bin/$prog" "$@" >/dev/null) ;;
    *-thunks) (log=$(pwd)/$RAW/$name.log && cd "$OUT/run" &&
        DLCALL_THUNKS_HOST_DIR=$host_dir DLCALL_THUNKS_DEBUG=$log \
        "$RUN" "$sysroot/usr/bin/$prog" "$@" >/dev/null) ;;
    esac
    t1=$(date +%s%N)
    put "$name" $(( (t1 - t0) / 1000000 ))
}

guests=
for g in $GUESTS; do
    [ ! -f "$BUILD/sysroot/$g.packages" ] || guests="$guests $g"
done
[ -n "$guests" ] || { echo "programs.sh: no guest has a sysroot (make sysroot)" >&2; exit 1; }
[ -x "$RUN" ] || { echo "programs.sh: no $RUN (make bin)" >&2; exit 1; }

rm -rf "$RAW"
mkdir -p "$RAW"
[ -s "$IN" ] || { build/programs/textgen $((PROG_SIZE * 1024)) >"$IN.tmp" &&
    mv "$IN.tmp" "$IN"; }
TREE=$(pwd)/$OUT/tree-$PROG_SIZE
if [ ! -f "$TREE/DEBIAN/control" ]; then
    mkdir -p "$TREE/DEBIAN" "$TREE/usr/share/dlcall-bench"
    cp "$IN" "$TREE/usr/share/dlcall-bench/input"
    printf '%s\n' "Package: dlcall-bench" "Version: 1" "Architecture: all" \
        "Maintainer: dlcall <dlcall@localhost>" "Description: bench input" \
        " $PROG_SIZE MiB of text." >"$TREE/DEBIAN/control"
fi
DEB=
case $PROG_JOBS in
*dpkg-deb*)
    DEB=$(ls "$OUT/$DEB_PACKAGE"_*.deb 2>/dev/null | head -n 1)
    if [ -z "$DEB" ]; then
        echo "bench: downloading $DEB_PACKAGE" >&2
        for conf in "$BUILD"/apt/*/apt.conf; do
            (cd "$OUT" && apt-get -q -c "$conf" download "$DEB_PACKAGE") \
                >/dev/null 2>&1 && break
        done
        DEB=$(ls "$OUT/$DEB_PACKAGE"_*.deb | head -n 1)
    fi
    DEB=$(readlink -f "$DEB") ;;
esac

echo "bench: Debian's programs ($PROG_JOBS) on$guests, $PROG_RUNS rounds" >&2
for r in $(seq "$PROG_RUNS"); do
    for j in $PROG_JOBS; do
        job "$j"
        timed "$j-native"
        for g in $guests; do
            sysroot=$BUILD/sysroot/$g
            # riscv64 (trixie) on trixie's builds of the libraries: the
            # host's own are older than its own, and its drop-ins would
            # fall back.
            host_dir=$BUILD/thunks/host
            [ "$g" != riscv64 ] || host_dir=$BUILD/thunks/host-trixie
            timed "$j-$g-emulated"
            put "$j-$g-emulated-per-native" \
                "$(ratio "$(tail -n 1 "$RAW/$j-$g-emulated")" "$(tail -n 1 "$RAW/$j-native")")"
            [ -f "$BUILD/thunks/$g/lib/$dropin" ] || continue
            timed "$j-$g-thunks"
            t=$(tail -n 1 "$RAW/$j-$g-thunks")
            put "$j-$g-thunks-per-native" "$(ratio "$t" "$(tail -n 1 "$RAW/$j-native")")"
            put "$j-$g-emulated-per-thunks" "$(ratio "$(tail -n 1 "$RAW/$j-$g-emulated")" "$t")"
        done
        printf '.' >&2
    done
done
echo >&2

echo
echo "## Debian's unmodified programs (ms)"
echo
echo "Each guest runs Debian's own binary from its sysroot (aarch64:"
echo "bookworm, riscv64: trixie) under \`dlcall-run --no-thunks\` (emulated)"
echo "and \`dlcall-run\` (thunks, when the job's drop-in is built); native is"
echo "the host's package. Input: $PROG_SIZE MiB of text from \`programs/textgen\`."
echo "$PROG_RUNS rounds, the runs of a job back to back in each; command:"
echo "\`make bench\` (PROG_JOBS=\"$PROG_JOBS\" PROG_SIZE=$PROG_SIZE PROG_RUNS=$PROG_RUNS)."
echo
# host_calls LOG DROP-IN: the calls DROP-IN made on the host in the
# last thunks run (all its processes), or why none
host_calls() {
    if grep -q "$2: fallback" "$1" 2>/dev/null; then
        echo "fell back"
    else
        sed -n "s/^dlcall-thunks: $2: \([0-9]*\) calls.*/\1/p" "$1" 2>/dev/null |
            awk '{ n += $1 } END { print n + 0 }'
    fi
}

echo "| job | guest | emulated | thunks | native | thunks / native | emulated / thunks | emulated / native | host calls |"
echo "|---|---|---|---|---|---|---|---|---|"
for j in $PROG_JOBS; do
    job "$j"
    for g in $guests; do
        calls=
        if [ -f "$RAW/$j-$g-thunks" ]; then
            thunks="$(med "$j-$g-thunks" %.0f) | $(med "$j-native" %.0f) | $(med "$j-$g-thunks-per-native" %.3f) | $(med "$j-$g-emulated-per-thunks" %.3f)"
            calls=$(host_calls "$RAW/$j-$g-thunks.log" "$dropin")
        else
            thunks="no drop-in $dropin | $(med "$j-native" %.0f) | | "
        fi
        echo "| \`$cmd\` | $g, $pkg $(version "$pkg" "$g") | $(med "$j-$g-emulated" %.0f) | $thunks | $(med "$j-$g-emulated-per-native" %.3f) | $calls |"
    done
done
echo
echo "Thunks: riscv64 on Debian trixie's amd64 builds of the libraries"
echo "(build/thunks/host-trixie; the host's are older). Host calls: the"
echo "drop-in's calls on the host in the last round, all processes."
echo "Native runs the host's $(for j in $PROG_JOBS; do job "$j"; echo "$pkg"; done | sort -u |
    while read -r p; do printf '%s %s, ' "$p" "$(version "$p")"; done | sed 's/, $//')."
