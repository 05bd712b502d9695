"""moseq_apply: the chosen model applied to new sessions (keypoint-moseq's ``apply_model``).

A named set of new sessions (``moseq.apply.sets.<name>``) is read with the same loader as training
(any ``keypoint_moseq.load_keypoints`` format), checked against the model (every modelled bodypart
present, same frame rate: otherwise an error naming the file), cleaned as the training sessions were
(fragments, NaN-heavy sessions, medoid-distance outliers), formatted with the model's config (its
PCA and latent_dim) and given syllables by ``apply_model`` (Gibbs sampling of the states with the
model's parameters fixed; Weinreb et al. 2024). Outputs use the training results' layout:
``<out>/model/results.h5`` and ``<out>/model/results/<session>.csv``, plus syllable frequencies
per session and per group, the transition graph per group (``plot_transition_graph_group``), and
the new sessions' syllable frequency, duration distribution and trajectory figures.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ethoflow.core.errors import InputError
from ethoflow.core.io import write_json
from ethoflow.core.logging import get_logger
from ethoflow.moseq import io
from ethoflow.moseq.fit import format_for_model
from ethoflow.moseq.framerate import file_frame_rates, reconcile
from ethoflow.moseq.params import MoseqParams, SessionSet
from ethoflow.moseq.plots import syllable_frequency_plot
from ethoflow.moseq.prepare import remove_outliers
from ethoflow.moseq.validation import duration_figure, kpms_png, trajectory_figure

if TYPE_CHECKING:
    import pandas as pd

log = get_logger(__name__)

MODEL_NAME = "model"
#: the collapse warnings :func:`usage_report` may name.
WARNINGS = ("one_syllable_dominates", "few_syllables_used")


def load_new_sessions(
    sessions: SessionSet, config: dict[str, Any], root: str | os.PathLike = "."
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Read a set of new sessions and arrange them like the training keypoints.

    Args:
        sessions: the set (files, format, fps).
        config: the model's kpms config (``bodyparts``, ``use_bodyparts``, ``fps``).

    Returns:
        ({session: (T, K, D) float64}, {session: (T, K) float64}) with K the model's ``bodyparts``
        in its order; a bodypart the files lack that the model does not use is NaN (confidence 0).

    Raises:
        InputError: a file cannot be read, lacks a bodypart the model uses, carries a frame rate
            that differs from the set's fps (NWB, SLEAP; :func:`ethoflow.moseq.framerate.reconcile`
            with the set's ``trust_fps``), or the set's fps differs from the model's (the files are named).
    """
    # local: keypoint_moseq is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    import keypoint_moseq as kpms

    model_fps = float(config["fps"])
    paths = io.resolve_paths(sessions.paths, root)
    set_fps, _, _ = reconcile(
        float(sessions.fps),
        "the set's fps",
        file_frame_rates(paths, sessions.format),
        sessions.trust_fps,
        key="moseq.apply.sets.<set>",
    )
    if abs(set_fps - model_fps) > 1e-6 * model_fps:
        raise InputError(
            f"{', '.join(paths)}: frame rate {set_fps:g} Hz differs from the model's {model_fps:g} Hz "
            f"(syllable durations would not match); resample the keypoints or fit a model at this rate"
        )
    model_bps = [str(b) for b in config["bodyparts"]]
    used = [str(b) for b in config["use_bodyparts"]]
    coords: dict[str, np.ndarray] = {}
    confs: dict[str, np.ndarray] = {}
    for path in paths:
        try:
            c, p, bps = kpms.load_keypoints(path, sessions.format, extension=sessions.extension)
        except Exception as exc:  # kpms raises assorted errors on bad files
            raise InputError(f"{path}: cannot load keypoints as {sessions.format!r}: {exc}") from exc
        bps = rename_bodyparts([str(b) for b in bps], sessions, path)
        missing = [b for b in used if b not in bps]
        if missing:
            raise InputError(
                f"{path}: bodyparts {missing} used by the model are missing (the file has {bps}"
                f"{' after renaming' if sessions.bodypart_map or sessions.strip_prefix else ''}); "
                "map other names with the set's bodypart_map or strip_prefix"
            )
        c, p = io.to_float64(c, p)
        for name in c:
            if name in coords:
                raise InputError(f"{path}: session name {name!r} appears in more than one file")
            t, _, d = c[name].shape
            arr = np.full((t, len(model_bps), d), np.nan)
            conf = np.zeros((t, len(model_bps)))
            for k, b in enumerate(model_bps):
                if b in bps:
                    arr[:, k] = c[name][:, bps.index(b)]
                    conf[:, k] = p[name][:, bps.index(b)]
            coords[name], confs[name] = arr, conf
    return coords, confs


