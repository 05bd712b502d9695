"""moseq_results: reindexed final model, per-frame syllables, summary metrics and figures."""

from __future__ import annotations

import math
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ethoflow.core.errors import InputError
from ethoflow.core.io import read_json, write_json, write_metrics
from ethoflow.core.logging import get_logger
from ethoflow.moseq import io, jaxcache, plots, validation
from ethoflow.moseq.durations import duration_stats, syllable_durations
from ethoflow.moseq.inputs import MoseqInputs
from ethoflow.moseq.kappa import STATE_FILE, read_state
from ethoflow.moseq.params import MoseqParams
from ethoflow.moseq.search import SearchState
from ethoflow.moseq.validation import check_skeleton, grid_movies

if TYPE_CHECKING:
    import pandas as pd

log = get_logger(__name__)

MODEL_NAME = "model"


def results_status(summary: dict[str, Any], window_ms: tuple[float, float]) -> tuple[str, str]:
    """The headline status of the model the results come from (the chosen seed's refit, else the
    full model's final fit) and its message, from ``summary`` (``median_duration_ms``, ``search``
    outcomes, ``seeds``):

    - ``found``: its median syllable duration is inside ``window_ms``;
    - ``at_bound``: inside, but a search chose a kappa on a range bound (widen ``kappa_log10_range``);
    - ``drifted``: outside, while the full-model search reached the window (status ``found``,
      ``at_bound`` or ``drifted``); the message names the searched model's and this model's medians;
    - else the full-model search's status (``unreachable``, ``max_trials``): the target was not reached.
    """
    lo, hi = window_ms
    median = float(summary["median_duration_ms"])
    search = summary.get("search", {})
    full = search.get("full", {})
    which = f"seed {summary['seeds']['chosen']['seed']}" if "seeds" in summary else "the full model's final fit"
    rule = f", chosen by {summary['seeds']['rule']}" if "seeds" in summary and "rule" in summary["seeds"] else ""
    if lo <= median <= hi:
        bounds = [k for k, o in search.items() if o.get("status") == "at_bound" or "at_bound" in o]
        if bounds:
            return "at_bound", (
                f"the results model ({which}) has a median syllable duration of {median:.1f} ms, inside "
                f"{lo:g}-{hi:g} ms, but the {', '.join(bounds)} kappa is a bound of its range: widen kappa_log10_range"
            )
        loop = summary.get("seeds", {}).get("loop", {})
        corrected = (
            f" after {loop['corrections']} kappa correction(s) of the final fit" if loop.get("corrections") else ""
        )
        return (
            "found",
            f"the results model ({which}{rule}) has a median syllable duration of {median:.1f} ms, inside "
            f"{lo:g}-{hi:g} ms{corrected}",
        )
    if full.get("status", "found") in ("found", "at_bound", "drifted"):
        searched = full.get("final_median_ms")
        searched_txt = f"{searched:.1f} ms" if searched is not None else "inside the window"
        return "drifted", (
            f"drifted: the full-model search's final model had a median syllable duration of {searched_txt}, "
            f"the results model ({which}{rule}) has {median:.1f} ms, outside {lo:g}-{hi:g} ms; raise "
            f"arhmm_iters/full_iters, n_seeds or seeds.max_final_fits, or adjust the target"
        )
    return str(full["status"]), (
        f"{full['status']}: the search did not reach {lo:g}-{hi:g} ms; the results model ({which}) has "
        f"a median syllable duration of {median:.1f} ms"
    )


def search_outcome(state: SearchState, fps: float) -> dict[str, Any]:
    """One search's outcome for ``summary.json`` from its state (:func:`ethoflow.moseq.kappa.read_state`):
    fits, method, status (of the final model, see :func:`ethoflow.moseq.search.final_outcome`),
    message, the chosen trial's and the final model's median duration (ms), the range bound when the
    kappa sits on one."""
    extra = state.extra

    def ms(frames: Any) -> float | None:
        return None if frames is None else round(float(frames) * 1000.0 / fps, 3)

    out = {
        "fits": len(state.trials),
        "status": state.status,
        "method": state.method,
        "search_status": extra.get("search_status", state.status),
        "message": state.message,
        "trial_median_ms": ms(extra.get("trial_duration")),
        "final_median_ms": ms(extra.get("final_duration")),
        "final_in_window": state.status in ("found", "at_bound"),
    }
    if "at_bound" in extra:
        out["at_bound"] = extra["at_bound"]
    return out


