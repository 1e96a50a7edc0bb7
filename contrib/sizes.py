#!/usr/bin/env python3
#
# contrib/sizes.py: the size check of rsagg's sources. Fails when a file is
# longer than --max-file lines or a function longer than --max-func lines.
# A function is a body that opens with '{' at column 0 and closes with '}' at
# column 0 (the project's style); static tables and type definitions end in
# '};' and are not functions.
#
# Usage: contrib/sizes.py [--max-file N] [--max-func N] FILE...
# Exit status: 0 when every file and function fits, 1 otherwise.
#
import sys


def functions(lines):
    """(name line, first line number, length) of each function body"""
    start = None
    for no, line in enumerate(lines, 1):
        if line.startswith("{"):
            start = no
        elif start is not None and line.startswith("}"):
            if not line.startswith("};"):
                head = start - 1
                while head > 1 and "(" not in lines[head - 1]:
                    head -= 1
                yield lines[head - 1].strip(), start, no - start + 1
            start = None


def main(argv):
    max_file, max_func, files = 700, 80, []
    while argv:
        arg = argv.pop(0)
        if arg == "--max-file":
            max_file = int(argv.pop(0))
        elif arg == "--max-func":
            max_func = int(argv.pop(0))
        else:
            files.append(arg)

    bad, longest = 0, (0, "", "")
    for path in files:
        with open(path) as f:
            lines = f.read().split("\n")
        if len(lines) - 1 > max_file:
            print("sizes: %s: %d lines (at most %d)" %
                  (path, len(lines) - 1, max_file))
            bad += 1
        for name, first, length in functions(lines):
            longest = max(longest, (length, path, name))
            if length > max_func:
                print("sizes: %s:%d: function of %d lines (at most %d): %s" %
                      (path, first, length, max_func, name))
                bad += 1

    print("sizes: %d files, longest function %d lines (%s: %s)" %
          (len(files), longest[0], longest[1], longest[2]))
    print("sizes: %s" % ("OK" if bad == 0 else "FAILED, %d over" % bad))
    return 0 if bad == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
