"""The VAE as a library: train a :class:`~ethoflow.vae.model.TimeSeriesVAE` on any ``(N, T, C)`` array.

The way compact time-series VAE packages are used (load an array, split it, train, look at the
latents), written for ethoflow::

    from ethoflow.vae import TimeSeriesVAE, TrainSettings, VAEConfig, import_h5, split_datasets, train

    x, mask = import_h5("recordings.h5", "snips")               # (N, T, C), mask (N, T, C) or None
    parts = split_datasets(x, mask, val_fraction=0.2, seed=0)     # {"train": SnipData, "val": SnipData}
    model = TimeSeriesVAE(VAEConfig(seq_len=x.shape[1], channels=x.shape[2], latent_dim=8))
    settings = TrainSettings(epochs=50, lr=1e-3, batch_size=64, kl_schedule="linear", warmup_epochs=10)
    result = train(model, parts["train"], parts["val"], settings)
    result.history[-1]["val"]["elbo"]; result.best_epoch          # model holds the best epoch's weights

The loss is the negative ELBO with a scheduled KL weight (:mod:`ethoflow.vae.losses`: masked MSE or
Huber reconstruction, KL to N(0, I), ``constant``/``linear``/``step`` schedules; Kingma & Welling
2014, Higgins et al. 2017, Bowman et al. 2016). Training runs on ethoflow's engine
(:mod:`ethoflow.core.training`, PyTorch Lightning): AdamW, gradient clipping, early stopping on the
validation negative ELBO at the final beta counted from the end of the KL warm-up (during the
warm-up the latest weights are kept), DVCLive curves, and, with ``ckpt_dir``, exact resume of a
killed run. The activity-store pipeline (:func:`ethoflow.vae.training.train_vae`) is one caller.
"""

from __future__ import annotations

import hashlib
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ethoflow.core.errors import InputError
from ethoflow.core.logging import get_logger
from ethoflow.core.training import EpochSampler, LoopSettings, TrainingModule, adam, fit
from ethoflow.vae.losses import beta_at, vae_loss
from ethoflow.vae.model import TimeSeriesVAE

KL_SCHEDULES = ("constant", "linear", "step")
#: one line per epoch under the vae_train stage's logger
_epoch_log = get_logger("ethoflow.vae.training")


@dataclass
class SnipData:
    """Snips ``x`` (N, T, C) float32 and their validity ``mask`` (N, T, C) bool (missing readings False)."""

    x: np.ndarray
    mask: np.ndarray

    def __post_init__(self) -> None:
        self.x = np.asarray(self.x, dtype=np.float32)
        self.mask = np.ones(self.x.shape, bool) if self.mask is None else np.asarray(self.mask, bool)
        if self.x.ndim != 3:
            raise InputError(f"snips must be (N, T, C); got shape {self.x.shape}")
        if self.mask.shape != self.x.shape:
            raise InputError(f"mask shape {self.mask.shape} differs from snips shape {self.x.shape}")
        self.x = np.where(self.mask, np.nan_to_num(self.x), 0.0).astype(np.float32)

    def __len__(self) -> int:
        return len(self.x)


def as_snips(data: SnipData | np.ndarray | tuple[np.ndarray, np.ndarray | None]) -> SnipData:
    """An array ``(N, T, C)`` (NaN = missing), a pair ``(x, mask)`` or :class:`SnipData` -> :class:`SnipData`."""
    if isinstance(data, SnipData):
        return data
    if isinstance(data, tuple):
        return SnipData(*data)
    arr = np.asarray(data, dtype=np.float32)
    return SnipData(arr, np.isfinite(arr))


