#!/bin/bash
#
# contrib/demo-plots.sh: the plots of contrib/demo.sh, drawn with gnuplot
# (Debian: gnuplot-nox) from the CSV files the demo wrote into DIR:
#   rate-vs-size.svg      uctbench-size.csv: message rate over the message
#                         size, inner transport alone and rsagg over it,
#                         per inner transport
#   rate-vs-eps.svg       uctbench-eps.csv: message rate over the number of
#                         endpoints sending to one peer
#   mpi-rate-vs-size.svg  mpi.csv: MPI Isend/Irecv and OpenSHMEM put rates
#                         over the message size, tcp alone and rsagg over it
# Every plot is labelled with the date and the machine it ran on
# (DIR/machine.txt; written now when missing, contrib/demo.sh removes it
# before it measures). A missing CSV file skips its
# plot with a note; a CSV file without data, or gnuplot failing, fails.
#
# Usage: contrib/demo-plots.sh [DIR]   (DIR: build/demo)
#
# Exit status: 0 when every plot whose CSV file exists was written.
#
set -u -o pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$top/build/demo}

note() { echo "demo-plots.sh: $*" >&2; }

case ${1:-} in
-h|--help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
esac

command -v gnuplot >/dev/null || {
    note "gnuplot not found (Debian: apt-get install gnuplot-nox)"
    exit 1
}
[ -d "$dir" ] || { note "$dir: no such directory"; exit 1; }

