"""The model fits of the moseq pipeline, each a top-level picklable function of one spec dict
(it runs in-process or as a Slurm (array) task, see :mod:`ethoflow.moseq.stages`):

- :func:`fit_trial`: one kappa trial of the search (:mod:`ethoflow.moseq.kappa`);
- :func:`continue_fit`: the chosen trial on to all iterations (resumable from its last snapshot);
- :func:`fit_seed`: one whole model (AR-HMM then full model at the searched kappas) from one seed,
  for model selection across seeds (:mod:`ethoflow.moseq.seeds`).

Fits use keypoint-moseq (``init_model``, ``fit_model``, ``load_checkpoint``; Weinreb et al. 2024).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from ethoflow.core.errors import InputError, ParamsError
from ethoflow.core.io import sha256_file
from ethoflow.core.logging import get_logger
from ethoflow.core.params import format_validation_error
from ethoflow.moseq import io, jaxcache
from ethoflow.moseq.params import MoseqComputeOptions
from ethoflow.moseq.records import FinalFitSpec, SeedSpec, TrialSpec, read_spec

log = get_logger(__name__)

_DATA_CACHE: dict[tuple, tuple] = {}


def median_duration(states: np.ndarray, mask: np.ndarray) -> float:
    """Median syllable duration in frames from state sequences ``states`` (B, T') and ``mask`` (B, >=T')
    (keypoint-moseq's run lengths, ``jax_moseq.utils.get_durations``)."""
    # local: jax is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    from jax_moseq.utils import get_durations

    d = np.asarray(get_durations(np.asarray(states), np.asarray(mask)))
    if d.size == 0:
        raise InputError("model has no syllables (empty state sequences)")
    return float(np.median(d))


def apply_options(options: dict[str, Any] | None) -> MoseqComputeOptions:
    """Validate ``compute.stages.<stage>.options`` and set the jax-moseq memory levers."""
    opts = MoseqComputeOptions(**(options or {}))
    # local: jax is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    from jax_moseq.utils import set_mixed_map_iters

    set_mixed_map_iters(opts.mixed_map_iters or 1)
    return opts


def check_options(
    options: dict[str, Any] | None, stage: str, params_path: str | os.PathLike = "params.yaml"
) -> dict[str, Any]:
    """Validate ``compute.stages.<stage>.options`` (:class:`MoseqComputeOptions`) at stage start;
    return them as a plain dict for the fit specs.

    Raises:
        ParamsError: an unknown or invalid option (file and dotted key named).
    """
    options = dict(options or {})
    try:
        MoseqComputeOptions(**options)
    except ValidationError as exc:
        raise ParamsError(format_validation_error(exc, params_path, f"compute.stages.{stage}.options")) from None
    return options


def format_for_model(
    coordinates: dict[str, np.ndarray],
    confidences: dict[str, np.ndarray],
    config: dict[str, Any],
    seg_length: int | None,
) -> tuple[dict, tuple]:
    """``keypoint_moseq.format_data`` with the kpms ``config`` and ``seg_length`` (``moseq.model.seg_length``;
    ``None``: kpms chooses): sessions cut into segments of ``seg_length`` frames (+ 30 frames of
    overlap), confidences below ``conf_threshold`` marked as outliers later by ``init_model``.

    Returns:
        (data, metadata): ``data["Y"]`` (n_segments, seg_length + 30, K, D), ``data["mask"]``,
        ``data["conf"]``; metadata (session of each segment, its (start, end) frames).

    Raises:
        ParamsError: ``seg_length`` leaves a segment too short for kpms (the last piece of a session).
    """
    # local: keypoint_moseq is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    import keypoint_moseq as kpms

    try:
        return kpms.format_data(coordinates, confidences, **{**config, "seg_length": seg_length})
    except AssertionError as exc:  # kpms asserts a minimum number of frames per segment
        raise ParamsError(f"moseq.model.seg_length {seg_length}: {' '.join(str(exc).split())}") from None


def init_arhmm(
    data: dict, pca: Any, config: dict[str, Any], seed: int, kappa: float, num_states: int
) -> dict[str, Any]:
    """A fresh model (``keypoint_moseq.init_model``) for AR-HMM fitting: ``config``'s
    hyperparameters (its ``conf_threshold`` included) with ``kappa`` and ``num_states`` (the most
    states the model may use, ``moseq.model.num_states``) in ``trans_hypparams``; PRNG key from
    ``seed``."""
    # local: jax is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    import jax.random as jr
    import keypoint_moseq as kpms

    trans = {**config["trans_hypparams"], "kappa": float(kappa), "num_states": int(num_states)}
    config = {**config, "trans_hypparams": trans}
    return kpms.init_model(
        data, pca=pca, seed=jr.PRNGKey(int(seed)), **{k: v for k, v in config.items() if k != "seed"}
    )


def _formatted(keypoints: str, config_dir: str, seg_length: int | None = None) -> tuple[dict, tuple, dict]:
    """(data, metadata, config) for ``keypoints.p`` and ``config_dir/config.yml`` (memoised;
    :func:`format_for_model`)."""
    key = (keypoints, os.path.getmtime(keypoints), config_dir, seg_length)
    if key not in _DATA_CACHE:
        coords, confs, _ = io.load_keypoints_pickle(keypoints)
        config = io.read_kpms_config(config_dir)
        data, metadata = format_for_model(coords, confs, config, seg_length)
        _DATA_CACHE.clear()
        _DATA_CACHE[key] = (data, metadata, config)
    return _DATA_CACHE[key]


def fit_trial(spec: dict[str, Any]) -> tuple[float, str]:
    """Fit one kappa trial; return (median syllable duration in frames, checkpoint name).

    ``spec`` keys: ``kind`` (``arhmm`` | ``full``), ``project_dir`` (where checkpoints go),
    ``name``, ``kappa``, ``iters`` (Gibbs iterations), ``seed``, ``options`` (compute options),
    ``root`` (project root, for the JAX cache); AR-HMM: ``keypoints``, ``pca_dir``, ``num_states``,
    ``seg_length`` (:func:`init_arhmm`, :func:`format_for_model`); full:
    ``init_dir`` and ``init_name`` (the AR-HMM checkpoint, reloaded for every trial).
    Top-level and picklable: runs in a Slurm array task as well as in-process.
    """
    spec = read_spec(spec, TrialSpec, "fit_trial spec")
    jaxcache.enable(spec.root)
    # local: keypoint_moseq is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    import keypoint_moseq as kpms

    opts = apply_options(spec.options)
    project_dir, name, kappa = spec.project_dir, spec.name, spec.kappa
    trial_dir = Path(project_dir) / name
    if trial_dir.exists():  # an interrupted earlier attempt: start the trial over
        shutil.rmtree(trial_dir)
    if spec.kind == "arhmm":
        data, metadata, config = _formatted(spec.keypoints, spec.pca_dir, spec.seg_length)
        pca = kpms.load_pca(spec.pca_dir)
        model = init_arhmm(data, pca, config, spec.seed, kappa, spec.num_states)
        start, ar_only = 0, True
    else:
        model, data, metadata, start = kpms.load_checkpoint(spec.init_dir, spec.init_name)
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
        num_iters=start + spec.iters,
        save_every_n_iters=spec.iters,
        generate_progress_plots=False,
        parallel_message_passing=opts.parallel_message_passing,
    )
    return median_duration(model["states"]["z"], data["mask"]), name


