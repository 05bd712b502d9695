"""Helpers for the reliability cases: run a stage script as the user meets it, and look for leftovers.

Each case builds a damaged input from the real data in ``../shared/data`` (truncate, corrupt, reorder,
blank, duplicate) and asserts (a) the exit status, (b) that the message names the file and the problem,
(c) that no output or partial output is left (or that the previous outputs are untouched).
"""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO


def run_stage_script(script: str, argv: list[str], capsys) -> tuple[int, str]:
    """Run ``stages/<script>.py`` in-process through ``core.stage.run_stage`` -> (exit status, stderr)."""
    from ethoflow.core.stage import run_stage

    ns = runpy.run_path(str(REPO / "stages" / f"{script}.py"))
    capsys.readouterr()
    old = sys.argv
    sys.argv = [f"stages/{script}.py", *argv]
    try:
        with pytest.raises(SystemExit) as ex:
            run_stage(lambda: ns["main"](argv))
    finally:
        sys.argv = old
    return int(ex.value.code or 0), capsys.readouterr().err


def run_subprocess(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run a command (``python stages/x.py ...`` or ``ethoflow ...``) the way a user does."""
    full = {**os.environ, "PYTHONPATH": str(REPO / "src"), "ETHOFLOW_EXECUTOR": "local", **(env or {})}
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=120, env=full)


def one_error_line(stderr: str) -> str:
    """The single ERROR line of a stage's stderr (asserts there is exactly one and no traceback)."""
    assert "Traceback" not in stderr, stderr
    lines = [ln for ln in stderr.splitlines() if " ERROR " in ln]
    assert len(lines) == 1, stderr
    return lines[0]


def leftovers(folder: Path) -> list[str]:
    """Hidden partial files/folders (``.x.partial*``, ``.x.old``) anywhere under ``folder``."""
    if not folder.exists():
        return []
    return sorted(
        str(p.relative_to(folder)) for p in folder.rglob(".*") if ".partial" in p.name or p.name.endswith(".old")
    )


def tree(folder: Path) -> dict[str, bytes]:
    """{relative path: bytes} of every file under ``folder`` (to compare before/after)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(autouse=True)
def _local_executor(monkeypatch):
    monkeypatch.setenv("ETHOFLOW_EXECUTOR", "local")
    monkeypatch.delenv("ETHOFLOW_DEBUG", raising=False)
