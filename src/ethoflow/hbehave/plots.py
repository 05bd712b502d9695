"""Stage ``hbehave_heatmaps``: day/night heatmaps of embedding dimensions, plus a coverage summary.

For every cage and level (``level1..levelN``, ``comb``) of one aggregation, one PNG with two panels:
the light phase (``day_start_hour``-``day_end_hour``, 7-19 h by default) and the dark phase. Each panel shows
the embedding dimensions (rows; evenly spaced ones when a level has more than ``max_dims``) over the
phase's minutes in time order, days side by side separated by a white column; each dimension is
z-scored over the cage so the colours compare within a row. Minutes without any valid reading are blank.

The summary table (``summary.csv``) has one row per cage: ``rows`` (minutes in the embedding files),
``minutes_covered`` (minutes with at least one valid channel), ``fraction_valid`` (mean fraction of valid
channels), ``day_minutes``, ``night_minutes``, ``first``, ``last``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ethoflow.core.errors import ParamsError
from ethoflow.core.io import atomic_path
from ethoflow.core.logging import get_logger
from ethoflow.core.params import check_light_phase
from ethoflow.core.progress import progress
from ethoflow.hbehave.extract import load_embeddings
from ethoflow.hbehave.params import HeatmapParams

log = get_logger(__name__)


def hhmm(hour: float) -> str:
    """``HH:MM`` of an hour of day given as a number of hours (6.5 -> ``06:30``, 24 -> ``24:00``)."""
    minutes = int(round(hour * 60))
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def is_day(timestamps: np.ndarray, day_start_hour: float = 7.0, day_end_hour: float = 19.0) -> np.ndarray:
    """Bool (N,): True where the clock time of ``timestamps`` (datetime64) is in the light phase.

    The light phase is ``[day_start_hour, day_end_hour)`` in hours after midnight (floats allowed:
    6.5 is 06:30); it wraps midnight when ``day_start_hour > day_end_hour``. Same rule as
    :func:`ethoflow.vae.snips.is_night` (its negation).

    Raises:
        ParamsError: an hour outside 0-24 or the two hours equal (see ``HeatmapParams``).
    """
    for key, h in (("day_start_hour", day_start_hour), ("day_end_hour", day_end_hour)):
        if not 0 <= h <= 24:
            raise ParamsError(f"hbehave.heatmaps.{key}: {h!r} is not an hour of day (0-24)")
    try:
        check_light_phase(day_start_hour, day_end_hour)
    except ValueError as exc:
        raise ParamsError(f"hbehave.heatmaps: {exc}") from None
    ts = np.asarray(timestamps).astype("datetime64[s]")
    hours = (ts - ts.astype("datetime64[D]")).astype(np.int64) / 3600.0
    if day_start_hour <= day_end_hour:
        return (hours >= day_start_hour) & (hours < day_end_hour)
    return (hours >= day_start_hour) | (hours < day_end_hour)


def _phase_matrix(emb: np.ndarray, ts: np.ndarray, valid: np.ndarray, sel: np.ndarray) -> np.ndarray:
    """Columns = selected minutes in time order; a NaN column between phase periods (days)."""
    idx = np.flatnonzero(sel)
    if len(idx) == 0:
        return np.full((emb.shape[1], 1), np.nan)
    breaks = np.flatnonzero(np.diff(idx) > 1) + 1
    sep = max(1, len(idx) // 150)  # wide enough to see at figure resolution
    cols = []
    for k, seg in enumerate(np.split(idx, breaks)):
        if k:
            cols.append(np.full((emb.shape[1], sep), np.nan))
        block = emb[seg].T.copy()
        block[:, valid[seg] == 0] = np.nan
        cols.append(block)
    return np.concatenate(cols, axis=1)


def plot_cage(emb: np.ndarray, ts: np.ndarray, valid: np.ndarray, title: str, path: str | os.PathLike,
              cfg: HeatmapParams) -> None:
    """Write one PNG (day and night panels) for one cage and level; ``emb`` (minutes, dim)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    d = emb.shape[1]
    dims = np.unique(np.linspace(0, d - 1, min(d, cfg.max_dims)).round().astype(int))
    e = emb[:, dims].astype(np.float64)
    ok = valid > 0
    mu = e[ok].mean(0) if ok.any() else e.mean(0)
    sd = e[ok].std(0) if ok.any() else e.std(0)
    e = (e - mu) / np.where(sd > 0, sd, 1.0)
    day = is_day(ts, cfg.day_start_hour, cfg.day_end_hour)
    fig, axes = plt.subplots(2, 1, figsize=(9, 4.5))
    fig.subplots_adjust(left=0.07, right=0.86, top=0.93, bottom=0.12, hspace=0.35)
    for ax, sel, name in ((axes[0], day, f"day {hhmm(cfg.day_start_hour)}-{hhmm(cfg.day_end_hour)}"), (axes[1], ~day, "night")):
        m = _phase_matrix(e, ts, valid, sel)
        im = ax.imshow(m, aspect="auto", interpolation="nearest", cmap="RdBu_r", vmin=-3, vmax=3)
        ax.set_title(f"{title}: {name} ({int(sel.sum())} min)", fontsize=9)
        ax.set_ylabel("dim")
        ax.set_yticks([0, len(dims) - 1], [str(dims[0]), str(dims[-1])])
    axes[1].set_xlabel("minutes of the phase, in time order (white: next period / no data)")
    fig.colorbar(im, cax=fig.add_axes((0.89, 0.15, 0.02, 0.75)), label="z-score")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=cfg.dpi)
    plt.close(fig)


