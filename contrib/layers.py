#!/usr/bin/env python3
#
# contrib/layers.py: the layering check of rsagg's module. Builds the call
# graph between the object files of one library from their symbol tables
# (each .o's undefined symbols resolved to the .o that defines them), fails
# on any cycle between different objects, and prints the layers it finds:
# layer 0 calls no other object, layer N calls only objects of lower layers.
#
# Usage: contrib/layers.py [--dot FILE] OBJECT.o...
#   --dot FILE  also write the graph in Graphviz form
#
# A table of function pointers (an ops table, a TL definition) refers to the
# functions it names, so it counts as calls of the object that holds it.
# Exit status: 0 without cycles, 1 with a cycle, 2 on a usage or nm error.
#
import os
import subprocess
import sys


def symbols(obj):
    """(defined, undefined) global symbol names of one object file"""
    out = subprocess.run(["nm", "-P", obj], check=True, capture_output=True,
                         text=True).stdout
    defined, undefined = set(), set()
    for line in out.splitlines():
        fields = line.split()
        if len(fields) < 2:
            continue
        name, kind = fields[0], fields[1]
        if kind == "U":
            undefined.add(name)
        elif kind.isupper():          # global: T, D, B, R, ...
            defined.add(name)
    return defined, undefined


def name_of(obj):
    base = os.path.basename(obj)
    return base[:-2] if base.endswith(".o") else base


def strongly_connected(nodes, edges):
    """Tarjan's algorithm: the components with more than one node"""
    index, low, stack, on_stack, result = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                result.append(sorted(comp))

    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return result


def layers(nodes, edges):
    """Layer of each node of an acyclic graph: 1 + the highest it calls"""
    level = {}

    def depth(v):
        if v not in level:
            level[v] = 1 + max((depth(w) for w in edges[v]), default=-1)
        return level[v]

    for v in nodes:
        depth(v)
    return level


def main(argv):
    dot = None
    if len(argv) >= 2 and argv[0] == "--dot":
        dot, argv = argv[1], argv[2:]
    if not argv:
        print("usage: layers.py [--dot FILE] OBJECT.o...", file=sys.stderr)
        return 2

    owner, undefined = {}, {}
    try:
        for obj in argv:
            name = name_of(obj)
            defined, undefined[name] = symbols(obj)
            for sym in defined:
                owner[sym] = name
    except (OSError, subprocess.CalledProcessError) as err:
        print("layers.py: %s" % err, file=sys.stderr)
        return 2

    nodes = sorted(undefined)
    edges = {n: set() for n in nodes}
    via = {}
    for name in nodes:
        for sym in undefined[name]:
            target = owner.get(sym)
            if target is not None and target != name:
                edges[name].add(target)
                via.setdefault((name, target), []).append(sym)

    if dot is not None:
        with open(dot, "w") as f:
            f.write("digraph rsagg {\n    rankdir=TB;\n")
            for name in nodes:
                for target in sorted(edges[name]):
                    f.write('    "%s" -> "%s";\n' % (name, target))
            f.write("}\n")

    cycles = strongly_connected(nodes, edges)
    if cycles:
        for comp in cycles:
            print("layers: cycle between %d objects: %s" %
                  (len(comp), " ".join(comp)))
            for a in comp:
                for b in sorted(edges[a] & set(comp)):
                    print("    %s -> %s (%s)" %
                          (a, b, ", ".join(sorted(via[(a, b)])[:4])))
        print("layers: FAILED, %d cycle(s) among %d objects" %
              (len(cycles), len(nodes)))
        return 1

    level = layers(nodes, edges)
    for lv in sorted(set(level.values()), reverse=True):
        members = [n for n in nodes if level[n] == lv]
        for n in members:
            calls = " ".join(sorted(edges[n])) or "-"
            print("layer %d: %-22s calls %s" % (lv, n, calls))
    print("layers: OK, %d objects in %d layers, no cycle" %
          (len(nodes), len(set(level.values()))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
