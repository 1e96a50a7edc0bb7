#!/bin/bash
#
# contrib/mpi-check.sh: run the MPI and OpenSHMEM test programs (test/mpi,
# test/shmem) with mpirun/oshrun at several rank counts over several UCX
# transport configurations, each run under a time limit, and the killed-rank
# test. `make check` in test/mpi and test/shmem calls it.
#
# Usage: contrib/mpi-check.sh [options]
#   --suite mpi|shmem|all   programs to run (all)
#   --configs "LIST"        transport configurations (tcp shm rsagg-tcp
#                           rsagg-shm); see contrib/mpi-common.sh
#   --np "LIST"             rank counts (2 4)
#   --bindir DIR            where the built programs are (repeatable); the
#                           ones not found are compiled with mpicc/oshcc
#   --timeout SECONDS       limit of one run (60; the programs take a few)
#   --budget SECONDS        limit of all runs (900): when it is used up, the
#                           remaining runs fail as "not run", so that a
#                           broken transport that hangs every run cannot
#                           stall CI
#   --no-killed             skip the killed-rank test
#   --self-test             also prove that the verdicts can fail: programs
#                           fed with corrupted data, a bogus UCX_TLS and a
#                           lane check against the wrong transports must all
#                           be reported as failures
#   --logdir DIR            keep every run's output there (default: a
#                           temporary directory, removed when all passed)
#   --require-rsagg         fail rsagg configurations when the module is
#                           missing (default: fail when a launcher was named
#                           or the build tree has one, else skip)
#
# Every run must exit 0, print its PASSED line, print no "UCX  ERROR", and
# its UCX endpoints must use only the configuration's transports (checked
# from UCX_LOG_LEVEL=info output). The killed-rank test (mpi_killed at the
# largest rank count, last rank kills itself) must end the job with a
# non-zero status within 60 s and an error naming the killed rank.
#
# Prints one PASS/FAIL/SKIP line per run, the failed runs' output tail,
# and last "mpi-check: N passed, N failed, N skipped". Exit status is
# non-zero when a run failed.
#
set -u -o pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=contrib/mpi-common.sh
. "$here/mpi-common.sh"

suite=all
configs="tcp shm rsagg-tcp rsagg-shm"
nps="2 4"
bindirs=
run_timeout=60
budget=900
killed=yes
self_test=no
logdir=
require_rsagg=no
killed_limit=60

usage() {
    sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'
}

while [ $# -gt 0 ]; do
    case $1 in
    --suite)         suite=${2:?--suite needs a value}; shift ;;
    --configs)       configs=${2:?--configs needs a value}; shift ;;
    --np)            nps=${2:?--np needs a value}; shift ;;
    --bindir)        bindirs="$bindirs ${2:?--bindir needs a value}"; shift ;;
    --timeout)       run_timeout=${2:?--timeout needs a value}; shift ;;
    --budget)        budget=${2:?--budget needs a value}; shift ;;
    --no-killed)     killed=no ;;
    --self-test)     self_test=yes ;;
    --logdir)        logdir=${2:?--logdir needs a value}; shift ;;
    --require-rsagg) require_rsagg=yes ;;
    -h|--help)       usage; exit 0 ;;
    *)               echo "mpi-check.sh: unknown argument '$1'" >&2
                     usage >&2; exit 2 ;;
    esac
    shift
done

case $suite in
mpi)   programs=$MPI_TEST_PROGRAMS ;;
shmem) programs=$SHMEM_TEST_PROGRAMS; killed=no ;;
all)   programs="$MPI_TEST_PROGRAMS $SHMEM_TEST_PROGRAMS" ;;
*)     echo "mpi-check.sh: --suite mpi, shmem or all, not '$suite'" >&2
       exit 2 ;;
esac
case $run_timeout$budget in
''|*[!0-9]*) echo "mpi-check.sh: --timeout/--budget need seconds" >&2
             exit 2 ;;
