"""Import cycles of the rnnbench package: strongly connected components of its import graph
(grimp, function-level imports included). A cycle is any component of more than one module.

    python benchmarks/import_cycles.py        # 0 expected; the layers contract in pyproject.toml keeps it so
"""
import sys
import grimp
g = grimp.build_graph("rnnbench")
mods = sorted(g.modules)
index, low, stack, on, out, n = {}, {}, [], set(), [], [0]
sys.setrecursionlimit(10000)
def visit(v):
    index[v] = low[v] = n[0]; n[0] += 1; stack.append(v); on.add(v)
    for w in g.find_modules_directly_imported_by(v):
        if w not in index:
            visit(w); low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        comp = []
        while True:
            w = stack.pop(); on.discard(w); comp.append(w)
            if w == v: break
        if len(comp) > 1: out.append(sorted(comp))
for m in mods:
    if m not in index: visit(m)
print(f"{len(mods)} modules, {len(out)} import cycles (SCCs):", [len(c) for c in out])
for c in out: print("  ", c)
