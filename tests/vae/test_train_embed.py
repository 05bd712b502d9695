"""vae_train (split by cage, normalisation in the checkpoint, early stopping, curves, resume) and vae_embed."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from ethoflow.core.errors import InputError
from ethoflow.vae.embed import embed_experiments, latent_columns
from ethoflow.vae.model import VAEConfig
from ethoflow.vae.params import VAEParams
from ethoflow.vae.snips import build_df02, load_snip_arrays, write_df02
from ethoflow.vae.training import fit_normaliser, load_vae, split_by_cage
from tests.fixtures.vae import train_vae_in
from tests.vae.helpers import make_store

torch.set_num_threads(1)


def tiny_params(**train):
    return VAEParams.model_validate(
        {
            "model_name": "tiny",
            "seed": 3,
            "snips": {"snip_len": 30, "snip_stride": 30},
            "model": {"latent_dim": 3, "hidden_dim": 8, "num_layers": 1, "encoder": "conv", "nuisance_dims": 1},
            "train": {"epochs": 4, "batch_size": 16, "lr": 0.01, "warmup_epochs": 1, "val_fraction": 0.34, **train},
        }
    )


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("vae")
    store = make_store(d / "a.zarr", minutes=600)
    p = tiny_params()
    df = build_df02(store, p.snips)
    write_df02(df, d / "df02.parquet", None)
    return d, store, d / "df02.parquet", df


def run(d, store, df02, p, tag, ckpt=None, **kw):
    out = d / tag
    return train_vae_in(out, df02, store, p, ckpt, **kw), out


def test_split_by_cage_holds_out_whole_cages():
    df = pd.DataFrame({"experiment_date": ["e"] * 6 + ["f"] * 2, "cage_id": list("aabbccaa")})
    tr, va = split_by_cage(df, 0.25, seed=0)
    assert len(tr) + len(va) == 8 and set(tr).isdisjoint(va)
    keys = (df.experiment_date + df.cage_id).to_numpy()
    assert set(keys[tr]).isdisjoint(keys[va]) and len(set(keys[va])) == 1
    tr1, va1 = split_by_cage(df.iloc[:2], 0.5, seed=0)  # one cage: no validation
    assert len(va1) == 0 and len(tr1) == 2


def test_fit_normaliser_ignores_missing():
    x = np.array([[[1.0, 5.0], [3.0, np.nan]]], np.float32)
    m = np.array([[[True, True], [True, False]]])
    s = fit_normaliser(x, m)
    assert s["mean"] == pytest.approx([2.0, 5.0]) and s["std"] == pytest.approx([1.0, 1.0])
    s2 = fit_normaliser(np.full((1, 2, 1), np.nan, np.float32), np.zeros((1, 2, 1), bool))  # no valid reading
    assert s2 == {"mean": [0.0], "std": [1.0]}


def test_train_outputs_normaliser_and_curves(data):
    d, store, df02, df = data
    p = tiny_params()
    summary, out = run(d, store, df02, p, "full")
    model, ck = load_vae(out / "model" / "model.pt")
    assert ck["config"]["seq_len"] == 30 and ck["config"]["channels"] == 4 and ck["config"]["nuisance_dims"] == 1
    # normalisation fitted on the training cages' snips only
    used = df[df.use_snip_flag].reset_index(drop=True)
    tr, va = split_by_cage(used, p.train.val_fraction, p.seed)
    x, m = load_snip_arrays(store, used.iloc[tr], 30)
    assert ck["normaliser"]["mean"] == pytest.approx(fit_normaliser(x, m)["mean"])
    assert summary["n_train_snips"] == len(tr) and summary["n_val_snips"] == len(va) > 0
    assert summary["epochs_run"] == 4 and summary["monitor"] == "val"
    # the per-cage normalised reconstruction error of each split: comparable across splits (a fraction)
    assert 0 < summary["recon_nmse_val"] < 5 and 0 < summary["recon_nmse_train"] < 5
    assert summary["n_train_cages"] == used.iloc[tr].cage_id.nunique()
    assert json.loads((out / "train.json").read_text())["best_epoch"] == summary["best_epoch"]
    live = json.loads((out / "live" / "metrics.json").read_text())
    for key in ("recon", "kl", "elbo"):
        assert key in live["train"] and key in live["val"]
    assert set(live["val"]["kl_dim"]) == {"00", "01", "02"}
    tsv = out / "live" / "plots" / "metrics" / "val" / "kl_dim" / "00.tsv"
    assert len(tsv.read_text().strip().splitlines()) == 1 + 4  # header + one row per epoch
    assert not (out / "ckpt").exists() or not any((out / "ckpt").iterdir())  # finished: checkpoint removed


# kill -9 and resume: tested once for the training engine every model trains through
# (tests/faults/test_resume.py::test_training_engine_killed_anywhere_resumes_to_the_same_bytes, six kill
# points), not per model.


def test_early_stopping(data):
    d, store, df02, _ = data
    p = tiny_params(lr=1e-12, epochs=10, patience=2, warmup_epochs=0)
    summary, _ = run(d, store, df02, p, "early")
    assert summary["stopped_early"] and summary["epochs_run"] == 3 and summary["best_epoch"] == 0


def test_no_flagged_snips_is_an_error(tmp_path, data):
    d, store, df02, df = data
    bad = df.assign(use_snip_flag=False)
    write_df02(bad, tmp_path / "df02.parquet", None)
    with pytest.raises(InputError, match="no snip has use_snip_flag"):
        run(tmp_path, store, tmp_path / "df02.parquet", tiny_params(), "x")


def test_embed_writes_latent_store_layout(data, tmp_path):
    d, store, df02, df = data
    _, out = run(d, store, df02, tiny_params(epochs=1), "emb")
    files = embed_experiments(out / "model" / "model.pt", df02, store, tmp_path / "lat" / "tiny", batch_size=7)
    assert [f.name for f in files] == ["morph_latents_expA.csv", "morph_latents_expB.csv"]
    assert all(f.with_suffix(".parquet").exists() for f in files)  # Parquet twins for fast reads
    a = pd.read_csv(files[0])
    assert list(a.columns) == ["snip_id", "z_mu_b_00", "z_mu_b_01", "z_mu_n_00"]
    assert a.snip_id.tolist() == df[df.experiment_date == "expA"].snip_id.tolist()  # every snip, flagged or not
    assert np.isfinite(a.iloc[:, 1:].to_numpy()).all()
    again = embed_experiments(out / "model" / "model.pt", df02, store, tmp_path / "lat2", ["expA"], batch_size=7)
    assert again[0].read_bytes() == files[0].read_bytes()  # deterministic
    other = pd.read_csv(
        embed_experiments(out / "model" / "model.pt", df02, store, tmp_path / "lat4", ["expA"], batch_size=64)[0]
    )
    np.testing.assert_allclose(other.iloc[:, 1:], a.iloc[:, 1:], atol=1e-5)  # batch size: rounding only
    with pytest.raises(InputError, match="not in df02"):
        embed_experiments(out / "model" / "model.pt", df02, store, tmp_path / "lat3", ["nope"])


def test_cage_nmse_is_one_minus_r2_per_cage_averaged_over_cages():
    from ethoflow.vae.training import cage_nmse

    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 1, (3, 5, 2)), rng.normal(10, 30, (3, 5, 2))]).astype(np.float32)
    mask = np.ones_like(x, bool)
    cages = np.array(["a"] * 3 + ["b"] * 3)
    assert cage_nmse(x, x, mask, cages) == 0.0
    # predicting each cage's own mean: 1 for both cages, whatever their scale
    means = np.concatenate([np.broadcast_to(x[c == cages].mean(axis=(0, 1)), (3, 5, 2)) for c in ("a", "b")])
    assert cage_nmse(x, means, mask, cages) == pytest.approx(1.0)
    assert cage_nmse(x[:0], x[:0], mask[:0], cages[:0]) is None


def test_latent_column_names():
    assert latent_columns(VAEConfig(seq_len=4, channels=1, latent_dim=3)) == ["z_mu_00", "z_mu_01", "z_mu_02"]
    assert latent_columns(VAEConfig(seq_len=4, channels=1, latent_dim=3, nuisance_dims=2)) == [
        "z_mu_b_00",
        "z_mu_n_00",
        "z_mu_n_01",
    ]


def test_latent_pca_recovers_the_dominant_direction():
    from ethoflow.vae.plots import latent_pca

    rng = np.random.default_rng(0)
    t = rng.standard_normal(500)
    z = np.stack([3 * t, 3 * t, 0.1 * rng.standard_normal(500)], 1)
    scores, ratio = latent_pca(z)
    assert scores.shape == (500, 2) and ratio[0] > 0.99
    assert abs(np.corrcoef(scores[:, 0], t)[0, 1]) > 0.999


def test_collapse_warning_message():
    """issue #14 item 4: more than half the latent dims below 0.01 nats of KL is posterior collapse."""
    from ethoflow.vae.training import collapse_warning

    msg = collapse_warning([0.5] + [0.001] * 7)
    assert msg.startswith("7 of 8 latent dims inactive (KL < 0.01 nats): posterior collapse")
    assert collapse_warning([0.5, 0.5, 0.001, 0.001]) is None  # exactly half: not "more than half"
    assert collapse_warning([0.5] * 3) is None and collapse_warning([]) is None


