"""Every stage script has the one shape (issue #15): parse arguments, load params, make one library call.

Read from the source with ``ast`` (nothing is run): a module docstring; ``main(argv=None)`` that declares
and parses its arguments in one ``stage_args(__doc__, argv, ...)`` call, loads its params section with
``load_section`` and then makes exactly one call, into an ``ethoflow.<pkg>`` function (its arguments may
build a typed record of the stage's paths, ``<Name>Paths`` of ``ethoflow.<pkg>.records``); no dispatching in
the script; no path literals (paths come from dvc.yaml's ``cmd``) and no string defaults on arguments;
the options it declares are exactly those its stages' resolved ``cmd`` in dvc.yaml gives it.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = sorted((REPO / "stages").glob("*.py"))

#: calls ``main`` may make besides its one library call
HELPERS = {"stage_args", "load_section"}
#: a string that looks like a path: a/b, or a file name with a data extension
PATHLIKE = re.compile(r"^[\w.{}$-]+(/[\w.{}$-]+)+/?$|^[\w.{}$-]+\.(json|csv|parquet|pt|pkl|zarr|png|h5|npz|yaml|wav)$")


PARAMS = [pytest.param(s, id=s.stem) for s in SCRIPTS]


def _tree(script: Path) -> ast.Module:
    return ast.parse(script.read_text(encoding="utf-8"))


def _main(tree: ast.Module) -> ast.FunctionDef:
    mains = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "main"]
    assert len(mains) == 1, "no (or more than one) top-level main()"
    return mains[0]


def _name(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else "?"


def _imported(tree: ast.Module) -> dict[str, str]:
    """name -> module it is imported from (``from m import name``)."""
    return {a.asname or a.name: n.module for n in tree.body if isinstance(n, ast.ImportFrom) for a in n.names}


def _is_paths_record(call: ast.Call, imports: dict[str, str]) -> bool:
    """A typed record of a stage's paths (``<Name>Paths`` imported from ``ethoflow.<pkg>.records``)."""
    name = _name(call)
    return name.endswith("Paths") and re.fullmatch(r"ethoflow\.\w+\.records", imports.get(name, "")) is not None


def test_there_are_stage_scripts():
    assert len(SCRIPTS) >= 20


@pytest.mark.parametrize("script", PARAMS)
def test_script_has_a_docstring_naming_its_stage(script):
    doc = ast.get_docstring(_tree(script))
    assert doc, "no module docstring"
    assert doc.startswith(f"{script.stem}:"), f"the docstring starts with '{script.stem}: <what it does>'"


@pytest.mark.parametrize("script", PARAMS)
def test_main_parses_loads_params_and_makes_one_library_call(script):
    tree = _tree(script)
    main = _main(tree)
    calls = [n for n in ast.walk(main) if isinstance(n, ast.Call)]
    names = [_name(c) for c in calls]
    assert "stage_args" in names, "main declares and parses its arguments with stage_args"
    assert "load_section" in names, "main loads its params section with load_section"
    imports = _imported(tree)
    library = [c for c in calls if _name(c) not in HELPERS and not _is_paths_record(c, imports)]
    assert len(library) == 1, f"main makes {len(library)} calls besides the helpers: {[_name(c) for c in library]}"
    call = library[0]
    assert isinstance(call.func, ast.Name), "the library call is a function imported by name"
    module = imports.get(call.func.id, "")
    assert module.startswith("ethoflow.") and not module.startswith("ethoflow.core"), (
        f"{call.func.id} comes from {module or 'nowhere'}, not an ethoflow pipeline package"
    )
    pkg, _, rest = script.stem.partition("_")
    expected = f"ethoflow.demo.{rest}" if pkg == "demo" else f"ethoflow.{pkg}.stages"
    assert (call.func.id, module) == (f"run_{script.stem}", expected), "the call is run_<stage> of <pkg>.stages"
    statements = [s for s in main.body if not isinstance(s, (ast.Assign, ast.Expr))]
    assert not statements, f"main holds control flow or other statements (line {statements[0].lineno})"


