#!/bin/sh
#
# make check: rsagg_bench briefly, tcp and posix, inner alone and rsagg, with
# the module of this build tree preloaded. It checks correctness only (every
# message delivered once, in order per ep, with its content; no send or
# receive error), never a speed: the benchmark's own exit status says it.
# Then the same checks must catch a message that is missing (--inject-gap),
# so that they are known to be able to fail.
#
# Environment: RSAGG_TOP_BUILDDIR (set by make check; default ../..),
# RSAGG_MODULE (use this module instead).
#
top=${RSAGG_TOP_BUILDDIR:-../..}
launcher=$top/contrib/rsagg-run
bench=./rsagg_bench
log=bench_smoke.log

fail() {
    echo "bench_smoke.sh: $*" >&2
    exit 1
}

[ -x "$launcher" ] || {
    echo "bench_smoke.sh: $launcher not found: build the top directory" >&2
    exit 99 # hard error for the automake test harness
}
[ -x "$bench" ] || {
    echo "bench_smoke.sh: $bench not found: run make" >&2
    exit 99
}

"$launcher" "$bench" --time 0.05 --lat-time 0.02 --eps 1,8 --sizes 8,256 \
        --csv bench_smoke.csv > $log 2>&1
rc=$?
cat $log
[ $rc -eq 0 ] || fail "rsagg_bench failed (exit status $rc)"

# A missing module would make the rsagg runs "skipped" and the check vacuous
# (tcp on lo exists everywhere; posix may not)
grep -q "module: rsagg loaded" $log || fail "the rsagg module was not loaded"
if grep -q "rsagg: skipped: no memory domain rsagg_tcp" $log; then
    fail "no rsagg over tcp: the rsagg runs were skipped"
fi

"$launcher" "$bench" --time 0.02 --lat-time 0 --eps 2 --sizes 8 \
        --ops short --tls tcp --inject-gap > $log 2>&1
rc=$?
[ $rc -eq 1 ] ||
    fail "with --inject-gap, exit status $rc instead of 1: the checks" \
         "did not catch a missing message"
grep -q "rsagg: FAILED: receiver: ep 0: received seq" $log ||
    fail "with --inject-gap, the rsagg run did not report the gap"
echo "bench_smoke.sh: passed (and --inject-gap was caught)"
rm -f $log
exit 0
