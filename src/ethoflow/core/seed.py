"""Seeding: the same inputs and params give the same outputs."""

from __future__ import annotations

import os
import random

import numpy as np


def seed_everything(seed: int, deterministic_torch: bool = True) -> np.random.Generator:
    """Seed Python's, numpy's and (when imported) torch's generators; return a numpy ``Generator``.

    With ``deterministic_torch`` torch is switched to deterministic algorithms (warn-only for ops
    that have none) and cuDNN benchmarking is turned off, so CPU runs are bit-for-bit repeatable.
    """
    random.seed(seed)
    np.random.seed(seed % (2**32))
    os.environ.setdefault("PYTHONHASHSEED", str(seed))
    try:
        # local: torch is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
        import torch
    except ImportError:  # pragma: no cover
        torch = None
    if torch is not None:
        torch.manual_seed(seed)
        if deterministic_torch:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.use_deterministic_algorithms(True, warn_only=True)
            torch.backends.cudnn.benchmark = False
    return np.random.default_rng(seed)
