"""A failed or killed stage leaves every file git tracks as it was, or restored by the commands the
README names for recovery (issue #24). DVC deletes a stage's outs before running it; the headline
metrics (``cache: false``, committed to git) are in no cache, so ``dvc checkout`` cannot bring them
back; ``git checkout`` does."""

from __future__ import annotations

import pytest

from tests.conftest import REPO
from tests.fixtures.dvc import clone_project
from tests.integration.dvcproject import dvc, git

pytestmark = pytest.mark.integration

#: the recovery commands the README gives ("When something goes wrong"); a bare `dvc checkout` fails
#: (exit 255) in a project where some pipeline never ran, as most labs run one
RECOVERY = "git checkout -- metrics/<pipeline>.json && dvc checkout <stage>"


def recover(proj, stage: str, pipeline: str) -> None:
    """Run the README's recovery commands for ``stage`` of ``pipeline``."""
    first, second = RECOVERY.replace("<stage>", stage).replace("<pipeline>", pipeline).split(" && ")
    git(proj, *first.split()[1:])
    dvc(proj, *second.split()[1:])


def test_the_readme_names_the_recovery_commands():
    assert f"`{RECOVERY}`" in (REPO / "README.md").read_text()


def test_failed_vae_train_then_the_readme_command_leaves_git_and_dvc_clean(vae_chain_project, tmp_path):
    """vae_train forced to rerun and failing at start (an unknown executor, as a job that fails): DVC
    has deleted its outs, metrics/vae.json included, which `dvc checkout` alone (the README's advice
    before) did not bring back; the README's commands bring back every out, and git and DVC see
    nothing changed."""
    import subprocess

    from tests.integration.dvcproject import BIN, _env

    proj = clone_project(vae_chain_project, tmp_path)
    metrics = (proj / "metrics/vae.json").read_bytes()
    env = {**_env(proj), "ETHOFLOW_EXECUTOR": "no-such-executor"}
    res = subprocess.run(
        [str(BIN / "dvc"), "repro", "-f", "-s", "vae_train"], cwd=proj, env=env, capture_output=True, text=True
    )
    assert res.returncode != 0 and "no-such-executor" in res.stdout + res.stderr, res.stdout + res.stderr
    assert not (proj / "models/vae/vae_tiny").exists()  # DVC removed the stage's outs before running it
    assert not (proj / "metrics/vae.json").exists()  # the git-tracked metrics too: in no cache
    recover(proj, "vae_train", "vae")
    assert (proj / "metrics/vae.json").read_bytes() == metrics
    assert git(proj, "status", "--porcelain") == ""
    assert "up to date" in dvc(proj, "status", "vae_train").stdout
    assert (proj / "models/vae/vae_tiny/model.pt").exists()


def test_killed_vae_train_then_the_readme_command_leaves_git_and_dvc_clean(vae_chain_project, tmp_path):
    """`dvc repro` killed with SIGKILL (its whole process group, as a closed terminal or a cluster's
    time limit does) while vae_train runs: the same command restores the outs, git sees no change."""
    import os
    import signal
    import subprocess
    import time

    from tests.integration.dvcproject import BIN, _env

    proj = clone_project(vae_chain_project, tmp_path)
    metrics = (proj / "metrics/vae.json").read_bytes()
    proc = subprocess.Popen(
        [str(BIN / "dvc"), "repro", "-f", "-s", "vae_train"],
        cwd=proj,
        env=_env(proj),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.time() + 300
    while (proj / "models/vae/vae_tiny").exists():  # DVC removes the outs just before the command starts
        assert proc.poll() is None and time.time() < deadline, "the stage ended before the kill"
        time.sleep(0.05)
    time.sleep(1.0)  # inside the stage's command
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    recover(proj, "vae_train", "vae")
    assert (proj / "metrics/vae.json").read_bytes() == metrics
    assert git(proj, "status", "--porcelain") == ""
    assert "up to date" in dvc(proj, "status", "vae_train").stdout
