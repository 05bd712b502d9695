"""moseq_load, moseq_outliers and moseq_pca: keypoints in, cleaned keypoints and PCA out."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from ethoflow.core.errors import InputError, ParamsError
from ethoflow.core.io import save_figure, write_json
from ethoflow.core.logging import get_logger
from ethoflow.moseq import io, jaxcache
from ethoflow.moseq.framerate import file_frame_rates, reconcile
from ethoflow.moseq.params import LoadParams, MoseqParams
from ethoflow.moseq.plots import scree_plot

log = get_logger(__name__)

KEYPOINTS = "keypoints.p"
MAX_PLOT_BYTES = 1_000_000


def load(cfg: MoseqParams, out_dir: str | os.PathLike, root: str | os.PathLike = ".") -> dict[str, Any]:
    """moseq_load: read keypoints, cast to float64, drop fragments and NaN-heavy sessions, write the
    kpms config (bodyparts, use_bodyparts, anterior/posterior bodyparts, fps) and ``keypoints.p``.

    Returns:
        The load report (also written to ``out_dir/load_report.json``).

    Raises:
        InputError: unreadable files, unknown bodyparts, nothing left after cleaning, no fps.
    """
    p = cfg.load
    paths = io.resolve_paths(p.paths, root)
    required = {
        f"moseq.load.{k}": getattr(p, k) for k in ("use_bodyparts", "anterior_bodyparts", "posterior_bodyparts")
    }
    coords, confs, bodyparts = io.load_keypoint_files(paths, p.format, p.extension, required)
    use = _used_bodyparts(p, bodyparts)
    use_idx = [bodyparts.index(b) for b in use]
    coords, confs, report = io.clean_sessions(coords, confs, p.min_frames, p.max_nan_fraction, use_idx)
    fps, fps_source, fps_notes = _frame_rate(p, paths, root)
    out = Path(out_dir)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    io.write_kpms_config(
        out,
        bodyparts=bodyparts,
        use_bodyparts=use,
        anterior_bodyparts=list(p.anterior_bodyparts),
        posterior_bodyparts=list(p.posterior_bodyparts),
        skeleton=[],
        fps=fps,
        video_dir="",
    )
    io.save_keypoints(out / KEYPOINTS, coords, confs, bodyparts)
    summary = {
        "files": [os.path.relpath(x, root) for x in paths],
        "format": p.format,
        "fps": fps,
        "fps_source": fps_source,
        "fps_disagreements": fps_notes,
        "bodyparts": bodyparts,
        "use_bodyparts": use,
        "sessions": report.kept,
        "frames": {k: int(v.shape[0]) for k, v in coords.items()},
        "nan_fraction": report.nan_fraction,
        "dropped_fragments": report.fragments,
        "excluded_nan_sessions": report.nan_excluded,
        "min_frames": p.min_frames,
        "max_nan_fraction": p.max_nan_fraction,
    }
    write_json(out / "load_report.json", summary)
    log.info(
        "loaded %d sessions (%d fragments dropped, %d NaN-heavy sessions excluded), fps %.4g (%s)",
        len(report.kept),
        len(report.fragments),
        len(report.nan_excluded),
        fps,
        fps_source,
    )
    return summary


def _used_bodyparts(p: LoadParams, bodyparts: list[str]) -> list[str]:
    """The bodyparts the model uses (``moseq.load.use_bodyparts``, default: all the files'), checked
    against the files' ``bodyparts``.

    Raises:
        ParamsError: ``moseq.load.bodyparts`` differ from the files', a named bodypart is not in the
            files, or an anterior/posterior bodypart is not used.
    """
    if p.bodyparts is not None and list(p.bodyparts) != bodyparts:
        raise ParamsError(f"moseq.load.bodyparts {p.bodyparts} do not match the files' bodyparts {bodyparts}")
    use = list(p.use_bodyparts) if p.use_bodyparts else list(bodyparts)
    for key, names in (
        ("use_bodyparts", use),
        ("anterior_bodyparts", p.anterior_bodyparts),
        ("posterior_bodyparts", p.posterior_bodyparts),
    ):
        bad = [n for n in names if n not in bodyparts]
        if bad:
            raise ParamsError(f"moseq.load.{key}: {bad} not among the files' bodyparts {bodyparts}")
    for key, names in (("anterior_bodyparts", p.anterior_bodyparts), ("posterior_bodyparts", p.posterior_bodyparts)):
        bad = [n for n in names if n not in use]
        if bad:
            raise ParamsError(f"moseq.load.{key}: {bad} must also be in use_bodyparts")
    return use


def _frame_rate(p: LoadParams, paths: list[str], root: str | os.PathLike) -> tuple[float, str, list[str]]:
    """(fps, its source, disagreements): ``moseq.load.fps`` or the videos' in ``moseq.load.video_dir``,
    reconciled with the keypoint files' own rates (:func:`ethoflow.moseq.framerate.reconcile`).

    Raises:
        InputError: no fps, or files disagreeing with it beyond ``trust_fps`` (see ``reconcile``).
    """
    if p.fps is not None:
        fps, fps_source = float(p.fps), "params"
    else:
        vdir = p.video_dir if os.path.isabs(p.video_dir) else os.path.join(root, p.video_dir)
        fps, fps_source = io.detect_fps(vdir), f"video in {p.video_dir}"

    return reconcile(fps, fps_source, file_frame_rates(paths, p.format), p.trust_fps)


def _shrink_png(path: Path, limit: int = MAX_PLOT_BYTES) -> None:
    """Downscale a PNG in place until it is under ``limit`` bytes (kpms saves QA plots at 300 dpi)."""
    # local: keeps ethoflow.moseq.prepare importable without PIL
    from PIL import Image

    while path.stat().st_size >= limit:
        with Image.open(path) as im:
            im.load()
            small = im.resize((max(1, im.width * 7 // 10), max(1, im.height * 7 // 10)), Image.LANCZOS)
        small.save(path, optimize=True)


def outlier_qa_figure(
    recording: str,
    raw: np.ndarray,
    interpolated: np.ndarray,
    mask: np.ndarray,
    thresholds: np.ndarray,
    bodyparts: list[str],
):
    """keypoint-moseq's outlier QA figure for one recording (as ``outlier_removal`` draws it:
    ``plot_keypoint_traces`` of the distance to the medoid before and after interpolation, the
    thresholds, outlier frames shaded); the caller saves it (``save_figure``) at the dpi it wants.

    Args:
        raw / interpolated: (T, K, D) coordinates before and after interpolation.
        mask: (T, K) bool, positions interpolated (outliers or missing).
        thresholds: (K,) distance thresholds (pixels).
    """
    # local: keypoint_moseq is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    from keypoint_moseq.util import get_distance_to_medoid, plot_keypoint_traces

    return plot_keypoint_traces(
        traces=[get_distance_to_medoid(raw), get_distance_to_medoid(interpolated)],
        plot_title=recording,
        bodyparts=bodyparts,
        line_labels=["Original", "Interpolated"],
        thresholds=thresholds,
        shading_mask=mask,
    )


def remove_outliers(
    coordinates: dict[str, np.ndarray],
    confidences: dict[str, np.ndarray],
    outlier_scale_factor: float,
    bodyparts: list[str],
    plots_dir: str | os.PathLike | None = None,
    plot_dpi: int = 80,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Medoid-distance outliers interpolated and their confidences (and those of missing keypoints)
    set to 0, recording by recording, as ``keypoint_moseq.outlier_removal`` does (with its
    ``find_medoid_distance_outliers`` and ``interpolate_keypoints``), but with the QA figure
    (:func:`outlier_qa_figure`) saved as ``plots_dir/<recording>.png`` at ``plot_dpi`` through
    :func:`ethoflow.core.io.save_figure` (kpms hard-codes 300 dpi: slow and over 1 MB).

    Args:
        coordinates: {recording: (T, K, D)}; confidences: {recording: (T, K)}. Not modified.

    Returns:
        (coordinates, confidences) with outliers and missing positions interpolated / set to 0.
    """
    # local: keypoint_moseq is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    from keypoint_moseq.util import find_medoid_distance_outliers, interpolate_keypoints

    coords_out, confs_out = {}, {}
    for name in coordinates:
        raw = coordinates[name].copy()
        found = find_medoid_distance_outliers(raw, outlier_scale_factor=outlier_scale_factor)
        mask = found["mask"] | np.isnan(raw).any(axis=-1)
        coords_out[name] = interpolate_keypoints(raw, mask)
        confs_out[name] = np.where(mask, 0, confidences[name])
        if plots_dir is not None:
            fig = outlier_qa_figure(name, raw, coords_out[name], mask, found["thresholds"], bodyparts)
            save_figure(fig, Path(plots_dir) / f"{name}.png", dpi=plot_dpi)
    return coords_out, confs_out


