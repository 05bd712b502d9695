"""Model selection across seeds (moseq_seeds): fit the final model from several seeds, keep the one
with the highest expected marginal likelihood (EML).

keypoint-moseq's documentation fits many models that differ only in their seed and keeps the one
with the best EML score (``keypoint_moseq.expected_marginal_likelihoods``: the mean, over the other
models, of the marginal log likelihood of their latent trajectories under this model's AR
parameters and transition matrix; Weinreb et al. 2024). Here the seeds are ``moseq.seed``,
``moseq.seed + 1``, ... (``moseq.seeds.n_seeds`` of them), each fitted with
:func:`ethoflow.moseq.fit.fit_seed` at the kappas the searches chose.

Closed loop (:func:`closed_loop`): the final model is a measurement too. The searches measure
trials at trial length and one seed; the final model runs longer and from other seeds, so its median
syllable duration can land outside ``moseq.full.target_duration_ms``. When no seed of a final fit is
inside, both kappas move by the decades a duration-vs-kappa line says separate the seeds' median
from the window's centre (:mod:`ethoflow.moseq.correction`): for the first correction the full-model
search's line (:func:`ethoflow.moseq.search.duration_slope`), from the second on the final fits' own
slope (the search's when theirs is unusable), and every seed is refitted, within
``moseq.seeds.max_final_fits`` final fits. The loop's status: ``found`` (a seed inside in the first final fit), ``corrected`` (inside
after N corrections), ``drifted`` (none inside after the budget). Durations are measured on each
seed's per-frame syllables as ``moseq_results`` reports them (:func:`seed_median_duration`); the
measure keypoint-moseq's kappa scan plots (``plot_kappa_scan``: ``np.median(get_durations(z, mask))``
of the final snapshot) is recorded beside it.

Resumable per seed: a finished seed leaves ``<out>/seed-NN/complete.json`` (corrected fits:
``seed-NN-fitK``; its fingerprint: the inputs, kappas and params that made it); a rerun fits only the
seeds without a matching record, and a correction's kappas follow from the recorded medians, so a
killed loop resumes where it stopped. The stage writes ``<out>/seeds.json`` (EML score and standard
error per seed, the chosen seed, the loop's fits and status); its figures (EML scores, the chosen seed's
syllables against the runner-up's) are :func:`ethoflow.moseq.plots.seed_figures`.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ethoflow.core.errors import InputError
from ethoflow.core.io import read_json, write_json
from ethoflow.core.logging import get_logger
from ethoflow.moseq import correction, io, search
from ethoflow.moseq.durations import syllable_durations
from ethoflow.moseq.fit import fingerprint, target_frames
from ethoflow.moseq.inputs import MoseqInputs
from ethoflow.moseq.kappa import read_state
from ethoflow.moseq.params import MoseqParams

log = get_logger(__name__)

#: per-seed completion record, inside the seed's model folder.
COMPLETE = "complete.json"
#: the stage's summary (scores, chosen seed).
SUMMARY = "seeds.json"


def seed_name(seed: int, fit: int = 1) -> str:
    """Model (folder) name of ``seed`` in final fit ``fit`` (1: the first): ``seed-NN``, ``seed-NN-fitK``."""
    return f"seed-{int(seed):02d}" if fit <= 1 else f"seed-{int(seed):02d}-fit{int(fit)}"


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
        fit: which final fit this is (1: at the searched kappas; 2, ...: corrections).
        max_final_fits: the loop's budget of final fits (``moseq.seeds.max_final_fits``).
        slope: the full-model search's duration-vs-kappa slope (ln frames per decade).
        base_fingerprint: the first fit's fingerprint (corrections hash their kappas onto it).
    """

    out: Path
    seeds: tuple[int, ...]
    fingerprint: str
    base_spec: dict[str, Any]
    window_frames: tuple[float, float] = (0.0, float("inf"))
    fps: float = 30.0
    select: str = "window"
    fit: int = 1
    max_final_fits: int = 1
    slope: float = search.PRIOR_SLOPE
    base_fingerprint: str = ""

    def name(self, seed: int) -> str:
        return seed_name(seed, self.fit)

    def spec(self, seed: int) -> dict[str, Any]:
        """The :func:`ethoflow.moseq.fit.fit_seed` spec of ``seed``."""
        record = str(self.out / self.name(seed) / COMPLETE)
        return {
            **self.base_spec,
            "seed": int(seed),
            "name": self.name(seed),
            "record": record,
            "fingerprint": self.fingerprint,
        }

    def checkpoint(self, seed: int) -> Path:
        return self.out / self.name(seed) / "checkpoint.h5"

    @property
    def kappas(self) -> dict[str, float]:
        return {"arhmm": float(self.base_spec["arhmm_kappa"]), "full": float(self.base_spec["full_kappa"])}

    def refit(self, fit: int, arhmm_kappa: float, full_kappa: float) -> SeedSelection:
        """This selection as final fit ``fit`` at other kappas (its own folders and fingerprint)."""
        base = {**self.base_spec, "arhmm_kappa": float(arhmm_kappa), "full_kappa": float(full_kappa)}
        key = json.dumps([self.base_fingerprint, int(fit), base["arhmm_kappa"], base["full_kappa"]])
        return replace(self, base_spec=base, fit=int(fit), fingerprint=hashlib.sha256(key.encode()).hexdigest()[:16])


