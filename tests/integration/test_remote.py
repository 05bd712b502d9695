"""Sharing results through a DVC remote: ``dvc push`` here, ``git clone`` + ``dvc pull`` in a
collaborator's fresh clone gives byte-identical outs, a clean ``dvc status`` and no recomputation.

One tiny pipeline run (activity demo -> Zarr store -> VAE snips -> VAE training: a trained model
and metrics) is shared by both remote kinds: a local directory (a shared filesystem on a cluster)
and SSH (an ``sshd`` of our own on 127.0.0.1, key auth). The copied ``dvc.lock`` also lists the
other pipelines' stages, which this test never runs, so push/pull/status name the target
``--with-deps``.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.fixtures.dvc import clone_project
from tests.integration.dvcproject import dvc, file_digests, git, ran_stages
from tests.integration.sshd import running_sshd

pytestmark = pytest.mark.integration

TARGET = "vae_train"
CHAIN = {"demo_hbehave", "hbehave_zarr", "vae_snips", "vae_train"}


def out_paths(proj: Path) -> list[str]:
    """Every out (data, models, metrics, plots) that dvc.lock records for the chain's stages."""
    lock = yaml.safe_load((proj / "dvc.lock").read_text())
    return sorted(o["path"] for name in CHAIN for o in lock["stages"][name].get("outs", []))


def metric_values(proj: Path) -> dict[str, dict]:
    """``dvc metrics show --json``: the metrics files that could be read, with their values."""
    shown = json.loads(dvc(proj, "metrics", "show", "--json").stdout)
    return {path: m["data"] for rev in shown.values() for path, m in rev.get("data", {}).items() if "data" in m}


@pytest.fixture(scope="module")
def project(vae_chain_project, tmp_path_factory):
    proj = clone_project(vae_chain_project, tmp_path_factory.mktemp("remote"))
    outs = out_paths(proj)
    assert any(p.startswith("models/") for p in outs), outs
    assert any(p.startswith("metrics/") for p in outs), outs
    digests = file_digests(proj, outs)
    assert digests, "the chain wrote files"
    metrics = metric_values(proj)
    assert metrics, "the chain wrote metrics"
    return {"path": proj, "outs": outs, "digests": digests, "metrics": metrics}


def share_and_clone(project: dict, url: str, clone: Path, local_config: dict[str, str]) -> Path:
    """Add ``url`` as the project's default remote (committed), ``dvc push``, then ``git clone`` the
    project to ``clone``, give it the same per-user settings (``.dvc/config.local`` is not
    committed) and ``dvc pull``."""
    proj = project["path"]
    dvc(proj, "remote", "add", "-f", "-d", "storage", url)
    for key, value in local_config.items():
        dvc(proj, "remote", "modify", "--local", "storage", key, value)
    git(proj, "add", ".dvc/config")
    git(proj, "commit", "-q", "-m", f"remote {url}")
    dvc(proj, "push", TARGET, "--with-deps")
    # Everything the target needs is on the remote now.
    assert json.loads(dvc(proj, "status", "--cloud", TARGET, "--with-deps", "--json").stdout) == {}

    subprocess.run(["git", "clone", "-q", str(proj), str(clone)], check=True)
    in_git = set(git(clone, "ls-files", "-z").split("\0"))  # metrics with ``cache: false`` are
    cached_outs = [p for p in project["outs"] if p not in in_git]
    assert cached_outs and not any((clone / p).exists() for p in cached_outs), "a fresh clone has no outs"
    assert not (clone / ".dvc" / "cache").exists(), "a fresh clone has no DVC cache"
    for key, value in local_config.items():
        dvc(clone, "remote", "modify", "--local", "storage", key, value)
    dvc(clone, "pull", TARGET, "--with-deps")
    return clone


def assert_same_results(project: dict, clone: Path) -> None:
    # nothing changed, nothing missing
    assert json.loads(dvc(clone, "status", TARGET, "--with-deps", "--json").stdout) == {}
    # every out file is there, byte for byte
    assert file_digests(clone, project["outs"]) == project["digests"]
    # metrics readable without recomputing; diff against HEAD works (and finds no change)
    assert metric_values(clone) == project["metrics"]
    diff = dvc(clone, "metrics", "diff", "--json")
    assert json.loads(diff.stdout or "{}") == {}
    # no stage is stale: repro runs nothing and leaves dvc.lock as committed
    again = dvc(clone, "repro", TARGET)
    assert ran_stages(again) == set(), again.stdout
    assert "Running stage" not in again.stdout + again.stderr
    assert git(clone, "status", "--porcelain", "dvc.lock").strip() == ""


def test_local_directory_remote(project, tmp_path):
    storage = tmp_path / "shared-storage"
    storage.mkdir()
    clone = share_and_clone(project, str(storage), tmp_path / "collaborator", {})
    assert any(p.is_file() for p in storage.rglob("*")), "dvc push wrote to the remote"
    assert_same_results(project, clone)


@pytest.mark.sshd
def test_ssh_remote(project, tmp_path):
    storage = tmp_path / "ssh-storage"
    storage.mkdir()
    with running_sshd(tmp_path / "sshd") as server:
        # The URL (host, port, path) is shared through the committed .dvc/config; the key file is
        # each user's own, so it goes to .dvc/config.local. dvc-ssh does not check host keys.
        clone = share_and_clone(
            project, server.url(storage), tmp_path / "collaborator", {"keyfile": str(server.keyfile)}
        )
        assert any(p.is_file() for p in storage.rglob("*")), "dvc push wrote through SSH"
        assert_same_results(project, clone)
