"""Shared test fixtures: paths to the real data in ../shared/data, and quiet, seeded runs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("ETHOFLOW_SHARED_DATA", REPO.parent / "shared" / "data")).resolve()

os.environ.setdefault("ETHOFLOW_PROGRESS", "0")

pytest_plugins = ["tests.fixtures.hbehave", "tests.fixtures.dvc"]

_SLURM_REASON = "Slurm is not running (start it with: sudo scripts/local-slurm.sh start)"


_slurm_seen = False


def slurm_answers() -> bool:
    """Whether Slurm answers: :func:`ethoflow.dispatch.slurm_available` (which asks ``sinfo`` a few
    times before giving up), remembered for the session once it said yes."""
    global _slurm_seen
    if not _slurm_seen:
        from ethoflow.dispatch import slurm_available

        _slurm_seen = slurm_available(attempts=5, wait_s=2.0)
    return _slurm_seen


def pytest_configure(config):
    config.addinivalue_line("markers", "sshd: starts a throw-away OpenSSH server on 127.0.0.1 (openssh-server)")


def pytest_runtest_setup(item):
    """Tests marked ``slurm`` skip with the reason when no Slurm answers, or fail under
    ``ETHOFLOW_REQUIRE_SLURM=1`` (set by .ci/run), where the real-cluster tests must run.
    Likewise tests marked ``sshd`` when no OpenSSH server is installed (``ETHOFLOW_REQUIRE_SSHD=1``)."""
    if item.get_closest_marker("sshd") is not None:
        from tests.integration.sshd import SSHD_REASON, sshd_path

        if sshd_path() is None:
            if os.environ.get("ETHOFLOW_REQUIRE_SSHD") == "1":
                pytest.fail(f"ETHOFLOW_REQUIRE_SSHD=1 but {SSHD_REASON}")
            pytest.skip(SSHD_REASON)
    if item.get_closest_marker("slurm") is None:
        return
    if slurm_answers():
        return
    if os.environ.get("ETHOFLOW_REQUIRE_SLURM") == "1":
        pytest.fail(f"ETHOFLOW_REQUIRE_SLURM=1 but {_SLURM_REASON}")
    pytest.skip(_SLURM_REASON)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the repository (real datasets; never copied into the repo)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real test data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def in_tmp(tmp_path, monkeypatch) -> Path:
    """Run the test inside an empty temporary project folder (``ETHOFLOW_ROOT`` points at it)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ETHOFLOW_ROOT", str(tmp_path))
    return tmp_path


@pytest.fixture
def local_and_slurm(monkeypatch) -> dict:
    """``{"local": ..., "slurm": ...}`` compute params for a run-both-and-compare test: one CPU,
    2 GB, 10 minutes on Slurm. torch and the BLAS behind numpy run on one thread in both (float
    reductions depend on the thread count, OpenBLAS's too; Slurm passes the environment on to the job,
    where OMP_NUM_THREADS=1 holds from the start)."""
    import torch
    from threadpoolctl import threadpool_limits

    from ethoflow.dispatch import ComputeParams, StageResources

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    with threadpool_limits(1):
        yield {
            "local": ComputeParams(executor="local"),
            "slurm": ComputeParams(executor="slurm", default=StageResources(cpus=1, mem_gb=2, timeout_min=10)),
        }
    torch.set_num_threads(n)