def _snapshot_iters(checkpoint: Path) -> list[int]:
    """The iterations of the model snapshots in a keypoint-moseq ``checkpoint.h5``, sorted; ``[]`` when
    the file cannot be read (a kill during its very first write)."""
    # local: h5py is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    import h5py

    try:
        with h5py.File(checkpoint, "r") as f:
            return sorted(int(k) for k in f["model_snapshots"])
    except (OSError, KeyError, ValueError):
        return []


@contextlib.contextmanager
def atomic_snapshots():
    """keypoint-moseq appends each model snapshot to ``checkpoint.h5`` in place, so a kill during that
    write can leave a snapshot half written (or the file unreadable). Inside this block every
    ``save_hdf5`` of ``keypoint_moseq.fitting`` writes a copy (``.checkpoint.h5.partial``) and renames it
    over the checkpoint: a killed fit leaves the last whole snapshot. The bytes are those of the in-place
    append (the copy is byte for byte, then the same append)."""
    # local: keypoint_moseq is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    import keypoint_moseq.fitting as kf

    original = kf.save_hdf5

    def save(filepath, save_dict, datapath=None, exist_ok=False):
        path = Path(filepath)
        tmp = path.with_name(f".{path.name}.partial")
        if path.exists():
            shutil.copyfile(path, tmp)
        else:
            tmp.unlink(missing_ok=True)
        original(str(tmp), save_dict, datapath, exist_ok=exist_ok)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)

    kf.save_hdf5 = save
    try:
        yield
    finally:
        kf.save_hdf5 = original


