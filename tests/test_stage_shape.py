"""Every stage script has the one shape: its command line is its run function's.

A stage script is its docstring (``<stage>: what it does``), the import of its one library call
``run_<stage>`` (from ``ethoflow.<pkg>.stages``, or ``ethoflow.demo.<pipeline>`` for a demo), and
``main = stage_main(run_<stage>, __doc__)`` run by ``run_stage``. :func:`ethoflow.core.stage.stage_main`
reads the options from ``run_<stage>``'s signature and docstring, so a stage's arguments are declared
once (there) and its paths once (dvc.yaml's ``cmd``). Read from the source with ``ast``; the run
functions are imported (ethoflow's stages modules import no heavy library).
"""

from __future__ import annotations

import ast
import importlib
import shlex
from pathlib import Path

import pytest

from ethoflow.core.stage import resolved_stages, stage_option_help, stage_options

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = sorted((REPO / "stages").glob("*.py"))
PARAMS = [pytest.param(s, id=s.stem) for s in SCRIPTS]


def _expected_module(stem: str) -> str:
    pkg, _, rest = stem.partition("_")
    return f"ethoflow.demo.{rest}" if pkg == "demo" else f"ethoflow.{pkg}.stages"


def shape_problems(source: str, stem: str) -> list[str]:
    """How a script departs from the one shape (empty when it has it)."""
    tree = ast.parse(source)
    body = tree.body
    doc = ast.get_docstring(tree)
    problems = []
    if not doc or not doc.startswith(f"{stem}:"):
        problems.append(f"the docstring starts with '{stem}: <what it does>'")
    run = f"run_{stem}"
    expected = [
        f"from {_expected_module(stem)} import {run}",
        "from ethoflow.core.stage import run_stage, stage_main",
        f"main = stage_main({run}, __doc__)",
        "if __name__ == '__main__':\n    run_stage(main)",
    ]
    statements = [ast.unparse(node) for node in body[1:]]
    statements[:2] = sorted(statements[:2], key=lambda line: line != expected[0])  # import order is ruff's
    if statements != expected:
        problems.append("the body is not:\n" + "\n".join(expected) + "\n(it is:\n" + "\n".join(statements) + ")")
    return problems


def _run(script: Path):
    return getattr(importlib.import_module(_expected_module(script.stem)), f"run_{script.stem}")


def test_there_are_stage_scripts():
    assert len(SCRIPTS) >= 20


@pytest.mark.parametrize("script", PARAMS)
def test_script_is_its_docstring_and_one_library_call(script):
    problems = shape_problems(script.read_text(encoding="utf-8"), script.stem)
    assert not problems, "\n".join(problems)


def test_the_shape_check_catches_a_script_with_logic():
    old = (
        '"""acoustic_corpus: old shape."""\n'
        "from ethoflow.core import load_section, write_json\n"
        "from ethoflow.acoustic.data.corpus import build_corpus\n\n"
        "def main(argv=None):\n"
        '    cfg = load_section("acoustic", object, "params.yaml")\n'
        '    write_json("data/interim/x/corpus_index.json", build_corpus(cfg.corpus))\n'
    )
    assert any("the body is not" in p for p in shape_problems(old, "acoustic_corpus"))
    assert shape_problems(old.replace("acoustic_corpus:", "corpus:"), "acoustic_corpus")[0].startswith("the docstring")


@pytest.mark.parametrize("script", PARAMS)
def test_run_function_documents_every_option(script):
    """Each option's help is the Args line of run_<stage> (or of its paths record) naming it."""
    undocumented = [option for option, text in stage_option_help(_run(script)).items() if not text]
    assert not undocumented, f"run_{script.stem}: no Args line for {undocumented}"


def test_every_stage_gives_its_script_its_options():
    """Each resolved dvc.yaml cmd (every foreach/matrix item) passes its script every required option of
    its run function and no option it does not have: paths are written in dvc.yaml, nowhere else."""
    seen = set()
    for name, body in resolved_stages(REPO / "dvc.yaml").items():
        argv = shlex.split(body["cmd"])
        script = REPO / argv[1]
        seen.add(script)
        run = _run(script)
        given = {a for a in argv[2:] if a.startswith("--")}
        assert given <= set(stage_options(run)), f"{name}: unknown options {sorted(given - set(stage_options(run)))}"
        missing = set(stage_options(run, required=True)) - given
        assert not missing, f"{name}: cmd does not give {sorted(missing)}"
    assert not seen - set(SCRIPTS)


def test_stage_main_builds_the_command_line_from_the_run_function(tmp_path):
    """Options from the signature (records expanded, optional ones optional), help from the docstring."""
    from ethoflow.acoustic.stages import run_acoustic_rf_filter
    from ethoflow.core.stage import stage_main

    assert stage_options(run_acoustic_rf_filter)[:3] == ["--variant", "--setting", "--detections"]
    assert stage_option_help(run_acoustic_rf_filter)["--variant"].startswith("variant name")
    with pytest.raises(SystemExit):
        stage_main(run_acoustic_rf_filter)(["--variant", "v1"])  # required options missing
