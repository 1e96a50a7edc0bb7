#!/bin/bash
#
# contrib/perftest-check.sh: every ucx_perftest test a user runs over rsagg
# must complete, over inner tcp (lo) and inner posix: UCT tests with
# -x rsagg, UCP tests with UCX_TLS=rsagg. Client and server on 127.0.0.1,
# short runs, each under a time limit. Checks that the tests work, not how
# fast they are (contrib/demo.sh measures).
#
# Usage: contrib/perftest-check.sh [--launcher PATH]
#   --launcher PATH   rsagg-run to use (default: build/contrib/rsagg-run)
#
# Prints one PASS/FAIL line per run and last "perftest: N passed, N failed";
# exit status non-zero when a run failed.
#
set -u -o pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
launcher=$top/build/contrib/rsagg-run
[ "${1:-}" = --launcher ] && launcher=${2:?--launcher needs a path}
[ -x "$launcher" ] || { echo "perftest-check: no $launcher" >&2; exit 2; }

logdir=$(mktemp -d)
trap 'rm -rf "$logdir"' EXIT
port=$((20000 + $$ % 10000))
n_passed=0 n_failed=0

# run NAME ENV... -- PERFTEST ARGS...
run() {
    local name=$1 env=() rc
    shift
    while [ "$1" != -- ]; do env+=("$1"); shift; done
    shift
    port=$((port + 1))
    env "${env[@]}" timeout 60 "$launcher" ucx_perftest -p $port "$@" \
        > "$logdir/server.log" 2>&1 &
    local server=$!
    sleep 0.5
    env "${env[@]}" timeout 60 "$launcher" ucx_perftest 127.0.0.1 -p $port \
        "$@" > "$logdir/client.log" 2>&1
    rc=$?
    wait $server
    rc=$((rc | $?))
    if [ $rc = 0 ] && grep -q '^Final:' "$logdir/client.log"; then
        echo "PASS $name"
        n_passed=$((n_passed + 1))
    else
        echo "FAIL $name (exit $rc)"
        tail -n 5 "$logdir/client.log" "$logdir/server.log" | sed 's/^/    /'
        n_failed=$((n_failed + 1))
    fi
}

for inner in tcp:lo posix:memory; do
    tl=${inner%%:*} dev=${inner#*:}
    uct=(UCX_RSAGG_TL=$tl --)
    run "uct am_lat $tl"         "${uct[@]}" -x rsagg -d $dev -t am_lat -n 2000
    run "uct am_bw short $tl"    "${uct[@]}" -x rsagg -d $dev -t am_bw -n 20000
    run "uct am_bw bcopy $tl"    "${uct[@]}" -x rsagg -d $dev -t am_bw -D bcopy \
                                 -s 64 -n 20000
    run "uct put_lat $tl"        "${uct[@]}" -x rsagg -d $dev -t put_lat -n 2000
    run "uct put_bw $tl"         "${uct[@]}" -x rsagg -d $dev -t put_bw -n 20000
    if [ $tl = tcp ]; then
        # tcp has zero-copy active messages; posix has get_bcopy
        run "uct am_bw zcopy $tl" "${uct[@]}" -x rsagg -d $dev -t am_bw \
                                  -D zcopy -s 64 -n 20000
    else
        run "uct get bcopy $tl"  "${uct[@]}" -x rsagg -d $dev -t get \
                                 -D bcopy -s 64 -n 20000
    fi
    ucp=(UCX_TLS=rsagg UCX_RSAGG_TL=$tl --)
    run "ucp tag_lat $tl"        "${ucp[@]}" -t tag_lat -n 2000
    run "ucp tag_bw $tl"         "${ucp[@]}" -t tag_bw -n 20000
    run "ucp ucp_am_bw $tl"      "${ucp[@]}" -t ucp_am_bw -n 20000
    run "ucp stream_bw $tl"      "${ucp[@]}" -t stream_bw -n 20000
    run "ucp ucp_put_bw $tl"     "${ucp[@]}" -t ucp_put_bw -n 20000
done

echo "perftest: $n_passed passed, $n_failed failed"
[ $n_failed = 0 ]
