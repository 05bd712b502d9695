"""hbehave end to end: the real DAM file through the stage scripts, and the DVC DAG on the demo data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.fixtures.tiny import DVC_HBEHAVE
from tests.integration.dvcproject import copy_project, dvc, ran_stages, set_params

REPO = Path(__file__).resolve().parents[2]

TINY_MODEL_1CH = {
    "input_size": [240, 1, 1],
    "patch_kernel": [5, 1, 1],
    "stages": [1, 1, 1],
    "q_strides": "4,1,1;3,1,1",
    "mask_unit_attn": [True, False, False],
    "init_embed_dim": 8,
    "init_num_heads": 1,
    "decoder_embed_dim": 8,
    "decoder_depth": 1,
    "decoder_num_heads": 1,
}


def _stage(name: str, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    from ethoflow.hbehave.params import HBehaveParams
    from tests.stage_args import dvc_argv, stage_env

    # the arguments dvc.yaml gives the stage (``name`` may be ``stage@item``), resolved against cwd's params
    params = cwd / "params.yaml"
    argv = ["--params", str(params), *dvc_argv(name, params, {"hbehave": HBehaveParams})]
    env = stage_env(cwd)
    res = subprocess.run(
        [sys.executable, str(REPO / "stages" / f"{name.split('@')[0]}.py"), *argv, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, f"{name} failed:\n{res.stdout}\n{res.stderr}"
    return res


@pytest.mark.integration
def test_real_dam_file_zarr_train_extract_heatmaps(shared_data, tmp_path):
    params = {
        "hbehave": {
            "zarr": {
                "input_format": "dam",
                "input_dir": str(shared_data / "activity" / "dam"),
                "summary_file": None,
                "dam_layout": "per_tube",
                "val_fraction": 0.25,
            },
            "model": TINY_MODEL_1CH,
            "train": {"epochs": 1, "batch_size": 32, "window_stride_min": 240},
            "extract": {"aggregations": {"4h": 240}, "window_stride_min": 120, "batch_size": 32},
            "heatmaps": {"max_cages": 2, "max_dims": 8},
        }
    }
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    _stage("hbehave_zarr", tmp_path)
    report = json.loads((tmp_path / "data/interim/hbehave/zarr_report.json").read_text())
    assert report["totals"]["n_cages"] == 32 and report["totals"]["invalid_status_rows"] == 18
    assert report["files"]["M014.txt"]["status_codes"] == {"1": 3447, "24": 1, "51": 17}
    res = _stage("hbehave_train", tmp_path)
    assert "hBehaveMAE parameters:" in res.stdout
    train = json.loads((tmp_path / "models/hbehave/train_summary.json").read_text())
    assert train["completed"] and np.isfinite(train["train_loss"]) and np.isfinite(train["val_loss"])
    _stage("hbehave_extract@4h", tmp_path)
    out = tmp_path / "data/processed/hbehave/embeddings/4h"
    with np.load(out / "embeddings_4h_comb.npz", allow_pickle=False) as z:
        assert z["embeddings"].shape == (32 * 3482, 8 + 16 + 32) and np.isfinite(z["embeddings"]).all()
        assert str(z["timestamps"][0]) == "2017-06-30T14:08"
        assert z["cage_rows"]["cage_id"][4] == "M014_ch05"
    idx = pd.read_parquet(out / "index_4h.parquet")
    assert idx["experiment"].unique().tolist() == ["20170630"]
    _stage("hbehave_heatmaps@4h", tmp_path)
    table = pd.read_csv(tmp_path / "reports/hbehave/heatmaps/4h/summary.csv")
    assert len(table) == 32 and (table["rows"] == 3482).all()
    # status-51 and status-24 minutes (and the 2-minute steps between the first rows) are not covered
    assert (table["minutes_covered"] == 3482 - 35).all()
    assert (
        len(list((tmp_path / "reports/hbehave/heatmaps/4h").glob("*.png"))) == 2 * 4 * 2
    )  # cages x levels x DAY/NIGHT


@pytest.mark.integration
def test_dvc_repro_demo_dag(tmp_path):
    proj = copy_project(tmp_path, params=DVC_HBEHAVE)
    res = dvc(proj, "repro", "hbehave_heatmaps")
    assert ran_stages(res) == {
        "demo_hbehave",
        "hbehave_zarr",
        "hbehave_train",
        "hbehave_extract@4h",
        "hbehave_heatmaps@4h",
    }
    assert (proj / "reports/hbehave/heatmaps/4h/summary.csv").exists()
    assert (proj / "data/interim/hbehave/zarr_report.json").exists() and (proj / "models/hbehave/model.pt").exists()
    assert ran_stages(dvc(proj, "repro", "hbehave_heatmaps")) == set()
    set_params(proj, {"hbehave": {"heatmaps": {"dpi": 60}}})
    assert ran_stages(dvc(proj, "repro", "hbehave_heatmaps")) == {"hbehave_heatmaps@4h"}
    set_params(proj, {"hbehave": {"extract": {"window_stride_min": 60}}})
    assert ran_stages(dvc(proj, "repro", "hbehave_heatmaps")) == {"hbehave_extract@4h", "hbehave_heatmaps@4h"}
    # a forced rerun of the whole chain writes the same bytes: model, embeddings and metrics (no wall times)
    lock = (proj / "dvc.lock").read_text()
    assert ran_stages(dvc(proj, "repro", "-f", "hbehave_heatmaps")) >= {"hbehave_train", "hbehave_extract@4h"}
    assert (proj / "dvc.lock").read_text() == lock
