# Shared settings for the tooling scripts; sourced, not run.
# Every path is relative to the top of the repository.

set -eu

TOP=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$TOP/build
PRISTINE=$BUILD/pristine        # symlink to the unpacked QEMU source
TREE=$BUILD/qemu                # patched tree, a git repository
SCRATCH=$BUILD/qemu-scratch     # worktree where history is rewritten
SERIES=$TOP/patches/series

# Commits made by the tooling need an identity even on a fresh machine.
export GIT_AUTHOR_NAME="${GIT_AUTHOR_NAME:-dlcall tooling}"
export GIT_AUTHOR_EMAIL="${GIT_AUTHOR_EMAIL:-dlcall@localhost}"
export GIT_COMMITTER_NAME="${GIT_COMMITTER_NAME:-$GIT_AUTHOR_NAME}"
export GIT_COMMITTER_EMAIL="${GIT_COMMITTER_EMAIL:-$GIT_AUTHOR_EMAIL}"

say() {
    printf '%s: %s\n' "$(basename "$0")" "$*"
}

die() {
    printf '%s: error: %s\n' "$(basename "$0")" "$*" >&2
    exit 1
}

# mirror_uri SUITE: the URI of the Debian archive this system uses for
# SUITE (its own release), from either apt sources format.
mirror_uri() {
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk -v suite="$1" '
            /^URIs:/ { uri = $2 }
            /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == suite) ok = 1 }
            /^$/ { if (ok && uri) { print uri; exit } ; ok = 0; uri = "" }
            END { if (ok && uri) print uri }' "$f"
    done | head -n 1 | grep . ||
        sed 's/\[[^]]*\]//' /etc/apt/sources.list 2>/dev/null |
        awk -v suite="$1" '$1 == "deb" && $3 == suite { print $2; exit }'
}

# series_lines: one line per patch, "PATCH [NEW-FILE...]": the patch,
# then the files the project adds to QEMU with that patch's commit.
# In patches/series the new files follow their patch on indented lines.
series_lines() {
    sed -e 's/#.*//' "$SERIES" | awk '
        /^[[:space:]]*$/ { next }
        /^[[:space:]]/ { line = line " " $1; next }
        { if (line != "") print line; line = $1 }
        END { if (line != "") print line }'
}

# apt_private STATE COMMAND...: run apt-get on the private apt state
# build/apt/STATE (see tooling/sysroot), quietly, showing its output if
# it fails
apt_private() {
    apt_state=$BUILD/apt/$1
    shift
    apt-get -q -c "$apt_state/apt.conf" "$@" >"$apt_state/apt.log" 2>&1 ||
        { cat "$apt_state/apt.log" >&2; die "failed: apt-get $*"; }
}
