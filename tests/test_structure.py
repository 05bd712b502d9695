"""The library's structure, read like the feature list of issue #25 (static checks with ``ast``, no import).

- ethoflow has no import circles (module-level and function-local imports, relative imports resolved).
- No function is over 110 lines.
- Public functions and methods take at most 8 parameters.
- A module over 500 lines says why at its top, on a docstring line starting with ``Why this module is long:``.
- Every subpackage's ``__init__`` follows the one export pattern of :mod:`ethoflow.core.lazy`.
- acoustic is split into subpackages (at most 10 modules directly in it); hbehave's io is a package.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "ethoflow"

MAX_FUNCTION_LINES = 110
MAX_PUBLIC_PARAMETERS = 8
MAX_MODULE_LINES = 500
# A module over MAX_MODULE_LINES lines states why, on a line of its module docstring that starts with this
# marker, followed by the reason (e.g. "Why this module is long: one table of the 40 ANIMAL-SPOT options.").
LONG_MODULE_MARKER = "Why this module is long:"
MAX_ACOUSTIC_TOP_MODULES = 10
# Decorators that make a method framework plumbing rather than a public API (pydantic validators and
# serialisers); their parameters are fixed by the framework.
FRAMEWORK_DECORATORS = {
    "field_validator",
    "model_validator",
    "validator",
    "root_validator",
    "field_serializer",
    "model_serializer",
    "computed_field",
}


@dataclass(frozen=True)
class Module:
    name: str  # dotted, e.g. "ethoflow.acoustic.inference.predict"
    path: Path
    is_package: bool  # an __init__.py

    @property
    def rel(self) -> str:
        return str(self.path.relative_to(SRC))


@cache
def modules() -> dict[str, Module]:
    """Every module of ethoflow by dotted name."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        name = ".".join(parts)
        found[name] = Module(name, path, is_package)
    return found


@cache
def tree(name: str) -> ast.Module:
    return ast.parse(modules()[name].path.read_text(encoding="utf-8"))


def lazy_exports_table(name: str, module: ast.Module | None = None) -> dict[str, str] | None:
    """A package's ``_EXPORTS`` literal as public name -> fully qualified defining module (the table itself
    maps each module, relative to the package or absolute, to the names it defines), or None."""
    for node in (module or tree(name)).body:
        if (
            isinstance(node, ast.Assign)
            and [getattr(t, "id", None) for t in node.targets] == ["_EXPORTS"]
            and isinstance(node.value, ast.Dict)
        ):
            try:
                table = ast.literal_eval(node.value)
            except ValueError:
                return None
            if not all(isinstance(names, tuple | list) for names in table.values()):
                return None
            return {
                public: mod if mod.startswith("ethoflow.") else f"{name}.{mod}"
                for mod, names in table.items()
                for public in names
            }
    return None


# --- the import graph ---------------------------------------------------------------------------------


def _type_checking_nodes(module: ast.Module) -> set[int]:
    """ids of the nodes under ``if TYPE_CHECKING:`` (never executed, so no runtime dependency)."""
    skipped: set[int] = set()
    for node in ast.walk(module):
        if isinstance(node, ast.If):
            test = node.test
            flag = test.id if isinstance(test, ast.Name) else getattr(test, "attr", None)
            if flag == "TYPE_CHECKING":
                for child in node.body:
                    skipped.update(id(n) for n in ast.walk(child))
    return skipped


