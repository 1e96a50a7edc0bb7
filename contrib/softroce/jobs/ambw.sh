#!/bin/bash
#
# contrib/softroce/jobs/ambw.sh: UCT am_bw (am_short, 8 bytes) of an inner
# verbs transport alone and of rsagg over it, alternating within one boot
# of the Soft-RoCE guest (emulated absolute figures mean little; the ratio
# of runs made side by side does). Runs in the guest of contrib/softroce.sh.
#
# Usage (in the guest): ambw.sh [--inner rc_verbs] [--rounds 5] [--size 8]
#                               [--iters 20000] [--test am_bw]
#   From the host: contrib/softroce.sh contrib/softroce/jobs/ambw.sh [ARGS]
#
# Prints each run's message rate, then the medians and rsagg/inner ratio;
# keeps the figures in $OUT/ambw.txt. Exit status non-zero when a run failed.
#
set -u -o pipefail

inner=rc_verbs
rounds=5
size=8
iters=20000
test=am_bw
while [ $# -gt 0 ]; do
    case $1 in
    --inner)  inner=${2:?}; shift ;;
    --rounds) rounds=${2:?}; shift ;;
    --size)   size=${2:?}; shift ;;
    --iters)  iters=${2:?}; shift ;;
    --test)   test=${2:?}; shift ;;
    -h|--help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "ambw.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done

: "${OUT:?not in the softroce guest (OUT unset)}" "${BUILD:?}"
RSAGG_RUN=${RSAGG_RUN:-$BUILD/contrib/rsagg-run}
dev=${RXE_DEV:-rxe0}:1
export UCX_IB_GID_INDEX=0
port=14000
failed=0
declare -A rates=()

# one RUN_NAME TL [ENV...]: prints the message rate (msg/s) of one run
one() {
    local tl=$1 srv rc log=$OUT/ambw.run.log
    shift
    port=$((port + 1))
    env "$@" timeout 120 "$RSAGG_RUN" ucx_perftest -p $port -x "$tl" -d "$dev" \
        -t "$test" -s "$size" -n "$iters" > /dev/null 2>&1 &
    srv=$!
    sleep 1
    env "$@" timeout 120 "$RSAGG_RUN" ucx_perftest 127.0.0.1 -p $port \
        -x "$tl" -d "$dev" -t "$test" -s "$size" -n "$iters" > "$log" 2>&1
    rc=$?
    wait $srv || rc=1
    # Final: iters latency(typ avg) bw(avg overall) msgrate(avg overall)
    [ $rc = 0 ] && awk '/^Final:/ { print $(NF) }' "$log" | grep . ||
        { tail -n 5 "$log" >&2; return 1; }
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2];
                          else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

: > "$OUT/ambw.txt"
for r in $(seq "$rounds"); do
    for what in inner rsagg; do
        if [ $what = inner ]; then
            rate=$(one "$inner" X=1) || { failed=1; rate=; }
        else
            rate=$(one rsagg UCX_RSAGG_TL="$inner") || { failed=1; rate=; }
        fi
        echo "round $r $what/$inner $test ${size}B: ${rate:-FAILED} msg/s" |
            tee -a "$OUT/ambw.txt"
        [ -z "$rate" ] || rates[$what]="${rates[$what]:-} $rate"
    done
done
mi=$(echo ${rates[inner]:-} | tr ' ' '\n' | median)
mr=$(echo ${rates[rsagg]:-} | tr ' ' '\n' | median)
echo "median $test ${size}B: $inner alone ${mi:-?} msg/s, rsagg/$inner" \
     "${mr:-?} msg/s, ratio $(awk -v a="${mi:-0}" -v b="${mr:-0}" \
     'BEGIN { if (a > 0) printf "%.1f", b / a; else print "?" }')" |
    tee -a "$OUT/ambw.txt"
exit $failed
