#!/bin/bash
#
# contrib/softroce.sh: the Soft-RoCE test bed. Builds (and caches) a Debian 12
# guest root with the stock kernel, rdma-core, UCX, Open MPI and this
# project built inside it, boots it with QEMU, creates a Soft-RoCE device
# (rdma_rxe, "rxe0", RoCE v2 on the guest's virtio NIC), runs a job there,
# brings its results and logs back, always powers the guest off and cleans
# up, and exits with the job's status.
#
# Usage: contrib/softroce.sh [options] [--] JOB [ARGS...]
#   JOB is a script of the host (copied into the guest and run with bash
#   there, with ARGS) or, when no such file exists, a shell command line.
#   Without JOB: contrib/softroce/jobs/check.sh (the CI job).
# Options:
#   --cache DIR       where guest roots are cached ($RSAGG_CACHE,
#                     default /var/cache/rsagg)
#   --out DIR         results: DIR/console.log (guest console), DIR/out/
#                     (what the job wrote to $OUT) (default
#                     build/softroce/<date>-<pid>)
#   --timeout SEC     limit of the job in the guest (1500); QEMU itself is
#                     killed 240 s after that, whatever the guest does
#   --accel tcg|kvm|auto  QEMU accelerator (tcg): "auto" takes kvm when
#                     /dev/kvm opens. Note: the paravirtual /dev/kvm of some
#                     cloud machines cannot boot a stock kernel (it stops
#                     after "Probing EDD"): keep tcg there.
#   --smp N, --mem SIZE   guest CPUs (2) and memory (4G)
#   --rebuild-root    build the cached guest root again
#   --image-only      build/refresh the guest root and the project, boot nothing
#   --keep-disk       keep the run's disk image (in the output directory)
#   --guests 2        two guests (two hosts) joined by a virtual link (QEMU
#                     socket netdev on 127.0.0.1), one rxe0 each, 10.0.3.1
#                     and 10.0.3.2; both run JOB (default
#                     contrib/softroce/jobs/two-hosts.sh) with GUEST_INDEX
#                     1 or 2 and PEER_IP; results in DIR/g1, DIR/g2
#   -h, --help
#
# The guest root (debootstrap bookworm minbase + apt in a chroot, 5-12 min
# depending on the machine's load) is cached in $RSAGG_CACHE/root-<key>,
# key = hash of the package list, suite, mirror and ROOT_VERSION below (a
# root of another key is left alone: remove it by hand); the project (this work tree's tracked and
# untracked non-ignored files) is copied into it and built there (chroot,
# host CPU, incremental) on every run, then the run's disk is made from the
# root with mkfs.ext4 -d. Needs root, debootstrap, qemu-system-x86_64,
# mkfs.ext4 (e2fsprogs >= 1.43), flock, git.
#
# The job runs as root in the guest with: TOP=/rsagg/src (project source),
# BUILD=/rsagg/build (its build), RSAGG_RUN=$BUILD/contrib/rsagg-run,
# OUT=/mnt/host/out (comes back to the host), RXE_DEV=rxe0, RXE_NETDEV
# (the NIC under it), NPROC, GUESTS, GUEST_INDEX, GUEST_IP, PEER_IP. The
# guest's only NIC is a QEMU user-mode link with restrict=on, or with
# --guests 2 the link between the two guests: no traffic leaves them.
#
# Environment: RSAGG_CACHE, DEBIAN_MIRROR (http://deb.debian.org/debian),
# SOFTROCE_QEMU (qemu-system-x86_64).
#
set -u -o pipefail

# Bump when the way the root is made changes: the cache key includes it
ROOT_VERSION=2

prog=softroce.sh
top=$(cd "$(dirname "$0")/.." && pwd)
here=$top/contrib/softroce

