"""Loading keypoints for Keypoint-MoSeq and the files passed between moseq stages.

Keypoints are read with ``keypoint_moseq.load_keypoints`` (Weinreb et al. 2024), cast to float64
(sleap-io gives float32, which ``init_model`` rejects), track fragments shorter than ``min_frames``
are dropped and sessions with too many missing coordinates excluded (PCA collapses on them).
Between stages the keypoints travel as one pickle: ``{"coordinates": {session: (T, K, D) float64},
"confidences": {session: (T, K) float64}, "bodyparts": [K names]}``, sessions sorted by name.
"""

from __future__ import annotations

import glob
import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ethoflow.core.errors import InputError
from ethoflow.core.inputs import check_pose_sessions, walk_input_files
from ethoflow.core.io import atomic_path, to_plain
from ethoflow.core.logging import get_logger
from ethoflow.core.pose_files import FORMAT_EXTENSIONS, check_bodyparts, check_keypoint_file

log = get_logger(__name__)

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".m4v", ".mpg", ".mpeg")


@dataclass
class LoadReport:
    """What :func:`clean_sessions` kept and why it dropped the rest.

    Attributes:
        kept: session names kept.
        fragments: {session: tracked frames} of tracks shorter than ``min_frames``.
        nan_excluded: {session: NaN fraction} of sessions over ``max_nan_fraction``.
        nan_fraction: {session: NaN fraction} of kept sessions.
    """

    kept: list[str] = field(default_factory=list)
    fragments: dict[str, int] = field(default_factory=dict)
    nan_excluded: dict[str, float] = field(default_factory=dict)
    nan_fraction: dict[str, float] = field(default_factory=dict)


def to_float64(coordinates: dict, confidences: dict | None) -> tuple[dict, dict]:
    """Cast coordinates (T, K, D) and confidences (T, K) to float64; missing confidences become 1,
    NaN confidences 0."""
    coords = {str(k): np.asarray(v, dtype=np.float64) for k, v in coordinates.items()}
    confs = {}
    for k, v in coords.items():
        c = None if confidences is None else confidences.get(k)
        c = np.ones(v.shape[:2]) if c is None else np.asarray(c, dtype=np.float64)
        confs[k] = np.nan_to_num(c, nan=0.0)
    return coords, confs


def tracked_frames(coords: np.ndarray) -> int:
    """Frames (rows of a (T, K, D) array) with at least one keypoint tracked (not NaN)."""
    return int((~np.isnan(coords).any(axis=-1)).any(axis=-1).sum())


def nan_fraction(coords: np.ndarray, idx: list[int] | None = None) -> float:
    """Fraction of keypoint positions (frames x keypoints, optionally only ``idx``) that are NaN."""
    c = coords if idx is None else coords[:, idx]
    return float(np.isnan(c).any(axis=-1).mean()) if c.size else 1.0


def clean_sessions(
    coordinates: dict,
    confidences: dict,
    min_frames: int,
    max_nan_fraction: float,
    use_idx: list[int] | None = None,
) -> tuple[dict, dict, LoadReport]:
    """Drop track fragments and sessions with too many missing keypoints.

    Args:
        coordinates: {session: (T, K, D)} (NaN = not tracked).
        confidences: {session: (T, K)}.
        min_frames: a session (track) with fewer tracked frames is a fragment and dropped.
        max_nan_fraction: a session whose fraction of missing positions (of ``use_idx`` keypoints)
            exceeds this is excluded.
        use_idx: keypoint indices used for modelling (``None``: all).

    Returns:
        (coordinates, confidences, report) of the kept sessions, sorted by name.

    Raises:
        InputError: nothing is left.
    """
    report = LoadReport()
    out_c, out_p = {}, {}
    for name in sorted(coordinates):
        c = coordinates[name]
        n = tracked_frames(c)
        if n < min_frames:
            report.fragments[name] = n
            continue
        frac = nan_fraction(c, use_idx)
        if frac > max_nan_fraction:
            report.nan_excluded[name] = round(frac, 6)
            log.warning(
                "excluding session %s: %.1f%% of keypoints missing (> max_nan_fraction %.2f)",
                name,
                100 * frac,
                max_nan_fraction,
            )
            continue
        report.kept.append(name)
        report.nan_fraction[name] = round(frac, 6)
        out_c[name], out_p[name] = c, confidences[name]
    if report.fragments:
        log.info("dropped %d track fragments shorter than %d frames", len(report.fragments), min_frames)
    if not report.kept:
        raise InputError(
            f"no session left after dropping {len(report.fragments)} fragments (< {min_frames} frames) and "
            f"{len(report.nan_excluded)} sessions with NaN fraction > {max_nan_fraction}: "
            f"{sorted({**report.fragments, **report.nan_excluded})[:10]}"
        )
    return out_c, out_p, report