def import_h5(
    path: str | os.PathLike, dataset: str = "x", mask_dataset: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Read snips ``(N, T, C)`` (and a mask) from an HDF5 file.

    ``dataset`` holds the snips (a 2-D ``(N, T)`` dataset is read as one channel); NaN marks a missing
    reading. ``mask_dataset`` (same shape, nonzero = valid) overrides that; without it the mask is
    ``isfinite(x)``.

    Raises:
        InputError: the file is missing or not HDF5, a dataset is missing (names the datasets present),
            or the shapes are wrong.
    """
    # local: h5py is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    import h5py

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    try:
        fh = h5py.File(path, "r")
    except OSError as exc:
        raise InputError(f"{path}: not a readable HDF5 file ({' '.join(str(exc).split())[:120]})") from None
    with fh:
        for name in filter(None, (dataset, mask_dataset)):
            if name not in fh:
                raise InputError(f"{path}: no dataset {name!r} (datasets: {', '.join(sorted(fh)) or 'none'})")
        x = np.asarray(fh[dataset][()], dtype=np.float32)
        mask = np.asarray(fh[mask_dataset][()]) != 0 if mask_dataset else None
    if x.ndim == 2:
        x = x[:, :, None]
        mask = mask[:, :, None] if mask is not None and mask.ndim == 2 else mask
    if x.ndim != 3:
        raise InputError(f"{path}: dataset {dataset!r} has shape {x.shape}; expected (N, T, C) or (N, T)")
    if mask is None:
        mask = np.isfinite(x)
    if mask.shape != x.shape:
        raise InputError(f"{path}: mask {mask_dataset!r} shape {mask.shape} differs from {dataset!r} {x.shape}")
    return x, mask


def split_datasets(
    x: np.ndarray,
    mask: np.ndarray | None = None,
    val_fraction: float = 0.2,
    test_fraction: float = 0.0,
    seed: int = 0,
    groups: np.ndarray | None = None,
) -> dict[str, SnipData]:
    """Seeded split of snips into ``train`` / ``val`` (/ ``test``) :class:`SnipData`.

    With ``groups`` (one label per snip, e.g. animal or cage ids) whole groups go to one split, so no
    animal is in two splits; otherwise snips are split individually. Each non-zero fraction gets at
    least one snip (group) when there are enough.

    Raises:
        InputError: fractions outside [0, 1) or summing to 1 or more, or too few snips (groups).
    """
    if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
        raise InputError(f"split fractions val {val_fraction} + test {test_fraction} must be in [0, 1) and sum below 1")
    n = len(x)
    keys = np.asarray(groups) if groups is not None else np.arange(n)
    if len(keys) != n:
        raise InputError(f"groups has {len(keys)} labels for {n} snips")
    uniq = np.unique(keys)
    order = np.random.default_rng(seed).permutation(len(uniq))
    n_val = int(round(val_fraction * len(uniq))) or (1 if val_fraction > 0 else 0)
    n_test = int(round(test_fraction * len(uniq))) or (1 if test_fraction > 0 else 0)
    if n_val + n_test >= len(uniq):
        raise InputError(f"{len(uniq)} {'groups' if groups is not None else 'snips'} are too few for these fractions")
    parts = {
        "val": uniq[order[:n_val]],
        "test": uniq[order[n_val : n_val + n_test]],
        "train": uniq[order[n_val + n_test :]],
    }
    m = mask if mask is not None else np.isfinite(x)
    out = {}
    for name, members in parts.items():
        if len(members) == 0:
            continue
        idx = np.flatnonzero(np.isin(keys, members))
        out[name] = SnipData(np.asarray(x)[idx], np.asarray(m)[idx])
    return out


@dataclass
class TrainResult:
    """What :func:`train` returns. ``history``: one dict per epoch (``epoch`` 0-based, ``beta``, and
    ``train``/``val`` dicts of ``recon``, ``kl``, ``loss``, ``elbo``, ``kl_per_dim``); ``best_epoch``
    (0-based); the model passed to :func:`train` holds that epoch's weights."""

    history: list[dict[str, Any]]
    best_epoch: int
    stopped_early: bool
    resumed: bool
    extra: dict[str, Any] = field(default_factory=dict)


class _Snips(torch.utils.data.Dataset):
    def __init__(self, data: SnipData):
        self.x, self.m = torch.from_numpy(data.x), torch.from_numpy(data.mask)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[i], self.m[i]


def _pass(
    model: TimeSeriesVAE, data: SnipData, beta: float, recon: str, delta: float, batch_size: int
) -> dict[str, Any]:
    """Negative-ELBO terms of ``data`` with z = mu (no sampling): recon, kl, loss, elbo, kl_per_dim."""
    device = next(model.parameters()).device
    sums = {"recon": 0.0, "kl": 0.0, "loss": 0.0}
    kpd = np.zeros(model.cfg.latent_dim)
    n = 0
    model.eval()
    with torch.no_grad():
        for a in range(0, len(data), batch_size):
            xb = torch.from_numpy(data.x[a : a + batch_size]).to(device)
            mb = torch.from_numpy(data.mask[a : a + batch_size]).to(device)
            x_hat, mu, logvar = model(xb, mb, sample=False)
            t = vae_loss(x_hat, xb, mu, logvar, beta, mb, recon, delta)
            for k in sums:
                sums[k] += float(getattr(t, k)) * t.n
            kpd += t.kl_per_dim.cpu().numpy().astype(np.float64) * t.n
            n += t.n
    n = max(n, 1)
    out = {k: v / n for k, v in sums.items()}
    out["elbo"] = -(out["recon"] + out["kl"])
    out["kl_per_dim"] = (kpd / n).tolist()
    return out


class VAEModule(TrainingModule):
    """Lightning module of the VAE: negative ELBO with the KL weight scheduled per batch, AdamW."""

    def __init__(self, model: TimeSeriesVAE, val: SnipData | None, n_batches: int, **hp: Any):
        super().__init__(hp["seed"], "neg_objective")
        self.net, self.val, self.hp, self.n_batches = model, val, hp, n_batches
        self._sums: dict[str, Any] = {}

    def beta(self, epoch: float) -> float:
        return beta_at(epoch, self.hp["beta"], self.hp["kl_schedule"], self.hp["warmup_epochs"])

    def on_train_epoch_start(self) -> None:
        super().on_train_epoch_start()
        self._sums = {"recon": 0.0, "kl": 0.0, "loss": 0.0, "n": 0, "kpd": np.zeros(self.net.cfg.latent_dim)}

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], idx: int) -> torch.Tensor:
        xb, mb = batch
        beta = self.beta(self.current_epoch + idx / self.n_batches)
        x_hat, mu, logvar = self.net(xb, mb, sample=True)
        t = vae_loss(x_hat, xb, mu, logvar, beta, mb, self.hp["recon"], self.hp["huber_delta"])
        s = self._sums
        for k in ("recon", "kl", "loss"):
            s[k] += float(getattr(t, k).detach()) * t.n
        s["kpd"] += t.kl_per_dim.detach().cpu().numpy().astype(np.float64) * t.n
        s["n"] += t.n
        return t.loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return adam(self.net.parameters(), lr=self.hp["lr"], weight_decay=self.hp["weight_decay"], decoupled=True)

    def epoch_record(self) -> dict[str, Any]:
        s = self._sums
        n = max(s["n"], 1)
        train_rec = {k: s[k] / n for k in ("recon", "kl", "loss")}
        train_rec["elbo"] = -(train_rec["recon"] + train_rec["kl"])
        train_rec["kl_per_dim"] = (s["kpd"] / n).tolist()
        beta = self.hp["beta"]
        val_rec = None
        if self.val is not None and len(self.val):
            val_rec = _pass(
                self.net, self.val, beta, self.hp["recon"], self.hp["huber_delta"], self.hp["eval_batch_size"]
            )
        ep = self.current_epoch
        return {"beta": self.beta(ep + 1), "train": train_rec, "val": val_rec, "lr": self.hp["lr"], "index": ep}

    def monitor_value(self, rec: dict[str, Any]) -> float:
        ref = rec["val"] or rec["train"]
        return -(ref["recon"] + self.hp["beta"] * ref["kl"])

    def is_improvement(self, rec: dict[str, Any]) -> bool:
        if rec["index"] + 1 < self.hp["warmup_epochs"]:
            return True  # during the KL warm-up the objective still changes: keep the latest weights
        return self.monitor_value(rec) > self.track["best_metric"] + self.hp["min_delta"]

    def after_epoch(self, rec: dict[str, Any], improved: bool) -> None:
        r_tr, r_va = rec["train"], rec["val"]
        _epoch_log.info(
            "vae_train: epoch %d/%d: train recon %.4g kl %.4g%s (beta %.3g)",
            rec["index"] + 1,
            self.hp["epochs"],
            r_tr["recon"],
            r_tr["kl"],
            f", val recon {r_va['recon']:.4g} kl {r_va['kl']:.4g}" if r_va is not None else "",
            rec["beta"],
        )
        tr = self.track
        warm = rec["index"] + 1 >= self.hp["warmup_epochs"]
        if improved and warm:
            tr["bad"] = 0
        elif warm:
            tr["bad"] = tr.get("bad", 0) + 1
        if not warm:  # the best value is chosen from the first epoch at the final beta on
            tr["best_metric"] = -math.inf
        if tr.get("bad", 0) >= self.hp["patience"]:
            self.trainer.should_stop = True

    def log_values(self, rec: dict[str, Any]) -> dict[str, float]:
        out = {"beta": float(rec["beta"])}
        for split in ("train", "val"):
            r = rec.get(split)
            if not r:
                continue
            for k in ("recon", "kl", "elbo", "loss"):
                out[f"{split}/{k}"] = float(r[k])
            for i, v in enumerate(r["kl_per_dim"]):
                out[f"{split}/kl_dim/{i:02d}"] = float(v)
        return out


