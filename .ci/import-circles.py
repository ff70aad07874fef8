#!/usr/bin/env python3
"""Fails when the Rust files of a crate import each other in a circle.

A file imports another when it names an item by a path into it: `crate::a::b::Item`,
`super::x::Item`, or `use` groups of such paths. Each path is resolved to the deepest module
file that exists (`src/a/b.rs` or `src/a/b/mod.rs`); `mod` declarations are not imports. The
circles are found as strongly connected components of the file graph (Tarjan) and printed with
the names that tie them. Usage: import-circles.py CRATE_SRC_DIR...
"""
import re
import sys
from pathlib import Path

PATH = re.compile(r'\b(crate|super)((?:::[A-Za-z_][A-Za-z0-9_]*)+)')
GROUP = re.compile(r'\b(crate|super)((?:::[A-Za-z_][A-Za-z0-9_]*)*)::\{([^;]*?)\}', re.S)
COMMENT = re.compile(r'//[^\n]*')


def module_of(root: Path, file: Path) -> list[str]:
    parts = list(file.relative_to(root).with_suffix('').parts)
    if parts[-1] in ('mod', 'lib', 'main'):
        parts.pop()
    return parts


def file_of(root: Path, segments: list[str]) -> Path | None:
    for n in range(len(segments), 0, -1):
        base = root.joinpath(*segments[:n])
        for candidate in (base.with_suffix('.rs'), base / 'mod.rs'):
            if candidate.is_file():
                return candidate
    return None


def targets(root: Path, file: Path, text: str):
    here = module_of(root, file)
    # A file that is a module's own file (`a.rs` or `a/mod.rs`) is `here`; `super` is its parent.
    paths = [(m.group(1), m.group(2)) for m in PATH.finditer(text)]
    for m in GROUP.finditer(text):
        for item in re.split(r',', m.group(3)):
            item = item.strip().split(' as ')[0].strip('{} \n')
            if item and item != 'self' and re.match(r'[A-Za-z_]', item):
                paths.append((m.group(1), m.group(2) + '::' + item.replace('{', '').split('::{')[0]))
    for anchor, rest in paths:
        segments = [s for s in rest.split('::') if s]
        if anchor == 'super':
            while segments and segments[0] == 'super':
                segments.pop(0)
                here = here[:-1] if here else here
            base = here[:-1]
        else:
            base = []
        target = file_of(root, base + segments)
        if target is not None and target != file:
            yield target, segments[-1] if segments else ''


def circles(root: Path):
    files = sorted(p for p in root.rglob('*.rs'))
    edges: dict[Path, dict[Path, set[str]]] = {f: {} for f in files}
    for f in files:
        text = COMMENT.sub('', f.read_text())
        for target, name in targets(root, f, text):
            edges[f].setdefault(target, set()).add(name)
    index, low, stack, on, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10000)
    for f in files:
        if f not in index:
            visit(f)
    return found, edges


def main() -> int:
    failed = False
    for arg in sys.argv[1:]:
        root = Path(arg)
        found, edges = circles(root)
        for component in found:
            failed = True
            print(f'import circle in {root}:')
            for a in component:
                for b in component:
                    if b in edges[a]:
                        names = ', '.join(sorted(edges[a][b]))
                        print(f'  {a} -> {b}: {names}')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
