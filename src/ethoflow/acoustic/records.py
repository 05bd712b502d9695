"""Typed records the acoustic stages pass to each other, validated on read.

- :class:`VariantIndex`: ``variant_index.json`` (``acoustic_variants`` -> train, predict, evaluate, rf, report).
- :class:`EpochRecord`: one line of ``history.json`` (``acoustic_train`` -> ``acoustic_report``).
- :class:`TrainSummary`: ``train_summary.json`` of the segment classifier (``acoustic_train``);
  :class:`FramewiseTrainSummary`: the same file of the framewise model. Both share :class:`FitSummary`.
- :class:`RFTrainPaths`, :class:`RFFilterPaths`, :class:`ReportPaths`: the files a stage reads and writes,
  built by its stage script from ``dvc.yaml``'s ``cmd`` (frozen dataclasses, not files).

The writing stage builds the record and writes it with :func:`ethoflow.core.records.write_record`;
a file that does not match raises :class:`~ethoflow.core.errors.InputError` naming the file and key.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError

from ethoflow.core.errors import InputError
from ethoflow.core.io import read_json
from ethoflow.core.records import Record, read_record

__all__ = [
    "EpochRecord",
    "FitSummary",
    "FramewiseTrainSummary",
    "RFFilterPaths",
    "RFTrainPaths",
    "ReportPaths",
    "TrainSummary",
    "VariantIndex",
    "VariantRecording",
    "read_history",
    "read_train_summary",
    "read_variant_index",
]


class VariantRecording(Record):
    """One recording of a variant: name, tape, audio file, sample rate (Hz), duration (s), tape role."""

    recording: str
    tape: str
    file: str
    sr: int
    duration_s: float
    role: str


class VariantIndex(Record):
    """``variant_index.json``: the variant's classes, split counts, tape roles, noise mining, recordings."""

    strategy: str
    seed: int
    classes: list[str]
    counts: dict[str, Any]
    tape_roles: dict[str, str]
    noise: dict[str, Any]
    recordings: list[VariantRecording]

    def recording_dicts(self) -> list[dict[str, Any]]:
        """The recordings as plain dicts (recording, tape, file, sr, duration_s, role), in file order."""
        return [r.model_dump() for r in self.recordings]

    def recording_names(self) -> list[str]:
        """The recording names, in file order."""
        return [r.recording for r in self.recordings]


class EpochRecord(Record):
    """One epoch of ``history.json``: losses and validation scores (``val_<metric>``, extra keys kept)."""

    epoch: int
    train_loss: float
    val_loss: float
    lr: float


class FitSummary(Record):
    """What every acoustic training summary holds (:func:`ethoflow.acoustic.training.fitting.fit_summary`):
    classes, best epoch, epochs run, early stop, resume flag, monitored metric and its best value, best
    validation loss and last training loss (``None`` when no epoch ran), scores per split."""

    classes: list[str]
    best_epoch: int
    epochs_run: int
    stopped_early: bool
    resumed: bool
    metric: str
    best_val_metric: float
    best_val_loss: float | None
    final_train_loss: float | None
    scores: dict[str, dict[str, float]]


class TrainSummary(FitSummary):
    """``train_summary.json`` of the segment classifier: :class:`FitSummary` and the segment count per split."""

    n_segments: dict[str, int]


class FramewiseTrainSummary(FitSummary):
    """``train_summary.json`` of the framewise model: :class:`FitSummary`, ``arch`` (``framewise``), the
    frame count per split and the model's context (frames each side of a frame it scores)."""

    arch: str
    n_frames: dict[str, int]
    context_frames: int


PathLike = str | os.PathLike


@dataclass(frozen=True)
class RFTrainPaths:
    """Files of ``acoustic_rf_train@<variant>-<setting>``.

    Attributes:
        detections: the item's ``detections.parquet`` (``acoustic_evaluate``).
        variant_index: the variant's ``variant_index.json``.
        corpus_index: ``corpus_index.json`` (the annotated calls of the validation tapes).
        features_out: folder of ``features.parquet`` (written).
        model_out: folder of ``rf.pkl`` and ``rf_summary.json`` (written).
    """

    detections: PathLike
    variant_index: PathLike
    corpus_index: PathLike
    features_out: PathLike
    model_out: PathLike


@dataclass(frozen=True)
class RFFilterPaths:
    """Files of ``acoustic_rf_filter@<variant>-<setting>``.

    Attributes:
        detections: the item's ``detections.parquet`` (``acoustic_evaluate``).
        features: the item's ``features.parquet`` (``acoustic_rf_train``).
        model: the item's ``rf.pkl`` (``acoustic_rf_train``).
        corpus_index: ``corpus_index.json`` (ground truth).
        variant_index: the variant's ``variant_index.json``.
        out: folder of the ``rf`` layer (written).
    """

    detections: PathLike
    features: PathLike
    model: PathLike
    corpus_index: PathLike
    variant_index: PathLike
    out: PathLike


@dataclass(frozen=True)
class ReportPaths:
    """Files of ``acoustic_report``.

    Attributes:
        corpus_index: ``corpus_index.json`` (ground truth).
        variants_dir: folder of the variants (``<variant>/variant_index.json``).
        detections_dir: folder of the ``cnn`` layer's items (``acoustic_evaluate``, ``acoustic_external``).
        filtered_dir: folder of the ``rf`` layer's items (``acoustic_rf_filter``).
        models_dir: folder of the models (``<variant>/history.json``).
        metrics: headline metrics JSON (written).
        reports: folder of the tables, figures and plot data (written).
        detect_dir: folder of the detection sets (``<set>/metrics.json``); ``None``: none reported.
    """

    corpus_index: PathLike
    variants_dir: PathLike
    detections_dir: PathLike
    filtered_dir: PathLike
    models_dir: PathLike
    metrics: PathLike
    reports: PathLike
    detect_dir: PathLike | None = None


def read_variant_index(path: str | os.PathLike) -> VariantIndex:
    """Read ``variant_index.json``.

    Raises:
        InputError: missing file (run ``acoustic_variants`` first) or a missing/mistyped key (named).
    """
    return read_record(path, VariantIndex)


def read_train_summary(path: str | os.PathLike) -> TrainSummary:
    """Read ``train_summary.json`` (raises ``InputError`` naming the file and key)."""
    return read_record(path, TrainSummary)


def read_history(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Read ``history.json`` (a list of epoch records, or ``{"history": [...]}``), each checked against
    :class:`EpochRecord`; returned as written (plain dicts, keys in the file's order).

    Raises:
        InputError: missing file or a record with a missing/mistyped key (file, index and key named).
    """
    data = read_json(path)
    records = data["history"] if isinstance(data, dict) and "history" in data else data
    try:
        TypeAdapter(list[EpochRecord]).validate_python(records)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        raise InputError(f"{path}: EpochRecord key {key}: {first['msg']}") from None
    return records