def heatmaps(emb_dir: str | os.PathLike, agg: str, cfg: HeatmapParams, out_dir: str | os.PathLike) -> dict[str, Any]:
    """Draw every cage x level heatmap of aggregation ``agg`` and write ``summary.csv``.

    Returns:
        Metrics: ``cages``, ``figures``, ``rows``, ``minutes_covered``, ``fraction_valid`` (overall).
    """
    import pandas as pd

    emb_dir, out_dir = Path(emb_dir), Path(out_dir)
    files = sorted(emb_dir.glob(f"embeddings_{agg}_*.npz"))
    if not files:
        from ethoflow.core.errors import InputError

        raise InputError(f"{emb_dir}: no embeddings_{agg}_*.npz (run hbehave_extract@{agg})")
    levels = sorted((f.stem.split("_", 2)[2] for f in files), key=lambda n: (n == "comb", len(n), n))
    first = load_embeddings(emb_dir / f"embeddings_{agg}_{levels[0]}.npz")
    ts, valid, fmap = first["timestamps"], first["valid"], first["frame_map"]
    cages = sorted(fmap)
    drawn = cages[: cfg.max_cages] if cfg.max_cages else cages
    rows = []
    for cid in cages:
        a, b = fmap[cid]
        day = is_day(ts[a:b], cfg.day_start_hour, cfg.day_end_hour)
        v = valid[a:b]
        rows.append({"cage_id": cid, "rows": int(b - a), "minutes_covered": int((v > 0).sum()),
                     "fraction_valid": float(v.mean()) if b > a else 0.0, "day_minutes": int(day.sum()),
                     "night_minutes": int((~day).sum()), "first": str(ts[a]), "last": str(ts[b - 1])})
    n_fig = 0
    for level in progress(levels, desc="levels"):
        data = load_embeddings(emb_dir / f"embeddings_{agg}_{level}.npz")
        for cid in drawn:
            a, b = data["frame_map"][cid]
            plot_cage(data["embeddings"][a:b], data["timestamps"][a:b], data["valid"][a:b],
                      f"{cid} {agg} {level}", out_dir / f"{cid}_{level}.png", cfg)
            n_fig += 1
    table = pd.DataFrame(rows)
    with atomic_path(out_dir / "summary.csv") as tmp:
        table.to_csv(tmp, index=False, lineterminator="\n")
    return {"aggregation": agg, "cages": len(cages), "figures": n_fig, "rows": int(table["rows"].sum()),
            "minutes_covered": int(table["minutes_covered"].sum()),
            "fraction_valid": float((table["fraction_valid"] * table["rows"]).sum() / max(1, table["rows"].sum()))}