def outliers(
    cfg: MoseqParams,
    load_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    plots_dir: str | os.PathLike | None,
) -> dict[str, Any]:
    """moseq_outliers: :func:`remove_outliers` (keypoint-moseq's medoid-distance outliers
    interpolated, their confidences set to 0) with QA plots kept under 1 MB each (``plots_dir``
    ``None``: no plots; they take ~1 s per recording, the removal itself milliseconds).

    Returns:
        {session: fraction of keypoint positions interpolated} (also ``out_dir/outliers.json``).
    """
    jaxcache.enable()

    coords, confs, bodyparts = io.load_keypoints_pickle(Path(load_dir) / KEYPOINTS)
    io.read_kpms_config(load_dir)  # validates the project config before any work
    out, plots = Path(out_dir), None if plots_dir is None else Path(plots_dir)
    for d in [p for p in (out, plots) if p is not None]:
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
    before = {k: np.isnan(v).any(-1) | (confs[k] == 0) for k, v in coords.items()}
    coords2, confs2 = remove_outliers(
        coords, confs, cfg.outliers.outlier_scale_factor, bodyparts, plots, cfg.outliers.plot_dpi
    )
    for png in sorted(plots.glob("*.png")) if plots is not None else ():
        _shrink_png(png)
    coords2, confs2 = io.to_float64(coords2, confs2)
    io.save_keypoints(out / KEYPOINTS, coords2, confs2, bodyparts)
    shutil.copy2(Path(load_dir) / "config.yml", out / "config.yml")
    frac = {k: round(float(((confs2[k] == 0) & ~before[k]).mean()), 6) for k in coords2}
    write_json(
        out / "outliers.json", {"outlier_fraction": frac, "outlier_scale_factor": cfg.outliers.outlier_scale_factor}
    )
    log.info("outliers: %s", ", ".join(f"{k} {100 * v:.2f}%" for k, v in frac.items()))
    return frac


