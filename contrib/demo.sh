#!/bin/bash
#
# contrib/demo.sh: rsagg's main demo in one command. Installs the
# dependencies and builds (contrib/check.sh --build-only), then measures with
# ucx_perftest, client and server on 127.0.0.1, each inner transport alone
# and rsagg over it, and prints a table: test, metric, inner alone, rsagg,
# rsagg vs inner (ratio for message rates, difference for latencies); UCT
# rows (-x rsagg) and UCP rows (UCX_TLS=rsagg). A side whose transport
# lacks the operation (perftest says unsupported and `ucx_info -d` lists no
# such capability, e.g. put_short on tcp) is "n/a" with the reason, not a
# failure. Then the aggregation benchmark (contrib/bench.sh: eps x sizes,
# wire bytes, IB/RoCE wire model, and sweeps over the message size and the
# number of eps), the MPI/OpenSHMEM small-message rates
# (contrib/bench-mpi.sh), and plots of them (contrib/demo-plots.sh:
# build/demo/*.svg).
#
# Usage: contrib/demo.sh [--no-build] [--perftest-only] [--iters-scale N]
#                        [--repeat N]
#   --no-build       use ./build as it is (no dependency check, no make)
#   --perftest-only  only the ucx_perftest table (not contrib/bench.sh and
#                    contrib/bench-mpi.sh after it)
#   --iters-scale N  multiply every benchmark's iteration count by N (1)
#   --repeat N       run every measurement N times, report the median (3)
#
# Environment: DEMO_PORT (first TCP port for the perftest handshake, 13500),
# DEMO_TIMEOUT (seconds one perftest run may take, 120).
# Results also go to build/demo/results.csv (uctbench*.csv, mpi.csv),
# run logs to build/demo/*.log, plots to build/demo/*.svg.
# Exit status is non-zero when a measurement failed.
#
set -u -o pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=$top/build
out=$build/demo
rsagg_run=$build/contrib/rsagg-run
perftest=${UCX_PERFTEST:-ucx_perftest}
port=${DEMO_PORT:-13500}
run_timeout=${DEMO_TIMEOUT:-120}

opt_build=yes
opt_extra=yes
iters_scale=1
repeat=3
while [ $# -gt 0 ]; do
    case $1 in
    --no-build)    opt_build=no ;;
    --perftest-only) opt_extra=no ;;
    --iters-scale) iters_scale=${2:?--iters-scale needs a number}; shift ;;
    --repeat)      repeat=${2:?--repeat needs a number}; shift ;;
    -h|--help)     sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'
                   exit 0 ;;
    *)             echo "demo.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done

note() { echo "demo.sh: $*" >&2; }

if [ $opt_build = yes ]; then
    "$top/contrib/check.sh" --build-only || {
        note "build failed (see above)"
        exit 1
    }
fi
command -v "$perftest" >/dev/null || {
    note "$perftest not found (Debian: apt-get install ucx-utils)"
    exit 1
}
[ -x "$rsagg_run" ] || {
    note "$rsagg_run not found: build first (drop --no-build)"
    exit 1
}
mkdir -p "$out"
# The plots' date and machine label is written after these measurements
rm -f "$out/machine.txt"

port_in_use() {
    ss -Htln "sport = :$1" 2>/dev/null | grep -q .
}

next_port() {
    port=$((port + 1))
    while port_in_use $port; do
        port=$((port + 1))
    done
}

