"""vae_train: fit the time-series VAE on df02 snips; checkpoint, resume, early stopping, DVCLive.

- Training rows: ``use_snip_flag`` rows of df02 (``train.only_flagged``).
- Validation split by cage: a seeded draw of ``val_fraction`` of the (experiment_date, cage_id) pairs
  (at least one when there are two or more cages); their snips never enter training.
- Per-channel normalisation (z-score over the valid readings of the training snips) is fitted on the
  training snips only, stored in the checkpoint, and applied by vae_embed to every snip.
- Each epoch writes a checkpoint to ``.ethoflow/checkpoints/vae_train/<model_name>-<key>/last.pt``
  (``key`` hashes df02, the params and the seed); a killed run resumes from it and gives the same
  model as an uninterrupted one (RNG states and the logged history are in the checkpoint).
- Early stopping on the validation negative ELBO at the final beta (training loss when there is no
  validation cage), counted only after the KL warm-up; the best epoch's weights are kept.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from ethoflow.core.errors import InputError
from ethoflow.core.io import atomic_write_bytes, load_torch, to_plain, write_json
from ethoflow.core.logging import get_logger
from ethoflow.core.progress import progress
from ethoflow.core.seed import seed_everything
from ethoflow.hbehave.store import normalise, read_store_attrs
from ethoflow.vae.losses import beta_at, vae_loss
from ethoflow.vae.model import TimeSeriesVAE, VAEConfig, count_parameters
from ethoflow.vae.params import VAEParams
from ethoflow.vae.snips import load_snip_arrays, read_df02

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


def config_from_params(p: VAEParams, seq_len: int, channels: int) -> VAEConfig:
    """The :class:`VAEConfig` for ``vae.model`` params and the data's shape."""
    m = p.model
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


