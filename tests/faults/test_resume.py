"""kill -9, then rerun: every checkpointing mechanism resumes to the bytes of an uninterrupted run
(issue #24). One test per mechanism, at the level of the mechanism (not per model), with the kill
points drawn over the whole fit: early, middle and late.

- the training engine (``ethoflow.core.training.fit``: Lightning ``last.ckpt`` every epoch and every N
  steps) with a tiny torch model (``train_worker.py``);
- the moseq final fit's checkpoint (``ethoflow.moseq.fit``: keypoint-moseq's ``checkpoint.h5``
  snapshots), see :func:`test_moseq_final_fit_killed_anywhere_resumes_to_the_same_checkpoint`;
- the kappa search's state file (``ethoflow.moseq.kappa``), with a synthetic duration curve, see
  :func:`test_kappa_search_killed_in_any_trial_resumes_to_the_same_state`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

HERE = Path(__file__).parent


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{REPO}", "ETHOFLOW_PROGRESS": "0"}


def test_training_engine_killed_anywhere_resumes_to_the_same_bytes(tmp_path):
    """A tiny fit (24 optimisation steps; ``last.ckpt`` every 2 steps and every epoch of 6) killed with
    SIGKILL at 3 steps drawn over the whole fit and at 3 times drawn over its duration (inside a step,
    a validation or a checkpoint write), each rerun to the end: the weights and the history have the
    bytes of the uninterrupted run. One interpreter forks every run (``train_worker.py``), so torch and
    Lightning are imported once."""
    import json
    import random

    rng = random.Random(24)
    steps = sorted(rng.sample(range(1, 24), 3))
    times = [f"t{rng.uniform(0.05, 0.9):.3f}" for _ in range(3)]
    res = subprocess.run(
        [sys.executable, str(HERE / "train_worker.py"), str(tmp_path), *map(str, steps), *times],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    rows = [json.loads(line) for line in res.stdout.splitlines() if line.startswith("{")]
    assert len(rows) == 6
    assert all(r["killed_by"] == 9 for r in rows[:3]), rows  # the step kills always land
    assert sum(r["killed_by"] == 9 for r in rows) >= 4, rows  # a timed kill may come after the fit's end
    assert all(r["same_model"] and r["same_history"] for r in rows), rows


def test_moseq_final_fit_killed_anywhere_resumes_to_the_same_checkpoint(tmp_path):
    """``continue_fit`` (30 Gibbs sweeps from a trial at iteration 5, a snapshot every 4) killed with
    SIGKILL early (3rd sweep, before any snapshot), inside the 3rd snapshot write (between the copy and
    its rename) and late (22nd sweep), each rerun to the end: ``checkpoint.h5`` has the bytes of the
    uninterrupted fit. Before this fix a resume redrew the snapshot's own iteration (another chain).
    The Gibbs sweep is a cheap stand-in drawing from the model's PRNG key as jax-moseq does
    (``moseq_worker.py``); checkpointing, loading and resuming are keypoint-moseq's and ethoflow's own."""
    import json

    worker = str(HERE / "moseq_worker.py")
    runs = []
    for kill in ("i3", "s3", "i22"):
        run = tmp_path / f"killed_{kill}"
        res = subprocess.run([sys.executable, worker, "killed", str(run), kill], env=_env(), capture_output=True)
        assert res.returncode == -9, res.stderr.decode()[-3000:]
        runs.append(str(run))
    res = subprocess.run(
        [sys.executable, worker, "finish", str(tmp_path), *runs], env=_env(), capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr[-3000:]
    rows = [json.loads(line) for line in res.stdout.splitlines() if line.startswith("{")]
    ref = rows[-1]["reference_snapshots"]
    assert ref == [5, 8, 12, 16, 20, 24, 28, 30]
    assert [r["run"] for r in rows[:-1]] == [f"killed_{k}" for k in ("i3", "s3", "i22")]
    assert all(r["same_checkpoint"] and r["snapshots"] == ref for r in rows[:-1]), rows


def test_kappa_search_killed_in_any_trial_resumes_to_the_same_state(tmp_path):
    """The kappa search (``ethoflow.moseq.kappa.run_search``: a state file rewritten atomically after every trial)
    on a synthetic duration curve (``tests/moseq/search_worker.py``), SIGKILLed while its first, second
    and last trial is being fitted, each rerun: the state file has the bytes of the uninterrupted search,
    and no finished trial is fitted again."""
    import signal
    import time

    worker = [sys.executable, str(REPO / "tests/moseq/search_worker.py")]
    ref_state, ref_log = tmp_path / "ref.json", tmp_path / "ref.log"
    assert subprocess.run([*worker, str(ref_state), str(ref_log), "0"], env=_env()).returncode == 0
    n = len(ref_log.read_text().split())
    assert n >= 3
    for k in sorted({1, (n + 1) // 2, n}):
        state, log = tmp_path / f"state_{k}.json", tmp_path / f"eval_{k}.log"
        proc = subprocess.Popen([*worker, str(state), str(log), "0.5"], env=_env(), stdout=subprocess.DEVNULL)
        deadline = time.time() + 120
        while not (log.exists() and len(log.read_text().split()) >= k):  # trial k is being fitted (0.5 s)
            assert proc.poll() is None and time.time() < deadline, "the search ended before the kill"
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
        before = log.read_text().split()
        assert subprocess.run([*worker, str(state), str(log), "0"], env=_env()).returncode == 0
        refit = log.read_text().split()[len(before) :]
        assert state.read_bytes() == ref_state.read_bytes(), f"killed in trial {k}"
        # the interrupted trial k is fitted again, no finished one is
        assert before[:-1] + refit == ref_log.read_text().split()
