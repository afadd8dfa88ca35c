# Helpers of the benchmark scripts; sourced, not run.  Raw figures go
# to files in $RAW, one figure per line, one line per round.

# put NAME VALUE: record one raw figure
put() {
    echo "$2" >>"$RAW/$1"
}

# The median, and the min-max range, of the figures in a file.
median() {
    sort -g "$1" | awk '{ v[NR] = $1 }
        END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
range() {
    sort -g "$1" | awk 'NR == 1 { lo = $1 } { hi = $1 } END { print lo, hi }'
}
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { printf "%.4f\n", a / b }'
}

# med NAME [FORMAT]: "median (min-max)" of a raw figure
med() {
    printf "${2:-%.1f} (${2:-%.1f}-${2:-%.1f})" "$(median "$RAW/$1")" \
        $(range "$RAW/$1")
}
