#!/bin/bash
#
# contrib/netns.sh: rsagg across simulated hosts. Creates one network
# namespace per "host" (rsagg-h1, rsagg-h2, ...), each with its own veth
# link rsv0 (10.201.0.<i>/24) to a bridge in a switch namespace, its own
# /etc/hosts (ip netns exec mounts /etc/netns/<ns>/hosts) and, for the
# processes started in it, its own hostname (UTS namespace). Then runs
#   (a) ucx_perftest client on rsagg-h1, server on rsagg-h2: UCT am_short
#       latency and UCP tag latency and 8-byte tag message rate, per
#       transport configuration;
#   (b) the MPI and OpenSHMEM test programs and the killed-rank test with
#       ranks spread over the hosts (contrib/mpi-check.sh; mpirun runs on
#       rsagg-h1 and reaches the other hosts through an rsh agent that
#       enters their namespace);
#   (c) with --rate, the same links limited by a tbf qdisc, and the
#       benchmarks of contrib/bench-mpi.sh between two hosts, where the wire
#       bytes per message decide the message rate.
# Everything it creates is removed at the end, also when interrupted or
# when the time limit strikes. Needs root, ip (iproute2), tc, unshare.
#
# Usage: contrib/netns.sh [options]
#   --hosts N           simulated hosts (2; 2..8)
#   --np N              ranks of the MPI/OpenSHMEM jobs, over the hosts
#                       round-robin (4)
#   --configs "LIST"    transport configurations (tcp rsagg-tcp); one
#                       without its module is skipped with a note, or fails
#                       when a launcher was named or the build tree has one
#   --rate RATE         also run phase (c) at this tbf rate (e.g. 100mbit)
#   --bench-configs "BASE NEW"  configurations phase (c) compares
#                       (tcp rsagg-tcp)
#   --no-perftest, --no-mpi   skip phase (a) or (b)
#   --timeout SECONDS   limit of the whole script (900)
#   --bindir DIR        where the test programs are (see mpi-check.sh)
#   --logdir DIR        keep the logs there
#
# Prints PASS/FAIL lines and last "netns: N passed, N failed, N skipped";
# exit status non-zero when something failed.
#
set -u -o pipefail

here=$(cd "$(dirname "$0")" && pwd)
prog=netns.sh
# shellcheck source=contrib/mpi-common.sh
. "$here/mpi-common.sh"

hosts=2
np=4
configs="tcp rsagg-tcp"
rate=
bench_configs="tcp rsagg-tcp"
do_perftest=yes
do_mpi=yes
limit=900
bindir_args=()
logdir=
inner=no
perftest=${UCX_PERFTEST:-ucx_perftest}
subnet=10.201.0

usage() {
    sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'
}

args=("$@")
while [ $# -gt 0 ]; do
    case $1 in
    --hosts)         hosts=${2:?}; shift ;;
    --np)            np=${2:?}; shift ;;
    --configs)       configs=${2:?}; shift ;;
    --rate)          rate=${2:?}; shift ;;
    --bench-configs) bench_configs=${2:?}; shift ;;
    --no-perftest)   do_perftest=no ;;
    --no-mpi)        do_mpi=no ;;
    --timeout)       limit=${2:?}; shift ;;
    --bindir)        bindir_args+=(--bindir "${2:?}"); shift ;;
    --logdir)        logdir=${2:?}; shift ;;
    --inner)         inner=yes ;;   # internal: the part under the time limit
    -h|--help)       usage; exit 0 ;;
    *)               echo "$prog: unknown argument '$1'" >&2
                     usage >&2; exit 2 ;;
    esac
    shift
done

die() { echo "$prog: $*" >&2; exit 2; }