# perftest LOG WRAPPER... -- PERFTEST CLIENT ARGS...
#   Runs a ucx_perftest server in the background on $port and its client
#   against 127.0.0.1, both under the wrapper (env settings, rsagg-run),
#   each with a time limit. Prints the client's final CSV line (iterations,
#   50.0_percentile_lat, avg_lat, overall_lat, avg_bw, overall_bw, avg_mr,
#   overall_mr). Returns 2, with the reason in LOG.na and nothing printed,
#   when the transport lacks the operation (see gap_reason); fails with the
#   logs' tails on any other error.
perftest() {
    local log=$1 wrapper=() server_pid rc i line tl= dev= reason
    shift
    while [ $# -gt 0 ] && [ "$1" != -- ]; do
        wrapper+=("$1")
        shift
    done
    shift
    # The UCT transport and device the client runs on (none for UCP tests)
    for ((i = 1; i < $#; ++i)); do
        case ${!i} in
        -x) i=$((i + 1)); tl=${!i} ;;
        -d) i=$((i + 1)); dev=${!i} ;;
        esac
    done
    rm -f "$log.na"

    timeout -k 5 "$run_timeout" "${wrapper[@]}" \
        "$perftest" -p $port > "$log.server" 2>&1 &
    server_pid=$!
    # The client must not connect before the server listens
    for i in $(seq 100); do
        port_in_use $port && break
        kill -0 $server_pid 2>/dev/null || break
        sleep 0.1
    done

    timeout -k 5 "$run_timeout" "${wrapper[@]}" \
        "$perftest" 127.0.0.1 -p $port "$@" -f -v > "$log" 2>&1
    rc=$?
    # The server ends with the test; after a failed client it may wait for
    # another one: stop it (its timeout passes the signal on).
    [ $rc = 0 ] || kill $server_pid 2>/dev/null
    if ! wait $server_pid && [ $rc = 0 ]; then
        rc=1
    fi

    # The averages of the last report interval (avg_lat, avg_bw, avg_mr)
    # may be "-nan" on a busy machine; the demo uses the others
    line=$(grep -E '^[0-9]+,[0-9.]+(,(-?nan|[0-9.]+),[0-9.]+){3}$' "$log" |
           tail -n 1)
    if [ $rc != 0 ] && [ -n "$tl" ] &&
       reason=$(gap_reason "$log" "$tl" "$dev" "${wrapper[@]}"); then
        echo "$reason" > "$log.na"
        return 2
    fi
    if [ $rc != 0 ] || [ -z "$line" ]; then
        note "FAILED (exit $rc): ${wrapper[*]} $perftest 127.0.0.1 $*"
        tail -n 5 "$log" "$log.server" | sed 's/^/    /' >&2
        return 1
    fi
    echo "$line"
}

# gap_reason LOG TL DEV WRAPPER...
#   An expected gap, not a failure: the run in LOG ended with perftest's own
#   "TL/DEV does not support operation OP KIND" and the transport says the
#   same, `ucx_info -d -t TL` (run under WRAPPER, which loads rsagg for
#   TL rsagg) lists no OP_KIND capability for DEV. Prints the reason;
#   fails when it is not such a gap.
gap_reason() {
    local log=$1 tl=$2 dev=$3 op
    local unsupported='.* does not support operation \([a-z]*\) \([a-z]*\)$'
    shift 3
    op=$(sed -n "s/$unsupported/\\1_\\2/p" "$log" | head -n 1)
    [ -n "$op" ] || return 1
    # ucx_info -d: "#   Transport: tcp", "#   Device: lo", then the
    # capabilities as "#   put_short: <= 8k" lines
    "${@}" ucx_info -d -t "$tl" 2>/dev/null |
        awk -v dev="$dev" -v cap="$op:" '
            $2 == "Device:"    { on = ($3 == dev); found += on }
            on && $2 == cap    { has = 1 }
            END                { exit !(found && !has) }' || return 1
    echo "$tl/$dev has no $op (perftest: unsupported; ucx_info -d: no $op)"
}

results=()
gaps=()
n_failed=0

# bench NAME METRIC INNER_TL DEVICE PERFTEST_ARGS...
#   One row of the table: the same ucx_perftest run with the inner transport
#   alone and with rsagg over it (UCX_RSAGG_TL=INNER_TL, same device).
#   DEVICE "ucp": a UCP test, UCX_TLS=INNER_TL against UCX_TLS=rsagg.
#   RSAGG_ENV (variable, word list): extra environment of the rsagg side,
#   e.g. UCX_RSAGG_AGGREGATE=n for the pass-through rows.
#   METRIC: lat (median latency, usec) or mr (overall message rate, msg/s).
bench() {
    local name=$1 metric=$2 tl=$3 dev=$4 field csv run slug fmt
    local inner=FAIL rsagg=FAIL cmp=- inner_runs=() rsagg_runs=()
    local inner_wrap inner_args rsagg_wrap rsagg_args
    shift 4
    if [ "$dev" = ucp ]; then
        inner_wrap=(env UCX_TLS="$tl")
        inner_args=()
        rsagg_wrap=(env UCX_TLS=rsagg UCX_RSAGG_TL="$tl" ${RSAGG_ENV:-}
                    "$rsagg_run")
        rsagg_args=()
    else
        inner_wrap=(env)
        inner_args=(-x "$tl" -d "$dev")
        rsagg_wrap=(env UCX_RSAGG_TL="$tl" ${RSAGG_ENV:-} "$rsagg_run")
        rsagg_args=(-x rsagg -d "$dev")
    fi
    case $metric in
    lat) field=2 ;;
    mr)  field=8 ;;
    *)   note "bench $name: unknown metric $metric"; return 1 ;;
    esac
    slug=$(echo "$name" | tr -c 'A-Za-z0-9_\n' '_')

    # Alternate the two, so that a change of machine load during the row
    # affects both sides alike; the median of the runs is reported. A side
    # whose transport lacks the operation is "n/a" after its first run.
    for run in $(seq "$repeat"); do
        if [ "$inner" != n/a ]; then
            note "$name: $tl alone (run $run/$repeat)"
            next_port
            csv=$(perftest "$out/$slug.inner.$run.log" "${inner_wrap[@]}" \
                      -- "${inner_args[@]}" "$@")
            case $? in
            0) inner_runs+=("$(echo "$csv" | cut -d, -f$field)") ;;
            2) inner=n/a
               gaps+=("$name, $tl alone: $(< "$out/$slug.inner.$run.log.na")")
               ;;
            esac
        fi
        if [ "$rsagg" != n/a ]; then
            note "$name: rsagg over $tl (run $run/$repeat)"
            next_port
            csv=$(perftest "$out/$slug.rsagg.$run.log" "${rsagg_wrap[@]}" \
                      -- "${rsagg_args[@]}" "$@")
            case $? in
            0) rsagg_runs+=("$(echo "$csv" | cut -d, -f$field)") ;;
            2) rsagg=n/a
               gaps+=("$name, rsagg: $(< "$out/$slug.rsagg.$run.log.na")")
               ;;
            esac
        fi
    done
    # One failed run fails the cell: a failure is a result, not noise
    [ ${#inner_runs[@]} != "$repeat" ] || inner=$(median "${inner_runs[@]}")
    [ ${#rsagg_runs[@]} != "$repeat" ] || rsagg=$(median "${rsagg_runs[@]}")

    if [ "$inner" = FAIL ] || [ "$rsagg" = FAIL ]; then
        n_failed=$((n_failed + 1))
    elif [ "$inner" = n/a ] && [ "$rsagg" != n/a ]; then
        # The inner transport lacking the operation is a result too: rsagg
        # offers it there (put_short over tcp)
        cmp="only rsagg"
    elif [ "$inner" != n/a ] && [ "$rsagg" != n/a ]; then
        case $metric in
        lat) cmp=$(awk -v a="$inner" -v b="$rsagg" \
                       'BEGIN { printf "%+.3f us", b - a }') ;;
        mr)  cmp=$(awk -v a="$inner" -v b="$rsagg" \
                       'BEGIN { if (a > 0) printf "x%.2f", b / a
                                else print "-" }') ;;
        esac
    fi
    case $metric in
    lat) metric="median latency (us)"; fmt=%.3f ;;
    mr)  metric="message rate (msg/s)"; fmt=%.0f ;;
    esac
    case $inner in FAIL|n/a) ;; *) inner=$(printf "$fmt" "$inner") ;; esac
    case $rsagg in FAIL|n/a) ;; *) rsagg=$(printf "$fmt" "$rsagg") ;; esac
    results+=("$name|$metric|$inner|$rsagg|$cmp")
}