@dataclass(frozen=True)
class TrainSettings:
    """Hyperparameters of :func:`train` (the ``vae.train`` params and the seed, as plain values).

    Attributes:
        epochs, lr, batch_size, weight_decay: AdamW training; ``grad_clip`` > 0 clips the gradient norm.
        kl_schedule, beta, warmup_epochs: KL weight ``constant`` / ``linear`` / ``step`` up to ``beta``
            over ``warmup_epochs`` epochs (per batch within an epoch).
        recon, huber_delta: masked ``mse`` or ``huber`` reconstruction.
        patience, min_delta: stop after ``patience`` epochs after the warm-up without an improvement
            of more than ``min_delta``.
        seed: everything random (initial weights are the caller's; batches and sampling here).
    """

    epochs: int = 100
    lr: float = 1e-3
    batch_size: int = 64
    kl_schedule: str = "linear"
    beta: float = 1.0
    warmup_epochs: int = 10
    weight_decay: float = 0.0
    recon: str = "mse"
    huber_delta: float = 1.0
    grad_clip: float = 0.0
    patience: int = 10
    min_delta: float = 0.0
    seed: int = 0

    def check(self) -> None:
        """Raises InputError: an unknown KL schedule or reconstruction loss."""
        if self.kl_schedule not in KL_SCHEDULES:
            raise InputError(f"kl_schedule must be one of {', '.join(KL_SCHEDULES)} (got {self.kl_schedule!r})")
        if self.recon not in ("mse", "huber"):
            raise InputError(f"recon must be 'mse' or 'huber' (got {self.recon!r})")

    def module_hp(self) -> dict[str, Any]:
        """The hyperparameters :class:`VAEModule` reads (also hashed into the resume fingerprint)."""
        return dict(
            seed=self.seed,
            epochs=self.epochs,
            lr=self.lr,
            beta=self.beta,
            kl_schedule=self.kl_schedule,
            warmup_epochs=self.warmup_epochs,
            weight_decay=self.weight_decay,
            recon=self.recon,
            huber_delta=self.huber_delta,
            patience=self.patience,
            min_delta=self.min_delta,
            eval_batch_size=max(self.batch_size, 256),
        )