def new_selection(cfg: MoseqParams, inputs: MoseqInputs, out: str | os.PathLike) -> SeedSelection:
    """The selection for these inputs (``inputs.keypoints`` and ``inputs.pca_dir`` the model's data):
    kappas from the searches' configs (``arhmm_dir/config.yml``, ``full_dir/config.yml``), the AR-HMM's
    ``num_states`` (its config), ``moseq.model.seg_length``, iterations ``moseq.arhmm.arhmm_iters`` and
    ``moseq.full.full_iters``; the duration-vs-kappa slope of the full-model search
    (``full_dir/search_state.json``; without it the search's prior slope). Seed fits go to ``out``.

    Raises:
        InputError: an input is missing.
    """
    keypoints, pca_dir = inputs.need("keypoints"), inputs.need("pca_dir")
    arhmm_dir, full_dir = inputs.arhmm_dir, inputs.full_dir
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
    state_file = Path(full_dir) / "search_state.json"
    slope = search.duration_slope(read_state(state_file)) if state_file.exists() else search.PRIOR_SLOPE
    return SeedSelection(
        Path(out).resolve(),
        seeds,
        fp,
        base,
        window,
        fps,
        cfg.seeds.select,
        fit=1,
        max_final_fits=cfg.seeds.max_final_fits,
        slope=float(slope),
        base_fingerprint=fp,
    )


def pending_seeds(sel: SeedSelection) -> list[int]:
    """Seeds without a completion record for these inputs (their folders, if any, are stale).

    Folders in ``out`` of seeds (or final fits) no longer selected are removed, and so is a stale
    ``seeds.json``."""
    sel.out.mkdir(parents=True, exist_ok=True)
    wanted = {seed_name(s, k) for s in sel.seeds for k in range(1, max(sel.max_final_fits, sel.fit) + 1)}
    for d in sorted(sel.out.iterdir()):
        if d.is_dir() and d.name not in wanted:
            shutil.rmtree(d)
    todo = []
    for s in sel.seeds:
        rec = sel.out / sel.name(s) / COMPLETE
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
    # local: keypoint_moseq is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    import keypoint_moseq as kpms

    model, _, metadata, _ = kpms.load_checkpoint(path=str(checkpoint))
    return float(np.median(syllable_durations(kpms.extract_results(model, metadata, save_results=False))))


def _record_median(sel: SeedSelection, seed: int) -> float | None:
    rec = sel.out / sel.name(seed) / COMPLETE
    value = read_json(rec).get("median_duration") if rec.exists() else None
    return None if value is None else float(value)


