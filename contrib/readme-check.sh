#!/bin/bash
#
# contrib/readme-check.sh: runs the shell blocks of README.md that are marked
# runnable, as a newcomer pastes them: from the repository root, after the
# README's build command (contrib/check.sh --build-only). A block is marked
# by the line
#     <!-- runnable -->
# right before its ```sh fence (HTML comments do not show on GitHub). Each
# block runs in its own `bash -e -o pipefail` (the first failing command
# fails it) with a time limit; what it started in the background and left
# running is ended after it. The commands and their output are shown.
#
# Usage: contrib/readme-check.sh [--list] [README]
#   --list   only print the marked blocks
#   README   the file to check (README.md of this repository)
#
# Environment: README_TIMEOUT (seconds one block may take, default 300).
# As root, OMPI_ALLOW_RUN_AS_ROOT(_CONFIRM)=1 are exported, as the README
# says to do for mpirun.
#
# Exit status: 0 when every marked block passed; 1 when one failed, when no
# block is marked, or when a marker is not followed by a ```sh block.
#
set -u -o pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
readme=$top/README.md
block_timeout=${README_TIMEOUT:-300}
opt_list=no

while [ $# -gt 0 ]; do
    case $1 in
    --list)    opt_list=yes ;;
    -h|--help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'
               exit 0 ;;
    -*)        echo "readme-check.sh: unknown argument $1" >&2; exit 2 ;;
    *)         readme=$1 ;;
    esac
    shift
done

note() { echo "readme-check: $*"; }

[ -f "$readme" ] || { note "$readme: no such file"; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/readme-check.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT

# Every marked block into $work/block.N.sh, its first line number into
# $work/block.N.line; a marker without a sh block right after it is an error
awk -v work="$work" '
    function fail(msg) {
        print "readme-check: " FILENAME ":" NR ": " msg > "/dev/stderr"
        bad = 1
    }
    in_block && /^```[[:space:]]*$/ { in_block = 0; close(file); next }
    in_block                        { print > file; next }
    marked {
        marked = 0
        if ($0 ~ /^```(sh|bash)[[:space:]]*$/) {
            ++n
            in_block = 1
            file = work "/block." n ".sh"
            printf "" > file
            print NR + 1 > (work "/block." n ".line")
            close(work "/block." n ".line")
            next
        }
        fail("<!-- runnable --> is not followed by a ```sh block")
    }
    /^<!--[[:space:]]*runnable[[:space:]]*-->[[:space:]]*$/ { marked = 1 }
    END {
        if (in_block) fail("a runnable block is not closed")
        if (marked) fail("<!-- runnable --> at the end of the file")
        exit bad
    }' "$readme" || exit 1

blocks=$(ls "$work" | sed -n 's/^block\.\([0-9]*\)\.sh$/\1/p' | sort -n)
if [ -z "$blocks" ]; then
    note "no block of $readme is marked runnable (<!-- runnable --> before" \
         "a \`\`\`sh fence)"
    exit 1
fi

if [ $opt_list = yes ]; then
    for n in $blocks; do
        echo "--- block $n ($readme:$(cat "$work/block.$n.line"))"
        cat "$work/block.$n.sh"
    done
    exit 0
fi

# As the README says for mpirun as root
if [ "$(id -u)" = 0 ]; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi

passed=0
failed=0
for n in $blocks; do
    line=$(cat "$work/block.$n.line")
    echo
    note "=== block $n ($(basename "$readme"):$line):"
    sed 's/^/    $ /' "$work/block.$n.sh"
    start=$SECONDS
    # timeout makes the block a process group of its own (its id is
    # timeout's pid): whatever the block left running in the background is
    # ended with that group
    ( cd "$top" &&
      exec timeout -k 10 "$block_timeout" \
          bash -e -o pipefail "$work/block.$n.sh" \
          < /dev/null > "$work/block.$n.out" 2>&1 ) &
    pid=$!
    wait $pid
    rc=$?
    kill -- -"$pid" 2>/dev/null
    sed 's/^/    | /' "$work/block.$n.out"
    if [ $rc = 0 ]; then
        note "--- block $n: PASSED ($((SECONDS - start))s)"
        passed=$((passed + 1))
    else
        [ $rc != 124 ] || note "block $n: timed out after ${block_timeout}s"
        note "--- block $n: FAILED (exit $rc, $((SECONDS - start))s)"
        failed=$((failed + 1))
    fi
done

echo
note "$passed passed, $failed failed ($(basename "$readme"), runnable blocks)"
[ $failed = 0 ]