def syllables_covering(freq: np.ndarray, fraction: float = 0.9) -> int:
    """Fewest syllables whose frame fractions (sorted descending) sum to at least ``fraction``."""
    f = np.sort(np.asarray(freq, dtype=float))[::-1]
    if f.sum() <= 0:
        return 0
    cum = np.cumsum(f) / f.sum()
    return int(np.searchsorted(cum, fraction - 1e-12) + 1)


@dataclass(frozen=True)
class ResultsOutputs:
    """Where ``moseq_results`` writes.

    Attributes:
        out: the results folder (reindexed model, per-frame syllables as HDF5 and CSV, ``config.yml``).
        summary: the summary JSON.
        plots: the figures folder (emptied first).
        metrics: the headline metrics JSON (``None``: not written).
        grid_movies: the grid movies folder (``None``: no grid movies).
    """

    out: Path
    summary: Path
    plots: Path
    metrics: Path | None = None
    grid_movies: Path | None = None


def results(
    cfg: MoseqParams, inputs: MoseqInputs, outputs: ResultsOutputs, root: str | os.PathLike = "."
) -> dict[str, Any]:
    """Reindex syllables by frequency (``reindex_syllables_in_checkpoint``), ``extract_results``
    with ``model_name``, ``save_results_as_csv``, a compact checkpoint (final snapshot only),
    ``summary.json`` and figures (syllable frequency ranked by frame count, duration histogram, kappa
    search trajectory and, with ``inputs.keypoints``, the similarity dendrogram and the trajectory plot
    of kpms, :func:`ethoflow.moseq.validation.trajectory_figure`); the duration figure is kpms'
    ``plot_duration_distribution`` with the target window shaded.

    With ``outputs.grid_movies``: one grid movie per syllable (:func:`ethoflow.moseq.validation.grid_movies`)
    from the videos in ``moseq.results.grid_movies.video_paths`` and the keypoints in ``inputs.keypoints``
    (the cleaned keypoints pickle), listed in ``grid_movies/grid_movies.json`` (which says so when
    no video is given).

    The model is the chosen seed's of ``inputs.seeds_dir`` (moseq_seeds' ``seeds.json``; its EML scores
    go into the summary and the headline metrics) or, when ``seeds_dir`` is ``None``,
    ``inputs.full_dir``'s final model. ``inputs.pca_summary`` gives the latent dimension and variance.

    Returns:
        The summary dict (kappa per stage, median duration in frames and ms, syllables covering 90%
        of frames, total syllables used, latent_dim, variance explained, fits per search).

    Raises:
        InputError: the chosen model's checkpoint or another input is missing.
    """
    jaxcache.enable()
    model_dir, model_name, seeds_summary = _chosen_model(inputs)
    model, res, it = export_model(model_dir, model_name, inputs.full_dir, Path(outputs.out))
    config = io.read_kpms_config(outputs.out)
    counts = syllable_counts(res, int(np.asarray(model["params"]["pi"]).shape[0]))
    states = {k: read_state(d / STATE_FILE) for k, d in (("arhmm", inputs.arhmm_dir), ("full", inputs.full_dir))}
    syllables = ModelSyllables(res, counts, states, config)
    summary = build_summary(cfg, syllables, read_json(inputs.need("pca_summary")), int(it))
    if seeds_summary is not None:
        summary["seeds"] = {k: seeds_summary[k] for k in SEEDS_SUMMARY_KEYS if k in seeds_summary}
    _judge(summary, cfg.full.target_duration_ms)
    write_json(outputs.summary, summary)
    if outputs.metrics is not None:
        write_metrics(outputs.metrics, headline_metrics(summary))
    results_figures(cfg, syllables, outputs.plots, inputs.keypoints)
    if outputs.grid_movies is not None:
        write_grid_movies(cfg, res, config, inputs.keypoints, outputs.grid_movies, root)
    log.info(
        "results: %d syllables (%d cover 90%% of frames), median duration %.1f ms",
        summary["total_syllables"],
        summary["syllables_90pct_frames"],
        summary["median_duration_ms"],
    )
    return summary