def closed_loop(
    sel: SeedSelection, fit_seeds: Callable[[SeedSelection, list[int]], None]
) -> tuple[SeedSelection, dict[str, Any]]:
    """Fit the final model from every seed until a seed's median syllable duration lands inside the
    window, within ``sel.max_final_fits`` final fits; score and choose (:func:`score_and_choose`).

    ``fit_seeds(selection, seeds)`` fits the given seeds of a final fit (each writes its completion
    record); seeds already fitted for these inputs and kappas are not passed (:func:`pending_seeds`).
    After a fit with no seed inside, both kappas move by the same decades, to
    :func:`~ethoflow.moseq.correction.corrected_log10_kappa` of the full-model kappa (the AR-HMM
    kappa keeps its distance from it in decades), along the slope
    :func:`~ethoflow.moseq.correction.correction_slope` picks.

    Returns:
        (the selection of the last fit, the summary written to ``out/seeds.json``, with ``loop``:
        ``status`` (``found`` | ``corrected`` | ``drifted``), ``message``, ``final_fits``,
        ``corrections``, ``budget``, ``slope`` (the full-model search's) and per fit its kappas, the
        median duration per seed (ms; ``kpms_median_duration_ms``: keypoint-moseq's kappa-scan
        measure), their spread and ``correction`` (None for the first fit; else the slope it moved
        along: ``source`` ``search`` | ``final_fits``, ``slope``, ``final_fits_slope``, ``fallback``,
        ``shift_decades``)).
    """
    fits: list[dict[str, Any]] = []
    points: list[tuple[float, float]] = []
    current, record = sel, None
    for k in range(1, sel.max_final_fits + 1):
        if k > 1:
            current, record = _corrected(sel, k, points)
        todo = pending_seeds(current)
        if todo:
            log.info("moseq_seeds: final fit %d: fitting seeds %s (%d of %d)", k, todo, len(todo), len(sel.seeds))
            fit_seeds(current, todo)
        medians = np.array([seed_median_duration(current.checkpoint(s)) for s in sel.seeds])
        fits.append({**_fit_entry(sel, current, k, medians), "correction": record})
        points.append((math.log10(current.kappas["full"]), float(np.median(medians))))
        if fits[-1]["seeds_in_window"]:
            break
    loop = _loop_outcome(sel, fits)
    return current, score_and_choose(current, medians, loop)


def _corrected(sel: SeedSelection, k: int, points: list[tuple[float, float]]) -> tuple[SeedSelection, dict[str, Any]]:
    """Final fit ``k`` of ``sel`` and its correction record: both kappas moved by the decades that take
    the full-model kappa to :func:`~ethoflow.moseq.correction.corrected_log10_kappa` of the fits so far
    (``points``: (log10 full kappa, median frames)), along the slope
    :func:`~ethoflow.moseq.correction.correction_slope` picks (the search's, or the final fits' own)."""
    used = correction.correction_slope(points, sel.window_frames, sel.slope)
    x = correction.corrected_log10_kappa(points, sel.window_frames, used["slope"])
    shift = x - math.log10(sel.kappas["full"])
    current = sel.refit(k, sel.kappas["arhmm"] * 10.0**shift, sel.kappas["full"] * 10.0**shift)
    log.info(
        "moseq_seeds: final fit %d of %d: no seed inside the window, kappas moved by %+.2f decades "
        "(arhmm %.4g, full %.4g; %s slope %.3f ln/decade%s)",
        k,
        sel.max_final_fits,
        shift,
        current.kappas["arhmm"],
        current.kappas["full"],
        used["source"].replace("_", " "),
        used["slope"],
        f"; final fits' slope not used: {used['fallback']}" if used["fallback"] and k > 2 else "",
    )
    record = {**used, "slope": round(used["slope"], 6), "shift_decades": round(shift, 4)}
    return current, record


def _fit_entry(sel: SeedSelection, current: SeedSelection, k: int, medians: np.ndarray) -> dict[str, Any]:
    """One final fit's entry of ``loop.fits``: its kappas, every seed's median duration (ms, ours from
    ``medians`` in frames and kpms' from the completion records), their spread, seeds inside the window."""
    lo, hi = sel.window_frames
    kpms_medians = [_record_median(current, s) for s in sel.seeds]
    ms = medians * 1000.0 / sel.fps
    return {
        "fit": k,
        "kappa": current.kappas,
        "log10_kappa": {m: round(math.log10(v), 4) for m, v in current.kappas.items()},
        "median_duration_ms": {str(s): round(float(v), 3) for s, v in zip(sel.seeds, ms)},
        "kpms_median_duration_ms": {
            str(s): None if v is None else round(v * 1000.0 / sel.fps, 3) for s, v in zip(sel.seeds, kpms_medians)
        },
        "spread_ms": {
            "min": round(float(ms.min()), 3),
            "median": round(float(np.median(ms)), 3),
            "max": round(float(ms.max()), 3),
        },
        "seeds_in_window": int(((medians >= lo) & (medians <= hi)).sum()),
    }


