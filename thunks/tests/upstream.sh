#!/bin/sh
# The libraries' own test programs against the drop-ins, run by "make
# check" (thunks/Makefile) for each guest with a Debian sysroot.  They
# come from the source of the guest's own library (the version in
# build/sysroot/GUEST.packages: see source() below), are
# built unmodified for the guest, linked with its library dynamically,
# and run with the drop-in on the host path (the drop-in's count of host
# calls must move) and in fallback (no plugin):
#
#   liblzma  xz's C tests (tests/test_*.c; its shell scripts test the
#            xz program, which programs/check.sh runs)
#   libzstd  zstreamtest (unit tests and fuzzer, --no-big-tests, fixed
#            seed), invalidDictionaries, longmatch; the other programs
#            need libzstd's internal symbols or hours
#   libbz2   "make test" (Debian's bzip2 on the samples), dlltest,
#            unzcrash
#   expat    the examples (elements, outline) and the benchmark; its
#            test suite, runtests, needs internal symbols
#
# LIBTESTS=quick (the default) leaves out of the fallback runs what is
# slow emulated: zstreamtest's unit tests and longmatch (a minute per
# guest); LIBTESTS=full runs everything both ways.  riscv64 (trixie)
# guests take the host path on build/thunks/host-trixie: the host's own
# libraries are older than theirs.
#
# Settings from the environment: QEMU_BUILD, GUESTS, LIBTESTS, and
# TEST_LIBS (default: lzma zstd bz2 expat).

set -eu

TOP=$(pwd)
B=$TOP/build
U=$B/thunks/upstream
QEMU_BUILD=$(readlink -f "$QEMU_BUILD")
PLUGIN=$QEMU_BUILD/contrib/plugins/libdlcall.so
: "${LIBTESTS:=quick}" "${TEST_LIBS:=lzma zstd bz2 expat}"

fail() {
    echo "FAIL: $g $*" >&2
    for f in "$W/out" "$W/err"; do
        [ -s "$f" ] && tail -n 20 "$f" | sed "s|^|  $(basename "$f"): |" >&2
    done
    exit 1
}

# version PACKAGE: its version in the guest's sysroot
version() {
    awk -v p="$1" '$1 == p { print $2 }' "$B/sysroot/$g.packages"
}

# source PACKAGE: the folder of the source of the guest's PACKAGE (a
# binary package), fetched once per version by tooling/source: the
# Debian source of the guest's version, else its upstream tarball,
# else the nearest version the archive serves.  from PACKAGE then
# says which, for the test's line (build/versions.txt keeps it too).
source() {
    dir=$(srcdir "$1")
    "$TOP/tooling/source" "$1" "${dir##*_}" "$dir" >&2 ||
        fail "no source of $1 ${dir##*_} can be had"
    echo "$dir/src"
}
from() {
    echo "from $(cat "$(srcdir "$1")/origin")"
}
srcdir() {
    echo "$B/thunks/src/$1_$(version "$1" | sed 's/+b[0-9]*$//')"
}

# run MODE PROGRAM ARG...: under qemu-GUEST with the drop-ins, on the
# host path (MODE host) or without the plugin (fallback); stdout and
# stderr in $W/out and $W/err, the drop-ins' messages in $W/log
run() {
    mode=$1
    shift
    rm -f "$W/log"
    set -- -L "$B/sysroot/$g" -E "LD_LIBRARY_PATH=$B/thunks/$g/lib" \
        -E "DLCALL_THUNKS_DEBUG=$W/log" "$@"
    if [ "$mode" = host ]; then
        set -- -plugin "$PLUGIN" -E "DLCALL_THUNKS_HOST_DIR=$host_dir" "$@"
    fi
    "$QEMU_BUILD/qemu-$g" "$@" >"$W/out" 2>"$W/err"
}

# took MODE LIBRARY: the last run took MODE's path for LIBRARY
took() {
    if [ "$1" = host ]; then
        grep -q "dlcall-thunks: $2: on the host" "$W/log" &&
            grep -q "dlcall-thunks: $2: [1-9][0-9]* calls" "$W/log"
    else
        grep -q "dlcall-thunks: $2: fallback to" "$W/log"
    fi || fail "$2 did not run on the $1 path"
}

