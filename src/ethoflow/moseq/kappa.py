"""The kappa search of moseq_arhmm and moseq_full around the trial fits, read top-down.

One search is a :class:`KappaSearch` (what it searches, from which inputs, into which folder),
built by :func:`arhmm_search` or :func:`full_search` (the only places the two models differ).
:func:`search_and_fit` then runs it, with the trial fits and the final fit supplied as callables
(the stage dispatches them, see :mod:`ethoflow.moseq.stages`), as four steps defined below it in
this order:

1. :func:`open_search`: the saved state in ``<out>/search_state.json`` when it is for the same
   inputs and params, else a fresh one (stale outputs removed);
2. :func:`run_kappa_search`: the resumable search loop (:func:`run_search`) with a function that fits
   a round of trials (:func:`ethoflow.moseq.fit.fit_trial` each);
3. :func:`final_fit_spec`: what :func:`ethoflow.moseq.fit.continue_fit` needs to take the chosen
   trial on to all iterations (the final iteration is recorded in the state before the trial
   checkpoints may go);
4. :func:`finish_search`: the final model's outcome (``found``/``drifted``/...), the chosen kappa in
   ``<out>/config.yml``, trial checkpoints removed, the state marked complete.

This module also holds the search's resumable state and loop: :func:`load_or_new` and
:func:`read_state` (the state file), :func:`run_search` (rounds of proposals, fits and records until
done; pure Python, the objective a callable). The kappa maths (the state record, the proposal rules,
the status after a round, the final model's outcome) is :mod:`ethoflow.moseq.search`: this module calls
it (:func:`~ethoflow.moseq.search.new_state`, :func:`~ethoflow.moseq.search.next_round`,
:func:`~ethoflow.moseq.search.update_status`, :func:`~ethoflow.moseq.search.final_outcome`) and is never
called back. The stage's folder is a DVC ``persist`` out, so a killed stage resumes from the state file.
"""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ethoflow.core.errors import InputError
from ethoflow.core.io import read_json
from ethoflow.core.logging import get_logger
from ethoflow.moseq import io, search
from ethoflow.moseq.fit import fingerprint, target_frames
from ethoflow.moseq.params import MoseqParams, SearchParams

log = get_logger(__name__)

#: the search state file in a search stage's folder.
STATE_FILE = "search_state.json"


@dataclass(frozen=True)
class KappaSearch:
    """One kappa search and its final fit.

    Attributes:
        kind: ``"arhmm"`` or ``"full"``; names the final model (``<out>/<kind>/checkpoint.h5``), the
            trial checkpoints (``<kind>-trial-NN``) and the stage (``moseq_<kind>``).
        out: the stage's folder (absolute).
        params: the search params (``moseq.arhmm`` or ``moseq.full``).
        total_iters: iterations of the final model in all (``arhmm_iters`` / ``full_iters``).
        config_src: folder whose kpms ``config.yml`` the stage starts from.
        config: that config, loaded.
        fps: frame rate (Hz) from the config.
        fresh: a new search state for these inputs (target in frames, range in log10 kappa,
            fingerprint of params and input files).
        trial_spec: the keys every :func:`ethoflow.moseq.fit.fit_trial` spec shares (kind,
            project_dir, seed, iters and the model's inputs).
        trans_updates: written into ``trans_hypparams`` of ``<out>/config.yml`` with the chosen
            kappa (the AR-HMM: ``num_states``, which the later stages read from there).
    """

    kind: str
    out: Path
    params: SearchParams
    total_iters: int
    config_src: Path
    config: dict[str, Any]
    fps: float
    fresh: search.SearchState
    trial_spec: dict[str, Any] = field(default_factory=dict)
    trans_updates: dict[str, Any] = field(default_factory=dict)

    @property
    def state_path(self) -> Path:
        return self.out / STATE_FILE

    @property
    def stage(self) -> str:
        return f"moseq_{self.kind}"


def arhmm_search(
    cfg: MoseqParams, keypoints: str | os.PathLike, pca_dir: str | os.PathLike, out: str | os.PathLike
) -> KappaSearch:
    """The AR-HMM search: kappa over ``moseq.arhmm.kappa_log10_range`` (log10), each trial a fresh
    AR-HMM on ``keypoints`` (the keypoints pickle) with the PCA in ``pca_dir`` (and its config's
    ``conf_threshold``), ``moseq.model.num_states`` states at most and the data cut into segments of
    ``moseq.model.seg_length`` frames; ``num_states`` is written into ``<out>/config.yml`` with the
    chosen kappa.

    Raises:
        InputError: an input file is missing.
    """
    pca_dir = Path(pca_dir)
    inputs = [Path(keypoints), pca_dir / "pca.p", pca_dir / "config.yml"]
    model_inputs = {
        "keypoints": str(Path(keypoints).resolve()),
        "pca_dir": str(pca_dir.resolve()),
        "num_states": cfg.model.num_states,
        "seg_length": cfg.model.seg_length,
    }
    sp = cfg.arhmm
    return _new_search(
        "arhmm",
        cfg,
        sp,
        sp.arhmm_iters,
        out,
        pca_dir,
        inputs,
        tuple(sp.kappa_log10_range),
        None,
        model_inputs,
        {"num_states": cfg.model.num_states},
    )