def rename_bodyparts(names: list[str], sessions: SessionSet, path: str = "") -> list[str]:
    """The files' bodypart ``names`` under the model's names: ``sessions.strip_prefix`` removed where
    a name starts with it, then ``sessions.bodypart_map`` ({file name (after stripping, or as in the
    file): model name}).

    Raises:
        InputError: two file bodyparts would get the same name (``path`` named).
    """
    prefix = sessions.strip_prefix or ""
    out = []
    for b in names:
        if b in sessions.bodypart_map:
            out.append(sessions.bodypart_map[b])
            continue
        stripped = b[len(prefix) :] if prefix and b.startswith(prefix) else b
        out.append(sessions.bodypart_map.get(stripped, stripped))
    dup = sorted({b for b in out if out.count(b) > 1})
    if dup:
        raise InputError(f"{path}: bodyparts {dup} named twice after bodypart_map/strip_prefix (file: {names})")
    return out


def usage_report(
    res: dict[str, dict],
    training: dict[str, dict] | None,
    max_fraction: float = 0.5,
    min_syllables_fraction: float = 0.5,
) -> dict[str, Any]:
    """Syllable usage of applied sessions, their agreement with the training labels, collapse warnings.

    Args:
        res: {session: {"syllable": (T,) int}} from ``apply_model`` (``extract_results`` layout).
        training: the training results in the same layout (``moseq_results``' ``results.h5``), or
            ``None``. A session of ``res`` with the same name and frame count is a training session.
        max_fraction: above it, one syllable's share of all frames gives ``one_syllable_dominates``.
        min_syllables_fraction: fewer syllables used than this fraction of the training sessions'
            gives ``few_syllables_used``.

    Returns:
        ``usage`` {syllable: fraction of all frames, ranked}, ``syllables_used``,
        ``training_syllables`` (used in the training results, or ``None``), ``top_fraction``,
        ``agreement`` {session: fraction of frames whose applied syllable equals the training one}
        for the training sessions, ``agreement_mean`` (frame-weighted, ``None`` without any), and
        ``warnings``: a list of {``name``, ``message``}.
    """
    labels = np.concatenate([np.asarray(r["syllable"]).ravel() for r in res.values()])
    if labels.size == 0:
        raise InputError("no frames in the applied sessions")
    counts = np.bincount(labels)
    order = np.argsort(-counts, kind="stable")
    usage = {str(int(s)): round(float(counts[s] / labels.size), 6) for s in order if counts[s] > 0}
    top = max(usage.values())
    report: dict[str, Any] = {"usage": usage, "syllables_used": len(usage), "top_fraction": top}
    trained_used = None
    agreement: dict[str, float] = {}
    frames = 0
    agree = 0
    if training:
        trained_used = int(
            np.unique(np.concatenate([np.asarray(r["syllable"]).ravel() for r in training.values()])).size
        )
        for name, r in res.items():
            z = np.asarray(r["syllable"]).ravel()
            if name in training and np.asarray(training[name]["syllable"]).size == z.size:
                same = int(np.sum(z == np.asarray(training[name]["syllable"]).ravel()))
                agreement[name] = round(same / z.size, 6)
                frames += z.size
                agree += same
    report["training_syllables"] = trained_used
    report["agreement"] = agreement
    report["agreement_mean"] = round(agree / frames, 6) if frames else None
    warnings = []
    if top > max_fraction:
        s = next(iter(usage))
        warnings.append(
            {
                "name": "one_syllable_dominates",
                "message": f"syllable {s} covers {top:.0%} of the frames (> {max_fraction:.0%}): usage collapsed; "
                "raise moseq.apply.num_iters or check that the sessions match the training data",
            }
        )
    if trained_used and len(usage) < min_syllables_fraction * trained_used:
        warnings.append(
            {
                "name": "few_syllables_used",
                "message": f"{len(usage)} syllables used, fewer than {min_syllables_fraction:.0%} of the "
                f"{trained_used} the training sessions use: usage collapsed; raise moseq.apply.num_iters",
            }
        )
    report["warnings"] = warnings
    return report


