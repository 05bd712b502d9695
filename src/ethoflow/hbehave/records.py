"""Typed records of hBehaveMAE training, validated on read.

- :class:`TrainSummary`: the training summary (``train_summary.json``; rank 0's ``summary.json`` that the
  DDP launcher reads back).

A record that does not match raises :class:`~ethoflow.core.errors.InputError` naming the file and key.
"""

from __future__ import annotations

import os
from typing import Any

from ethoflow.core.io import read_json
from ethoflow.core.records import Record, validate_record

__all__ = ["TrainSummary", "read_train_summary"]


class TrainSummary(Record):
    """The training summary: final train/val masked-reconstruction loss, steps, epochs, size, world size."""

    train_loss: float | None
    val_loss: float | None
    steps: int
    epochs: int
    completed: bool
    parameters: int
    flops_per_window: int
    train_windows: int
    val_windows: int
    world_size: int


def read_train_summary(path: str | os.PathLike) -> dict[str, Any]:
    """The training summary JSON at ``path``, checked against :class:`TrainSummary`, as written (a dict).

    Raises:
        InputError: missing file, not JSON, or a missing/mistyped key (file and key named).
    """
    data = read_json(path)
    validate_record(data, TrainSummary, path)
    return data