def full_search(cfg: MoseqParams, arhmm_dir: str | os.PathLike, out: str | os.PathLike) -> KappaSearch:
    """The full-model search: kappa within ``moseq.full.kappa_span_log10`` decades of the AR-HMM's
    kappa (read from ``arhmm_dir/config.yml``), each trial warm-started from the final AR-HMM
    checkpoint ``arhmm_dir/arhmm/checkpoint.h5``.

    Raises:
        InputError: the AR-HMM checkpoint or config is missing.
    """
    arhmm_dir = Path(arhmm_dir)
    inputs = [arhmm_dir / "arhmm" / "checkpoint.h5", arhmm_dir / "config.yml"]
    _require(inputs)
    centre = float(np.log10(float(io.read_kpms_config(arhmm_dir)["trans_hypparams"]["kappa"])))
    sp = cfg.full
    bounds = (centre - sp.kappa_span_log10, centre + sp.kappa_span_log10)
    model_inputs = {"init_dir": str(arhmm_dir.resolve()), "init_name": "arhmm"}
    return _new_search("full", cfg, sp, sp.full_iters, out, arhmm_dir, inputs, bounds, centre, model_inputs)


def _new_search(
    kind: str,
    cfg: MoseqParams,
    sp: SearchParams,
    total: int,
    out: str | os.PathLike,
    config_src: Path,
    inputs: list[Path],
    bounds: tuple[float, float],
    start: float | None,
    model_inputs: dict[str, Any],
    trans_updates: dict[str, Any] | None = None,
) -> KappaSearch:
    _require(inputs)
    config = io.read_kpms_config(config_src)
    fps = float(config["fps"])
    fp_params = {"kind": kind, "search": sp.model_dump(), "seed": cfg.seed}
    settings = {k: v for k, v in model_inputs.items() if k in ("num_states", "seg_length")}
    if settings:  # the model settings the trials use (moseq.model), besides the input files' contents
        fp_params["model"] = settings
    fp = fingerprint(fp_params, inputs)
    fresh = search.new_state(
        sp.method,
        target_frames(sp.target_duration_ms, fps),
        bounds,
        sp.max_trials,
        start_log10=start,
        per_round=sp.trials_per_round,
        fingerprint=fp,
    )
    out = Path(out).resolve()
    spec = {"kind": kind, "project_dir": str(out), "seed": cfg.seed, "iters": sp.trial_iters, **model_inputs}
    return KappaSearch(kind, out, sp, total, config_src, config, fps, fresh, spec, dict(trans_updates or {}))


def _require(paths: Sequence[Path]) -> None:
    for f in paths:
        if not f.exists():
            raise InputError(f"{f} missing: run the earlier moseq stages")


def search_and_fit(
    ks: KappaSearch,
    fit_round: Callable[[list[dict[str, Any]]], list[tuple[float, str]]],
    fit_final: Callable[[dict[str, Any]], dict[str, float]],
) -> search.SearchState:
    """Run (or resume) the search ``ks`` and its final fit: the four steps of the module docstring.

    Args:
        ks: the search (:func:`arhmm_search`, :func:`full_search`).
        fit_round: fits the trials of one round, :func:`run_kappa_search`'s callable.
        fit_final: fits the final model from :func:`final_fit_spec`'s spec
            (:func:`ethoflow.moseq.fit.continue_fit`), returning its result (``duration`` in frames).

    Returns:
        The completed state (already complete: returned as saved, nothing fitted).

    Raises:
        search.SearchError: target unreachable and ``on_unreachable`` is ``error``.
    """
    state = open_search(ks)
    if is_complete(state):
        log.info("%s: search and final fit already complete (kappa %.4g)", ks.stage, state.extra["kappa"])
        return state
    state = run_kappa_search(ks, state, fit_round)
    final = fit_final(final_fit_spec(ks, state))
    return finish_search(ks, state, final)