case $hosts$np$limit in
''|*[!0-9]*) die "--hosts, --np and --timeout need numbers" ;;
esac
[ "$hosts" -ge 2 ] && [ "$hosts" -le 8 ] || die "--hosts must be 2..8"
[ "$np" -ge 2 ] || die "--np must be at least 2"
case $rate in
''|[0-9]*bit|[0-9]*bps) ;;
*) die "--rate like 100mbit, not '$rate'" ;;
esac
[ "$(id -u)" = 0 ] || die "needs root (network namespaces)"
for tool in ip tc unshare timeout "$perftest"; do
    command -v "$tool" >/dev/null || die "$tool not found"
done

# Names of everything we create carry the prefix of the outer process, so
# that cleanup finds exactly our namespaces and nothing else
prefix=${NETNS_PREFIX:-rsg$$}
switch_ns=${prefix}sw
host_ns() { echo "${prefix}h$1"; }
host_name() { echo "rsagg-h$1"; }

cleanup() {
    local ns pids
    for ns in $(ip netns list 2>/dev/null | awk '{ print $1 }' |
                grep "^${prefix}\(h[0-9]*\|sw\)$"); do
        # Processes left in our namespaces (orted, ranks) are ours
        pids=$(ip netns pids "$ns" 2>/dev/null)
        if [ -n "$pids" ]; then
            # shellcheck disable=SC2086
            kill -TERM $pids 2>/dev/null
            sleep 1
            pids=$(ip netns pids "$ns" 2>/dev/null)
            # shellcheck disable=SC2086
            [ -z "$pids" ] || kill -KILL $pids 2>/dev/null
        fi
        ip netns del "$ns" 2>/dev/null
        rm -rf "/etc/netns/$ns"
    done
    rmdir /etc/netns 2>/dev/null
    return 0
}

#
# Outer part: run the inner part under the time limit, then clean up in
# any case (the inner part cleans up too, but may be killed)
#
if [ $inner = no ]; then
    trap cleanup EXIT
    # timeout runs the inner part in a process group of its own, where a
    # Ctrl-C at the terminal does not reach: forward INT/TERM/HUP to the
    # whole group (the inner script, mpirun, ranks, perftest), whose
    # members then end and let the inner script clean up
    NETNS_PREFIX=$prefix timeout -k 20 "$limit" "$0" --inner "${args[@]}" &
    inner_pid=$!
    signal=
    forward() {
        signal=$1
        echo "$prog: interrupted (SIG$1), stopping and cleaning up" >&2
        kill -TERM -- -"$inner_pid" 2>/dev/null ||
            kill -TERM "$inner_pid" 2>/dev/null
    }
    trap 'forward INT' INT
    trap 'forward TERM' TERM
    trap 'forward HUP' HUP
    # wait returns early when a trapped signal arrives: wait until it ends
    while :; do
        wait "$inner_pid"
        rc=$?
        kill -0 "$inner_pid" 2>/dev/null || break
    done
    if [ -n "$signal" ]; then
        rc=130
    elif [ $rc = 124 ] || [ $rc = 137 ]; then
        echo "$prog: FAIL: the time limit of ${limit}s struck (--timeout)"
        rc=1
    fi
    exit $rc
fi

trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

start_all=$(now)
if [ -n "$logdir" ]; then
    mkdir -p "$logdir" || exit 2
    logdir=$(cd "$logdir" && pwd)
else
    logdir=$(mktemp -d "${TMPDIR:-/tmp}/netns.XXXXXX") || exit 2
fi
work=$logdir/work
mkdir -p "$work" || exit 2

n_passed=0
n_failed=0
n_skipped=0
verdict() {   # verdict PASS|FAIL|SKIP WHAT DETAILS
    printf '%-4s  %-40s %s\n' "$1" "$2" "$3"
    case $1 in
    PASS) n_passed=$((n_passed + 1)) ;;
    FAIL) n_failed=$((n_failed + 1)) ;;
    SKIP) n_skipped=$((n_skipped + 1)) ;;
    esac
}

# Seconds left of the overall limit, minus a margin for the cleanup
time_left() {
    awk -v s="$start_all" -v e="$(now)" -v l="$limit" \
        'BEGIN { printf "%d", l - 30 - (e - s) }'
}