def resolve_paths(patterns: list[str], root: str | os.PathLike = ".", key: str = "moseq.load.paths") -> list[str]:
    """Files and folders matching ``patterns`` (relative to ``root``), sorted.

    Args:
        key: the params key the patterns come from (named in the error).

    Raises:
        InputError: a pattern matches nothing.
    """
    out: list[str] = []
    for pat in patterns:
        full = pat if os.path.isabs(pat) else os.path.join(root, pat)
        hits = sorted(glob.glob(full, recursive=True))
        if not hits:
            raise InputError(f"{key}: {pat!r} matches no file or folder")
        out.extend(hits)
    return out


def load_keypoint_files(
    paths: list[str],
    fmt: str,
    extension: str | None = None,
    required_bodyparts: dict[str, list[str] | None] | None = None,
) -> tuple[dict, dict, list[str]]:
    """Read every keypoint file under ``paths`` with ``keypoint_moseq.load_keypoints``; returns
    (coords, confs, bodyparts).

    Every file is found and checked before keypoint-moseq is imported: the folder walk
    (:func:`ethoflow.core.inputs.walk_input_files`: symlink loops, broken symlinks, unreadable files),
    each file's layout (:func:`ethoflow.core.pose_files.check_keypoint_file`: empty, garbage,
    truncated, wrong shape, no frames) and the bodyparts (:func:`ethoflow.core.pose_files.check_bodyparts`:
    the first file's, and ``required_bodyparts``). Then each file is loaded on its own, in the order
    keypoint-moseq's own walk gives, so a failure still names its file.

    Args:
        paths: files and folders (e.g. from :func:`resolve_paths`).
        fmt: keypoint-moseq format (``deeplabcut``, ``sleap``, ``nwb``, ...).
        extension: only files with this extension (``None``: the format's defaults).
        required_bodyparts: ``{params key: names}`` every file must have (named in the message).

    Raises:
        InputError: one line naming the file and what is wrong (see above); files with different
            bodyparts; a session name in two files; an all-NaN session.
    """
    exts = [extension] if extension else list(FORMAT_EXTENSIONS.get(fmt, ()))
    files = walk_input_files(paths, exts, what="keypoint file") if exts else [Path(p) for p in paths]
    if not files:
        raise InputError(f"{', '.join(map(str, paths))}: no keypoint files with extension {exts}")
    per_file = {str(f): check_keypoint_file(f, fmt) for f in files}
    check_bodyparts(per_file, required_bodyparts)

    # local: keypoint_moseq is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    import keypoint_moseq as kpms

    coords: dict = {}
    confs: dict = {}
    bodyparts: list[str] | None = None
    loaded: dict[str, list[str]] = {}
    session_file: dict[str, str] = {}
    for path in map(str, files):
        try:
            c, p, bps = kpms.load_keypoints(path, fmt, extension=extension)
        except Exception as exc:  # kpms raises assorted errors on bad files
            raise InputError(f"{path}: cannot load keypoints as {fmt!r}: {exc}") from exc
        if isinstance(bps, (set, frozenset)):  # kpms' multi-animal DeepLabCut reader returns a set
            bps = dlc_bodypart_order(path)
        bps = [str(b) for b in bps]
        loaded[path] = bps
        check_pose_sessions({}, loaded)  # a file whose bodyparts differ: the missing/extra ones named
        bodyparts = bps
        for k, arr in c.items():
            if k in coords:
                raise InputError(f"{path}: session name {k!r} appears in more than one file ({session_file[k]})")
            shape = np.shape(arr)
            if len(shape) != 3 or shape[1] != len(bps) or shape[2] not in (2, 3):
                raise InputError(
                    f"{path}: session {k!r}: keypoints of shape {shape}, expected (frames, {len(bps)} bodyparts, 2 or 3)"
                )
            session_file[k] = path
        coords.update(c)
        confs.update(p if p is not None else {})
    assert bodyparts is not None
    check_pose_sessions(coords, None, session_file)  # an all-NaN session named as such, not as a fragment
    c64, p64 = to_float64(coords, confs or None)
    return c64, p64, bodyparts


