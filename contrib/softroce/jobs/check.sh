#!/bin/bash
#
# contrib/softroce/jobs/check.sh: the CI job of the Soft-RoCE test bed. Runs
# in the guest of contrib/softroce.sh (which sets TOP, BUILD, RSAGG_RUN, OUT,
# RXE_DEV) over the verbs transports of the Soft-RoCE device, each as
# rsagg's inner transport (UCX_RSAGG_TL) and alone as the reference:
#   gtest     rsagg_gtest cases on the rxe device (stock rc_verbs and rsagg
#             over the inner), one process per test suite
#   perftest  ucx_perftest UCT (am, put, get; short, bcopy, zcopy) and UCP
#             (tag 8 B and 1 MB rendezvous, am, put, get, stream), client and
#             server in the guest
#   mpi       contrib/mpi-check.sh: the MPI and OpenSHMEM programs at 2 and 4
#             ranks (configurations rc, ud, rsagg-rc, rsagg-ud)
#
# Usage (in the guest): check.sh [--inners "rc_verbs ud_verbs"]
#           [--phases "gtest perftest mpi"] [--np "2 4"] [--budget SECONDS]
#           [--mpi-configs "LIST"]
#   From the host: contrib/softroce.sh contrib/softroce/jobs/check.sh [ARGS]
#
# Prints one PASS/FAIL/SKIP line per run (failures with their last lines),
# keeps every log under $OUT/logs and the verdicts in $OUT/results.txt, and
# last "softroce-check: N passed, N failed, N skipped". Exit status non-zero
# when something failed. --budget (1380 s) bounds all phases together, each
# phase getting its share of what is left (gtest 35, perftest 30, mpi 35):
# runs that do not fit fail as "not run". MPI runs rsagg configurations
# first, every configuration at 2 ranks before any at 4.
#
set -u -o pipefail

inners="rc_verbs ud_verbs"
phases="gtest perftest mpi"
nps="2 4"
budget=1380
mpi_configs=

while [ $# -gt 0 ]; do
    case $1 in
    --inners)      inners=${2:?}; shift ;;
    --phases)      phases=${2:?}; shift ;;
    --np)          nps=${2:?}; shift ;;
    --budget)      budget=${2:?}; shift ;;
    --mpi-configs) mpi_configs=${2:?}; shift ;;
    -h|--help)     sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'
                   exit 0 ;;
    *)             echo "check.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done

: "${TOP:?not in the softroce guest (TOP unset)}" "${BUILD:?}" "${OUT:?}"
RSAGG_RUN=${RSAGG_RUN:-$BUILD/contrib/rsagg-run}
dev=${RXE_DEV:-rxe0}:1
logs=$OUT/logs
results=$OUT/results.txt
mkdir -p "$logs"
: > "$results"

# Soft-RoCE: GID 1 (the default) gives "UD endpoint ... unhandled timeout
# error" with ud_verbs; GID 0 works for rc_verbs and ud_verbs
export UCX_IB_GID_INDEX=0
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
# Waits in the gtest cases (the default 20 s is fine under emulation; each
# hold test that fails waits it out)
export RSAGG_GTEST_TIMEOUT=${RSAGG_GTEST_TIMEOUT:-20}

start_all=$SECONDS
n_passed=0 n_failed=0 n_skipped=0

# seconds left to the running phase (its share of the budget, and what
# the phases before it left over)
phase_end=$budget
left() {
    local a=$((phase_end - (SECONDS - start_all)))
    local b=$((budget - (SECONDS - start_all)))
    echo $(( a < b ? a : b ))
}

# verdict PASS|FAIL|SKIP WHAT [DETAIL] [LOG]
verdict() {
    printf '%-4s %-48s %s\n' "$1" "$2" "${3:-}" | tee -a "$results"
    case $1 in
    PASS) n_passed=$((n_passed + 1)) ;;
    SKIP) n_skipped=$((n_skipped + 1)) ;;
    FAIL) n_failed=$((n_failed + 1))
          if [ -n "${4:-}" ] && [ -f "$4" ]; then
              grep -Ev 'UCX  (INFO|DIAG)' "$4" | tail -n 8 | cut -c1-200 |
                  sed 's/^/     | /'
          fi ;;
    esac
}

slug() { echo "$*" | tr -c 'A-Za-z0-9_.=-' '_' | sed 's/_*$//'; }