#
# Network: hosts h1..hN, each "rsv0" <-> "p<i>" on bridge br0 in the switch
#
setup_network() {
    local i ns f
    ip netns add "$switch_ns" || return 1
    ip -n "$switch_ns" link add br0 type bridge || return 1
    ip -n "$switch_ns" link set br0 up || return 1
    ip -n "$switch_ns" link set lo up || return 1
    for ((i = 1; i <= hosts; ++i)); do
        ns=$(host_ns $i)
        ip netns add "$ns" || return 1
        ip link add rsv0 netns "$ns" type veth peer name "p$i" \
            netns "$switch_ns" || return 1
        ip -n "$switch_ns" link set "p$i" master br0 up || return 1
        ip -n "$ns" addr add "$subnet.$i/24" dev rsv0 || return 1
        ip -n "$ns" link set rsv0 up || return 1
        ip -n "$ns" link set lo up || return 1
        mkdir -p "/etc/netns/$ns" || return 1
        f=/etc/netns/$ns/hosts
        echo "127.0.0.1 localhost" > "$f"
        for ((j = 1; j <= hosts; ++j)); do
            echo "$subnet.$j $(host_name $j)" >> "$f"
        done
    done

    # A veth link takes a moment to become operational; UCX ignores
    # devices that are not
    for ((i = 1; i <= hosts; ++i)); do
        ns=$(host_ns $i)
        for ((t = 0; t < 100; ++t)); do
            [ "$(ip netns exec "$ns" cat /sys/class/net/rsv0/operstate)" = \
              up ] && break
            sleep 0.1
        done
        [ $t -lt 100 ] || { echo "rsv0 in $ns does not come up"; return 1; }
    done
}

# Helper scripts: "enter HOST CMD..." runs CMD on HOST (its namespace and
# hostname); "agent HOST COMMAND-STRING" is mpirun's rsh agent
write_helpers() {
    local i
    {
        echo "#!/bin/sh"
        echo "# $prog: run a command on a simulated host"
        echo 'host=$1; shift'
        echo 'case $host in'
        for ((i = 1; i <= hosts; ++i)); do
            echo "$(host_name $i)) ns=$(host_ns $i) ;;"
        done
        echo '*) echo "netns: unknown host '"'"'$host'"'"'" >&2; exit 255 ;;'
        echo 'esac'
        echo 'exec ip netns exec "$ns" unshare --uts /bin/sh -c \'
        echo '    '"'"'hostname "$0" && exec "$@"'"'"' "$host" "$@"'
    } > "$work/enter"
    {
        echo "#!/bin/sh"
        echo "# $prog: rsh agent for mpirun: AGENT HOST COMMAND (a shell"
        echo "# command line, as ssh would get it)"
        echo 'host=$1; shift'
        echo 'exec "'"$work"'/enter" "$host" /bin/sh -c "$*"'
    } > "$work/agent"
    chmod +x "$work/enter" "$work/agent"
}

#
# (a) ucx_perftest across two hosts
#
perftest_final() {   # "Final:" line of a log: fields
    awk '$1 == "Final:" { print $2, $3, $4, $5, $6, $7, $8, $9 }' "$1"
}

