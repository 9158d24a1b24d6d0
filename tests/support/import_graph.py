"""painpa's import graph, read from the source (``ast``, no import runs): which module imports which,
the cycles between modules and between *rooms*, and the imports that run up from a lower room to a
higher one.

A room is a module at a package's top (``cds_service/readiness.py``, ``smart_app/forms.py``) or a
whole sub-package (``cds_service/hooks/``, ``sandbox/fhir/``): the unit a newcomer reads as one
thing. A room's floor is one above the highest room it imports; in a graph without cycles no import
runs up, so the count of imports that run up (to a room on the same floor or higher) is the count
of imports that break "imports point one way".

    python -m tests.support.import_graph [ROOT]     # a summary of the tree at ROOT (default: this checkout)
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

PACKAGES = ("cds_service", "smart_app", "sandbox")
REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Import:
    source: str        # importing module
    target: str        # imported painpa module
    line: int
    in_function: bool  # inside a def: runs when called, not when the module loads
    commented: bool    # a comment on its line or the line above says why


@dataclass
class Graph:
    modules: dict[str, Path]
    imports: list[Import] = field(default_factory=list)
    dynamic: list[tuple[str, int]] = field(default_factory=list)  # importlib / __import__ uses

    def edges(self) -> dict[str, set[str]]:
        out: dict[str, set[str]] = defaultdict(set)
        for imp in self.imports:
            out[imp.source].add(imp.target)
        return out

    def room(self, module: str) -> str:
        parts = module.split(".")
        if len(parts) == 1 or (len(parts) == 2 and self.modules[module].name != "__init__.py"):
            return module
        return ".".join(parts[:2])

    def room_edges(self) -> dict[str, set[str]]:
        out: dict[str, set[str]] = defaultdict(set)
        for imp in self.imports:
            a, b = self.room(imp.source), self.room(imp.target)
            if a != b and "." in b:  # a top-level package's own __init__ holds no code of a room
                out[a].add(b)
        return out


def _module_name(path: Path, root: Path) -> str:
    name = ".".join(path.relative_to(root).with_suffix("").parts)
    return name.removesuffix(".__init__")


def _resolve(name: str, modules: Mapping[str, Path]) -> str | None:
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _commented(lines: list[str], lineno: int) -> bool:
    """A comment on the import's line, or just above the block of imports it belongs to."""
    if "#" in lines[lineno - 1]:
        return True
    above = lineno - 2
    while above >= 0 and lines[above].strip().startswith(("from ", "import ")):
        if "#" in lines[above]:
            return True
        above -= 1
    return above >= 0 and lines[above].strip().startswith("#")


def read(root: Path = REPO, packages: Iterable[str] = PACKAGES) -> Graph:
    modules = {_module_name(p, root): p for pkg in packages for p in sorted((root / pkg).rglob("*.py"))}
    graph = Graph(modules)
    for name, path in modules.items():
        text = path.read_text()
        lines = text.splitlines()
        tree = ast.parse(text)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        functions = {id(n) for f in ast.walk(tree) if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)
                     for n in ast.walk(f)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and (
                    (isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
                    or (isinstance(node.func, ast.Name) and node.func.id in ("__import__", "import_module"))):
                graph.dynamic.append((name, node.lineno))
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package
                    for _ in range(node.level - 1):
                        anchor = anchor.rpartition(".")[0]
                    base = f"{anchor}.{base}" if base else anchor
                # ``from pkg import sub`` names the module pkg.sub when there is one, else pkg itself
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            for target in dict.fromkeys(targets):
                resolved = _resolve(target, modules)
                if resolved and resolved != name:
                    graph.imports.append(Import(name, resolved, node.lineno, id(node) in functions,
                                                _commented(lines, node.lineno)))
    return graph


def cycles(edges: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan, iterative), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    nodes = sorted(set(edges) | {b for bs in edges.values() for b in bs})
    for start in nodes:
        if start in index:
            continue
        work = [(start, iter(sorted(edges.get(start, ()))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def floors(edges: Mapping[str, Iterable[str]]) -> dict[str, int]:
    """Floor 1 for a room that imports no other; else one above the highest it imports (the rooms
    of one cycle share a floor)."""
    component_of = {n: tuple(c) for c in cycles(edges) for n in c}
    nodes = set(edges) | {b for bs in edges.values() for b in bs}
    memo: dict[tuple, int] = {}

    def floor(group: tuple) -> int:
        if group not in memo:
            memo[group] = 0  # a guard: the condensation has no cycle
            below = {component_of.get(b, (b,)) for n in group for b in edges.get(n, ())} - {group}
            memo[group] = 1 + max((floor(g) for g in below), default=0)
        return memo[group]

    return {n: floor(component_of.get(n, (n,))) for n in nodes}


def running_up(edges: Mapping[str, Iterable[str]]) -> list[tuple[str, str]]:
    level = floors(edges)
    return sorted((a, b) for a, bs in edges.items() for b in bs if level[b] >= level[a])


def summary(graph: Graph) -> dict:
    rooms = graph.room_edges()
    product = [i for i in graph.imports if not i.source.startswith("sandbox")]
    return {
        "modules": len(graph.modules),
        "imports": len(graph.imports),
        "rooms": len(set(map(graph.room, graph.modules))),
        "module cycles": cycles(graph.edges()),
        "room cycles": cycles(rooms),
        "imports that run up": len(running_up(rooms)),
        "imports inside functions": sum(i.in_function for i in graph.imports),
        "of them without a reason": sum(i.in_function and not i.commented for i in graph.imports),
        "importlib / __import__": len(graph.dynamic),
        "product imports of sandbox": sum(i.target.startswith("sandbox") for i in product),
    }


if __name__ == "__main__":
    root = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else REPO
    for key, value in summary(read(root)).items():
        print(f"{key}: {value}")
