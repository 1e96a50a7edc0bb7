#!/bin/bash
#
# contrib/bench-mpi.sh: small-message rates of real MPI and OpenSHMEM jobs,
# rsagg against its inner transport alone, in one invocation. Runs
# test/bench/mpi_msgrate (windows of MPI_Isend/MPI_Irecv between rank pairs)
# and test/bench/shmem_putrate (windows of shmem_putmem + shmem_quiet
# between PE pairs) once per configuration, alternating, --repeat times, and
# prints per message size the median rate of each and their ratio. Every
# number is measured in this invocation; nothing is taken from elsewhere.
#
# Usage: contrib/bench-mpi.sh [options]
#   --inner tcp|shm      compare rsagg-tcp with tcp (default), or rsagg-shm
#                        with posix (its inner transport)
#   --configs "BASE NEW" any two configurations of contrib/mpi-common.sh
#                        instead (the ratio is NEW / BASE)
#   --bench mpi|shmem|all  (all)
#   --np N               ranks, even (2: one pair)
#   --repeat N           runs per configuration and benchmark (3)
#   --time MS            time of one measurement (300)
#   --measurements N     measurements per size and run, of which the run
#                        reports the median (1); the table gives the median
#                        over the runs. Noise of the moment (a busy host)
#                        is evened out inside a run, that of a run's
#                        placement only by more runs.
#   --min-size B, --max-size B   message sizes, powers of two (1 .. 8192)
#   --window N           operations per window (64)
#   --shmem-op OP        putmem, nbi or p (shmem_putrate -o; putmem)
#   --bindir DIR         where mpi_msgrate/shmem_putrate are (repeatable;
#                        default: build/test/bench, else compiled)
#   --csv FILE           also write bench,size,config,median,min,max rows
#
# Every run must exit 0 (the benchmarks check the bytes of their last
# window), and its UCX lanes must be the configuration's transports. Exit
# status is non-zero when a run failed.
#
set -u -o pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=contrib/mpi-common.sh
. "$here/mpi-common.sh"

inner=tcp
configs=
benches=all
np=2
repeat=3
time_ms=300
measurements=1
min_size=1
max_size=8192
window=64
shmem_op=putmem
bindirs=
csv=

usage() {
    sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'
}

while [ $# -gt 0 ]; do
    case $1 in
    --inner)    inner=${2:?}; shift ;;
    --configs)  configs=${2:?}; shift ;;
    --bench)    benches=${2:?}; shift ;;
    --np)       np=${2:?}; shift ;;
    --repeat)   repeat=${2:?}; shift ;;
    --time)     time_ms=${2:?}; shift ;;
    --measurements) measurements=${2:?}; shift ;;
    --min-size) min_size=${2:?}; shift ;;
    --max-size) max_size=${2:?}; shift ;;
    --window)   window=${2:?}; shift ;;
    --shmem-op) shmem_op=${2:?}; shift ;;
    --bindir)   bindirs="$bindirs ${2:?}"; shift ;;
    --csv)      csv=${2:?}; shift ;;
    -h|--help)  usage; exit 0 ;;
    *)          echo "bench-mpi.sh: unknown argument '$1'" >&2
                usage >&2; exit 2 ;;
    esac
    shift
done

die() { echo "bench-mpi.sh: $*" >&2; exit 2; }

for v in "$np" "$repeat" "$time_ms" "$measurements" "$min_size" "$max_size" \
         "$window"; do
    case $v in
    ''|*[!0-9]*|0) die "numeric options need positive integers, not '$v'" ;;
    esac
done
[ $((np % 2)) = 0 ] || die "--np must be even (rank pairs), not $np"
[ "$min_size" -le "$max_size" ] || die "--min-size is above --max-size"
case $benches in
mpi)   benches=mpi_msgrate ;;
shmem) benches=shmem_putrate ;;
all)   benches="mpi_msgrate shmem_putrate" ;;
*)     die "--bench mpi, shmem or all, not '$benches'" ;;
esac
case $shmem_op in
putmem|nbi|p) ;;
*) die "--shmem-op putmem, nbi or p, not '$shmem_op'" ;;
esac
if [ -z "$configs" ]; then
    case $inner in
    tcp) configs="tcp rsagg-tcp" ;;
    shm) configs="posix rsagg-shm" ;;
    *)   die "--inner tcp or shm, not '$inner'" ;;
    esac