# run_perftest NAME CONFIG ARGS...: server on host 2, client on host 1
run_perftest() {
    local name=$1 config=$2 log srv_log srv_pid rc try final env
    shift 2
    log=$work/perftest.$config.$name.log
    srv_log=$work/perftest.$config.$name.server.log
    env=("${CONFIG_ENV[@]}" UCX_NET_DEVICES=rsv0)
    "$work/enter" "$(host_name 2)" timeout 60 env "${env[@]}" \
        "$perftest" -p 13337 > "$srv_log" 2>&1 &
    srv_pid=$!
    # The server needs a moment to listen: retry refused connections
    for ((try = 0; try < 40; ++try)); do
        "$work/enter" "$(host_name 1)" timeout 60 env "${env[@]}" \
            "$perftest" "$subnet.2" -p 13337 "$@" > "$log" 2>&1
        rc=$?
        [ $rc != 0 ] && grep -qi 'refused' "$log" || break
        sleep 0.25
    done
    # A client that failed leaves the server waiting: no need to
    [ $rc = 0 ] || kill -TERM $srv_pid 2>/dev/null
    wait $srv_pid
    final=$(perftest_final "$log")
    if [ $rc != 0 ] || [ -z "$final" ]; then
        verdict FAIL "perftest $config $name" \
            "exit $rc: $(grep -Eiv 'INFO|DIAG' "$log" "$srv_log" |
                         grep -im1 'error' | cut -c1-100) (log: $log)"
        return
    fi
    # iterations, latency median/average/overall, bandwidth average/overall,
    # message rate average/overall
    # shellcheck disable=SC2086
    set -- $final
    case $name in
    *-lat) verdict PASS "perftest $config $name" \
               "$(printf 'latency median %.3f us, average %.3f us' "$2" "$3")"
           echo "$config,$name,latency_avg_us,$3" >> "$work/perftest.csv" ;;
    *)     verdict PASS "perftest $config $name" \
               "$(printf 'message rate %.0f msg/s' "$8")"
           echo "$config,$name,msg_rate,$8" >> "$work/perftest.csv" ;;
    esac
}

phase_perftest() {
    local config uct_tl
    echo "netns: (a) ucx_perftest, client $(host_name 1), server" \
         "$(host_name 2), device rsv0"
    for config in $configs; do
        config_env "$config" 2> "$work/$config.env.err"
        case $? in
        0) ;;
        2) if rsagg_expected; then
               verdict FAIL "perftest $config" "$(head -n 1 \
                   "$work/$config.env.err")"
           else
               verdict SKIP "perftest $config" "$(head -n 1 \
                   "$work/$config.env.err")"
           fi
           continue ;;
        *) verdict FAIL "perftest $config" "unknown configuration"
           continue ;;
        esac
        # UCT tests name the transport: the one this configuration allows
        uct_tl=${CONFIG_TLS%% *}
        run_perftest uct-am_short-lat "$config" -t am_lat -x "$uct_tl" \
            -d rsv0 -s 8 -n 20000
        run_perftest ucp-tag-lat "$config" -t tag_lat -s 8 -n 20000
        run_perftest ucp-tag-bw "$config" -t tag_bw -s 8 -n 200000
    done
}

#
# (b), (c): MPI jobs over the hosts, through mpi-check.sh / bench-mpi.sh
#
# mpirun on host 1; one slot per rank on the host it goes to
mpi_multihost_env() {
    local nhosts=$1 ranks=$2 i hostlist= slots
    slots=$(( (ranks + nhosts - 1) / nhosts ))
    for ((i = 1; i <= nhosts; ++i)); do
        hostlist="$hostlist${hostlist:+,}$(host_name $i):$slots"
    done
    export MPI_LAUNCH_PREFIX="$work/enter $(host_name 1)"
    export MPI_LAUNCH_ARGS="--host $hostlist --map-by node
        --mca plm_rsh_agent $work/agent --mca plm_rsh_no_tree_spawn 1
        --mca oob_tcp_if_include $subnet.0/24"
    export MPI_EXTRA_ENV="UCX_NET_DEVICES=rsv0"
}

# Every passing run must really have had ranks on several hosts: the UCX
# log lines carry the hostname of the rank that printed them
check_spread() {
    local log n bad=0
    for log in "$@"; do
        [ -f "$log" ] || continue
        n=$(grep 'ep_cfg' "$log" | grep -o '\[rsagg-h[0-9]*:' | sort -u |
            wc -l)
        if [ "$n" -lt 2 ]; then
            echo "  $log: endpoints on $n host(s) only"
            bad=$((bad + 1))
        fi
    done
    return $bad
}