#: the keys of moseq_seeds' ``seeds.json`` copied into the summary's ``seeds``.
SEEDS_SUMMARY_KEYS = (
    "seeds",
    "eml",
    "eml_sem",
    "chosen",
    "rule",
    "median_duration_ms",
    "in_window",
    "spread_ms",
    "kappa",
    "loop",
)


def _chosen_model(inputs: MoseqInputs) -> tuple[Path, str, dict[str, Any] | None]:
    """(folder, model name, seeds summary) of the model the results come from: the chosen seed's of
    ``inputs.seeds_dir``, else ``inputs.full_dir``'s final model (no seeds summary).

    Raises:
        InputError: its checkpoint is missing.
    """
    seeds_summary = None
    if inputs.seeds_dir is not None:
        # local: imported only on the branch that needs it
        from ethoflow.moseq.seeds import SUMMARY, chosen_checkpoint

        model_dir, model_name = chosen_checkpoint(inputs.seeds_dir)
        seeds_summary = read_json(Path(inputs.seeds_dir) / SUMMARY)
    else:
        model_dir, model_name = Path(inputs.full_dir), "full"
    src = model_dir / model_name / "checkpoint.h5"
    if not src.exists():
        raise InputError(f"{src} missing: run {'moseq_seeds' if inputs.seeds_dir is not None else 'moseq_full'} first")
    return model_dir, model_name, seeds_summary


def export_model(model_dir: Path, model_name: str, full_dir: Path, out: Path) -> tuple[dict, dict[str, dict], int]:
    """``out`` emptied, then: ``full_dir``'s ``config.yml``, the final snapshot of ``model_dir/model_name``
    as ``out/model/checkpoint.h5`` with its syllables reindexed by frequency, the per-frame results
    (``results.h5`` with sessions sorted, and kpms' CSVs).

    Returns:
        (reindexed model, results {session: {"syllable", ...}} in sorted session order, iteration).
    """
    # local: keypoint_moseq is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    import keypoint_moseq as kpms
    from keypoint_moseq.io import save_hdf5

    if out.exists():
        shutil.rmtree(out)
    (out / MODEL_NAME).mkdir(parents=True)
    shutil.copy2(Path(full_dir) / "config.yml", out / "config.yml")
    model, data, metadata, it = kpms.load_checkpoint(str(model_dir), model_name)
    ckpt = out / MODEL_NAME / "checkpoint.h5"
    # the final snapshot only: the search's and the fit's intermediate snapshots stay behind
    save_hdf5(str(ckpt), {"model_snapshots": {str(int(it)): model}, "metadata": metadata, "data": data})
    kpms.reindex_syllables_in_checkpoint(str(out), MODEL_NAME)
    model, data, metadata, it = kpms.load_checkpoint(str(out), MODEL_NAME)
    res = kpms.extract_results(model, metadata, str(out), MODEL_NAME, save_results=False)
    # kpms orders recordings by a set (hash-randomised per process): sort them so results.h5 has the
    # same bytes from the same inputs (written with kpms' own writer, as extract_results would)
    res = {name: res[name] for name in sorted(res)}
    save_hdf5(str(out / MODEL_NAME / "results.h5"), res)
    kpms.save_results_as_csv(res, str(out), MODEL_NAME)
    return model, res, it


def syllable_counts(res: dict[str, dict], num_states: int) -> np.ndarray:
    """Frames per syllable (``num_states``,), over the sessions of ``res`` in sorted order."""
    counts = np.zeros(num_states)
    for name in sorted(res):
        counts += np.bincount(np.asarray(res[name]["syllable"]), minlength=num_states)[:num_states]
    return counts


@dataclass(frozen=True)
class ModelSyllables:
    """The results model's syllables and where they came from (what the summary and figures read).

    Attributes:
        res: kpms results {session: {"syllable": (T,) int, ...}}, sessions sorted.
        counts: frames per syllable, (num_states,).
        states: the kappa search states {``"arhmm"``, ``"full"``: state}.
        config: the model's kpms config (``fps``, ``bodyparts``, ...).
    """

    res: dict[str, dict]
    counts: np.ndarray
    states: dict[str, SearchState]
    config: dict[str, Any]

    @property
    def fps(self) -> float:
        """Frame rate (Hz) of the config."""
        return float(self.config["fps"])


