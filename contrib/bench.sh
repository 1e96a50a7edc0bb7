#!/bin/sh
#
# contrib/bench.sh: run the UCT benchmark of rsagg (test/uctbench/rsagg_bench)
# with the rsagg module preloaded. Builds nothing: build first
# (contrib/check.sh --build-only, or make in your build tree).
#
# Usage: contrib/bench.sh [RSAGG_BENCH OPTIONS...]
#   e.g. contrib/bench.sh --csv bench.csv
#        contrib/bench.sh --tls tcp --eps 64 --sizes 8 --time 2
#   Options are rsagg_bench's (contrib/bench.sh --help lists them). The
#   default run (tcp and posix, short and bcopy, 8/64/256 B, 1/8/64 eps)
#   takes well under a minute.
#
# Build tree: $RSAGG_BUILD_DIR; else ./build next to contrib/ (the one
# contrib/check.sh makes); else the source tree itself (in-tree build).
# Module: $RSAGG_MODULE; else, when the build tree has contrib/rsagg-run,
# what `rsagg-run --print-preload` gives (the module of that tree, after
# the sanitizer runtimes when it was built with them); else
# <build>/src/uct/rsagg/.libs/libuct_rsagg.so.
# Program: $RSAGG_BENCH, else <build>/test/uctbench/rsagg_bench.
#
# Exit status: rsagg_bench's (1 when a run failed its checks), 127 when the
# program or the module is not there.
#

prog=${0##*/}
top=$(cd "$(dirname "$0")/.." && pwd) || exit 127

die() {
    echo "$prog: $*" >&2
    exit 127
}

usage() {
    sed -n '3,/^$/p' "$0" | sed 's/^# \{0,1\}//'
}

if [ -n "${RSAGG_BUILD_DIR:-}" ]; then
    build=$(cd "$RSAGG_BUILD_DIR" && pwd) ||
        die "RSAGG_BUILD_DIR=$RSAGG_BUILD_DIR: no such directory"
elif [ -f "$top/build/test/uctbench/rsagg_bench" ] ||
     [ -f "$top/build/src/uct/rsagg/Makefile" ]; then
    build=$top/build
else
    build=$top
fi

bench=${RSAGG_BENCH:-$build/test/uctbench/rsagg_bench}
case ${1:-} in
-h|--help)
    usage
    if [ -x "$bench" ]; then
        echo
        "$bench" --help
    fi
    exit 0
    ;;
esac

[ -x "$bench" ] ||
    die "$bench not found: build first (contrib/check.sh --build-only," \
        "or make in $build; RSAGG_BUILD_DIR / RSAGG_BENCH choose another)"

launcher=$build/contrib/rsagg-run
if [ -x "$launcher" ]; then
    # It honours RSAGG_MODULE itself
    preload=$("$launcher" --print-preload) || exit 127
elif [ -n "${RSAGG_MODULE:-}" ]; then
    [ -f "$RSAGG_MODULE" ] || die "RSAGG_MODULE=$RSAGG_MODULE: no such file"
    preload=$RSAGG_MODULE
else
    preload=$build/src/uct/rsagg/.libs/libuct_rsagg.so
    [ -f "$preload" ] ||
        die "$preload not found: build the module first, or set RSAGG_MODULE"
fi

exec env LD_PRELOAD="$preload${LD_PRELOAD:+:$LD_PRELOAD}" "$bench" "$@"
