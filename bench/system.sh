#!/bin/sh
# Benchmark of whole workloads in Debian root filesystems: each guest's
# (arm64 bookworm, riscv64 trixie) emulated (dlcall-run --rootfs
# --no-thunks) and with thunks (dlcall-run --rootfs), and the same work
# natively in an amd64 root filesystem of the host's release (chroot).
#
# Jobs:
#   stage2   the second stage of a root filesystem with apt, python3 and
#            perl: the guest's dpkg --install of the downloaded packages
#            (about 110), maintainer scripts and py3compile included
#   apt      apt-get install of pigz, xz-utils, bzip2, zstd and expat
#            from a local archive (a file: source)
#   tar-xJ   tar -xJf of a tree of the root filesystem's own files
#
# For each thunk run, perf samples the whole machine: the split by
# program (the emulated ones are named after the guest program, see
# patch 25) and by where the time went: translated guest code, QEMU
# (translation, helpers, system call emulation), host libraries (the
# drop-ins' host calls, the C library), the kernel.
#
# Prints a Markdown section on stdout, progress on stderr.  Run from
# the top of the repository after "make bin bundle"; as root.  Settings:
#   GUESTS     guests (default aarch64 riscv64)
#   SYS_JOBS   jobs (default stage2 apt tar-xJ)
#   SYS_RUNS   rounds (default 1: a round takes about half an hour)
#   OUT        where the root filesystems and raw figures go (build/bench)

set -eu

: "${GUESTS:=aarch64 riscv64}" "${SYS_JOBS:=stage2 apt tar-xJ}"
: "${SYS_RUNS:=1}" "${OUT:=build/bench}"
BUILD=$(pwd)/build
RUN=$BUILD/bin/dlcall-run
WORK=$(pwd)/$OUT/system
RAW=$WORK/raw
. bench/lib.sh
[ "$(id -u)" = 0 ] || { echo "system.sh: needs root (chroot, perf)" >&2; exit 1; }
[ -x "$RUN" ] && [ -d "$BUILD/rootfs-bundle" ] ||
    { echo "system.sh: run 'make bin bundle' first" >&2; exit 1; }

. /etc/os-release
. tooling/common.sh
uri=$(mirror_uri "$VERSION_CODENAME")
PACKAGES="apt,python3,perl,xz-utils"
APT_SET="pigz xz-utils bzip2 zstd expat"

# template GUEST: the downloaded and unpacked packages (once)
template() {
    t=$WORK/$1.tmpl
    [ ! -f "$t.done" ] || return 0
    case $1 in
    aarch64) a=arm64 s=bookworm ;;
    riscv64) a=riscv64 s=trixie ;;
    x86_64) a=amd64 s=$VERSION_CODENAME ;;
    esac
    echo "bench: $1: downloading and unpacking $s $a: essential, $PACKAGES" >&2
    rm -rf "$t" && mkdir -p "$t"
    mmdebstrap --quiet --mode=root --variant=extract --architectures=$a \
        --include='?essential' --include="$PACKAGES" \
        --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
        --skip=cleanup/apt/cache --skip=cleanup/apt/lists \
        "$s" "$t" "deb $uri $s main" >"$t.log" 2>&1
    touch "$t.done"
}

# inside GUEST MODE ROOT COMMAND...: run in ROOT as MODE does
inside() {
    g=$1 mode=$2 root=$3
    shift 3
    case $mode in
    native) env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
        LANG=C.UTF-8 chroot "$root" "$@" ;;
    emulated) "$RUN" --rootfs "$root" --no-thunks "$@" ;;
    thunks) "$RUN" --rootfs "$root" "$@" ;;
    esac
}

