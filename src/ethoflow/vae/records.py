"""Typed records of VAE training, validated on read.

(The resumable training state is the training engine's Lightning checkpoint, ``ethoflow.core.training``.)

- :class:`TrainSummary`: ``train_summary.json`` (``vae_train``; read by ``read_train_summary``).

A record that does not match raises :class:`~ethoflow.core.errors.InputError` naming the file and key.
"""

from __future__ import annotations

import os
from typing import Any

from ethoflow.core.io import read_json
from ethoflow.core.records import Record, validate_record

__all__ = ["TrainSummary", "read_train_summary"]


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


def read_train_summary(path: str | os.PathLike) -> dict[str, Any]:
    """``train_summary.json`` at ``path``, checked against :class:`TrainSummary`, as written (a dict).

    Raises:
        InputError: missing file, not JSON, or a missing/mistyped key (file and key named).
    """
    data = read_json(path)
    validate_record(data, TrainSummary, path)
    return data