def syllable_frequencies(res: dict[str, dict], groups: dict[str, str], num_states: int):
    """Frames per syllable per session and per group (long tables).

    Args:
        res: {session: {"syllable": (T,) int, ...}} (``extract_results`` layout).
        groups: {session: group}; sessions not listed are in ``default``.

    Returns:
        (per_session, per_group) DataFrames with columns ``session``/``group``, ``syllable``,
        ``frames`` and ``fraction`` (of that session's / group's frames); syllables with no frame
        in any session are left out.
    """
    # local: keeps ethoflow.moseq.apply importable without pandas
    import pandas as pd

    counts = {name: np.bincount(np.asarray(res[name]["syllable"]), minlength=num_states) for name in sorted(res)}
    used = np.flatnonzero(np.sum(list(counts.values()), axis=0) > 0)
    rows = []
    for name, c in counts.items():
        for s in used:
            rows.append(
                {"session": name, "group": groups.get(name, "default"), "syllable": int(s), "frames": int(c[s])}
            )
    per_session = pd.DataFrame(rows, columns=["session", "group", "syllable", "frames"])
    per_session["fraction"] = per_session["frames"] / per_session.groupby("session")["frames"].transform("sum")
    per_group = per_session.groupby(["group", "syllable"], as_index=False)["frames"].sum()
    per_group["fraction"] = per_group["frames"] / per_group.groupby("group")["frames"].transform("sum")
    return per_session, per_group


def transition_graph(out: Path, groups: dict[str, str], png: str | os.PathLike, max_bytes: int = 1_000_000) -> None:
    """``keypoint_moseq.plot_transition_graph_group`` for the results in ``out/model/results.h5``
    (bigram-normalised transition matrices per group, ``generate_transition_matrices``; syllables
    above 0.5% of frames; rows of syllables never left count as no transitions), saved as ``png``
    through :func:`ethoflow.moseq.validation.kpms_png` (kpms's PDF beside it is dropped). When kpms
    cannot draw it, ``png`` says why instead (a warning is logged)."""
    # local: keypoint_moseq is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    import keypoint_moseq as kpms
    import pandas as pd

    names = sorted(kpms.load_results(str(out), MODEL_NAME))
    index = pd.DataFrame({"name": names, "group": [groups.get(n, "default") for n in names]})
    index.to_csv(out / "index.csv", index=False)
    trans_mats, usages, group_names, syll_include = kpms.generate_transition_matrices(str(out), MODEL_NAME)
    # a syllable never left within a group gives a 0/0 row (NaN); NaN widths break kpms's PDF
    trans_mats = [np.nan_to_num(np.asarray(t, dtype=float)) for t in trans_mats]
    try:
        kpms_png(
            lambda tmp: kpms.plot_transition_graph_group(
                str(out), MODEL_NAME, group_names, trans_mats, usages, syll_include, save_dir=tmp
            ),
            "transition_graphs",
            png,
            max_bytes,
        )
    except (ValueError, ZeroDivisionError) as exc:  # e.g. a group whose syllables have no usage
        # local: matplotlib is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
        from matplotlib.figure import Figure

        from ethoflow.core.io import save_figure

        log.warning("transition graph not drawn: %s", exc)
        fig = Figure(figsize=(4.5, 1.5))
        fig.text(0.5, 0.5, f"no transition graph:\n{str(exc)[:120]}", ha="center", va="center", fontsize=8)
        save_figure(fig, png, dpi=100, format="png")