phase_mpi() {
    local left rc
    echo "netns: (b) MPI and OpenSHMEM jobs, $np ranks over $hosts hosts"
    mpi_multihost_env "$hosts" "$np"
    left=$(time_left)
    [ "$left" -gt 30 ] || { verdict FAIL "mpi jobs" "no time left"; return; }
    # Each run's limit detects a hang, not slowness. Over simulated hosts,
    # 4 unbound ranks on 2 cores take 1-7 s a job with tcp; with rsagg-tcp
    # (aggregating or not) a job sometimes takes far longer: phases of
    # 15-25 s, one shmem_coll over 64 s. The cause is not known yet; the
    # limit leaves room for that tail.
    "$here/mpi-check.sh" --configs "$configs" --np "$np" --timeout 180 \
        --logdir "$work/mpi" --budget "$left" "${bindir_args[@]}" |
        sed 's/^/  /'
    rc=${PIPESTATUS[0]}
    if [ "$rc" = 0 ]; then
        verdict PASS "mpi-check over $hosts hosts" "all runs passed"
    else
        verdict FAIL "mpi-check over $hosts hosts" "see above"
    fi
    if check_spread $(ls "$work"/mpi/*.np*.*.log 2>/dev/null |
                      grep -v mpi_killed); then
        verdict PASS "ranks spread over hosts" \
            "every job had endpoints on 2+ hosts"
    else
        verdict FAIL "ranks spread over hosts" "some jobs ran on one host"
    fi
}

phase_rate() {
    local i ns left rc
    echo "netns: (c) links limited to $rate (tbf), benchmarks between" \
         "$(host_name 1) and $(host_name 2)"
    for ((i = 1; i <= hosts; ++i)); do
        ns=$(host_ns $i)
        ip -n "$ns" link set rsv0 up
        ip netns exec "$ns" tc qdisc add dev rsv0 root tbf rate "$rate" \
            burst 32kbit latency 400ms || {
            verdict FAIL "tbf $rate" "tc qdisc add failed in $ns"
            return
        }
    done
    verdict PASS "tbf $rate" "$(ip netns exec "$(host_ns 1)" tc qdisc show \
                               dev rsv0 | head -n 1)"

    if [ $do_perftest = yes ]; then
        local saved=$configs
        configs=$bench_configs
        phase_perftest
        configs=$saved
    fi

    mpi_multihost_env 2 2
    left=$(time_left)
    [ "$left" -gt 60 ] || { verdict FAIL "bench-mpi" "no time left"; return; }
    timeout "$left" "$here/bench-mpi.sh" --configs "$bench_configs" --np 2 \
        --min-size 8 --max-size 8192 --repeat 2 \
        --csv "$work/bench.csv" "${bindir_args[@]}" | sed 's/^/  /'
    rc=${PIPESTATUS[0]}
    if [ "$rc" = 0 ]; then
        verdict PASS "bench-mpi over $rate" "table above ($work/bench.csv)"
    else
        verdict FAIL "bench-mpi over $rate" "exit $rc"
    fi
}

echo "netns: $hosts hosts (namespaces ${prefix}h1..), subnet $subnet.0/24," \
     "logs in $logdir, limit ${limit}s"
if setup_network > "$work/setup.log" 2>&1; then
    verdict PASS "network setup" "$hosts hosts on a bridge"
else
    verdict FAIL "network setup" "$(tail -n 1 "$work/setup.log")"
    echo "netns: $n_passed passed, $n_failed failed, $n_skipped skipped"
    exit 1
fi
write_helpers

[ $do_perftest = no ] || phase_perftest
[ $do_mpi = no ] || phase_mpi
[ -z "$rate" ] || phase_rate

echo "netns: total time $(elapsed "$start_all")s, logs in $logdir"
echo "netns: $n_passed passed, $n_failed failed, $n_skipped skipped"
[ $n_failed = 0 ]
