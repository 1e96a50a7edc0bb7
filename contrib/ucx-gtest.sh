#!/bin/bash
#
# contrib/ucx-gtest.sh: UCX's own UCT conformance tests (test/gtest of the
# installed UCX's source) over rsagg, inner tcp and inner posix.
#
# Build (once, cached): copies the UCX source tree that rsagg builds against
# (UCX_SRC of ./build, else contrib/ucx-source.sh fetches it) to the cache,
# appends `rsagg` to the transport list of test/gtest/uct/uct_test.h there (a
# sed run here: no UCX code is kept in this repository), configures it with
# the installed UCX's configure flags (`ucx_info -v`) and builds only the
# UCT part of its gtest, linked against the *installed* UCX libraries: the
# rsagg module is built for those and must run inside them. A cached build
# is reused while its recipe (source, flags, this script's build steps) is
# unchanged; it is rebuilt when missing or stale.
#
# Run: every test instantiated for transport rsagg (gtest names
# rsagg/<suite>.<test>/<n>), with UCX_RSAGG_TL=tcp (device lo) and
# UCX_RSAGG_TL=posix (device memory), the module preloaded by rsagg-run.
# Each test suite runs in its own process; a watchdog here kills a process
# whose current test runs longer than the per-test limit (a hang), and the
# rest of the suite goes on in a new process, as it does after a crash.
#
# Each test ends as pass, fail, skip (upstream's own skip, with its reason),
# hang or crash. test/ucx-gtest/expected.txt lists every test that does not
# pass, with the reason next to it, one line each:
#   KIND INNERS PATTERN [timeout=SECONDS] REASON
# INNERS: tcp, posix, tcp,posix or *; PATTERN: a glob over <suite>.<test>
# (with /loopback for the loopback variant); KIND one of
#   skip     upstream skips the test at run time, for a reason that holds
#            for the inner transport alone too
#   exclude  not run, for a reason that holds for the inner alone: upstream
#            special-cases the inner transport by name (over rsagg the test
#            means something else), or the inner alone does not finish it
#            within the time limit either
#   inner    fails over the inner transport alone too, the same way (a
#            defect of the installed UCX, not of rsagg)
#   xfail    a known rsagg defect, naming the item of issue 11 (any
#            non-pass outcome is accepted)
#   env      not an outcome: the tests run (alone) with VAR=VALUE[,...] set,
#            written in place of timeout=, e.g. smaller socket buffers so
#            that upstream's fill loop reaches UCS_ERR_NO_RESOURCE
#   slow     not an outcome: the tests run (alone) with the timeout= given,
#            for tests that are long over the inner alone too
# timeout= gives the test its own time limit (a known hang need not cost the
# default). The run fails on any result the list does not expect (a failure,
# hang, crash or skip not listed), on any listed test that now passes (the
# list shrinks as fixes land) and on entries that match no test.
#
# Usage: contrib/ucx-gtest.sh [options]
#   --build-only       build (or check the cache of) the gtest, run nothing
#   --launcher PATH    rsagg-run to use (default: build/contrib/rsagg-run)
#   --ucx-src DIR      UCX source tree (default: UCX_SRC of build/Makefile)
#   --inner LIST       inner transports, comma-separated (default tcp,posix)
#   --filter GLOB      run only tests whose name (<suite>.<test>) matches
#   --expected FILE    list of expected non-passes
#                      (default: test/ucx-gtest/expected.txt)
#   --summary FILE     per-test results, tab-separated, the logs in
#                      FILE without .tsv plus .logs (default: ucx-gtest/
#                      summary.tsv, --baseline summary-baseline.tsv, in the
#                      build tree of the launcher)
#   --no-check         ignore the expected list: every test that does not
#                      pass counts as failed
#   --baseline         run the inner transports' own instantiations (tcp/...,
#                      posix/...) instead of rsagg's, with the same watchdog:
#                      what the inner alone does (implies --no-check)
#
# Environment:
#   RSAGG_CACHE        cache root (default /var/cache/rsagg when writable,
#                      else ~/.cache/rsagg); the build is in
#                      <cache>/ucx-gtest-<debian version>
#   JOBS               parallel make jobs (default nproc)
#   UCX_GTEST_TEST_TIMEOUT  seconds one test may run before it counts as a
#                      hang (default 60: some upstream tests take 30 s on
#                      a loaded 2-core machine over tcp alone)
#   UCX_GTEST_TCP_DEV  device of the inner tcp (default lo)
#
# Prints one line per test that did not pass, a table per suite, and last
# "ucx-gtest: N passed, N failed, N skipped" (skipped: every test the list
# accounts for, of any kind; failed: every result the list does not expect).
# Exit status is 0 only when nothing unexpected happened.
#
set -u -o pipefail

