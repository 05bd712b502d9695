"""build06 generating missing latents through vae_embed, and the `ethoflow build06` command."""

import json

import pandas as pd
import pytest
import torch

from ethoflow.build06 import read_sidecar, resolve_model_dir
from ethoflow.cli import main
from ethoflow.core.errors import InputError
from ethoflow.vae.embed import embed_experiments
from ethoflow.vae.params import VAEParams
from ethoflow.vae.snips import build_df02, write_df02
from tests.build06.test_merge import df02_frame, write_latents
from tests.fixtures.vae import train_vae_in
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
    train_vae_in(d, d / "df02.parquet", store, p)
    return d, store


def test_generate_missing_latents_is_a_separate_cli_path(trained, tmp_path, capsys, monkeypatch):
    """`ethoflow build06 --generate-missing-latents` embeds the missing experiments with vae_embed's code
    into the store the user names; without the flag a missing experiment is an error."""
    d, store = trained
    monkeypatch.chdir(tmp_path)
    lat = tmp_path / "latents" / "m"
    embed_experiments(d / "model" / "model.pt", d / "df02.parquet", store, lat, ["expA"])
    args = ["build06", "--params", "none.yaml", "--model-name", "m", "--df02", str(d / "df02.parquet")]
    args += ["--latents-root", "latents", "--out", "out/df03.parquet"]
    assert main([*args, "--dry-run"]) == 0
    assert "missing latents for expB: the run would fail" in capsys.readouterr().out
    assert main(args) == 1
    assert "no latent file for 1 experiment(s) ['expB']" in capsys.readouterr().err
    assert not (lat / "morph_latents_expB.csv").exists() and not (tmp_path / "out").exists()
    gen = [*args, "--generate-missing-latents", "--vae-checkpoint", str(d / "model" / "model.pt")]
    assert main([*gen, "--activity-store", str(store)]) == 0
    assert (lat / "morph_latents_expB.csv").exists()
    assert "coverage 100.0%" in capsys.readouterr().out


def test_generation_never_writes_into_a_dvc_out(trained, tmp_path, capsys, monkeypatch):
    d, store = trained
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text("vae:\n  model_name: m\n")
    (tmp_path / "dvc.yaml").write_text(
        "stages:\n  vae_embed:\n    cmd: x\n    outs:\n      - data/processed/latents/${vae.model_name}\n"
    )
    args = ["build06", "--df02", str(d / "df02.parquet"), "--latents-root", "data/processed/latents"]
    args += ["--out", "out/df03.parquet", "--generate-missing-latents", "--activity-store", str(store)]
    args += ["--vae-checkpoint", str(d / "model" / "model.pt")]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "is the DVC out" in err and "vae_embed" in err
    assert not (tmp_path / "data").exists() and not (tmp_path / "out").exists()


def test_resolve_model_dir_morphseq_and_final_model_layouts(tmp_path):
    legacy = tmp_path / "models" / "legacy" / "m1" / "final_model"
    legacy.mkdir(parents=True)
    (legacy / "model.pt").write_bytes(b"x")
    assert resolve_model_dir(tmp_path, "m1") == legacy
    (tmp_path / "m2").mkdir()
    (tmp_path / "m2" / "model.pt").write_bytes(b"x")
    assert resolve_model_dir(tmp_path, "m2") == tmp_path / "m2"
    with pytest.raises(InputError, match=r"model 'm3': no model.pt in .*models/legacy/m3"):
        resolve_model_dir(tmp_path, "m3")