def continue_fit(spec: dict[str, Any]) -> dict[str, float]:
    """Continue the chosen trial's model to ``end_iter`` under the final name (resumable:
    restarts from the final checkpoint's latest snapshot when one exists). Returns ``end_iter``
    (the last iteration index) and ``duration``, the final model's median syllable duration in
    frames (:func:`median_duration`).

    Exact resume: a fit killed at any point and rerun writes the ``checkpoint.h5`` bytes of an
    uninterrupted fit. keypoint-moseq's ``fit_model(start_iter=s)`` resamples iterations ``s`` to
    ``num_iters`` and snapshots the model *after* each iteration, RNG state (``model["seed"]``)
    included; the first snapshot of the final checkpoint is the trial's model *before* iteration
    ``s``. So a resume from that first snapshot starts at its iteration, and a resume from a later
    snapshot ``k`` at ``k + 1`` (starting at ``k`` would draw iteration ``k`` twice: another chain).
    Snapshots are written atomically (:func:`atomic_snapshots`); an unreadable final checkpoint is
    started over from the trial.
    """
    spec = read_spec(spec, FinalFitSpec, "continue_fit spec")
    jaxcache.enable(spec.root)
    # local: keypoint_moseq is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    import keypoint_moseq as kpms

    opts = apply_options(spec.options)
    project_dir, final = spec.project_dir, spec.final_name
    final_dir = Path(project_dir) / final
    final_ckpt = final_dir / "checkpoint.h5"
    snaps = _snapshot_iters(final_ckpt) if final_ckpt.exists() else []
    if final_dir.exists() and not snaps:
        shutil.rmtree(final_dir)  # killed before its first snapshot was whole: start the final fit over
    if snaps:
        model, data, metadata, start = kpms.load_checkpoint(project_dir, final)
        start = int(start) if int(start) == snaps[0] else int(start) + 1
    else:
        model, data, metadata, start = kpms.load_checkpoint(project_dir, spec.trial_name)
        start = int(start)
    end = spec.end_iter
    if snaps and snaps[-1] >= end:
        pass  # finished before the kill: the model is the last snapshot
    elif snaps or start < end:
        with atomic_snapshots():
            model, _ = kpms.fit_model(
                model,
                data,
                metadata,
                str(project_dir),
                final,
                ar_only=spec.kind == "arhmm",
                start_iter=start,
                num_iters=end,
                save_every_n_iters=spec.save_every,
                generate_progress_plots=False,
                parallel_message_passing=opts.parallel_message_passing,
            )
            if end not in _snapshot_iters(final_ckpt):  # resumed at end itself: fit_model saves after start only
                # local: keypoint_moseq is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
                import keypoint_moseq.fitting as kf

                kf.save_hdf5(str(final_ckpt), model, f"model_snapshots/{end}", exist_ok=True)
    else:  # the trial already ran to end_iter: its checkpoint is the final one
        shutil.copytree(Path(project_dir) / spec.trial_name, final_dir)
    return {"end_iter": end, "duration": median_duration(model["states"]["z"], data["mask"])}


