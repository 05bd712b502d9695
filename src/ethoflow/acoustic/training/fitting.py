"""What the two acoustic trainers share (the window classifier, :mod:`.train`, and the framewise detector,
:mod:`.framewise_training`): inverse-frequency class weights, the call of ethoflow's engine
(:func:`ethoflow.core.training.fit`) with a variant's params, the summary of a fit and the model files.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ethoflow.acoustic.params import FeatureParams, TrainParams
from ethoflow.acoustic.records import FitSummary
from ethoflow.core import save_torch, write_json, write_record


def class_weights(y: np.ndarray, n_classes: int) -> Any:
    """Cross-entropy weights by inverse class frequency: ``total / max(count, 1) / n_classes`` per class.

    Args:
        y: the training labels, integers in ``[0, n_classes)``, shape ``(n,)``.
        n_classes: the number of classes (the targets and the background).

    Returns:
        a float32 ``torch.Tensor`` of shape ``(n_classes,)``.
    """
    # local: torch is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    import torch

    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    return torch.tensor(counts.sum() / np.maximum(counts, 1) / n_classes, dtype=torch.float32)


def fit_variant(
    module: Any,
    loader: Any,
    training: TrainParams,
    ckpt_dir: str | os.PathLike,
    fingerprint: str,
    live_dir: str | os.PathLike | None,
) -> dict[str, Any]:
    """:func:`ethoflow.core.training.fit` with ``acoustic.train``'s epochs and early-stopping patience:
    resumes from ``ckpt_dir/last.ckpt`` when its ``fingerprint`` matches; DVCLive curves in ``live_dir``.

    Returns ``fit``'s track (best epoch, metric and loss, history, resumed, stopped_early).

    Raises:
        InputError: a corrupt resume checkpoint.
    """
    # local: ethoflow.core.training.fit imports torch (slow to import)
    from ethoflow.core.training import LoopSettings, fit

    return fit(
        module,
        loader,
        epochs=training.epochs,
        ckpt_dir=ckpt_dir,
        fingerprint=fingerprint,
        loop=LoopSettings(early_stopping_patience=training.early_stopping_patience_epochs),
        live_dir=live_dir,
    )


def fit_summary(classes: list[str], tr: dict[str, Any], metric: str, scores: dict[str, Any]) -> dict[str, Any]:
    """The training summary's common part, in file order: ``classes``, ``best_epoch``, ``epochs_run``,
    ``stopped_early``, ``resumed``, ``metric``, ``best_val_metric``, ``best_val_loss``, ``final_train_loss``
    (None when no epoch ran) and ``scores`` (per split), from ``fit``'s track ``tr``."""
    history = tr["history"]
    return {
        "classes": classes,
        "best_epoch": tr["best_epoch"],
        "epochs_run": len(history),
        "stopped_early": tr["stopped_early"],
        "resumed": tr["resumed"],
        "metric": metric,
        "best_val_metric": tr["best_metric"],
        "best_val_loss": tr["best_loss"],
        "final_train_loss": history[-1]["train_loss"] if history else None,
        "scores": scores,
    }


def write_trained(
    out_dir: str | os.PathLike,
    model: Any,
    classes: list[str],
    features: FeatureParams,
    tr: dict[str, Any],
    summary: FitSummary,
    summary_path: str | os.PathLike | None = None,
    arch: str | None = None,
) -> None:
    """Write ``out_dir/model.pt`` (:func:`ethoflow.core.io.save_torch` of ``{arch (when given), state_dict, model (the
    model's config), classes, features, best_epoch}``), the summary (``summary_path``, default
    ``out_dir/train_summary.json``; the record ``summary``, written with :func:`ethoflow.core.records.write_record`)
    and ``out_dir/history.json`` (``tr["history"]``)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    head = {"arch": arch} if arch is not None else {}
    save_torch(
        out / "model.pt",
        {
            **head,
            "state_dict": model.state_dict(),
            "model": model.config,
            "classes": classes,
            "features": features.model_dump(),
            "best_epoch": tr["best_epoch"],
        },
        records_named_after_file=True,
    )
    write_record(summary_path or out / "train_summary.json", summary)
    write_json(out / "history.json", tr["history"])
