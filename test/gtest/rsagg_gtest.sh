#!/bin/sh
#
# Runs rsagg_gtest with the rsagg module of this build tree preloaded
# (`make check` runs it from test/gtest of the build tree).
#
# The module must exist: in a full build a missing module is an error, not a
# reason to skip, so the rsagg cases are required (RSAGG_REQUIRE=1 makes an
# absent rsagg resource a failure instead of a skip).
#
# Each test suite runs in its own process, so a fatal error in one (UCX
# aborts on some internal errors) fails that suite and the others still run.
# The last line sums up all of them: "rsagg_gtest: N passed, N failed,
# N skipped" (a suite that crashed counts as one more failure).
#
# Environment: RSAGG_TOP_BUILDDIR (top of the build tree, set by make check;
# default ../..), RSAGG_MODULE (use this module instead), GTEST_FILTER and
# the other GTEST_* variables of googletest. With GTEST_FILTER or arguments,
# one process runs what they select.
#
top=${RSAGG_TOP_BUILDDIR:-../..}
module=${RSAGG_MODULE:-$top/src/uct/rsagg/.libs/libuct_rsagg.so}
launcher=$top/contrib/rsagg-run

if [ ! -f "$module" ]; then
    echo "rsagg_gtest.sh: $module not found: build the module first" >&2
    exit 99 # hard error for the automake test harness
fi
if [ ! -x "$launcher" ]; then
    echo "rsagg_gtest.sh: $launcher not found: build the top directory" >&2
    exit 99
fi

RSAGG_MODULE=$(cd "$(dirname "$module")" && pwd)/$(basename "$module")
RSAGG_REQUIRE=1
GTEST_COLOR=${GTEST_COLOR:-no}
export RSAGG_MODULE RSAGG_REQUIRE GTEST_COLOR

# The launcher preloads the module (and the sanitizer runtimes first when it
# was built with them)
if [ -n "${GTEST_FILTER:-}" ] || [ $# -gt 0 ]; then
    exec "$launcher" ./rsagg_gtest "$@"
fi

suites=$("$launcher" ./rsagg_gtest --gtest_list_tests |
         sed -n 's/^\([^ #][^ ]*\.\).*$/\1/p')
if [ -z "$suites" ]; then
    echo "rsagg_gtest.sh: rsagg_gtest lists no tests" >&2
    exit 99
fi

out=$(mktemp) || exit 99
trap 'rm -f "$out"' EXIT
rc=0 passed=0 failed=0 skipped=0
for suite in $suites; do
    "$launcher" ./rsagg_gtest --gtest_filter="$suite*" >"$out" 2>&1
    suite_rc=$?
    cat "$out"

    counts=$(sed -n 's/^rsagg_gtest: \([0-9]*\) passed, \([0-9]*\) failed, \([0-9]*\) skipped$/\1 \2 \3/p' "$out" |
             tail -n 1)
    if [ -z "$counts" ]; then
        echo "rsagg_gtest.sh: suite $suite died (exit $suite_rc)"
        counts="0 1 0"
    fi
    set -- $counts
    passed=$((passed + $1))
    failed=$((failed + $2))
    skipped=$((skipped + $3))
    [ "$suite_rc" = 0 ] || rc=1
done

echo "rsagg_gtest: $passed passed, $failed failed, $skipped skipped"
exit $rc
