"""The DVC pipeline on the local Slurm cluster: ``dvc repro`` with ``ETHOFLOW_EXECUTOR=slurm`` records the
same outs as the in-process run (the VAE chain; the acoustic pipeline's check is
tests/integration/test_repro_parallel_slurm.py)."""

from __future__ import annotations

import subprocess

import pytest
import yaml

from tests.fixtures.dvc import clone_project
from tests.integration.dvcproject import dvc, git, set_params

pytestmark = [pytest.mark.slurm, pytest.mark.integration]


def test_slurm_executor_gives_byte_identical_outs(vae_chain_project, tmp_path, monkeypatch):
    """vae_train and vae_embed rerun as Slurm jobs (1 CPU) record the outs of the in-process run."""
    project = clone_project(vae_chain_project, tmp_path)
    before = yaml.safe_load((project / "dvc.lock").read_text())
    # The local test cluster has no GPUs; compute is no stage's param, so this invalidates nothing.
    job = {"gpus": 0, "cpus": 1, "mem_gb": 2}
    set_params(project, {"compute": {"stages": {"vae_train": job, "vae_embed": job}}})
    monkeypatch.setenv("ETHOFLOW_EXECUTOR", "slurm")
    res = dvc(project, "repro", "-f", "-s", "vae_train", "vae_embed")
    assert "submitted job" in (res.stdout + res.stderr)
    for stage in ("vae_train", "vae_embed"):
        assert list((project / ".ethoflow" / "jobs" / stage).rglob("*_log.out")), f"{stage} ran as a Slurm job"
    after = yaml.safe_load((project / "dvc.lock").read_text())
    for stage in ("vae_train", "vae_embed"):
        assert after["stages"][stage]["outs"] == before["stages"][stage]["outs"], stage
    status = subprocess.run(["git", "status", "--porcelain", "dvc.lock"], cwd=project, capture_output=True, text=True)
    assert status.stdout.strip() == ""
    git(project, "checkout", "params.yaml")