# passed MODE LIBRARY WHAT: count a passed program
passed() {
    took "$1" "$2"
    n=$((n + 1))
}

# The guest's triple, its C compiler, its library $1 by path
triple() {
    case $g in
    ppc64le) echo powerpc64le-linux-gnu ;;
    *) echo "$g-linux-gnu" ;;
    esac
}
cc() {
    "$(triple)-gcc" -O2 -w -pthread "$@"
}
lib() {
    echo "$B/sysroot/$g/usr/lib/$(triple)/$1"
}

t_lzma() {
    src=$(source liblzma5)
    d=$U/$g/xz
    mkdir -p "$d"
    if [ ! -f "$d/config.h" ]; then
        (cd "$d" && "$src/configure" --host="$(triple)" --disable-shared \
            --disable-nls --disable-doc --disable-scripts --disable-xz \
            --disable-xzdec --disable-lzmadec --disable-lzmainfo \
            >configure.log 2>&1) || fail "xz's configure: see $d/configure.log"
    fi
    tests=
    for c in "$src"/tests/test_*.c; do
        t=$(basename "$c" .c)
        tests="$tests $t"
        [ -x "$d/$t" ] || cc -DHAVE_CONFIG_H -I"$d" -I"$src/src/common" \
            -I"$src/src/liblzma/api" -I"$src/src/liblzma" "$c" \
            "$(lib liblzma.so.5)" -o "$d/$t" || fail "building xz's $t"
    done
    for mode in host fallback; do
        n=0 subtests=0
        for t in $tests; do
            run $mode -E "srcdir=$src/tests" "$d/$t" || fail "xz's $t ($mode)"
            subtests=$((subtests + $(grep -c '^PASS:' "$W/out" || true)))
            passed $mode liblzma.so.5
        done
        echo "  TEST    $g liblzma ($mode): xz's C tests, $(from liblzma5):" \
            "$n of $(echo $tests | wc -w) passed ($subtests subtests)"
    done
}

t_zstd() {
    src=$(source libzstd1)
    d=$U/$g/zstd
    l=$src/lib p=$src/programs s=$src/tests
    flags="-I$l -I$l/common -I$l/compress -I$l/dictBuilder -I$l/deprecated
        -I$p -DZSTD_WINDOW_OVERFLOW_CORRECT_FREQUENTLY=1"
    lorem=
    [ ! -f "$p/lorem.c" ] || lorem="$p/lorem.c $s/loremOut.c"
    mkdir -p "$d"
    # shellcheck disable=SC2086
    [ -x "$d/zstreamtest" ] || cc $flags "$l/common/xxhash.c" \
        "$p/datagen.c" "$p/util.c" "$p/timefn.c" $lorem "$s/seqgen.c" \
        "$s/zstreamtest.c" "$s/external_matchfinder.c" \
        "$(lib libzstd.so.1)" -o "$d/zstreamtest" || fail "building zstreamtest"
    for t in invalidDictionaries longmatch; do
        # shellcheck disable=SC2086
        [ -x "$d/$t" ] || cc $flags "$s/$t.c" "$(lib libzstd.so.1)" \
            -o "$d/$t" || fail "building zstd's $t"
    done
    for mode in host fallback; do
        n=0 all=3 unit=
        if [ $mode = host ] || [ "$LIBTESTS" = full ]; then
            unit=y all=4
        fi
        if [ -n "$unit" ]; then
            run $mode "$d/zstreamtest" -v --no-big-tests -s1 -i1 ||
                fail "zstreamtest ($mode)"
        else
            run $mode "$d/zstreamtest" -t1 --no-big-tests -s1 -i5 ||
                fail "zstreamtest's fuzzer ($mode)"
        fi
        passed $mode libzstd.so.1
        run $mode "$d/zstreamtest" --newapi -t1 --no-big-tests -s2 -i5 ||
            fail "zstreamtest --newapi ($mode)"
        passed $mode libzstd.so.1
        run $mode "$d/invalidDictionaries" || fail "invalidDictionaries ($mode)"
        passed $mode libzstd.so.1
        if [ -n "$unit" ]; then
            run $mode "$d/longmatch" || fail "longmatch ($mode)"
            passed $mode libzstd.so.1
        fi
        echo "  TEST    $g libzstd ($mode): zstd's" \
            "zstreamtest${unit:+ (unit tests and fuzzer)}, --newapi," \
            "invalidDictionaries${unit:+, longmatch}, $(from libzstd1):" \
            "$n of $all passed"
    done
}

