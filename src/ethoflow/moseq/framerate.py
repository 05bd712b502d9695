"""The frame rate a keypoint file carries, checked against the one the pipeline uses.

``moseq.load.fps`` (or a video in ``video_dir``) sets the rate every duration in ms depends on. Some
files carry their own: NWB ``PoseEstimationSeries`` have a ``rate`` or ``timestamps`` (pynwb; the
series keypoint-moseq's NWB loader reads), SLEAP files name their video, whose container (or the
file's video metadata) has an fps (sleap-io ``Video.fps``). :func:`file_frame_rates` reads them;
:func:`reconcile` compares them with the pipeline's rate and, when they disagree by more than
``TOLERANCE``, stops with an error naming the file, both rates and their sources, unless
``moseq.load.trust_fps`` says which to trust (``params``: keep the pipeline's, a warning; ``file``:
use the files' own rate). Formats without a rate (DeepLabCut, anipose, ...) are not checked.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ethoflow.core.errors import InputError
from ethoflow.core.logging import get_logger

log = get_logger(__name__)

#: relative difference above which two frame rates disagree.
TOLERANCE = 0.01


def nwb_frame_rate(path: str | os.PathLike) -> tuple[float, str] | None:
    """(rate in Hz, source) of the pose series in an NWB file: the series' ``rate`` when set, else
    1 / the median step of its ``timestamps`` (s); ``None`` when neither is there.

    Raises:
        InputError: the pose series disagree with each other.
    """
    # local: zarr is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    from pynwb import NWBHDF5IO

    rates: dict[str, tuple[float, str]] = {}
    with NWBHDF5IO(str(path), mode="r", load_namespaces=True) as io:
        for obj in io.read().all_children():
            if type(obj).__name__ != "PoseEstimationSeries":
                continue
            if getattr(obj, "rate", None):
                rates[obj.name] = (float(obj.rate), "NWB series rate")
            elif getattr(obj, "timestamps", None) is not None and len(obj.timestamps) > 1:
                step = float(np.median(np.diff(np.asarray(obj.timestamps[:], dtype=float))))
                if step > 0:
                    rates[obj.name] = (1.0 / step, "NWB timestamps")
    if not rates:
        return None
    values = sorted({round(r, 6) for r, _ in rates.values()})
    if values[-1] > values[0] * (1 + TOLERANCE):
        raise InputError(f"{path}: pose series at different frame rates: { {k: v[0] for k, v in rates.items()} }")
    return next(iter(rates.values()))


def sleap_frame_rate(path: str | os.PathLike) -> tuple[float, str] | None:
    """(rate in Hz, source) of the videos a SLEAP file names (sleap-io ``Video.fps``: the container's
    rate when the video opens, else the file's video metadata); ``None`` when unknown."""
    # local: sleap_io is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    import sleap_io as sio

    labels = sio.load_slp(str(path), open_videos=True)
    rates = []
    for video in labels.videos:
        try:
            fps = video.fps
        except Exception:  # a video that cannot be opened: no rate from it
            fps = None
        if fps:
            rates.append((float(fps), f"SLEAP video {Path(str(video.filename)).name}"))
    return rates[0] if rates else None


def file_frame_rates(paths: list[str], fmt: str) -> dict[str, tuple[float, str]]:
    """{file: (rate in Hz, source)} for the files of format ``fmt`` that carry a rate (``nwb``,
    ``sleap``); other formats give ``{}``."""
    reader = {"nwb": nwb_frame_rate, "sleap": sleap_frame_rate}.get(fmt)
    if reader is None:
        return {}
    out = {}
    for p in paths:
        rate = reader(p)
        if rate is not None:
            out[str(p)] = rate
    return out


def reconcile(
    fps: float,
    source: str,
    file_rates: dict[str, tuple[float, str]],
    trust: str = "check",
    key: str = "moseq.load",
) -> tuple[float, str, list[str]]:
    """The frame rate to use, its source, and the disagreements found (messages).

    Args:
        fps, source: the pipeline's rate (Hz) and where it came from (``params``, a video).
        file_rates: :func:`file_frame_rates`.
        trust: ``check`` (an error on disagreement), ``params`` (keep ``fps``, warn), ``file`` (use
            the files' own rate; they must agree with each other).
        key: the params section named in the messages (``moseq.load``, ``moseq.apply.sets.<name>``).

    Raises:
        InputError: a disagreement with ``trust="check"``, or files disagreeing among themselves
            with ``trust="file"`` (files and rates named).
    """
    off = {f: r for f, r in file_rates.items() if abs(r[0] - fps) > TOLERANCE * fps}
    notes = [f"{f}: {r:g} Hz ({src}) but fps {fps:g} Hz ({source})" for f, (r, src) in off.items()]
    if not off:
        return fps, source, []
    if trust == "check":
        raise InputError(
            "frame rates disagree: "
            + "; ".join(notes)
            + f". Durations in ms depend on it: set {key}.trust_fps to 'params' (keep the "
            f"pipeline's rate) or 'file' (use the file's), or fix the file or {key}.fps"
        )
    if trust == "params":
        for n in notes:
            log.warning("frame rate: %s; keeping %g Hz (%s.trust_fps: params)", n, fps, key)
        return fps, source, notes
    rates = sorted({round(r, 6) for r, _ in file_rates.values()})
    if rates[-1] > rates[0] * (1 + TOLERANCE):
        raise InputError(
            f"moseq.load.trust_fps: file, but the files disagree: { {f: r[0] for f, r in file_rates.items()} }"
        )
    first = next(iter(file_rates.values()))
    log.warning("frame rate: %s; using the files' %g Hz (%s.trust_fps: file)", "; ".join(notes), first[0], key)
    return float(first[0]), f"{first[1]} (trust_fps: file)", notes
