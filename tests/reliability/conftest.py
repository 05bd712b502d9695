"""Helpers for the reliability cases: run a stage script as the user meets it, and look for leftovers.

Each case builds a damaged input from the real data in ``../shared/data`` (truncate, corrupt, reorder,
blank, duplicate) and asserts (a) the exit status, (b) that the message names the file and the problem,
(c) that no output or partial output is left (or that the previous outputs are untouched).
"""

from __future__ import annotations

import errno
import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.fixtures.tiny import VAE
from tests.fixtures.vae import train_vae_in


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


def disk_full_on_call(fn, n: int):
    """``fn`` wrapped so that its ``n``-th call raises ``OSError(ENOSPC)`` (the disk fills during that
    write) and every other call goes through."""
    calls = 0

    def wrapper(*a, **k):
        nonlocal calls
        calls += 1
        if calls == n:
            raise OSError(errno.ENOSPC, "No space left on device")
        return fn(*a, **k)

    return wrapper


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


@pytest.fixture(scope="session")
def vae(tmp_path_factory, shared_data):
    """(folder, store, df02 with two experiments, model.pt) from the first 400 readings of M014.txt."""
    import torch

    from ethoflow.hbehave.ingest import build_store
    from ethoflow.hbehave.params import ZarrParams
    from ethoflow.vae.params import VAEParams
    from ethoflow.vae.snips import build_df02, write_df02

    torch.set_num_threads(1)
    d = tmp_path_factory.mktemp("vae_rel")
    (d / "raw").mkdir()
    lines = (shared_data / "activity/dam/M014.txt").read_text().splitlines(keepends=True)
    for name in ("M014.txt", "M015.txt"):  # the excerpt as two monitors (one 32-channel cage each)
        (d / "raw" / name).write_text("".join(lines[:400]))
    store = d / "activity.zarr"
    zp = ZarrParams(
        input_format="dam", input_dir=str(d / "raw"), summary_file=None, val_fraction=0.5, dam_layout="per_monitor"
    )
    build_store(zp, store)
    p = VAEParams.model_validate(VAE)
    df = build_df02(store, p.snips)
    df.loc[df.cage_id == sorted(df.cage_id.unique())[1], "experiment_date"] = "20170701"  # two experiments
    write_df02(df, d / "df02.parquet", None)
    train_vae_in(d, d / "df02.parquet", store, p)
    return d, store, d / "df02.parquet", d / "model" / "model.pt"