def _absolute(importer: Module, level: int, module: str | None) -> str:
    """The absolute module named by a (possibly relative) ``from ... import`` in ``importer``."""
    if level == 0:
        return module or ""
    base = importer.name.split(".")
    if not importer.is_package:
        base = base[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def _target(name: str) -> str | None:
    """The ethoflow module that ``name`` (a module or a module's attribute) lives in, or None if outside."""
    known = modules()
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def imports_in(importer: Module, module: ast.Module) -> set[str]:
    """The ethoflow modules that ``module`` (the parsed source of ``importer``) imports, at module level or
    inside functions, leaving out those under ``if TYPE_CHECKING:``.

    ``from pkg import x`` depends on the submodule ``pkg.x`` when there is one, else on the module that
    ``pkg``'s ``_EXPORTS`` names for ``x`` (a lazy package only forwards), else on ``pkg`` itself. A lazy
    package depends on every module it exports (importing it as a whole may use any of them).
    """
    skipped = _type_checking_nodes(module)
    deps: set[str] = set()
    for node in ast.walk(module):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                if (target := _target(alias.name)) is not None:
                    deps.add(target)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(importer, node.level, node.module)
            table = (lazy_exports_table(base) if base in modules() else None) or {}
            for alias in node.names:
                if f"{base}.{alias.name}" in modules():
                    deps.add(f"{base}.{alias.name}")
                elif alias.name in table:
                    deps.add(table[alias.name])
                elif (target := _target(base)) is not None:
                    deps.add(target)
    if importer.is_package and importer.name in modules():
        deps.update((lazy_exports_table(importer.name) or {}).values())
    deps.discard(importer.name)
    return {d for d in deps if d in modules()}


def import_graph() -> dict[str, set[str]]:
    return {name: imports_in(module, tree(name)) for name, module in modules().items()}


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components of ``graph`` with more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(components)


def cycle_in(component: list[str], graph: dict[str, set[str]]) -> list[str]:
    """One import cycle through the first module of ``component``, as a path ``a, b, ..., a``."""
    start = component[0]
    members = set(component)
    paths = {start: [start]}
    frontier = [start]
    while frontier:  # breadth first: the shortest cycle back to start
        nxt = []
        for v in frontier:
            for w in sorted(graph[v] & members):
                if w == start:
                    return paths[v] + [start]
                if w not in paths:
                    paths[w] = paths[v] + [w]
                    nxt.append(w)
        frontier = nxt
    raise AssertionError(f"no cycle through {start}")  # a component always has one


def test_import_graph_resolves_relative_local_and_lazy_imports_and_names_a_cycle():
    source = """
from typing import TYPE_CHECKING
from . import numerics
from .io import read_json
from ethoflow.core import load_section
import ethoflow.core.seed as seed
import numpy


def f():
    from ethoflow.core.stage import run_stage


if TYPE_CHECKING:
    from ethoflow.core.records import Record
"""
    importer = Module("ethoflow.core.example", PACKAGE / "core" / "example.py", is_package=False)
    assert imports_in(importer, ast.parse(source)) == {
        "ethoflow.core.numerics",  # relative, a submodule
        "ethoflow.core.io",  # relative, a name of a module
        "ethoflow.core.params",  # through the lazy package's _EXPORTS to the defining module
        "ethoflow.core.seed",
        "ethoflow.core.stage",  # function-local
    }
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a", "e"}, "e": set()}
    assert strongly_connected(graph) == [["a", "b", "c"]]
    assert cycle_in(["a", "b", "c"], graph) == ["a", "b", "c", "a"]


def test_ethoflow_has_no_import_circles():
    graph = import_graph()
    circles = [f"{', '.join(c)} (e.g. {' -> '.join(cycle_in(c, graph))})" for c in strongly_connected(graph)]
    assert not circles, "import circles (modules importing each other, directly or not):\n" + "\n".join(circles)


# --- functions ----------------------------------------------------------------------------------------


def _functions(module: ast.Module):
    """(qualified name, node, is public API) for every function; nested functions are never public API."""

    def walk(body, prefix: str, public_scope: bool):
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                qual = f"{prefix}{node.name}"
                yield qual, node, public_scope and not node.name.startswith("_")
                yield from walk(node.body, f"{qual}.", False)
            elif isinstance(node, ast.ClassDef):
                yield from walk(node.body, f"{prefix}{node.name}.", public_scope and not node.name.startswith("_"))
            else:  # if/try/with/for at module or class level: the definitions inside them
                for field in ("body", "orelse", "finalbody"):
                    yield from walk(getattr(node, field, []), prefix, public_scope)
                for handler in getattr(node, "handlers", []):
                    yield from walk(handler.body, prefix, public_scope)

    yield from walk(module.body, "", True)


def _decorator_names(node: ast.AST) -> set[str]:
    names = set()
    for dec in node.decorator_list:
        target = dec.func if isinstance(dec, ast.Call) else dec
        names.add(target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", ""))
    return names


def test_no_function_is_over_110_lines():
    long = []
    for name, module in modules().items():
        for qual, node, _ in _functions(tree(name)):
            lines = node.end_lineno - node.lineno + 1
            if lines > MAX_FUNCTION_LINES:
                long.append(f"{lines:4d} {module.rel}:{qual}")
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines:\n" + "\n".join(sorted(long, reverse=True))


def test_public_functions_take_at_most_8_parameters():
    """Positional and keyword-only parameters, not counting self/cls, *args and **kwargs."""
    many = []
    for name, module in modules().items():
        for qual, node, public in _functions(tree(name)):
            if not public or _decorator_names(node) & FRAMEWORK_DECORATORS:
                continue
            args = node.args
            params = [a.arg for a in args.posonlyargs + args.args + args.kwonlyargs if a.arg not in ("self", "cls")]
            if len(params) > MAX_PUBLIC_PARAMETERS:
                many.append(f"{len(params):4d} {module.rel}:{qual}")
    assert not many, f"public functions with over {MAX_PUBLIC_PARAMETERS} parameters:\n" + "\n".join(
        sorted(many, reverse=True)
    )


# --- modules and packages -----------------------------------------------------------------------------


def test_every_module_over_500_lines_says_why_at_its_top():
    unexplained = []
    for name, module in modules().items():
        lines = len(module.path.read_text(encoding="utf-8").splitlines())
        if lines <= MAX_MODULE_LINES:
            continue
        doc = ast.get_docstring(tree(name)) or ""
        reasons = [ln.strip() for ln in doc.splitlines() if ln.strip().startswith(LONG_MODULE_MARKER)]
        if not any(r[len(LONG_MODULE_MARKER) :].strip() for r in reasons):
            unexplained.append(f"{lines:5d} {module.rel}")
    assert not unexplained, (
        f"modules over {MAX_MODULE_LINES} lines without a '{LONG_MODULE_MARKER} <reason>' docstring line:\n"
        + "\n".join(sorted(unexplained, reverse=True))
    )


def _defines(module_name: str, public: str) -> bool:
    """Whether ``module_name`` binds ``public`` at its top level (def, class, assignment, import, export)."""
    if public in (lazy_exports_table(module_name) or {}):
        return True
    for node in tree(module_name).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == public:
            return True
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if any(getattr(n, "id", None) == public for n in ast.walk(target)):
                    return True
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            if any((a.asname or a.name).split(".")[0] == public for a in node.names):
                return True
    return False


def export_pattern_problems(name: str, module: ast.Module | None = None) -> list[str]:
    """How package ``name``'s ``__init__`` departs from the export pattern of :mod:`ethoflow.core.lazy`.

    The pattern: a module docstring, then exactly::

        from ethoflow.core.lazy import lazy_exports

        _EXPORTS = {"<module>": ("public_name", ...), ...}   # a literal table, modules relative to the package
        __getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)

    and nothing else (no import of a submodule, no code run at import); every module in the table lies
    inside the package and defines the name. A package with no package-level API (its modules are imported
    by their full name) has a docstring only.
    """
    module = module or tree(name)
    body = module.body
    if not (body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)):
        return ["no module docstring"]
    statements = [ast.unparse(node) for node in body[1:]]
    if not statements:
        return []  # docstring only: no package-level API
    problems = []
    expected_head = "from ethoflow.core.lazy import lazy_exports"
    expected_tail = ["__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)"]
    table = lazy_exports_table(name, module)
    if len(statements) != 3 or statements[0] != expected_head or statements[2:] != expected_tail or table is None:
        problems.append(
            "is not 'from ethoflow.core.lazy import lazy_exports; _EXPORTS = {<module>: (names...)}; "
            "__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)' (first statements: "
            + "; ".join(s.splitlines()[0] for s in statements[:3])
            + ")"
        )
    for public, module_name in (table or {}).items():
        if not module_name.startswith(f"{name}."):
            problems.append(f"{public!r} comes from {module_name}, outside the package")
        elif module_name not in modules():
            problems.append(f"{public!r} comes from {module_name}, which does not exist")
        elif not _defines(module_name, public):
            problems.append(f"{public!r} is not defined in {module_name}")
    return problems


def test_export_pattern_checker_accepts_the_pattern_and_rejects_eager_imports_and_wrong_tables():
    lazy = """\"\"\"Doc.\"\"\"

from ethoflow.core.lazy import lazy_exports

_EXPORTS = {"params": ("load_section",)}
__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
"""
    assert export_pattern_problems("ethoflow.core", ast.parse(lazy)) == []
    assert export_pattern_problems("ethoflow.core", ast.parse('"""Doc only."""')) == []
    eager = '"""Doc."""\nfrom ethoflow.core.params import load_section\n__all__ = ["load_section"]\n'
    assert len(export_pattern_problems("ethoflow.core", ast.parse(eager))) == 1
    wrong = lazy.replace('"params"', '"io"').replace("{", '{"ethoflow.dispatch.jobs": ("run",), ')
    assert export_pattern_problems("ethoflow.core", ast.parse(wrong)) == [
        "'run' comes from ethoflow.dispatch.jobs, outside the package",
        "'load_section' is not defined in ethoflow.core.io",
    ]


@pytest.mark.parametrize("package", sorted(n for n, m in modules().items() if m.is_package and n != "ethoflow"))
def test_every_subpackage_init_follows_the_one_export_pattern(package):
    problems = export_pattern_problems(package)
    assert not problems, f"{modules()[package].rel}:\n" + "\n".join(problems)


def test_acoustic_is_split_into_subpackages():
    acoustic = PACKAGE / "acoustic"
    top_modules = sorted(p.name for p in acoustic.glob("*.py") if p.name != "__init__.py")
    subpackages = sorted(p.name for p in acoustic.iterdir() if (p / "__init__.py").is_file())
    assert len(top_modules) <= MAX_ACOUSTIC_TOP_MODULES, (
        f"{len(top_modules)} modules directly in src/ethoflow/acoustic (at most {MAX_ACOUSTIC_TOP_MODULES}): "
        + ", ".join(top_modules)
    )
    assert subpackages, "src/ethoflow/acoustic has no subpackages"


def test_hbehave_io_is_a_package_with_one_module_per_format():
    hbehave = PACKAGE / "hbehave"
    assert not (hbehave / "io.py").exists(), "src/ethoflow/hbehave/io.py is one module holding every format"
    assert (hbehave / "io" / "__init__.py").is_file(), "src/ethoflow/hbehave/io/ is not a package"
    readers = [p for p in (hbehave / "io").glob("*.py") if p.name != "__init__.py"]
    assert len(readers) >= 2, "src/ethoflow/hbehave/io/ should hold one module per input format"