# The whole script is one compound command: bash reads it completely before
# running it, so editing the file during a run does not disturb the run.
{

top=$(cd "$(dirname "$0")/.." && pwd)
prog=ucx-gtest

launcher=$top/build/contrib/rsagg-run
ucx_src=
inners=tcp,posix
filter='*'
expected=$top/test/ucx-gtest/expected.txt
summary=
opt_build_only=no
opt_check=yes
opt_baseline=no
jobs=${JOBS:-$(nproc 2>/dev/null || echo 2)}
test_timeout=${UCX_GTEST_TEST_TIMEOUT:-60}
tcp_dev=${UCX_GTEST_TCP_DEV:-lo}

while [ $# -gt 0 ]; do
    case $1 in
    --build-only) opt_build_only=yes ;;
    --no-check)   opt_check=no ;;
    --baseline)   opt_baseline=yes opt_check=no ;;
    --launcher)   launcher=${2:?--launcher needs a path}; shift ;;
    --ucx-src)    ucx_src=${2:?--ucx-src needs a directory}; shift ;;
    --inner)      inners=${2:?--inner needs a list}; shift ;;
    --filter)     filter=${2:?--filter needs a pattern}; shift ;;
    --expected)   expected=${2:?--expected needs a file}; shift ;;
    --summary)    summary=${2:?--summary needs a file}; shift ;;
    -h|--help)    sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'
                  exit 0 ;;
    *)            echo "$prog: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done

log() { echo "$prog: $*"; }
die() { echo "$prog: error: $*" >&2; exit 1; }

# ---------------------------------------------------------------------------
# The UCX source and the cache
# ---------------------------------------------------------------------------

if [ -z "$ucx_src" ] && [ -f "$top/build/Makefile" ]; then
    ucx_src=$(sed -n 's/^UCX_SRC = //p' "$top/build/Makefile")
fi
cache_root=${RSAGG_CACHE:-}
if [ -z "$cache_root" ]; then
    cache_root=/var/cache/rsagg
    if ! mkdir -p "$cache_root" 2>/dev/null || [ ! -w "$cache_root" ]; then
        cache_root=${XDG_CACHE_HOME:-$HOME/.cache}/rsagg
    fi
fi
mkdir -p "$cache_root" || die "cannot create $cache_root"

if [ -z "$ucx_src" ]; then
    log "no configured build: fetching the UCX source with ucx-source.sh"
    ucx_src=$(bash "$top/contrib/ucx-source.sh" "$cache_root/ucx-src" |
              tail -n 1) || die "could not obtain the UCX source"
fi
[ -f "$ucx_src/test/gtest/uct/uct_test.h" ] ||
    die "$ucx_src has no test/gtest/uct/uct_test.h (pass --ucx-src DIR)"
