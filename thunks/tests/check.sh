#!/bin/sh
# The thunks' tests, run by "make check" after thunks/Makefile built
# what they need.  For each guest: zlib's own example and minigzip
# (unmodified, linked with the guest's zlib) with the drop-in on the
# host path and in fallback, minigzip's output checked by the host's
# gzip byte for byte; guest callbacks and 8 threads; a callback from a
# thread of the library's own; and each reason to fall back.
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
# guest's sysroot and the drop-ins first on its library path.
q() {
    g=$1
    shift
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

# fell_back REASON: err says that libz.so.1 fell back, for REASON.
fell_back() {
    grep -q "dlcall-thunks: libz.so.1: fallback to .*: .*$1" err ||
        fail "libz.so.1 did not fall back because $1"
}

for g in $GUESTS; do
    t=$T/$g

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

    echo "  TEST    zlib's example on $g, falling back on a host zlib older than the guest's"
    LD_LIBRARY_PATH=$T/oldz q "$g" -plugin "$PLUGIN" "$t/example" >out 2>err ||
        fail "example with an old host zlib"
    fell_back "has no crc32_combine_gen@ZLIB_1.2.12: it is older"

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
    # and its function kept in the guest.
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

    if [ "$g" = "$HOST_ARCH" ]; then
        echo "  TEST    zlib's example natively, falling back"
        LD_LIBRARY_PATH=$TOP/build/thunks/$g/lib "$t/example" >out 2>err ||
            fail "example natively"
        fell_back "dlcall is not there"
    fi
done
cd "$TOP"
rm -rf "$W"