def detect_fps(video_dir: str | os.PathLike) -> float:
    """Frame rate (Hz) of the videos in ``video_dir``, read with vidio (OpenCV).

    Raises:
        InputError: no video, unreadable fps, or videos with different frame rates.
    """
    # local: h5py is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    from vidio.read import OpenCVReader

    folder = Path(video_dir)
    videos = sorted(p for p in folder.rglob("*") if p.suffix.lower() in VIDEO_EXTENSIONS) if folder.is_dir() else []
    if not videos:
        raise InputError(f"moseq.load.video_dir: no video ({', '.join(VIDEO_EXTENSIONS)}) in {folder}")
    rates = {}
    for v in videos:
        fps = float(OpenCVReader(str(v)).fps or 0)
        if not fps > 0:
            raise InputError(f"{v}: cannot read the frame rate")
        rates[str(v)] = round(fps, 6)
    if len(set(rates.values())) > 1:
        raise InputError(f"videos in {folder} have different frame rates: {rates}; set moseq.load.fps")
    return next(iter(rates.values()))


def write_kpms_config(project_dir: str | os.PathLike, **options: Any) -> dict:
    """Write a keypoint-moseq ``config.yml`` in ``project_dir`` with ``options`` (plain types) and
    return it loaded (with kpms's derived indexes)."""
    # local: keypoint_moseq is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    import keypoint_moseq as kpms

    plain = to_plain(options)
    Path(project_dir).mkdir(parents=True, exist_ok=True)
    kpms.setup_project(str(project_dir), overwrite=True, **plain)
    return kpms.load_config(str(project_dir))


def read_kpms_config(project_dir: str | os.PathLike) -> dict:
    """A keypoint-moseq config (with derived indexes); ``InputError`` when missing."""
    # local: keypoint_moseq is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    import keypoint_moseq as kpms

    if not (Path(project_dir) / "config.yml").exists():
        raise InputError(f"{project_dir}/config.yml missing: run the earlier moseq stages")
    return kpms.load_config(str(project_dir))


def update_kpms_config(project_dir: str | os.PathLike, **updates: Any) -> dict:
    """Update ``config.yml`` in place (plain types) and return it loaded."""
    # local: keypoint_moseq is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    import keypoint_moseq as kpms

    kpms.update_config(str(project_dir), **to_plain(updates))
    return kpms.load_config(str(project_dir))


def dlc_bodypart_order(path: str | os.PathLike) -> list[str]:
    """The bodyparts of a multi-animal DeepLabCut file (``.h5`` or ``.csv``) in the order of its columns:
    the order of keypoint-moseq's arrays, which its DeepLabCut reader returns with the names as an
    unordered set (keypoint-moseq 0.8; the first individual other than ``single``, as its reader).

    Raises:
        InputError: the file has no ``individuals``/``bodyparts`` column levels.
    """
    # local: pandas is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    import pandas as pd

    path = str(path)
    if path.endswith(".csv"):
        cols = pd.read_csv(path, header=[0, 1, 2, 3], index_col=0, nrows=0).columns
    else:
        cols = pd.read_hdf(path).columns
    if not {"individuals", "bodyparts"} <= set(cols.names):
        raise InputError(f"{path}: no 'individuals' and 'bodyparts' column levels (columns {list(cols.names)})")
    inds = [i for i in cols.get_level_values("individuals").unique() if i != "single"]
    if not inds:
        raise InputError(f"{path}: no individual other than 'single'")
    first = cols[cols.get_level_values("individuals") == inds[0]]
    return [str(b) for b in first.get_level_values("bodyparts").unique()]


def save_keypoints(path: str | os.PathLike, coordinates: dict, confidences: dict, bodyparts: list[str]) -> None:
    """Pickle keypoints (sessions sorted; deterministic bytes) atomically."""
    obj = {
        "coordinates": {k: np.ascontiguousarray(coordinates[k], dtype=np.float64) for k in sorted(coordinates)},
        "confidences": {k: np.ascontiguousarray(confidences[k], dtype=np.float64) for k in sorted(confidences)},
        "bodyparts": [str(b) for b in bodyparts],
    }
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            pickle.dump(obj, fh, protocol=4)


def load_keypoints_pickle(path: str | os.PathLike) -> tuple[dict, dict, list[str]]:
    """Read what :func:`save_keypoints` wrote."""
    if not Path(path).exists():
        raise InputError(f"{path} missing: run the earlier moseq stages")
    with open(path, "rb") as fh:
        obj = pickle.load(fh)
    return obj["coordinates"], obj["confidences"], obj["bodyparts"]
