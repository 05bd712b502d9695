"""The VAE as a library on any (N, T, C) array: import_h5, split_datasets, train, the loss helpers, and
the latent-traversal figure."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ethoflow.core.errors import InputError
from ethoflow.vae import TimeSeriesVAE, TrainSettings, VAEConfig, import_h5, split_datasets, train
from ethoflow.vae.plots import plot_latent_traversal

torch.set_num_threads(1)


def _sines(n=48, t=20, c=2, seed=0):
    rng = np.random.default_rng(seed)
    phase = rng.uniform(0, 2 * np.pi, n)
    amp = rng.uniform(0.5, 2.0, n)
    time = np.arange(t) / t * 2 * np.pi
    x = amp[:, None, None] * np.sin(time[None, :, None] + phase[:, None, None] + np.arange(c)[None, None, :])
    return x.astype(np.float32)


def test_import_h5_reads_snips_masks_and_names_what_is_missing(tmp_path):
    import h5py

    x = _sines()
    x[0, 3, 1] = np.nan
    with h5py.File(tmp_path / "s.h5", "w") as fh:
        fh["snips"] = x
        fh["one_channel"] = x[:, :, 0]
    got, mask = import_h5(tmp_path / "s.h5", "snips")
    assert got.shape == (48, 20, 2) and not mask[0, 3, 1] and mask.sum() == x.size - 1
    assert import_h5(tmp_path / "s.h5", "one_channel")[0].shape == (48, 20, 1)
    with pytest.raises(InputError, match=r"s\.h5: no dataset 'x' \(datasets: one_channel, snips\)"):
        import_h5(tmp_path / "s.h5")
    (tmp_path / "bad.h5").write_text("not hdf5")
    with pytest.raises(InputError, match=r"bad\.h5: not a readable HDF5 file"):
        import_h5(tmp_path / "bad.h5")


def test_split_datasets_keeps_each_group_in_one_split():
    x = _sines(n=40)
    groups = np.repeat(np.arange(8), 5)  # 8 animals, 5 snips each
    parts = split_datasets(x, val_fraction=0.25, test_fraction=0.125, seed=1, groups=groups)
    assert {k: len(v) for k, v in parts.items()} == {"train": 25, "val": 10, "test": 5}
    rows = {k: {tuple(np.round(s[:, 0], 5)) for s in v.x} for k, v in parts.items()}
    assert not (rows["train"] & rows["val"]) and not (rows["train"] & rows["test"])
    with pytest.raises(InputError, match="sum below 1"):
        split_datasets(x, val_fraction=0.6, test_fraction=0.5)


def test_train_on_a_plain_array_improves_the_elbo_and_keeps_the_best_weights(tmp_path):
    parts = split_datasets(_sines(), val_fraction=0.25, seed=0)
    torch.manual_seed(0)
    model = TimeSeriesVAE(VAEConfig(seq_len=20, channels=2, latent_dim=2, hidden_dim=8, num_layers=1))
    settings = TrainSettings(epochs=6, lr=0.01, batch_size=8, warmup_epochs=2, seed=0)
    res = train(model, parts["train"], parts["val"], settings)
    val_elbo = [h["val"]["elbo"] for h in res.history]
    assert len(res.history) == 6 and val_elbo[-1] > val_elbo[0]
    assert 1 <= res.best_epoch <= 5 and not res.resumed
    assert [h["beta"] for h in res.history][:3] == [0.5, 1.0, 1.0]  # linear warm-up over 2 epochs
    with torch.no_grad():  # the model holds the best epoch's weights
        mu, _ = model.encode(torch.from_numpy(parts["val"].x), torch.from_numpy(parts["val"].mask))
    assert mu.shape == (len(parts["val"]), 2)
    with pytest.raises(InputError, match=r"the model expects \(20, 2\)"):
        train(model, _sines(t=10), settings=TrainSettings(epochs=1))
    with pytest.raises(InputError, match="kl_schedule must be one of constant, linear, step"):
        train(model, parts["train"], settings=TrainSettings(kl_schedule="cyclic"))


def test_latent_traversal_figure(tmp_path):
    torch.manual_seed(0)
    model = TimeSeriesVAE(VAEConfig(seq_len=20, channels=2, latent_dim=3, hidden_dim=8, num_layers=1))
    x = _sines(n=10)
    out = plot_latent_traversal(model, x, np.ones(x.shape, bool), tmp_path / "traversal.png", ["act", "temp"])
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 5000
