"""Keypoint noise calibration: the confidence-to-error model keypoint-moseq's calibration fits.

keypoint-moseq's ``noise_calibration`` widget has a person click the true position of keypoints in
sampled frames and fits a line to ``log10(error + 1)`` (error: distance in pixels between the
tracked and the clicked position) against ``log10(confidence)`` (``np.polyfit`` of degree 1); the
slope and intercept become ``error_estimator`` in the kpms config, from which jax-moseq sets each
keypoint's noise prior (``estimate_error``: ``10 ** (2 * (log10(conf) * slope + intercept))``,
px^2). Labs that already have labelled frames need no clicking: a SLEAP project's user-labelled
instances next to the predicted ones on the same frames (or DeepLabCut's labelled data next to the
network's predictions) are the same measurement. :func:`sleap_labelled_pairs` and
:func:`dlc_labelled_pairs` pair them, :func:`fit_error_model` fits kpms' line, :func:`calibrate`
writes the values and a plot.

DeepLabCut layout (DeepLabCut's project documentation; both tables read with pandas): a project's labelled
frames are ``labeled-data/<video>/CollectedData_<scorer>.h5`` (and the same table as ``.csv``), a
table with column levels scorer / [individuals] / bodyparts / coords (``x``, ``y``) and one row per
extracted image, indexed by its path (``labeled-data/<video>/img0123.png``, or since DeepLabCut 2.2
the three levels ``labeled-data``, ``<video>``, ``img0123.png``) whose number is the video frame
index; ``analyze_videos`` writes ``<video>DLC_<scorer>....h5`` with one row per video frame and
coords ``x``, ``y``, ``likelihood``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from ethoflow.core.errors import InputError
from ethoflow.core.inputs import check_hdf5
from ethoflow.core.io import save_figure, write_json
from ethoflow.core.logging import get_logger
from ethoflow.core.pose_files import check_keypoint_file

log = get_logger(__name__)

#: added to confidences before the log, as keypoint-moseq's calibration does.
CONF_PSEUDOCOUNT = 1e-3
#: multi-animal DeepLabCut's individual for unique bodyparts; keypoint-moseq's loader leaves it out.
DLC_SINGLE = "single"


def _mean_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean distance (px) between two (K, 2) keypoint sets over the keypoints visible in both; inf if none."""
    both = ~np.isnan(a).any(1) & ~np.isnan(b).any(1)
    return float(np.linalg.norm(a[both] - b[both], axis=1).mean()) if both.any() else np.inf


def _nearest_free(xy: np.ndarray, candidates: list[np.ndarray], free: list[int]) -> int | None:
    """Index (in ``free``'s terms) of the candidate nearest ``xy`` (:func:`_mean_distance`), None if none overlaps."""
    dists = [(_mean_distance(xy, candidates[i]), i) for i in free]
    return min(dists)[1] if dists and np.isfinite(min(dists)[0]) else None


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
            if u.from_predicted is not None and any(preds[i] is u.from_predicted for i in free):
                best = next(i for i in free if preds[i] is u.from_predicted)
            else:
                best = _nearest_free(uxy, [p.numpy() for p in preds], free)
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


def _dlc_image_frame(path: Path, row: int, entry: Any) -> tuple[str, int]:
    """(video, frame index) of one labelled row's image name: ``labeled-data/<video>/img0123.png``
    (``/`` or ``\\``) or the tuple ``("labeled-data", "<video>", "img0123.png")``; a bare image name
    belongs to the folder ``path`` lies in."""
    parts = [str(p) for p in entry] if isinstance(entry, tuple) else re.split(r"[\\/]", str(entry))
    parts = [p for p in parts if p]
    match = re.search(r"(\d+)$", Path(parts[-1]).stem) if parts else None
    if match is None:
        raise InputError(
            f"{path}: row {row}: image name {entry!r} has no frame number (DeepLabCut names extracted "
            "frames labeled-data/<video>/img<frame>.png)"
        )
    return (parts[-2] if len(parts) > 1 else path.parent.name), int(match.group(1))


