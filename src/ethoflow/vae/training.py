"""vae_train: fit the time-series VAE on df02 snips; checkpoint, resume, early stopping, DVCLive.

- Training rows: ``use_snip_flag`` rows of df02 (``train.only_flagged``).
- Validation split by cage: a seeded draw of ``val_fraction`` of the (experiment_date, cage_id) pairs
  (at least one when there are two or more cages); their snips never enter training.
- Per-channel normalisation (z-score over the valid readings of the training snips) is fitted on the
  training snips only, stored in the checkpoint, and applied by vae_embed to every snip.
- Training is :func:`ethoflow.vae.fitting.train` (ethoflow's Lightning engine): each epoch writes
  ``.ethoflow/checkpoints/vae_train/<model_name>-<key>/last.ckpt`` (``key`` hashes df02, the params
  and the seed); a killed run resumes from it and gives the same model bytes as an uninterrupted one.
- Early stopping on the validation negative ELBO at the final beta (training loss when there is no
  validation cage), counted only after the KL warm-up; the best epoch's weights are kept.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch

from ethoflow.core.errors import InputError
from ethoflow.core.io import load_torch, save_torch, sha256_file, to_plain
from ethoflow.core.logging import get_logger
from ethoflow.core.records import write_record
from ethoflow.core.seed import seed_everything
from ethoflow.hbehave.store import normalise, read_store_attrs
from ethoflow.vae.model import TimeSeriesVAE, VAEConfig, count_parameters
from ethoflow.vae.params import VAEParams
from ethoflow.vae.records import TrainSummary
from ethoflow.vae.snips import load_snip_arrays, read_df02

if TYPE_CHECKING:  # fitting imports Lightning: vae_embed, which imports this module, does not need it
    from ethoflow.vae.fitting import TrainResult, TrainSettings

log = get_logger(__name__)

CHECKPOINT_FORMAT = "ethoflow-vae"


def fit_normaliser(x: np.ndarray, mask: np.ndarray) -> dict[str, list[float]]:
    """Per-channel mean and std over valid entries: x, mask (N, T, C) -> ``{"mean": [C], "std": [C]}``.

    A channel without valid readings gets mean 0, std 1; a constant channel gets std 1.
    """
    c = x.shape[-1]
    vals = np.where(mask, np.nan_to_num(x), 0.0).reshape(-1, c).astype(np.float64)
    w = mask.reshape(-1, c)
    n = w.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = vals.sum(0) / n
        std = np.sqrt((np.where(w, vals - mean, 0.0) ** 2).sum(0) / n)
    mean = np.where(np.isfinite(mean), mean, 0.0)
    std = np.where(np.isfinite(std) & (std > 1e-8), std, 1.0)
    return {"mean": [float(v) for v in mean], "std": [float(v) for v in std]}


def apply_normaliser(x: np.ndarray, mask: np.ndarray, stats: dict[str, Any]) -> np.ndarray:
    """z-score (N, T, C) with per-channel ``stats``; missing entries become 0 (see store ``normalise``)."""
    return normalise(x, mask, stats)


def split_by_cage(df: pd.DataFrame, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Row positions (train, val) of ``df``, with whole cages held out for validation.

    Cages are (experiment_date, cage_id) pairs; ``round(val_fraction * n_cages)`` of them (at least one
    when ``val_fraction > 0`` and there are two or more cages, never all) are drawn with ``seed``.
    """
    keys = df["experiment_date"].astype(str) + "\x1f" + df["cage_id"].astype(str)
    cages = np.array(sorted(keys.unique()))
    n_val = int(round(val_fraction * len(cages)))
    if val_fraction > 0 and len(cages) >= 2:
        n_val = min(max(n_val, 1), len(cages) - 1)
    else:
        n_val = 0
    rng = np.random.default_rng(seed)
    val_cages = set(rng.choice(cages, size=n_val, replace=False).tolist()) if n_val else set()
    is_val = keys.isin(val_cages).to_numpy()
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)


def config_from_params(params: VAEParams, seq_len: int, channels: int) -> VAEConfig:
    """The :class:`VAEConfig` for ``vae.model`` params and the data's shape."""
    m = params.model
    return VAEConfig(
        seq_len=seq_len,
        channels=channels,
        latent_dim=m.latent_dim,
        hidden_dim=m.hidden_dim,
        num_layers=m.num_layers,
        dropout=m.dropout,
        encoder=m.encoder,
        positional_encoding=m.positional_encoding,
        num_heads=m.num_heads,
        nuisance_dims=m.nuisance_dims,
    )


