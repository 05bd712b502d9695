"""The moseq pipeline's DVC stages, one ``run_<stage>`` each: wiring only.

Each reads its inputs (paths given by ``dvc.yaml`` through the stage script), calls the domain
functions (:mod:`~ethoflow.moseq.prepare`, :mod:`~ethoflow.moseq.kappa`, :mod:`~ethoflow.moseq.fit`,
:mod:`~ethoflow.moseq.results`) and writes the outputs. The fits are dispatched here and nowhere else:
:func:`ethoflow.dispatch.run` for one fit, :func:`ethoflow.dispatch.map_array` for a round of kappa
trials (one Slurm job array per round on a cluster, one after another in-process locally).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ethoflow import dispatch
from ethoflow.core.errors import InputError
from ethoflow.core.params import DEFAULT_PARAMS
from ethoflow.moseq import fit, jaxcache, kappa, kpms_warnings, prepare, results, seeds
from ethoflow.moseq import plots as moseq_plots
from ethoflow.moseq.apply import apply_to_sessions
from ethoflow.moseq.calibration import calibrate
from ethoflow.moseq.groups import group_analysis
from ethoflow.moseq.inputs import MoseqInputs
from ethoflow.moseq.io import resolve_paths
from ethoflow.moseq.params import MoseqParams
from ethoflow.moseq.search import SearchState

PathLike = str | os.PathLike

# a stage process: keypoint-moseq's warnings name their source (see ethoflow.moseq.kpms_warnings)
kpms_warnings.install()


def run_moseq_load(cfg: MoseqParams, *, out: PathLike, root: PathLike = ".") -> dict[str, Any]:
    """moseq_load: keypoint files named in ``moseq.load`` -> ``out`` (``keypoints.p``, kpms
    ``config.yml``, ``load_report.json``). See :func:`ethoflow.moseq.prepare.load`.

    Args:
        out: keypoints.p, config.yml and load_report.json.
        root: the project folder that relative paths in ``moseq.load`` are read from (default: the working folder).
    """
    return prepare.load(cfg, out, root=root)


def run_moseq_outliers(
    cfg: MoseqParams, *, load_dir: PathLike, out: PathLike, plots: PathLike | None
) -> dict[str, float]:
    """moseq_outliers: ``load_dir`` -> cleaned keypoints in ``out``, QA plots in ``plots``.
    See :func:`ethoflow.moseq.prepare.outliers`.

    Args:
        load_dir: moseq_load's folder.
        out: cleaned keypoints.p and config.yml.
        plots: QA plots folder (``None``: no plots; library use and tests).
    """
    return prepare.outliers(cfg, load_dir, out, plots)


def run_moseq_pca(
    cfg: MoseqParams,
    *,
    outliers_dir: PathLike,
    out: PathLike,
    scree: PathLike,
    metrics: PathLike,
    pcs: PathLike | None = None,
) -> dict[str, Any]:
    """moseq_pca: ``outliers_dir`` -> ``pca.p`` and config in ``out``, the scree plot, the PCA
    summary JSON ``metrics``, kpms' PC plot ``pcs``. See :func:`ethoflow.moseq.prepare.pca`.

    Args:
        outliers_dir: moseq_outliers' folder.
        out: pca.p and config.yml.
        scree: scree plot PNG.
        metrics: PCA summary JSON.
        pcs: PC plot PNG (kpms plot_pcs).
    """
    return prepare.pca(cfg, outliers_dir, out, scree, metrics, pcs_png=pcs)


def _compute_options(
    stage: str, compute: dispatch.ComputeParams | None, params_path: PathLike
) -> tuple[dispatch.ComputeParams, dict[str, Any]]:
    """The ``compute`` params (read from ``params_path`` when ``None``) and ``stage``'s moseq compute
    options, checked (:func:`ethoflow.moseq.fit.check_options`).

    Raises:
        ethoflow.core.errors.ParamsError: bad ``compute.stages.<stage>.options``.
    """
    compute = compute or dispatch.load_compute(params_path)
    return compute, fit.check_options(compute.resources(stage).options, stage, params_path)


def _search_and_fit(
    ks: kappa.KappaSearch, compute: dispatch.ComputeParams | None, params_path: PathLike
) -> SearchState:
    """Run (or resume) a kappa search and its final fit (:func:`ethoflow.moseq.kappa.search_and_fit`),
    dispatching every fit: a round of trials as one job array, the final fit as one job."""
    compute, options = _compute_options(ks.stage, compute, params_path)
    run_spec = {"options": options, "root": str(Path.cwd())}

    def fit_round(specs: list[dict[str, Any]]) -> list[tuple[float, str]]:
        specs = [{**s, **run_spec} for s in specs]
        if len(specs) == 1:  # one trial: recorded as soon as it is done
            return [dispatch.run(fit.fit_trial, spec=specs[0], stage=ks.stage, compute=compute)]
        return dispatch.map_array(fit.fit_trial, specs, stage=ks.stage, compute=compute)

    def fit_final(spec: dict[str, Any]) -> dict[str, float]:
        return dispatch.run(fit.continue_fit, spec={**spec, **run_spec}, stage=ks.stage, compute=compute)

    return kappa.search_and_fit(ks, fit_round, fit_final)


def run_moseq_arhmm(
    cfg: MoseqParams,
    *,
    keypoints: PathLike,
    pca_dir: PathLike,
    out: PathLike,
    compute: dispatch.ComputeParams | None = None,
    params_path: PathLike = DEFAULT_PARAMS,
) -> SearchState:
    """moseq_arhmm: kappa search for the AR-HMM, then its final fit, into ``out`` (a DVC persist
    out: ``search_state.json``, ``arhmm/checkpoint.h5``, ``config.yml`` with the chosen kappa).
    ``compute``: the ``compute`` params (read from ``params_path`` when ``None``).

    Args:
        keypoints: cleaned keypoints.p.
        pca_dir: moseq_pca's folder.
        out: search state, final AR-HMM, config.yml (persist).

    Raises:
        ethoflow.moseq.search.SearchError: unreachable target with ``on_unreachable: error``.
        ethoflow.core.errors.ParamsError: bad ``compute.stages.moseq_arhmm.options``.
    """
    return _search_and_fit(kappa.arhmm_search(cfg, keypoints, pca_dir, out), compute, params_path)


def run_moseq_full(
    cfg: MoseqParams,
    *,
    arhmm_dir: PathLike,
    out: PathLike,
    compute: dispatch.ComputeParams | None = None,
    params_path: PathLike = DEFAULT_PARAMS,
) -> SearchState:
    """moseq_full: kappa search for the full model warm-started from ``arhmm_dir``'s AR-HMM, then
    its final fit, into ``out`` (as :func:`run_moseq_arhmm`, final model ``full/checkpoint.h5``).

    Args:
        arhmm_dir: moseq_arhmm's folder.
        out: search state, final full model, config.yml (persist).
    """
    return _search_and_fit(kappa.full_search(cfg, arhmm_dir, out), compute, params_path)


def run_moseq_seeds(
    cfg: MoseqParams,
    *,
    inputs: MoseqInputs | Mapping[str, PathLike],
    out: PathLike,
    eml_plot: PathLike,
    confusion_plot: PathLike,
    compute: dispatch.ComputeParams | None = None,
    params_path: PathLike = DEFAULT_PARAMS,
) -> dict[str, Any]:
    """moseq_seeds: the final model fitted from ``moseq.seeds.n_seeds`` seeds at the kappas of
    ``inputs.arhmm_dir`` and ``inputs.full_dir`` on ``inputs.keypoints`` and ``inputs.pca_dir`` (one
    :func:`ethoflow.moseq.fit.fit_seed` per seed, as one job array through
    :func:`ethoflow.dispatch.map_array`; seeds already fitted for these inputs are skipped), refitted
    at corrected kappas while no seed lands in the target window (within ``moseq.seeds.max_final_fits``,
    :func:`ethoflow.moseq.seeds.closed_loop`), scored by EML; the highest inside the window is chosen.
    Writes ``out/seed-NN/`` (a DVC persist out), ``out/seeds.json`` and the two figures. See
    :mod:`ethoflow.moseq.seeds`. ``inputs``: a :class:`~ethoflow.moseq.inputs.MoseqInputs` or a mapping
    of its field names (the stage script's arguments).

    Args:
        out: one model per seed and seeds.json (persist).
        eml_plot: EML score per seed (PNG).
        confusion_plot: chosen vs runner-up syllables (PNG).

    Raises:
        ethoflow.core.errors.ParamsError: bad ``compute.stages.moseq_seeds.options``.
        ethoflow.core.errors.InputError: a missing input.
    """
    stage = "moseq_seeds"
    compute, options = _compute_options(stage, compute, params_path)
    sel = seeds.new_selection(cfg, MoseqInputs.coerce(inputs), out)

    def fit_seeds(selection: seeds.SeedSelection, todo: list[int]) -> None:
        specs = [{**selection.spec(s), "options": options, "root": str(Path.cwd())} for s in todo]
        dispatch.map_array(fit.fit_seed, specs, stage=stage, compute=compute)  # each writes its record

    jaxcache.enable()
    sel, summary = seeds.closed_loop(sel, fit_seeds)
    moseq_plots.seed_figures(sel, summary, eml_plot, confusion_plot)
    return summary


def run_moseq_results(
    cfg: MoseqParams,
    *,
    inputs: MoseqInputs | Mapping[str, PathLike | None],
    out: PathLike,
    summary: PathLike,
    plots: PathLike,
    metrics: PathLike,
    grid_movies: PathLike | None = None,
) -> dict[str, Any]:
    """moseq_results: the chosen seed's model of ``inputs.seeds_dir`` (or, without it, the final model
    in ``inputs.full_dir``) -> reindexed model, per-frame syllables (HDF5 + CSV) in ``out``, ``summary``
    JSON, figures in ``plots``, headline ``metrics``, grid movies per syllable in ``grid_movies`` (from
    the ``inputs.keypoints`` pickle and the videos named in params); ``inputs.pca_summary``: the PCA
    summary JSON (``inputs``: a :class:`~ethoflow.moseq.inputs.MoseqInputs` or a mapping of its field
    names). See :func:`ethoflow.moseq.results.results`.

    Args:
        grid_movies: folder of the grid movies per syllable.
        out: results folder.
        summary: summary JSON.
        plots: figures folder.
        metrics: headline metrics JSON (numbers only).
    """
    outputs = results.ResultsOutputs(
        out=Path(out),
        summary=Path(summary),
        plots=Path(plots),
        metrics=Path(metrics),
        grid_movies=None if grid_movies is None else Path(grid_movies),
    )
    return results.results(cfg, MoseqInputs.coerce(inputs), outputs)


def run_moseq_apply(
    cfg: MoseqParams,
    *,
    set_name: str,
    model_dir: PathLike,
    out: PathLike,
    plots: PathLike,
    metrics: PathLike | None = None,
    compute: dispatch.ComputeParams | None = None,
    params_path: PathLike = DEFAULT_PARAMS,
) -> dict[str, Any]:
    """moseq_apply@<set_name>: the chosen model in ``model_dir`` (moseq_results' folder) applied to
    the new sessions of ``moseq.apply.sets[set_name]``: per-frame syllables and frequencies in
    ``out``, the transition graph per group in ``plots``, usage, agreement and collapse warnings in
    ``metrics``. See
    :func:`ethoflow.moseq.apply.apply_to_sessions` (dispatched as one job).

    Args:
        set_name: name of the session set in moseq.apply.sets.
        model_dir: moseq_results' folder (the chosen model).
        out: syllables per frame, frequencies, summary.
        plots: figures folder (transition graph per group).
        metrics: optional headline metrics JSON (syllable usage, agreement, collapse warnings).
    """
    stage = f"moseq_apply@{set_name}"
    compute, options = _compute_options(stage, compute, params_path)
    return dispatch.run(
        _apply_job,
        cfg=cfg,
        set_name=set_name,
        model_dir=str(model_dir),
        out=str(out),
        plots=str(plots),
        options=options,
        root=str(Path.cwd()),
        metrics=None if metrics is None else str(metrics),
        stage=stage,
        compute=compute,
    )


def _apply_job(cfg, set_name, model_dir, out, plots, options, root, metrics=None):
    """The apply job (top-level, picklable): JAX cache and compute options, then the apply."""
    jaxcache.enable(root)
    opts = fit.apply_options(options)
    return apply_to_sessions(
        cfg,
        set_name,
        model_dir,
        out,
        plots,
        parallel_message_passing=opts.parallel_message_passing,
        root=root,
        metrics_json=metrics,
    )


def run_moseq_groups(
    cfg: MoseqParams, *, results_dir: PathLike, out: PathLike, plots: PathLike, metrics: PathLike | None = None
) -> dict[str, Any]:
    """moseq_groups: the groups of ``moseq.groups`` compared on the chosen model's syllables in
    ``results_dir`` (usage and duration per group, Kruskal-Wallis with FDR, transition matrices and
    their difference graph). See :func:`ethoflow.moseq.groups.group_analysis`.

    Args:
        results_dir: moseq_results' folder (the chosen model's syllables).
        out: tables and summary.json.
        plots: figures folder (difference graph, usage per group).
        metrics: optional headline metrics JSON of the group analysis.
    """
    return group_analysis(cfg, results_dir, out, plots, metrics)


def run_moseq_calibrate(
    cfg: MoseqParams, *, set_name: str, out: PathLike, plot: PathLike, root: PathLike = "."
) -> dict[str, Any]:
    """moseq_calibrate@<set_name>: keypoint-moseq's confidence-to-error line fitted on the labelled
    frames of ``moseq.calibration[set_name]``, written to ``out/error_estimator.json`` (the values to
    copy into ``moseq.model.error_estimator``) with the plot ``plot``. See
    :func:`ethoflow.moseq.calibration.calibrate`.

    Args:
        set_name: name of the labelled set in moseq.calibration.
        out: folder for error_estimator.json.
        plot: error vs confidence with the fitted line (PNG).
        root: the project folder that relative paths in ``moseq.calibration`` are read from (default: the working folder).

    Raises:
        ethoflow.core.errors.InputError: unknown set, files without labelled frames, or (deeplabcut)
            labelled videos without their predictions file.
    """
    if set_name not in cfg.calibration:
        raise InputError(f"moseq.calibration has no set {set_name!r} (sets: {sorted(cfg.calibration)})")
    spec = cfg.calibration[set_name]
    key = f"moseq.calibration.{set_name}"
    paths = resolve_paths(spec.paths, root, f"{key}.paths")
    predictions = resolve_paths(spec.predictions, root, f"{key}.predictions") if spec.predictions else None
    return calibrate(
        paths, Path(out) / "error_estimator.json", plot, cfg.model.conf_threshold, spec.format, predictions
    )