# timed NAME GUEST MODE ROOT COMMAND...: record the time in s
timed() {
    name=$1
    shift
    log=$RAW/$name.log
    if [ "$2" = thunks ]; then
        perf record -q -F 199 -a -o "$RAW/$name.perf" 2>/dev/null &
        perf_pid=$!
        sleep 1
    fi
    t0=$(date +%s%N)
    inside "$@" >"$log" 2>&1 || { tail -n 20 "$log" >&2; echo "FAIL: $name" >&2; exit 1; }
    t1=$(date +%s%N)
    if [ "$2" = thunks ]; then
        # (SIGINT is ignored by a background job of a script.)
        kill -TERM "$perf_pid"
        wait "$perf_pid" || true
    fi
    put "$name" "$(awk -v n=$(( (t1 - t0) / 1000000 )) 'BEGIN { printf "%.1f", n / 1000 }')"
}

# fresh GUEST: a copy of the template to work in, as $root
fresh() {
    root=$WORK/$1.run
    rm -rf "$root"
    cp -a "$WORK/$1.tmpl" "$root"
}

# split NAME: where the busy time of a thunk run went, from its perf
# samples (idle left out): programs with at least 2 %, then the kind of
# code: translated guest code (no symbols), QEMU itself (translation,
# helpers, system call emulation), host libraries (the drop-ins' host
# calls, and the C library for QEMU too), the kernel.
split() {
    perf report -q -i "$RAW/$1.perf" --sort comm,dso --stdio 2>/dev/null |
        awk '$2 != "swapper" && NF >= 3 {
            p = $1 + 0; c = $2; d = $3
            for (i = 4; i <= NF; i++) d = d " " $i
            total += p; by[c] += p
            if (d ~ /unknown|perf-[0-9]+\.map|JIT/) code += p
            else if (d ~ /^qemu-/) qemu += p
            else if (d ~ /kernel/) kern += p
            else host += p
        }
        END {
            if (!total) { print "no samples"; exit }
            n = 0
            for (c in by) if (by[c] * 100 / total >= 2) list[n++] = c
            for (i = 0; i < n; i++) for (j = i + 1; j < n; j++)
                if (by[list[j]] > by[list[i]]) { t = list[i]; list[i] = list[j]; list[j] = t }
            for (i = 0; i < n; i++) printf "%s %.0f%%, ", list[i], by[list[i]] * 100 / total
            printf "; translated guest code %.0f%%, QEMU %.0f%%, host libraries %.0f%%, kernel %.0f%%",
                code * 100 / total, qemu * 100 / total, host * 100 / total, kern * 100 / total
        }' | sed 's/, ;/;/'
}

mkdir -p "$WORK"
rm -rf "$RAW" && mkdir -p "$RAW"
for g in x86_64 $GUESTS; do
    template "$g"
done
# The tree for tar-xJ: the riscv64 template's /usr/share and /usr/lib
# (any files will do; the same for every side), about 150 MB.
TREE=$WORK/tree.tar.xz
if [ ! -f "$TREE" ]; then
    echo "bench: making $TREE" >&2
    tar -C "$WORK/x86_64.tmpl" -cf - usr/lib usr/share | xz -T2 -6 >"$TREE.tmp"
    mv "$TREE.tmp" "$TREE"
fi