def train(
    model: TimeSeriesVAE,
    train_data: SnipData | np.ndarray | tuple[np.ndarray, np.ndarray | None],
    val_data: SnipData | np.ndarray | tuple[np.ndarray, np.ndarray | None] | None = None,
    settings: TrainSettings | None = None,
    *,
    ckpt_dir: str | os.PathLike | None = None,
    live_dir: str | os.PathLike | None = None,
    accelerator: str = "auto",
) -> TrainResult:
    """Train ``model`` on ``train_data`` (snips ``(N, T, C)``; NaN or a mask marks missing readings).

    Args:
        val_data: validation snips; early stopping and the best epoch use their negative ELBO at the
            final ``beta`` (the training loss when None).
        settings: epochs, AdamW, KL schedule, reconstruction loss, early stopping and seed
            (:class:`TrainSettings`; ``None``: its defaults).
        ckpt_dir: folder for the resume checkpoint (a rerun after a kill continues from the last
            finished epoch, with the same result); None: a temporary folder.
        live_dir: DVCLive folder for the curves (``train/elbo``, ``val/kl``, ``train/kl_dim/00``, ...).
        accelerator: Lightning's accelerator (``auto``, ``cpu``, ``gpu``).

    Returns:
        :class:`TrainResult`; ``model`` holds the best epoch's weights (on the CPU, eval mode).

    Raises:
        InputError: bad shapes, an unknown schedule or loss, or snips that do not fit the model.
    """
    st = settings or TrainSettings()
    st.check()
    tr_data = as_snips(train_data)
    va_data = as_snips(val_data) if val_data is not None else None
    _check_shapes(model, tr_data, va_data)
    hp = st.module_hp()
    n_batches = max(1, math.ceil(len(tr_data) / st.batch_size))
    loader = torch.utils.data.DataLoader(
        _Snips(tr_data), batch_size=st.batch_size, sampler=EpochSampler(len(tr_data), st.seed)
    )
    module = VAEModule(model, va_data, n_batches, **hp)
    tmp = None
    if ckpt_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="ethoflow-vae-")
        ckpt_dir = tmp.name
    try:
        track = fit(
            module,
            loader,
            epochs=st.epochs,
            ckpt_dir=ckpt_dir,
            fingerprint=_fingerprint(model, tr_data, va_data, st, hp),
            loop=LoopSettings(accelerator=accelerator, gradient_clip_val=st.grad_clip or None),
            live_dir=live_dir,
        )
    finally:
        if tmp is not None:
            tmp.cleanup()
    history = [
        {k: v for k, v in rec.items() if k not in ("epoch", "index", "lr")} | {"epoch": rec["index"]}
        for rec in track["history"]
    ]
    return TrainResult(
        history=history,
        best_epoch=track["best_epoch"] - 1,
        stopped_early=track["stopped_early"],
        resumed=track["resumed"],
    )


