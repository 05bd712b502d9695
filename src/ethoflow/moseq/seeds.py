"""Model selection across seeds (moseq_seeds): fit the final model from several seeds, keep the one
with the highest expected marginal likelihood (EML).

keypoint-moseq's documentation fits many models that differ only in their seed and keeps the one
with the best EML score (``keypoint_moseq.expected_marginal_likelihoods``: the mean, over the other
models, of the marginal log likelihood of their latent trajectories under this model's AR
parameters and transition matrix; Weinreb et al. 2024). Here the seeds are ``moseq.seed``,
``moseq.seed + 1``, ... (``moseq.seeds.n_seeds`` of them), each fitted with
:func:`ethoflow.moseq.fit.fit_seed` at the kappas the searches chose.

Resumable per seed: a finished seed leaves ``<out>/seed-NN/complete.json`` (its fingerprint: the
inputs and params that made it); a rerun fits only the seeds without a matching record. The stage
writes ``<out>/seeds.json`` (EML score and standard error per seed, the chosen seed).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ethoflow.core.errors import InputError
from ethoflow.core.io import read_json, write_json
from ethoflow.core.logging import get_logger
from ethoflow.moseq import io
from ethoflow.moseq.fit import fingerprint, target_frames
from ethoflow.moseq.params import MoseqParams

log = get_logger(__name__)

#: per-seed completion record, inside the seed's model folder.
COMPLETE = "complete.json"
#: the stage's summary (scores, chosen seed).
SUMMARY = "seeds.json"


def seed_name(seed: int) -> str:
    """Model (folder) name of ``seed``: ``seed-NN``."""
    return f"seed-{int(seed):02d}"


@dataclass(frozen=True)
class SeedSelection:
    """One selection across seeds.

    Attributes:
        out: the stage's folder (absolute).
        seeds: the seeds, in order.
        fingerprint: hash of the params and input files every seed's fit depends on.
        base_spec: the keys every :func:`ethoflow.moseq.fit.fit_seed` spec shares.
        window_frames: the target window of the median syllable duration, frames.
        fps: frame rate (Hz) of the model.
        select: the selection rule (``window`` or ``eml``, :func:`choose_seed`).
    """

    out: Path
    seeds: tuple[int, ...]
    fingerprint: str
    base_spec: dict[str, Any]
    window_frames: tuple[float, float] = (0.0, float("inf"))
    fps: float = 30.0
    select: str = "window"

    def spec(self, seed: int) -> dict[str, Any]:
        """The :func:`ethoflow.moseq.fit.fit_seed` spec of ``seed``."""
        record = str(self.out / seed_name(seed) / COMPLETE)
        return {
            **self.base_spec,
            "seed": int(seed),
            "name": seed_name(seed),
            "record": record,
            "fingerprint": self.fingerprint,
        }

    def checkpoint(self, seed: int) -> Path:
        return self.out / seed_name(seed) / "checkpoint.h5"


def new_selection(
    cfg: MoseqParams,
    keypoints: str | os.PathLike,
    pca_dir: str | os.PathLike,
    arhmm_dir: str | os.PathLike,
    full_dir: str | os.PathLike,
    out: str | os.PathLike,
) -> SeedSelection:
    """The selection for these inputs: kappas from the searches' configs (``arhmm_dir/config.yml``,
    ``full_dir/config.yml``), the AR-HMM's ``num_states`` (its config), ``moseq.model.seg_length``,
    iterations ``moseq.arhmm.arhmm_iters`` and ``moseq.full.full_iters``.

    Raises:
        InputError: an input is missing.
    """
    keypoints, pca_dir = Path(keypoints), Path(pca_dir)
    inputs = [keypoints, pca_dir / "pca.p", pca_dir / "config.yml"]
    for f in inputs:
        if not f.exists():
            raise InputError(f"{f} missing: run the earlier moseq stages")
    configs = {k: io.read_kpms_config(d) for k, d in (("arhmm", arhmm_dir), ("full", full_dir))}
    trans = {k: c["trans_hypparams"] for k, c in configs.items()}
    kappas = {k: float(t["kappa"]) for k, t in trans.items()}
    fps = float(configs["full"]["fps"])
    seeds = tuple(cfg.seed + i for i in range(cfg.seeds.n_seeds))
    base = {
        "project_dir": str(Path(out).resolve()),
        "keypoints": str(keypoints.resolve()),
        "pca_dir": str(pca_dir.resolve()),
        "arhmm_kappa": kappas["arhmm"],
        "full_kappa": kappas["full"],
        "num_states": int(trans["arhmm"]["num_states"]),
        "seg_length": cfg.model.seg_length,
        "arhmm_iters": cfg.arhmm.arhmm_iters,
        "full_iters": cfg.full.full_iters,
    }
    fp = fingerprint({k: v for k, v in base.items() if k not in ("project_dir", "keypoints", "pca_dir")}, inputs)
    window = target_frames(cfg.full.target_duration_ms, fps)
    return SeedSelection(Path(out).resolve(), seeds, fp, base, window, fps, cfg.seeds.select)


def pending_seeds(sel: SeedSelection) -> list[int]:
    """Seeds without a completion record for these inputs (their folders, if any, are stale).

    Folders in ``out`` of seeds no longer selected are removed, and so is a stale ``seeds.json``."""
    sel.out.mkdir(parents=True, exist_ok=True)
    wanted = {seed_name(s) for s in sel.seeds}
    for d in sorted(sel.out.iterdir()):
        if d.is_dir() and d.name not in wanted:
            shutil.rmtree(d)
    todo = []
    for s in sel.seeds:
        rec = sel.out / seed_name(s) / COMPLETE
        if not (rec.exists() and read_json(rec).get("fingerprint") == sel.fingerprint):
            todo.append(s)
    if todo and (sel.out / SUMMARY).exists():
        (sel.out / SUMMARY).unlink()
    if len(todo) < len(sel.seeds):
        log.info("moseq_seeds: %d of %d seeds already fitted", len(sel.seeds) - len(todo), len(sel.seeds))
    return todo


def choose(scores: np.ndarray) -> int:
    """Index of the highest EML score (the first on ties).

    Raises:
        InputError: no score, or a score that is not finite.
    """
    scores = np.asarray(scores, dtype=float)
    if scores.size == 0 or not np.isfinite(scores).all():
        raise InputError(f"EML scores must be finite numbers, got {scores.tolist()}")
    return int(np.argmax(scores))


def choose_seed(
    scores: np.ndarray, medians: np.ndarray, window: tuple[float, float], select: str = "window"
) -> tuple[int, str]:
    """Index of the chosen seed and the rule that chose it.

    ``select="window"``: the highest EML score among the seeds whose median syllable duration
    (``medians``, frames) lies inside ``window`` (frames, inclusive), or the highest of all when no
    seed is inside; ``select="eml"``: the highest of all (keypoint-moseq's rule). Ties: the first.

    Returns:
        (index, rule): rule is ``"highest EML among the seeds inside the window"``, ``"highest EML
        (no seed inside the window)"`` or ``"highest EML (select: eml)"``.

    Raises:
        InputError: no score, a score that is not finite, or as many medians as scores missing.
    """
    scores, medians = np.asarray(scores, dtype=float), np.asarray(medians, dtype=float)
    choose(scores)  # validates the scores
    if medians.shape != scores.shape:
        raise InputError(f"{scores.size} EML scores but {medians.size} median durations")
    if select == "eml":
        return choose(scores), "highest EML (select: eml)"
    inside = (medians >= window[0]) & (medians <= window[1])
    if not inside.any():
        return choose(scores), "highest EML (no seed inside the window)"
    return int(np.flatnonzero(inside)[choose(scores[inside])]), "highest EML among the seeds inside the window"


def seed_median_duration(checkpoint: str | os.PathLike) -> float:
    """Median syllable duration (frames) of a seed's model, counted as ``moseq_results`` counts it:
    run lengths of the per-frame syllables of ``keypoint_moseq.extract_results``, every session."""
    import keypoint_moseq as kpms

    from ethoflow.moseq.results import syllable_durations

    model, _, metadata, _ = kpms.load_checkpoint(path=str(checkpoint))
    return float(np.median(syllable_durations(kpms.extract_results(model, metadata, save_results=False))))


def score_and_choose(sel: SeedSelection) -> dict[str, Any]:
    """EML scores of every seed's model (``keypoint_moseq.expected_marginal_likelihoods``), each
    seed's median syllable duration (:func:`seed_median_duration`) and the chosen seed
    (:func:`choose_seed` with ``sel.select``), written to ``out/seeds.json`` and returned::

        {"seeds": [...], "eml": {seed: score}, "eml_sem": {seed: standard error},
         "chosen": {"seed": s, "name": "seed-NN", "checkpoint": "seed-NN/checkpoint.h5"},
         "rule": "highest EML among the seeds inside the window" | ...,
         "median_duration_frames": {seed: frames}, "median_duration_ms": {seed: ms},
         "in_window": {seed: bool}, "target_frames": [low, high], "fingerprint": ...}

    Raises:
        InputError: fewer than two seeds (EML compares models).
    """
    import keypoint_moseq as kpms

    if len(sel.seeds) < 2:
        raise InputError("moseq.seeds.n_seeds must be >= 2: the EML score compares models")
    paths = [str(sel.checkpoint(s)) for s in sel.seeds]
    scores, sems = kpms.expected_marginal_likelihoods(checkpoint_paths=paths)
    scores, sems = np.asarray(scores, dtype=float), np.asarray(sems, dtype=float)
    medians = np.array([seed_median_duration(p) for p in paths])
    index, rule = choose_seed(scores, medians, sel.window_frames, sel.select)
    best = sel.seeds[index]
    lo, hi = sel.window_frames
    summary = {
        "seeds": list(sel.seeds),
        "eml": {str(s): float(v) for s, v in zip(sel.seeds, scores)},
        "eml_sem": {str(s): float(v) for s, v in zip(sel.seeds, sems)},
        "chosen": {"seed": best, "name": seed_name(best), "checkpoint": f"{seed_name(best)}/checkpoint.h5"},
        "rule": rule,
        "median_duration_frames": {str(s): float(m) for s, m in zip(sel.seeds, medians)},
        "median_duration_ms": {str(s): round(float(m) * 1000.0 / sel.fps, 3) for s, m in zip(sel.seeds, medians)},
        "in_window": {str(s): bool(lo <= m <= hi) for s, m in zip(sel.seeds, medians)},
        "target_frames": [lo, hi],
        "fingerprint": sel.fingerprint,
    }
    write_json(sel.out / SUMMARY, summary)
    log.info(
        "moseq_seeds: EML %s; chosen seed %d (%s)",
        ", ".join(
            f"seed {s} {v:.4g} ({summary['median_duration_ms'][str(s)]:.0f} ms)" for s, v in zip(sel.seeds, scores)
        ),
        best,
        rule,
    )
    if rule.startswith("highest EML (no seed"):
        log.warning(
            "moseq_seeds: no seed's median syllable duration is inside the target window (%s ms); "
            "the highest EML is kept and moseq_results will report status drifted",
            ", ".join(f"seed {s}: {summary['median_duration_ms'][str(s)]:.1f}" for s in sel.seeds),
        )
    return summary


def chosen_checkpoint(seeds_dir: str | os.PathLike) -> tuple[Path, str]:
    """(project folder, model name) of the chosen seed's model, from ``seeds_dir/seeds.json``.

    Raises:
        InputError: ``seeds.json`` missing (run moseq_seeds).
    """
    path = Path(seeds_dir) / SUMMARY
    if not path.exists():
        raise InputError(f"{path} missing: run moseq_seeds first")
    return Path(seeds_dir), read_json(path)["chosen"]["name"]


def seed_figures(
    sel: SeedSelection, summary: dict[str, Any], eml_png: str | os.PathLike, confusion_png: str | os.PathLike
) -> None:
    """``plot_eml_scores`` (EML score +- standard error per seed) and ``plot_confusion_matrix`` of
    the chosen seed's syllables against the runner-up's (same frames; rows normalised), both from
    keypoint-moseq, saved with :func:`ethoflow.core.io.save_figure` (100 dpi)."""
    import keypoint_moseq as kpms

    from ethoflow.core.io import save_figure

    seeds = list(sel.seeds)
    scores = np.array([summary["eml"][str(s)] for s in seeds])
    sems = np.array([summary["eml_sem"][str(s)] for s in seeds])
    fig, _ = kpms.plot_eml_scores(scores, sems, [seed_name(s) for s in seeds])
    save_figure(fig, eml_png, dpi=100)
    order = sorted(seeds, key=lambda s: (-summary["eml"][str(s)], s))
    results = []
    for s in order[:2]:
        model, _, metadata, _ = kpms.load_checkpoint(path=str(sel.checkpoint(s)))
        res = kpms.extract_results(model, metadata, save_results=False)
        results.append({k: res[k] for k in sorted(res)})
    fig, ax = kpms.plot_confusion_matrix(results[0], results[1])
    ax.set_xlabel(f"{seed_name(order[1])} (runner-up)")
    ax.set_ylabel(f"{seed_name(order[0])} (chosen)")
    save_figure(fig, confusion_png, dpi=100)