# installed GUEST MODE: $root is a copy of GUEST's template with the
# packages installed (untimed unless "stage2" is a job: then its time is
# recorded, as the run of that mode); the last installed one is kept.
installed() {
    fresh "$1"
    debs=$(cd "$root" && ls var/cache/apt/archives/*.deb | sed 's|^|/|')
    # shellcheck disable=SC2086
    case " $SYS_JOBS " in
    *" stage2 "*) timed "stage2-$1-$2" "$1" "$2" "$root" \
        dpkg --install --force-depends $debs ;;
    *) inside "$1" "$2" "$root" dpkg --install --force-depends $debs \
        >/dev/null 2>&1 ;;
    esac
    rm -rf "$WORK/$1.inst"
    mv "$root" "$WORK/$1.inst"
}

for r in $(seq "$SYS_RUNS"); do
    for g in x86_64 $GUESTS; do
        modes="emulated thunks"
        [ "$g" != x86_64 ] || modes=native
        for m in $modes; do
            echo "bench: round $r: $g, $m: stage2" >&2
            installed "$g" "$m"
        done
        for m in $modes; do
            for j in $SYS_JOBS; do
                [ "$j" != stage2 ] || continue
                echo "bench: round $r: $g, $m: $j" >&2
                root=$WORK/$g.run
                rm -rf "$root"
                cp -a "$WORK/$g.inst" "$root"
                case $j in
                apt)
                    local=$root/srv/local
                    mkdir -p "$local"
                    for p in $APT_SET libexpat1 libbz2-1.0; do
                        cp "$BUILD"/apt/$g/cache/archives/${p}_*.deb "$local/" 2>/dev/null ||
                            (cd "$local" && apt-get -q download "$p" >/dev/null 2>&1)
                    done
                    (cd "$local" && dpkg-scanpackages --multiversion . 2>/dev/null >Packages)
                    echo "deb [trusted=yes] file:/srv/local ./" >"$local/sources.list"
                    o="-o Dir::Etc::SourceList=/srv/local/sources.list -o Dir::Etc::SourceParts=-"
                    # shellcheck disable=SC2086
                    inside "$g" "$m" "$root" apt-get $o -q update >/dev/null 2>&1
                    # shellcheck disable=SC2086
                    timed "$j-$g-$m" "$g" "$m" "$root" apt-get $o -q -y \
                        --no-install-recommends install $APT_SET ;;
                tar-xJ)
                    cp "$TREE" "$root/root/tree.tar.xz"
                    timed "$j-$g-$m" "$g" "$m" "$root" \
                        tar -C /root -xJf /root/tree.tar.xz ;;
                *) echo "system.sh: no job $j" >&2; exit 1 ;;
                esac
            done
        done
    done
done
rm -rf "$WORK"/*.run "$WORK"/*.inst

cat <<EOF

## Whole systems in Debian root filesystems (s)

$(date -u '+%Y-%m-%d %H:%M UTC'), $SYS_RUNS round(s), median (min-max).
Emulated: \`dlcall-run --rootfs --no-thunks\`; thunks: \`dlcall-run
--rootfs\` (-follow-exec, plugin and drop-ins in every process);
native: the same work in an amd64 root filesystem of Debian
$VERSION_CODENAME (chroot).  stage2: the guest's \`dpkg --install\` of
the downloaded essential packages, apt, python3 and perl; apt:
\`apt-get install $APT_SET\` from a local archive; tar-xJ: \`tar -xJf\` of
$(du -m "$TREE" | cut -f1) MB of .tar.xz ($(xz -l "$TREE" | awk 'NR == 2 { print $5, $6 }') unpacked).

| job | guest | packages | emulated | thunks | native | emulated/thunks | thunks/native |
|---|---|---|---|---|---|---|---|
EOF
for j in $SYS_JOBS; do
    for g in $GUESTS; do
        e=$(median "$RAW/$j-$g-emulated") t=$(median "$RAW/$j-$g-thunks")
        n=$(median "$RAW/$j-x86_64-native")
        printf '| %s | %s | %s | %s | %s | %s | %.2fx | %.2f |\n' "$j" "$g" \
            "$(ls "$WORK/$g.tmpl"/var/cache/apt/archives/*.deb | wc -l)" \
            "$(med "$j-$g-emulated")" "$(med "$j-$g-thunks")" \
            "$(med "$j-x86_64-native")" \
            "$(ratio "$e" "$t")" "$(ratio "$t" "$n")"
    done
done
cat <<EOF

Where a thunk run's time went (perf, whole machine: programs by name
with at least 2 % of the samples; then by kind of code):

EOF
for j in $SYS_JOBS; do
    for g in $GUESTS; do
        echo "- $j, $g: $(split "$j-$g-thunks")"
    done
done
cat <<EOF

Command: \`GUESTS="$GUESTS" SYS_JOBS="$SYS_JOBS" SYS_RUNS=$SYS_RUNS bench/system.sh\`
EOF
