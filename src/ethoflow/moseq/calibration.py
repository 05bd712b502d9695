"""Keypoint noise calibration: the confidence-to-error model keypoint-moseq's calibration fits.

keypoint-moseq's ``noise_calibration`` widget has a person click the true position of keypoints in
sampled frames and fits a line to ``log10(error + 1)`` (error: distance in pixels between the
tracked and the clicked position) against ``log10(confidence)`` (``np.polyfit`` of degree 1); the
slope and intercept become ``error_estimator`` in the kpms config, from which jax-moseq sets each
keypoint's noise prior (``estimate_error``: ``10 ** (2 * (log10(conf) * slope + intercept))``,
px^2). Labs that already have labelled frames need no clicking: a SLEAP project's user-labelled
instances next to the predicted ones on the same frames (or DeepLabCut's labelled data next to the
network's predictions) are the same measurement. :func:`sleap_labelled_pairs` pairs them,
:func:`fit_error_model` fits kpms' line, :func:`calibrate` writes the values and a plot.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ethoflow.core.errors import InputError
from ethoflow.core.io import save_figure, write_json
from ethoflow.core.logging import get_logger

log = get_logger(__name__)

#: added to confidences before the log, as keypoint-moseq's calibration does.
CONF_PSEUDOCOUNT = 1e-3


def sleap_labelled_pairs(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Every keypoint both user-labelled and predicted on the same frame of a SLEAP file.

    On each frame with user and predicted instances, each user instance is paired with the
    predicted instance nearest to it (mean distance over the nodes visible in both; a predicted
    instance a user instance was made from, ``from_predicted``, is taken as is), each predicted
    instance at most once.

    Returns:
        ``error`` (N,) px (distance between the user and the predicted point), ``confidence`` (N,)
        (the predicted point's score), ``node`` (N,) bodypart names.

    Raises:
        InputError: the file has no user-labelled instance on a frame with predictions (names it).
    """
    # local: sleap_io is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    import sleap_io as sio

    labels = sio.load_slp(str(path), open_videos=False)
    nodes = labels.skeletons[0].node_names if labels.skeletons else []
    errors, confs, names = [], [], []
    for lf in labels.labeled_frames:
        users, preds = list(lf.user_instances), list(lf.predicted_instances)
        if not users or not preds:
            continue
        free = list(range(len(preds)))
        for u in users:
            uxy = u.numpy()
            best = None
            if u.from_predicted is not None and any(preds[i] is u.from_predicted for i in free):
                best = next(i for i in free if preds[i] is u.from_predicted)
            else:
                dists = []
                for i in free:
                    both = ~np.isnan(uxy).any(1) & ~np.isnan(preds[i].numpy()).any(1)
                    d = np.linalg.norm(uxy[both] - preds[i].numpy()[both], axis=1).mean() if both.any() else np.inf
                    dists.append((d, i))
                if dists and np.isfinite(min(dists)[0]):
                    best = min(dists)[1]
            if best is None:
                continue
            free.remove(best)
            pxy = preds[best].numpy(scores=True)
            both = ~np.isnan(uxy).any(1) & ~np.isnan(pxy[:, :2]).any(1)
            errors.append(np.linalg.norm(uxy[both] - pxy[both, :2], axis=1))
            confs.append(pxy[both, 2])
            names.extend(np.asarray(nodes)[both].tolist())
    if not errors:
        raise InputError(
            f"{path}: no user-labelled instance on a frame with predictions: nothing to calibrate "
            "(label some predicted frames in SLEAP, or use another file)"
        )
    return {"error": np.concatenate(errors), "confidence": np.concatenate(confs), "node": np.array(names)}