median() {
    printf '%s\n' "$@" | sort -g |
        awk '{ v[NR] = $1 }
             END { if (NR % 2) m = v[(NR + 1) / 2]
                   else m = (v[NR / 2] + v[NR / 2 + 1]) / 2
                   printf "%.10g\n", m }'
}

iters() {
    echo $(($1 * iters_scale))
}

# ---- Benchmarks: append rows here ------------------------------------------
#     NAME            METRIC TL    DEVICE  UCX_PERFTEST ARGS
# Pass-through (UCX_RSAGG_AGGREGATE=n): what the wrapping alone costs
RSAGG_ENV=UCX_RSAGG_AGGREGATE=n \
bench "am_lat tcp pt" lat    tcp   lo      -t am_lat -s 8 -n "$(iters 20000)"
RSAGG_ENV=UCX_RSAGG_AGGREGATE=n \
bench "am_bw tcp pt"  mr     tcp   lo      -t am_bw  -s 8 -n "$(iters 200000)"
RSAGG_ENV=UCX_RSAGG_AGGREGATE=n \
bench "am_lat posix pt" lat  posix memory  -t am_lat -s 8 -n "$(iters 100000)"
RSAGG_ENV=UCX_RSAGG_AGGREGATE=n \
bench "am_bw posix pt" mr    posix memory  -t am_bw  -s 8 -n "$(iters 1000000)"
# Aggregating (the default)
bench "am_lat tcp"    lat    tcp   lo      -t am_lat -s 8 -n "$(iters 20000)"
bench "am_bw tcp"     mr     tcp   lo      -t am_bw  -s 8 -n "$(iters 200000)"
bench "am_lat posix"  lat    posix memory  -t am_lat -s 8 -n "$(iters 100000)"
bench "am_bw posix"   mr     posix memory  -t am_bw  -s 8 -n "$(iters 1000000)"
bench "put_bw tcp"    mr     tcp   lo      -t put_bw -s 8 -n "$(iters 200000)"
bench "tag_lat tcp"   lat    tcp   ucp     -t tag_lat -s 8 -n "$(iters 20000)"
bench "tag_bw tcp"    mr     tcp   ucp     -t tag_bw -s 8 -n "$(iters 200000)"
bench "tag_bw posix"  mr     posix ucp     -t tag_bw -s 8 -n "$(iters 1000000)"
# -----------------------------------------------------------------------------

