"""Every moseq stage script follows the one template (issue #15): arguments, params section, one call
of ``ethoflow.moseq.stages.run_<stage>``; every path is a required argument given by dvc.yaml."""

from __future__ import annotations

import ast
import shlex

import pytest
import yaml

from tests.conftest import REPO

SCRIPTS = sorted((REPO / "stages").glob("moseq_*.py"))


def _calls(tree: ast.AST) -> list[str]:
    return [ast.unparse(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)]


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_stage_script_makes_one_library_call(script):
    tree = ast.parse(script.read_text())
    main = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "main")
    calls = [c for c in _calls(main) if not c.startswith(("parser.", "stage_parser", "load_section"))]
    assert calls == [f"run_{script.stem}"], calls
    imported = {
        a.name
        for n in tree.body
        if isinstance(n, ast.ImportFrom)
        for a in n.names
        if n.module == "ethoflow.moseq.stages"
    }
    assert imported == {f"run_{script.stem}"}


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_stage_paths_are_required_and_given_by_dvc_yaml(script):
    tree = ast.parse(script.read_text())
    options = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and ast.unparse(node.func) == "parser.add_argument":
            kw = {k.arg: ast.unparse(k.value) for k in node.keywords}
            assert "default" not in kw and kw.get("required") == "True", ast.unparse(node)
            options.append(node.args[0].value)
    st = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"][script.stem]
    cmd = st["cmd"] if "cmd" in st else st["do"]["cmd"]  # foreach stages: the cmd of every item
    given = [a for a in shlex.split(cmd) if a.startswith("--")]
    assert sorted(given) == sorted(options)
