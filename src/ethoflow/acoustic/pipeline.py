"""Run the acoustic stages in order outside DVC (benchmarks, real-data tests, quick trials).

``run_pipeline(workdir)`` runs the ``acoustic_*`` stages of the project's ``dvc.yaml`` with ``cwd=workdir``
and ``workdir/params.yaml``, for every variant and prediction setting, without DVC's caching. The
commands are not written here: they are ``dvc.yaml``'s ``cmd``s, resolved by DVC's own parser
(``foreach``/``matrix`` and ``${...}`` expanded) against the workdir's params (the ``acoustic``
section completed with its defaults), so a path changed in ``dvc.yaml`` changes here too.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

from ethoflow.acoustic.params import AcousticParams
from ethoflow.core import EthoflowError, get_logger
from ethoflow.core.stage import stage_commands

log = get_logger(__name__)

REPO = Path(__file__).resolve().parents[3]
ORDER = ("corpus", "variants", "train", "predict", "evaluate", "rf_train", "rf_filter", "detect", "report")


def run_pipeline(
    workdir: str | os.PathLike,
    until: str = "report",
    env: dict[str, str] | None = None,
    start: str = "corpus",
    skip: tuple[str, ...] = (),
) -> None:
    """Run the acoustic stages of ``dvc.yaml`` from ``acoustic_<start>`` up to and including ``acoustic_<until>``
    (steps of :data:`ORDER`, less those in ``skip``) in ``workdir`` (a later ``start`` reuses the outputs of the
    earlier stages already in ``workdir``). ``acoustic_detect`` runs one stage per detection set.

    Raises:
        EthoflowError: a stage exited non-zero (its own error line is in the log it printed); ValueError: a
            step not in :data:`ORDER`.
    """
    for step in (start, until, *skip):
        if step not in ORDER:
            raise ValueError(f"unknown acoustic step {step!r}; one of {', '.join(ORDER)}")

    workdir = Path(workdir)
    commands = stage_commands(REPO / "dvc.yaml", workdir / "params.yaml", "acoustic_", {"acoustic": AcousticParams})
    full_env = dict(os.environ, **(env or {}))
    full_env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2]) + os.pathsep + full_env.get("PYTHONPATH", "")
    for step in ORDER[ORDER.index(start) : ORDER.index(until) + 1]:
        if step in skip:
            continue
        base = f"acoustic_{step}"
        for stage in sorted(s for s in commands if s == base or s.startswith(base + "@")):
            argv = shlex.split(commands[stage])
            if argv[0] == "python":
                argv[0] = sys.executable
            argv[1] = str(REPO / argv[1])  # stages/<stage>.py of this checkout
            log.info("running %s", stage)
            res = subprocess.run(argv, cwd=workdir, env=full_env)  # the stage's log goes to our stderr
            if res.returncode != 0:
                raise EthoflowError(f"stage {stage} failed (exit {res.returncode}); its error is in the log above")
