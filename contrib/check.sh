#!/bin/bash
#
# contrib/check.sh: the whole check of rsagg in one command, on a fresh
# Debian 12 machine: installs its apt dependencies, builds out of tree in
# ./build, runs `make check`, builds again with ASan+UBSan in ./build-asan and
# runs the googletest suites (test/unit, test/gtest) there, then the stages
# over the installed UCX's tools: perftest, netns, and UCX's own UCT gtest
# over rsagg (contrib/ucx-gtest.sh, built once into /var/cache/rsagg).
# Re-running reuses what is there.
#
# Usage: contrib/check.sh [--build-only] [--no-deps] [--no-asan]
#   --build-only  install dependencies and build ./build, run no test
#   --no-deps     do not look at / install apt packages
#   --no-asan     skip the sanitizer build and its tests
#
# Environment: JOBS (parallel make jobs, default nproc), CONFIGURE_FLAGS
# (extra flags for both configure runs), STAGE_TIMEOUT (seconds one stage
# may take, default 1800), CHECK_TIMEOUT (seconds for all stages, default
# 4800: CI stops a run at 5400 and the summary must be printed before).
#
# Every stage is counted; the last line is "check: N passed, N failed"
# (", N skipped" when stages were skipped because an earlier one failed).
# Exit status is 0 only when no stage failed.
#
set -u -o pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=$top/build
asan_build=$top/build-asan
logdir=$build/check-logs

jobs=${JOBS:-$(nproc 2>/dev/null || echo 2)}
stage_timeout=${STAGE_TIMEOUT:-1800}
check_timeout=${CHECK_TIMEOUT:-4800}

opt_build_only=no
opt_deps=yes
opt_asan=yes
for arg in "$@"; do
    case $arg in
    --build-only) opt_build_only=yes ;;
    --no-deps)    opt_deps=no ;;
    --no-asan)    opt_asan=no ;;
    -h|--help)    sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'
                  exit 0 ;;
    *)            echo "check.sh: unknown argument $arg" >&2; exit 2 ;;
    esac
done

# Debian packages the build, the tests and the demo need
deps_list="
    autoconf automake libtool pkg-config make gcc g++ dpkg-dev patch
    libucx-dev ucx-utils libibverbs-dev librdmacm-dev libnuma-dev
    googletest libgtest-dev
    openmpi-bin libopenmpi-dev
    clang libclang-rt-14-dev
    iproute2 procps python3
    gnuplot-nox"

sudo=
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null; then
    sudo="sudo"
fi

# OpenMPI refuses to run as root without these; the machine has 2 cores
if [ "$(id -u)" = 0 ]; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
export OMPI_MCA_rmaps_base_oversubscribe=1

start_all=$SECONDS
n_passed=0
n_failed=0
n_skipped=0
failed_stages=()
declare -A stage_ok=()

note() { echo "check.sh: $*"; }

# stage NAME "REQUIRED STAGES" COMMAND...
#   Runs COMMAND (a shell function or program) with a time limit, its output
#   shown and kept in $logdir/NAME.log. Skipped when one of the required
#   stages did not pass.
stage() {
    local name=$1 needs=$2 start rc limit
    shift 2
    for req in $needs; do
        if [ "${stage_ok[$req]:-no}" != yes ]; then
            note "=== $name: SKIPPED (needs $req)"
            n_skipped=$((n_skipped + 1))
            return 0
        fi
    done
    mkdir -p "$logdir"
    note "=== $name: $*"
    start=$SECONDS
    # A stage runs in a subshell with a time limit: a hung test must not eat
    # CI's time. `timeout` needs a program, so export the functions.
    limit=$((check_timeout - (SECONDS - start_all)))
    [ $limit -le "$stage_timeout" ] || limit=$stage_timeout
    if [ $limit -gt 0 ]; then
        timeout -k 30 "$limit" bash -c '"$@"' stage "$@" 2>&1 |
            tee "$logdir/$name.log"
        rc=${PIPESTATUS[0]}
    else
        note "$name: no time left (CHECK_TIMEOUT=${check_timeout}s)"
        rc=124
    fi
    if [ "$rc" = 0 ]; then
        note "--- $name: PASSED ($((SECONDS - start))s)"
        n_passed=$((n_passed + 1))
        stage_ok[$name]=yes
    else
        [ "$rc" != 124 ] || note "$name: timed out after ${limit}s"
        note "--- $name: FAILED (exit $rc, $((SECONDS - start))s," \
             "log: $logdir/$name.log)"
        n_failed=$((n_failed + 1))
        failed_stages+=("$name")
    fi
}

