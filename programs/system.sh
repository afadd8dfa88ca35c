#!/bin/sh
# Whole foreign-architecture systems: a Debian root filesystem per
# guest, and programs that install and run programs inside it.
#
# usage: programs/system.sh GUEST...   (from the top of the repository;
# "make check-system" runs it for every guest with a Debian sysroot)
#
# 1. tooling/rootfs makes build/rootfs/GUEST (once; it is kept): its
#    second stage is the guest's own dpkg --install of about 80 of
#    Debian's packages whose maintainer scripts run, every program
#    they start emulated, with the drop-ins.  Every package must end
#    up "install ok installed".
# 2. Inside it, with dlcall-run --rootfs: apt-get install of pigz,
#    xz-utils, bzip2 and expat from a local archive (a file: source
#    made here from the sysroot's packages, with their libraries), then the installed
#    programs at work in a shell script; the host's tools check their
#    output, and their drop-ins must have run on the host.
# 3. dpkg -i and -P of a package made here whose maintainer scripts
#    leave marks: they ran in the guest's shell, for its architecture.
# 4. With binfmt_misc (where it can be mounted, as root): a plain chroot
#    whose programs the kernel hands to the bundle's launcher.

set -eu

BUILD=$(pwd)/build
RUN=$BUILD/bin/dlcall-run
fail() {
    echo "FAIL: $g $name: $*" >&2
    exit 1
}
[ $# -gt 0 ] || { echo "usage: programs/system.sh GUEST..." >&2; exit 2; }
[ -x "$RUN" ] && [ -d "$BUILD/rootfs-bundle" ] ||
    { echo "run 'make bin bundle' first" >&2; exit 2; }
start=$(date +%s)

# The root filesystems that are not there yet, side by side: each second
# stage is one dpkg, mostly one process at a time.
mkdir -p "$BUILD/rootfs"
for g; do
    root=$BUILD/rootfs/$g
    [ ! -f "$root.done" ] || continue
    echo "  TEST    $g root filesystem: tooling/rootfs (its maintainer scripts emulated)"
    rm -rf "$root" "$root.failed"
    { tooling/rootfs "$g" "$root" >"$root.rootfs.log" 2>&1 ||
        touch "$root.failed"; } &
done
wait
for g; do
    root=$BUILD/rootfs/$g
    name="root filesystem"
    [ ! -f "$root.done" ] || continue
    [ ! -f "$root.failed" ] ||
        { cat "$root.rootfs.log" >&2; fail "tooling/rootfs failed"; }
    sed -n 's/^rootfs: //p' "$root.rootfs.log" | tail -n 1 | sed 's/^/          /'
    touch "$root.done"
done

for g; do
    root=$BUILD/rootfs/$g
    name="root filesystem"
    bad=$(awk '/^Package:/ { p = $2 } /^Status:/ && $0 != "Status: install ok installed" { print p }' \
        "$root/var/lib/dpkg/status")
    [ -z "$bad" ] || fail "not installed: $bad"
    grep -q '^root:' "$root/etc/passwd" || fail "base-passwd's postinst made no /etc/passwd"
    # The versions this run used, for reading a failure against them.
    awk '/^Package:/ { p = $2 } /^Version:/ { print p, $2 }' \
        "$root/var/lib/dpkg/status" | sort >"$root.packages"
    echo "          $g: $(wc -l <"$root.packages") packages installed, $(grep -E '^(dpkg|apt|libc6) ' "$root.packages" | tr '\n' ' ')(all in build/rootfs/$g.packages)"

    name="apt-get install"
    echo "  TEST    $g apt-get install from a local archive, the programs at work"
    local=$root/srv/dlcall-local
    rm -rf "$local" "$root/root/work"
    mkdir -p "$local" "$root/root/work"
    for p in pigz xz-utils bzip2 expat libbz2-1.0 libexpat1; do
        cp "$BUILD"/apt/$g/cache/archives/${p}_*.deb "$local/" ||
            fail "no $p package in the sysroot's apt cache"
    done
    (cd "$local" && dpkg-scanpackages --multiversion . 2>/dev/null >Packages)
    echo "deb [trusted=yes] file:/srv/dlcall-local ./" >"$local/sources.list"
    head -c 1048576 "$root/usr/bin/apt-get" >"$root/root/work/data"
    cat "$root/usr/share/doc/apt/copyright" >>"$root/root/work/data"
    cat >"$root/root/work/run.sh" <<'EOF'
set -e
cd /root/work
opts="-o Dir::Etc::SourceList=/srv/dlcall-local/sources.list -o Dir::Etc::SourceParts=-"
apt-get $opts -q update >apt.log 2>&1
apt-get $opts -q -y --no-install-recommends install pigz xz-utils bzip2 expat >>apt.log 2>&1
dpkg-query -W -f '${Package} ${Status}\n' pigz xz-utils bzip2 expat >installed
pigz -c data >data.gz
xz -c data >data.xz
bzip2 -c data >data.bz2
for f in data.gz data.xz data.bz2; do
    case $f in
    *.gz) pigz -dc $f ;;
    *.xz) xz -dc $f ;;
    *.bz2) bzip2 -dc $f ;;
    esac | cmp - data
