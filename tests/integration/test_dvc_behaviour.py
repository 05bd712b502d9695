"""DVC behaviour of the real dvc.yaml, in a temporary copy of the project with tiny params.

The chain used is activity demo -> Zarr store -> VAE snips -> VAE training -> latents -> df03
(small and CPU-friendly, and it crosses two pipelines): a clone of the session's ``vae_chain_project``.
"""

from __future__ import annotations

import json

import pytest

from tests.fixtures.dvc import VAE_TARGET as TARGET
from tests.fixtures.dvc import clone_project
from tests.integration.dvcproject import dvc, git, ran_stages, set_params

pytestmark = pytest.mark.integration

# Changing this param must rerun exactly these stages.
CHANGED_PARAM = {"vae": {"train": {"lr": 0.005}}}
CHANGED_PARAM_CLI = "vae.train.lr=0.003"
RERUN = {"vae_train", "vae_embed", "build06"}


@pytest.fixture(scope="module")
def project(vae_chain_project, tmp_path_factory):
    return clone_project(vae_chain_project, tmp_path_factory.mktemp("dvc"))


def test_second_repro_runs_nothing(project):
    again = dvc(project, "repro", TARGET)
    assert ran_stages(again) == set()
    assert "up to date" in again.stdout.lower() or "didn't change" in again.stdout


def test_editing_an_imported_module_or_an_input_file_makes_exactly_its_stages_stale(project):
    """vae/snips.py is imported by vae_train only through vae.train's functions: still a dep."""
    module = project / "src/ethoflow/vae/snips.py"
    original = module.read_text()
    module.write_text(original + "\n# edited\n")
    stale = json.loads(dvc(project, "status", "--json", "--with-deps", TARGET).stdout)
    assert {"vae_snips", "vae_train", "vae_embed", "build06"} <= set(stale), stale
    assert not {"demo_hbehave", "hbehave_zarr"} & set(stale), stale
    module.write_text(original)
    assert json.loads(dvc(project, "status", "--json", "--with-deps", TARGET).stdout) == {}
    raw = sorted((project / "data/raw/hbehave/demo").glob("*.csv"))[0]
    raw.write_text(raw.read_text().replace("\n", "\r\n", 1))  # a user replaces one input file
    stale = json.loads(dvc(project, "status", "--json", "hbehave_zarr").stdout)
    assert "hbehave_zarr" in stale and any("changed deps" in e for e in stale["hbehave_zarr"]), stale
    dvc(project, "checkout", "-f", "demo_hbehave")
    assert json.loads(dvc(project, "status", "--json", "--with-deps", TARGET).stdout) == {}


def test_param_change_reruns_exactly_stage_and_descendants(project):
    set_params(project, CHANGED_PARAM)
    res = dvc(project, "repro", TARGET)
    assert ran_stages(res) == RERUN
    git(project, "checkout", "params.yaml", "dvc.lock")
    dvc(project, "checkout", "-f", "--with-deps", TARGET)


def test_compute_change_reruns_nothing(project):
    set_params(project, {"compute": {"default": {"cpus": 7, "timeout_min": 999}}})
    res = dvc(project, "repro", TARGET)
    assert ran_stages(res) == set()
    git(project, "checkout", "params.yaml")


def test_exp_run_records_metrics(project):
    res = dvc(project, "exp", "run", "-n", "lr-variant", "-S", CHANGED_PARAM_CLI, TARGET)
    assert ran_stages(res) == RERUN
    shown = json.loads(dvc(project, "exp", "show", "--json").stdout)
    exps = [e for entry in shown for e in (entry.get("experiments") or [])]
    names = [run.get("name") for e in exps for run in e.get("revs", [])] + [e.get("name") for e in exps]
    assert "lr-variant" in names
    runs = [run for e in exps for run in e.get("revs", []) if run.get("name") == "lr-variant"]
    data = runs[0]["data"]
    assert data["params"]["params.yaml"]["data"]["vae"]["train"]["lr"] == 0.003
    assert data["metrics"], "the experiment records metrics"
    # back to the committed baseline
    git(project, "checkout", "params.yaml", "dvc.lock")
    dvc(project, "checkout", "-f", "--with-deps", TARGET)


def test_metrics_diff_lists_changed_metric(project):
    set_params(project, CHANGED_PARAM)
    dvc(project, "repro", TARGET)
    diff = json.loads(dvc(project, "metrics", "diff", "--json").stdout)
    assert diff, "dvc metrics diff lists the metrics that changed"
    changed = {path: m for path, m in diff.items() if any(v.get("diff") not in (0, None) for v in m.values())}
    elbo = diff["metrics/vae.json"]["elbo"]
    assert elbo["old"] is not None and elbo["new"] is not None and elbo["diff"] != 0, diff
    assert set(changed) <= {"metrics/vae.json", "metrics/build06.json"}, changed
    git(project, "checkout", "params.yaml", "dvc.lock")
    dvc(project, "checkout", "-f", "--with-deps", TARGET)