def run_key(df02_path: str | os.PathLike, params: VAEParams) -> str:
    """Hash of df02's bytes and the params that change training (checkpoint folder name)."""
    payload = json.dumps(
        {"df02": sha256_file(df02_path), "p": to_plain(params.model_dump(exclude={"embed"}))}, sort_keys=True
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


#: a latent dimension whose KL to the prior (nats, mean per snip) is below this carries no information
ACTIVE_DIM_MIN_KL = 0.01


def active_dims(kl_per_dim: list[float], min_kl: float = ACTIVE_DIM_MIN_KL) -> int:
    """Number of active latent dimensions: KL(q(z_d|x) || p(z_d)) of at least ``min_kl`` nats (Burda et
    al. 2016's activity criterion, here on the KL per dimension); fewer than half signals posterior collapse."""
    return int(sum(1 for v in kl_per_dim if v >= min_kl))


def collapse_warning(kl_per_dim: list[float], min_kl: float = ACTIVE_DIM_MIN_KL) -> str | None:
    """The posterior-collapse warning when more than half the latent dims are inactive (else None)."""
    n = len(kl_per_dim)
    inactive = n - active_dims(kl_per_dim, min_kl)
    if n == 0 or inactive * 2 <= n:
        return None
    return (
        f"{inactive} of {n} latent dims inactive (KL < {min_kl:g} nats): posterior collapse; the latents "
        "carry little information (try a smaller train.beta, a longer beta warm-up or a smaller latent_dim)"
    )


def headline_metrics(summary: dict[str, Any]) -> dict[str, Any]:
    """The numbers a reviewer compares (``metrics/vae.json``): ELBO and KL term of the best epoch (validation
    split when there is one), the number of active latent dims, and the per-cage normalised reconstruction
    error of the validation and training cages (:func:`cage_nmse`: comparable across splits and seeds,
    unlike the ELBO per snip, which scales with how active a cage's animals are)."""
    out = {"elbo": summary["elbo"], "kl": summary["kl"], "active_dims": summary["active_dims"]}
    for split in ("val", "train"):
        if summary.get(f"recon_nmse_{split}") is not None:
            out[f"recon_nmse_{split}"] = summary[f"recon_nmse_{split}"]
            out[f"cages_{split}"] = summary[f"n_{split}_cages"]
    return out


def cage_nmse(x: np.ndarray, x_hat: np.ndarray, mask: np.ndarray, cages: np.ndarray) -> float | None:
    """Per-cage normalised reconstruction error, averaged over cages: for each cage, the masked squared
    error of its snips divided by the masked squared deviation of its readings from the cage's own
    per-channel mean (1 - R^2 of that cage; 0: perfect, 1: no better than the cage's mean), then the
    mean over cages. Shapes: ``x``, ``x_hat``, ``mask`` (N, T, C); ``cages`` (N,) cage keys.
    ``None`` when no snip is given."""
    if len(x) == 0:
        return None
    vals = []
    for c in np.unique(cages):
        i = cages == c
        xc, hc, mc = x[i].astype(np.float64), x_hat[i].astype(np.float64), mask[i]
        n = mc.sum(axis=(0, 1)).clip(min=1)
        mean = (xc * mc).sum(axis=(0, 1)) / n
        den = (((xc - mean) ** 2) * mc).sum()
        num = (((hc - xc) ** 2) * mc).sum()
        if den > 0:
            vals.append(num / den)
    return float(np.mean(vals)) if vals else None


@dataclass(frozen=True)
class FigurePaths:
    """The figures :func:`train_vae` draws with the best weights (``None``: that figure is not drawn).

    Attributes:
        reconstruction: PNG of input vs reconstruction for four validation snips (training snips when
            there is no validation cage).
        traversal: the latent-traversal PNG (:func:`ethoflow.vae.plots.plot_latent_traversal`).
    """

    reconstruction: str | None = None
    traversal: str | None = None


def train_vae(
    df02_path: str,
    store_path: str,
    params: dict[str, Any],
    model_dir: str,
    live_dir: str,
    metrics_path: str,
    checkpoint_root: str,
    figures: FigurePaths | None = None,
) -> dict[str, Any]:
    """Train the VAE on df02's snips of the activity store; write ``model_dir/model.pt``, DVCLive curves
    and the summary ``metrics_path``. One caller of the library API :func:`ethoflow.vae.fitting.train`.

    Picklable and self-contained, so ``ethoflow.dispatch.run`` can send it to Slurm.

    Args:
        df02_path: df02 (Parquet or CSV) from vae_snips.
        store_path: the activity Zarr store the snips were cut from.
        params: the ``vae`` section as a dict (validated here into :class:`VAEParams`).
        model_dir: output folder (``models/vae/<model_name>``).
        live_dir: DVCLive folder (curves: recon, KL, ELBO, KL per latent dim, per split).
        metrics_path: summary JSON (best epoch, its validation losses, parameter count).
        checkpoint_root: where per-run resumable checkpoints live (outside DVC's outs); a killed run
            resumes from ``<checkpoint_root>/<model_name>-<key>/last.ckpt``.
        figures: the reconstruction and latent-traversal PNGs drawn with the best weights
            (:class:`FigurePaths`; ``None``: none).

    Returns:
        the summary written to ``metrics_path``.

    Raises:
        InputError: no training snips, or df02 and the store do not match.
    """
    # local: ethoflow.vae.fitting.SnipData imports torch (slow to import)
    from ethoflow.vae.fitting import SnipData, train

    p = VAEParams.model_validate(params)
    seed_everything(p.seed)
    if p.train.num_threads:
        # local: torch is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
        import torch

        torch.set_num_threads(p.train.num_threads)
    d = _training_snips(df02_path, store_path, p)
    cfg = config_from_params(p, p.snips.snip_len, d.x.shape[-1])
    model = TimeSeriesVAE(cfg)
    n_params = count_parameters(model)
    log.info(
        "vae_train: %d train snips (%d cages), %d val snips, %s encoder, %d parameters",
        len(d.tr),
        d.df.iloc[d.tr]["cage_id"].nunique(),
        len(d.va),
        cfg.encoder,
        n_params,
    )
    ckpt_dir = Path(checkpoint_root) / f"{p.model_name}-{run_key(df02_path, p)}"
    result = train(
        model,
        SnipData(d.x[d.tr], d.mask[d.tr]),
        SnipData(d.x[d.va], d.mask[d.va]) if len(d.va) else None,
        train_settings(p),
        ckpt_dir=ckpt_dir,
        live_dir=live_dir,
    )
    shutil.rmtree(ckpt_dir, ignore_errors=True)  # finished: the resume checkpoint is no longer needed
    best = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    out = Path(model_dir) / "model.pt"
    save_torch(
        out,
        {
            "format": CHECKPOINT_FORMAT,
            "config": cfg.to_dict(),
            "state_dict": best,
            "normaliser": d.stats,
            "channels": d.channels,
            "snip_len": p.snips.snip_len,
            "model_name": p.model_name,
            "best_epoch": result.best_epoch,
        },
    )
    summary = _train_summary(model, d, result, p.model_name, n_params)
    write_record(metrics_path, TrainSummary(**summary))
    _draw_figures(model, d, figures or FigurePaths())
    return summary


def train_settings(params: VAEParams) -> TrainSettings:
    """The ``vae.train`` params and ``vae.seed`` as :class:`~ethoflow.vae.fitting.TrainSettings`."""
    # local: ethoflow.vae.fitting.TrainSettings imports torch (slow to import)
    from ethoflow.vae.fitting import TrainSettings  # Lightning loads on use (see the imports above)

    t = params.train
    return TrainSettings(
        epochs=t.epochs,
        lr=t.lr,
        batch_size=t.batch_size,
        kl_schedule=t.beta_schedule,
        beta=t.beta,
        warmup_epochs=t.warmup_epochs,
        weight_decay=t.weight_decay,
        recon=t.recon_loss,
        huber_delta=t.huber_delta,
        grad_clip=t.grad_clip,
        patience=t.patience,
        min_delta=t.min_delta,
        seed=params.seed,
    )


@dataclass
class _TrainingSnips:
    """df02's training snips, normalised: ``x``/``mask`` (N, T, C), the train/val row indices (split by
    cage), the normaliser ``stats`` and the store's ``channels``."""

    df: pd.DataFrame
    channels: list[str]
    x: np.ndarray
    mask: np.ndarray
    tr: np.ndarray
    va: np.ndarray
    stats: dict[str, Any]


def _training_snips(df02_path: str, store_path: str, p: VAEParams) -> _TrainingSnips:
    """Read df02's (flagged) snips from the store, split them by cage and normalise with the training
    snips' statistics.

    Raises:
        InputError: no snip has ``use_snip_flag``; df02 and the store do not match.
    """
    df = read_df02(df02_path)
    if p.train.only_flagged:
        df = df[df["use_snip_flag"].astype(bool)].reset_index(drop=True)
    if df.empty:
        raise InputError(f"{df02_path}: no snip has use_snip_flag (loosen vae.snips QC thresholds)")
    channels = list(read_store_attrs(store_path).get("channels", []))
    x_raw, mask = load_snip_arrays(store_path, df, p.snips.snip_len, channels or None)
    tr, va = split_by_cage(df, p.train.val_fraction, p.seed)
    if len(va) == 0:
        log.warning("vae_train: no validation cage (one cage or val_fraction=0): early stopping on training loss")
    stats = fit_normaliser(x_raw[tr], mask[tr])
    x = apply_normaliser(x_raw, mask, stats)
    return _TrainingSnips(df, channels, x, mask, tr, va, stats)


def _train_summary(
    model: TimeSeriesVAE, d: _TrainingSnips, result: TrainResult, model_name: str, n_params: int
) -> dict[str, Any]:
    """The summary of a run: best epoch, its losses, active dims, per-cage reconstruction NMSE, collapse."""
    tr, va, df, x, mask = d.tr, d.va, d.df, d.x, d.mask
    best_rec = result.history[result.best_epoch]
    ref = best_rec["val"] or best_rec["train"]
    summary = {
        "model_name": model_name,
        "n_parameters": n_params,
        "epochs_run": len(result.history),
        "best_epoch": result.best_epoch,
        "stopped_early": result.stopped_early,
        "monitor": "val" if best_rec["val"] else "train",
        "recon": ref["recon"],
        "kl": ref["kl"],
        "elbo": -(ref["recon"] + ref["kl"]),
        "latent_dim": len(ref["kl_per_dim"]),
        "active_dims": active_dims(ref["kl_per_dim"]),
        "n_train_snips": int(len(tr)),
        "n_val_snips": int(len(va)),
        "n_val_cages": int(df.iloc[va]["cage_id"].nunique()) if len(va) else 0,
    }
    summary["n_train_cages"] = int(df.iloc[tr]["cage_id"].nunique())
    keys = (df["experiment_date"].astype(str) + "/" + df["cage_id"].astype(str)).to_numpy()
    model.eval()
    for split, rows in (("val", va), ("train", tr)):
        if len(rows):
            with torch.no_grad():
                x_hat = model(torch.from_numpy(x[rows]), torch.from_numpy(mask[rows]), sample=False)[0].numpy()
            summary[f"recon_nmse_{split}"] = cage_nmse(x[rows], x_hat, mask[rows], keys[rows])
    summary["posterior_collapse"] = collapse_warning(ref["kl_per_dim"]) is not None
    if summary["posterior_collapse"]:
        log.warning("vae_train: %s", collapse_warning(ref["kl_per_dim"]))
    return summary


def _draw_figures(model: TimeSeriesVAE, d: _TrainingSnips, figures: FigurePaths) -> None:
    """The reconstruction and latent-traversal figures of the validation snips (training snips without)."""
    x, mask, channels, df = d.x, d.mask, d.channels, d.df
    pool = d.va if len(d.va) else d.tr
    if figures.reconstruction:
        # local: imported only on the branch that needs it
        from ethoflow.vae.plots import plot_reconstructions

        pick = pool[np.linspace(0, len(pool) - 1, num=min(4, len(pool))).round().astype(int)]
        xt, mt = torch.from_numpy(x[pick]), torch.from_numpy(mask[pick])
        with torch.no_grad():
            x_hat, _, _ = model(xt, mt, sample=False)
        plot_reconstructions(
            x[pick],
            mask[pick],
            x_hat.numpy(),
            df["snip_id"].iloc[pick].astype(str).tolist(),
            figures.reconstruction,
            channels or None,
        )
    if figures.traversal:
        # local: imported only on the branch that needs it
        from ethoflow.vae.plots import plot_latent_traversal

        plot_latent_traversal(model, x[pool], mask[pool], figures.traversal, channels or None)


def load_vae(path: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[TimeSeriesVAE, dict[str, Any]]:
    """Load ``model.pt`` written by :func:`train_vae`; architecture read from the checkpoint.

    Returns:
        (model in eval mode, checkpoint dict with ``config``, ``normaliser``, ``channels``, ``snip_len``).

    Raises:
        InputError: missing file or not an ethoflow VAE checkpoint.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: VAE checkpoint not found (run vae_train first)")
    ck = load_torch(path, "VAE model file", map_location=device, weights_only=False)
    if not isinstance(ck, dict) or ck.get("format") != CHECKPOINT_FORMAT:
        raise InputError(f"{path}: not an ethoflow VAE checkpoint")
    model = TimeSeriesVAE(VAEConfig.from_dict(ck["config"])).to(device)
    model.load_state_dict(ck["state_dict"])
    model.eval()
    return model, ck