esac
for np in $nps; do
    case $np in
    ''|*[!0-9]*|0) echo "mpi-check.sh: bad rank count '$np'" >&2; exit 2 ;;
    esac
done
for config in $configs; do
    config_env "$config" 2>/dev/null
    [ $? != 1 ] || { config_env "$config"; exit 2; }
done

keep_logs=no
if [ -n "$logdir" ]; then
    mkdir -p "$logdir" || exit 2
    keep_logs=yes
else
    logdir=$(mktemp -d "${TMPDIR:-/tmp}/mpi-check.XXXXXX") || exit 2
fi
logdir=$(cd "$logdir" && pwd)

n_passed=0
n_failed=0
n_skipped=0
start_all=$(now)

say() { echo "mpi-check: $*"; }

verdict() {   # verdict PASS|FAIL|SKIP "what" "details" [log]
    printf '%-4s  %-44s %s\n' "$1" "$2" "$3"
    case $1 in
    PASS) n_passed=$((n_passed + 1)) ;;
    SKIP) n_skipped=$((n_skipped + 1)) ;;
    FAIL) n_failed=$((n_failed + 1))
          if [ -n "${4:-}" ] && [ -f "$4" ] && ! grep -q '^# not run' "$4"
          then
              echo "      --- last lines of $4 (without UCX INFO/DIAG):"
              grep -Ev 'UCX  (INFO|DIAG)' "$4" | tail -n 15 | cut -c1-200 |
                  sed 's/^/      | /'
          fi ;;
    esac
}

all_programs=$programs
[ $killed = no ] || all_programs="$all_programs $KILLED_PROGRAM"
# shellcheck disable=SC2086
find_programs "$logdir/bin" "$bindirs" $all_programs || {
    say "cannot build the test programs"
    exit 1
}

# Seconds of the budget left (at least 1 while there are any)
budget_left() {
    awk -v s="$start_all" -v e="$(now)" -v b="$budget" \
        'BEGIN { l = b - (e - s); printf "%d", (l > 0 && l < 1) ? 1 : l }'
}

# run_program LOG TIMEOUT KIND NP PROGRAM [ARGS...] (CONFIG_ENV set):
#   runs with UCX_LOG_LEVEL=info, sets RUN_RC and RUN_TIME; RUN_RC is 125
#   and the log says so when the budget is used up
run_program() {
    local log=$1 limit=$2 kind=$3 np=$4 prog=$5 start left
    shift 5
    left=$(budget_left)
    if [ "$left" -le 0 ]; then
        echo "# not run: the --budget of ${budget}s is used up" > "$log"
        RUN_RC=125
        RUN_TIME=0
        return
    fi
    [ "$left" -ge "$limit" ] || limit=$left
    launch_args "$kind" "$np" "${CONFIG_ENV[@]}" UCX_LOG_LEVEL=info
    {
        echo "# ${LAUNCH[*]} ${PROGRAM_PATH[$prog]} $*"
        echo "# timeout ${limit}s, started $(date '+%F %T')"
    } > "$log"
    start=$(now)
    timeout -k 10 "$limit" "${LAUNCH[@]}" "${PROGRAM_PATH[$prog]}" "$@" \
        >> "$log" 2>&1 < /dev/null
    RUN_RC=$?
    RUN_TIME=$(elapsed "$start")
    echo "# exit status $RUN_RC after ${RUN_TIME}s" >> "$log"
}

# Stock UCX 1.13 with Open MPI 4.1 (no error handling mode on the
# endpoints) logs this as an error when MPI_Finalize closes an endpoint
# whose peer has already exited; it is seen with plain UCX_TLS=tcp too.
# Tolerated in a run that verified its data and exited 0: an endpoint
# failing during the run would have failed the program.
teardown_error='error during flush: Endpoint timeout'

