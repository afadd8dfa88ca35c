#!/bin/sh
# Emulated programs, which spend their time in indirect branches
# (interpreters, compilers): QEMU as released against QEMU with the
# series (series patches 27-30 find the next block of an indirect
# branch from translated code).  Everything runs emulated, without
# plugins or thunks: Debian's programs from the guest's sysroot, the
# host's own for the x86_64 guest.  Then the share of the lookup work
# in a perf profile of the python3 loop, under each QEMU.
#
# Prints a Markdown section on stdout (run.sh appends it to
# results.md), progress on stderr.  Settings from the environment:
#   QEMU_BUILD  the QEMU with the series (build/qemu-build)
#   PRISTINE    QEMU as released, built from the same source
#   GUESTS      guests (x86_64 aarch64 riscv64)
#   BR_RUNS     rounds (default 3)
#   OUT         where the raw figures go (build/bench)

set -eu

: "${QEMU_BUILD:=build/qemu-build}" "${PRISTINE:=build/qemu-pristine}"
: "${GUESTS:=x86_64 aarch64 riscv64}" "${BR_RUNS:=3}" "${OUT:=build/bench}"
TOP=$(pwd)
RAW=$TOP/$OUT/branches-raw
WORK=$TOP/$OUT/branches-work
. bench/lib.sh

rm -rf "$RAW" "$WORK"
mkdir -p "$RAW" "$WORK"

# The inputs, the same for every guest.
cat >"$WORK/calls.py" <<'EOF'
class Counter:
    def __init__(self):
        self.n = 0

    def step(self, k):
        self.n += k
        return self.n


def main():
    c = Counter()
    s = 0
    for i in range(2000000):
        s ^= c.step(i & 7)
    print(s)


main()
EOF
cat >"$WORK/words.pl" <<'EOF'
my %count;
my $seed = 1;
for my $i (1 .. 300000) {
    $seed = ($seed * 1103515245 + 12345) % 2147483648;
    my $line = sprintf("w%x-%d q%03d", $seed >> 20, $i % 97, $seed % 1000);
    for my $w ($line =~ /([a-z]+[0-9a-f]+)/g) {
        $count{$w}++;
    }
}
my @top = (sort { $count{$b} <=> $count{$a} || $a cmp $b } keys %count)[0 .. 4];
print join(" ", map { "$_=$count{$_}" } @top), "\n";
EOF
seq 1 1500000 >"$WORK/numbers"

