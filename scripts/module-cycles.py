#!/usr/bin/env python3
"""Import cycles among the service's modules: which files refer to which (`crate::a::b`, `super::x`, `use` lines),
and the strongly connected components of that graph, largest first. A layer may have cycles inside it; a cycle that
spans layers (domain <-> store, domain <-> http) is a seam that leaks.

Usage: scripts/module-cycles.py [SRC_DIR]   (default: src)
"""
import os
import re
import sys

src = sys.argv[1] if len(sys.argv) > 1 else "src"
files = {}
for root, _, names in os.walk(src):
    for n in names:
        if n.endswith(".rs"):
            p = os.path.join(root, n)
            rel = os.path.relpath(p, src)[:-3]
            parts = rel.split(os.sep)
            if parts[-1] in ("mod", "lib", "main"):
                parts = parts[:-1]
            files[tuple(parts)] = p

def resolve(path):
    """The longest known module that is a prefix of `path`."""
    for i in range(len(path), 0, -1):
        if tuple(path[:i]) in files:
            return tuple(path[:i])
    return None

edges = {m: set() for m in files}
for mod, p in files.items():
    text = open(p, encoding="utf-8").read()
    text = re.sub(r"//[^\n]*", "", text)
    # A unit-test module's imports are not the module's.
    text = text.split("#[cfg(test)]\nmod tests")[0]
    for m in re.finditer(r"\bcrate((?:::\w+)+)", text):
        target = resolve(m.group(1).strip(":").split("::"))
        if target and target != mod:
            edges[mod].add(target)
    for m in re.finditer(r"\bsuper((?:::\w+)+)", text):
        base = list(mod[:-1]) if not p.endswith(("mod.rs",)) else list(mod[:-1])
        target = resolve(base + m.group(1).strip(":").split("::"))
        if target and target != mod:
            edges[mod].add(target)
    # `use crate::{a, b::c}` groups.
    for m in re.finditer(r"use crate::\{([^;]*)\};", text, re.S):
        for item in re.findall(r"(\w+(?:::\w+)*)", m.group(1)):
            target = resolve(item.split("::"))
            if target and target != mod:
                edges[mod].add(target)

# Tarjan's strongly connected components.
index, low, stack, on, comps = {}, {}, [], set(), []
sys.setrecursionlimit(10000)
def visit(v):
    index[v] = low[v] = len(index)
    stack.append(v); on.add(v)
    for w in edges[v]:
        if w not in index:
            visit(w); low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        comp = []
        while True:
            w = stack.pop(); on.discard(w); comp.append(w)
            if w == v:
                break
        comps.append(comp)
for v in edges:
    if v not in index:
        visit(v)
comps = sorted((c for c in comps if len(c) > 1), key=len, reverse=True)
print(f"{len(files)} modules; cycles: {[len(c) for c in comps] or 'none'}")
for c in comps:
    print(f"\n{len(c)} modules:", ", ".join(sorted("::".join(m) or "crate" for m in c)))