# ---- gtest ------------------------------------------------------------------
# Test names end with the resource label, e.g. .../rsagg_rxe0_rxe0_1_ep;
# the stock rc_verbs cases are run once, with the first inner.
# gtest_suite INNER SUITE FILTER: runs the suite's cases matching FILTER.
# A case that kills the process (UCX aborts on a fatal transport error) is
# reported as died and the suite goes on without it (and without the cases
# that finished), up to 8 times.
gtest_suite() {
    local inner=$1 suite=$2 filter=$3 log part rc bad=0 counts tries=0
    local exclude= died= finished last np=0 nf=0 ns=0 failed
    log=$logs/gtest.$inner.$(slug "$suite").log
    part=$log.part
    : > "$log"
    while :; do
        if [ "$(left)" -le 30 ]; then
            died="$died (budget used up)"
            bad=1
            break
        fi
        timeout -k 10 $(( $(left) < 600 ? $(left) : 600 )) \
            "$RSAGG_RUN" ./rsagg_gtest \
            --gtest_filter="$suite.$filter${exclude:+-${exclude#:}}" \
            > "$part" 2>&1
        rc=$?
        cat "$part" >> "$log"
        counts=$(sed -n 's/^rsagg_gtest: \([0-9]*\) passed, \([0-9]*\) failed, \([0-9]*\) skipped$/\1 \2 \3/p' "$part" | tail -n 1)
        if [ -n "$counts" ]; then
            set -- $counts
            np=$((np + $1)) nf=$((nf + $2)) ns=$((ns + $3))
            [ $rc = 0 ] || bad=1
            break
        fi
        bad=1
        # died: count what finished, skip it and the case that killed it
        np=$((np + $(grep -cE '^\[ +OK \] .* \([0-9]+ ms\)$' "$part")))
        nf=$((nf + $(grep -cE '^\[ +FAILED +\] .* \([0-9]+ ms\)$' "$part")))
        ns=$((ns + $(grep -cE '^\[ +SKIPPED +\] .* \([0-9]+ ms\)$' "$part")))
        last=$(sed -n 's/^\[ RUN      \] //p' "$part" | tail -n 1)
        if [ -z "$last" ] || [ $rc = 124 ] || [ $rc = 137 ]; then
            died="$died ${last##*.}(exit $rc)"
            break
        fi
        died="$died ${last##*.}"
        finished=$(sed -nE 's/^\[ +(OK|FAILED|SKIPPED) +\] ([^ ]*) \([0-9]+ ms\)$/\2/p' "$part" |
                   tr '\n' ':')
        exclude="$exclude:$finished$last"
        tries=$((tries + 1))
        [ $tries -lt 8 ] || { died="$died (gave up)"; break; }
    done
    rm -f "$part"
    counts="$np passed, $nf failed, $ns skipped"
    if [ $bad = 0 ]; then
        verdict PASS "gtest $inner $suite" "$counts"
        return
    fi
    failed=$(sed -nE 's/^\[ +FAILED +\] ([^ ]*) \([0-9]+ ms\)$/\1/p' "$log" |
             sed 's/.*\.//' | sort -u | tr '\n' ' ')
    verdict FAIL "gtest $inner $suite" \
        "$counts${died:+; died in:$died}${failed:+; failed: $failed}"
    error_lines "$log"
}

phase_gtest() {
    local gdir=$BUILD/test/gtest inner suites suite filter
    local first=yes
    [ -x "$gdir/rsagg_gtest" ] || {
        verdict FAIL "gtest" "no $gdir/rsagg_gtest"; return; }
    cd "$gdir" || return
    for inner in $inners; do
        export UCX_RSAGG_TL=$inner
        if [ $first = yes ]; then
            filter='*rxe0*'
        else
            filter='*rsagg*rxe0*'
        fi
        first=no
        suites=$("$RSAGG_RUN" ./rsagg_gtest --gtest_list_tests \
                     --gtest_filter="$filter" |
                 sed -n 's/^\([^ #][^ ]*\)\.$/\1/p' | sort -u)
        if [ -z "$suites" ]; then
            verdict FAIL "gtest $inner" "no test matches $filter" 
            continue
        fi
        for suite in $suites; do
            gtest_suite "$inner" "$suite" "$filter"
        done
    done
    unset UCX_RSAGG_TL
    cd "$OUT" || return
}