# cc1 GUEST: Debian's cc1 for GUEST, the compiler proper of gcc -O2 -c
# (the guest's cpp package and the libraries it depends on, unpacked
# into $WORK/cc1-GUEST; the sysroot has the C library), followed by the
# library path it needs; the host's own for x86_64.  Nothing if the
# archive cannot give it.
cc1() {
    if [ "$1" = x86_64 ]; then
        f=$(ls /usr/lib/gcc/x86_64-linux-gnu/*/cc1 2>/dev/null | tail -n 1)
        [ -n "$f" ] || return 0
        dpkg-query -W -f '${Package} ${Version}' \
            "$(dpkg -S "$f" | cut -d: -f1)" >"$WORK/cc1-$1.version"
        echo "$f"
        return 0
    fi
    conf=$TOP/build/apt/$1/apt.conf
    dir=$WORK/cc1-$1
    pkgs= next=cpp
    # cpp leads to cpp-N (and, in trixie, to cpp-N-<triplet>)
    while [ -n "$next" ]; do
        pkgs="$pkgs $next"
        next=$(apt-cache -c "$conf" depends $next 2>/dev/null |
            awk '$1 == "Depends:" && $2 ~ /^cpp-/ { print $2 }' | sort -u)
    done
    libs=$(apt-cache -c "$conf" depends $pkgs 2>/dev/null |
        awk '$1 == "Depends:" && $2 ~ /^lib/ && $2 != "libc6" { print $2 }' |
        sort -u)
    mkdir -p "$dir/debs"
    (cd "$dir/debs" && apt-get -q -c "$conf" download $pkgs $libs) \
        >"$dir/apt.log" 2>&1 || return 0
    for d in "$dir"/debs/*.deb; do
        dpkg-deb -x "$d" "$dir/root"
    done
    dpkg-deb -W --showformat '${Package} ${Version}\n' "$dir"/debs/cpp-*.deb |
        tail -n 1 >"$WORK/cc1-$1.version"
    f=$(find "$dir/root" -name cc1 -type f | head -n 1)
    [ -z "$f" ] || echo "$f" "$(find "$dir/root" -name 'lib*.so.*' \
        ! -path '*/share/*' -exec dirname {} + | sort -u | tr '\n' ':')"
}

# root GUEST: where GUEST's programs are: its sysroot, or the host's
# own (empty) for the x86_64 guest
root() {
    [ "$1" = x86_64 ] || echo "$TOP/build/sysroot/$1"
}

# emulated QEMU GUEST JOB: the command line that runs JOB under QEMU
emulated() {
    sys=$(root "$2")
    case $3 in
    python-calls) cmd="$sys/usr/bin/python3 $WORK/calls.py" ;;
    compileall) cmd="$sys/usr/bin/python3 -m compileall -q -f $WORK/tree-$2" ;;
    perl-words) cmd="$sys/usr/bin/perl $WORK/words.pl" ;;
    dash-loop) cmd="$sys/bin/dash -c 'i=0; while [ \$i -lt 300000 ]; do i=\$((i + 1)); done'" ;;
    xz-6) cmd="$sys/usr/bin/xz -6 -T1 -c $WORK/numbers" ;;
    cc1-O2) set -- "$1" "$2" "$3" $(cat "$WORK/cc1-$2.cmd")
        cmd="${5:+-E LD_LIBRARY_PATH=$5 }$4 -quiet -O2 $WORK/deflate.i -o /dev/null" ;;
    esac
    echo "$1${sys:+ -L $sys} $cmd"
}
JOBS="python-calls compileall perl-words dash-loop xz-6"

# gcc -O2 -c's compiler proper on zlib's deflate.c, preprocessed once
# by the host's gcc (the same input for every guest), where each guest's
# cc1 can be had.
CC1_GUESTS=
if gcc -E -I build/examples/zlib-src build/examples/zlib-src/deflate.c \
        -o "$WORK/deflate.i" 2>/dev/null; then
    for g in $GUESTS; do
        cc1 "$g" >"$WORK/cc1-$g.cmd"
        if [ -s "$WORK/cc1-$g.cmd" ]; then
            CC1_GUESTS="$CC1_GUESTS $g"
        else
            echo "bench: no cc1 for $g: left out" >&2
        fi
    done
fi

# The tree compileall compiles: the guest's own email, logging and
# urllib packages (in python3-minimal).
for g in $GUESTS; do
    lib=$(ls -d "$(root "$g")/usr/lib/python3."[0-9]* | head -n 1)
    mkdir -p "$WORK/tree-$g"
    cp -r "$lib/email" "$lib/logging" "$lib/urllib" "$WORK/tree-$g/"
done

# seconds QEMU GUEST JOB: run the job once, print its wall time
seconds() {
    line=$(emulated "$@")
    start=$(date +%s.%N)
    eval "$line" >/dev/null
    end=$(date +%s.%N)
    awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f\n", b - a }'
}

echo "bench: emulated programs, QEMU as released and with the series, $BR_RUNS rounds" >&2
for r in $(seq "$BR_RUNS"); do
    for g in $GUESTS; do
        jobs=$JOBS
        case " $CC1_GUESTS " in *" $g "*) jobs="$jobs cc1-O2" ;; esac
        for j in $jobs; do
            before=$(seconds "$PRISTINE/qemu-$g" "$g" "$j")
            after=$(seconds "$QEMU_BUILD/qemu-$g" "$g" "$j")
            put "$g-$j-released" "$before"
            put "$g-$j-series" "$after"
            put "$g-$j-speedup" "$(ratio "$before" "$after")"
        done
        printf '.' >&2
    done
done
echo >&2

# The lookup work's share of a profile: the helper, the hash table, the
# TB state and cflags, the guarded-page checks.
LOOKUP='helper_lookup_tb_ptr|tb_htable_lookup|qht_lookup_custom|tb_lookup_cmp|_get_tb_cpu_state|curr_cflags|helper_guarded_page|page_get_flags|interval_tree_iter|cpu_get_fcfien|cpu_get_bcfien|riscv_pm_get_pmm'
# share QEMU GUEST: the lookup work's share of python-calls' profile
share() {
    eval "perf record -q -o $WORK/perf.data $(emulated "$1" "$2" python-calls)" \
        >/dev/null 2>&1 || return 0
    perf report -i "$WORK/perf.data" --no-children --sort sym --stdio 2>/dev/null |
        awk -v re="$LOOKUP" '$1 ~ /%$/ && $NF ~ re { s += $1 } END { printf "%.1f\n", s }'
}
if command -v perf >/dev/null; then
    echo "bench: perf profiles of python-calls" >&2
    for g in $GUESTS; do
        for v in released series; do
            q=$QEMU_BUILD/qemu-$g
            [ "$v" = released ] && q=$PRISTINE/qemu-$g
            put "$g-lookup-$v" "$(share "$q" "$g")"
        done
    done
fi

echo "## Emulated programs: QEMU as released and with the series (s)"
echo
echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores"
echo "- released: \`$PRISTINE\` ($("$PRISTINE/qemu-x86_64" --version | head -n 1), no patches); series: \`$QEMU_BUILD\`"
echo "- command: \`bench/branches.sh\` (BR_RUNS=$BR_RUNS), part of \`make bench\`"
echo "- no plugin, no thunks: plain emulation of Debian's programs (x86_64: the host's own)"
echo
echo "| guest | job | released | series | released / series |"
echo "|---|---|---|---|---|"
for g in $GUESTS; do
    for j in $JOBS cc1-O2; do
        [ -e "$RAW/$g-$j-released" ] || continue
        echo "| $g | $j | $(med "$g-$j-released" %.2f) | $(med "$g-$j-series" %.2f) | $(med "$g-$j-speedup" %.2f) |"
    done
done
echo
echo "Jobs: python-calls, a method-call loop of 2M calls; compileall,"
echo "\`python3 -m compileall -f\` of a copy of the guest's email, logging and"
echo "urllib packages; perl-words, a regex and hash script; dash-loop, 300000"
echo "iterations of a shell loop; xz-6, \`xz -6 -T1\` of \`seq 1 1500000\`;"
echo "cc1-O2, what \`gcc -O2 -c\` runs: Debian's cc1 for the guest (its cpp"
echo "package, x86_64: the host's) on zlib's deflate.c, preprocessed by the host."
echo "cc1: $(for g in $CC1_GUESTS; do printf '%s %s; ' "$g" "$(cat "$WORK/cc1-$g.version")"; done | sed 's/; $/./')"
if ls "$RAW"/*-lookup-series >/dev/null 2>&1; then
    echo
    echo "Share of lookup work in a perf profile of python-calls (%): the"
    echo "symbols matching \`$LOOKUP\`."
    echo
    echo "| guest | released | series |"
    echo "|---|---|---|"
    for g in $GUESTS; do
        echo "| $g | $(cat "$RAW/$g-lookup-released") | $(cat "$RAW/$g-lookup-series") |"
    done
fi
echo
