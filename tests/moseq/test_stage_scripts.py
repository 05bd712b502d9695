"""Every moseq stage script takes every path as a required argument given by dvc.yaml. (The one template,
one call of ``ethoflow.moseq.stages.run_<stage>``, is checked for every script in tests/test_stage_shape.py.)"""

from __future__ import annotations

import ast
import shlex

import pytest
import yaml

from tests.conftest import REPO

SCRIPTS = sorted((REPO / "stages").glob("moseq_*.py"))


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_stage_paths_are_required_and_given_by_dvc_yaml(script):
    tree = ast.parse(script.read_text())
    options = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and ast.unparse(node.func) == "stage_args":  # every option is required
            options += ["--" + k.arg.replace("_", "-") for k in node.keywords]
    st = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"][script.stem]
    cmd = st["cmd"] if "cmd" in st else st["do"]["cmd"]  # foreach stages: the cmd of every item
    given = [a for a in shlex.split(cmd) if a.startswith("--")]
    assert sorted(given) == sorted(options)