def open_search(ks: KappaSearch) -> search.SearchState:
    """The saved state when it is for these inputs and params, else the fresh one (then the
    stage's folder is emptied: its outputs are for other inputs). ``config.yml`` is copied in."""
    state = load_or_new(ks.state_path, ks.fresh)
    if state is ks.fresh and ks.out.exists():
        shutil.rmtree(ks.out)  # stale outputs of other inputs
    ks.out.mkdir(parents=True, exist_ok=True)
    if not (ks.out / "config.yml").exists():
        shutil.copy2(ks.config_src / "config.yml", ks.out / "config.yml")
    if state.trials and not state.extra.get("complete"):
        log.info("%s: resuming from %s with %d finished trials", ks.stage, ks.state_path, len(state.trials))
    return state


def load_or_new(path: str | Path, fresh: search.SearchState) -> search.SearchState:
    """The saved state at ``path`` when it matches ``fresh``'s inputs, else ``fresh``.

    A state written by another :data:`~ethoflow.moseq.search.STATE_VERSION` (another search method or status set) is
    discarded, never mixed with this one's trials. A state of this version is validated
    (:class:`~ethoflow.moseq.search.SearchState`); it matches when fingerprint, method, target, bounds, start, max_trials
    and per_round agree; anything else (another params set, other data) means the saved trials do
    not apply.

    Raises:
        InputError: the file is not JSON, or a state of this version has a missing or mistyped key
            (file and key named; delete the file to start the search afresh).
    """
    path = Path(path)
    if not path.exists():
        return fresh
    data = read_json(path)
    version = data.get("version") if isinstance(data, dict) else None
    if version != search.STATE_VERSION:
        log.info("search state %s has version %s, not %d; starting afresh", path, version, search.STATE_VERSION)
        return fresh
    try:
        saved = search.SearchState.from_dict(data, path)
    except InputError as exc:
        raise InputError(f"{exc} (delete the file to start the kappa search afresh)") from None
    keys = ("fingerprint", "method", "target", "bounds", "start", "max_trials", "per_round", "version")
    if any(getattr(saved, k) != getattr(fresh, k) for k in keys):
        log.info("search state %s is for other inputs; starting afresh", path)
        return fresh
    return saved


def is_complete(state: search.SearchState) -> bool:
    """True when the search and the final fit have both finished (nothing left to run)."""
    return bool(state.extra.get("complete"))


def run_kappa_search(
    ks: KappaSearch,
    state: search.SearchState,
    fit_round: Callable[[list[dict[str, Any]]], list[tuple[float, str]]],
) -> search.SearchState:
    """Run (or resume) the search; ``fit_round(specs)`` fits the trials of one round, returning
    ``(median duration in frames, checkpoint name)`` per :func:`ethoflow.moseq.fit.fit_trial` spec.

    The state file is written after every trial. A target the search cannot reach is logged (and
    the closest trial chosen) or, with ``on_unreachable: error``, raised.

    Raises:
        search.SearchError: target unreachable and ``on_unreachable`` is ``error``.
    """

    def evaluate(trials: Sequence[search.Trial]) -> list[tuple[float, str]]:
        return fit_round([{**ks.trial_spec, "name": t.checkpoint, "kappa": t.kappa} for t in trials])

    state = run_search(evaluate, state, ks.state_path, name=lambda i, x: f"{ks.kind}-trial-{i:02d}")
    if state.status not in search.HIT_STATUSES:
        msg = f"{ks.stage}: {state.message}"
        if ks.params.on_unreachable == "error":
            raise search.SearchError(msg + " (on_unreachable: error)")
        log.warning("%s; continuing with the closest trial (on_unreachable: closest)", msg)
    elif state.status == "at_bound":
        log.warning("%s: %s", ks.stage, state.message)
    else:
        log.info("%s: %s", ks.stage, state.message)
    return state