cache=${RSAGG_CACHE:-/var/cache/rsagg}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
suite=bookworm
qemu=${SOFTROCE_QEMU:-qemu-system-x86_64}
outdir=
job_timeout=1500
accel=tcg
smp=2
mem=4G
rebuild_root=no
image_only=no
keep_disk=no
guests=1

# Packages of the guest: kernel and Soft-RoCE user space, UCX and Open MPI
# as on the host, and what contrib/check.sh installs to build the project
# (without clang: the fuzzers are not built in the guest)
guest_packages="
    linux-image-amd64 initramfs-tools kmod udev
    rdma-core ibverbs-providers ibverbs-utils iproute2 procps
    libucx0 ucx-utils libucx-dev
    openmpi-bin libopenmpi-dev
    autoconf automake libtool pkg-config make gcc g++ dpkg-dev patch xz-utils
    libibverbs-dev librdmacm-dev libnuma-dev googletest libgtest-dev
    ca-certificates"

say() { echo "$prog: $*"; }
die() { echo "$prog: error: $*" >&2; exit 2; }

usage() {
    sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'
}

while [ $# -gt 0 ]; do
    case $1 in
    --cache)        cache=${2:?--cache needs a directory}; shift ;;
    --out)          outdir=${2:?--out needs a directory}; shift ;;
    --timeout)      job_timeout=${2:?--timeout needs seconds}; shift ;;
    --accel)        accel=${2:?--accel needs tcg, kvm or auto}; shift ;;
    --smp)          smp=${2:?--smp needs a number}; shift ;;
    --mem)          mem=${2:?--mem needs a size}; shift ;;
    --rebuild-root) rebuild_root=yes ;;
    --image-only)   image_only=yes ;;
    --keep-disk)    keep_disk=yes ;;
    --guests)       guests=${2:?--guests needs 1 or 2}; shift ;;
    -h|--help)      usage; exit 0 ;;
    --)             shift; break ;;
    -*)             echo "$prog: unknown option $1" >&2; usage >&2; exit 2 ;;
    *)              break ;;
    esac
    shift
done
if [ $# = 0 ]; then
    if [ "$guests" = 1 ]; then
        set -- "$here/jobs/check.sh"
    else
        set -- "$here/jobs/two-hosts.sh"
    fi
fi
case $accel in tcg|kvm|auto) ;; *) die "--accel: tcg, kvm or auto" ;; esac
case $job_timeout in ''|*[!0-9]*) die "--timeout needs seconds" ;; esac
case $guests in 1|2) ;; *) die "--guests: 1 or 2" ;; esac

[ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot, mount)"
for tool in debootstrap "$qemu" qemu-img mkfs.ext4 tar flock chroot sha256sum \
    git ss; do
    command -v "$tool" >/dev/null ||
        die "$tool not found (apt-get install debootstrap qemu-system-x86" \
            "qemu-utils e2fsprogs util-linux git iproute2)"
done

key=$( { echo "$ROOT_VERSION $suite $mirror"; echo $guest_packages; } |
       sha256sum | cut -c1-16)
root=$cache/root-$key
stamp=$(date -u +%Y%m%d-%H%M%S)
[ -n "$outdir" ] || outdir=$top/build/softroce/$stamp-$$
mkdir -p "$cache" "$outdir" || die "cannot create $cache or $outdir"
outdir=$(cd "$outdir" && pwd)
run=$(mktemp -d "$cache/run-XXXXXX") || die "cannot create a run directory"

