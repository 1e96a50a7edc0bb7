# contrib/mpi-common.sh: shared by mpi-check.sh, bench-mpi.sh and netns.sh
# (sourced, bash). Knows the transport configurations, the mpirun/oshrun
# options that make Open MPI really use UCX, where the test programs are and
# how to build them when they are not.
#
# Transport configurations (config_env NAME):
#   tcp        UCX_TLS=tcp
#   shm        UCX_TLS=posix,sysv,self
#   posix      UCX_TLS=posix              (inner transport of rsagg-shm alone)
#   rsagg-tcp  LD_PRELOAD=<module> UCX_TLS=rsagg UCX_RSAGG_TL=tcp
#   rsagg-shm  LD_PRELOAD=<module> UCX_TLS=rsagg UCX_RSAGG_TL=posix
# and on a verbs device (contrib/softroce.sh's guest; add
# MPI_EXTRA_ENV=UCX_IB_GID_INDEX=0 on Soft-RoCE):
#   rc         UCX_TLS=rc_verbs,ud_verbs:aux  (UD only to wire RC up)
#   ud         UCX_TLS=ud_verbs
#   rsagg-rc   LD_PRELOAD=<module> UCX_TLS=rsagg,ud_verbs:aux
#              UCX_RSAGG_TL=rc_verbs (rsagg over RC is connect-to-ep: UCP
#              needs an auxiliary transport to wire it up)
#   rsagg-ud   LD_PRELOAD=<module> UCX_TLS=rsagg UCX_RSAGG_TL=ud_verbs
# The module comes from, in this order: $RSAGG_RUN --print-preload; the
# rsagg-run of the build tree ($top/build/contrib/rsagg-run) or of $PATH
# (both honour $RSAGG_MODULE); $RSAGG_MODULE alone.
# $MPI_EXTRA_ENV ("VAR=value ...") is added to every run, e.g.
# MPI_EXTRA_ENV="UCX_NET_DEVICES=lo".
# $MPI_LAUNCH_PREFIX (a command that runs its arguments, e.g. in a network
# namespace) and $MPI_LAUNCH_ARGS (more mpirun options, e.g. --host) make
# every job a multi-host one; contrib/netns.sh sets them. Both are split at
# blanks.
#
# Open MPI 4.1 facts behind the launch options (launch_args):
#   --mca pml ucx --mca osc ucx (+ spml ucx): fail instead of falling back to
#       ob1/btl or osc rdma when UCX cannot be used; osc ucx also avoids the
#       crash of osc rdma in shmem_finalize;
#   --mca pml_ucx_tls any --mca pml_ucx_devices any: without them pml ucx
#       declines on a machine without an RDMA device;
#   --mca btl self: no other byte transfer layer (vader, tcp) is available
#       for anything to fall back to;
#   --allow-run-as-root when root, --oversubscribe --bind-to none (more
#       ranks than cores); $MPI_BIND replaces "none" (bench-mpi.sh binds
#       ranks to cores when there are enough: unbound busy-polling ranks
#       that the scheduler puts on one core take turns of milliseconds).

mpi_common_top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

MPI_TEST_PROGRAMS="mpi_p2p mpi_large mpi_coll mpi_rma"
SHMEM_TEST_PROGRAMS="shmem_rma shmem_amo shmem_coll"
KILLED_PROGRAM=mpi_killed
BENCH_PROGRAMS="mpi_msgrate shmem_putrate"

declare -gA PROGRAM_PATH=()


# The launcher and compiler for a program: shmem_* are OpenSHMEM programs
program_kind() {
    case $1 in
    shmem_*) echo shmem ;;
    *)       echo mpi ;;
    esac
}


program_source() {
    case $1 in
    mpi_msgrate|shmem_putrate) echo "$mpi_common_top/test/bench/$1.c" ;;
    shmem_*)                   echo "$mpi_common_top/test/shmem/$1.c" ;;
    *)                         echo "$mpi_common_top/test/mpi/$1.c" ;;
    esac
}


