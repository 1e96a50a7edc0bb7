#!/bin/sh
#
# Runs rsagg_gtest with the rsagg module of this build tree preloaded
# (`make check` runs it from test/gtest of the build tree).
#
# The module must exist: in a full build a missing module is an error, not a
# reason to skip, so the rsagg cases are required (RSAGG_REQUIRE=1 makes an
# absent rsagg resource a failure instead of a skip).
#
# Environment: RSAGG_TOP_BUILDDIR (top of the build tree, set by make check;
# default ../..), RSAGG_MODULE (use this module instead), GTEST_FILTER and
# the other GTEST_* variables of googletest.
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
exec "$launcher" ./rsagg_gtest "$@"
