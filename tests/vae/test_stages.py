"""The stage scripts end to end in a temporary project (vae_train and vae_embed through submitit's debug executor)."""

import importlib.util
import json
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from ethoflow.build06.params import Build06Params
from ethoflow.core.errors import ParamsError
from ethoflow.vae.params import VAEParams
from tests.stage_args import dvc_argv
from tests.vae.helpers import make_store

torch.set_num_threads(1)
REPO = Path(__file__).resolve().parents[2]


def stage(name):
    spec = importlib.util.spec_from_file_location(name, REPO / "stages" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.main


def test_stage_chain_in_tmp_project(in_tmp, monkeypatch):
    monkeypatch.setenv("ETHOFLOW_EXECUTOR", "debug")
    make_store(in_tmp / "data/interim/hbehave/activity.zarr", minutes=240)
    params = {
        "vae": {
            "model_name": "t",
            "snips": {"snip_len": 30, "snip_stride": 30},
            "model": {"latent_dim": 2, "hidden_dim": 8, "num_layers": 1, "encoder": "gru"},
            "train": {"epochs": 1},
        },
        "build06": {},
    }
    (in_tmp / "params.yaml").write_text(yaml.safe_dump(params))
    stage("vae_snips")(dvc_argv("vae_snips", sections={"vae": VAEParams}))
    stage("vae_train")(dvc_argv("vae_train", sections={"vae": VAEParams}))
    stage("vae_embed")(dvc_argv("vae_embed", sections={"vae": VAEParams}))
    stage("build06")(dvc_argv("build06", sections={"vae": VAEParams, "build06": Build06Params}))
    df02 = pd.read_parquet("data/processed/vae/df02.parquet")
    assert len(df02) == 3 * 8
    assert json.loads(Path("data/processed/vae/snips_summary.json").read_text())["n_snips"] == 24
    assert Path("models/vae/t/model.pt").exists()
    assert sorted(p.name for p in Path("data/processed/latents/t").glob("*.csv")) == [
        "morph_latents_expA.csv",
        "morph_latents_expB.csv",
    ]
    assert json.loads(Path("data/processed/df03_coverage.json").read_text())["overall"]["coverage"] == 1.0
    for fig in ("reports/vae/latents_pca.png", "reports/vae/reconstructions.png"):
        assert Path(fig).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    params["build06"] = {"dry_run": True}
    (in_tmp / "params.yaml").write_text(yaml.safe_dump(params))
    with pytest.raises(ParamsError, match="dry_run"):  # a CLI flag now (ethoflow build06 --dry-run), not a param
        stage("build06")(dvc_argv("build06", sections={"vae": VAEParams}))
    params["vae"]["train"]["epochs"] = "many"
    (in_tmp / "params.yaml").write_text(yaml.safe_dump(params))
    with pytest.raises(ParamsError, match=r"vae.train.epochs"):
        stage("vae_train")(dvc_argv("vae_train", sections={"vae": VAEParams}))
