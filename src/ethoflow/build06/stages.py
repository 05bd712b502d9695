"""The DVC stage ``build06``: wiring only (paths from dvc.yaml's cmd; no dispatch: Arrow runs in seconds)."""

from __future__ import annotations

import os
from pathlib import Path

from ethoflow.build06.build import Build06Result, RunOptions, build_df03_with_embeddings
from ethoflow.build06.coverage import headline_metrics
from ethoflow.build06.layout import Df03Paths
from ethoflow.build06.params import Build06Params
from ethoflow.build06.records import Build06Paths
from ethoflow.core.io import write_metrics


def run_build06(
    cfg: Build06Params,
    *,
    model_name: str,
    paths: Build06Paths,
    params_path: str | os.PathLike | None = None,
) -> Build06Result:
    """Stage ``build06``: df02 + the latent store vae_embed wrote for ``model_name`` -> df03 set + headline
    metrics (files in ``paths``, :class:`~ethoflow.build06.records.Build06Paths`).

    Reads only its DVC deps (``paths.df02``, the ``paths.latents`` folder) and writes only its outs: it never
    generates latents (vae_embed covers every df02 experiment) and replaces its outs, which DVC owns,
    without an overwrite flag. The sidecar carries no timestamp, so a rerun is byte-identical.

    Args:
        model_name: the VAE whose latents are merged (sidecar).

    Raises:
        InputError: bad inputs, or an experiment without latents and ``allow_partial`` false.
        OutputError: the outputs cannot be written (the previous ones are kept).
    """
    del params_path  # the section is already loaded; kept for the shared stage signature
    res = build_df03_with_embeddings(
        cfg,
        df02=paths.df02,
        latents_dir=paths.latents,
        model_name=model_name,
        out=Df03Paths(
            parquet=Path(paths.out), csv=Path(paths.csv), sidecar=Path(paths.sidecar), coverage=Path(paths.coverage)
        ),
        options=RunOptions(overwrite=True, provenance=False),
    )
    write_metrics(paths.metrics, headline_metrics(res.coverage))
    return res