# The date and the machine, as one line
machine_label() {
    local cpu os ucx
    cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
    os=$(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME")
    ucx=$(ucx_info -v 2>/dev/null | sed -n 's/^# Version //p' | head -n 1)
    echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(hostname), $(nproc) CPUs" \
         "${cpu:+($cpu)}, ${os:-unknown OS}, UCX ${ucx:-?}"
}
[ -s "$dir/machine.txt" ] || machine_label > "$dir/machine.txt"
label=$(head -n 1 "$dir/machine.txt")

# csv_columns FILE NAME...: the named columns of a CSV file, space
# separated, one line per row (quoted fields may hold commas; an empty
# field becomes "-")
csv_columns() {
    local file=$1
    shift
    awk -v names="$*" '
        function split_csv(line, f,    n, i, c, q, cur) {
            n = 0; cur = ""; q = 0
            for (i = 1; i <= length(line); ++i) {
                c = substr(line, i, 1)
                if (q) {
                    if (c == "\"") q = 0; else cur = cur c
                } else if (c == "\"") {
                    q = 1
                } else if (c == ",") {
                    f[++n] = cur; cur = ""
                } else {
                    cur = cur c
                }
            }
            f[++n] = cur
            return n
        }
        NR == 1 {
            n = split_csv($0, head)
            for (i = 1; i <= n; ++i) col[head[i]] = i
            k = split(names, want, " ")
            for (i = 1; i <= k; ++i) {
                if (!(want[i] in col)) {
                    print "no column " want[i] > "/dev/stderr"
                    exit 1
                }
            }
            next
        }
        {
            split_csv($0, f)
            out = ""
            for (i = 1; i <= k; ++i) {
                v = f[col[want[i]]]
                out = out (i > 1 ? " " : "") (v == "" ? "-" : v)
            }
            print out
        }' "$file"
}

work=$(mktemp -d "${TMPDIR:-/tmp}/demo-plots.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
failed=0

# uct_plot CSV SVG XCOLUMN XLABEL TITLE
#   Rate (Mmsg/s) of inner alone and rsagg over XCOLUMN, one pair of lines
#   per inner transport (rows whose run did not pass are left out)
uct_plot() {
    local csv=$1 svg=$2 xcol=$3 xlabel=$4 title=$5 tl plots=() color
    local colors=("#1f77b4" "#d62728" "#2ca02c" "#9467bd") i=0
    if [ ! -f "$csv" ]; then
        note "$csv not there: no $(basename "$svg")"
        return 0
    fi
    csv_columns "$csv" inner_tl "$xcol" inner_status inner_rate \
        rsagg_status rsagg_rate > "$work/uct.dat" || return 1
    for tl in $(cut -d' ' -f1 "$work/uct.dat" | uniq); do
        color=${colors[i % ${#colors[@]}]}
        awk -v tl="$tl" '$1 == tl {
                printf "%s %s %s\n", $2,
                       ($3 == "ok") ? $4 / 1e6 : "NaN",
                       ($5 == "ok") ? $6 / 1e6 : "NaN" }' \
            "$work/uct.dat" | sort -n > "$work/$tl.dat"
        plots+=("'$work/$tl.dat' using 1:2 with linespoints dt 2 pt 6 \
lc rgb '$color' title '$tl alone'")
        plots+=("'$work/$tl.dat' using 1:3 with linespoints dt 1 pt 7 lw 2 \
lc rgb '$color' title 'rsagg over $tl'")
        i=$((i + 1))
    done
    if [ ${#plots[@]} = 0 ]; then
        note "$csv holds no data"
        return 1
    fi
    draw "$svg" "$title" "$xlabel" "message rate (million messages/s)" \
        "$(IFS=,; echo "${plots[*]}")"
}

# mpi_plot CSV SVG: median rate of each bench and configuration over size
mpi_plot() {
    local csv=$1 svg=$2 bench config plots=() color style what
    local colors=("#1f77b4" "#d62728") i=0
    if [ ! -f "$csv" ]; then
        note "$csv not there: no $(basename "$svg")"
        return 0
    fi
    csv_columns "$csv" bench config size median > "$work/mpi.dat" ||
        return 1
    for bench in $(cut -d' ' -f1 "$work/mpi.dat" | sort -u); do
        color=${colors[i % ${#colors[@]}]}
        case $bench in
        mpi_msgrate)   what="MPI Isend/Irecv" ;;
        shmem_putrate) what="SHMEM putmem+quiet" ;;
        *)             what=$bench ;;
        esac
        for config in $(awk -v b="$bench" '$1 == b { print $2 }' \
                            "$work/mpi.dat" | sort -u); do
            awk -v b="$bench" -v c="$config" '$1 == b && $2 == c {
                    print $3, $4 / 1e6 }' "$work/mpi.dat" |
                sort -n > "$work/$bench.$config.dat"
            # as in the UCT plots: rsagg solid and filled, the inner
            # transport alone dashed and open
            case $config in
            rsagg*) style="dt 1 pt 7 lw 2" ;;
            *)      style="dt 2 pt 6 lw 1" ;;
            esac
            plots+=("'$work/$bench.$config.dat' using 1:2 with linespoints \
$style lc rgb '$color' title '$what, $config'")
        done
        i=$((i + 1))
    done
    if [ ${#plots[@]} = 0 ]; then
        note "$csv holds no data"
        return 1
    fi
    draw "$svg" "MPI and OpenSHMEM, 2 ranks: rate over message size" \
        "message size (bytes)" "rate (million operations/s)" \
        "$(IFS=,; echo "${plots[*]}")"
}

# draw SVG TITLE XLABEL YLABEL PLOTS: log-log plot with the machine label
draw() {
    local svg=$1 title=$2 xlabel=$3 ylabel=$4 plots=$5
    gnuplot > "$work/gnuplot.log" 2>&1 <<EOF
set terminal svg size 800,560 dynamic noenhanced font "sans,12" \
    background "white"
set output '$svg.tmp'
set title "$title\n$label"
set xlabel "$xlabel"
set ylabel "$ylabel"
set bmargin 6
set logscale x 2
set logscale y 10
set xtics 4
set offsets graph 0.03, graph 0.03, 0, 0
set format x "%g"
set format y "%g"
set grid xtics ytics mytics lc rgb "#dddddd"
set key outside bottom center horizontal
set datafile missing "NaN"
plot $plots
EOF
    if [ $? != 0 ] || [ ! -s "$svg.tmp" ]; then
        note "gnuplot failed for $svg:"
        sed 's/^/    /' "$work/gnuplot.log" >&2
        rm -f "$svg.tmp"
        return 1
    fi
    mv "$svg.tmp" "$svg"
    echo "demo-plots: wrote $svg"
}

uct_plot "$dir/uctbench-size.csv" "$dir/rate-vs-size.svg" size \
    "message size (bytes)" \
    "UCT am_bcopy, 8 eps to one peer: rate over message size" ||
    failed=$((failed + 1))
uct_plot "$dir/uctbench-eps.csv" "$dir/rate-vs-eps.svg" eps \
    "endpoints sending to one peer" \
    "UCT am_bcopy, 8-byte messages: rate over the number of eps" ||
    failed=$((failed + 1))
mpi_plot "$dir/mpi.csv" "$dir/mpi-rate-vs-size.svg" ||
    failed=$((failed + 1))

[ $failed = 0 ]