def apply_to_sessions(
    cfg: MoseqParams,
    set_name: str,
    model_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    plots_dir: str | os.PathLike,
    parallel_message_passing: bool | str | None = None,
    root: str | os.PathLike = ".",
    metrics_json: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Apply the model in ``model_dir`` (moseq_results' folder: ``config.yml`` with its PCA's
    latent_dim, ``model/checkpoint.h5``, syllables reindexed by frequency) to the session set
    ``moseq.apply.sets[set_name]``.

    Writes ``out_dir/model/results.h5`` and ``out_dir/model/results/<session>.csv`` (the training
    results' layout), ``out_dir/syllable_frequencies.csv`` (per session), ``.../group_frequencies.csv``
    (per group), ``out_dir/summary.json``, and in ``plots_dir`` the figures of the new sessions:
    ``transition_graph.png`` (per group), ``syllable_frequency.png`` (ranked by frame count),
    ``duration_histogram.png`` (kpms' duration distribution, the training target window shaded) and
    ``trajectories.png`` (kpms' trajectory plots, ``moseq.skeleton`` drawn). ``summary.json`` also
    holds the usage, the agreement with the training labels for training sessions and the collapse
    warnings (:func:`usage_report`, logged as warnings); ``metrics_json`` their numbers
    (:func:`apply_metrics`).

    Raises:
        InputError: unknown set, missing model, or new sessions that do not fit it (see
            :func:`load_new_sessions`).
    """
    # local: keypoint_moseq is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    import keypoint_moseq as kpms

    if set_name not in cfg.apply.sets:
        raise InputError(f"moseq.apply.sets has no set {set_name!r} (sets: {sorted(cfg.apply.sets)})")
    sessions = cfg.apply.sets[set_name]
    model_dir = Path(model_dir)
    if not (model_dir / MODEL_NAME / "checkpoint.h5").exists():
        raise InputError(f"{model_dir / MODEL_NAME / 'checkpoint.h5'} missing: run moseq_results first")
    config = io.read_kpms_config(model_dir)
    coords, data, metadata, cleaned = _model_data(cfg, sessions, config, root)
    model, _, _, _ = kpms.load_checkpoint(str(model_dir), MODEL_NAME)
    res = kpms.apply_model(
        model,
        data,
        metadata,
        num_iters=cfg.apply.num_iters,
        save_results=False,
        parallel_message_passing=parallel_message_passing,
        **{k: v for k, v in config.items() if k != "seed"},
    )
    res = {name: res[name] for name in sorted(res)}
    out, plots = Path(out_dir), Path(plots_dir)
    num_states = int(np.asarray(model["params"]["pi"]).shape[0])
    groups = {name: sessions.groups.get(name, "default") for name in res}
    per_group = _write_results(res, groups, num_states, out, plots)
    _apply_figures(cfg, res, coords, config, out, groups, num_states, plots)
    summary = {
        "set": set_name,
        "sessions": list(res),
        "groups": groups,
        "frames": {name: int(np.asarray(res[name]["syllable"]).size) for name in res},
        "dropped_fragments": cleaned.fragments,
        "excluded_nan_sessions": cleaned.nan_excluded,
        "num_iters": cfg.apply.num_iters,
        "syllables_used": int(per_group.loc[per_group["frames"] > 0, "syllable"].nunique()),
    }
    training = kpms.load_results(str(model_dir), MODEL_NAME)
    report = usage_report(res, training, cfg.apply.max_syllable_fraction, cfg.apply.min_syllables_fraction)
    summary.update(report)
    write_json(out / "summary.json", summary)
    _log_usage(set_name, summary, report)
    if metrics_json is not None:
        # local: imported only on the branch that needs it
        from ethoflow.core.io import write_metrics

        write_metrics(metrics_json, apply_metrics(summary))
    return summary


def _model_data(
    cfg: MoseqParams, sessions: SessionSet, config: dict[str, Any], root: str | os.PathLike
) -> tuple[dict[str, np.ndarray], dict[str, Any], Any, io.LoadReport]:
    """The new sessions read (:func:`load_new_sessions`), cleaned as ``moseq_load`` and
    ``moseq_outliers`` clean (``moseq.load``, ``moseq.outliers``), in float64 and formatted for the
    model (segments of ``moseq.model.seg_length``).

    Returns:
        (coordinates {session: (T, K, D)}, kpms data, kpms metadata, the cleaning report).
    """
    coords, confs = load_new_sessions(sessions, config, root)
    bodyparts = [str(b) for b in config["bodyparts"]]
    use_idx = [bodyparts.index(b) for b in config["use_bodyparts"]]
    coords, confs, report = io.clean_sessions(coords, confs, cfg.load.min_frames, cfg.load.max_nan_fraction, use_idx)
    coords, confs = remove_outliers(coords, confs, cfg.outliers.outlier_scale_factor, bodyparts)
    coords, confs = io.to_float64(coords, confs)
    data, metadata = format_for_model(coords, confs, config, cfg.model.seg_length)
    return coords, data, metadata, report


def _write_results(
    res: dict[str, dict], groups: dict[str, str], num_states: int, out: Path, plots: Path
) -> pd.DataFrame:
    """``out`` and ``plots`` emptied; the per-frame syllables in ``out/model`` (``results.h5`` and
    kpms' CSVs) and the syllable frequencies per session and per group (``groups``: {session: group})
    as CSVs. Returns the per-group frequencies (:func:`syllable_frequencies`)."""
    # local: keypoint_moseq is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    import keypoint_moseq as kpms
    from keypoint_moseq.io import save_hdf5

    for d in (out, plots):
        if d.exists():
            shutil.rmtree(d)
    (out / MODEL_NAME).mkdir(parents=True)
    plots.mkdir(parents=True)
    save_hdf5(str(out / MODEL_NAME / "results.h5"), res)
    kpms.save_results_as_csv(res, str(out), MODEL_NAME)
    per_session, per_group = syllable_frequencies(res, groups, num_states)
    per_session.to_csv(out / "syllable_frequencies.csv", index=False, float_format="%.6f", lineterminator="\n")
    per_group.to_csv(out / "group_frequencies.csv", index=False, float_format="%.6f", lineterminator="\n")
    return per_group


def _apply_figures(
    cfg: MoseqParams,
    res: dict[str, dict],
    coords: dict[str, np.ndarray],
    config: dict[str, Any],
    out: Path,
    groups: dict[str, str],
    num_states: int,
    plots: Path,
) -> None:
    """The new sessions' figures in ``plots``: transition graph per group (from the results in ``out``
    and the session ``groups``), syllable frequency (``num_states`` syllables), duration histogram (the
    training target window shaded), trajectories (``coords``: {session: (T, K, D)})."""
    transition_graph(out, groups, plots / "transition_graph.png")
    counts = np.bincount(np.concatenate([np.asarray(r["syllable"]) for r in res.values()]), minlength=num_states)
    syllable_frequency_plot(counts[:num_states], plots / "syllable_frequency.png")
    duration_figure(res, float(config["fps"]), cfg.full.target_duration_ms, plots / "duration_histogram.png")
    trajectory_figure(res, coords, config, cfg.skeleton, plots / "trajectories.png", seed=cfg.seed)


def _log_usage(set_name: str, summary: dict[str, Any], report: dict[str, Any]) -> None:
    """Log the sessions and syllables used, the agreement with the training labels and the collapse warnings."""
    log.info(
        "moseq_apply@%s: %d sessions, %d syllables used", set_name, len(summary["sessions"]), summary["syllables_used"]
    )
    if report["agreement"]:
        log.info(
            "moseq_apply@%s: agreement with the training labels %s (frames: %.1f%%)",
            set_name,
            ", ".join(f"{k} {v:.1%}" for k, v in report["agreement"].items()),
            100 * report["agreement_mean"],
        )
    for w in report["warnings"]:
        log.warning("moseq_apply@%s: %s: %s", set_name, w["name"], w["message"])


def apply_metrics(summary: dict[str, Any]) -> dict[str, Any]:
    """The apply's numbers as a flat metrics dict (written to ``metrics_json`` when a caller asks; the
    DVC stage keeps them in ``summary.json``, the project having one headline file per pipeline): sessions, frames,
    syllables used, the top syllable's fraction, the agreement with the training labels (when the
    set holds training sessions) and ``warnings`` {name: 1 when raised, else 0} (:data:`WARNINGS`)."""
    out = {
        "sessions": len(summary["sessions"]),
        "frames": int(sum(summary["frames"].values())),
        "syllables_used": summary["syllables_used"],
        "top_fraction": summary["top_fraction"],
        "num_iters": summary["num_iters"],
    }
    if summary.get("agreement_mean") is not None:
        out["agreement"] = summary["agreement_mean"]
    named = {w["name"] for w in summary["warnings"]}
    out["warnings"] = {name: int(name in named) for name in WARNINGS}
    return out