def fit_error_model(
    error: np.ndarray, confidence: np.ndarray, conf_pseudocount: float = CONF_PSEUDOCOUNT
) -> dict[str, float]:
    """keypoint-moseq's confidence-to-error line: ``np.polyfit(log10(confidence + conf_pseudocount),
    log10(error + 1), 1)`` (error in px).

    Returns:
        ``slope``, ``intercept`` (kpms ``error_estimator``), ``n`` points, ``r`` (Pearson correlation of
        the two logs), ``conf_pseudocount``.

    Raises:
        InputError: fewer than 3 points, mismatched lengths, or confidences all equal.
    """
    e, c = np.asarray(error, dtype=float).ravel(), np.asarray(confidence, dtype=float).ravel()
    ok = np.isfinite(e) & np.isfinite(c) & (c >= 0)
    e, c = e[ok], c[ok]
    if e.size < 3 or e.size != c.size or np.ptp(c) == 0:
        raise InputError(f"calibration needs 3 or more points with varying confidence, got {e.size}")
    x, y = np.log10(c + conf_pseudocount), np.log10(e + 1.0)
    slope, intercept = np.polyfit(x, y, 1)
    return {
        "slope": float(slope),
        "intercept": float(intercept),
        "n": int(e.size),
        "r": float(np.corrcoef(x, y)[0, 1]),
        "conf_pseudocount": float(conf_pseudocount),
    }


def calibration_figure(pairs: dict[str, np.ndarray], fit: dict[str, float], png: str | os.PathLike) -> None:
    """log10(error + 1) against log10(confidence) of every labelled keypoint, with the fitted line."""
    # local: matplotlib is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    from matplotlib.figure import Figure

    x = np.log10(pairs["confidence"] + fit["conf_pseudocount"])
    y = np.log10(pairs["error"] + 1.0)
    fig = Figure(figsize=(5.0, 3.6))
    ax = fig.subplots()
    ax.scatter(x, y, s=6, alpha=0.4, color="tab:blue", linewidths=0)
    xs = np.linspace(x.min(), x.max(), 50)
    ax.plot(
        xs,
        fit["slope"] * xs + fit["intercept"],
        color="tab:red",
        label=(f"slope {fit['slope']:.3f}, intercept {fit['intercept']:.3f} (n={fit['n']}, r={fit['r']:.2f})"),
    )
    ax.set_xlabel("log10(confidence)")
    ax.set_ylabel("log10(error px + 1)")
    ax.set_title("keypoint error vs confidence (labelled vs predicted)", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, png, dpi=100)


def calibrate(
    paths: list[str], out_json: str | os.PathLike, png: str | os.PathLike, conf_threshold: float = 0.5
) -> dict[str, Any]:
    """Pair the user-labelled and predicted keypoints of the SLEAP files ``paths``
    (:func:`sleap_labelled_pairs`), fit kpms' line (:func:`fit_error_model`) and write
    ``out_json``: ``error_estimator`` {slope, intercept} and ``conf_threshold`` (the values kpms'
    ``save_params`` writes into its config and the model uses), plus ``n``, ``r``, the points per
    bodypart and the files; the plot to ``png``.

    Raises:
        InputError: a file without labelled frames, or too few points.
    """
    parts = [sleap_labelled_pairs(p) for p in paths]
    pairs = {k: np.concatenate([p[k] for p in parts]) for k in ("error", "confidence", "node")}
    fit = fit_error_model(pairs["error"], pairs["confidence"])
    nodes, counts = np.unique(pairs["node"], return_counts=True)
    result = {
        "error_estimator": {"slope": fit["slope"], "intercept": fit["intercept"]},
        "conf_threshold": float(conf_threshold),
        "n": fit["n"],
        "r": fit["r"],
        "conf_pseudocount": fit["conf_pseudocount"],
        "median_error_px": float(np.median(pairs["error"])),
        "points_per_bodypart": {str(n): int(c) for n, c in zip(nodes, counts)},
        "files": [str(Path(p).name) for p in paths],
    }
    Path(out_json).parent.mkdir(parents=True, exist_ok=True)
    calibration_figure(pairs, fit, png)
    write_json(out_json, result)
    log.info(
        "noise calibration: slope %.4f, intercept %.4f from %d labelled keypoints (r %.2f)",
        fit["slope"],
        fit["intercept"],
        fit["n"],
        fit["r"],
    )
    return result
