#!/bin/sh
# The thunks' tests, run by "make check" after thunks/Makefile built
# what they need.  For each guest: zlib's own example and minigzip
# (unmodified, linked with the guest's zlib) with the drop-in on the
# host path and in fallback, minigzip's output checked by the host's
# gzip byte for byte; guest callbacks and 8 threads; a callback from a
# thread of the library's own; each reason to fall back; the guest
# callbacks of liblzma, libzstd, libbz2 and expat, threads of the
# libraries' own included; faults, signals, cancellation and abandoned
# callbacks as on the guest's own libraries (contract.c).  (The
# libraries' own tests: upstream.sh.)
#
# riscv64 guests (trixie) take the host path on Debian trixie's builds
# of the libraries (build/thunks/host-trixie, then build/thunks/host
# for libcbtest): the host's are older.
#
# Settings from the environment: QEMU_BUILD, GUESTS, SYSROOT, ZLIB_SRC.

set -eu

TOP=$(pwd)
T=$TOP/build/thunks/tests
QEMU_BUILD=$(readlink -f "$QEMU_BUILD")
SYSROOT=$(readlink -f "$SYSROOT")
PLUGIN=$QEMU_BUILD/contrib/plugins/libdlcall.so
HOST_ARCH=$(uname -m)
W=$T/work
export DLCALL_THUNKS_DEBUG=1