def _read_dlc_table(path: Path):
    """A DeepLabCut table (``.h5`` or ``.csv``: labelled data or predictions) as pandas reads it, column
    levels named (the CSV's header rows: 3, or 4 with ``individuals``; its index columns: 1, or 3 since
    DeepLabCut 2.2)."""
    # local: keeps ethoflow.moseq.calibration importable without pandas
    import pandas as pd

    if path.suffix.lower() in (".h5", ".hdf5"):
        check_hdf5(path)
        try:
            df = pd.read_hdf(path)
        except Exception as exc:  # noqa: BLE001 - pandas/PyTables raise assorted errors on a foreign HDF5 layout
            raise InputError(f"{path}: not a DeepLabCut table (pandas cannot read it: {exc})") from None
        if not isinstance(df, pd.DataFrame) or not isinstance(df.columns, pd.MultiIndex):
            raise InputError(f"{path}: not a DeepLabCut table (no column levels)")
        return df
    with open(path, encoding="utf-8", errors="replace") as f:
        head = [f.readline().rstrip("\r\n").split(",") for _ in range(4)]
    levels = 4 if len(head[1]) > 0 and head[1][0].strip() == "individuals" else 3
    want = ["scorer", "individuals", "bodyparts", "coords"] if levels == 4 else ["scorer", "bodyparts", "coords"]
    if [r[0].strip() for r in head[:levels]] != want:
        raise InputError(
            f"{path}: not a DeepLabCut CSV: its first column reads "
            f"{[r[0].strip() for r in head[:levels]]}, expected {want}"
        )
    n_index = 1 + next((i for i, c in enumerate(head[0][1:]) if c.strip()), 0)  # DeepLabCut >= 2.2: 3
    df = pd.read_csv(path, header=list(range(levels)), index_col=list(range(n_index)))
    df.columns = df.columns.set_names(want)
    return df


def _dlc_array(path: Path, df, coords: tuple[str, ...]) -> tuple[np.ndarray, list[str]]:
    """A DeepLabCut table's values as (rows, I, K, len(coords)), bodyparts in file order (multi-animal:
    the individuals but ``single``, the unique bodyparts keypoint-moseq's loader leaves out)."""
    names = list(df.columns.names)
    if "bodyparts" not in names or "coords" not in names:
        raise InputError(f"{path}: not a DeepLabCut table: column levels {names}")
    multi = "individuals" in names
    inds = (
        [i for i in dict.fromkeys(df.columns.get_level_values("individuals")) if i != DLC_SINGLE] if multi else [None]
    )
    if not inds:
        raise InputError(f"{path}: only the individual {DLC_SINGLE!r} (unique bodyparts): nothing to pair")
    first = df.xs(inds[0], axis=1, level="individuals") if multi else df
    bodyparts = [str(b) for b in dict.fromkeys(first.columns.get_level_values("bodyparts"))]
    blocks = []
    for ind in inds:
        part = (df.xs(ind, axis=1, level="individuals") if multi else df).droplevel("scorer", axis=1)
        missing = [(b, c) for b in bodyparts for c in coords if (b, c) not in part.columns]
        if missing:
            who = f" of individual {ind!r}" if multi else ""
            raise InputError(f"{path}: no column for {missing[:4]}{who} (expected {list(coords)} per bodypart)")
        try:
            blocks.append(part[[(b, c) for b in bodyparts for c in coords]].to_numpy(float))
        except ValueError as exc:
            raise InputError(f"{path}: non-numeric values ({exc})") from None
    return np.stack(blocks, 1).reshape(len(df), len(inds), len(bodyparts), len(coords)), bodyparts


def dlc_labelled_frames(path: str | os.PathLike) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], list[str]]:
    """The labelled keypoints of one DeepLabCut ``CollectedData_<scorer>`` file (``.h5`` or ``.csv``,
    single- or multi-animal; multi-animal ``single`` unique bodyparts left out, as keypoint-moseq's
    loader leaves them out).

    Returns:
        ``{video: (frames (F,) video frame indexes, xy (F, I, K, 2) px, NaN where not labelled)}``
        (I individuals, 1 for single-animal) and the K bodyparts in file order.

    Raises:
        InputError: unreadable file, not DeepLabCut's column levels, a bodypart without ``x``/``y``,
            non-numeric values, an image name without a frame number (names the file and row).
    """
    path = Path(path)
    df = _read_dlc_table(path)
    xy, bodyparts = _dlc_array(path, df, ("x", "y"))
    keys = [_dlc_image_frame(path, row, entry) for row, entry in enumerate(df.index)]
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for video in dict.fromkeys(k[0] for k in keys):
        rows = [r for r, k in enumerate(keys) if k[0] == video]
        out[video] = (np.array([keys[r][1] for r in rows]), xy[rows])
    return out, bodyparts