def _loop_outcome(sel: SeedSelection, fits: list[dict[str, Any]]) -> dict[str, Any]:
    """The loop's summary (``seeds.json``'s ``loop``) from its final fits, logged: ``found`` (a seed
    inside at the first fit), ``corrected`` (after corrections) or ``drifted`` (budget spent)."""
    lo, hi = sel.window_frames
    n = len(fits)
    inside = fits[-1]["seeds_in_window"] > 0
    lo_ms, hi_ms = (round(v * 1000.0 / sel.fps, 3) for v in (lo, hi))
    if inside and n == 1:
        status, message = "found", "a seed's median syllable duration is inside the window in the first final fit"
    elif inside:
        status, message = (
            "corrected",
            f"a seed's median syllable duration is inside the window after {n - 1} correction(s)",
        )
    else:
        status = "drifted"
        message = f"no seed's median syllable duration is inside the window after {n} final fit(s) (the budget)"
    message += (
        f" ({lo_ms:g}-{hi_ms:g} ms; seeds' medians " + ", ".join(f"{v['spread_ms']['median']:g}" for v in fits) + " ms)"
    )
    loop = {
        "status": status,
        "message": message,
        "final_fits": n,
        "corrections": n - 1,
        "budget": sel.max_final_fits,
        "slope": round(sel.slope, 6),
        "fits": fits,
    }
    (log.info if inside else log.warning)("moseq_seeds: %s: %s", status, message)
    return loop


def score_and_choose(
    sel: SeedSelection, medians: np.ndarray | None = None, loop: dict[str, Any] | None = None
) -> dict[str, Any]:
    """EML scores of every seed's model (``keypoint_moseq.expected_marginal_likelihoods``), each
    seed's median syllable duration (``medians``, frames; :func:`seed_median_duration` when
    ``None``) and the chosen seed (:func:`choose_seed` with ``sel.select``), written to
    ``out/seeds.json`` and returned::

        {"seeds": [...], "eml": {seed: score}, "eml_sem": {seed: standard error},
         "chosen": {"seed": s, "name": "seed-NN[-fitK]", "checkpoint": "seed-NN[-fitK]/checkpoint.h5"},
         "rule": "highest EML among the seeds inside the window" | ...,
         "median_duration_frames": {seed: frames}, "median_duration_ms": {seed: ms},
         "in_window": {seed: bool}, "spread_ms": {min, median, max}, "kappa": {arhmm, full},
         "target_frames": [low, high], "loop": {...} (:func:`closed_loop`), "fingerprint": ...}

    Raises:
        InputError: fewer than two seeds (EML compares models).
    """
    # local: keypoint_moseq is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    import keypoint_moseq as kpms

    if len(sel.seeds) < 2:
        raise InputError("moseq.seeds.n_seeds must be >= 2: the EML score compares models")
    paths = [str(sel.checkpoint(s)) for s in sel.seeds]
    scores, sems = kpms.expected_marginal_likelihoods(checkpoint_paths=paths)
    scores, sems = np.asarray(scores, dtype=float), np.asarray(sems, dtype=float)
    if medians is None:
        medians = np.array([seed_median_duration(p) for p in paths])
    index, rule = choose_seed(scores, medians, sel.window_frames, sel.select)
    best = sel.seeds[index]
    lo, hi = sel.window_frames
    ms = np.asarray(medians, dtype=float) * 1000.0 / sel.fps
    summary = {
        "seeds": list(sel.seeds),
        "eml": {str(s): float(v) for s, v in zip(sel.seeds, scores)},
        "eml_sem": {str(s): float(v) for s, v in zip(sel.seeds, sems)},
        "chosen": {"seed": best, "name": sel.name(best), "checkpoint": f"{sel.name(best)}/checkpoint.h5"},
        "rule": rule,
        "median_duration_frames": {str(s): float(m) for s, m in zip(sel.seeds, medians)},
        "median_duration_ms": {str(s): round(float(m), 3) for s, m in zip(sel.seeds, ms)},
        "in_window": {str(s): bool(lo <= m <= hi) for s, m in zip(sel.seeds, medians)},
        "spread_ms": {
            "min": round(float(ms.min()), 3),
            "median": round(float(np.median(ms)), 3),
            "max": round(float(ms.max()), 3),
        },
        "kappa": sel.kappas,
        "target_frames": [lo, hi],
        "fingerprint": sel.fingerprint,
    }
    if loop is not None:
        summary["loop"] = loop
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
