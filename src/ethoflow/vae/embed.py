"""vae_embed: latent means per snip, written in the latent store layout analysis users know.

    <latents_root>/<model_name>/morph_latents_{experiment}.csv
        snip_id, z_mu_00, z_mu_01, ...                       (no nuisance dims)
        snip_id, z_mu_b_00, ..., z_mu_n_00, ...              (model with nuisance_dims > 0)

Every df02 row is embedded (``use_snip_flag`` only selects training snips), so each df02 snip has a
latent; readings are normalised with the statistics stored in the checkpoint. ``z_mu`` is the encoder
mean (no sampling): the same model and snips always give the same numbers.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ethoflow.core.errors import InputError
from ethoflow.core.io import output_error, output_set
from ethoflow.core.logging import get_logger
from ethoflow.core.progress import progress
from ethoflow.vae.latent_store import (  # noqa: F401 (re-export)
    LATENT_FILE,
    latent_path,
    twin_path,
    write_latent_csv,
    write_latent_pair,
)
from ethoflow.vae.model import TimeSeriesVAE, VAEConfig
from ethoflow.vae.snips import load_snip_arrays, read_df02
from ethoflow.vae.training import apply_normaliser, load_vae

log = get_logger(__name__)

_SAFE = re.compile(r"^[A-Za-z0-9._-]+$")


def latent_columns(cfg: VAEConfig) -> list[str]:
    """``z_mu_00..`` for a flat latent; ``z_mu_b_XX`` then ``z_mu_n_XX`` with nuisance dims."""
    if cfg.nuisance_dims == 0:
        return [f"z_mu_{i:02d}" for i in range(cfg.latent_dim)]
    return [f"z_mu_b_{i:02d}" for i in range(cfg.bio_dims)] + [f"z_mu_n_{i:02d}" for i in range(cfg.nuisance_dims)]


@torch.no_grad()
def encode_mu(model: TimeSeriesVAE, x: np.ndarray, mask: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Encoder means for normalised snips: x, mask (N, T, C) -> float32 (N, Z)."""
    model.eval()
    dev = next(model.parameters()).device
    out = np.zeros((x.shape[0], model.cfg.latent_dim), np.float32)
    for s in range(0, x.shape[0], batch_size):
        xb = torch.from_numpy(x[s : s + batch_size]).to(dev)
        mb = torch.from_numpy(mask[s : s + batch_size]).to(dev)
        mu, _ = model.encode(xb, mb)
        out[s : s + batch_size] = mu.cpu().numpy()
    return out


def embed_experiments(
    checkpoint: str | os.PathLike,
    df02_path: str | os.PathLike,
    store_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    experiments: list[str] | None = None,
    batch_size: int = 256,
    twin: bool = True,
    model_params: dict | None = None,
) -> list[Path]:
    """Write ``out_dir/morph_latents_{experiment}.csv`` for each experiment of df02 (or ``experiments``).

    ``out_dir`` is the model's folder of the latent store (``<latents_root>/<model_name>``). With
    ``twin`` each CSV gets its Parquet twin (see :mod:`ethoflow.vae.latent_store`). The model runs
    with the architecture saved in ``checkpoint``; ``model_params`` (``vae.model`` of the params in
    use) only serves to warn, naming both values, where the checkpoint overrides them. Every file is
    written all-or-nothing (:func:`ethoflow.core.io.output_set`): a failure (disk full, kill) leaves
    the previous latent files untouched.

    Returns:
        the files written, in experiment order.

    Raises:
        InputError: missing checkpoint/df02/store, an experiment not in df02, a file-unsafe
            experiment name, or df02 snips that do not fit the model (``snip_len`` / channels).
    """
    model, ck = load_vae(checkpoint, "cuda" if torch.cuda.is_available() else "cpu")
    if model_params is not None:
        # local: imported only on the branch that needs it
        from ethoflow.core.inputs import warn_checkpoint_overrides

        warn_checkpoint_overrides(checkpoint, ck["config"], dict(model_params), "vae.model")
    df = read_df02(df02_path)
    for col in ("experiment_date", "cage_id", "start_minute"):
        if col not in df.columns:
            raise InputError(f"{df02_path}: column {col!r} missing (needed to cut snips for vae_embed)")
    df["experiment_date"] = df["experiment_date"].astype(str)
    have = sorted(df["experiment_date"].unique())
    todo = have if experiments is None else list(experiments)
    unknown = [e for e in todo if e not in have]
    if unknown:
        raise InputError(f"{df02_path}: experiment(s) {unknown} not in df02 (has {have})")
    cols = latent_columns(model.cfg)
    for exp in todo:
        if not _SAFE.match(exp):
            raise InputError(f"{df02_path}: experiment name {exp!r} is not usable in a file name")
    paths = [Path(out_dir) / LATENT_FILE.format(experiment=exp) for exp in todo]
    targets = [t for p in paths for t in ((p, twin_path(p)) if twin else (p,))]
    step = 2 if twin else 1
    # all-or-nothing: every experiment's CSV (+ twin) is renamed into place only when all are written
    with output_set(targets) as tmps:
        for k, (exp, path) in enumerate(progress(list(zip(todo, paths)), desc="vae_embed")):
            sub = df[df["experiment_date"] == exp].reset_index(drop=True)
            x, mask = load_snip_arrays(store_path, sub, int(ck["snip_len"]), list(ck["channels"]) or None)
            if x.shape[1:] != (model.cfg.seq_len, model.cfg.channels):
                raise InputError(
                    f"{store_path}: snips of shape {x.shape[1:]} do not fit the model "
                    f"({model.cfg.seq_len}, {model.cfg.channels})"
                )
            mu = encode_mu(model, apply_normaliser(x, mask, ck["normaliser"]), mask, batch_size)
            table = pd.DataFrame(mu, columns=cols)
            table.insert(0, "snip_id", sub["snip_id"].astype(str).to_numpy())
            text = table.to_csv(index=False, float_format="%.7g", lineterminator="\n")
            try:
                write_latent_pair(text, tmps[k * step], tmps[k * step + 1] if twin else None)
            except OSError as exc:
                raise output_error(exc, path) from exc
            log.info("vae_embed: %s: %d snips -> %s", exp, len(table), path)
    return paths
