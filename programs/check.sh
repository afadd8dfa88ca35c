#!/bin/sh
# Real, unmodified Debian programs under dlcall-run, their outputs
# compared byte for byte with what the host's own tools make.
#
# usage: programs/check.sh GUEST...   (from the top of the repository;
# "make check" runs it for every guest with a Debian sysroot)
#
# Each program runs plainly emulated (dlcall-run --no-thunks) and with
# thunks (dlcall-run).  The thunk run is skipped, with a SKIP line,
# while no drop-in of a library the program uses is built in
# build/thunks/GUEST/lib; with thunks, each drop-in the test lists must
# have made calls on the host (DLCALL_THUNKS_DEBUG's statistics).
# riscv64 programs (trixie) take the host path on trixie's builds of
# the libraries (build/thunks/host-trixie): the host's are older.
# Debian's zstd has libzstd built in: it runs in both modes as a check
# of dlcall-run, but no drop-in can serve it (dpkg-deb -Zzstd uses
# libzstd.so.1).  Compressed data differs between versions of
# a compressor, so each test decompresses both ways (the guest's output
# on the host, the host's output in the guest) and compares compressed
# bytes only where the guest's program and library have the host's
# upstream versions.  Scratch files stay in build/programs/check/.

set -eu

BUILD=$(pwd)/build
: "${QEMU_BUILD:=$BUILD/qemu-build}"
QEMU_BUILD=$(cd "$QEMU_BUILD" && pwd)
PLUGIN=$QEMU_BUILD/contrib/plugins/libdlcall.so
RUN=$BUILD/bin/dlcall-run
TEXTGEN=$BUILD/programs/textgen
SCRATCH=$BUILD/programs/check
# Fixed time stamps make dpkg-deb's output reproducible.
export SOURCE_DATE_EPOCH=1700000000

fail() {
    echo "FAIL: $g $name$label: $*" >&2
    echo "      (scratch files in $dir)" >&2
    exit 1
}

# same FILE1 FILE2 WHAT: the two files are equal, byte for byte
same() {
    cmp -s "$1" "$2" || fail "$3: $1 and $2 differ"
}

# guest PROGRAM ARG...: run the guest's own PROGRAM in the current mode
guest() {
    p=$1
    shift
    $RUN $mode_opt "$sysroot/usr/bin/$p" "$@"
}