ucx_src=$(cd "$ucx_src" && pwd)
tag=$(basename "$ucx_src")
tag=${tag#ucx-}
cache=$cache_root/ucx-gtest-$tag
gtest=$cache/build/test/gtest/gtest
# Results go to the build tree of the launcher, not to the shared cache:
# runs from different trees (other worktrees, CI clones) must not mix
if [ -z "$summary" ]; then
    results=$(cd "$(dirname "$launcher")/.." 2>/dev/null && pwd) ||
        results=$cache
    results=$results/ucx-gtest
    summary=$results/summary.tsv
    [ $opt_baseline = no ] || summary=$results/summary-baseline.tsv
fi

# The installed UCX's configure flags, word by word, unexpanded: Debian's
# contain literal ${prefix}
read -r -a ucx_flags <<< "$(ucx_info -v | sed -n 's/^# Configured with: //p')"
[ ${#ucx_flags[@]} -gt 0 ] || die "'ucx_info -v' gives no configure flags"
extra_flags=(--without-java --without-go --enable-gtest --disable-static)

# gtest objects built: the common harness and the UCT tests, without the IB
# ones (uct/ib/*, and test_tag: tag offload, instantiated for rc_mlx5 and
# dc_mlx5 only; they need libuct_ib); the ucs/ucp/ucm tests are not about
# transports.
gtest_objects_re='^(common|uct)/'
gtest_objects_skip_re='^uct/(ib/|gtest-test_tag\.)'
gtest_cxxflags="-O2 -funwind-tables"

# Everything that decides what is built; a cache with another recipe is
# rebuilt
# (the source by what ucx-source.sh fetched, not by its path: CI's clones
# are elsewhere each time)
src_id=$(cat "$ucx_src/.rsagg-source-complete" 2>/dev/null) ||
    src_id="$ucx_src"
recipe="src=$tag $src_id
flags=${ucx_flags[*]} ${extra_flags[*]}
objects=$gtest_objects_re -$gtest_objects_skip_re cxxflags=$gtest_cxxflags
link=installed ucx $(ucx_info -v | sed -n 's/^# Version //p')
patch=rsagg-after-knem-v1"

# Append rsagg to UCT_TEST_NO_SELF_TLS (so it is in UCT_TEST_TLS,
# UCT_TEST_NO_SELF_TLS and UCT_TEST_NO_GPU_MEM_TYPE_TLS): after its last
# entry, knem.
patch_transport_list() {
    local h=$1/test/gtest/uct/uct_test.h
    grep -q '^#define UCT_TEST_NO_SELF_TLS' "$h" ||
        { log "no UCT_TEST_NO_SELF_TLS in $h"; return 1; }
    sed -i '/^#define UCT_TEST_NO_SELF_TLS/,/^$/ {
                s/^\( *\)knem *$/\1knem,                    \\\n\1rsagg/
            }' "$h"
    sed -n '/^#define UCT_TEST_NO_SELF_TLS/,/^$/p' "$h" |
        grep -q '^ *rsagg *$' ||
        { log "could not append rsagg to UCT_TEST_NO_SELF_TLS in $h"; return 1; }
}

# make's view of a variable of an automake Makefile
make_var() {
    printf 'rsagg-print-var:\n\t@echo $(%s)\n' "$2" |
        make -s -C "$1" -f Makefile -f - rsagg-print-var
}

# build_gtest: builds in $cache.tmp and moves it to $cache when done. Each
# step leaves a stamp there: an interrupted build of the same recipe goes on
# where it stopped (make itself is incremental).
build_gtest() {
    local tmp=$cache.tmp objs ldadd
    rm -rf "$cache"
    if [ "$(cat "$tmp/recipe" 2>/dev/null)" != "$recipe" ]; then
        rm -rf "$tmp"
        mkdir -p "$tmp/build" && echo "$recipe" > "$tmp/recipe" || return 1
    else
        log "resuming the build in $tmp"
    fi
    if [ ! -f "$tmp/stamp-src" ]; then
        log "copying $ucx_src to $tmp/src"
        rm -rf "$tmp/src"
        cp -a "$ucx_src" "$tmp/src" && patch_transport_list "$tmp/src" ||
            return 1
        log "autogen.sh"
        (cd "$tmp/src" && ./autogen.sh) > "$tmp/autogen.log" 2>&1 ||
            { tail -n 20 "$tmp/autogen.log"; return 1; }
        touch "$tmp/stamp-src"
    fi
    if [ ! -f "$tmp/stamp-configure" ]; then
        log "configure ${ucx_flags[*]} ${extra_flags[*]}"
        (cd "$tmp/build" &&
            ../src/configure "${ucx_flags[@]}" "${extra_flags[@]}") \
            > "$tmp/configure.log" 2>&1 ||
            { tail -n 20 "$tmp/configure.log"; return 1; }
        # The gtest includes config.h: it must describe the installed UCX
        if ! diff <(ucx_info -b | grep '^#define' |
                    grep -v UCX_CONFIGURE_FLAGS |
                    sed 's/[[:space:]]\+/ /g; s/ $//' | sort) \
                  <(grep '^#define' "$tmp/build/config.h" |
                    grep -v UCX_CONFIGURE_FLAGS |
                    sed 's/[[:space:]]\+/ /g; s/ $//' | sort); then
            log "config.h differs from the installed UCX's (ucx_info -b)"
            return 1
        fi
        touch "$tmp/stamp-configure"
    fi
    # googletest and ucx_perftest's library (used by the uct perf tests)
    # are convenience libraries; the latter's LIBADD names the tree's
    # libraries, which are not built: the gtest links the installed ones.
    log "building googletest and libucxperf"
    make -C "$tmp/build/test/gtest/common/googletest" -j"$jobs" \
        BASE_CXXFLAGS="$gtest_cxxflags" CXXFLAGS=-Wno-error \
        > "$tmp/make.log" 2>&1 &&
    make -C "$tmp/build/src/tools/perf/lib" -j"$jobs" libucxperf.la \
        libucxperf_la_LIBADD= libucxperf_la_DEPENDENCIES= \
        BASE_CFLAGS="$gtest_cxxflags" BASE_CXXFLAGS="$gtest_cxxflags" \
        CFLAGS=-Wno-error CXXFLAGS=-Wno-error >> "$tmp/make.log" 2>&1 ||
        { tail -n 30 "$tmp/make.log"; return 1; }
    objs=$(make_var "$tmp/build/test/gtest" am_gtest_OBJECTS | tr ' ' '\n' |
           grep -E "$gtest_objects_re" | grep -Ev "$gtest_objects_skip_re" |
           tr '\n' ' ')
    ldadd="../../src/tools/perf/lib/libucxperf.la"
    ldadd="$ldadd common/googletest/libgtest.la -lucp -luct -lucs -lucm"
    log "building gtest ($(echo $objs | wc -w) objects)"
    make -C "$tmp/build/test/gtest" -j"$jobs" gtest \
        gtest_OBJECTS="$objs" gtest_DEPENDENCIES= gtest_LDADD="$ldadd" \
        BASE_CXXFLAGS="$gtest_cxxflags" CXXFLAGS=-Wno-error \
        >> "$tmp/make.log" 2>&1 ||
        { tail -n 30 "$tmp/make.log"; return 1; }
    # It must run on the installed UCX, nothing of the tree
    if ldd "$tmp/build/test/gtest/gtest" | grep -q "$tmp"; then
        log "gtest links libraries of the tree:"
        ldd "$tmp/build/test/gtest/gtest" | grep "$tmp"
        return 1
    fi
    mv "$tmp" "$cache"
}

exec 9> "$cache_root/.ucx-gtest.lock"
flock 9 || die "cannot lock $cache_root/.ucx-gtest.lock"
if [ -x "$gtest" ] && [ "$(cat "$cache/recipe" 2>/dev/null)" = "$recipe" ]
then
    log "reusing the gtest built in $cache"
else
    [ -d "$cache" ] && log "cached gtest in $cache is stale: rebuilding"
    start=$SECONDS
    build_gtest || die "building the gtest failed (logs in $cache.tmp)"
    log "gtest built in $((SECONDS - start))s"
fi
flock -u 9

[ $opt_build_only = no ] || exit 0

# ---------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------

[ -x "$launcher" ] || die "no launcher $launcher (build rsagg first)"
[ $opt_check = no ] || [ -f "$expected" ] || die "no expected list $expected"

# The expected list. Entries: KIND INNERS PATTERN [timeout=SECONDS] REASON
exp_kind=() exp_inner=() exp_pat=() exp_reason=() exp_used=() exp_limit=()
if [ $opt_check = yes ]; then
    lineno=0
    while read -r kind inner pat reason; do
        lineno=$((lineno + 1))
        case $kind in ''|'#'*) continue ;; esac
        case $kind in
        skip|exclude|inner|xfail|env|slow) ;;
        *) die "$expected:$lineno: kind '$kind' is not one of" \
               "skip, exclude, inner, xfail, env, slow" ;;
        esac
        limit=
        if [ "$kind" = env ]; then
            # env INNERS PATTERN VAR=VALUE[,VAR=VALUE...] REASON
            limit=${reason%% *}
            reason=${reason#"$limit"}
            reason=${reason#"${reason%%[! ]*}"}
        fi
        case $reason in
        timeout=*) limit=${reason%% *}; limit=${limit#timeout=}
                   reason=${reason#timeout=$limit}
                   reason=${reason#"${reason%%[! ]*}"} ;;
        esac
        [ -n "$reason" ] ||
            die "$expected:$lineno: $pat has no reason written next to it"
        exp_kind+=("$kind") exp_inner+=("$inner") exp_pat+=("$pat")
        exp_reason+=("$reason") exp_used+=(0) exp_limit+=("$limit")
    done < "$expected"
fi

# lookup INNER ID [aux]: sets e to the index of the first matching entry
# (with "aux" of kind env or slow, which only set how a test runs; without,
# of the other kinds, which say what it ends with), or -1
lookup() {
    local i
    for i in "${!exp_kind[@]}"; do
        case ${3:-}:${exp_kind[$i]} in
        aux:env|aux:slow) ;;
        aux:*|:env|:slow) continue ;;
        esac
        case ",${exp_inner[$i]}," in
        *",$1,"*|*',*,'*) ;;
        *) continue ;;
        esac
        # shellcheck disable=SC2053
        if [[ $2 == ${exp_pat[$i]} ]]; then
            e=$i
            return
        fi
    done
    e=-1
}