def test_training_logs_one_line_per_epoch(data, caplog):
    import logging

    d, store, df02, _ = data
    with caplog.at_level(logging.INFO, logger="ethoflow.vae.training"):
        run(d, store, df02, tiny_params(epochs=2), "epochs")
    lines = [r.getMessage() for r in caplog.records if "vae_train: epoch" in r.getMessage()]
    assert [ln.split(":")[1].strip() for ln in lines] == ["epoch 1/2", "epoch 2/2"]
    assert "train recon" in lines[0] and "val recon" in lines[0] and "beta" in lines[0]


def test_posterior_collapse_is_warned_in_the_log(data, caplog):
    import logging

    d, store, df02, _ = data
    p = tiny_params(epochs=3, beta=1e4, beta_schedule="constant")  # a huge KL weight collapses the posterior
    with caplog.at_level(logging.WARNING):
        summary, _ = run(d, store, df02, p, "collapse")
    assert summary["active_dims"] * 2 < summary["latent_dim"] and summary["posterior_collapse"] is True
    assert f"{summary['latent_dim'] - summary['active_dims']} of 3 latent dims inactive" in caplog.text


@pytest.mark.parametrize("how", ["truncated", "empty"])
def test_embed_with_corrupt_model_names_the_file_and_writes_nothing(data, tmp_path, how):
    """issue #14 item 3: a truncated model.pt is one InputError naming the file (was OSError [Errno 22])."""
    d, store, df02, _ = data
    _, out = run(d, store, df02, tiny_params(epochs=1), f"corrupt_{how}")
    model = out / "model" / "model.pt"
    raw = model.read_bytes()
    model.write_bytes(raw[: len(raw) // 3] if how == "truncated" else b"")
    with pytest.raises(InputError) as ei:
        embed_experiments(model, df02, store, tmp_path / "lat" / "tiny")
    msg = str(ei.value)
    assert str(model) in msg and ("truncated or corrupt" in msg or "empty" in msg) and "\n" not in msg
    assert not (tmp_path / "lat").exists()


def test_train_uses_num_threads_from_params(data):
    """``vae.train.num_threads`` (default 1: one thread per process suits shared machines) is applied
    in the training process."""
    d, store, df02, _ = data
    assert VAEParams().train.num_threads == 1
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        run(d, store, df02, tiny_params(epochs=1, num_threads=2), "threads")
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