def build_summary(cfg: MoseqParams, syllables: ModelSyllables, pca: dict[str, Any], iterations: int) -> dict[str, Any]:
    """The summary of the results model (before the seeds and the status are added): kappa and
    search outcome per search, median syllable duration (frames, ms), duration distribution, target,
    syllables covering 90% of frames, syllables used, PCA latent dim and variance (``pca``: moseq_pca's
    summary), fps, iterations, sessions."""
    res, counts, states, fps = syllables.res, syllables.counts, syllables.states, syllables.fps
    dur = syllable_durations(res)
    freq = counts / counts.sum()
    median_frames = float(np.median(dur))
    return {
        "kappa": {k: float(s.extra["kappa"]) for k, s in states.items()},
        "search": {k: search_outcome(s, fps) for k, s in states.items()},
        "median_duration_frames": median_frames,
        "median_duration_ms": round(median_frames * 1000.0 / fps, 3),
        "duration_ms": duration_stats(dur, fps),
        "target_duration_ms": list(cfg.full.target_duration_ms),
        "syllables_90pct_frames": syllables_covering(freq, 0.9),
        "total_syllables": int((counts > 0).sum()),
        "latent_dim": int(pca["latent_dim"]),
        "variance_explained": float(pca["variance_explained"]),
        "fps": fps,
        "iterations": iterations,
        "sessions": len(res),
    }


def _judge(summary: dict[str, Any], window_ms: tuple[float, float]) -> None:
    """Add ``results_in_window``, ``status`` and ``message`` (:func:`results_status`) to ``summary``; log them."""
    lo, hi = window_ms
    summary["results_in_window"] = bool(lo <= summary["median_duration_ms"] <= hi)
    summary["status"], summary["message"] = results_status(summary, (lo, hi))
    if summary["status"] == "found":
        log.info("results: %s", summary["message"])
    else:
        log.warning("results: %s", summary["message"])


def results_figures(
    cfg: MoseqParams, syllables: ModelSyllables, plots_dir: str | os.PathLike, keypoints: str | os.PathLike | None
) -> None:
    """``plots_dir`` emptied, then: the kappa search table (CSV) and trajectory, syllable frequency,
    duration histogram and, with ``keypoints``, the similarity dendrogram and trajectory plot."""
    res, counts, states, config, fps = (
        syllables.res,
        syllables.counts,
        syllables.states,
        syllables.config,
        syllables.fps,
    )
    plots_dir = Path(plots_dir)
    if plots_dir.exists():
        shutil.rmtree(plots_dir)
    plots_dir.mkdir(parents=True)
    kappa_search_table(states, fps).to_csv(
        plots_dir / "kappa_search.csv", index=False, float_format="%.6f", lineterminator="\n"
    )
    plots.syllable_frequency_plot(counts, plots_dir / "syllable_frequency.png")
    validation.duration_figure(res, fps, cfg.full.target_duration_ms, plots_dir / "duration_histogram.png")
    plots.search_trajectory_plot(
        {"AR-HMM": states["arhmm"], "full": states["full"]}, fps, plots_dir / "kappa_search.png"
    )
    if keypoints is not None:
        coords, _, _ = io.load_keypoints_pickle(keypoints)
        validation.similarity_dendrogram(res, coords, config, plots_dir / "similarity_dendrogram.png")
        validation.trajectory_figure(res, coords, config, cfg.skeleton, plots_dir / "trajectories.png", seed=cfg.seed)


