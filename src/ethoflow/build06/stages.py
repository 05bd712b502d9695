"""The DVC stage ``build06``: wiring only (paths from dvc.yaml's cmd; no dispatch: Arrow runs in seconds)."""

from __future__ import annotations

import os
from pathlib import Path

from ethoflow.build06.build import Build06Result, RunOptions, build_df03_with_embeddings
from ethoflow.build06.coverage import headline_metrics
from ethoflow.build06.layout import Df03Paths
from ethoflow.build06.params import Build06Params
from ethoflow.core.io import write_metrics


def run_build06(
    cfg: Build06Params,
    *,
    df02: str | os.PathLike,
    latents: str | os.PathLike,
    model_name: str,
    out: str | os.PathLike,
    csv: str | os.PathLike,
    sidecar: str | os.PathLike,
    coverage: str | os.PathLike,
    metrics: str | os.PathLike,
    params_path: str | os.PathLike | None = None,
) -> Build06Result:
    """Stage ``build06``: df02 + the latent store vae_embed wrote -> df03 set + headline metrics.

    Reads only its DVC deps (``df02``, the ``latents`` folder) and writes only its outs: it never
    generates latents (vae_embed covers every df02 experiment) and replaces its outs, which DVC owns,
    without an overwrite flag. The sidecar carries no timestamp, so a rerun is byte-identical.

    Raises:
        InputError: bad inputs, or an experiment without latents and ``allow_partial`` false.
        OutputError: the outputs cannot be written (the previous ones are kept).
    """
    del params_path  # the section is already loaded; kept for the shared stage signature
    res = build_df03_with_embeddings(
        cfg,
        df02=df02,
        latents_dir=latents,
        model_name=model_name,
        out=Df03Paths(parquet=Path(out), csv=Path(csv), sidecar=Path(sidecar), coverage=Path(coverage)),
        options=RunOptions(overwrite=True, provenance=False),
    )
    write_metrics(metrics, headline_metrics(res.coverage))
    return res