# upstream PACKAGE [GUEST]: the upstream part of the package's version,
# on the host or in GUEST's sysroot
upstream() {
    if [ $# = 2 ]; then
        awk -v p="$1" '$1 == p { print $2 }' "$BUILD/sysroot/$2.packages"
    else
        dpkg-query -W -f='${Version}\n' "$1" | head -n 1
    fi | sed 's/^[0-9]*://; s/-[^-]*$//'
}

# same_versions PACKAGE...: the guest has the host's upstream versions
same_versions() {
    for pkg; do
        [ "$(upstream "$pkg" "$g")" = "$(upstream "$pkg")" ] || return 1
    done
}

# compressor PROGRAM HOST-DECOMPRESSOR PACKAGE... : the guest's PROGRAM
# compresses a file; the host's decompressor gives back the input; the
# guest decompresses the host's and its own output from stdin; its
# compressed bytes are the host's PROGRAM's when the versions match
compressor() {
    p=$1 hd=$2
    shift 2
    guest "$p" -c input >"$p.guest" || fail "compressing"
    "$hd" -dc "$p.guest" >out || fail "host $hd -d of the guest's output"
    same out input "host $hd -d of the guest's output"
    "$p" -c input >"$p.host"
    guest "$p" -dc <"$p.host" >out || fail "decompressing the host's output"
    same out input "the guest's decompression of the host's output"
    guest "$p" -dc <"$p.guest" >out || fail "decompressing its own output"
    same out input "the guest's decompression of its own output"
    if same_versions "$@"; then
        same "$p.guest" "$p.host" "compressed bytes, same versions as the host"
    fi
}

t_pigz() { compressor pigz gzip pigz zlib1g; }
t_xz() { compressor xz xz xz-utils liblzma5; }
t_bzip2() { compressor bzip2 bzip2 bzip2 libbz2-1.0; }
t_zstd() { compressor zstd zstd zstd libzstd1; }

# tree DIR: the files in DIR but its DEBIAN, with types, modes and
# link targets
tree() {
    (cd "$1" && find . -mindepth 1 -path ./DEBIAN -prune -o \
        -printf '%p %y %m %l\n' | LC_ALL=C sort)
}

# dpkg-deb builds a small package with its data in each format both
# dpkg-debs can build, and unpacks the host's; the host unpacks the
# guest's.  data.tar.bz2 and data.tar.lzma, which dpkg still reads but
# no longer writes, are made with ar from the gzip package.
t_dpkg_deb() {
    rm -rf pkg
    mkdir -p pkg/DEBIAN pkg/usr/share/dlcall pkg/usr/bin pkg/var/empty
    cat >pkg/DEBIAN/control <<EOT
Package: dlcall-check
Version: 1.0-1
Architecture: all
Maintainer: dlcall tests <dlcall@localhost>
Description: a package built by dlcall's tests
 Its data are the tests' input, a script and a link.
EOT
    cp input pkg/usr/share/dlcall/input
    printf '#!/bin/sh\necho hello\n' >pkg/usr/bin/dlcall-hello
    chmod 755 pkg/usr/bin/dlcall-hello
    ln -s ../share/dlcall/input pkg/usr/bin/dlcall-input
    tree pkg >pkg.tree

    # The -Z types each dpkg-deb lists in its help.
    types=$(guest dpkg-deb --help | sed -n 's/.*Allowed types: //p' |
        tr -d ' .' | tr , ' ')
    htypes=$(dpkg-deb --help | sed -n 's/.*Allowed types: //p' |
        tr -d ' .' | tr , ' ')
    [ -n "$types" ] || fail "no compression types in the guest's dpkg-deb --help"
    for z in $types; do
        case " $htypes " in
        *" $z "*) ;;
        *) echo "  NOTE    $g dpkg-deb -Z$z: the host's dpkg-deb cannot, not compared"
            continue ;;
        esac
        guest dpkg-deb --root-owner-group -Z"$z" -b pkg "g-$z.deb" >/dev/null ||
            fail "dpkg-deb -Z$z -b"
        dpkg-deb --root-owner-group -Z"$z" -b pkg "h-$z.deb" >/dev/null
        case $z in
        gzip) lib=zlib1g ;;
        xz) lib=liblzma5 ;;
        zstd) lib=libzstd1 ;;
        *) lib= ;;
        esac
        # The whole package where dpkg is the host's version, else its
        # compressed data where the library is and the tar inside is
        # the same.
        if same_versions dpkg $lib; then
            same "g-$z.deb" "h-$z.deb" "-Z$z package, same versions as the host"
        elif same_versions $lib; then
            dpkg-deb --fsys-tarfile "g-$z.deb" >g.tar
            dpkg-deb --fsys-tarfile "h-$z.deb" >h.tar
            if cmp -s g.tar h.tar; then
                member=$(ar t "h-$z.deb" | grep '^data\.tar')
                ar p "g-$z.deb" "$member" >g.data
                ar p "h-$z.deb" "$member" >h.data
                same g.data h.data "data member of the -Z$z package"
            fi
        fi
    done
    rm -rf bz && mkdir bz
    (cd bz && ar x ../h-gzip.deb && gzip -dc data.tar.gz | bzip2 >data.tar.bz2 &&
        ar rcD ../h-bzip2.deb debian-binary control.tar.* data.tar.bz2 &&
        gzip -dc data.tar.gz | xz --format=lzma >data.tar.lzma &&
        ar rcD ../h-lzma.deb debian-binary control.tar.* data.tar.lzma)

    for deb in h-*.deb; do
        z=${deb#h-}
        z=${z%.deb}
        rm -rf gx hx
        guest dpkg-deb --fsys-tarfile "$deb" >g.tar ||
            fail "dpkg-deb --fsys-tarfile of the host's -Z$z package"
        dpkg-deb --fsys-tarfile "$deb" >h.tar
        same g.tar h.tar "the data tar of the host's -Z$z package"
        guest dpkg-deb -x "$deb" gx || fail "dpkg-deb -x of the host's -Z$z package"
        tree gx >gx.tree
        same gx.tree pkg.tree "files unpacked from the host's -Z$z package"
        diff -r pkg/usr gx/usr >/dev/null ||
            fail "contents unpacked from the host's -Z$z package differ"
        guest dpkg-deb -f "$deb" >g.fields || fail "dpkg-deb -f"
        dpkg-deb -f "$deb" >h.fields
        same g.fields h.fields "control fields of the host's -Z$z package"
        [ -f "g-$z.deb" ] || continue
        dpkg-deb -x "g-$z.deb" hx
        tree hx >hx.tree
        same hx.tree pkg.tree "files the host unpacked from the guest's -Z$z package"
        diff -r pkg/usr hx/usr >/dev/null ||
            fail "contents the host unpacked from the guest's -Z$z package differ"
    done
}