rm -rf "$W"
mkdir -p "$W"
cd "$W"
cat "$TOP/$ZLIB_SRC"/*.[ch] >input

fail() {
    echo "FAIL: $*" >&2
    for f in out err; do
        [ -s $f ] && sed "s/^/  $f: /" $f >&2
    done
    exit 1
}

# q GUEST QEMU-OPTIONS... PROGRAM ARGS...: under qemu-GUEST, with the
# guest's sysroot and the drop-ins first on its library path, and the
# host libraries in $host_dir.
q() {
    g=$1
    shift
    set -- -E "DLCALL_THUNKS_HOST_DIR=$host_dir" "$@"
    if [ "$g" = "$HOST_ARCH" ]; then
        set -- -E "LD_LIBRARY_PATH=$TOP/build/thunks/$g/lib:$T/$g/lib" "$@"
    else
        set -- -L "$SYSROOT/$g" \
            -E "LD_LIBRARY_PATH=$TOP/build/thunks/$g/lib:$T/$g/lib" "$@"
    fi
    "$QEMU_BUILD/qemu-$g" "$@"
}

# on_host LIBRARY WHAT: err says that LIBRARY ran at least one call
# (WHAT is "calls") or callback ("callbacks") on the host.
on_host() {
    case $2 in
    calls) n=': [1-9][0-9]* calls and' ;;
    callbacks) n=': [0-9]* calls and [1-9][0-9]* callbacks' ;;
    esac
    grep -q "dlcall-thunks: $1: on the host" err &&
        grep -q "dlcall-thunks: $1$n" err || fail "no $2 of $1 ran on the host"
}

# contract CASE LIBRARY WHAT [ARG]: contract.c's CASE (see there) on the
# host path, where WHAT (calls or callbacks) of LIBRARY must run, and
# on the guest's own libraries: the transcripts must be the same.
contract() {
    echo "  TEST    $1 on $g: the same on the host and on the guest's libraries"
    q "$g" -plugin "$PLUGIN" "$t/contract" "$1" ${4:+"$4"} >out 2>err ||
        fail "contract $1"
    on_host "$2" "$3"
    mv out out.host
    q "$g" "$t/contract" "$1" ${4:+"$4"} >out 2>err ||
        fail "contract $1 on the guest's libraries"
    cmp -s out out.host || {
        sed 's/^/  on the host: /' out.host >>err
        fail "contract $1: the transcripts differ"
    }
}

# fell_back REASON [LIBRARY]: err says that LIBRARY (libz.so.1) fell
# back, for REASON.
fell_back() {
    grep -q "dlcall-thunks: ${2:-libz.so.1}: fallback to .*: .*$1" err ||
        fail "${2:-libz.so.1} did not fall back because $1"
}

for g in $GUESTS; do
    t=$T/$g
    bookworm=$TOP/build/thunks/host
    host_dir=$bookworm
    [ "$g" != riscv64 ] || host_dir=$TOP/build/thunks/host-trixie:$bookworm

    echo "  TEST    zlib's example on $g, on the host"
    q "$g" -plugin "$PLUGIN" "$t/example" >out 2>err || fail "example"
    on_host libz.so.1 calls

    echo "  TEST    zlib's example on $g, falling back without the plugin"
    q "$g" "$t/example" >out 2>err || fail "example without the plugin"
    fell_back "dlcall is not there"

    echo "  TEST    zlib's example on $g, falling back with guest_base not 0"
    q "$g" -B 0x100000000000 -plugin "$PLUGIN" "$t/example" >out 2>err ||
        fail "example with guest_base not 0"
    fell_back "dlcall is not there"

    # (The host library in build/thunks/host opens the libz.so.1 that
    # the host's ld.so finds, so QEMU's LD_LIBRARY_PATH picks it.)
    own=$host_dir host_dir=$bookworm
    echo "  TEST    zlib's example on $g, falling back on a host zlib older than the guest's"
    LD_LIBRARY_PATH=$T/oldz q "$g" -plugin "$PLUGIN" "$t/example" >out 2>err ||
        fail "example with an old host zlib"
    fell_back "has no crc32_combine_gen@ZLIB_1.2.12: it is older"

    echo "  TEST    zlib's example on $g, falling back on a host zlib of a lower version, with every symbol"
    LD_LIBRARY_PATH=$T/oldv q "$g" -plugin "$PLUGIN" "$t/example" >out 2>err ||
        fail "example with a host zlib 1.2.11"
    fell_back "the host's libz.so.1 is version \"1.2.11\", older than the guest's"
    host_dir=$own

    for how in host fallback; do
        plugin=
        [ $how = host ] && plugin="-plugin $PLUGIN"
        echo "  TEST    zlib's minigzip on $g ($how), checked by the host's gzip"
        # shellcheck disable=SC2086
        q "$g" $plugin "$t/minigzip" <input >input.gz 2>err &&
            gzip -dc input.gz | cmp -s - input || fail "minigzip, stdin"
        gzip -c input >host.gz
        # shellcheck disable=SC2086
        q "$g" $plugin "$t/minigzip" -d <host.gz >back 2>err &&
            cmp -s back input || fail "minigzip -d, stdin"
        cp input file
        # shellcheck disable=SC2086
        q "$g" $plugin "$t/minigzip" -9 file 2>err && [ ! -e file ] &&
            gzip -dc file.gz | cmp -s - input || fail "minigzip -9 file"
        # shellcheck disable=SC2086
        q "$g" $plugin "$t/minigzip" -d file.gz 2>err && cmp -s file input ||
            fail "minigzip -d file.gz"
        rm -f file
        if [ $how = host ]; then
            on_host libz.so.1 calls
        else
            fell_back "dlcall is not there"
        fi

        echo "  TEST    guest callbacks through zlib and 8 threads on $g ($how)"
        # shellcheck disable=SC2086
        q "$g" $plugin "$t/zcallbacks" >out 2>err || fail "zcallbacks"
        if [ $how = host ]; then
            on_host libz.so.1 callbacks
        else
            fell_back "dlcall is not there"
        fi
    done

    # libcbtest's own library for the guest, for its drop-in's fallback
    # and its function kept in the guest (its host library is in
    # build/thunks/host only).
    real="DLCALL_THUNKS_GUEST_LIBDIR=$t/real"
    echo "  TEST    libcbtest's callbacks, structures, versions, a callback from a host thread on $g"
    LD_LIBRARY_PATH=$T/host q "$g" -E "$real" -plugin "$PLUGIN" \
        "$t/callbacks" host >out 2>err || fail "callbacks"
    grep -q "libcbtest.so.1: the host library called guest function .* from a thread that is not running a guest call" err ||
        fail "no message about the callback from a host thread"
    on_host libcbtest.so.1 callbacks

    echo "  TEST    libcbtest's test on $g, falling back without the plugin"
    q "$g" -E "$real" "$t/callbacks" fallback >out 2>err ||
        fail "callbacks, falling back"
    grep -q "libcbtest.so.1: fallback to $t/real/libcbtest.so.1" err ||
        fail "libcbtest.so.1 did not fall back to its own library"

    for test in lzcallbacks:liblzma.so.5 zstdcallbacks:libzstd.so.1 \
        bzcallbacks:libbz2.so.1.0 xmlcallbacks:libexpat.so.1; do
        lib=${test#*:} test=${test%:*}
        echo "  TEST    $test: guest callbacks through $lib on $g, on the host and falling back"
        q "$g" -plugin "$PLUGIN" "$t/$test" >out 2>err || fail "$test"
        on_host "$lib" callbacks
        mv out out.host
        q "$g" "$t/$test" >out 2>err || fail "$test without the plugin"
        fell_back "dlcall is not there" "$lib"
        if [ $test = xmlcallbacks ]; then
            cmp -s out out.host ||
                fail "$test: the transcripts on the host and falling back differ"
        fi
    done

    if [ "$g" = riscv64 ]; then
        echo "  TEST    riscv64 (trixie) on the host's own (bookworm) libraries: fallback"
        own=$host_dir host_dir=$bookworm
        q "$g" -plugin "$PLUGIN" "$t/example" >out 2>err ||
            fail "example on the host's own zlib"
        fell_back "the host's libz.so.1 is version \"[0-9.]*\", older than the guest's \"[0-9.]*\""
        q "$g" -plugin "$PLUGIN" "$t/lzcallbacks" >out 2>err ||
            fail "lzcallbacks on the host's own liblzma"
        fell_back "has no lzma_.*@XZ_5\.[68]: it is older" liblzma.so.5
        host_dir=$own
    fi

    # Faults, signals, cancellation and abandoned callbacks: as the
    # guest's own libraries behave (contract.c).
    contract gc libz.so.1 calls
    contract bus libz.so.1 calls
    contract report libz.so.1 calls
    contract pipe libz.so.1 calls
    contract sigterm libz.so.1 calls
    contract cancel libz.so.1 calls
    contract memcpy libz.so.1 calls
    loader=$(cd "$SYSROOT/$g" 2>/dev/null && ls lib/ld-linux-*.so.1 || true)
    contract paths libz.so.1 calls ${loader:+"/$loader"}
    contract longjmp libz.so.1 callbacks
    contract exit libz.so.1 callbacks
    contract fields libbz2.so.1.0 calls
    contract shadows liblzma.so.5 callbacks
    contract workers libzstd.so.1 calls
    # Where the guest's libraries cannot show the way: a long host call
    # lets the handler of a signal run at once, and a call that needs a
    # closure when no memory is left fails as the library would.
    echo "  TEST    sigint and closures on $g, on the host"
    q "$g" -plugin "$PLUGIN" "$t/contract" sigint >out 2>err &&
        grep -qx "sigint: the handler ran during the call" out &&
        grep -qx "sigint: SIGTERM ended the process during the call" out ||
        fail "contract sigint"
    q "$g" -plugin "$PLUGIN" "$t/contract" closures >out 2>err &&
        grep -q "deflateInit gave Z_MEM_ERROR" out ||
        fail "contract closures"

    if [ "$g" = "$HOST_ARCH" ]; then
        echo "  TEST    zlib's example natively, falling back"
        LD_LIBRARY_PATH=$TOP/build/thunks/$g/lib "$t/example" >out 2>err ||
            fail "example natively"
        fell_back "dlcall is not there"
    fi
done
cd "$TOP"
rm -rf "$W"
