"""The hbehave DVC stages: one ``run_<stage>`` per stage of ``dvc.yaml`` (wiring only).

Each function reads its inputs, calls the domain modules (``ingest``, ``train``, ``pretrained``,
``extract``, ``plots``), sends the heavy part through :mod:`ethoflow.dispatch` (training as one job,
extraction as a job array with one task per cage) and writes its outputs. Every path is an argument:
``dvc.yaml``'s ``cmd`` names it, ``stages/<stage>.py`` passes it on.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from ethoflow import dispatch
from ethoflow.core.io import output_set, write_json, write_live_curves, write_metrics
from ethoflow.core.params import DEFAULT_PARAMS
from ethoflow.core.paths import state_dir
from ethoflow.hbehave.params import HBehaveParams

__all__ = [
    "run_hbehave_actograms",
    "run_hbehave_extract",
    "run_hbehave_heatmaps",
    "run_hbehave_train",
    "run_hbehave_zarr",
]

PathLike = str | os.PathLike


def run_hbehave_zarr(cfg: HBehaveParams, *, out: PathLike, report: PathLike) -> dict[str, Any]:
    """``hbehave_zarr``: raw activity (``hbehave.zarr.input_dir``) -> the Zarr store ``out`` + ingest ``report``.

    Args:
        out: the activity Zarr store.
        report: ingest report JSON.

    Raises:
        InputError: see :func:`ethoflow.hbehave.ingest.build_store`.
    """
    # local: keeps ethoflow.hbehave.stages importable without pandas
    from ethoflow.hbehave.ingest import build_store

    with output_set([out, report]) as (tmp_store, tmp_report):  # all-or-nothing: store and report together
        result = build_store(cfg.zarr, tmp_store)
        write_json(tmp_report, result)
    return result


def run_hbehave_actograms(cfg: HBehaveParams, *, store: PathLike, out: PathLike, summary: PathLike) -> dict[str, Any]:
    """``hbehave_actograms``: a double-plotted actogram per cage of ``store`` into ``out`` (light phase from
    ``hbehave.heatmaps``' day window) and the metrics JSON ``summary``.

    Args:
        store: the activity Zarr store.
        out: folder of the actograms and summary.csv.
        summary: metrics JSON.
    """
    # local: keeps ethoflow.hbehave.stages importable without numpy
    from ethoflow.hbehave.plots import actograms

    metrics = actograms(store, cfg.actogram, out, cfg.heatmaps.day_start_hour, cfg.heatmaps.day_end_hour)
    write_json(summary, metrics)
    return metrics


def run_hbehave_train(
    cfg: HBehaveParams,
    *,
    store: PathLike,
    out: PathLike,
    live: PathLike,
    summary: PathLike,
    metrics: PathLike,
    curves: PathLike | None = None,
    params_path: PathLike = DEFAULT_PARAMS,
) -> dict[str, Any]:
    """``hbehave_train``: hBehaveMAE on ``store`` -> checkpoint ``out``; DVCLive folder ``live``, the training
    ``summary`` JSON (without run info), headline ``metrics`` and the long-format loss ``curves`` CSV.

    Dispatched as one job (``compute.stages.hbehave_train``); ``options.nproc`` > 1 trains with that many
    local DDP processes, a multi-task Slurm job with one rank per task (the ``compute`` section of
    ``params_path``). Resumes from ``.ethoflow/hbehave_train``.

    Args:
        store: the activity Zarr store.
        out: the final checkpoint.
        live: DVCLive folder.
        summary: training summary JSON.
        metrics: headline metrics (numbers only).
        curves: long-format loss curves CSV for DVC plots (train/val).

    Raises:
        DispatchError: the job failed (job id and stderr tail).
    """
    # local: ethoflow.hbehave.train.headline_metrics imports torch (slow to import)
    from ethoflow.hbehave.train import headline_metrics, stable_metrics, train_model

    compute = dispatch.load_compute(params_path)
    nproc = int((compute.resources("hbehave_train").options or {}).get("nproc", 1))  # local DDP processes
    result = dispatch.run(
        train_model,
        model_params=cfg.model,
        train_params=cfg.train,
        store=str(store),
        out_model=str(out),
        live_dir=str(live),
        ckpt_dir=str(state_dir("hbehave_train")),
        nproc=nproc,
        stage="hbehave_train",
        compute=compute,
    )
    stable = stable_metrics(result)  # wall time etc.: logged, not kept
    write_json(summary, stable)
    write_metrics(metrics, headline_metrics(stable))
    if curves:
        write_live_curves(live, ["loss"], curves)
    return stable


def run_hbehave_extract(
    cfg: HBehaveParams,
    *,
    agg: str,
    model: PathLike,
    store: PathLike,
    out: PathLike,
    summary: PathLike,
    work_dir: PathLike,
    params_path: PathLike = DEFAULT_PARAMS,
) -> dict[str, Any]:
    """``hbehave_extract@<agg>``: per-minute hierarchical embeddings of every cage into ``out`` + ``summary``.

    ``model`` is an ethoflow checkpoint (``hbehave_train``'s) or one of the authors' BehaveMAE code,
    converted into ``work_dir`` first (see :func:`ethoflow.hbehave.pretrained.resolve_model`; ``work_dir``
    must be readable by Slurm array tasks). The cages run as one job array (one task per cage; the
    ``compute`` section of ``params_path`` says where).

    Args:
        agg: aggregation name from hbehave.extract.aggregations.
        model: checkpoint (hbehave.extract.model).
        store: the activity Zarr store.
        out: folder of the embeddings.
        summary: metrics JSON.
        work_dir: where a BehaveMAE checkpoint is converted (readable by Slurm array tasks).

    Raises:
        ParamsError: unknown aggregation, architecture mismatch. DispatchError: a task failed.
    """
    # local: keeps ethoflow.hbehave.stages importable without numpy
    from ethoflow.hbehave.extract import collect_extract, embed_cage_to_file, plan_extract
    from ethoflow.hbehave.pretrained import resolve_model
    from ethoflow.hbehave.store import read_store_attrs

    n_channels = len(read_store_attrs(store).get("channels") or []) or None
    model_path, source = resolve_model(model, cfg.pretrained, work_dir, n_channels)
    # an ethoflow checkpoint must match hbehave.model; a BehaveMAE one is described by hbehave.pretrained
    model_params = cfg.model if source["format"] == "ethoflow" else None
    plan = plan_extract(model_path, store, agg, cfg.extract, out, model_params=model_params)
    try:
        dispatch.map_array(
            embed_cage_to_file,
            *zip(*plan.tasks),
            stage=f"hbehave_extract@{agg}",
            params_path=params_path,
        )
        metrics = collect_extract(plan)
    finally:  # the per-cage parts are scratch: removed on success and on failure
        shutil.rmtree(Path(out) / ".parts", ignore_errors=True)
    metrics["model"] = source
    write_json(summary, metrics)
    return metrics


def run_hbehave_heatmaps(
    cfg: HBehaveParams, *, agg: str, embeddings: PathLike, out: PathLike, summary: PathLike
) -> dict[str, Any]:
    """``hbehave_heatmaps@<agg>``: day/night heatmaps of the embeddings per cage and level into ``out``,
    the coverage table ``out/summary.csv`` and the metrics JSON ``summary``.

    Args:
        agg: aggregation name from hbehave.extract.aggregations.
        embeddings: folder of the aggregation's embeddings.
        out: folder of the heatmaps and summary.csv.
        summary: metrics JSON.
    """
    # local: keeps ethoflow.hbehave.stages importable without numpy
    from ethoflow.hbehave.plots import heatmaps

    metrics = heatmaps(embeddings, agg, cfg.heatmaps, out)
    write_json(summary, metrics)
    return metrics


def run_hbehave_probe(cfg: HBehaveParams, *, agg: str, embeddings: PathLike, out: PathLike, metrics: PathLike) -> dict:
    """``hbehave_probe@<agg>``: :func:`ethoflow.hbehave.probe.run_probe` with ``cfg.probe`` and the light
    phase of ``cfg.heatmaps``; ``out`` gets ``probe.csv``/``probe.png``, the headline ``metrics`` JSON per
    level accuracy (and its sd over folds), macro-F1, both chance levels, the p-value and the bin count.

    Args:
        agg: aggregation name from hbehave.extract.aggregations.
        embeddings: folder of the aggregation's embeddings.
        out: folder of probe.csv and probe.png.
        metrics: headline metrics JSON.
    """
    # local: keeps ethoflow.hbehave.stages importable without pandas
    from ethoflow.hbehave.probe import run_probe

    results = run_probe(embeddings, agg, cfg.probe, (cfg.heatmaps.day_start_hour, cfg.heatmaps.day_end_hour), out)
    keys = ("accuracy", "accuracy_sd_folds", "macro_f1", "chance_accuracy", "chance_macro_f1", "p_value", "n_bins")
    write_metrics(metrics, {lv: {k: r[k] for k in keys} for lv, r in results.items()})
    return results
