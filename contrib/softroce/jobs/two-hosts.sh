#!/bin/bash
#
# contrib/softroce/jobs/two-hosts.sh: ucx_perftest between the two guests of
# `contrib/softroce.sh --guests 2` (issue 12 part 7), each with its own
# Soft-RoCE device rxe0 on the virtual link between them: guest 2 runs the
# servers, guest 1 the clients (connecting to PEER_IP), one test after the
# other on its own port. Each test runs with the inner transport alone and
# with rsagg over it.
#
# Usage (in both guests): two-hosts.sh [--inners "rc_verbs ud_verbs"]
#   From the host: contrib/softroce.sh --guests 2 [JOB ARGS]
#
# Guest 1 prints one PASS/FAIL line per test (with the client's Final: line)
# and last "two-hosts: N passed, N failed"; both guests exit non-zero when a
# run of theirs failed.
#
set -u -o pipefail

inners="rc_verbs ud_verbs"
while [ $# -gt 0 ]; do
    case $1 in
    --inners) inners=${2:?}; shift ;;
    -h|--help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "two-hosts.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done

: "${OUT:?not in the softroce guest (OUT unset)}" "${BUILD:?}"
: "${GUEST_INDEX:?}" "${PEER_IP:?not a two-guest run (PEER_IP unset)}"
RSAGG_RUN=${RSAGG_RUN:-$BUILD/contrib/rsagg-run}
dev=${RXE_DEV:-rxe0}:1
export UCX_IB_GID_INDEX=0
mkdir -p "$OUT/logs"
port=15000
n_passed=0 n_failed=0

# test NAME ENV... -- PERFTEST ARGS...
test_run() {
    local name=$1 env=() rc log i
    shift
    while [ "$1" != -- ]; do env+=("$1"); shift; done
    shift
    port=$((port + 1))
    log=$OUT/logs/$(echo "$name" | tr -c 'A-Za-z0-9_.-' '_').g$GUEST_INDEX.log
    if [ "$GUEST_INDEX" = 2 ]; then
        env "${env[@]}" timeout -k 5 120 "$RSAGG_RUN" ucx_perftest -p $port \
            "$@" > "$log" 2>&1
        rc=$?
        echo "server $name: exit $rc"
        [ $rc = 0 ] || n_failed=$((n_failed + 1))
        return
    fi
    # the client: retried while the server is not listening yet
    for i in $(seq 60); do
        env "${env[@]}" timeout -k 5 120 "$RSAGG_RUN" ucx_perftest "$PEER_IP" \
            -p $port "$@" > "$log" 2>&1
        rc=$?
        grep -q 'Connection refused\|No route to host' "$log" || break
        sleep 1
    done
    if [ $rc = 0 ] && grep -q '^Final:' "$log"; then
        echo "PASS $name  $(grep '^Final:' "$log" | head -n 1)"
        n_passed=$((n_passed + 1))
    else
        echo "FAIL $name (exit $rc)"
        grep -Ev 'UCX  (INFO|DIAG)' "$log" | tail -n 6 | cut -c1-200 |
            sed 's/^/     | /'
        n_failed=$((n_failed + 1))
    fi
}

echo "two-hosts: guest $GUEST_INDEX ($(hostname), ${GUEST_IP:-?}), peer $PEER_IP"
ping -c 1 -W 5 "$PEER_IP" > /dev/null 2>&1 ||
    sleep 5 # the peer may boot later; the clients retry anyway
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
        p="$tl $what"
        test_run "$p uct am_lat"       "${uct[@]}" -t am_lat -n 1000
        test_run "$p uct am_bw 8B"     "${uct[@]}" -t am_bw -n 20000
        test_run "$p uct am_bw bcopy"  "${uct[@]}" -t am_bw -D bcopy -s 64 -n 10000
        test_run "$p uct put_bw 8B"    "${uct[@]}" -t put_bw -n 10000
        test_run "$p ucp tag_lat"      "${ucp[@]}" -t tag_lat -n 1000
        test_run "$p ucp tag_bw 8B"    "${ucp[@]}" -t tag_bw -n 20000
        test_run "$p ucp tag_bw 64KB"  "${ucp[@]}" -t tag_bw -s 65536 -n 200
    done
done
[ "$GUEST_INDEX" = 2 ] ||
    echo "two-hosts: $n_passed passed, $n_failed failed"
[ $n_failed = 0 ]
