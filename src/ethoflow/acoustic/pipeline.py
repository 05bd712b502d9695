"""Run the acoustic stage scripts in order outside DVC (benchmarks, real-data tests, quick trials).

``run_pipeline(workdir)`` runs ``stages/acoustic_*.py`` with ``cwd=workdir`` and ``workdir/params.yaml``,
the same commands ``dvc.yaml`` runs (without DVC's caching), for every variant and prediction setting.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ethoflow.core import EthoflowError, get_logger, load_section

log = get_logger(__name__)

STAGES_DIR = Path(__file__).resolve().parents[3] / "stages"
ORDER = ("corpus", "variants", "train", "predict", "evaluate", "rf_train", "rf_filter", "report")


def run_pipeline(workdir: str | Path, until: str = "report", env: dict[str, str] | None = None) -> None:
    """Run the acoustic stages up to and including ``until`` in ``workdir``.

    Raises:
        EthoflowError: a stage exited non-zero (its own error line is in the log it printed).
    """
    from ethoflow.acoustic.params import AcousticParams

    workdir = Path(workdir)
    cfg = load_section("acoustic", AcousticParams, workdir / "params.yaml")
    full_env = dict(os.environ, **(env or {}))
    full_env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2]) + os.pathsep + full_env.get("PYTHONPATH", "")
    for step in ORDER[: ORDER.index(until) + 1]:
        if step == "corpus" or step == "report":
            calls = [[]]
        elif step in ("variants", "train"):
            calls = [[v] for v in sorted(cfg.variants)]
        else:
            calls = [[v, s] for v in sorted(cfg.variants) for s in sorted(cfg.predict.settings)]
        for extra in calls:
            cmd = [sys.executable, str(STAGES_DIR / f"acoustic_{step}.py"), *extra]
            log.info("running %s", " ".join(cmd[1:]))
            res = subprocess.run(cmd, cwd=workdir, env=full_env)  # the stage's log goes to our stderr
            if res.returncode != 0:
                raise EthoflowError(
                    f"stage acoustic_{step} {' '.join(extra)} failed (exit {res.returncode}); "
                    f"its error is in the log above"
                )