# teardown_note LOG: how many of those a run logged, if any
teardown_note() {
    local n
    n=$(grep 'UCX  ERROR' "$1" | grep -c "$teardown_error")
    [ "$n" = 0 ] || echo "; $n teardown flush errors (peer gone)"
}

# first_error LOG: the first line of LOG that tells what went wrong
first_error() {
    local what='Fatal|Caught signal|FAIL \(|^(rank|PE) [0-9]+:|symbol lookup'
    grep -Ev '^#|UCX  (INFO|DIAG)| ok \(' "$1" |
        grep -Em1 "$what|ERROR|[Ee]rror" |
        sed -E 's/^(\[[^]]*\] *)+//' | cut -c1-120
}

# check_run LOG PROGRAM: why the run in LOG is a failure, or nothing
check_run() {
    local log=$1 prog=$2 lanes
    if [ "$RUN_RC" = 125 ] && grep -q '^# not run' "$log"; then
        echo "not run: the --budget of ${budget}s is used up"
    elif { [ "$RUN_RC" = 124 ] || [ "$RUN_RC" = 137 ]; } &&
       ! grep -q ' PASSED' "$log"; then
        echo "timed out or killed (exit $RUN_RC, ${RUN_TIME}s)" \
             "$(first_error "$log")"
    elif [ "$RUN_RC" != 0 ]; then
        echo "exit $RUN_RC: $(first_error "$log")"
    elif ! grep -q "^$prog: .* PASSED$" "$log"; then
        echo "no PASSED line"
    elif grep 'UCX  ERROR' "$log" | grep -vq "$teardown_error"; then
        echo "UCX reported an error: $(grep 'UCX  ERROR' "$log" |
                                       grep -vm1 "$teardown_error" |
                                       sed 's/.*UCX  ERROR *//')"
    elif ! lanes=$(check_lanes "$log" "$CONFIG_TLS"); then
        echo "$lanes"
    fi
}

# killed_rank_named LOG RANK: a line of the job's output names the dead rank.
# The output of ranks on other hosts can still be arriving when the launcher
# has returned (seen once over network namespaces: mpirun's "process rank 3
# ... exited on signal 9" was in the log a moment later), so the log is read
# again for up to 3 s before the check fails.
killed_rank_named() {
    local i
    for i in 0 1 2 3; do
        [ "$i" = 0 ] || sleep 1
        grep -v "kills itself" "$1" | grep -v '^#' |
            grep -Eq "(rank|process) $2([^0-9]|$)" && return 0
    done
    return 1
}

killed_test() {   # killed_test CONFIG NP
    local config=$1 np=$2 victim=$(($2 - 1)) log what msg
    log=$logdir/$config.np$np.$KILLED_PROGRAM.log
    what="$config np=$np $KILLED_PROGRAM (rank $victim dies)"
    run_program "$log" 90 mpi "$np" "$KILLED_PROGRAM" -v "$victim"
    if [ "$RUN_RC" = 125 ] && grep -q '^# not run' "$log"; then
        msg="not run: the --budget of ${budget}s is used up"
    elif ! grep -q "^mpi_killed: rank $victim (pid .*) kills itself" "$log"
    then
        msg="rank $victim never got to kill itself (exit $RUN_RC)"
    elif [ "$RUN_RC" = 0 ] || [ "$RUN_RC" = 3 ]; then
        msg="the job ended with status $RUN_RC: the death went unnoticed"
    elif { [ "$RUN_RC" = 124 ] || [ "$RUN_RC" = 137 ]; } &&
         awk -v t="$RUN_TIME" 'BEGIN { exit !(t >= 89) }'; then
        msg="hang: killed by the 90 s guard"
    elif awk -v t="$RUN_TIME" -v l=$killed_limit 'BEGIN { exit !(t > l) }'
    then
        msg="the job took ${RUN_TIME}s to end, more than ${killed_limit}s"
    elif ! killed_rank_named "$log" "$victim"; then
        msg="exit $RUN_RC but no error names rank $victim"
    else
        msg=$(grep -v "kills itself" "$log" | grep -v '^#' |
              grep -Em1 "(rank|process) $victim([^0-9]|$)" | cut -c1-100)
        verdict PASS "$what" "ended in ${RUN_TIME}s, exit $RUN_RC: $msg"
        return
    fi
    verdict FAIL "$what" "$msg" "$log"
}