install_deps() {
    local missing=() p
    local deps=($deps_list)
    for p in "${deps[@]}"; do
        dpkg-query -W -f '${db:Status-Abbrev}' "$p" 2>/dev/null |
            grep -q '^ii' || missing+=("$p")
    done
    if [ ${#missing[@]} = 0 ]; then
        echo "all ${#deps[@]} packages installed"
        return 0
    fi
    if [ "$(id -u)" != 0 ] && [ -z "$sudo" ]; then
        echo "missing packages ${missing[*]} and not root (no sudo)" >&2
        return 1
    fi
    echo "installing ${missing[*]}"
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q &&
    $sudo env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends "${missing[@]}"
}

autogen() {
    if [ -f "$top/config.status" ]; then
        echo "$top is configured in-tree; run 'make distclean' there first" \
             "(out-of-tree builds need a clean source tree)" >&2
        return 1
    fi
    "$top/autogen.sh"
}

# configure_in DIR [CONFIGURE ARGS...]
configure_in() {
    local dir=$1
    shift
    mkdir -p "$dir" && cd "$dir" &&
        "$top/configure" "$@" ${CONFIGURE_FLAGS:-}
}

build_in() {
    make -C "$1" -j"$jobs"
}

# Show the test harness's logs of failed tests: CI keeps only the output
show_test_logs() {
    find "$1" -name test-suite.log -newer "$1/config.status" 2>/dev/null |
    while read -r log; do
        if grep -q '^# FAIL: *[1-9]\|^# ERROR: *[1-9]' "$log"; then
            echo "----- $log"
            tail -n 200 "$log"
        fi
    done
}

check_in() {
    local dir=$1 rc
    shift
    make -C "$dir" -j"$jobs" "$@"
    rc=$?
    [ $rc = 0 ] || show_test_logs "$dir"
    return $rc
}

# make install into a staging directory: checks the install rules without
# touching the machine's UCX module directory
install_staged() {
    local stage_dir=$build/stage moduledir
    rm -rf "$stage_dir"
    make -C "$build" install DESTDIR="$stage_dir" || return 1
    moduledir=$(sed -n 's/^ucxmoduledir = //p' "$build/Makefile")
    ls -l "$stage_dir$moduledir/libuct_rsagg.so" &&
        find "$stage_dir" -name rsagg-run -perm -u+x | grep -q .
}

# subdirs BUILD_DIR: the SUBDIRS of the top Makefile
subdirs() {
    printf 'rsagg-print-subdirs:\n\t@echo $(SUBDIRS)\n' |
        make -s -C "$1" -f Makefile -f - rsagg-print-subdirs
}

ucx_src() {
    sed -n 's/^UCX_SRC = //p' "$build/Makefile"
}

sanitize_flags="-fsanitize=address,undefined -fno-omit-frame-pointer"
sanitize_flags="$sanitize_flags -fno-sanitize-recover=undefined -g -O1"

# Sanitizer settings for everything run under ASan: UBSan findings fail the
# test; the configure checks run uninstrumented libraries that leak on
# purpose (global state), so leak checking is off there only.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
asan_configure() {
    ASAN_OPTIONS=detect_leaks=0 configure_in "$asan_build" \
        --with-ucx-src="$(ucx_src)" \
        CFLAGS="$sanitize_flags" CXXFLAGS="$sanitize_flags" \
        LDFLAGS="-fsanitize=address,undefined"
}

# The structure checks: no call cycle between the module's objects (the
# layers are printed), no source file over 700 lines, no function over 80
structure_check() {
    python3 "$top/contrib/layers.py" "$build"/src/uct/rsagg/.libs/*.o &&
        python3 "$top/contrib/sizes.py" "$top"/src/ucs/*.[ch] \
            "$top"/src/uct/rsagg/*.[ch]
}

export -f configure_in build_in check_in show_test_logs install_staged \
    ucx_src asan_configure autogen install_deps structure_check
export top build asan_build jobs sudo sanitize_flags
export deps_list

cd "$top" || exit 1

if [ $opt_deps = yes ]; then
    stage deps "" install_deps
else
    stage_ok[deps]=yes
fi
stage autogen "deps" autogen
stage configure "autogen" configure_in "$build"
stage build "configure" build_in "$build"

if [ $opt_build_only = no ]; then
    # `make check` of every test directory in SUBDIRS (test/unit, test/gtest,
    # test/fuzz fuzzer run, test/mpi, ...), one stage each, so that one
    # failing suite does not hide the others: a new test directory becomes a
    # stage by being added to SUBDIRS.
    if [ "${stage_ok[build]:-no}" = yes ]; then
        test_dirs=$(subdirs "$build" | tr ' ' '\n' | grep '^test/')
    else
        test_dirs=test
    fi
    for dir in $test_dirs; do
        stage "check-${dir#test/}" "build" check_in "$build/$dir" check
    done
    stage install "build" install_staged
    stage structure "build" structure_check

    if [ $opt_asan = yes ]; then
        stage asan-configure "configure" asan_configure
        stage asan-build "asan-configure" build_in "$asan_build"
        stage asan-unit "asan-build" check_in "$asan_build/test/unit" check
        stage asan-gtest "asan-build" check_in "$asan_build/test/gtest" check
    fi

    # Every ucx_perftest test over rsagg, inner tcp and posix
    stage perftest "build" bash "$top/contrib/perftest-check.sh" \
        --launcher "$build/contrib/rsagg-run"

    # Simulated hosts: network namespaces joined by a bridge, perftest and
    # the MPI/OpenSHMEM programs with ranks on different hosts, tcp alone
    # and rsagg over it (needs root, as CI is)
    if [ "$(id -u)" = 0 ]; then
        stage netns "build" env RSAGG_RUN="$build/contrib/rsagg-run" \
            bash "$top/contrib/netns.sh" --timeout 900
    else
        note "netns stage skipped: needs root"
        n_skipped=$((n_skipped + 1))
    fi

    # ---- Extra stages: add new ones here, as -------------------------------
    #   stage NAME "REQUIRED STAGES" COMMAND [ARGS...]
    # COMMAND is a program or a function exported above; it is run with a
    # time limit and counts as one stage in the summary.
    # ------------------------------------------------------------------------

    # README.md's blocks marked runnable, as pasted from the repository root
    # (ucx_info listing, UCT and UCP perftest, a 2-rank MPI run)
    stage readme "build" bash "$top/contrib/readme-check.sh"

    # UCX's own UCT conformance tests (the installed UCX's test/gtest, built
    # once into /var/cache/rsagg) over rsagg, inner tcp and posix; every
    # test not passing is listed in test/ucx-gtest/expected.txt with its
    # reason. Fresh: ~10 min build + ~10 min run; cached: the run only.
    stage ucx-gtest "build" bash "$top/contrib/ucx-gtest.sh" \
        --launcher "$build/contrib/rsagg-run"

    # Soft-RoCE test bed: a QEMU guest (TCG) with a Soft-RoCE device runs
    # the gtest cases, ucx_perftest and the MPI/OpenSHMEM programs over
    # rc_verbs (stage softroce-rc) and ud_verbs (softroce-ud), alone and as
    # rsagg's inner (contrib/softroce.sh, job contrib/softroce/jobs/check.sh).
    # Opt-in with RSAGG_SOFTROCE=1 (needs root; the first run builds a
    # cached guest root in $RSAGG_CACHE, ~12-20 min): each stage takes up to
    # SOFTROCE_TIMEOUT (1380 s) in the guest, and over verbs rsagg still
    # fails (issue 12).
    if [ "${RSAGG_SOFTROCE:-0}" = 1 ] && [ "$(id -u)" = 0 ]; then
        saved_stage_timeout=$stage_timeout
        # guest root (first run) + project build + boot + the job
        stage_timeout=$(( ${SOFTROCE_TIMEOUT:-1380} + 1800 ))
        for tl in rc_verbs ud_verbs; do
            stage "softroce-${tl%_verbs}" "build" \
                bash "$top/contrib/softroce.sh" \
                --timeout "$(( ${SOFTROCE_TIMEOUT:-1380} + 60 ))" \
                --out "$logdir/softroce-${tl%_verbs}" -- \
                "$top/contrib/softroce/jobs/check.sh" --inners "$tl" \
                --budget "${SOFTROCE_TIMEOUT:-1380}"
        done
        stage_timeout=$saved_stage_timeout
    elif [ "${RSAGG_SOFTROCE:-0}" = 1 ]; then
        note "softroce stage skipped: needs root"
        n_skipped=$((n_skipped + 1))
    else
        note "softroce stage not run (RSAGG_SOFTROCE=1 runs it)"
    fi
fi

note "finished in $((SECONDS - start_all))s"
if [ ${#failed_stages[@]} -gt 0 ]; then
    note "failed stages: ${failed_stages[*]}"
fi
summary="check: $n_passed passed, $n_failed failed"
[ $n_skipped = 0 ] || summary="$summary, $n_skipped skipped"
echo "$summary"
[ $n_failed = 0 ]