IFS=, read -r -a inner_list <<< "$inners"
# the logs go next to the summary: runs with different summaries do not
# disturb each other
logdir=${summary%.tsv}.logs
rm -rf "$logdir"
mkdir -p "$logdir" "$(dirname "$summary")" || exit 1
: > "$summary"

# No freeze on a fatal error (upstream's make sets UCX_HANDLE_ERRORS=freeze):
# a backtrace, also on SIGABRT, which upstream's watchdog sends to a test
# that hangs: the log then shows where it spins
export UCX_HANDLE_ERRORS=bt UCX_ERROR_SIGNALS=ILL,SEGV,BUS,FPE,ABRT
export UCX_LOG_LEVEL=warn UCX_LOG_PRINT_ENABLE=y
export GTEST_COLOR=no

# the transport whose instantiations run: rsagg, or with --baseline the
# inner itself
transport_of() {
    if [ $opt_baseline = yes ]; then echo "$1"; else echo rsagg; fi
}

device_of() {
    case $1 in
    tcp) echo "$tcp_dev" ;;
    *)   echo memory ;;
    esac
}

# list_tests INNER: the rsagg instantiations on the inner's device, one a
# line: the gtest name (rsagg/<suite>.<test>/<n>) and the id used in the
# results and the expected list, <suite>.<test>, with /<variant> when the
# parameter has one (rsagg/<device>/loopback: sender and receiver are one
# entity)
list_tests() {
    local dev
    dev=$(device_of "$1")
    UCX_RSAGG_TL=$1 "$launcher" "$gtest" --gtest_list_tests \
        --gtest_filter="$(transport_of "$1")/*" 2> "$logdir/list-$1.err" |
    awk -v dev="$dev" '
        /^\[/ { next }
        /^[^ ]/ { suite = $1; sub(/\.$/, "", suite); next }
        /^  / {
            test = $1
            param = $0
            if (!sub(/.*GetParam\(\) = /, "", param))
                param = ""
            # the param is printed as <transport>/<device>[/<variant>]
            n = split(param, p, "/")
            if (n >= 2 && p[2] != dev)
                next
            id = suite "." test
            sub(/^[^\/]*\//, "", id)
            sub(/\/[0-9]+$/, "", id)
            for (i = 3; i <= n; i++)
                id = id "/" p[i]
            print suite "." test, id
        }'
}

# test_id FULLNAME: its id (see list_tests)
test_id() {
    echo "${ids[$1]}"
}

# run_chunk INNER LOG TIMEOUT ENV TEST...: runs the tests in one process
# under the watchdog (TIMEOUT seconds a test), with the variables of ENV
# (VAR=VALUE,...) set; sets chunk_rc and chunk_hung
run_chunk() {
    local inner=$1 out=$2 limit=$3 pid runs last_runs=-1 since=$SECONDS
    local vars=()
    [ -z "$4" ] || IFS=, read -r -a vars <<< "$4"
    shift 4
    local filter
    filter=$(IFS=:; echo "$*")
    [ ${#vars[@]} = 0 ] || echo "environment: ${vars[*]}" > "$out"
    env ${vars[@]+"${vars[@]}"} UCX_RSAGG_TL=$inner \
        "$launcher" stdbuf -o0 -e0 "$gtest" \
        --gtest_filter="$filter" -t "$limit" >> "$out" 2>&1 &
    pid=$!
    chunk_hung=no
    # (stderr of the loop and the wait: the shell's "Aborted" notice of a
    # killed test would clutter the table)
    {
    while kill -0 $pid 2>/dev/null; do
        sleep 0.25
        runs=$(grep -c '^\[ RUN      \]' "$out")
        if [ "$runs" != "$last_runs" ]; then
            last_runs=$runs
            since=$SECONDS
        elif [ $((SECONDS - since)) -gt $((limit + 10)) ]; then
            # upstream's own watchdog (-t) should have fired: ours ends it
            echo "ucx-gtest watchdog: test runs for more than" \
                 "$((limit + 10))s, killing pid $pid" >> "$out"
            chunk_hung=yes
            kill -ABRT $pid 2>/dev/null
            sleep 5
            kill -KILL $pid 2>/dev/null
            break
        fi
    done
    wait $pid
    chunk_rc=$?
    } 2>/dev/null
}

# parse_chunk LOG: one line per test that started:
#   NAME <tab> RESULT <tab> MS <tab> DETAIL   (RESULT: pass fail skip died)
parse_chunk() {
    awk '
        function flush_died() {
            if (cur != "")
                printf "%s\tdied\t%d\t%s\n", cur, 0, detail
            cur = ""
        }
        /^\[ RUN      \] / {
            flush_died()
            cur = $4; skip = ""; detail = ""; want = 0
            next
        }
        cur == "" { next }
        /^\[     SKIP \]/ {
            skip = $0
            sub(/^\[     SKIP \] */, "", skip)
            if (skip == "") skip = "(no reason given)"
            next
        }
        /^\[       OK \] / || /^\[  FAILED  \] / {
            ms = $0
            if (match(ms, /\([0-9]+ ms\)$/))
                ms = substr(ms, RSTART + 1, RLENGTH - 5)
            else
                ms = 0
            if ($0 ~ /^\[       OK \]/) {
                if (skip != "")
                    printf "%s\tskip\t%d\t%s\n", cur, ms, skip
                else
                    printf "%s\tpass\t%d\t\n", cur, ms
            } else {
                printf "%s\tfail\t%d\t%s\n", cur, ms, detail
            }
            cur = ""
            next
        }
        want && detail == "" && NF > 0 {
            detail = $0
            gsub(/\t/, " ", detail)
            gsub(/^ +/, "", detail)
            want = 0
            next
        }
        / Failure$/ && detail == "" { want = 1; next }
        (/ Error: / || /^\[[^]]*\] *.*(error|Assertion|abort)/) &&
            detail == "" {
            detail = $0
            gsub(/\t/, " ", detail)
        }
        END { flush_died() }
    ' "$1"
}

# run_suite INNER SUITE TEST...: all tests of one suite, in one process but
# for those the list gives a time limit of their own (each alone); a test
# that hangs or crashes ends its process, the rest go on in a new one
run_suite() {
    local inner=$1 suite=$2 name
    shift 2
    local common=()
    for name in "$@"; do
        if [ -n "${limits[$name]:-}${envs[$name]:-}" ]; then
            run_group "$inner" "$suite" "${limits[$name]:-$test_timeout}" \
                "${envs[$name]:-}" "$name"
        else
            common+=("$name")
        fi
    done
    [ ${#common[@]} = 0 ] ||
        run_group "$inner" "$suite" "$test_timeout" "" "${common[@]}"
}

# run_group INNER SUITE TIMEOUT ENV TEST...
run_group() {
    local inner=$1 suite=$2 limit=$3 vars=$4 out line name result ms detail
    shift 4
    local remaining=("$@") done_list
    while [ ${#remaining[@]} -gt 0 ]; do
        chunk_no=$((chunk_no + 1))
        out=$logdir/$inner/${suite//\//_}.$chunk_no.log
        run_chunk "$inner" "$out" "$limit" "$vars" "${remaining[@]}"
        declare -A seen=()
        died=no
        while IFS=$'\t' read -r name result ms detail; do
            seen[$name]=1
            if [ "$result" = died ]; then
                died=yes
                if [ $chunk_hung = yes ] ||
                   grep -q 'abort testing' "$out"; then
                    result=hang
                    detail="no progress for ${limit}s"
                else
                    result=crash
                    detail="process ended (exit $chunk_rc)${detail:+: $detail}"
                fi
                detail="$detail; log $out"
            fi
            printf '%s\t%s\t%s\t%s\t%s\n' "$inner" "$(test_id "$name")" \
                "$result" "$ms" "$detail" >> "$summary"
        done < <(parse_chunk "$out")
        done_list=()
        for name in "${remaining[@]}"; do
            [ -n "${seen[$name]:-}" ] || done_list+=("$name")
        done
        if [ ${#done_list[@]} = ${#remaining[@]} ]; then
            # the process ran none of them: do not loop
            for name in "${remaining[@]}"; do
                printf '%s\t%s\tcrash\t0\t%s\n' "$inner" "$(test_id "$name")" \
                    "not started (exit $chunk_rc); log $out" >> "$summary"
            done
            break
        fi
        if [ $died = no ] && [ "$chunk_rc" -gt 1 ]; then
            # every test ended but the process did not exit cleanly
            printf '%s\t%s\tcrash\t0\t%s\n' "$inner" "${suite#*/}.(exit)" \
                "process exit $chunk_rc after its last test; log $out" \
                >> "$summary"
        fi
        remaining=("${done_list[@]}")
        unset seen
    done
}

start_run=$SECONDS
chunk_no=0
for inner in "${inner_list[@]}"; do
    mkdir -p "$logdir/$inner"
    declare -A ids=()
    all=()
    while read -r name id; do
        all+=("$name")
        ids[$name]=$id
    done < <(list_tests "$inner")
    selected=()
    declare -A limits=() envs=()
    for name in "${all[@]}"; do
        # shellcheck disable=SC2053
        [[ ${ids[$name]} == $filter ]] || continue
        lookup "$inner" "${ids[$name]}"
        if [ $e -ge 0 ] && [ "${exp_kind[$e]}" = exclude ]; then
            printf '%s\t%s\texcluded\t0\t%s\n' "$inner" "${ids[$name]}" \
                "${exp_reason[$e]}" >> "$summary"
            continue
        fi
        [ $e -lt 0 ] || [ -z "${exp_limit[$e]}" ] ||
            limits[$name]=${exp_limit[$e]}
        lookup "$inner" "${ids[$name]}" aux
        if [ $e -ge 0 ]; then
            if [ "${exp_kind[$e]}" = env ]; then
                envs[$name]=${exp_limit[$e]}
            elif [ -z "${limits[$name]:-}" ]; then
                limits[$name]=${exp_limit[$e]}
            fi
            exp_used[$e]=1
        fi
        selected+=("$name")
    done
    log "inner $inner (device $(device_of "$inner")):" \
        "${#selected[@]} of ${#all[@]} tests"
    if [ ${#all[@]} = 0 ]; then
        log "no rsagg tests listed for inner $inner:"
        sed 's/^/    /' "$logdir/list-$inner.err" | tail -n 10
        printf '%s\t%s\tcrash\t0\t%s\n' "$inner" "(list)" \
            "no rsagg instantiation listed" >> "$summary"
        continue
    fi
    # suites in listing order, each with its tests
    suites=()
    declare -A suite_tests=()
    for name in "${selected[@]}"; do
        suite=${name%%.*}
        [ -n "${suite_tests[$suite]:-}" ] || suites+=("$suite")
        suite_tests[$suite]+="$name "
    done
    for suite in "${suites[@]}"; do
        s0=$SECONDS
        # shellcheck disable=SC2086
        run_suite "$inner" "$suite" ${suite_tests[$suite]}
        echo "  $suite: $((SECONDS - s0))s"
    done
    unset suite_tests ids limits envs
done
log "ran in $((SECONDS - start_run))s; results in $summary, logs in $logdir"

# ---------------------------------------------------------------------------
# Verdicts: results against the expected list
# ---------------------------------------------------------------------------

n_pass=0 n_listed=0 n_bad=0
declare -A count=()
verdicts=$summary.verdicts
: > "$verdicts"
while IFS=$'\t' read -r inner id result ms detail; do
    count[$inner:${id%%.*}:$result]=$(( ${count[$inner:${id%%.*}:$result]:-0} + 1 ))
    verdict=ok kind=-
    lookup "$inner" "$id"
    if [ $e -ge 0 ]; then
        kind=${exp_kind[$e]}
        exp_used[$e]=1
    fi
    case $kind:$result in
    -:pass)                            verdict=ok ;;
    skip:skip|exclude:excluded)        verdict=listed ;;
    xfail:fail|xfail:hang|xfail:crash) verdict=listed ;;
    xfail:skip)                        verdict=listed ;;
    inner:fail|inner:hang|inner:crash) verdict=listed ;;
    skip:pass|xfail:pass|inner:pass)   verdict=XPASS ;;
    *)                                 verdict=UNEXPECTED ;;
    esac
    case $verdict in
    ok)     n_pass=$((n_pass + 1)) ;;
    listed) n_listed=$((n_listed + 1)) ;;
    *)      n_bad=$((n_bad + 1)) ;;
    esac
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$inner" "$id" "$result" "$ms" \
        "$kind" "$verdict" "$detail" >> "$verdicts"
done < "$summary"

# Entries that matched no test: stale, when the whole suite ran
n_stale=0
if [ $opt_check = yes ] && [ "$filter" = '*' ]; then
    for i in "${!exp_kind[@]}"; do
        [ "${exp_used[$i]}" = 0 ] || continue
        case ",${exp_inner[$i]}," in
        *',*,'*) ;;
        *) ok=no
           for inner in "${inner_list[@]}"; do
               case ",${exp_inner[$i]}," in *",$inner,"*) ok=yes ;; esac
           done
           [ $ok = yes ] || continue ;;
        esac
        echo "STALE ${exp_kind[$i]} ${exp_inner[$i]} ${exp_pat[$i]}:" \
             "matches no test run"
        n_stale=$((n_stale + 1))
    done