def _file_digest(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def run_key(df02_path: str | os.PathLike, params: VAEParams) -> str:
    """Hash of df02's bytes and the params that change training (checkpoint folder name)."""
    payload = json.dumps(
        {"df02": _file_digest(df02_path), "p": to_plain(params.model_dump(exclude={"embed"}))}, sort_keys=True
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _save(path: Path, obj: dict[str, Any]) -> None:
    """``torch.save`` through memory, then an atomic write: saving straight to the temporary file
    would put its random name inside the zip archive and change the bytes from run to run."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())


def _epoch(model, opt, x, m, idx, p: VAEParams, epoch: int, train: bool, gen: torch.Generator | None):
    """One pass over rows ``idx``; returns sums dict (recon, kl, loss, kl_per_dim, n)."""
    t = p.train
    bs = t.batch_size
    if train:
        order = idx[torch.randperm(len(idx), generator=gen).numpy()]
        model.train()
    else:
        order = idx
        model.eval()
    nb = max(1, int(np.ceil(len(order) / bs)))
    sums = {"recon": 0.0, "kl": 0.0, "loss": 0.0, "n": 0, "kl_per_dim": None}
    for bi in range(nb):
        sel = order[bi * bs : (bi + 1) * bs]
        if len(sel) == 0:
            continue
        xb, mb = x[sel], m[sel]
        beta = beta_at(epoch + bi / nb, t.beta, t.beta_schedule, t.warmup_epochs) if train else t.beta
        with torch.set_grad_enabled(train):
            x_hat, mu, logvar = model(xb, mb, sample=train)
            terms = vae_loss(x_hat, xb, mu, logvar, beta, mb, t.recon_loss, t.huber_delta)
            if train and terms.n > 0:
                opt.zero_grad(set_to_none=True)
                terms.loss.backward()
                if t.grad_clip > 0:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), t.grad_clip)
                opt.step()
        k = terms.n
        sums["recon"] += float(terms.recon.detach()) * k
        sums["kl"] += float(terms.kl.detach()) * k
        sums["loss"] += float(terms.loss.detach()) * k
        kd = terms.kl_per_dim.detach().cpu().numpy().astype(np.float64) * k
        sums["kl_per_dim"] = kd if sums["kl_per_dim"] is None else sums["kl_per_dim"] + kd
        sums["n"] += k
    n = max(sums["n"], 1)
    kpd = sums["kl_per_dim"] if sums["kl_per_dim"] is not None else np.zeros(model.cfg.latent_dim)
    return {
        "recon": sums["recon"] / n,
        "kl": sums["kl"] / n,
        "loss": sums["loss"] / n,
        "kl_per_dim": (kpd / n).tolist(),
        "n": sums["n"],
    }


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
    split when there is one) and the number of active latent dims."""
    return {"elbo": summary["elbo"], "kl": summary["kl"], "active_dims": summary["active_dims"]}


def _log_epoch(live, rec: dict[str, Any]) -> None:
    for split in ("train", "val"):
        r = rec.get(split)
        if not r:
            continue
        live.log_metric(f"{split}/recon", r["recon"])
        live.log_metric(f"{split}/kl", r["kl"])
        live.log_metric(f"{split}/elbo", -(r["recon"] + r["kl"]))
        live.log_metric(f"{split}/loss", r["loss"])
        for i, v in enumerate(r["kl_per_dim"]):
            live.log_metric(f"{split}/kl_dim/{i:02d}", v)
    live.log_metric("beta", rec["beta"])
    live.next_step()


def train_vae(
    df02_path: str,
    store_path: str,
    params: dict[str, Any],
    model_dir: str,
    live_dir: str,
    metrics_path: str,
    checkpoint_root: str,
    max_epochs_this_run: int | None = None,
    figure_path: str | None = None,
) -> dict[str, Any]:
    """Train the VAE and write ``model_dir/model.pt``, DVCLive curves and ``metrics_path``.

    Picklable and self-contained, so ``ethoflow.dispatch.run`` can send it to Slurm.

    Args:
        df02_path: df02 (Parquet or CSV) from vae_snips.
        store_path: the activity Zarr store the snips were cut from.
        params: the ``vae`` section as a dict (validated here into :class:`VAEParams`).
        model_dir: output folder (``models/vae/<model_name>``).
        live_dir: DVCLive folder (curves: recon, KL, ELBO, KL per latent dim, per split).
        metrics_path: summary JSON (best epoch, its validation losses, parameter count).
        checkpoint_root: where per-run resumable checkpoints live (outside DVC's outs).
        max_epochs_this_run: stop after this many epochs in this call without writing outputs
            (simulates a kill; used by the resume test).
        figure_path: when set, a PNG of input vs reconstruction for four validation snips (training
            snips when there is no validation cage), with the best weights.

    Returns:
        the summary written to ``metrics_path`` (or ``{"interrupted": True, ...}``).

    Raises:
        InputError: no training snips, or df02 and the store do not match.
    """
    from dvclive import Live

    p = VAEParams.model_validate(params)
    seed_everything(p.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
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
    x = torch.from_numpy(apply_normaliser(x_raw, mask, stats)).to(device)
    m = torch.from_numpy(mask).to(device)
    cfg = config_from_params(p, p.snips.snip_len, x.shape[-1])
    model = TimeSeriesVAE(cfg).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=p.train.lr, weight_decay=p.train.weight_decay)
    n_params = count_parameters(model)
    log.info(
        "vae_train: %d train snips (%d cages), %d val snips, %s encoder, %d parameters",
        len(tr),
        df.iloc[tr]["cage_id"].nunique(),
        len(va),
        cfg.encoder,
        n_params,
    )

    ckpt_dir = Path(checkpoint_root) / f"{p.model_name}-{run_key(df02_path, p)}"
    ckpt_path = ckpt_dir / "last.pt"
    state: dict[str, Any] = {
        "epoch": 0,
        "best": float("inf"),
        "best_epoch": -1,
        "bad": 0,
        "history": [],
        "best_state": None,
        "stopped_early": False,
    }
    if ckpt_path.exists():
        ck = load_torch(
            ckpt_path,
            "VAE resume checkpoint",
            "delete it to train from the start",
            map_location=device,
            weights_only=False,
        )
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        torch.set_rng_state(ck["torch_rng"])
        state = ck["state"]
        log.info("vae_train: resuming from %s at epoch %d", ckpt_path, state["epoch"])

    live = Live(live_dir, dvcyaml=False, save_dvc_exp=False, resume=False)
    for rec in state["history"]:  # replay the curves of the epochs done before a resume
        _log_epoch(live, rec)
    idx_tr, idx_va = np.asarray(tr), np.asarray(va)
    done_now = 0
    epochs = progress(
        range(state["epoch"], p.train.epochs), desc="vae_train", initial=state["epoch"], total=p.train.epochs
    )
    for epoch in epochs:
        if state["stopped_early"]:
            break
        gen = torch.Generator().manual_seed(p.seed * 100003 + epoch)
        r_tr = _epoch(model, opt, x, m, idx_tr, p, epoch, True, gen)
        r_va = _epoch(model, opt, x, m, idx_va, p, epoch, False, None) if len(idx_va) else None
        beta = beta_at(epoch + 1, p.train.beta, p.train.beta_schedule, p.train.warmup_epochs)
        rec = {"epoch": epoch, "beta": beta, "train": r_tr, "val": r_va}
        _log_epoch(live, rec)
        log.info(
            "vae_train: epoch %d/%d: train recon %.4g kl %.4g%s (beta %.3g)",
            epoch + 1,
            p.train.epochs,
            r_tr["recon"],
            r_tr["kl"],
            f", val recon {r_va['recon']:.4g} kl {r_va['kl']:.4g}" if r_va is not None else "",
            beta,
        )
        state["history"].append(rec)
        ref = r_va if r_va is not None else r_tr
        monitor = ref["recon"] + p.train.beta * ref["kl"]
        warm = epoch + 1 >= p.train.warmup_epochs
        current = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        if not warm:
            # During the KL warm-up the objective still changes: keep the latest weights; the best
            # epoch is chosen (and patience counted) from the first epoch at the final beta on.
            state.update(best_state=current, best_epoch=epoch)
        elif monitor < state["best"] - p.train.min_delta:
            state.update(best=monitor, best_epoch=epoch, bad=0, best_state=current)
        else:
            state["bad"] += 1
        if state["bad"] >= p.train.patience:
            state["stopped_early"] = True
            log.info("vae_train: early stop at epoch %d (best epoch %d)", epoch, state["best_epoch"])
        state["epoch"] = epoch + 1
        ckpt_dir.mkdir(parents=True, exist_ok=True)
        _save(
            ckpt_path,
            {
                "model": model.state_dict(),
                "optimizer": opt.state_dict(),
                "torch_rng": torch.get_rng_state(),
                "state": state,
            },
        )
        done_now += 1
        if (
            max_epochs_this_run is not None
            and done_now >= max_epochs_this_run
            and state["epoch"] < p.train.epochs
            and not state["stopped_early"]
        ):
            live.end()
            return {"interrupted": True, "epoch": state["epoch"]}
    live.end()

    best = state["best_state"]
    out = Path(model_dir) / "model.pt"
    _save(
        out,
        {
            "format": CHECKPOINT_FORMAT,
            "config": cfg.to_dict(),
            "state_dict": best,
            "normaliser": stats,
            "channels": channels,
            "snip_len": p.snips.snip_len,
            "model_name": p.model_name,
            "best_epoch": state["best_epoch"],
        },
    )
    best_rec = state["history"][state["best_epoch"]]
    ref = best_rec["val"] or best_rec["train"]
    summary = {
        "model_name": p.model_name,
        "n_parameters": n_params,
        "epochs_run": state["epoch"],
        "best_epoch": state["best_epoch"],
        "stopped_early": state["stopped_early"],
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
    summary["posterior_collapse"] = collapse_warning(ref["kl_per_dim"]) is not None
    if summary["posterior_collapse"]:
        log.warning("vae_train: %s", collapse_warning(ref["kl_per_dim"]))
    write_json(metrics_path, summary)
    if figure_path:
        from ethoflow.vae.plots import plot_reconstructions

        model.load_state_dict(best)
        model.eval()
        pool = va if len(va) else tr
        pick = pool[np.linspace(0, len(pool) - 1, num=min(4, len(pool))).round().astype(int)]
        with torch.no_grad():
            x_hat, _, _ = model(x[pick], m[pick], sample=False)
        plot_reconstructions(
            x[pick].cpu().numpy(),
            m[pick].cpu().numpy(),
            x_hat.cpu().numpy(),
            df["snip_id"].iloc[pick].astype(str).tolist(),
            figure_path,
            channels or None,
        )
    shutil.rmtree(ckpt_dir, ignore_errors=True)  # finished: outputs written, checkpoint no longer needed
    return summary


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