# find_programs BUILD_DIR "BINDIRS" PROGRAM...
#   Sets PROGRAM_PATH[name] for every program: taken from the first of
#   BINDIRS that has it, else compiled from the sources into BUILD_DIR with
#   $MPICC/$OSHCC (default mpicc/oshcc). Fails when one cannot be built.
find_programs() {
    local build_dir=$1 bindirs=$2 prog dir src cc
    shift 2
    for prog in "$@"; do
        [ -z "${PROGRAM_PATH[$prog]:-}" ] || continue
        for dir in $bindirs; do
            if [ -x "$dir/$prog" ] && [ -f "$dir/$prog" ]; then
                PROGRAM_PATH[$prog]=$(cd "$dir" && pwd)/$prog
                break
            fi
        done
        [ -z "${PROGRAM_PATH[$prog]:-}" ] || continue

        src=$(program_source "$prog")
        if [ "$(program_kind "$prog")" = shmem ]; then
            cc=${OSHCC:-oshcc}
        else
            cc=${MPICC:-mpicc}
        fi
        command -v "$cc" >/dev/null || {
            echo "cannot build $prog: $cc not found" >&2
            return 1
        }
        mkdir -p "$build_dir" || return 1
        "$cc" -O2 -g -Wall -I"$mpi_common_top/test/mpi" \
            -I"$mpi_common_top/test/shmem" -o "$build_dir/$prog" "$src" || {
            echo "cannot build $prog from $src with $cc" >&2
            return 1
        }
        PROGRAM_PATH[$prog]=$build_dir/$prog
    done
}


# rsagg_preload: prints the LD_PRELOAD value that loads the rsagg module;
# fails with the reason on stderr
rsagg_preload() {
    local run
    for run in "${RSAGG_RUN:-}" "$mpi_common_top/build/contrib/rsagg-run" \
               "$(command -v rsagg-run 2>/dev/null)"; do
        [ -n "$run" ] && [ -x "$run" ] || continue
        "$run" --print-preload
        return
    done
    if [ -n "${RSAGG_MODULE:-}" ]; then
        [ -f "$RSAGG_MODULE" ] && { echo "$RSAGG_MODULE"; return 0; }
        echo "RSAGG_MODULE=$RSAGG_MODULE: no such file" >&2
        return 1
    fi
    echo "no rsagg module: build it (contrib/check.sh --build-only), or set" \
         "RSAGG_RUN=<build>/contrib/rsagg-run or" \
         "RSAGG_MODULE=/path/libuct_rsagg.so" >&2
    return 1
}


# Whether rsagg is expected to exist: a launcher was named or is in the
# build tree. Then a missing module is an error, not a reason to skip.
rsagg_expected() {
    [ -n "${RSAGG_RUN:-}" ] || [ -n "${RSAGG_MODULE:-}" ] ||
        [ -e "$mpi_common_top/build/contrib/rsagg-run" ]
}


