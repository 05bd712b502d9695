"""Keypoint files checked before a library computes on them: DeepLabCut (``.h5``, ``.csv``), SLEAP
(``.slp``, analysis ``.h5``) and NWB (``.nwb``, ndx-pose ``PoseEstimation``).

keypoint-moseq's loaders (Weinreb et al. 2024) open whatever they are given and fail deep inside
pandas, h5py, pynwb or numpy: a zero-byte ``.h5`` is an HDF5 traceback, a DeepLabCut file missing a
bodypart a numpy ``concatenate`` error much later. :func:`check_keypoint_file` reads only the layout
of one file (names, shapes, types; h5py and pandas, never keypoint-moseq) and raises one line
``<file>: <what is wrong>``; it returns the file's bodyparts so that :func:`check_bodyparts` can name a
file whose bodyparts differ from the first file's or lack a configured one.

Formats (what is checked):

- DeepLabCut ``.h5``: HDF5 (:func:`~ethoflow.core.inputs.check_hdf5`), a pandas table (``pd.read_hdf``),
  column levels ``scorer``/``bodyparts``/``coords`` (+ ``individuals`` for multi-animal), each bodypart
  with exactly ``x``, ``y``, ``likelihood``, numeric values, at least one row.
- DeepLabCut ``.csv``: UTF-8 text, the three (or four) header rows DeepLabCut writes (``scorer``,
  [``individuals``], ``bodyparts``, ``coords``), then the same rules; a row with another number of
  cells names its line.
- SLEAP ``.slp``: HDF5 with the ``metadata``, ``frames``, ``instances`` and ``points``/``pred_points``
  datasets, one skeleton; bodyparts from the skeleton.
- SLEAP analysis ``.h5``: ``tracks`` (tracks, 2, nodes, frames), ``node_names`` and ``point_scores``
  of matching shapes.
- NWB ``.nwb``: HDF5 holding exactly one ndx-pose ``PoseEstimation`` with one
  ``PoseEstimationSeries`` per node, each ``data`` (frames, 2 or 3), all of one length.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from ethoflow.core.errors import InputError
from ethoflow.core.inputs import check_file, check_hdf5, check_pose_sessions

#: file extensions keypoint-moseq reads per format (its ``load_keypoints`` defaults)
FORMAT_EXTENSIONS: dict[str, tuple[str, ...]] = {
    "deeplabcut": (".csv", ".h5", ".hdf5"),
    "sleap": (".h5", ".hdf5", ".slp"),
    "nwb": (".nwb",),
    "anipose": (".csv",),
    "sleap-anipose": (".h5", ".hdf5"),
    "facemap": (".h5", ".hdf5"),
    "freipose": (".json",),
    "dannce": (".mat",),
}

DLC_COORDS = ["x", "y", "likelihood"]


def _short(exc: BaseException, n: int = 160) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())[:n]


def _check_dlc_columns(path: Path, columns, n_rows: int, numeric: bool) -> list[str]:
    # local: keeps ethoflow.core.pose_files importable without pandas
    import pandas as pd

    if not isinstance(columns, pd.MultiIndex) or "bodyparts" not in (columns.names or []):
        raise InputError(
            f"{path}: not a DeepLabCut table: no 'bodyparts' column level "
            f"(levels: {list(getattr(columns, 'names', []) or [])})"
        )
    if "coords" not in columns.names:
        raise InputError(f"{path}: not a DeepLabCut table: no 'coords' column level (levels: {list(columns.names)})")
    groups = ["bodyparts"] + (["individuals"] if "individuals" in columns.names else [])
    seen: dict[tuple, list[str]] = {}
    for col in columns:
        key = tuple(col[columns.names.index(g)] for g in groups)
        seen.setdefault(key, []).append(str(col[columns.names.index("coords")]))
    for key, coords in seen.items():
        if coords != DLC_COORDS:
            raise InputError(
                f"{path}: bodypart {key[0]!r}"
                + (f" of individual {key[1]!r}" if len(key) > 1 else "")
                + f" has coords {coords}, expected {DLC_COORDS} (wrong shape)"
            )
    if n_rows == 0:
        raise InputError(f"{path}: DeepLabCut table has no rows (no frames)")
    if not numeric:
        raise InputError(f"{path}: DeepLabCut table holds non-numeric values")
    return [str(b) for b in dict.fromkeys(columns.get_level_values("bodyparts"))]


def _dlc_h5(path: Path) -> list[str]:
    # local: keeps ethoflow.core.pose_files importable without pandas
    import pandas as pd

    check_hdf5(path)
    try:
        df = pd.read_hdf(path)
    except Exception as exc:  # noqa: BLE001 - pandas/PyTables raise assorted errors on a foreign HDF5 layout
        raise InputError(f"{path}: not a DeepLabCut table (pandas cannot read it: {_short(exc)})") from None
    if not isinstance(df, pd.DataFrame):
        raise InputError(f"{path}: not a DeepLabCut table (it holds a {type(df).__name__})")
    numeric = all(pd.api.types.is_numeric_dtype(t) for t in df.dtypes)
    return _check_dlc_columns(path, df.columns, len(df), numeric)


def _dlc_csv(path: Path) -> list[str]:

    # local: keeps ethoflow.core.pose_files importable without numpy
    import numpy as np
    import pandas as pd

    check_file(path, "keypoint file")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputError(
            f"{path}: line {line}: not UTF-8 text (byte {raw[exc.start]:#04x}); not a DeepLabCut CSV"
        ) from None
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or not any(cell.strip() for r in rows for cell in r):
        raise InputError(f"{path}: keypoint file holds no data")
    names = [r[0].strip().lower() if r else "" for r in rows[:4]]
    n_header = 4 if len(names) > 1 and names[1] == "individuals" else 3
    want = ["scorer", "individuals", "bodyparts", "coords"] if n_header == 4 else ["scorer", "bodyparts", "coords"]
    if names[:n_header] != want:
        raise InputError(
            f"{path}: not a DeepLabCut CSV: its first column reads {names[:n_header]}, expected {want} "
            "(the header rows DeepLabCut writes)"
        )
    width = len(rows[0])
    for i, r in enumerate(rows, 1):
        if r and len(r) != width:
            raise InputError(f"{path}: line {i}: {len(r)} cells, the header has {width} (cut or damaged row)")
    header = [r[1:] for r in rows[:n_header]]
    cols = pd.MultiIndex.from_arrays(header, names=want)
    body = [r[1:] for r in rows[n_header:] if r]
    try:
        np.asarray(body, dtype=float)
        numeric = True
    except ValueError:
        numeric = False
        for i, r in enumerate(rows[n_header:], n_header + 1):
            for j, cell in enumerate(r[1:], 2):
                try:
                    float(cell)
                except ValueError:
                    raise InputError(
                        f"{path}: line {i}, column {j}: non-numeric value {cell!r} (bodypart {header[-2][j - 2]!r})"
                    ) from None
    return _check_dlc_columns(path, cols, len(body), numeric)


def _sleap_slp(path: Path) -> list[str]:
    # local: h5py is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    import h5py

    check_hdf5(path)
    with h5py.File(path, "r") as f:
        missing = [k for k in ("metadata", "frames", "instances") if k not in f]
        if "points" not in f and "pred_points" not in f:
            missing.append("points/pred_points")
        if missing:
            raise InputError(f"{path}: not a SLEAP labels file: missing {', '.join(missing)} (keys: {sorted(f)})")
        try:
            meta = json.loads(f["metadata"].attrs["json"])
            skeletons = meta["skeletons"]
            nodes = [meta["nodes"][int(n["id"])]["name"] for n in skeletons[0]["nodes"]] if skeletons else []
        except (KeyError, ValueError, TypeError, IndexError) as exc:
            raise InputError(f"{path}: SLEAP metadata cannot be read ({_short(exc)})") from None
        if len(skeletons) != 1:
            raise InputError(f"{path}: SLEAP file holds {len(skeletons)} skeletons; one is needed")
        if f["frames"].shape[0] == 0:
            raise InputError(f"{path}: SLEAP file has no labelled frames")
    return [str(n) for n in nodes]


def _sleap_h5(path: Path) -> list[str]:
    # local: h5py is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    import h5py

    check_hdf5(path)
    with h5py.File(path, "r") as f:
        missing = [k for k in ("tracks", "node_names", "point_scores") if k not in f]
        if missing:
            raise InputError(f"{path}: not a SLEAP analysis file: missing {', '.join(missing)} (keys: {sorted(f)})")
        nodes = [n.decode() if isinstance(n, bytes) else str(n) for n in f["node_names"][()]]
        tracks, scores = f["tracks"].shape, f["point_scores"].shape
    if len(tracks) != 4 or tracks[1] != 2 or tracks[2] != len(nodes) or tracks[3] == 0:
        raise InputError(
            f"{path}: SLEAP 'tracks' has shape {tracks}, expected (tracks, 2, {len(nodes)} nodes, frames > 0)"
        )
    if tuple(scores) != (tracks[0], tracks[2], tracks[3]):
        raise InputError(f"{path}: SLEAP 'point_scores' has shape {scores}, 'tracks' {tracks}")
    return nodes


def _nwb(path: Path) -> list[str]:
    # local: h5py is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    import h5py

    check_hdf5(path)
    found: list[tuple[str, h5py.Group]] = []
    with h5py.File(path, "r") as f:

        def visit(name, obj):
            if isinstance(obj, h5py.Group) and _attr(obj, "neurodata_type") == "PoseEstimation":
                found.append((name, obj))

        f.visititems(visit)
        if len(found) != 1:
            raise InputError(
                f"{path}: NWB file holds {len(found)} PoseEstimation objects (ndx-pose); one is needed"
                + (f" (at {[n for n, _ in found]})" if found else "")
            )
        name, pose = found[0]
        series = {
            k: g
            for k, g in pose.items()
            if isinstance(g, h5py.Group) and _attr(g, "neurodata_type") == "PoseEstimationSeries"
        }
        holder = pose if "nodes" in pose else None  # ndx-pose 0.1: nodes; 0.2+: a link to a Skeleton
        for g in pose.values():
            if holder is None and isinstance(g, h5py.Group) and _attr(g, "neurodata_type") == "Skeleton":
                holder = g
        if holder is not None and "nodes" in holder:
            nodes = [n.decode() if isinstance(n, bytes) else str(n) for n in holder["nodes"][()]]
        else:
            nodes = sorted(series)
        if not nodes:
            raise InputError(f"{path}: PoseEstimation {name!r} has no bodyparts (no PoseEstimationSeries)")
        missing = [n for n in nodes if n not in series]
        if missing:
            raise InputError(f"{path}: PoseEstimation {name!r}: no PoseEstimationSeries for bodyparts {missing}")
        lengths = {}
        for n in nodes:
            if "data" not in series[n]:
                raise InputError(f"{path}: PoseEstimationSeries {n!r} has no data")
            shape = series[n]["data"].shape
            if len(shape) != 2 or shape[1] not in (2, 3) or shape[0] == 0:
                raise InputError(
                    f"{path}: PoseEstimationSeries {n!r} data has shape {shape}, expected (frames > 0, 2 or 3)"
                )
            lengths[n] = shape[0]
        if len(set(lengths.values())) > 1:
            raise InputError(f"{path}: PoseEstimationSeries differ in length: {lengths}")
    return nodes


def _attr(obj, key: str) -> str:
    v = obj.attrs.get(key)
    return v.decode() if isinstance(v, bytes) else str(v) if v is not None else ""


def check_keypoint_file(path: str | os.PathLike, fmt: str) -> list[str] | None:
    """Check one keypoint file's layout for ``fmt`` before keypoint-moseq reads it.

    Args:
        path: the file.
        fmt: a keypoint-moseq format name (``deeplabcut``, ``sleap``, ``nwb``; others are only checked
            to be non-empty files).

    Returns:
        The file's bodyparts in file order, or ``None`` for formats whose names are not checked here.

    Raises:
        InputError: one line naming the file: empty, not HDF5 / not UTF-8, truncated, not the format's
            layout (missing dataset, header or column level), wrong shape, no frames, non-numeric values.
    """
    path = Path(path)
    ext = path.suffix.lower()
    if fmt == "deeplabcut":
        return _dlc_csv(path) if ext == ".csv" else _dlc_h5(path)
    if fmt == "sleap":
        return _sleap_slp(path) if ext == ".slp" else _sleap_h5(path)
    if fmt == "nwb":
        return _nwb(path)
    if ext in (".h5", ".hdf5", ".nwb"):
        check_hdf5(path)
    else:
        check_file(path, "keypoint file")
    return None


def check_bodyparts(
    per_file: Mapping[str, Sequence[str] | None], configured: Mapping[str, Sequence[str] | None] | None = None
) -> None:
    """Every file has the first file's bodyparts, and every configured bodypart.

    Args:
        per_file: ``{file: bodyparts}`` in reading order (``None`` entries skipped).
        configured: ``{params key: names}``, e.g. ``{"moseq.load.use_bodyparts": ["head", "tail"]}``.

    Raises:
        InputError: ``<file>: bodyparts differ from <first>: missing [...]`` or ``<file>: bodypart 'tail'
            of moseq.load.posterior_bodyparts is not in this file (it has: ...)``.
    """
    known = {f: list(b) for f, b in per_file.items() if b is not None}
    if not known:
        return
    for key, names in (configured or {}).items():
        for f, bps in known.items():
            absent = [n for n in names or [] if n not in bps]
            if absent:
                raise InputError(f"{f}: bodypart(s) {absent} of {key} not in this file (it has: {', '.join(bps)})")
    check_pose_sessions({}, known)