fi

# Per-suite table: pass/fail/skip/hang/crash/excluded for each inner
echo
printf '%-44s' "suite (pass/fail/skip/hang/crash/excluded)"
for inner in "${inner_list[@]}"; do printf ' %-16s' "$inner"; done
echo
cut -f2 "$summary" | sed 's/\..*//' | awk '!seen[$0]++' | while read -r s; do
    printf '%-44s' "$s"
    for inner in "${inner_list[@]}"; do
        c=
        for r in pass fail skip hang crash excluded; do
            c=$c${c:+/}${count[$inner:$s:$r]:-0}
        done
        printf ' %-16s' "$c"
    done
    echo
done

# Every test that did not pass, with what the list says
echo
awk -F'\t' '$3 != "pass" || $6 != "ok" {
    printf "%-5s %-10s %-8s %-7s %s  %s\n", $1, $6, $3, $5, $2, $7 }' \
    "$verdicts"
echo

n_bad=$((n_bad + n_stale))
listed_of() { awk -F'\t' -v k="$1" '$6 == "listed" && $5 == k' "$verdicts" |
              wc -l; }
n_xpass=$(awk -F'\t' '$6 == "XPASS"' "$verdicts" | wc -l)
log "$n_pass pass; listed: $(listed_of skip) skip, $(listed_of exclude)" \
    "exclude, $(listed_of inner) inner, $(listed_of xfail) xfail;" \
    "$((n_bad - n_xpass - n_stale)) unexpected, $n_xpass now passing but" \
    "listed, $n_stale stale list entries"
[ $n_bad = 0 ] || log "unexpected results: see the lines marked UNEXPECTED," \
    "XPASS or STALE above ($expected)"
echo "ucx-gtest: $n_pass passed, $n_bad failed, $n_listed skipped"
[ $n_bad = 0 ]
exit
}
