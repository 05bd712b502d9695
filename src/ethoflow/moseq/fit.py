"""moseq_arhmm and moseq_full: kappa search by trial fits, then the final fit.

Each trial is one :func:`fit_trial` call, dispatched through :func:`ethoflow.dispatch.map_array`
(in-process locally; a Slurm job array per search round on a cluster). The search itself
(:mod:`ethoflow.moseq.search`) keeps its state in ``<stage dir>/search_state.json``; the stage's
folder is a DVC ``persist`` out, so a killed stage resumes: finished trials are read back, the
final fit continues from its last saved snapshot. Once the stage is complete the trial checkpoints
are removed (the chosen model's final checkpoint and the state file stay).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from ethoflow.core.errors import InputError, ParamsError
from ethoflow.core.logging import get_logger
from ethoflow.core.params import format_validation_error
from ethoflow.moseq import io, search
from ethoflow.moseq.params import MoseqComputeOptions, MoseqParams, SearchParams

log = get_logger(__name__)

STATE_FILE = "search_state.json"
_DATA_CACHE: dict[tuple, tuple] = {}


def median_duration(z: np.ndarray, mask: np.ndarray) -> float:
    """Median syllable duration in frames from state sequences ``z`` (B, T') and ``mask`` (B, >=T')
    (keypoint-moseq's run lengths, ``jax_moseq.utils.get_durations``)."""
    from jax_moseq.utils import get_durations

    d = np.asarray(get_durations(np.asarray(z), np.asarray(mask)))
    if d.size == 0:
        raise InputError("model has no syllables (empty state sequences)")
    return float(np.median(d))


def apply_options(options: dict[str, Any] | None) -> MoseqComputeOptions:
    """Validate ``compute.stages.<stage>.options`` and set the jax-moseq memory levers."""
    opts = MoseqComputeOptions(**(options or {}))
    from jax_moseq.utils import set_mixed_map_iters

    set_mixed_map_iters(opts.mixed_map_iters or 1)
    return opts


def _formatted(keypoints: str, config_dir: str) -> tuple[dict, tuple, dict]:
    """(data, metadata, config) for ``keypoints.p`` and ``config_dir/config.yml`` (memoised)."""
    import keypoint_moseq as kpms

    key = (keypoints, os.path.getmtime(keypoints), config_dir)
    if key not in _DATA_CACHE:
        coords, confs, _ = io.load_keypoints_pickle(keypoints)
        config = io.read_kpms_config(config_dir)
        data, metadata = kpms.format_data(coords, confs, **config)
        _DATA_CACHE.clear()
        _DATA_CACHE[key] = (data, metadata, config)
    return _DATA_CACHE[key]


def fit_trial(spec: dict[str, Any]) -> tuple[float, str]:
    """Fit one kappa trial; return (median syllable duration in frames, checkpoint name).

    ``spec`` keys: ``kind`` (``arhmm`` | ``full``), ``project_dir`` (where checkpoints go),
    ``name``, ``kappa``, ``iters`` (Gibbs iterations), ``seed``, ``options`` (compute options),
    ``root`` (project root, for the JAX cache); AR-HMM: ``keypoints``, ``pca_dir``; full:
    ``init_dir`` and ``init_name`` (the AR-HMM checkpoint, reloaded for every trial).
    Top-level and picklable: runs in a Slurm array task as well as in-process.
    """
    from ethoflow.moseq import jaxcache

    jaxcache.enable(spec.get("root"))
    import jax.random as jr
    import keypoint_moseq as kpms

    opts = apply_options(spec.get("options"))
    project_dir, name, kappa = spec["project_dir"], spec["name"], float(spec["kappa"])
    trial_dir = Path(project_dir) / name
    if trial_dir.exists():  # an interrupted earlier attempt: start the trial over
        shutil.rmtree(trial_dir)
    if spec["kind"] == "arhmm":
        data, metadata, config = _formatted(spec["keypoints"], spec["pca_dir"])
        pca = kpms.load_pca(spec["pca_dir"])
        config = {**config, "trans_hypparams": {**config["trans_hypparams"], "kappa": kappa}}
        model = kpms.init_model(
            data, pca=pca, seed=jr.PRNGKey(int(spec["seed"])), **{k: v for k, v in config.items() if k != "seed"}
        )
        start, ar_only = 0, True
    else:
        model, data, metadata, start = kpms.load_checkpoint(spec["init_dir"], spec["init_name"])
        start, ar_only = int(start), False
    # kappa in the model's transition hyperparameters (kpms.update_hypparams skips 0-d arrays,
    # which a reloaded checkpoint holds, so it is set directly)
    model["hypparams"]["trans_hypparams"]["kappa"] = kappa
    model, _ = kpms.fit_model(
        model,
        data,
        metadata,
        str(project_dir),
        name,
        ar_only=ar_only,
        start_iter=start,
        num_iters=start + int(spec["iters"]),
        save_every_n_iters=int(spec["iters"]),
        generate_progress_plots=False,
        parallel_message_passing=opts.parallel_message_passing,
    )
    return median_duration(model["states"]["z"], data["mask"]), name


def continue_fit(spec: dict[str, Any]) -> dict[str, float]:
    """Continue the chosen trial's model to ``end_iter`` under the final name (resumable:
    restarts from the final checkpoint's latest snapshot when one exists). Returns ``end_iter``
    (the last iteration index) and ``duration``, the final model's median syllable duration in
    frames (:func:`median_duration`)."""
    from ethoflow.moseq import jaxcache

    jaxcache.enable(spec.get("root"))
    import keypoint_moseq as kpms

    opts = apply_options(spec.get("options"))
    project_dir, final = spec["project_dir"], spec["final_name"]
    final_ckpt = Path(project_dir) / final / "checkpoint.h5"
    if final_ckpt.exists():
        model, data, metadata, start = kpms.load_checkpoint(project_dir, final)
    else:
        model, data, metadata, start = kpms.load_checkpoint(project_dir, spec["trial_name"])
    start, end = int(start), int(spec["end_iter"])
    if start < end:
        model, _ = kpms.fit_model(
            model,
            data,
            metadata,
            str(project_dir),
            final,
            ar_only=spec["kind"] == "arhmm",
            start_iter=start,
            num_iters=end,
            save_every_n_iters=int(spec.get("save_every", 10)),
            generate_progress_plots=False,
            parallel_message_passing=opts.parallel_message_passing,
        )
    elif not final_ckpt.exists():
        shutil.copytree(Path(project_dir) / spec["trial_name"], Path(project_dir) / final)
    return {"end_iter": end, "duration": median_duration(model["states"]["z"], data["mask"])}


def _sha(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fingerprint(params: dict[str, Any], files: list[str | os.PathLike]) -> str:
    """Hash of the params that change a search and of its input files."""
    h = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode())
    for f in files:
        h.update(_sha(f).encode())
    return h.hexdigest()[:16]


def target_frames(target_ms: tuple[float, float], fps: float) -> tuple[float, float]:
    """Target window in frames from milliseconds at ``fps`` Hz."""
    return (target_ms[0] * fps / 1000.0, target_ms[1] * fps / 1000.0)


def search_stage(
    kind: str,
    cfg: MoseqParams,
    out_dir: str | os.PathLike,
    *,
    keypoints: str | os.PathLike | None = None,
    pca_dir: str | os.PathLike | None = None,
    arhmm_dir: str | os.PathLike | None = None,
    compute: Any = None,
    params_path: str | os.PathLike = "params.yaml",
) -> search.SearchState:
    """Run (or resume) the kappa search and the final fit for the AR-HMM (``kind="arhmm"``) or the
    full model (``kind="full"``, warm-started from ``arhmm_dir``'s final AR-HMM checkpoint).

    Writes ``out_dir/search_state.json`` (after every trial), trial checkpoints
    ``out_dir/<kind>-trial-NN/``, the final model ``out_dir/<kind>/checkpoint.h5`` and
    ``out_dir/config.yml`` with the chosen kappa.

    Raises:
        search.SearchError: target unreachable and ``on_unreachable`` is ``error``.
    """
    from ethoflow import dispatch

    root = str(Path.cwd())
    sp: SearchParams = cfg.arhmm if kind == "arhmm" else cfg.full
    stage = f"moseq_{kind}"
    compute = compute or dispatch.load_compute(params_path)
    options = dict(compute.resources(stage).options or {})
    try:  # validate at stage start
        MoseqComputeOptions(**options)
    except ValidationError as exc:
        raise ParamsError(format_validation_error(exc, params_path, f"compute.stages.{stage}.options")) from None
    out = Path(out_dir).resolve()
    if kind == "arhmm":
        config_src, inputs = Path(pca_dir), [Path(keypoints), Path(pca_dir) / "pca.p", Path(pca_dir) / "config.yml"]
        init_ckpt = None
    else:
        config_src = Path(arhmm_dir)
        init_ckpt = Path(arhmm_dir) / "arhmm" / "checkpoint.h5"
        inputs = [init_ckpt, Path(arhmm_dir) / "config.yml"]
    for f in inputs:
        if not f.exists():
            raise InputError(f"{f} missing: run the earlier moseq stages")
    config = io.read_kpms_config(config_src)
    fps = float(config["fps"])
    tgt = target_frames(sp.target_duration_ms, fps)
    if kind == "arhmm":
        bounds, start = tuple(sp.kappa_log10_range), None
        search_params = {"kind": kind, "search": sp.model_dump(), "seed": cfg.seed}
    else:
        ar_kappa = float(config["trans_hypparams"]["kappa"])
        c = float(np.log10(ar_kappa))
        bounds, start = (c - cfg.full.kappa_span_log10, c + cfg.full.kappa_span_log10), c
        search_params = {"kind": kind, "search": sp.model_dump(), "seed": cfg.seed}
    fp = fingerprint(search_params, inputs)
    fresh = search.new_state(
        sp.method, tgt, bounds, sp.max_trials, start_log10=start, per_round=sp.trials_per_round, fingerprint=fp
    )
    state_path = out / STATE_FILE
    state = search.load_or_new(state_path, fresh)
    if state is fresh and out.exists():
        shutil.rmtree(out)  # stale outputs of other inputs
    out.mkdir(parents=True, exist_ok=True)
    if not (out / "config.yml").exists():
        shutil.copy2(config_src / "config.yml", out / "config.yml")
    if state.extra.get("complete"):
        log.info("%s: search and final fit already complete (kappa %.4g)", stage, state.extra["kappa"])
        return state
    if state.trials:
        log.info("%s: resuming from %s with %d finished trials", stage, state_path, len(state.trials))

    base = {
        "kind": kind,
        "project_dir": str(out),
        "seed": cfg.seed,
        "options": options,
        "root": root,
        "iters": sp.trial_iters,
    }
    if kind == "arhmm":
        base.update(keypoints=str(Path(keypoints).resolve()), pca_dir=str(Path(pca_dir).resolve()))
    else:
        base.update(init_dir=str(Path(arhmm_dir).resolve()), init_name="arhmm")

    def evaluate(trials: list[search.Trial]) -> list[tuple[float, str]]:
        specs = [{**base, "name": t.checkpoint, "kappa": t.kappa} for t in trials]
        if len(specs) == 1:  # one trial: record it as soon as it is done
            return [dispatch.run(fit_trial, specs[0], stage=stage, compute=compute)]
        return dispatch.map_array(fit_trial, specs, stage=stage, compute=compute)

    state = search.run_search(evaluate, state, state_path, name=lambda i, x: f"{kind}-trial-{i:02d}")
    chosen = state.trials[state.chosen]
    if state.status not in search.HIT_STATUSES:
        msg = f"{stage}: {state.message}"
        if sp.on_unreachable == "error":
            raise search.SearchError(msg + " (on_unreachable: error)")
        log.warning("%s; continuing with the closest trial (on_unreachable: closest)", msg)
    elif state.status == "at_bound":
        log.warning("%s: %s", stage, state.message)
    else:
        log.info("%s: %s", stage, state.message)
    total = cfg.arhmm.arhmm_iters if kind == "arhmm" else cfg.full.full_iters
    if "end_iter" not in state.extra:  # recorded once, before the trial checkpoints may go
        import h5py

        with h5py.File(out / chosen.checkpoint / "checkpoint.h5", "r") as f:
            trial_end = max(int(k) for k in f["model_snapshots"])
        state.extra["end_iter"] = trial_end - sp.trial_iters + total
        state.save(state_path)
    end_iter = int(state.extra["end_iter"])
    spec = {
        **base,
        "final_name": kind,
        "trial_name": chosen.checkpoint,
        "end_iter": end_iter,
        "save_every": max(1, min(25, total // 2)),
    }
    final = dispatch.run(continue_fit, spec, stage=stage, compute=compute)
    search.final_outcome(state, float(final["duration"]), fps)
    if state.status == "found":
        log.info("%s: %s", stage, state.message)
    else:  # drifted, at_bound, unreachable, max_trials
        log.warning("%s: %s", stage, state.message)
    io.update_kpms_config(out, trans_hypparams={**config["trans_hypparams"], "kappa": chosen.kappa})
    for t in state.trials:  # the trial checkpoints are intermediate: keep the final model only
        d = out / t.checkpoint
        if d.exists():
            shutil.rmtree(d)
    state.extra.update(
        {
            "complete": True,
            "kappa": chosen.kappa,
            "final_checkpoint": f"{kind}/checkpoint.h5",
            "final_iteration": end_iter,
            "trial_checkpoints_removed": True,
            "target_ms": list(sp.target_duration_ms),
            "fps": fps,
        }
    )
    state.save(state_path)
    return state
