"""A hyperparameter grid through DVC's experiment queue: ``dvc exp run --queue`` with comma-separated
``-S`` values queues the Cartesian product, ``dvc queue start -j 2`` runs it on two background
workers, and ``dvc exp show`` lists every grid point with its params and metrics.

Tiny chain: activity demo -> Zarr store -> VAE snips -> VAE training (the grid's params are
vae_train's), in a clone of the session's ``vae_chain_project``. The queue's workers are background processes: the test stops them and checks that no
process is left running in the project copy, also when it fails.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.fixtures.dvc import clone_project
from tests.integration.dvcproject import BIN, dvc, git
from tests.integration.dvcproject import _env as dvc_env

pytestmark = pytest.mark.integration

TARGET = "vae_train"
LRS = (0.001, 0.002)
LATENT_DIMS = (2, 4)
GRID_TIMEOUT_S = 900


@pytest.fixture(scope="module")
def project(vae_chain_project, tmp_path_factory):
    return clone_project(vae_chain_project, tmp_path_factory.mktemp("queue"))


def processes_in(proj: Path) -> list[int]:
    """Ids of the processes (other than this one) whose working directory is inside ``proj``:
    the queue's workers and the experiments they run (in ``.dvc/tmp/exps/``)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if cwd == str(proj) or cwd.startswith(f"{proj}/"):
            pids.append(int(entry.name))
    return pids


def wait_until_gone(proj: Path, timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    while (left := processes_in(proj)) and time.monotonic() < deadline:
        time.sleep(1)
    return left


def queue_tasks(proj: Path) -> dict[str, str]:
    """``{task name: status}`` from ``dvc queue status`` (Queued, Running, Success, Failed, ...)."""
    out = dvc(proj, "queue", "status").stdout
    tasks = {}
    for line in out.splitlines()[1:]:  # after the "Task Name Created Status" header
        if not line.strip():
            break  # the worker summary follows a blank line
        fields = line.split()
        tasks[fields[1]] = fields[-1]
    return tasks


def wait_for_queue(proj: Path, n: int, timeout: float) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    while True:
        tasks = queue_tasks(proj)
        if len(tasks) >= n and not {"Queued", "Running"} & set(tasks.values()):
            return tasks
        if time.monotonic() > deadline:
            raise AssertionError(f"queue not done after {timeout:.0f} s: {tasks}")
        time.sleep(5)


def start_queue(proj: Path, jobs: int) -> None:
    """``dvc queue start -j jobs``. Its output goes to a file, not a pipe: the workers it leaves
    running inherit that output, and a pipe would keep ``subprocess.run`` waiting until they exit."""
    log = proj / ".dvc" / "tmp" / "queue-start.log"
    with log.open("w") as out:
        res = subprocess.run(
            [str(BIN / "dvc"), "queue", "start", "-j", str(jobs)],
            cwd=proj,
            env=dvc_env(proj),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=120,
        )
    assert res.returncode == 0, log.read_text()


def stop_queue(proj: Path) -> None:
    """Stop the workers (``dvc queue stop --kill``); end by id whatever is still running there."""
    dvc(proj, "queue", "stop", "--kill", check=False, timeout=120)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in wait_until_gone(proj, timeout=20):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass


def readable_metrics(data: dict) -> dict[str, dict]:
    return {path: m["data"] for path, m in (data.get("metrics") or {}).items() if m.get("data")}


def test_queued_grid_runs_every_point(project):
    try:
        queued = dvc(
            project,
            "exp",
            "run",
            "--queue",
            "-S",
            "vae.train.lr=" + ",".join(map(str, LRS)),
            "-S",
            "vae.model.latent_dim=" + ",".join(map(str, LATENT_DIMS)),
            TARGET,
        )
        assert queued.stdout.count("Queued experiment") == 4, queued.stdout

        start_queue(project, jobs=2)
        assert processes_in(project), "the queue's workers run in the background, in the project"
        tasks = wait_for_queue(project, 4, GRID_TIMEOUT_S)
        if set(tasks.values()) != {"Success"}:
            logs = {name: dvc(project, "queue", "logs", name, check=False).stdout[-3000:] for name in tasks}
            raise AssertionError(f"queued experiments did not all succeed: {tasks}\n{logs}")

        shown = json.loads(dvc(project, "exp", "show", "--json").stdout)
        baseline = next(e for e in shown if e.get("rev") != "workspace")
        base_params = baseline["data"]["params"]["params.yaml"]["data"]["vae"]
        base_metrics = readable_metrics(baseline["data"])
        assert base_metrics, "the baseline has metrics"
        runs = [rev["data"] for exp in (baseline.get("experiments") or []) for rev in exp["revs"]]
        assert len(runs) == 4, [exp.get("name") for exp in baseline.get("experiments") or []]

        points, metrics = [], {}
        for run in runs:
            vae = run["params"]["params.yaml"]["data"]["vae"]
            point = (vae["train"]["lr"], vae["model"]["latent_dim"])
            points.append(point)
            metrics[point] = readable_metrics(run)
            assert metrics[point], f"experiment {point} has no metrics"
        assert sorted(points) == sorted(itertools.product(LRS, LATENT_DIMS))

        # Each grid point's metrics are its own: the point equal to the baseline's params has the
        # baseline's metrics, every other point differs from the baseline and from the others.
        base_point = (base_params["train"]["lr"], base_params["model"]["latent_dim"])
        others = [m for p, m in metrics.items() if p != base_point]
        if base_point in metrics:
            assert metrics[base_point] == base_metrics
        assert all(m != base_metrics for m in others)
        assert len({json.dumps(m, sort_keys=True) for m in others}) == len(others)

        # The workspace is untouched: queued experiments run in temporary copies.
        assert git(project, "status", "--porcelain", "params.yaml", "dvc.lock").strip() == ""

        dvc(project, "queue", "stop")
        left = wait_until_gone(project, timeout=60)
        assert not left, f"queue workers still running after 'dvc queue stop': {left}"
    finally:
        stop_queue(project)
