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
#   tcg      stage2's install under QEMU as released and under the
#            series, both without a plugin, through binfmt_misc
#
# For each thunk run, perf samples the whole machine: the split by
# program (the emulated ones are named after the guest program, see
# patch 25) and by where the time went: translated guest code, QEMU
# (translation, helpers, system call emulation), host libraries (the
# drop-ins' host calls, the C library), the kernel.
#
# tcg runs stage2's install under QEMU as released (QEMU_RELEASED) and
# under the series (QEMU_BUILD), both without a plugin and started by
# the kernel through binfmt_misc in a chroot: the before and after of
# the series' TCG and linux-user changes.  perf samples it: the share
# of translation (QEMU's code generator, by function name), of looking
# up translated code, of the translated code itself, and the programs
# started (exec events), each of which also pays QEMU's start-up,
# measured on /bin/true.
#
# Prints a Markdown section on stdout, progress on stderr.  Run from
# the top of the repository after "make bin bundle"; as root.  Settings:
#   GUESTS     guests (default aarch64 riscv64)
#   SYS_JOBS   jobs (default stage2 apt tar-xJ tcg)
#   SYS_RUNS   rounds (default 1: a round takes about half an hour)
#   OUT        where the root filesystems and raw figures go (build/bench)
#   QEMU_RELEASED, QEMU_BUILD  the builds of QEMU as released and of
#              the series for tcg (default build/qemu-pristine, made by
#              make bench, and build/qemu-build)

set -eu

: "${GUESTS:=aarch64 riscv64}" "${SYS_JOBS:=stage2 apt tar-xJ tcg}"
: "${SYS_RUNS:=1}" "${OUT:=build/bench}"
: "${QEMU_RELEASED:=build/qemu-pristine}" "${QEMU_BUILD:=build/qemu-build}"
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
    released | series) chrooted "$root" "$@" ;;
    emulated) "$RUN" --rootfs "$root" --no-thunks "$@" ;;
    thunks) "$RUN" --rootfs "$root" "$@" ;;
    esac
}

# timed NAME GUEST MODE ROOT COMMAND...: record the time in s
timed() {
    name=$1
    shift
    log=$RAW/$name.log
    perf_pid=
    case $2 in
    thunks)
        perf record -q -F 199 -a -o "$RAW/$name.perf" 2>/dev/null &
        perf_pid=$! ;;
    released | series)
        perf record -q -a -o "$RAW/$name.perf" -e cpu-clock/freq=499/ \
            -e sched:sched_process_exec 2>/dev/null &
        perf_pid=$! ;;
    esac
    [ -z "$perf_pid" ] || sleep 1
    t0=$(date +%s%N)
    inside "$@" >"$log" 2>&1 || { tail -n 20 "$log" >&2; echo "FAIL: $name" >&2; exit 1; }
    s=$(secs "$t0")
    if [ -n "$perf_pid" ]; then
        # (SIGINT is ignored by a background job of a script.)
        kill -TERM "$perf_pid"
        wait "$perf_pid" || true
    fi
    put "$name" "$s"
}

# secs T0: the seconds since T0 (from date +%s%N), to a tenth
secs() {
    awk -v n=$((($(date +%s%N) - $1) / 1000000)) 'BEGIN { printf "%.1f", n / 1000 }'
}

# The binfmt_misc entries of tcg, with the magic and mask of each
# guest's programs from QEMU's scripts/qemu-binfmt-conf.sh, as the
# bundle keeps them.
BINFMT=/proc/sys/fs/binfmt_misc
ENTRY=dlcall-bench
BINFMT_MOUNTED=
trap 'for e in "$BINFMT/$ENTRY"-*; do [ ! -e "$e" ] || echo -1 >"$e"; done
      [ -z "$BINFMT_MOUNTED" ] || umount "$BINFMT"' EXIT