# ---- perftest -----------------------------------------------------------------
port=13337
# perf NAME ENV... -- PERFTEST ARGS...: server and client in the guest
perf() {
    local name=$1 env=() rc srv log lim i
    shift
    while [ "$1" != -- ]; do env+=("$1"); shift; done
    shift
    log=$logs/perf.$(slug "$name").log
    if [ "$(left)" -le 20 ]; then
        verdict FAIL "$name" "not run: budget used up"
        return
    fi
    lim=$(( $(left) < 90 ? $(left) : 90 ))
    port=$((port + 1))
    env "${env[@]}" timeout -k 5 "$lim" "$RSAGG_RUN" ucx_perftest -p $port \
        "$@" > "$log.server" 2>&1 &
    srv=$!
    # the client is retried while the server is not listening yet (its
    # start takes seconds under emulation)
    for i in $(seq 20); do
        sleep 1
        env "${env[@]}" timeout -k 5 "$lim" "$RSAGG_RUN" ucx_perftest \
            127.0.0.1 -p $port "$@" > "$log" 2>&1
        rc=$?
        grep -q 'connect() failed: Connection refused' "$log" || break
        kill -0 $srv 2>/dev/null || break
    done
    # a client that failed leaves the server waiting: 10 s, then it is killed
    for i in $(seq 20); do
        kill -0 $srv 2>/dev/null || break
        sleep 0.5
    done
    kill $srv 2>/dev/null
    wait $srv
    rc=$((rc | $?))
    cat "$log.server" >> "$log"
    rm -f "$log.server"
    if [ $rc = 0 ] && grep -q '^Final:' "$log"; then
        # Final: iters lat(typ avg overall) bw(avg overall) rate(avg overall)
        verdict PASS "$name" "$(awk '/^Final:/ { printf "lat %s us, %s MB/s, %s msg/s",
                                    $4, $7, $9; exit }' "$log")"
    elif grep -q 'Failed to run test: Unsupported operation' "$log"; then
        # only the test's own verdict: "no auxiliary transport ...:
        # Unsupported operation" of a failed connection is a failure
        verdict SKIP "$name" "the transport has no such operation"
    else
        verdict FAIL "$name" "exit $rc"
        error_lines "$log"
    fi
}

# error_lines LOG: the distinct error lines of a log (no backtrace, no pids)
error_lines() {
    grep -E 'error|Error|ERROR|Fatal|failed|Assertion|Failure' "$1" |
        grep -Ev '^ *[0-9]+ |ucs_handle_error|ucs_fatal_error|ucs_debug' |
        sed 's/^\[[^]]*\] *//; s/qpn 0x[0-9a-f]* wrid 0x[0-9a-f]*/qpn .. wrid ../' |
        sort | uniq -c | sort -rn | head -n 4 | cut -c1-200 | sed 's/^/     | /'
}

phase_perftest() {
    local tl uct ucp what
    for tl in $inners; do
        for what in alone rsagg; do
            if [ $what = alone ]; then
                uct=(X=1 -- -x "$tl" -d "$dev")
                case $tl in
                rc_verbs) ucp=(UCX_TLS=rc_verbs,ud_verbs:aux --) ;;
                *)        ucp=(UCX_TLS=$tl --) ;;
                esac
            else
                uct=(UCX_RSAGG_TL=$tl -- -x rsagg -d "$dev")
                case $tl in
                rc_verbs) ucp=(UCX_RSAGG_TL=$tl UCX_TLS=rsagg,ud_verbs:aux --) ;;
                *)        ucp=(UCX_RSAGG_TL=$tl UCX_TLS=rsagg --) ;;
                esac
            fi
            local p="$tl $what"
            perf "$p uct am_lat"          "${uct[@]}" -t am_lat -n 300
            perf "$p uct am_bw short"     "${uct[@]}" -t am_bw -n 5000
            perf "$p uct am_bw bcopy"     "${uct[@]}" -t am_bw -D bcopy -s 64 -n 3000
            perf "$p uct am_bw zcopy"     "${uct[@]}" -t am_bw -D zcopy -s 1024 -n 2000
            perf "$p uct put_lat"         "${uct[@]}" -t put_lat -n 300
            perf "$p uct put_bw short"    "${uct[@]}" -t put_bw -n 5000
            perf "$p uct put_bw bcopy"    "${uct[@]}" -t put_bw -D bcopy -s 256 -n 3000
            perf "$p uct put_bw zcopy"    "${uct[@]}" -t put_bw -D zcopy -s 4096 -n 2000
            perf "$p uct get bcopy"       "${uct[@]}" -t get -D bcopy -s 64 -n 2000
            perf "$p uct get zcopy"       "${uct[@]}" -t get -D zcopy -s 128 -n 2000
            perf "$p ucp tag_lat"         "${ucp[@]}" -t tag_lat -n 300
            perf "$p ucp tag_bw 8B"       "${ucp[@]}" -t tag_bw -n 5000
            perf "$p ucp tag_bw 1MB"      "${ucp[@]}" -t tag_bw -s 1048576 -n 20
            perf "$p ucp ucp_am_bw"       "${ucp[@]}" -t ucp_am_bw -n 5000
            perf "$p ucp ucp_put_bw"      "${ucp[@]}" -t ucp_put_bw -n 5000
            perf "$p ucp ucp_put_bw 1MB"  "${ucp[@]}" -t ucp_put_bw -s 1048576 -n 20
            perf "$p ucp ucp_get"         "${ucp[@]}" -t ucp_get -s 4096 -n 1000
            perf "$p ucp stream_bw"       "${ucp[@]}" -t stream_bw -n 5000
        done
        if [ "$tl" = rc_verbs ]; then
            # the goal of issue 12: rsagg alone for UCP on an RDMA-only node
            perf "rc_verbs rsagg ucp tag_lat UCX_TLS=rsagg" \
                UCX_RSAGG_TL=rc_verbs UCX_TLS=rsagg -- -t tag_lat -n 300
        fi
    done
}