t_bz2() {
    src=$(source libbz2-1.0)
    d=$U/$g/bzip2
    mkdir -p "$d"
    for t in dlltest unzcrash; do
        [ -x "$d/$t" ] || cc -I"$src" "$src/$t.c" "$(lib libbz2.so.1.0)" \
            -o "$d/$t" || fail "building bzip2's $t"
    done
    bzip2=$B/sysroot/$g/usr/bin/bzip2
    for mode in host fallback; do
        n=0
        # The Makefile's "test" target, with the guest's bzip2.
        for i in 1 2 3; do
            run $mode "$bzip2" -$i <"$src/sample$i.ref" &&
                cmp -s "$W/out" "$src/sample$i.bz2" || fail "bzip2 -$i ($mode)"
            passed $mode libbz2.so.1.0
            run $mode "$bzip2" -d <"$src/sample$i.bz2" &&
                cmp -s "$W/out" "$src/sample$i.ref" || fail "bzip2 -d ($mode)"
            passed $mode libbz2.so.1.0
        done
        # dlltest reads and writes through BZ2_bzopen and the others
        # (kept in the guest); relative paths only.
        cp "$src/sample1.ref" "$W/sample1.ref"
        (cd "$W" && run $mode "$d/dlltest" -1 sample1.ref sample1.dll.bz2) &&
            bzip2 -1 <"$src/sample1.ref" | cmp -s - "$W/sample1.dll.bz2" ||
            fail "dlltest -1 ($mode)"
        passed $mode libbz2.so.1.0
        (cd "$W" && run $mode "$d/dlltest" -d sample1.dll.bz2 sample1.back) &&
            cmp -s "$W/sample1.back" "$src/sample1.ref" || fail "dlltest -d ($mode)"
        passed $mode libbz2.so.1.0
        run $mode "$d/unzcrash" "$src/words3" && grep -q "all ok" "$W/err" ||
            fail "unzcrash ($mode)"
        passed $mode libbz2.so.1.0
        echo "  TEST    $g libbz2 ($mode): bzip2's make test (6), dlltest (2)," \
            "unzcrash, $(from libbz2-1.0): $n of 9 passed"
    done
}

t_expat() {
    src=$(source libexpat1)/expat
    d=$U/$g/expat
    mkdir -p "$d"
    for t in examples/elements examples/outline tests/benchmark/benchmark; do
        [ -x "$d/${t##*/}" ] || cc -I"$src/lib" "$src/$t.c" \
            "$(lib libexpat.so.1)" -o "$d/${t##*/}" || fail "building $t"
    done
    # The examples' output must be what they print natively on the host.
    xml=$(dirname "$src")/testdata/largefiles/nes96.xml
    for t in elements outline; do
        [ -x "$d/$t.native" ] || gcc -O2 -w -I"$src/lib" \
            "$src/examples/$t.c" -lexpat -o "$d/$t.native"
        "$d/$t.native" <"$xml" >"$W/$t.native"
    done
    for mode in host fallback; do
        n=0
        for t in elements outline; do
            run $mode "$d/$t" <"$xml" && cmp -s "$W/out" "$W/$t.native" ||
                fail "expat's $t ($mode)"
            passed $mode libexpat.so.1
        done
        for ns in "" -n; do
            # shellcheck disable=SC2086
            run $mode "$d/benchmark" $ns "$xml" 4096 3 &&
                grep -q "loops" "$W/out" || fail "expat's benchmark $ns ($mode)"
            passed $mode libexpat.so.1
        done
        echo "  TEST    $g expat ($mode): expat's elements, outline," \
            "benchmark (2), $(from libexpat1): $n of 4 passed"
    done
}

for g in $GUESTS; do
    [ -f "$B/sysroot/$g.packages" ] || continue
    W=$U/$g/work
    rm -rf "$W" && mkdir -p "$W"
    host_dir=$B/thunks/host
    [ "$g" != riscv64 ] || host_dir=$B/thunks/host-trixie
    for l in $TEST_LIBS; do
        "t_$l"
    done
done