# binfmt GUEST [QEMU]: the kernel runs GUEST's programs with QEMU from
# now on (flag F: QEMU is opened now, so that a chroot can use it), or
# no longer with QEMU left out
binfmt() {
    [ ! -e "$BINFMT/$ENTRY-$1" ] || echo -1 >"$BINFMT/$ENTRY-$1"
    [ $# -gt 1 ] || return 0
    set -- "$1" "$2" $(awk -v g="$1" '$1 == g { print $2, $3 }' \
        "$BUILD/rootfs-bundle/lib/dlcall-binfmt.conf")
    printf ':%s-%s:M::%s:%s:%s:F\n' "$ENTRY" "$1" "$3" "$4" "$2" \
        >"$BINFMT/register"
}

# hostlibs ROOT PROGRAM: PROGRAM's dynamic loader and libraries, and
# the libgcc_s that the C library loads when a thread exits, copied
# into ROOT at their own paths, where the kernel and the loader look
# when binfmt_misc starts PROGRAM in a chroot of ROOT
hostlibs() {
    # In a merged-/usr root, /lib64 is a link to usr/lib64, or must
    # become one (trixie's base-files refuses to install otherwise).
    if [ -L "$1/lib" ]; then
        [ -L "$1/lib64" ] || ln -s usr/lib64 "$1/lib64"
        mkdir -p "$1/usr/lib64"
    fi
    for f in $(ldd "$2" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }
                               $1 ~ /^\// { print $1 }') \
             "$(readlink -f "$(gcc -print-file-name=libgcc_s.so.1)")"; do
        mkdir -p "$1$(dirname "$f")"
        cp -L "$f" "$1$f"
    done
}

# chrooted ROOT COMMAND...: COMMAND in a chroot of ROOT, with /proc,
# /sys, /dev and /tmp mounted there as dlcall-run --rootfs mounts them
chrooted() {
    unshare --mount --pid --fork --kill-child --propagation private sh -ec '
        r=$1
        shift
        mount -t proc proc "$r/proc"
        mount --rbind /sys "$r/sys"
        mount --rbind /dev "$r/dev"
        mount -t tmpfs -o mode=1777 tmpfs "$r/tmp"
        exec env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
            LANG=C.UTF-8 chroot "$r" "$@"' chrooted "$@"
}

# before_after GUEST MODE: stage2 in a fresh copy of GUEST's template
# under QEMU as released (MODE released) or the series (series), both
# without a plugin, through binfmt_misc in a chroot, with perf sampling
# the machine and counting exec events.  First, what a program costs to
# start: an emulated shell's loop that runs /bin/true 20 times, less
# the same loop without it.
before_after() {
    case $2 in
    released) q=$QEMU_RELEASED/qemu-$1 ;;
    series) q=$QEMU_BUILD/qemu-$1 ;;
    esac
    fresh "$1"
    hostlibs "$root" "$q"
    binfmt "$1" "$(readlink -f "$q")"
    # shellcheck disable=SC2016
    loop='i=0; while [ $i -lt $0 ]; do $1; i=$((i + 1)); done'
    t0=$(date +%s%N)
    inside "$1" "$2" "$root" /bin/sh -c "$loop" 20 /bin/true
    t1=$(date +%s%N)
    inside "$1" "$2" "$root" /bin/sh -c "$loop" 20 :
    t2=$(date +%s%N)
    put "start-$1-$2" "$(awk -v a=$(((t1 - t0) / 1000)) \
        -v b=$(((t2 - t1) / 1000)) 'BEGIN { printf "%.1f", (a - b) / 20000 }')"
    debs=$(cd "$root" && ls var/cache/apt/archives/*.deb | sed 's|^|/|')
    # shellcheck disable=SC2086
    timed "tcg-$1-$2" "$1" "$2" "$root" dpkg --install --force-depends $debs
    put "execs-$1-$2" "$(perf script -i "$RAW/tcg-$1-$2.perf" -F event \
        2>/dev/null | grep -c sched_process_exec)"
    binfmt "$1"
}

# where NAME: where the samples of a tcg run went, in %: "translation
# lookup code qemu host kernel", that is QEMU's code generator (by
# function name), looking up translated code, the translated code, the
# rest of QEMU, host libraries, the kernel (perf's own samples and idle
# left out)
where() {
    perf script -i "$RAW/$1.perf" -F comm,event,ip,sym,dso 2>/dev/null | awk '
        /sched_process_exec/ || $1 == "perf" || $1 ~ /^swapper/ { next }
        {
            n++
            for (i = 1; i < NF; i++) if ($i ~ /^cpu-clock/) s = $(i + 2)
            d = $NF
            if (d ~ /kernel/) kern++
            else if (d ~ /unknown|JIT|perf-[0-9]+\.map/) code++
            else if (d !~ /qemu-/) host++
            else if (s ~ /^(tb_gen_code|setjmp_gen_code|translator_|tcg_|gen_|disas_|decode_|trans_|fold_|liveness_|la_|reg_alloc|temp_|.*_tr_)/) tr++
            else if (s ~ /lookup_tb|tb_lookup|tb_htable|qht_|get_tb_cpu_state|curr_cflags/) look++
            else qemu++
        }
        END {
            if (!n) n = 1
            printf "%.0f %.0f %.0f %.0f %.0f %.0f\n", tr * 100 / n,
                look * 100 / n, code * 100 / n, qemu * 100 / n,
                host * 100 / n, kern * 100 / n
        }'
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

# The jobs in root filesystems made with dlcall-run, and the guests of
# tcg: those that QEMU as released was built for (make bench).
JOBS=$(for j in $SYS_JOBS; do [ "$j" = tcg ] || printf '%s ' "$j"; done)
BEFORE_AFTER=
case " $SYS_JOBS " in
*" tcg "*)
    for g in $GUESTS; do
        [ ! -x "$QEMU_RELEASED/qemu-$g" ] || BEFORE_AFTER="$BEFORE_AFTER $g"
    done
    if [ -z "$BEFORE_AFTER" ]; then
        echo "bench: tcg left out: no QEMU as released in $QEMU_RELEASED" >&2
    elif [ ! -e "$BINFMT/register" ]; then
        if mount -t binfmt_misc binfmt_misc "$BINFMT" 2>/dev/null; then
            BINFMT_MOUNTED=1
        else
            echo "bench: tcg left out: binfmt_misc cannot be mounted" >&2
            BEFORE_AFTER=
        fi
    fi
    ;;
esac

for r in $(seq "$SYS_RUNS"); do
    for g in x86_64 $GUESTS; do
        case " $BEFORE_AFTER " in
        *" $g "*)
            for m in released series; do
                echo "bench: round $r: $g, $m: tcg" >&2
                before_after "$g" "$m"
            done ;;
        esac
        [ -n "$JOBS" ] || continue
        modes="emulated thunks"
        [ "$g" != x86_64 ] || modes=native
        for m in $modes; do
            echo "bench: round $r: $g, $m: stage2" >&2
            installed "$g" "$m"
        done
        for m in $modes; do
            for j in $JOBS; do
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
EOF
[ -z "$JOBS" ] || cat <<EOF
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
for j in $JOBS; do
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
[ -z "$JOBS" ] || cat <<EOF

Where a thunk run's time went (perf, whole machine: programs by name
with at least 2 % of the samples; then by kind of code):

EOF
for j in $JOBS; do
    for g in $GUESTS; do
        echo "- $j, $g: $(split "$j-$g-thunks")"
    done
done
[ -z "$BEFORE_AFTER" ] || cat <<EOF2

tcg: stage2's \`dpkg --install\` under QEMU $(cat "$BUILD/pristine/VERSION") as released and
under the whole series, both without a plugin, started by the kernel
through binfmt_misc in a chroot.  Time in s, median (min-max);
programs: the exec events of the install (last round); start-up: what
an emulated shell pays to run /bin/true, in ms (QEMU's start-up, the
program's and the fork), which every program started pays before its
own work; then where the samples of the last round went (perf, the whole
machine, perf itself and idle left out), in %: QEMU's code generator
(translation, by function name), looking up translated code, the
translated code, the rest of QEMU (helpers, system call emulation,
start-up), host libraries, the kernel.

| guest | QEMU | time | programs | start-up | start-up share | translation | lookup | translated code | rest of QEMU | host libraries | kernel |
|---|---|---|---|---|---|---|---|---|---|---|---|
EOF2
for g in $BEFORE_AFTER; do
    for m in released series; do
        s=$(median "$RAW/tcg-$g-$m") n=$(tail -n 1 "$RAW/execs-$g-$m")
        u=$(median "$RAW/start-$g-$m")
        set -- $(where "tcg-$g-$m")
        printf '| %s | %s | %s | %s | %s | %.0f%% | %s%% | %s%% | %s%% | %s%% | %s%% | %s%% |\n' \
            "$g" "$m" "$(med "tcg-$g-$m")" "$n" "$(med "start-$g-$m")" \
            "$(awk -v n="$n" -v u="$u" -v s="$s" 'BEGIN { print n * u / (s * 10) }')" \
            "$1" "$2" "$3" "$4" "$5" "$6"
    done
    printf '| %s | released/series | %.2fx | | | | | | | | | |\n' "$g" \
        "$(ratio "$(median "$RAW/tcg-$g-released")" "$(median "$RAW/tcg-$g-series")")"
done
cat <<EOF

Command: \`GUESTS="$GUESTS" SYS_JOBS="$SYS_JOBS" SYS_RUNS=$SYS_RUNS bench/system.sh\`
EOF
