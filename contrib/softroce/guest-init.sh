#!/bin/bash
#
# contrib/softroce/guest-init.sh: PID 1 of the Soft-RoCE test bed's guest
# (installed as /usr/local/sbin/rsagg-softroce-init by contrib/softroce.sh,
# started by the kernel with init=). Mounts the pseudo file systems and the
# host's 9p share (mount tag "rsagg" on /mnt/host), brings up the NIC and
# the Soft-RoCE device rxe0 on it, runs /mnt/host/job.sh with bash under
# $JOB_TIMEOUT, writes its exit status to /mnt/host/status and powers off.
# Whatever fails, the guest powers off (and the host kills QEMU at its own
# limit if even that does not happen).
#
set -u -o pipefail
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root LANG=C.UTF-8 TERM=dumb

share=/mnt/host
log() { echo "softroce-init: $*"; }

power_off() {
    sync
    umount "$share" 2>/dev/null
    mount -o remount,ro / 2>/dev/null
    echo o > /proc/sysrq-trigger
    sleep 30
    exit 1 # PID 1 exits: panic, panic=1 reboots, QEMU -no-reboot stops
}

# the status the host reads; 125 = the job could not be started
status() {
    echo "$1" > "$share/status" 2>/dev/null
}

setup() {
    mount -t proc proc /proc 2>/dev/null
    mount -t sysfs sys /sys 2>/dev/null
    mountpoint -q /dev || mount -t devtmpfs dev /dev
    mkdir -p /dev/pts /dev/shm
    mount -t devpts devpts /dev/pts
    mount -t tmpfs tmpfs /dev/shm
    mount -t tmpfs tmpfs /run
    mount -t tmpfs tmpfs /tmp
    ip link set lo up

    modprobe -a virtio_net 9pnet_virtio 9p ib_uverbs rdma_rxe ||
        { log "modprobe failed"; return 1; }
    mkdir -p "$share"
    mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 rsagg "$share" ||
        { log "cannot mount the host share"; return 1; }

    # JOB_TIMEOUT, GUESTS, GUEST_INDEX, GUEST_IP, PEER_IP from the host
    JOB_TIMEOUT=1500 GUESTS=1 GUEST_INDEX=1 GUEST_IP=10.0.2.15 PEER_IP=
    [ -f "$share/job.env" ] && . "$share/job.env"
    export GUESTS GUEST_INDEX GUEST_IP PEER_IP
    if [ "$GUESTS" = 1 ]; then
        hostname softroce
    else
        hostname "softroce$GUEST_INDEX"
        printf '10.0.3.%s softroce%s\n' 1 1 2 2 >> /etc/hosts
    fi

    RXE_NETDEV=
    local i n
    for i in $(seq 50); do
        for n in /sys/class/net/*; do
            n=${n##*/}
            [ "$n" = lo ] || { RXE_NETDEV=$n; break 2; }
        done
        sleep 0.1
    done
    [ -n "$RXE_NETDEV" ] || { log "no NIC"; return 1; }
    ip addr add "$GUEST_IP/24" dev "$RXE_NETDEV" &&
        ip link set "$RXE_NETDEV" up &&
        rdma link add rxe0 type rxe netdev "$RXE_NETDEV" ||
        { log "cannot create rxe0 on $RXE_NETDEV"; return 1; }
    for i in $(seq 100); do
        ibv_devinfo -d rxe0 2>/dev/null | grep -q PORT_ACTIVE && break
        sleep 0.1
    done
    ibv_devinfo -d rxe0 | grep -E 'hca_id|state|active_mtu|link_layer'
    rdma link show
    export RXE_DEV=rxe0 RXE_NETDEV
}

if ! setup; then
    status 125
    power_off
fi

export TOP=/rsagg/src BUILD=/rsagg/build OUT=$share/out
export RSAGG_RUN=$BUILD/contrib/rsagg-run NPROC=$(nproc)
mkdir -p "$OUT"
cd "$OUT" || { status 125; power_off; }

log "job starts (limit ${JOB_TIMEOUT}s, $(nproc) CPUs)"
start=$(date +%s)
eval "args=($(cat "$share/job.args" 2>/dev/null))"
# The job's output goes to the console (the host shows it) and to job.log
timeout -k 10 "$JOB_TIMEOUT" bash "$share/job.sh" "${args[@]}" < /dev/null 2>&1 |
    tee "$OUT/job.log"
rc=${PIPESTATUS[0]}
[ "$rc" != 124 ] || log "job timed out after ${JOB_TIMEOUT}s"
log "job exit status $rc after $(( $(date +%s) - start ))s"
status "$rc"
power_off
