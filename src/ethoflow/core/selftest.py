"""Tiny job functions used by ``ethoflow doctor --slurm`` and the dispatch tests.

They live in the installed package (not in tests/) so a Slurm job can unpickle them by reference.
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
from pathlib import Path


def hello(x: int) -> dict:
    """Return ``x`` squared with the host and Slurm job id that ran it."""
    return {"x": x, "square": x * x, "host": socket.gethostname(), "job": os.environ.get("SLURM_JOB_ID")}


def fail(message: str) -> None:
    """Raise ``RuntimeError(message)`` (a job that fails)."""
    raise RuntimeError(message)


def sleep(seconds: float) -> float:
    """Sleep ``seconds`` and return it (a job that can exceed its time limit)."""
    time.sleep(seconds)
    return seconds


def write_digest(path: str, seed: int, count: int = 1000) -> str:
    """Write ``count`` seeded float64 numbers to ``path`` (npy) and return the file's sha256."""
    # local: keeps ethoflow.core.selftest importable without numpy
    import numpy as np

    from ethoflow.core.io import atomic_path

    data = np.random.default_rng(seed).standard_normal(count)
    with atomic_path(path) as tmp:
        np.save(tmp, data)
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