def test_cli_dry_run_run_and_overwrite(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    df = df02_frame()
    df.to_csv(tmp_path / "df02.csv", index=False)
    for exp in ("e1", "e2", "e3"):
        write_latents(tmp_path / "lat" / "m1", exp, df.snip_id[df.experiment_date == exp])
    args = ["build06", "--params", "none.yaml", "--df02", "df02.csv", "--latents-root", "lat"]
    args += ["--model-name", "m1", "--out", "out/df03.parquet", "--experiments", "e1,e2"]
    assert main([*args, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "dry run: nothing written" in out and "write  out/df03.parquet" in out
    assert "write  out/df03_coverage.json" in out and "write  out/df03.json" in out
    assert not (tmp_path / "out").exists()
    assert main(args) == 0
    assert "df03: 5 rows, 3 z columns, coverage 100.0%" in capsys.readouterr().out
    assert pd.read_parquet("out/df03.parquet").experiment_date.unique().tolist() == ["e1", "e2"]
    assert main(args) == 1  # exists: refused without --overwrite
    assert main([*args, "--dry-run"]) == 0
    assert "write  out/df03.parquet  (exists: needs --overwrite)" in capsys.readouterr().out
    again = [*args, "--overwrite", "--z-schema", "flat", "--z-dtype", "float64", "--no-csv", "--experiments", "e3"]
    assert main(again) == 0
    assert json.loads((tmp_path / "out" / "df03_coverage.json").read_text())["overall"]["n_rows"] == 2
    assert pd.read_parquet("out/df03.parquet").z_mu_00.dtype == "float64"


def test_cli_morphseq_roots_flags_and_data_root_from_env(tmp_path, capsys, monkeypatch):
    """morphseq's Build06 flags: --root (df03 beside df02), --data-root (default $MORPHSEQ_DATA_ROOT),
    --export-analysis-copies and --train-name."""
    root, data = tmp_path / "root", tmp_path / "central"
    meta = root / "metadata" / "combined_metadata_files"
    meta.mkdir(parents=True)
    df = df02_frame().iloc[:3].assign(experiment_date=[20240418] * 3)
    df["snip_id"] = ["20240418_A01_e01_s0001", "20240418_A01_e01_s0002", "20240418_B02_e01_s0001"]
    df.to_csv(meta / "embryo_metadata_df02.csv", index=False)
    legacy = data / "analysis" / "latent_embeddings" / "legacy" / "legacy_vae"
    write_latents(legacy, "20240418", df.snip_id.str.replace("_s", "_t"), k=4)
    train = root / "training_data" / "run1"
    train.mkdir(parents=True)
    pd.DataFrame({"snip_id": df.snip_id[:2], "split": ["train", "val"]}).to_csv(
        train / "embryo_metadata_df_train.csv", index=False
    )
    monkeypatch.setenv("MORPHSEQ_DATA_ROOT", str(data))
    monkeypatch.chdir(tmp_path)
    args = ["build06", "--root", str(root), "--model-name", "legacy_vae", "--export-analysis-copies"]
    assert main([*args, "--train-name", "run1", "--params", "none.yaml"]) == 0
    assert "coverage 100.0%" in capsys.readouterr().out
    df03 = pd.read_csv(meta / "embryo_metadata_df03.csv")
    assert len(df03) == 3 and [c for c in df03.columns if c.startswith("z_mu_")] == [f"z_mu_{i:02d}" for i in range(4)]
    assert (meta / "embryo_metadata_df03.parquet").exists() and (meta / "embryo_metadata_df03_coverage.json").exists()
    assert read_sidecar(meta / "embryo_metadata_df03.json").df02 == str(meta / "embryo_metadata_df02.csv")
    copy = data / "metadata" / "metadata_n_embeddings" / "legacy_vae" / "df03_20240418.csv"
    assert pd.read_csv(copy).snip_id.tolist() == df.snip_id.tolist()
    joined = pd.read_csv(train / "embryo_metadata_with_embeddings.csv")
    assert joined.split.tolist() == ["train", "val"] and joined.z_mu_03.notna().all()
    monkeypatch.delenv("MORPHSEQ_DATA_ROOT")
    assert main(["build06", "--root", str(root), "--model-name", "legacy_vae", "--params", "none.yaml"]) == 1
    assert "no latent store: pass --data-root (or set $MORPHSEQ_DATA_ROOT) or --latents-root" in capsys.readouterr().err


def test_cli_reads_merge_options_from_the_params_section(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    df = df02_frame().iloc[:3]
    df.to_parquet(tmp_path / "d.parquet")
    write_latents(tmp_path / "lat" / "vae_x", "e1", df.snip_id)
    (tmp_path / "params.yaml").write_text("vae:\n  model_name: vae_x\nbuild06:\n  z_dtype: float64\n")
    assert main(["build06", "--df02", "d.parquet", "--latents-root", "lat", "--out", "o/df03.parquet"]) == 0
    assert pd.read_parquet(tmp_path / "o" / "df03.parquet").z_mu_00.dtype == "float64"
    (tmp_path / "params.yaml").write_text("build06:\n  z_schema: wide\n")
    assert main(["build06", "--df02", "d.parquet"]) == 1
    assert "build06.z_schema" in capsys.readouterr().err