def _check_shapes(model: TimeSeriesVAE, tr_data: SnipData, va_data: SnipData | None) -> None:
    """Raises InputError: snips whose (T, C) differ from the model's, or no training snips."""
    cfg = model.cfg
    for name, d in (("train", tr_data), ("val", va_data)):
        if d is not None and d.x.shape[1:] != (cfg.seq_len, cfg.channels):
            raise InputError(
                f"{name} snips are {d.x.shape[1:]} (T, C); the model expects ({cfg.seq_len}, {cfg.channels})"
            )
    if len(tr_data) == 0:
        raise InputError("no training snips")


def _fingerprint(
    model: TimeSeriesVAE, tr_data: SnipData, va_data: SnipData | None, st: TrainSettings, hp: dict[str, Any]
) -> str:
    """16 hex digits over the snips, the hyperparameters, the architecture and the initial weights: a
    resume checkpoint is used only by the run that wrote it."""
    h = hashlib.sha256()
    for arr in (tr_data.x, tr_data.mask, *((va_data.x, va_data.mask) if va_data is not None else ())):
        h.update(np.ascontiguousarray(arr).tobytes())
    h.update(
        repr(sorted(hp.items())).encode() + repr((st.epochs, st.batch_size, st.grad_clip, model.cfg.to_dict())).encode()
    )
    h.update(b"".join(v.detach().cpu().numpy().tobytes() for v in model.state_dict().values()))
    return h.hexdigest()[:16]