def run_search(
    evaluate: Callable[[Sequence[search.Trial]], Sequence[tuple[float, str]]],
    state: search.SearchState,
    state_path: str | Path | None,
    name: Callable[[int, float], str] = lambda i, x: f"trial-{i:02d}",
    on_trial: Callable[[search.SearchState, search.Trial], None] | None = None,
) -> search.SearchState:
    """Run (or resume) the search until a hit, an unreachable target or ``max_trials``.

    Args:
        evaluate: fits a round of trials; given the trials (index, log10_kappa, kappa, checkpoint
            name set), returns ``(median duration in frames, checkpoint name)`` for each, in order.
            It may be called with the rest of an interrupted round (``state.pending``).
        state: a fresh state or one from :func:`load_or_new`.
        state_path: the JSON state file, written atomically after every trial (``None``: not saved).
        name: checkpoint name of trial ``i`` at ``log10 kappa x``.
        on_trial: called after each recorded trial (logging, tests).

    Returns:
        The final state (``status`` ``found``, ``at_bound``, ``unreachable`` or ``max_trials``;
        ``chosen`` the trial to continue from). The stage then records the final model's outcome
        with :func:`ethoflow.moseq.search.final_outcome`.
    """

    def save() -> None:
        if state_path is not None:
            state.save(state_path)

    search.update_status(state)
    while not state.done:
        if not state.pending:
            xs = search.next_round(state)
            if not xs:
                best = state.best()
                if best is None:
                    raise search.SearchError("kappa search proposed nothing and has no trials")
                state.status, state.chosen = "max_trials", best.index
                state.message = f"nothing left to try; closest {best.duration:.3g} frames at kappa {best.kappa:.4g}"
                break
            base = len(state.trials)
            state.pending = [
                search.Trial(index=base + i, log10_kappa=x, kappa=float(10.0**x), checkpoint=name(base + i, x), why=why)
                for i, (x, why) in enumerate(xs)
            ]
            save()
        todo = list(state.pending)
        results = list(evaluate(todo))
        if len(results) != len(todo):
            raise search.SearchError(f"evaluate returned {len(results)} results for {len(todo)} trials")
        for trial, (duration, ckpt) in zip(todo, results):
            if duration is None or not math.isfinite(float(duration)) or float(duration) <= 0:
                raise search.SearchError(
                    f"trial {trial.index} at kappa {trial.kappa:.4g} gave no valid duration ({duration})"
                )
            trial.duration, trial.checkpoint = float(duration), str(ckpt)
            state.trials.append(trial)
            state.pending = [p for p in state.pending if p.index != trial.index]
            log.info(
                "kappa trial %d: kappa %.4g -> median duration %.3g frames (target %.3g-%.3g)",
                trial.index,
                trial.kappa,
                trial.duration,
                *state.target,
            )
            save()
            if on_trial is not None:
                on_trial(state, trial)
        search.update_status(state)
        save()
    save()
    return state


def final_fit_spec(ks: KappaSearch, state: search.SearchState) -> dict[str, Any]:
    """The :func:`ethoflow.moseq.fit.continue_fit` spec that takes the chosen trial on to
    ``total_iters`` iterations in all, under the name ``kind``.

    The final iteration index is read from the chosen trial's checkpoint once and recorded in the
    state (``extra["end_iter"]``), before the trial checkpoints may be removed.
    """
    chosen = state.trials[state.chosen]
    sp = ks.params
    if "end_iter" not in state.extra:
        # local: h5py is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
        import h5py

        with h5py.File(ks.out / chosen.checkpoint / "checkpoint.h5", "r") as f:
            trial_end = max(int(k) for k in f["model_snapshots"])
        state.extra["end_iter"] = trial_end - sp.trial_iters + ks.total_iters
        state.save(ks.state_path)
    return {
        **ks.trial_spec,
        "final_name": ks.kind,
        "trial_name": chosen.checkpoint,
        "end_iter": int(state.extra["end_iter"]),
        "save_every": max(1, min(25, ks.total_iters // 2)),
    }


def finish_search(ks: KappaSearch, state: search.SearchState, final: dict[str, float]) -> search.SearchState:
    """Record the final model (``final``: :func:`ethoflow.moseq.fit.continue_fit`'s result) and
    complete the stage: status of the final model (:func:`ethoflow.moseq.search.final_outcome`,
    logged), the chosen kappa in ``<out>/config.yml``, trial checkpoints removed, state saved with
    ``extra["complete"]``."""
    chosen = state.trials[state.chosen]
    search.final_outcome(state, float(final["duration"]), ks.fps)
    if state.status == "found":
        log.info("%s: %s", ks.stage, state.message)
    else:  # drifted, at_bound, unreachable, max_trials
        log.warning("%s: %s", ks.stage, state.message)
    io.update_kpms_config(
        ks.out, trans_hypparams={**ks.config["trans_hypparams"], **ks.trans_updates, "kappa": chosen.kappa}
    )
    for t in state.trials:  # the trial checkpoints are intermediate: keep the final model only
        d = ks.out / t.checkpoint
        if d.exists():
            shutil.rmtree(d)
    state.extra.update(
        {
            "complete": True,
            "kappa": chosen.kappa,
            "final_checkpoint": f"{ks.kind}/checkpoint.h5",
            "final_iteration": int(state.extra["end_iter"]),
            "trial_checkpoints_removed": True,
            "target_ms": list(ks.params.target_duration_ms),
            "fps": ks.fps,
        }
    )
    state.save(ks.state_path)
    return state


def read_state(path: str | Path) -> search.SearchState:
    """The search state in ``path`` (a stage's ``search_state.json``), validated.

    Raises:
        InputError: missing file, not JSON, written by another state version, or a missing/mistyped
            key (file and key named).
    """
    data = read_json(path)
    version = data.get("version") if isinstance(data, dict) else None
    if version != search.STATE_VERSION:
        raise InputError(f"{path}: search state version {version}, expected {search.STATE_VERSION}: rerun the stage")
    return search.SearchState.from_dict(data, path)
