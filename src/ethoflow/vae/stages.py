"""The vae DVC stages: one ``run_<stage>`` per stage of ``dvc.yaml`` (wiring only).

Each function reads its inputs, calls the domain modules (``snips``, ``train``, ``embed``, ``plots``),
sends training and embedding through :func:`ethoflow.dispatch.run` and writes its outputs. Every path is
an argument: ``dvc.yaml``'s ``cmd`` names it, ``stages/<stage>.py`` passes it on.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ethoflow import dispatch
from ethoflow.core import state_dir, write_json, write_live_curves, write_metrics
from ethoflow.core.params import DEFAULT_PARAMS
from ethoflow.vae.params import VAEParams
from ethoflow.vae.records import TrainPaths

__all__ = ["run_vae_embed", "run_vae_snips", "run_vae_train"]

PathLike = str | os.PathLike


def run_vae_snips(
    cfg: VAEParams, *, store: PathLike, out: PathLike, csv: PathLike, summary: PathLike
) -> dict[str, Any]:
    """``vae_snips``: cut the activity ``store`` into snips; df02 as Parquet (``out``) and CSV (``csv``),
    snip counts as ``summary`` JSON.

    Args:
        store: the activity Zarr store.
        out: df02 Parquet.
        csv: df02 CSV.
        summary: snip counts JSON.
    """
    # local: keeps ethoflow.vae.stages importable without pandas
    from ethoflow.vae.snips import build_df02, snips_summary, write_df02

    df = build_df02(store, cfg.snips)
    write_df02(df, out, csv)
    counts = snips_summary(df)
    write_json(summary, counts)
    return counts


def run_vae_train(
    cfg: VAEParams,
    *,
    paths: TrainPaths,
    params_path: PathLike = DEFAULT_PARAMS,
) -> dict[str, Any]:
    """``vae_train``: the time-series VAE on ``paths.df02``'s snips of ``paths.store`` ->
    ``paths.model_dir/model.pt``, DVCLive ``paths.live_dir``, training ``paths.summary`` JSON, headline
    ``paths.metrics``, the reconstruction ``paths.figure``, the latent ``paths.traversal`` figure and the
    long-format ELBO/KL/reconstruction ``paths.curves`` CSV (see :class:`~ethoflow.vae.records.TrainPaths`).
    Dispatched as one job; resumes from ``.ethoflow/checkpoints/vae_train``.

    Raises:
        InputError: see :func:`ethoflow.vae.training.train_vae`. DispatchError: the job failed.
    """
    # local: ethoflow.vae.training.FigurePaths imports torch (slow to import)
    from ethoflow.vae.training import FigurePaths, headline_metrics, train_vae

    result = dispatch.run(
        train_vae,
        df02_path=str(paths.df02),
        store_path=str(paths.store),
        params=cfg.model_dump(),
        model_dir=str(paths.model_dir),
        live_dir=str(paths.live_dir),
        metrics_path=str(paths.summary),
        checkpoint_root=str(state_dir("checkpoints", "vae_train")),
        figures=FigurePaths(str(paths.figure), str(paths.traversal) if paths.traversal else None),
        stage="vae_train",
        params_path=params_path,
    )
    if not result.get("interrupted"):
        write_metrics(paths.metrics, headline_metrics(result))
        if paths.curves:
            write_live_curves(paths.live_dir, ["elbo", "recon", "kl"], paths.curves)
    return result


def run_vae_embed(
    cfg: VAEParams,
    *,
    model: PathLike,
    df02: PathLike,
    store: PathLike,
    latents: PathLike,
    plot: PathLike,
    params_path: PathLike = DEFAULT_PARAMS,
) -> list[Path]:
    """``vae_embed``: latent means of every df02 snip -> ``latents/morph_latents_{experiment}.csv`` (the
    model's folder of the latent store), dispatched; the PCA scatter of the latents as ``plot``.

    Args:
        model: the trained model.pt.
        df02: df02 Parquet.
        store: the activity Zarr store.
        latents: the model's folder of the latent store.
        plot: PNG of the latents' first two principal components.

    Raises:
        InputError: see :func:`ethoflow.vae.embed.embed_experiments`. DispatchError: the job failed.
    """
    # local: ethoflow.vae.embed.embed_experiments imports torch (slow to import)
    from ethoflow.vae.embed import embed_experiments
    from ethoflow.vae.plots import plot_latents
    from ethoflow.vae.snips import read_df02

    files = dispatch.run(
        embed_experiments,
        checkpoint=str(model),
        df02_path=str(df02),
        store_path=str(store),
        out_dir=str(latents),
        batch_size=cfg.embed.batch_size,
        model_params=cfg.model.model_dump(),  # warns when the model file's architecture differs
        stage="vae_embed",
        params_path=params_path,
    )
    plot_latents(files, read_df02(df02), plot)
    return files