def choose_latent_dim(explained_variance_ratio: np.ndarray, threshold: float) -> int:
    """Fewest principal components whose cumulative explained variance reaches ``threshold``.

    Args:
        explained_variance_ratio: (n_components,) fractions, descending (sklearn PCA).
        threshold: in (0, 1].

    Returns:
        latent_dim >= 1; all components when even all of them fall short (a warning is logged).
    """
    ratio = np.asarray(explained_variance_ratio, dtype=float)
    if ratio.ndim != 1 or ratio.size == 0:
        raise InputError("PCA has no components")
    cum = np.cumsum(ratio)
    hit = np.nonzero(cum >= threshold - 1e-12)[0]
    if hit.size == 0:
        log.warning("all %d PCs explain only %.3f < variance_threshold %.3f", ratio.size, cum[-1], threshold)
        return int(ratio.size)
    return int(hit[0] + 1)


def pca(
    cfg: MoseqParams,
    outliers_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    scree_png: str | os.PathLike,
    metrics_json: str | os.PathLike,
    pcs_png: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """moseq_pca: fit PCA on aligned poses (``kpms.fit_pca``; keypoints below
    ``moseq.model.conf_threshold`` interpolated over first), latent_dim by ``variance_threshold``,
    ``pca.p`` and a scree plot; the kpms config in ``out_dir`` gets ``latent_dim`` and
    ``conf_threshold`` (the later stages start from it). With ``pcs_png``: kpms' ``plot_pcs`` (the
    mean pose and its perturbation along each PC, ``moseq.skeleton`` drawn)."""
    jaxcache.enable()
    # local: keypoint_moseq is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    import keypoint_moseq as kpms

    coords, confs, _ = io.load_keypoints_pickle(Path(outliers_dir) / KEYPOINTS)
    out = Path(out_dir)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    shutil.copy2(Path(outliers_dir) / "config.yml", out / "config.yml")
    config = io.update_kpms_config(
        out,
        conf_threshold=float(cfg.model.conf_threshold),
        error_estimator=cfg.model.error_estimator.model_dump(),
    )
    data, _ = kpms.format_data(coords, confs, **config)
    model = kpms.fit_pca(**data, **config)
    ratio = np.asarray(model.explained_variance_ratio_, dtype=float)
    latent_dim = choose_latent_dim(ratio, cfg.pca.variance_threshold)
    kpms.save_pca(model, str(out))
    config = io.update_kpms_config(out, latent_dim=latent_dim)
    scree_plot(ratio, latent_dim, cfg.pca.variance_threshold, scree_png)
    if pcs_png is not None:
        # local: imported only on the branch that needs it
        from ethoflow.moseq.validation import pcs_figure

        pcs_figure(model, config, cfg.skeleton, pcs_png)
    metrics = {
        "latent_dim": latent_dim,
        "variance_explained": round(float(np.cumsum(ratio)[latent_dim - 1]), 6),
        "variance_threshold": cfg.pca.variance_threshold,
        "n_components": int(ratio.size),
    }
    write_json(metrics_json, metrics)
    log.info("PCA: latent_dim %d explains %.3f of the variance", latent_dim, metrics["variance_explained"])
    return metrics
