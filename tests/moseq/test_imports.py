"""ethoflow.moseq has no import circle: module-level and function-local imports both count (read with ``ast``)."""

from __future__ import annotations

import ast
from pathlib import Path

MOSEQ = Path(__file__).resolve().parents[2] / "src" / "ethoflow" / "moseq"
PACKAGE = "ethoflow.moseq"


def _module(path: Path) -> str:
    return PACKAGE if path.stem == "__init__" else f"{PACKAGE}.{path.stem}"


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The moseq modules that ``path`` imports anywhere in its body (``from ethoflow.moseq import x``
    counts ``x`` when it is a module)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name in modules}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(PACKAGE):
            if node.module in modules:
                out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in modules}
    return out - {_module(path)}


def import_graph() -> dict[str, set[str]]:
    """{moseq module: the moseq modules it imports}."""
    paths = sorted(MOSEQ.glob("*.py"))
    modules = {_module(p) for p in paths}
    return {_module(p): _imports(p, modules) for p in paths}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One list of modules per import circle found by a depth-first search (empty: none)."""
    found: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                found.append(path[path.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


def test_the_cycle_finder_finds_a_circle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_moseq_has_no_import_circle():
    graph = import_graph()
    assert f"{PACKAGE}.durations" in graph[f"{PACKAGE}.results"]  # the graph sees function-level imports too
    assert cycles(graph) == []
