"""Stage arguments as dvc.yaml writes them, for tests that call a ``stages/<stage>.py`` ``main`` directly."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

from ethoflow.core.stage import stage_commands

REPO = Path(__file__).resolve().parents[1]


def dvc_argv(stage: str, params_file: str | Path = "params.yaml", sections: dict[str, type] | None = None) -> list[str]:
    """The arguments after the script in ``stage``'s resolved ``dvc.yaml`` cmd (``stage`` may be ``name@item``),
    resolved against ``params_file`` (``sections``: params sections completed with their defaults first)."""
    commands = stage_commands(REPO / "dvc.yaml", params_file, stage.split("@")[0], sections)
    if stage not in commands:
        raise KeyError(f"dvc.yaml has no stage {stage!r} (have: {sorted(commands)})")
    return shlex.split(commands[stage])[2:]


def stage_env(root: str | Path) -> dict[str, str]:
    """The environment of a stage run as a subprocess in the tests: this checkout's ``src`` first on the
    path, ``ETHOFLOW_ROOT=root``, no progress bars, the local executor, one OpenMP thread."""
    return dict(
        os.environ,
        PYTHONPATH=str(REPO / "src"),
        ETHOFLOW_ROOT=str(root),
        ETHOFLOW_PROGRESS="0",
        ETHOFLOW_EXECUTOR="local",
        OMP_NUM_THREADS="1",
    )
