"""Acoustic pipeline: ANIMAL-SPOT-style call segmentation (corpus -> variants -> CNN -> detections -> RF).

The public API is listed in ``__all__`` and imported lazily on first use, so ``import ethoflow.acoustic``
loads neither torch nor librosa. Modules: ``params`` (typed section), ``corpus`` (crowsetta ingestion),
``variants`` (splits, noise mining, selection tables), ``spectrogram`` (front end, augmentation),
``model`` (ResNet), ``train``, ``predict``, ``animal_spot`` (existing ANIMAL-SPOT model files),
``evaluate`` (detections, IoU matching), ``features`` (librosa), ``rf`` (false-alarm filter), ``report``,
``stage`` (what the matrix stage scripts share), ``pipeline`` (run the stages outside DVC).
"""

from __future__ import annotations

import importlib
from typing import Any

from ethoflow.acoustic.params import AcousticParams, load_acoustic

_LAZY = {
    "build_corpus": "corpus",
    "build_variant": "variants",
    "write_variant": "variants",
    "power_spectrogram": "spectrogram",
    "recording_power": "spectrogram",
    "window_batch": "spectrogram",
    "CallClassifier": "model",
    "train_model": "train",
    "load_model": "train",
    "predict_recordings": "predict",
    "load_animal_spot": "animal_spot",
    "is_animal_spot_file": "animal_spot",
    "chain_windows": "evaluate",
    "match_greedy": "evaluate",
    "match_hungarian": "evaluate",
    "iou_1d": "evaluate",
    "segment_features": "features",
    "detection_features": "features",
    "fit_filter": "rf",
    "build_report": "report",
    "run_pipeline": "pipeline",
}

__all__ = ["AcousticParams", "load_acoustic", *sorted(_LAZY)]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"ethoflow.acoustic.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'ethoflow.acoustic' has no attribute {name!r}")