fi
# shellcheck disable=SC2086
set -- $configs
[ $# = 2 ] || die "--configs needs two configurations, not '$configs'"
base=$1
new=$2
for config in $base $new; do
    config_env "$config" || die "configuration $config is not usable"
done

# Busy-polling ranks on a shared core take turns of a scheduler time slice
# (milliseconds); a rank per core measures the transport instead
if [ -z "${MPI_BIND:-}" ] && [ "$np" -le "$(nproc)" ]; then
    export MPI_BIND=core
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/bench-mpi.XXXXXX") || exit 2
failed=0
# The logs of failed runs are kept
trap '[ $failed != 0 ] || rm -rf "$work"' EXIT
[ -n "$bindirs" ] || bindirs="$mpi_common_top/build/test/bench"
# shellcheck disable=SC2086
find_programs "$work/bin" "$bindirs" $benches || die "cannot build"

# A run measures each size for time_ms after a calibration of about a
# tenth of that; allow generously more before declaring a hang
n_sizes=0
for ((s = min_size; s <= max_size; s *= 2)); do n_sizes=$((n_sizes + 1)); done
run_limit=$((60 + n_sizes * time_ms * (measurements + 4) / 1000))

# run_bench BENCH CONFIG INDEX: one run; its data lines go to
# $work/BENCH.CONFIG.INDEX.dat ("size rate")
run_bench() {
    local bench=$1 config=$2 index=$3 log args lanes start rc
    log=$work/$bench.$config.$index.log
    args=(-w "$window" -s "$min_size" -S "$max_size" -t "$time_ms"
          -r "$measurements")
    [ "$bench" != shmem_putrate ] || args+=(-o "$shmem_op")
    config_env "$config"
    launch_args "$(program_kind "$bench")" "$np" "${CONFIG_ENV[@]}" \
        UCX_LOG_LEVEL=info
    echo "# ${LAUNCH[*]} ${PROGRAM_PATH[$bench]} ${args[*]}" > "$log"
    start=$(now)
    timeout -k 10 "$run_limit" "${LAUNCH[@]}" "${PROGRAM_PATH[$bench]}" \
        "${args[@]}" >> "$log" 2>&1 < /dev/null
    rc=$?
    if [ $rc != 0 ]; then
        echo "  $bench $config run $index: FAILED (exit $rc), log $log:"
        grep -Ev 'UCX  (INFO|DIAG)' "$log" | tail -n 8 | sed 's/^/    | /'
        failed=$((failed + 1))
        return 1
    fi
    if ! lanes=$(check_lanes "$log" "$CONFIG_TLS"); then
        echo "  $bench $config run $index: FAILED: $lanes"
        failed=$((failed + 1))
        return 1
    fi
    awk '$1 ~ /^[0-9]+$/ && NF >= 2 { print $1, $2 }' "$log" \
        > "$work/$bench.$config.$index.dat"
    echo "  $bench $config run $index: $(elapsed "$start")s, $lanes"
}

# stats FILES...: per size "size median min max" over the runs
stats() {
    cat "$@" 2>/dev/null | sort -k1,1n -k2,2n | awk '
        { v[$1, ++n[$1]] = $2; if (!($1 in seen)) { seen[$1]; order[++k] = $1 } }
        END {
            for (i = 1; i <= k; ++i) {
                s = order[i]; c = n[s]
                if (c % 2) {
                    med = v[s, (c + 1) / 2]
                } else {
                    med = (v[s, c / 2] + v[s, c / 2 + 1]) / 2
                }
                print s, med, v[s, 1], v[s, c]
            }
        }'
}

# pairs BENCH: per size and run "size base new", for runs where both ran
pairs() {
    local bench=$1 i
    for ((i = 1; i <= repeat; ++i)); do
        join <(sort -k1,1 "$work/$bench.$base.$i.dat" 2>/dev/null) \
             <(sort -k1,1 "$work/$bench.$new.$i.dat" 2>/dev/null)
    done
}

# ratio_stats: from "size base new" lines, per size "size paired lo hi":
# the median of the rounds' ratios (the two runs of a round, one after the
# other, share the state of the host, which on a virtual machine moves the
# rate of both by tens of per cent) and its 95 % bootstrap interval (2000
# resamples of the rounds, fixed seed)
ratio_stats() {
    sort -k1,1n | awk '
        function median(a, n,    i, j, t) {
            for (i = 2; i <= n; ++i) {
                t = a[i]
                for (j = i - 1; (j > 0) && (a[j] > t); --j) a[j + 1] = a[j]
                a[j + 1] = t
            }
            return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
        }
        { c = ++n[$1]; b[$1, c] = $2; v[$1, c] = $3
          if (c == 1) order[++k] = $1 }
        END {
            srand(1)
            for (i = 1; i <= k; ++i) {
                s = order[i]; c = n[s]
                for (j = 1; j <= c; ++j) r[j] = v[s, j] / b[s, j]
                paired = median(r, c)
                for (m = 1; m <= 2000; ++m) {
                    for (j = 1; j <= c; ++j) {
                        x = int(rand() * c) + 1
                        rr[j] = v[s, x] / b[s, x]
                    }
                    q[m] = median(rr, c)
                }
                median(q, 2000)
                print s, paired, q[51], q[1950]
            }
        }'
}

echo "bench-mpi: $np ranks (bound to: ${MPI_BIND:-none}), $repeat runs each" \
     "of $base and $new (alternating which goes first), window $window," \
     "median of $measurements x ${time_ms} ms per size and run"
for config in $base $new; do
    config_env "$config"
    echo "  $config: ${CONFIG_ENV[*]}"
done

[ -z "$csv" ] || echo "bench,size,config,median,min,max" > "$csv"
for bench in $benches; do
    for ((i = 1; i <= repeat; ++i)); do
        if [ $((i % 2)) = 1 ]; then
            run_bench "$bench" "$base" "$i"
            run_bench "$bench" "$new" "$i"
        else
            run_bench "$bench" "$new" "$i"
            run_bench "$bench" "$base" "$i"
        fi
    done

    stats "$work/$bench.$base."*.dat > "$work/$bench.$base.stats"
    stats "$work/$bench.$new."*.dat > "$work/$bench.$new.stats"
    pairs "$bench" | ratio_stats > "$work/$bench.ratios"
    case $bench in
    mpi_msgrate)   unit="msgs/s"; what="MPI Isend/Irecv window rate" ;;
    shmem_putrate) unit="puts/s"; what="OpenSHMEM $shmem_op + quiet rate" ;;
    esac
    echo
    echo "$what, $np ranks ($((np / 2)) pairs), median of $repeat runs" \
         "(min..max):"
    printf '%8s  %-30s  %-30s  %-6s  %-6s  %s\n' "size" "$base $unit" \
        "$new $unit" "ratio" "paired" "paired, 95 %"
    join -a 1 -a 2 -e - -o 0,1.2,1.3,1.4,2.2,2.3,2.4 \
        <(sort -k1,1 "$work/$bench.$base.stats") \
        <(sort -k1,1 "$work/$bench.$new.stats") |
    join -a 1 -e - -o 0,1.2,1.3,1.4,1.5,1.6,1.7,2.2,2.3,2.4 - \
        <(sort -k1,1 "$work/$bench.ratios") | sort -n |
    while read -r size bm bl bh nm nl nh rp rl rh; do
        awk -v s="$size" -v bm="$bm" -v bl="$bl" -v bh="$bh" \
            -v nm="$nm" -v nl="$nl" -v nh="$nh" -v rp="$rp" -v rl="$rl" \
            -v rh="$rh" 'BEGIN {
            fmt = "%.0f (%.0f..%.0f)"
            b = (bm == "-") ? "failed" : sprintf(fmt, bm, bl, bh)
            n = (nm == "-") ? "failed" : sprintf(fmt, nm, nl, nh)
            r = p = i = "-"
            if (bm != "-" && nm != "-" && bm > 0) {
                r = sprintf("%.2fx", nm / bm)
            }
            if (rp != "-") {
                p = sprintf("%.2fx", rp)
                i = sprintf("%.2f..%.2f", rl, rh)
            }
            printf "%8s  %-30s  %-30s  %-6s  %-6s  %s\n", s, b, n, r, p, i
        }'
        if [ -n "$csv" ]; then
            [ "$bm" = - ] || echo "$bench,$size,$base,$bm,$bl,$bh" >> "$csv"
            [ "$nm" = - ] || echo "$bench,$size,$new,$nm,$nl,$nh" >> "$csv"
        fi
    done
    echo
done

if [ $failed != 0 ]; then
    echo "bench-mpi: $failed runs failed"
    exit 1
fi