# ---- MPI / OpenSHMEM ----------------------------------------------------------
phase_mpi() {
    local configs=$mpi_configs tl np
    if [ -z "$configs" ]; then
        # rsagg first: when the budget runs out, references go first
        for tl in $inners; do
            case $tl in
            rc_verbs) configs="$configs rsagg-rc" ;;
            ud_verbs) configs="$configs rsagg-ud" ;;
            esac
        done
        for tl in $inners; do
            case $tl in
            rc_verbs) configs="$configs rc" ;;
            ud_verbs) configs="$configs ud" ;;
            esac
        done
    fi
    # every configuration at the first rank count, then at the next one
    for np in $nps; do
        mpi_check_run "$configs" "$np"
    done
}

# mpi_check_run CONFIGS NP: contrib/mpi-check.sh, its verdicts counted here
mpi_check_run() {
    local configs=$1 np=$2 lim rc line v log=$logs/mpi-check.np$2.log
    lim=$(( $(left) - 20 ))
    if [ $lim -le 60 ]; then
        verdict FAIL "mpi np=$np ($configs)" "not run: budget used up"
        return
    fi
    RSAGG_RUN=$RSAGG_RUN MPI_EXTRA_ENV="UCX_IB_GID_INDEX=0" \
        bash "$TOP/contrib/mpi-check.sh" --configs "$configs" --np "$np" \
        --bindir "$BUILD/test/mpi" --bindir "$BUILD/test/shmem" \
        --timeout 120 --budget "$lim" --no-killed --require-rsagg \
        --logdir "$logs/mpi" > "$log" 2>&1
    rc=$?
    while IFS= read -r line; do
        case $line in
        PASS\ *|FAIL\ *|SKIP\ *)
            v=${line%% *}
            line=${line#????}
            line=${line#"${line%%[! ]*}"}
            verdict "$v" "mpi $line" ;;
        "      "*) echo "$line" ;;
        esac
    done < "$log"
    grep '^mpi-check: [0-9]' "$log"
    [ $rc = 0 ] || grep -q '^FAIL' "$log" ||
        verdict FAIL "mpi np=$np" "exit $rc (log: $log)"
}

echo "softroce-check: inners: $inners; phases: $phases; budget ${budget}s"
ibv_devinfo -d "${RXE_DEV:-rxe0}" | grep -E 'state|active_mtu|link_layer'
"$RSAGG_RUN" ucx_info -d | grep -E 'Transport: (rc_verbs|ud_verbs|rsagg)' |
    sort | uniq -c
declare -A share=([gtest]=35 [perftest]=30 [mpi]=35)
total=0
for phase in $phases; do total=$((total + ${share[$phase]:-30})); done
for phase in $phases; do
    start=$SECONDS
    phase_end=$(( (SECONDS - start_all) +
                  (budget - (SECONDS - start_all)) * ${share[$phase]:-30} / total ))
    total=$((total - ${share[$phase]:-30}))
    echo "softroce-check: === $phase"
    "phase_$phase"
    echo "softroce-check: --- $phase done in $((SECONDS - start))s"
done
echo "softroce-check: finished in $((SECONDS - start_all))s"
echo "softroce-check: $n_passed passed, $n_failed failed, $n_skipped skipped" |
    tee -a "$results"
[ $n_failed = 0 ]
