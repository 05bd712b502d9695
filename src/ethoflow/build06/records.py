"""The files of the ``build06`` stage, as one record its stage script builds from ``dvc.yaml``'s ``cmd``.

- :class:`Build06Paths`: what ``build06`` reads (df02, the latent store) and writes (the df03 set and
  headline metrics); a frozen dataclass, not a file.
- The df03 sidecar written beside df03 is :class:`ethoflow.build06.sidecar.Df03Sidecar`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

__all__ = ["Build06Paths"]

PathLike = str | os.PathLike


@dataclass(frozen=True)
class Build06Paths:
    """Files of ``build06``.

    Attributes:
        df02: the df02 file (``vae_snips``).
        latents: the latent store folder of the model (``vae_embed``).
        out: df03 Parquet (written).
        csv: df03 CSV (written).
        sidecar: the df03 sidecar JSON (written).
        coverage: the coverage report JSON (written).
        metrics: headline metrics (numbers only; written).
    """

    df02: PathLike
    latents: PathLike
    out: PathLike
    csv: PathLike
    sidecar: PathLike
    coverage: PathLike
    metrics: PathLike