say "logs in $logdir; configurations: $configs; ranks: $nps"
for config in $configs; do
    config_env "$config" 2> "$logdir/$config.env.err"
    rc=$?
    if [ $rc = 2 ]; then
        reason=$(head -n 1 "$logdir/$config.env.err")
        if [ $require_rsagg = yes ] || rsagg_expected; then
            verdict FAIL "$config" "$reason"
        else
            verdict SKIP "$config (all runs)" "$reason"
        fi
        continue
    fi
    say "$config: ${CONFIG_ENV[*]}"

    for np in $nps; do
        for prog in $programs; do
            log=$logdir/$config.np$np.$prog.log
            run_program "$log" "$run_timeout" "$(program_kind "$prog")" \
                "$np" "$prog"
            why=$(check_run "$log" "$prog")
            if [ -z "$why" ]; then
                verdict PASS "$config np=$np $prog" \
                    "${RUN_TIME}s, $(check_lanes "$log" "$CONFIG_TLS")$(
                     teardown_note "$log")"
            else
                verdict FAIL "$config np=$np $prog" "$why" "$log"
            fi
        done
    done

    if [ $killed = yes ]; then
        # The largest rank count: the most survivors
        np=$(echo "$nps" | tr ' ' '\n' | sort -n | tail -n 1)
        killed_test "$config" "$np"
    fi
done

# Self-test: each of these runs must be judged a failure
if [ $self_test = yes ]; then
    say "self-test: the following runs must fail"
    config_env tcp
    for prog in $programs; do
        log=$logdir/selftest.corrupt.$prog.log
        CONFIG_ENV+=(RSAGG_TEST_CORRUPT=3)
        run_program "$log" "$run_timeout" "$(program_kind "$prog")" 2 "$prog"
        config_env tcp
        why=$(check_run "$log" "$prog")
        if [ -n "$why" ] && grep -q ' FAIL (' "$log"; then
            verdict PASS "self-test: corrupted data in $prog" "detected: $why"
        else
            verdict FAIL "self-test: corrupted data in $prog" \
                "not detected" "$log"
        fi
    done

    prog=${programs%% *}
    log=$logdir/selftest.bogus-tls.$prog.log
    CONFIG_ENV=(UCX_TLS=no_such_transport)
    run_program "$log" "$run_timeout" "$(program_kind "$prog")" 2 "$prog"
    why=$(check_run "$log" "$prog")
    if [ -n "$why" ]; then
        verdict PASS "self-test: UCX_TLS=no_such_transport" "refused: $why"
    else
        verdict FAIL "self-test: UCX_TLS=no_such_transport" \
            "the job ran anyway: something else than UCX carried it" "$log"
    fi

    log=$(ls "$logdir"/*.np*.*.log 2>/dev/null | head -n 1)
    if [ -n "$log" ] && grep -q 'ep_cfg' "$log"; then
        if check_lanes "$log" "no_such_transport" > /dev/null; then
            verdict FAIL "self-test: lane check" "accepted the lanes of" \
                "$log as no_such_transport"
        else
            verdict PASS "self-test: lane check" \
                "$(check_lanes "$log" no_such_transport)"
        fi
    fi
fi

say "total time $(elapsed "$start_all")s"
if [ $n_failed = 0 ] && [ $keep_logs = no ]; then
    rm -rf "$logdir"
else
    say "logs kept in $logdir"
fi
say "$n_passed passed, $n_failed failed, $n_skipped skipped"
[ $n_failed = 0 ]