# config_env NAME
#   Sets CONFIG_ENV (array of VAR=value for the ranks) and CONFIG_TLS (the
#   UCX transport names the ranks' lanes may use). Returns 1 for an unknown
#   name, 2 when the rsagg module is not available (reason on stderr).
config_env() {
    local preload
    CONFIG_ENV=()
    CONFIG_TLS=
    case $1 in
    tcp)   CONFIG_ENV=(UCX_TLS=tcp);             CONFIG_TLS="tcp" ;;
    shm)   CONFIG_ENV=(UCX_TLS=posix,sysv,self); CONFIG_TLS="posix sysv self" ;;
    posix) CONFIG_ENV=(UCX_TLS=posix);           CONFIG_TLS="posix" ;;
    rc)    CONFIG_ENV=(UCX_TLS=rc_verbs,ud_verbs:aux); CONFIG_TLS="rc_verbs" ;;
    ud)    CONFIG_ENV=(UCX_TLS=ud_verbs);        CONFIG_TLS="ud_verbs" ;;
    rsagg-tcp|rsagg-shm|rsagg-rc|rsagg-ud)
        preload=$(rsagg_preload) || return 2
        CONFIG_ENV=("LD_PRELOAD=$preload" UCX_TLS=rsagg)
        case $1 in
        rsagg-tcp) CONFIG_ENV+=(UCX_RSAGG_TL=tcp) ;;
        rsagg-shm) CONFIG_ENV+=(UCX_RSAGG_TL=posix) ;;
        rsagg-rc)  CONFIG_ENV=("LD_PRELOAD=$preload"
                               UCX_TLS=rsagg,ud_verbs:aux UCX_RSAGG_TL=rc_verbs) ;;
        rsagg-ud)  CONFIG_ENV+=(UCX_RSAGG_TL=ud_verbs) ;;
        esac
        CONFIG_TLS="rsagg"
        ;;
    *)
        echo "unknown transport configuration '$1'" \
             "(tcp, shm, posix, rc, ud, rsagg-tcp, rsagg-shm, rsagg-rc," \
             "rsagg-ud)" >&2
        return 1
        ;;
    esac
    # shellcheck disable=SC2206
    CONFIG_ENV+=(${MPI_EXTRA_ENV:-})
}


# launch_args KIND NP [ENV...]
#   Sets LAUNCH (array): mpirun or oshrun with the options above, -np NP
#   and -x for every VAR=value given.
launch_args() {
    local kind=$1 np=$2 e
    shift 2
    # shellcheck disable=SC2206
    LAUNCH=(${MPI_LAUNCH_PREFIX:-})
    if [ "$kind" = shmem ]; then
        LAUNCH+=("${OSHRUN:-oshrun}")
    else
        LAUNCH+=("${MPIRUN:-mpirun}")
    fi
    [ "$(id -u)" != 0 ] || LAUNCH+=(--allow-run-as-root)
    LAUNCH+=(--oversubscribe --bind-to "${MPI_BIND:-none}" -np "$np"
             --mca pml ucx --mca osc ucx
             --mca pml_ucx_tls any --mca pml_ucx_devices any
             --mca btl self)
    [ "$kind" != shmem ] || LAUNCH+=(--mca spml ucx)
    # shellcheck disable=SC2206
    LAUNCH+=(${MPI_LAUNCH_ARGS:-})
    for e in "$@"; do
        LAUNCH+=(-x "$e")
    done
}


# check_lanes LOG "ALLOWED TLS"
#   The ranks ran with UCX_LOG_LEVEL=info, which prints the lanes of every
#   endpoint configuration ("ep_cfg[0]: tag(tcp/lo tcp/eth0)"). Succeeds when
#   there is at least one and every lane uses an allowed transport; prints
#   the transports seen (or what is wrong).
check_lanes() {
    local log=$1 allowed=$2 seen tl bad=
    seen=$(grep -o 'ep_cfg\[[0-9]*\]: .*' "$log" |
           grep -o '[A-Za-z0-9_]*/[^ ()]*' | cut -d/ -f1 | sort -u |
           tr '\n' ' ')
    if [ -z "$seen" ]; then
        echo "no UCX endpoint configuration in the output (is pml ucx used?)"
        return 1
    fi
    for tl in $seen; do
        case " $allowed " in
        *" $tl "*) ;;
        *)         bad="$bad $tl" ;;
        esac
    done
    if [ -n "$bad" ]; then
        echo "lanes on${bad}, expected only: $allowed (seen: ${seen% })"
        return 1
    fi
    echo "lanes: ${seen% }"
}


# now: seconds since the epoch with microseconds (bash 5)
now() {
    echo "${EPOCHREALTIME:-$(date +%s.%N)}"
}


# elapsed START: seconds since START, one decimal
elapsed() {
    awk -v s="$1" -v e="$(now)" 'BEGIN { printf "%.1f", e - s }'
}