# xmlwf checks a few documents (namespaces, a DTD with entities and
# default attributes, UTF-16, a larger one, errors) and writes them as
# canonical and as meta XML: its messages, exit status and output files
# must be the host's xmlwf's.  (With thunks, -r and the standard input
# have the guest's read() fill host memory: patch 9 of the series.)
t_xmlwf() {
    rm -rf xml && mkdir xml
    cat >xml/ns.xml <<'EOT'
<?xml version="1.0" encoding="UTF-8"?>
<!-- a comment -->
<doc xmlns="urn:dlcall:a" xmlns:b="urn:dlcall:b" b:kind="test &amp; more">
  <b:item id="1">caf&#233; &#x263A; &lt;ok&gt; — ünïcödé</b:item>
  <![CDATA[ <not> &markup; ]]>
  <?dlcall-pi some data?>
  <empty/>
</doc>
EOT
    cat >xml/dtd.xml <<'EOT'
<?xml version="1.0"?>
<!DOCTYPE list [
  <!ELEMENT list (entry*)>
  <!ELEMENT entry (#PCDATA)>
  <!ATTLIST entry lang CDATA "en" state (new|old) #IMPLIED>
  <!ENTITY who "the guest">
  <!ENTITY both "&who; and the host">
]>
<list><entry state="new">&both;</entry><entry lang="fr">&who;</entry></list>
EOT
    iconv -f UTF-8 -t UTF-16 xml/ns.xml | sed '1s/UTF-8/UTF-16/' >xml/utf16.xml
    {
        echo '<records>'
        seq 1 3000 | awk '{ printf "<r n=\"%d\" sq=\"%d\">row %x &#%d;</r>\n", $1, $1 * $1, $1, 64 + $1 % 60 }'
        echo '</records>'
    } >xml/big.xml
    printf '<a><b>text</a></b>\n' >xml/mismatch.xml
    printf '<a x="1" x="2"/>\n' >xml/dup-attr.xml
    printf '<a>&undefined;</a>\n' >xml/entity.xml

    # -r reads the files with read() into expat's buffer (XML_GetBuffer)
    # instead of mapping them, as xmlwf reads its standard input.
    for opts in "" "-n" "-m" "-n -m" "-r"; do
        rm -rf gout hout && mkdir gout hout
        set +e
        guest xmlwf -k $opts -d gout xml/*.xml >g.out 2>&1
        gs=$?
        xmlwf -k $opts -d hout xml/*.xml >h.out 2>&1
        hs=$?
        set -e
        [ "$gs" = "$hs" ] || fail "xmlwf $opts exited with $gs, the host's with $hs"
        same g.out h.out "xmlwf $opts messages"
        diff -r gout hout >/dev/null || fail "xmlwf $opts output files differ"
        [ -s hout/big.xml ] || fail "xmlwf $opts wrote no output"
    done
    guest xmlwf -m <xml/big.xml >g.out 2>&1 || fail "xmlwf -m <big.xml"
    xmlwf -m <xml/big.xml >h.out 2>&1
    same g.out h.out "xmlwf -m of its standard input"
}

# Programs that run programs: Debian's sh runs the guest's own tools in
# pipelines, with find -exec and xargs, #! scripts in sh, perl and
# python3 (subprocess and posix_spawn), and a storm of short processes.
# Every one of them must run as the guest's (uname -m says the guest's
# machine), the data must come through, and the exit statuses back.
t_processes() {
    rm -rf tree out && mkdir tree
    split -b 65536 -a 2 input tree/part.
    tar -cJf tree.tar.xz tree
    cat tree/part.* | sha256sum >want.sums
    cat >inner.sh <<'EOF'
#!/bin/sh
exit "$1"
EOF
    cat >hello.pl <<'EOF'
#!/usr/bin/perl -w
use POSIX ();
print "perl ", (POSIX::uname())[4], "\n";
exit 4;
EOF
    cat >spawn.py <<'EOF'
#!/usr/bin/python3
import os, subprocess, sys
out = subprocess.run(["uname", "-m"], capture_output=True, check=True)
pid = os.posix_spawnp("sh", ["sh", "-c", "exit 5"], os.environ)
_, status = os.waitpid(pid, 0)
print("python", out.stdout.decode().strip(), os.waitstatus_to_exitcode(status))
sys.exit(subprocess.call(["./inner.sh", "6"]))
EOF
    cat >script.sh <<'EOF'
set -e
mkdir out
xz -dc tree.tar.xz | tar -xf - -C out
find out -type f -name 'part.*' -exec pigz -k -6 {} +
find out -name '*.gz' | sort | xargs pigz -dc | sha256sum >got.sums
uname -m >machine
set +e
./inner.sh 3; echo "sh $?" >status
./hello.pl >>status; echo "perl exit $?" >>status
./spawn.py >>status; echo "python exit $?" >>status
seq 1 40 | xargs -P 4 -n 1 sh -c 'test "$(uname -m)" = "$0"' "$(uname -m)"
echo "storm $?" >>status
EOF
    chmod +x inner.sh hello.pl spawn.py
    guest sh script.sh || fail "the guest's sh script failed"
    same want.sums got.sums "the files through xz, tar, find, pigz and xargs"
    printf '%s\n' "$g" >want.machine
    same want.machine machine "uname -m of a program the guest's sh ran"
    printf 'sh 3\nperl %s\nperl exit 4\npython %s 5\npython exit 6\nstorm 0\n' \
        "$g" "$g" >want.status
    same want.status status "what the guest's sh, perl and python3 ran"
}

# The tests: name, drop-ins that must make host calls, test function.
TESTS="pigz:libz.so.1:t_pigz
xz:liblzma.so.5:t_xz
zstd:-:t_zstd
bzip2:libbz2.so.1.0:t_bzip2
dpkg-deb:libz.so.1,liblzma.so.5,libzstd.so.1,libbz2.so.1.0:t_dpkg_deb
xmlwf:libexpat.so.1:t_xmlwf
processes:libz.so.1,liblzma.so.5:t_processes"

# on_host LIBRARY...: each LIBRARY made calls on the host in the
# thunk runs of the current test
on_host() {
    for lib; do
        grep -q "dlcall-thunks: $lib: on the host" "$dir/thunks.log" &&
            grep -q "dlcall-thunks: $lib: [1-9][0-9]* calls" \
                "$dir/thunks.log" ||
            fail "$lib did not run on the host (see $dir/thunks.log)"
    done
}

# dlcall-run itself: refusals, the exit status, and the same set-up
# through QEMU's environment variables.
check_run() {
    name="dlcall-run" label=
    echo "  TEST    $g dlcall-run: errors, exit status, QEMU_* variables"
    set +e
    $RUN ./input >out 2>&1
    s=$?
    set -e
    [ "$s" = 125 ] && grep -q 'not an ELF executable' out ||
        fail "a shell script was not refused (status $s)"
    for lib in /usr/arm-linux-gnueabihf/lib/libc.so.6 /usr/s390x-linux-gnu/lib/libc.so.6; do
        [ -f "$lib" ] || continue
        if $RUN "$lib" >out 2>&1 || ! grep -q 'dlcall serves 64-bit little-endian' out; then
            fail "$lib was not refused"
        fi
    done
    for opt in --no-thunks ""; do
        set +e
        $RUN $opt "$sysroot/usr/bin/dpkg-deb" --no-such-option >/dev/null 2>&1
        s=$?
        set -e
        [ "$s" = 2 ] || fail "dpkg-deb's exit status 2 came back as $s ($opt)"
    done

    # The plugin says at exit how many handles are open (-d plugin); the
    # guest's ld.so shows its library path (LD_DEBUG=libs).  The same
    # must come out of dlcall-run and of qemu-<arch> given only the
    # variables.  Process ids differ and are taken out.
    thunks=$BUILD/thunks/$g/lib
    QEMU_LOG=plugin QEMU_SET_ENV=LD_DEBUG=libs \
        $RUN "$sysroot/usr/bin/pigz" -c input >run.gz 2>run.log
    QEMU_LOG=plugin QEMU_SET_ENV=LD_DEBUG=libs,LD_LIBRARY_PATH=$thunks \
        QEMU_LD_PREFIX=$sysroot QEMU_PLUGIN=$PLUGIN QEMU_FOLLOW_EXEC=1 \
        "$QEMU_BUILD/qemu-$g" "$sysroot/usr/bin/pigz" -c input >env.gz 2>env.log
    same run.gz env.gz "pigz's output"
    for f in run env; do
        sed 's/^ *[0-9]*:\t*//' $f.log >$f.norm
    done
    same run.norm env.norm "ld.so's and the plugin's messages"
    grep -q "dlcall: [0-9]* library handles open at exit" run.log ||
        fail "the plugin was not loaded"
    grep -q "search path=$thunks" run.log ||
        fail "the drop-ins are not on the guest's library path"
    QEMU_LOG=plugin $RUN --no-thunks "$sysroot/usr/bin/pigz" -c input \
        >/dev/null 2>run.log
    if grep -q dlcall run.log; then
        fail "--no-thunks loaded the plugin"
    fi
}

[ $# -gt 0 ] || { echo "usage: programs/check.sh GUEST..." >&2; exit 2; }
[ -x "$RUN" ] && [ -x "$TEXTGEN" ] || { echo "run 'make bin' first" >&2; exit 2; }
start=$(date +%s)
export DLCALL_THUNKS_DEBUG DLCALL_THUNKS_HOST_DIR
for g; do
    sysroot=$BUILD/sysroot/$g
    dir=$SCRATCH/$g
    DLCALL_THUNKS_DEBUG=$dir/thunks.log
    DLCALL_THUNKS_HOST_DIR=$BUILD/thunks/host
    [ "$g" != riscv64 ] || DLCALL_THUNKS_HOST_DIR=$BUILD/thunks/host-trixie
    rm -rf "$dir"
    mkdir -p "$dir"
    cd "$dir"
    # Text and a piece of the guest's libc: 512 KiB.
    "$TEXTGEN" 384 >input
    head -c 131072 "$sysroot"/usr/lib/*/libc.so.6 >>input
    check_run
    for t in $TESTS; do
        name=${t%%:*} test=${t##*:} libs=${t#*:}
        libs=${libs%:*}
        for mode_opt in --no-thunks ""; do
            label=" (emulated)"
            if [ -z "$mode_opt" ]; then
                have=
                for lib in $(echo "$libs" | tr , ' '); do
                    [ ! -f "$BUILD/thunks/$g/lib/$lib" ] || have="$have $lib"
                done
                if [ -z "$have" ] && [ "$libs" != - ]; then
                    echo "  SKIP    $g $name with thunks: no drop-in for $libs built yet"
                    continue
                fi
                label=" (thunks:${have:- none it can use})"
                rm -f "$dir/thunks.log"
            fi
            echo "  TEST    $g $name$label"
            $test
            [ -n "$mode_opt" ] || on_host $have
        done
    done
done
echo "  programs: all passed in $(( $(date +%s) - start )) s"
