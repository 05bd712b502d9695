"""Typed records of VAE training, validated on read.

(The resumable training state is the training engine's Lightning checkpoint, ``ethoflow.core.training``.)

- :class:`TrainSummary`: ``train_summary.json`` (``vae_train``, written with
  :func:`ethoflow.core.records.write_record`; read by ``read_train_summary``).
- :class:`TrainPaths`: the files ``vae_train`` reads and writes, built by its stage script from
  ``dvc.yaml``'s ``cmd`` (a frozen dataclass, not a file).

A record that does not match raises :class:`~ethoflow.core.errors.InputError` naming the file and key.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from ethoflow.core.io import read_json
from ethoflow.core.records import Record, validate_record

__all__ = ["TrainPaths", "TrainSummary", "read_train_summary"]

PathLike = str | os.PathLike


class TrainSummary(Record):
    """``train_summary.json``: the best epoch's reconstruction, KL and ELBO, latent_dim and active dims,
    snip and cage counts, posterior-collapse flag, and the per-cage normalised reconstruction error of
    each split (``recon_nmse_val``/``recon_nmse_train``, ``None`` for an empty split; see
    :func:`ethoflow.vae.training.cage_nmse`)."""

    model_name: str
    n_parameters: int
    epochs_run: int
    best_epoch: int
    stopped_early: bool
    monitor: str
    recon: float
    kl: float
    elbo: float
    latent_dim: int
    active_dims: int
    n_train_snips: int
    n_val_snips: int
    n_val_cages: int
    n_train_cages: int | None = None
    recon_nmse_val: float | None = None
    recon_nmse_train: float | None = None
    posterior_collapse: bool


@dataclass(frozen=True)
class TrainPaths:
    """Files of ``vae_train``.

    Attributes:
        df02: df02 Parquet (``vae_snips``).
        store: the activity Zarr store.
        model_dir: model folder (``model.pt``; written).
        live_dir: DVCLive folder (per-epoch curves; written).
        summary: training summary JSON (:class:`TrainSummary`; written).
        metrics: headline metrics (numbers only; written).
        figure: reconstructions PNG (written).
        curves: long-format ELBO/KL/reconstruction curves CSV (train/val; written); ``None``: not written.
        traversal: latent-traversal PNG (what each latent dim encodes; written); ``None``: not drawn.
    """

    df02: PathLike
    store: PathLike
    model_dir: PathLike
    live_dir: PathLike
    summary: PathLike
    metrics: PathLike
    figure: PathLike
    curves: PathLike | None = None
    traversal: PathLike | None = None


def read_train_summary(path: str | os.PathLike) -> dict[str, Any]:
    """``train_summary.json`` at ``path``, checked against :class:`TrainSummary`, as written (a dict).

    Raises:
        InputError: missing file, not JSON, or a missing/mistyped key (file and key named).
    """
    data = read_json(path)
    validate_record(data, TrainSummary, path)
    return data
