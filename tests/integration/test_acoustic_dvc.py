"""The acoustic DAG under DVC on tiny demo data: repro, no-op repro, `dvc exp run -S`, `dvc metrics diff`."""

from __future__ import annotations

import json

import pytest

from tests.fixtures.tiny import DVC_ACOUSTIC
from tests.integration.dvcproject import copy_project, dvc, git, ran_stages

pytestmark = pytest.mark.integration

VARIANTS = ("v1",)  # one foreach item keeps the test short; the stages are the same for more
SETTINGS = ("default", "coarse")  # the matrix: every variant x every prediction setting
ALL = (
    {"demo_acoustic", "acoustic_corpus", "acoustic_report", "acoustic_detect@demo"}
    | {f"{s}@{v}" for s in ("acoustic_variants", "acoustic_train") for v in VARIANTS}
    | {
        f"{s}@{v}-{k}"
        for s in ("acoustic_predict", "acoustic_evaluate", "acoustic_rf_train", "acoustic_rf_filter")
        for v in VARIANTS
        for k in SETTINGS
    }
)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    proj = copy_project(tmp_path_factory.mktemp("acoustic_dvc"), DVC_ACOUSTIC)
    res = dvc(proj, "repro", "acoustic_report")
    assert ran_stages(res) == ALL, res.stdout
    git(proj, "add", "-A")
    git(proj, "commit", "-q", "-m", "first repro")
    return proj


def test_repro_writes_every_output(project):
    summary = json.loads((project / "reports/acoustic/summary.json").read_text())
    headline = json.loads((project / "metrics/acoustic.json").read_text())
    detect = headline.pop("detect")
    assert set(headline) == {f"{v}-{k}" for v in VARIANTS for k in SETTINGS}
    assert all(
        set(layers) == {"cnn", "rf"} and {"f1", "precision", "recall"} <= set(layers["cnn"])
        for layers in headline.values()
    )
    # every rate with its held-out event count and its 95% interval (bootstrap over events)
    for m in [*(layer for layers in headline.values() for layer in layers.values()), detect["demo"]]:
        assert m["events"] > 0, m
        for rate in ("f1", "precision", "recall"):
            assert m[f"{rate}_ci95_lo"] <= m[rate] <= m[f"{rate}_ci95_hi"], (rate, m)
    # threshold and clean-up chosen on the validation tape; the RF's counts and pass-through flag
    for layers in headline.values():
        assert {"threshold", "min_gap_s", "min_dur_s", "val_f1"} <= set(layers["cnn"])
        cnn = layers["cnn"]  # the validation F1 with its interval too (bootstrap over validation events)
        assert cnn["val_f1_ci95_lo"] <= cnn["val_f1"] <= cnn["val_f1_ci95_hi"], cnn
        assert {"rf_threshold", "rf_pass_through", "rf_n_pos", "rf_n_neg"} <= set(layers["rf"])
    post = json.loads((project / "data/processed/acoustic/detections/v1-default/postprocess.json").read_text())
    assert post["auto"] == ["threshold", "min_gap_s", "min_dur_s"] and post["val_tapes"]
    assert headline["v1-default"]["cnn"]["threshold"] == pytest.approx(post["threshold"])
    det_summary = json.loads((project / "data/processed/acoustic/detect/demo/summary.json").read_text())
    assert det_summary["threshold"] == post["threshold"] and det_summary["min_gap_s"] == post["min_gap_s"]
    # the detection set ran on the held-out tape and was scored against its hidden truth
    assert detect["demo"]["recordings"] == 1 and 0.0 <= detect["demo"]["f1"] <= 1.0
    assert (project / "data/processed/acoustic/detect/demo/selections/H01.Table.1.selections.txt").exists()
    for v in VARIANTS:
        for k in SETTINGS:
            for layer in ("cnn", "rf"):
                assert 0.0 <= summary[v][k][layer]["f1"] <= 1.0
    csv = (project / "reports/acoustic/metrics.csv").read_text().splitlines()
    assert csv[0].startswith("model,setting,layer,group,method,n_gt,n_pred,tp,fp,fn,precision,recall,f1")
    assert len(csv) == 1 + len(VARIANTS) * len(SETTINGS) * 2 * 2 * 2  # layers x groups x methods
    assert (project / "reports/acoustic/metrics_per_tape.csv").exists()
    assert list((project / "data/interim/acoustic/variants/v1/spectrograms").glob("*.png"))
    assert list((project / "data/processed/acoustic/filtered/v1-default/selections").glob("*.selections.txt"))
    assert (project / "models/acoustic/v1/dvclive/metrics.json").exists()
    import pandas as pd

    items = {f"{v}-{k}-{layer}" for v in VARIANTS for k in SETTINGS for layer in ("cnn", "rf")}
    assert set(pd.read_csv(project / "reports/acoustic/plots/pr.csv").series) == items
    assert set(pd.read_csv(project / "reports/acoustic/plots/confusion.csv").series) == items
    assert set(pd.read_csv(project / "reports/acoustic/plots/train_curves.csv").series) == set(VARIANTS)

    coarse = pd.read_parquet(project / "data/processed/acoustic/predictions/v1-coarse/predictions.parquet")
    assert (coarse.end_s - coarse.start_s).max() == pytest.approx(0.5)
    res = dvc(project, "repro", "acoustic_report")
    assert ran_stages(res) == set()


def test_exp_run_lr_reruns_training_and_descendants_and_metrics_diff(project):
    res = dvc(project, "exp", "run", "-n", "lr-acoustic", "-S", "acoustic.train.lr=0.01", "acoustic_report")
    ran = ran_stages(res)
    assert {"acoustic_train@v1", "acoustic_predict@v1-default", "acoustic_predict@v1-coarse", "acoustic_report"} <= ran
    assert not ran & {"demo_acoustic", "acoustic_corpus", "acoustic_variants@v1"}
    shown = json.loads(dvc(project, "exp", "show", "--json").stdout)
    exps = [e for entry in shown for e in (entry.get("experiments") or [])]
    names = [run.get("name") for e in exps for run in e.get("revs", [])] + [e.get("name") for e in exps]
    assert "lr-acoustic" in names
    # every headline number is listed with its old (HEAD) and new value; the training curves changed
    diff = json.loads(dvc(project, "metrics", "diff", "--all", "--json").stdout)
    cnn_f1 = diff["metrics/acoustic.json"]["v1-default.cnn.f1"]
    assert cnn_f1["old"] is not None and cnn_f1["new"] is not None, diff
    assert (project / "dvc.lock").read_text() != git(project, "show", "HEAD:dvc.lock"), "the model changed"
