"""build06 generating missing latents through vae_embed, and the `ethoflow build06` command."""

import json
import logging

import pandas as pd
import pytest
import torch

from ethoflow.build06 import Build06Params, run_build06
from ethoflow.cli import main
from ethoflow.vae.embed import embed_experiments
from ethoflow.vae.params import VAEParams
from ethoflow.vae.snips import build_df02, write_df02
from ethoflow.vae.train import train_vae
from tests.build06.test_merge import df02_frame, write_latents
from tests.vae.helpers import make_store

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    d = tmp_path_factory.mktemp("gen")
    store = make_store(d / "a.zarr", minutes=300)
    p = VAEParams.model_validate(
        {
            "model_name": "m",
            "snips": {"snip_len": 30},
            "model": {"latent_dim": 2, "hidden_dim": 8, "num_layers": 1},
            "train": {"epochs": 1, "val_fraction": 0.0},
        }
    )
    write_df02(build_df02(store, p.snips), d / "df02.parquet", None)
    train_vae(
        str(d / "df02.parquet"),
        str(store),
        p.model_dump(),
        str(d / "model"),
        str(d / "live"),
        str(d / "t.json"),
        str(d / "ck"),
    )
    return d, store


def test_generate_missing_latents_through_vae_embed(trained, tmp_path, caplog):
    d, store = trained
    lat = tmp_path / "latents" / "m"
    embed_experiments(d / "model" / "model.pt", d / "df02.parquet", store, lat, ["expA"])
    common = dict(
        model_name="m",
        df02=str(d / "df02.parquet"),
        latents_root=str(tmp_path / "latents"),
        vae_checkpoint=str(d / "model" / "model.pt"),
        activity_store=str(store),
        coverage_report=str(tmp_path / "cov.json"),
    )
    with caplog.at_level(logging.WARNING):
        res = run_build06(Build06Params(out=str(tmp_path / "a" / "df03.parquet"), **common))
    assert res.coverage["per_experiment"]["expB"]["coverage"] == 0.0 and "no latents for experiment expB" in caplog.text
    assert not (lat / "morph_latents_expB.csv").exists()
    res = run_build06(
        Build06Params(out=str(tmp_path / "b" / "df03.parquet"), generate_missing_latents=True, overwrite=True, **common)
    )
    assert (lat / "morph_latents_expB.csv").exists()
    assert res.coverage["overall"]["coverage"] == 1.0


def test_cli_dry_run_run_and_overwrite(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    df = df02_frame()
    df.to_csv(tmp_path / "df02.csv", index=False)
    for exp in ("e1", "e2", "e3"):
        write_latents(tmp_path / "lat" / "m1", exp, df.snip_id[df.experiment_date == exp])
    args = [
        "build06",
        "--params",
        "none.yaml",
        "--df02",
        "df02.csv",
        "--latents-root",
        "lat",
        "--model-name",
        "m1",
        "--out",
        "out/df03.parquet",
        "--coverage-report",
        "out/coverage.json",
        "--experiments",
        "e1,e2",
    ]
    assert main([*args, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "dry run: nothing written" in out and "write  out/df03.parquet" in out
    assert not (tmp_path / "out").exists()
    assert main(args) == 0
    assert "df03: 5 rows, 3 z columns, coverage 100.0%" in capsys.readouterr().out
    assert pd.read_parquet("out/df03.parquet").experiment_date.unique().tolist() == ["e1", "e2"]
    assert main(args) == 1  # exists: refused without --overwrite
    assert main([*args, "--dry-run"]) == 0
    assert "write  out/df03.parquet  (exists: needs --overwrite)" in capsys.readouterr().out
    assert (
        main([*args, "--overwrite", "--z-schema", "flat", "--z-dtype", "float64", "--no-csv", "--experiments", "e3"])
        == 0
    )
    assert json.loads((tmp_path / "out" / "coverage.json").read_text())["overall"]["n_rows"] == 2
    assert pd.read_parquet("out/df03.parquet").z_mu_00.dtype == "float64"


def test_cli_reads_params_section(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    df = df02_frame().iloc[:3]
    df.to_parquet(tmp_path / "d.parquet")
    write_latents(tmp_path / "data" / "processed" / "latents" / "vae_x", "e1", df.snip_id)
    (tmp_path / "params.yaml").write_text(
        "vae:\n  model_name: vae_x\nbuild06:\n  df02: d.parquet\n  write_csv: false\n"
    )
    assert main(["build06"]) == 0
    assert (tmp_path / "data" / "processed" / "df03.parquet").exists()
    assert not (tmp_path / "data" / "processed" / "df03.csv").exists()
    (tmp_path / "params.yaml").write_text("build06:\n  z_schema: wide\n")
    assert main(["build06"]) == 1
    assert "build06.z_schema" in capsys.readouterr().err