def _unique_tables(paths: list[str]) -> list[Path]:
    """``paths`` with a ``.csv`` left out where the ``.h5`` of the same name is there (DeepLabCut writes both)."""
    files = [Path(p) for p in dict.fromkeys(paths)]
    h5 = {p.with_suffix("") for p in files if p.suffix.lower() in (".h5", ".hdf5")}
    return [p for p in files if not (p.suffix.lower() == ".csv" and p.with_suffix("") in h5)]


def _dlc_predictions_for(video: str, labelled: Path, predictions: list[Path]) -> Path:
    """The one predictions file of ``video`` (DeepLabCut names it ``<video>DLC_<scorer>...``)."""
    hits = [p for p in predictions if p.name.startswith(f"{video}DLC")]
    if not hits:
        raise InputError(
            f"{labelled}: video {video!r}: no predictions file named {video}DLC_<scorer>... among "
            f"{[p.name for p in predictions]} (run analyze_videos on every labelled video)"
        )
    if len(hits) > 1:
        raise InputError(
            f"{labelled}: video {video!r}: {len(hits)} predictions files {[p.name for p in hits]} "
            "(e.g. filtered and unfiltered): narrow the predictions pattern to one per video"
        )
    return hits[0]


def _dlc_predictions(path: Path, bodyparts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """xy (T, J, K, 2) px and likelihood (T, J, K) of an ``analyze_videos`` file (J individuals),
    bodyparts in the labelled file's order; the layout checked first
    (:func:`ethoflow.core.pose_files.check_keypoint_file`). Read with pandas, not keypoint-moseq's
    loader: kpms 0.8.1 returns a multi-animal file's bodyparts as a set, in no fixed order."""
    check_keypoint_file(path, "deeplabcut")
    values, predicted = _dlc_array(path, _read_dlc_table(path), ("x", "y", "likelihood"))
    if set(predicted) != set(bodyparts):
        raise InputError(
            f"{path}: bodyparts differ from the labelled data: only labelled "
            f"{sorted(set(bodyparts) - set(predicted))}, only predicted {sorted(set(predicted) - set(bodyparts))}"
        )
    order = [predicted.index(b) for b in bodyparts]
    return values[:, :, order, :2], values[:, :, order, 2]


def dlc_labelled_pairs(paths: list[str], predictions: list[str]) -> dict[str, Any]:
    """Every keypoint both labelled in a DeepLabCut project and predicted by ``analyze_videos`` on the
    same video frame (:func:`dlc_labelled_frames`; a ``.csv`` next to its ``.h5`` read once).

    Each labelled video (its ``labeled-data`` folder name) is paired with the predictions file named
    ``<video>DLC...``; labelled frame n with predictions row n. On each frame each labelled individual
    is paired with the nearest predicted one (mean distance over bodyparts visible in both), each
    predicted one at most once, so identity swaps of a multi-animal tracker do not count as errors.

    Returns:
        ``error`` (N,) px, ``confidence`` (N,) (the likelihood), ``node`` (N,) bodyparts, ``files``
        (the labelled and predictions files used).

    Raises:
        InputError: a video without (or with several) predictions files, bodyparts that differ
            between labels and predictions (named), no labelled frame among the predicted ones (names
            both files), and the errors of :func:`dlc_labelled_frames`.
    """
    preds = _unique_tables(predictions)
    errors, confs, names, used = [], [], [], []
    for labelled in _unique_tables(paths):
        videos, bodyparts = dlc_labelled_frames(labelled)
        used.append(labelled)
        for video, (frames, lxy) in videos.items():
            pred_path = _dlc_predictions_for(video, labelled, preds)
            pxy, pconf = _dlc_predictions(pred_path, bodyparts)
            used.append(pred_path)
            inside = (frames >= 0) & (frames < len(pxy))
            if not inside.any():
                raise InputError(
                    f"{labelled}: no labelled frame of video {video!r} (frames {sorted(frames.tolist())[:5]}...) "
                    f"is among the {len(pxy)} frames of {pred_path}: not the predictions of this video?"
                )
            if not inside.all():
                log.warning(
                    "%s: %d labelled frames lie past the %d of %s: left out",
                    labelled,
                    (~inside).sum(),
                    len(pxy),
                    pred_path,
                )
            for frame, fxy in zip(frames[inside], lxy[inside]):
                free = list(range(pxy.shape[1]))
                for ind in fxy:
                    best = _nearest_free(ind, list(pxy[frame]), free)
                    if best is None:
                        continue
                    free.remove(best)
                    both = ~np.isnan(ind).any(1) & ~np.isnan(pxy[frame, best]).any(1)
                    errors.append(np.linalg.norm(ind[both] - pxy[frame, best][both], axis=1))
                    confs.append(pconf[frame, best][both])
                    names.extend(np.asarray(bodyparts)[both].tolist())
    if not errors:
        raise InputError(
            f"{', '.join(map(str, paths))}: no labelled keypoint next to a predicted one: nothing to calibrate"
        )
    return {
        "error": np.concatenate(errors),
        "confidence": np.concatenate(confs),
        "node": np.array(names),
        "files": [str(p) for p in dict.fromkeys(used)],
    }


def fit_error_model(
    error: np.ndarray, confidence: np.ndarray, conf_pseudocount: float = CONF_PSEUDOCOUNT
) -> dict[str, float]:
    """keypoint-moseq's confidence-to-error line: ``np.polyfit(log10(confidence + conf_pseudocount),
    log10(error + 1), 1)`` (error in px).

    Returns:
        ``slope``, ``intercept`` (kpms ``error_estimator``), ``n`` points, ``r`` (Pearson correlation of
        the two logs), ``conf_pseudocount``.

    Raises:
        InputError: fewer than 3 points, mismatched lengths, confidences all equal, or errors all
            equal (labels copied from the predictions).
    """
    e, c = np.asarray(error, dtype=float).ravel(), np.asarray(confidence, dtype=float).ravel()
    ok = np.isfinite(e) & np.isfinite(c) & (c >= 0)
    e, c = e[ok], c[ok]
    if e.size < 3 or e.size != c.size or np.ptp(c) == 0:
        raise InputError(f"calibration needs 3 or more points with varying confidence, got {e.size}")
    if np.ptp(e) == 0:
        raise InputError(
            f"all {e.size} labelled keypoints lie {e[0]:g} px from the predicted ones: nothing to fit "
            "(labels copied from the predictions, e.g. machine labels accepted unchanged?)"
        )
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
    paths: list[str],
    out_json: str | os.PathLike,
    png: str | os.PathLike,
    conf_threshold: float = 0.5,
    fmt: str = "sleap",
    predictions: list[str] | None = None,
) -> dict[str, Any]:
    """Pair the labelled and predicted keypoints (``fmt`` ``sleap``: the ``.slp`` files ``paths``,
    :func:`sleap_labelled_pairs`; ``deeplabcut``: the ``CollectedData`` files ``paths`` with the
    ``analyze_videos`` files ``predictions``, :func:`dlc_labelled_pairs`), fit kpms' line
    (:func:`fit_error_model`) and write ``out_json``: ``error_estimator`` {slope, intercept} and
    ``conf_threshold`` (the values kpms' ``save_params`` writes into its config and the model uses),
    plus ``n``, ``r``, the points per bodypart and the files; the plot to ``png``.

    Raises:
        InputError: a file without labelled frames, too few points, or the errors of the pairing
            function.
    """
    if fmt == "deeplabcut":
        pairs = dlc_labelled_pairs(paths, predictions or [])
        files = pairs["files"]
    elif fmt == "sleap":
        parts = [sleap_labelled_pairs(p) for p in paths]
        pairs = {k: np.concatenate([p[k] for p in parts]) for k in ("error", "confidence", "node")}
        files = paths
    else:
        raise InputError(f"calibration format {fmt!r}: expected 'sleap' or 'deeplabcut'")
    try:
        fit = fit_error_model(pairs["error"], pairs["confidence"])
    except InputError as exc:
        raise InputError(f"{', '.join(map(str, files))}: {exc}") from None
    nodes, counts = np.unique(pairs["node"], return_counts=True)
    result = {
        "error_estimator": {"slope": fit["slope"], "intercept": fit["intercept"]},
        "conf_threshold": float(conf_threshold),
        "n": fit["n"],
        "r": fit["r"],
        "conf_pseudocount": fit["conf_pseudocount"],
        "median_error_px": float(np.median(pairs["error"])),
        "points_per_bodypart": {str(n): int(c) for n, c in zip(nodes, counts)},
        "files": [str(Path(p).name) for p in files],
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