def write_grid_movies(
    cfg: MoseqParams,
    res: dict[str, dict],
    config: dict[str, Any],
    keypoints: str | os.PathLike | None,
    out_dir: str | os.PathLike,
    root: str | os.PathLike = ".",
) -> list[str]:
    """Grid movies for ``res`` into ``out_dir`` when ``moseq.results.grid_movies.video_paths`` names
    videos (paths relative to ``root``), and ``out_dir/grid_movies.json`` listing them (an empty list
    and the reason otherwise). Returns the movie file names.

    Raises:
        InputError: videos given but no ``keypoints`` pickle, or a session without a video.
    """
    gm = cfg.results.grid_movies
    out = Path(out_dir)
    if not gm.video_paths:
        if out.exists():
            shutil.rmtree(out)
        out.mkdir(parents=True)
        write_json(out / "grid_movies.json", {"movies": [], "note": "no moseq.results.grid_movies.video_paths"})
        return []
    skeleton = check_skeleton(cfg.skeleton, config["bodyparts"])
    if keypoints is None:
        raise InputError("grid movies need the keypoints pickle (moseq_results --keypoints)")
    coords, _, _ = io.load_keypoints_pickle(keypoints)
    videos = {k: v if os.path.isabs(v) else os.path.join(root, v) for k, v in gm.video_paths.items()}
    movies = grid_movies(
        res,
        {k: coords[k] for k in res},
        config,
        videos,
        out,
        layout=gm,
        skeleton=skeleton,
        seed=cfg.seed,
    )
    names = [m.name for m in movies]
    write_json(out / "grid_movies.json", {"movies": names, "video_paths": gm.video_paths})
    return names


def headline_metrics(summary: dict[str, Any]) -> dict[str, Any]:
    """The numbers a reviewer compares (``metrics/moseq.json``): log10 kappa of the AR-HMM and full model,
    syllable duration quartiles (ms) and fraction of 1-frame syllables, syllables in use and how many
    cover 90% of frames, and per model ``in_window``: 1 when the final model's median duration is
    inside the target window (status ``found`` or ``at_bound``), else 0 (the status strings are in
    ``summary.json``), and ``in_window.results``: 1 when the model the results come from (the chosen
    seed's refit) is inside the window too, i.e. the headline ``status`` of ``summary.json`` is ``found``
    or ``at_bound`` (:func:`results_status`); with model selection across seeds, ``seed`` (the chosen
    one) and ``eml`` ({seed: EML score})."""
    dist = summary.get("duration_ms", {})
    out = {
        "log10_kappa": {k: round(math.log10(v), 4) for k, v in summary["kappa"].items()},
        "median_ms": summary["median_duration_ms"],
        "q25_ms": dist.get("q25_ms"),
        "q75_ms": dist.get("q75_ms"),
        "one_frame_fraction": dist.get("one_frame_fraction"),
        "in_window": {k: int(bool(s.get("final_in_window"))) for k, s in summary.get("search", {}).items()}
        | ({"results": int(summary["results_in_window"])} if "results_in_window" in summary else {}),
        "syllables": summary["total_syllables"],
        "syllables_90pct": summary["syllables_90pct_frames"],
    }
    if "seeds" in summary:  # model selection across seeds: the chosen seed and every seed's EML score
        out["seed"] = int(summary["seeds"]["chosen"]["seed"])
        out["eml"] = {str(k): float(v) for k, v in summary["seeds"]["eml"].items()}
        if "loop" in summary["seeds"]:  # final fits the closed loop needed (1: none corrected)
            out["final_fits"] = int(summary["seeds"]["loop"]["final_fits"])
        if "kappa" in summary["seeds"]:  # the kappas of the model the results come from
            out["log10_kappa_final"] = {k: round(math.log10(v), 4) for k, v in summary["seeds"]["kappa"].items()}
    return {k: v for k, v in out.items() if v is not None and v != {}}


def kappa_search_table(states: dict[str, SearchState], fps: float) -> pd.DataFrame:
    """Every kappa-search trial in long format for a DVC plot (``series`` = ``arhmm`` / ``full``):
    trial index, log10 kappa and the median syllable duration in ms (trials still pending are left out)."""
    # local: keeps ethoflow.moseq.results importable without pandas
    import pandas as pd

    rows = [
        {
            "series": k,
            "trial": t.index,
            "log10_kappa": t.log10_kappa,
            "median_ms": t.duration * 1000.0 / fps,
        }
        for k, st in states.items()
        for t in st.trials
        if t.duration is not None
    ]
    return pd.DataFrame(rows, columns=["series", "trial", "log10_kappa", "median_ms"])