# ---- cleanup: whatever happens, no guest, no mount, no disk is left -------
qemu_pids=()
mounted=()
cleanup() {
    local m i pid
    for pid in "${qemu_pids[@]}"; do
        kill -0 "$pid" 2>/dev/null || continue
        say "stopping QEMU (pid $pid)"
        kill "$pid" 2>/dev/null
        for i in 1 2 3 4 5; do
            kill -0 "$pid" 2>/dev/null || break
            sleep 1
        done
        kill -9 "$pid" 2>/dev/null
    done
    for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
        m=${mounted[$i]}
        umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
    done
    mounted=()
    umount_under "$root.tmp"
    if [ $keep_disk = yes ] && [ -f "$run/disk.img" ]; then
        mv "$run/disk.img" "$outdir/disk.img"
    fi
    rm -rf --one-file-system "$run"
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT TERM HUP

# umount_under DIR: unmounts whatever is mounted below DIR (a debootstrap
# or chroot that was interrupted), deepest first, so that removing DIR can
# never reach into /dev or /proc of the host
umount_under() {
    local m
    findmnt -rn -o TARGET | awk -v d="$1/" 'index($0, d) == 1' | sort -r |
    while read -r m; do
        umount "$m" 2>/dev/null || umount -l "$m"
    done
}

# chroot_run ROOT COMMAND...: runs in the root with /proc, /sys, /dev bound
chroot_run() {
    local r=$1 rc
    shift
    chroot_mount "$r" || return 1
    chroot "$r" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
        HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"
    rc=$?
    chroot_umount
    return $rc
}
chroot_mount() {
    local r=$1
    mount -t proc proc "$r/proc" && mounted+=("$r/proc") &&
    mount -t sysfs sys "$r/sys" && mounted+=("$r/sys") &&
    mount --bind /dev "$r/dev" && mounted+=("$r/dev") &&
    mount -t devpts devpts "$r/dev/pts" && mounted+=("$r/dev/pts")
}
chroot_umount() {
    local i
    for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
        umount "${mounted[$i]}" || umount -l "${mounted[$i]}"
    done
    mounted=()
}

# ---- the cached guest root ------------------------------------------------
build_root() {
    local tmp=$root.tmp start=$SECONDS
    umount_under "$tmp"
    rm -rf --one-file-system "$tmp"
    say "building the guest root in $tmp (debootstrap $suite, apt)"
    debootstrap --variant=minbase "$suite" "$tmp" "$mirror" \
        > "$outdir/debootstrap.log" 2>&1 ||
        { tail -n 20 "$outdir/debootstrap.log" >&2
          die "debootstrap failed (log: $outdir/debootstrap.log)"; }
    echo "deb $mirror $suite main" > "$tmp/etc/apt/sources.list"
    # A small initrd (what the guest needs to mount its root, not every
    # driver the kernel has): made faster and boots faster under emulation
    mkdir -p "$tmp/etc/initramfs-tools/conf.d"
    echo MODULES=list > "$tmp/etc/initramfs-tools/conf.d/rsagg-softroce"
    mkdir -p "$tmp/usr/share/initramfs-tools/modules.d"
    printf '%s\n' virtio_pci virtio_blk ext4 crc32c_generic \
        > "$tmp/usr/share/initramfs-tools/modules.d/rsagg-softroce"
    # no daemon may start in the chroot
    printf '#!/bin/sh\nexit 101\n' > "$tmp/usr/sbin/policy-rc.d"
    chmod +x "$tmp/usr/sbin/policy-rc.d"
    chroot_run "$tmp" sh -c "apt-get update -q &&
        apt-get install -y -q --no-install-recommends $(echo $guest_packages) &&
        apt-get clean" > "$outdir/apt.log" 2>&1 ||
        { tail -n 20 "$outdir/apt.log" >&2
          die "apt in the guest root failed (log: $outdir/apt.log)"; }
    rm -f "$tmp/usr/sbin/policy-rc.d"
    echo softroce > "$tmp/etc/hostname"
    printf '127.0.0.1 localhost\n127.0.1.1 softroce\n' > "$tmp/etc/hosts"
    ls "$tmp"/boot/vmlinuz-* "$tmp"/boot/initrd.img-* >/dev/null ||
        die "no kernel or initrd in the guest root"
    touch "$tmp/.rsagg-root-complete"
    umount_under "$root"
    rm -rf --one-file-system "$root" && mv "$tmp" "$root" || die "cannot move $tmp to $root"
    say "guest root ready in $((SECONDS - start))s: $root"
}

# ---- the project, copied into the root and built there --------------------
build_project() {
    local start=$SECONDS src=$root/rsagg/src
    say "copying the project into the guest root and building it"
    mkdir -p "$src" "$root/rsagg/build"
    (cd "$top" && git ls-files -co --exclude-standard -z) |
        tar -C "$top" --null -T - -cf - | tar -C "$src" -xpf - ||
        die "cannot copy $top into the guest root"
    # The guest's init and jobs come from this tree too
    install -m 755 "$here/guest-init.sh" "$root/usr/local/sbin/rsagg-softroce-init"
    chroot_run "$root" bash -c '
        set -e
        cd /rsagg/src
        [ -f configure ] || ./autogen.sh
        cd /rsagg/build
        [ -f config.status ] || /rsagg/src/configure
        make -j"$(nproc)"
        # the test programs (check_PROGRAMS) without running any test
        for d in test/gtest test/mpi test/shmem; do
            progs=$(printf "p:\n\t@echo \$(check_PROGRAMS)\n" |
                    make -s -C $d -f Makefile -f - p)
            [ -z "$progs" ] || make -j"$(nproc)" -C $d $progs
        done
    ' > "$outdir/build.log" 2>&1 ||
        { tail -n 30 "$outdir/build.log" >&2
          die "building the project in the guest root failed" \
              "(log: $outdir/build.log)"; }
    say "project built in $((SECONDS - start))s"
}

# ---- lock: one run at a time changes a cached root ------------------------
exec 9> "$cache/lock"
flock -w 3600 9 || die "another run holds $cache/lock"

if [ $rebuild_root = yes ] || [ ! -f "$root/.rsagg-root-complete" ]; then
    build_root
else
    say "cached guest root: $root"
fi
build_project
[ $image_only = no ] || { say "--image-only: done"; exit 0; }

# ---- the run's disk, kernel, share ----------------------------------------
start=$SECONDS
kernel=$(ls "$root"/boot/vmlinuz-* | sort -V | tail -n 1)
initrd=$(ls "$root"/boot/initrd.img-* | sort -V | tail -n 1)
cp "$kernel" "$run/vmlinuz" && cp "$initrd" "$run/initrd" ||
    die "cannot copy the kernel/initrd"
mkfs.ext4 -q -F -L rsagg-root -d "$root" "$run/disk.img" 8G \
    > "$outdir/mkfs.log" 2>&1 ||
    { cat "$outdir/mkfs.log" >&2; die "mkfs.ext4 -d failed"; }
say "disk image made in $((SECONDS - start))s"
flock -u 9

# ---- the guests -----------------------------------------------------------
# Per guest a directory (one guest: $outdir itself) with share/ (the 9p
# share: job.sh, job.args, job.env, status, out/) and console.log
job=$1
shift
gdir() { if [ "$guests" = 1 ]; then echo "$outdir"; else echo "$outdir/g$1"; fi; }
link_port=$((20000 + $$ % 20000))
for g in $(seq "$guests"); do
    share=$(gdir "$g")/share
    rm -rf --one-file-system "$share"
    mkdir -p "$share/out"
    : > "$share/job.args"
    if [ -f "$job" ]; then
        cp "$job" "$share/job.sh"
        [ $# = 0 ] || printf '%q ' "$@" > "$share/job.args"
    else
        printf '%s\n' "$job $*" > "$share/job.sh"
    fi
    {
        echo "JOB_TIMEOUT=$job_timeout"
        echo "GUESTS=$guests GUEST_INDEX=$g"
        if [ "$guests" = 1 ]; then
            echo "GUEST_IP=10.0.2.15"
        else
            echo "GUEST_IP=10.0.3.$g PEER_IP=10.0.3.$((3 - g))"
        fi
    } > "$share/job.env"
    ln -sfn share/out "$(gdir "$g")/out"
    if [ "$guests" = 1 ]; then
        # user-mode NIC, restrict=on: nothing leaves the guest
        netargs[$g]="-netdev user,id=n0,restrict=on"
    elif [ "$g" = 1 ]; then
        # the two guests' NICs are joined by a TCP socket on loopback
        netargs[$g]="-netdev socket,id=n0,listen=127.0.0.1:$link_port"
    else
        netargs[$g]="-netdev socket,id=n0,connect=127.0.0.1:$link_port"
    fi
    netargs[$g]="${netargs[$g]} -device virtio-net-pci,netdev=n0,mac=52:54:00:12:34:5$g"
    if [ "$guests" = 1 ]; then
        disk[$g]="file=$run/disk.img,format=raw,if=virtio"
    else
        qemu-img create -q -f qcow2 -b "$run/disk.img" -F raw "$run/g$g.qcow2" ||
            die "qemu-img create failed"
        disk[$g]="file=$run/g$g.qcow2,format=qcow2,if=virtio"
    fi
done

if [ $accel = auto ]; then
    accel=tcg
    if [ -c /dev/kvm ] && { exec 8<>/dev/kvm; } 2>/dev/null; then
        exec 8>&-
        accel=kvm
    fi
fi
if [ $accel = kvm ]; then
    accel_args=(-accel kvm -cpu host)
else
    accel_args=(-accel tcg,thread=multi -cpu max)
fi

limit=$((job_timeout + 240))
# boot_guest G: starts QEMU for guest G in the background (pid in qemu_pids)
boot_guest() {
    local g=$1 d
    d=$(gdir "$g")
    # shellcheck disable=SC2086
    timeout -k 10 "$limit" "$qemu" "${accel_args[@]}" -smp "$smp" -m "$mem" \
        -nographic -no-reboot \
        -kernel "$run/vmlinuz" -initrd "$run/initrd" \
        -append "root=/dev/vda rw console=ttyS0 quiet panic=1 init=/usr/local/sbin/rsagg-softroce-init" \
        -drive "${disk[$g]}" ${netargs[$g]} \
        -virtfs "local,path=$d/share,mount_tag=rsagg,security_model=none,id=fs0" \
        < /dev/null > "$d/console.log" 2>&1 &
    qemu_pids+=($!)
}

say "booting $guests guest(s) ($accel, $smp CPUs, $mem each; limit ${limit}s);" \
    "console: $(gdir 1)/console.log"
start=$SECONDS
boot_guest 1
if [ "$guests" = 2 ]; then
    # the second one connects to the first one's link socket
    for i in $(seq 50); do
        ss -ltn 2>/dev/null | grep -q "127.0.0.1:$link_port " && break
        sleep 0.2
    done
    boot_guest 2
fi
# the first guest's console is shown live
tail -n +1 -f --pid="${qemu_pids[0]}" "$(gdir 1)/console.log" 2>/dev/null &
tail_pid=$!
rc=0
for g in $(seq "$guests"); do
    wait "${qemu_pids[$((g - 1))]}"
    qemu_rc[$g]=$?
done
qemu_pids=()
wait $tail_pid 2>/dev/null
elapsed=$((SECONDS - start))

for g in $(seq "$guests"); do
    d=$(gdir "$g")
    if [ -f "$d/share/status" ]; then
        grc=$(cat "$d/share/status")
        say "guest $g ran ${elapsed}s; job exit status $grc; results in $d"
    else
        grc=125
        if [ "${qemu_rc[$g]}" = 124 ] || [ "${qemu_rc[$g]}" = 137 ]; then
            say "guest $g: QEMU killed after ${limit}s: it did not power off"
        else
            say "guest $g: QEMU exited (${qemu_rc[$g]}) after ${elapsed}s" \
                "without a job status"
        fi
        say "console: $d/console.log"
    fi
    [ "$rc" != 0 ] || rc=$grc
done
exit "$rc"