def fit_seed(spec: dict[str, Any]) -> dict[str, Any]:
    """Fit one whole model from one seed: a fresh AR-HMM at the searched AR-HMM kappa for
    ``arhmm_iters`` iterations, then the full model at the searched full-model kappa for
    ``full_iters`` more (keypoint-moseq's recipe, ``init_model`` + ``fit_model`` twice), saved as
    ``project_dir/name/checkpoint.h5`` (snapshots at the end of each phase).

    ``spec`` keys: ``project_dir``, ``name``, ``seed``, ``keypoints`` (keypoints pickle),
    ``pca_dir`` (``pca.p`` and its kpms ``config.yml``), ``arhmm_kappa``, ``full_kappa``,
    ``num_states``, ``seg_length``, ``arhmm_iters``, ``full_iters``, ``options`` (compute options), ``root`` (for the JAX cache),
    ``record`` (the completion record written once the fit is saved: the result and
    ``fingerprint``; a later run skips this seed when it finds it). An unfinished earlier attempt
    of this seed is started over. Top-level and picklable (one Slurm array task per seed).

    Returns:
        ``{"seed", "name", "iterations", "median_duration"}`` (frames, :func:`median_duration`).
    """
    spec = read_spec(spec, SeedSpec, "fit_seed spec")
    jaxcache.enable(spec.root)
    # local: keypoint_moseq is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    import keypoint_moseq as kpms

    opts = apply_options(spec.options)
    project_dir, name = spec.project_dir, spec.name
    seed_dir = Path(project_dir) / name
    if seed_dir.exists():
        shutil.rmtree(seed_dir)
    data, metadata, config = _formatted(spec.keypoints, spec.pca_dir, spec.seg_length)
    pca = kpms.load_pca(spec.pca_dir)
    model = init_arhmm(data, pca, config, spec.seed, spec.arhmm_kappa, spec.num_states)
    n_ar, n_full = spec.arhmm_iters, spec.full_iters
    common = {"generate_progress_plots": False, "parallel_message_passing": opts.parallel_message_passing}
    model, _ = kpms.fit_model(
        model, data, metadata, project_dir, name, ar_only=True, num_iters=n_ar, save_every_n_iters=n_ar, **common
    )
    model["hypparams"]["trans_hypparams"]["kappa"] = spec.full_kappa
    model, _ = kpms.fit_model(
        model,
        data,
        metadata,
        project_dir,
        name,
        ar_only=False,
        start_iter=n_ar,
        num_iters=n_ar + n_full,
        save_every_n_iters=n_full,
        **common,
    )
    result = {
        "seed": spec.seed,
        "name": name,
        "iterations": n_ar + n_full,
        "median_duration": median_duration(model["states"]["z"], data["mask"]),
    }
    if spec.record:
        # local: imported only on the branch that needs it
        from ethoflow.core.io import write_json

        write_json(spec.record, {**result, "fingerprint": spec.fingerprint})
    return result


def fingerprint(params: dict[str, Any], files: list[str | os.PathLike]) -> str:
    """Hash of the params that change a search and of its input files."""
    h = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode())
    for f in files:
        h.update(sha256_file(f).encode())
    return h.hexdigest()[:16]


def target_frames(target_ms: tuple[float, float], fps: float) -> tuple[float, float]:
    """Target window in frames from milliseconds at ``fps`` Hz."""
    return (target_ms[0] * fps / 1000.0, target_ms[1] * fps / 1000.0)