csv=$out/results.csv
echo "test,metric,inner,rsagg,rsagg_vs_inner" > "$csv"
fmt="%-16s %-22s %14s %14s %16s\n"
echo
printf "$fmt" test metric "inner alone" rsagg "rsagg vs inner"
printf "$fmt" ---- ------ ----------- ----- --------------
for row in "${results[@]}"; do
    IFS='|' read -r name metric inner rsagg cmp <<< "$row"
    printf "$fmt" "$name" "$metric" "$inner" "$rsagg" "$cmp"
    echo "$name,$metric,$inner,$rsagg,$cmp" >> "$csv"
done
echo
if [ ${#gaps[@]} -gt 0 ]; then
    echo "n/a: the transport does not offer the operation (not a failure):"
    printf '  %s\n' "${gaps[@]}"
    echo
fi
note "results in $csv, logs in $out"

# The aggregation benchmark on UCT (eps x sizes x inner transports, wire
# bytes, IB/RoCE wire model) and the MPI/OpenSHMEM small-message rates;
# then the plots of them
if [ "$opt_extra" = yes ]; then
    echo
    RSAGG_BUILD_DIR=$build bash "$top/contrib/bench.sh" \
        --csv "$out/uctbench.csv" || n_failed=$((n_failed + 1))
    # For the plots: rate over the message size (8 eps), and over the number
    # of eps (8 B); am_bcopy, which takes every size up to 8 KB
    echo
    RSAGG_BUILD_DIR=$build bash "$top/contrib/bench.sh" --ops bcopy \
        --lat-time 0 --eps 8 --sizes 8,32,128,512,2048,8192 \
        --csv "$out/uctbench-size.csv" || n_failed=$((n_failed + 1))
    echo
    RSAGG_BUILD_DIR=$build bash "$top/contrib/bench.sh" --ops bcopy \
        --lat-time 0 --eps 1,2,4,8,16,64,256 --sizes 8 \
        --csv "$out/uctbench-eps.csv" || n_failed=$((n_failed + 1))
    echo
    RSAGG_RUN=$rsagg_run bash "$top/contrib/bench-mpi.sh" --inner tcp \
        --csv "$out/mpi.csv" || n_failed=$((n_failed + 1))
    echo
    bash "$top/contrib/demo-plots.sh" "$out" || n_failed=$((n_failed + 1))
fi

if [ $n_failed -gt 0 ]; then
    note "$n_failed of ${#results[@]} benchmarks failed"
    exit 1
fi