done
printf '<?xml version="1.0"?><a><b n="1">x</b></a>\n' >doc.xml
xmlwf doc.xml >xmlwf.out 2>&1
uname -m >machine
EOF
    rm -f "$root/root/work/thunks.log"
    DLCALL_THUNKS_DEBUG=/root/work/thunks.log \
        "$RUN" --rootfs "$root" sh /root/work/run.sh ||
        { cat "$root/root/work/apt.log" >&2 2>/dev/null; fail "the script failed"; }
    w=$root/root/work
    for p in pigz xz-utils bzip2 expat; do
        grep -qx "$p install ok installed" "$w/installed" || fail "$p was not installed"
    done
    gzip -dc "$w/data.gz" | cmp -s - "$w/data" || fail "the host's gzip disagrees"
    xz -dc "$w/data.xz" | cmp -s - "$w/data" || fail "the host's xz disagrees"
    bzip2 -dc "$w/data.bz2" | cmp -s - "$w/data" || fail "the host's bzip2 disagrees"
    [ ! -s "$w/xmlwf.out" ] || fail "xmlwf: $(cat "$w/xmlwf.out")"
    [ "$(cat "$w/machine")" = "$g" ] || fail "uname -m inside says $(cat "$w/machine")"
    for lib in libz.so.1 liblzma.so.5 libbz2.so.1.0; do
        grep -q "dlcall-thunks: $lib: [1-9][0-9]* calls" "$w/thunks.log" ||
            fail "$lib made no calls on the host (see $w/thunks.log)"
    done

    name="dpkg maintainer scripts"
    echo "  TEST    $g dpkg -i and -P of a package with maintainer scripts"
    pkg=$BUILD/rootfs/$g-marks
    rm -rf "$pkg" "$root/var/lib/dlcall-marks"
    mkdir -p "$pkg/DEBIAN"
    cat >"$pkg/DEBIAN/control" <<EOF
Package: dlcall-marks
Version: 1.0
Architecture: all
Maintainer: dlcall <dlcall@localhost>
Description: leaves marks from its maintainer scripts
EOF
    for s in preinst postinst prerm postrm; do
        cat >"$pkg/DEBIAN/$s" <<EOF
#!/bin/sh
set -e
mkdir -p /var/lib/dlcall-marks
echo "$s \$1 \$(uname -m) \$(dpkg --print-architecture)" >>/var/lib/dlcall-marks/log
EOF
        chmod 755 "$pkg/DEBIAN/$s"
    done
    dpkg-deb --root-owner-group -b "$pkg" "$root/root/work/marks.deb" >/dev/null
    "$RUN" --rootfs "$root" sh -c \
        'dpkg -i /root/work/marks.deb && dpkg -P dlcall-marks' >/dev/null ||
        fail "dpkg failed"
    a=$(head -n 1 "$root/var/lib/dpkg/arch")
    printf '%s\n' "preinst install $g $a" "postinst configure $g $a" \
        "prerm remove $g $a" "postrm remove $g $a" "postrm purge $g $a" \
        >"$pkg.want"
    cmp -s "$pkg.want" "$root/var/lib/dlcall-marks/log" ||
        fail "the scripts left $(cat "$root/var/lib/dlcall-marks/log" 2>/dev/null)"

    # 4. The kernel starts the programs (binfmt_misc, registered under a
    # name of the test's own and taken back at once), in a plain chroot
    # that has the bundle at /.dlcall.
    name="binfmt_misc"
    bin=$BUILD/rootfs-bundle/bin
    export DLCALL_BINFMT_NAME=dlcall-check
    if [ "$(id -u)" != 0 ]; then
        echo "  SKIP    $g binfmt_misc: registering needs root"
        continue
    fi
    if ! "$bin/dlcall-binfmt" register "$g" >/dev/null 2>"$w/binfmt.err"; then
        echo "  SKIP    $g binfmt_misc: $(cat "$w/binfmt.err")"
        continue
    fi
    echo "  TEST    $g binfmt_misc: a chroot's programs started by the kernel"
    rm -f "$w/binfmt.log" "$w/binfmt.machine"
    set +e
    DLCALL_THUNKS_DEBUG=/root/work/binfmt.log unshare --mount \
        --propagation private sh -ec '
        mount --bind "$2" "$1/.dlcall"
        mount -t proc proc "$1/proc"
        chroot "$1" /bin/sh -ec "uname -m >/root/work/binfmt.machine
            pigz -c /root/work/data | pigz -dc | cmp - /root/work/data"' \
        sh "$root" "$BUILD/rootfs-bundle"
    s=$?
    set -e
    "$bin/dlcall-binfmt" unregister "$g" >/dev/null
    [ "$s" = 0 ] || fail "the chroot's shell failed ($s)"
    [ "$(cat "$w/binfmt.machine")" = "$g" ] ||
        fail "uname -m says $(cat "$w/binfmt.machine")"
    grep -q "dlcall-thunks: libz.so.1: [1-9][0-9]* calls" "$w/binfmt.log" ||
        fail "pigz's zlib made no calls on the host (see $w/binfmt.log)"
done
echo "  system: all passed in $(( $(date +%s) - start )) s"