@pytest.mark.parametrize("script", PARAMS)
def test_script_does_not_dispatch(script):
    tree = _tree(script)
    modules = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
    assert "ethoflow.dispatch" not in modules and "dispatch" not in names, "dispatch happens in <pkg>.stages"


@pytest.mark.parametrize("script", PARAMS)
def test_no_path_literals_and_no_string_defaults(script):
    tree = _tree(script)
    doc = ast.get_docstring(tree, clean=False)
    helps = {id(k.value) for n in ast.walk(tree) if isinstance(n, ast.Call) for k in n.keywords if k.arg == "help"}
    for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call) and _name(n) == "stage_args"):
        # help texts: an option's string, a dict's "help", a positional's (name, help) pair
        helps |= {id(v) for v in ast.walk(call) if isinstance(v, ast.Constant) and isinstance(v.value, str)}
        helps -= {id(v) for k in call.keywords if isinstance(k.value, ast.Dict) for v in k.value.values}
        helps |= {
            id(v)
            for k in call.keywords
            if isinstance(k.value, ast.Dict)
            for key, v in zip(k.value.keys, k.value.values)
            if ast.literal_eval(key) == "help"
        }
    paths = [
        n.value
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant)
        and isinstance(n.value, str)
        and n.value != doc
        and id(n) not in helps
        and PATHLIKE.match(n.value)
    ]
    assert not paths, f"path literals (write them in dvc.yaml's cmd): {paths}"
    defaults = [
        k.arg
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and _name(n) == "stage_args"
        for k in n.keywords
        if isinstance(k.value, ast.Dict) and "default" in [ast.literal_eval(d) for d in k.value.keys]
    ]
    assert not defaults, f"arguments with defaults (paths come from dvc.yaml's cmd): {defaults}"


def test_the_structural_check_catches_a_script_with_logic(tmp_path):
    """The checks fail on a script of the old shape (a path default, two library calls)."""
    bad = tmp_path / "acoustic_x.py"
    bad.write_text(
        '"""acoustic_x: old shape."""\n'
        "from ethoflow.core import load_section, write_json\n"
        "from ethoflow.core.stage import stage_args\n"
        "from ethoflow.acoustic.data.corpus import build_corpus\n\n"
        "def main(argv=None):\n"
        '    args = stage_args(__doc__, argv, out={"help": "x", "default": "data/interim/x"})\n'
        '    cfg = load_section("acoustic", object, args.params)\n'
        "    index, report = build_corpus(cfg.corpus)\n"
        '    write_json(f"{args.out}/corpus_index.json", index)\n'
    )
    with pytest.raises(AssertionError, match="2 calls"):
        test_main_parses_loads_params_and_makes_one_library_call(bad)
    with pytest.raises(AssertionError, match="path literals"):
        test_no_path_literals_and_no_string_defaults(bad)


def _declared_options(script: Path) -> list[str]:
    """The ``--options`` a script's ``stage_args`` call declares (keyword ``a_b`` is ``--a-b``)."""
    calls = [n for n in ast.walk(_tree(script)) if isinstance(n, ast.Call) and _name(n) == "stage_args"]
    return sorted("--" + k.arg.replace("_", "-") for c in calls for k in c.keywords)


def test_every_stage_gives_its_script_exactly_the_options_it_declares():
    """Each resolved dvc.yaml cmd (every foreach/matrix item) passes its script every option the script
    declares and no other: a path is written in dvc.yaml, the script only names it."""
    import shlex

    from ethoflow.core.stage import resolved_stages

    seen = set()
    for name, body in resolved_stages(REPO / "dvc.yaml").items():
        argv = shlex.split(body["cmd"])
        script = REPO / argv[1]
        seen.add(script)
        given = sorted(a for a in argv[2:] if a.startswith("--"))
        assert given == _declared_options(script), (
            f"{name}: cmd gives {given}, {argv[1]} declares {_declared_options(script)}"
        )
    assert not seen - set(SCRIPTS)
