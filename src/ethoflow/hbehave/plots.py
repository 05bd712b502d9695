"""hbehave figures: day/night heatmaps of embeddings (stage ``hbehave_heatmaps``) and double-plotted
actograms of the store (stage ``hbehave_actograms``).

**Heatmaps.** For every cage and level (``level1..levelN``, ``comb``) of one aggregation, two PNGs named
as the hBehaveMAE v7 extraction script names them, ``heatmap_{agg}_{level}_{cage}_DAY.png`` (the light
phase, ``day_start_hour``-``day_end_hour``, 7-19 h by default) and ``..._NIGHT.png`` (the dark phase).
Each shows the embedding dimensions (rows; evenly spaced ones when a level has more than ``max_dims``)
over the phase's minutes in time order, periods side by side separated by a white column; each
dimension is z-scored over the cage (both phases together) so the colours compare between the two
files. Minutes without any valid reading are blank.

The summary table (``summary.csv``) has one row per cage: ``rows`` (minutes in the embedding files),
``minutes_covered`` (minutes with at least one valid channel), ``fraction_valid`` (mean fraction of valid
channels), ``day_minutes``, ``night_minutes``, ``first``, ``last``.

**Actograms.** One double-plotted actogram per cage (``actogram_{cage}.png``, as rethomics' ggetho draws
them): row n shows day n and day n+1 side by side (0-48 h after midnight of day n), activity as one bar
per ``bin_min`` minutes (mean over the bin's valid minutes of the mean count over valid channels; bar
heights scaled to the cage's largest bin), the dark phase shaded grey (from ``day_start_hour`` /
``day_end_hour``, with a light/dark bar on top), minutes on the store's grid without any valid channel
hatched in red, and time outside the cage's grid (before its first, after its last minute) dotted.
``summary.csv`` lists every cage's days, minutes and
invalid minutes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ethoflow.core.errors import ParamsError
from ethoflow.core.io import atomic_dir, atomic_path, save_figure
from ethoflow.core.logging import get_logger
from ethoflow.core.params import check_light_phase
from ethoflow.core.progress import progress
from ethoflow.hbehave.extract import load_embeddings
from ethoflow.hbehave.params import ActogramParams, HeatmapParams
from ethoflow.hbehave.store import list_cages, read_cage

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


def heatmap_name(agg: str, level: str, cage_id: str, phase: str) -> str:
    """File name of one heatmap, as the v7 extraction script names it: ``heatmap_{agg}_{level}_{cage}_{DAY|NIGHT}.png``."""
    return f"heatmap_{agg}_{level}_{cage_id}_{phase}.png"


def _zscored_dims(emb: np.ndarray, valid: np.ndarray, max_dims: int) -> tuple[np.ndarray, np.ndarray]:
    """(dims drawn, emb[:, dims] z-scored per dimension over the cage's valid minutes)."""
    d = emb.shape[1]
    dims = np.unique(np.linspace(0, d - 1, min(d, max_dims)).round().astype(int))
    e = emb[:, dims].astype(np.float64)
    ok = valid > 0
    mu = e[ok].mean(0) if ok.any() else e.mean(0)
    sd = e[ok].std(0) if ok.any() else e.std(0)
    return dims, (e - mu) / np.where(sd > 0, sd, 1.0)


def plot_cage(
    emb: np.ndarray,
    ts: np.ndarray,
    valid: np.ndarray,
    title: str,
    day_path: str | os.PathLike,
    night_path: str | os.PathLike,
    cfg: HeatmapParams,
) -> None:
    """Write the light-phase and dark-phase heatmaps of one cage and level; ``emb`` (minutes, dim)."""
    # local: matplotlib is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    import matplotlib.pyplot as plt

    dims, e = _zscored_dims(emb, valid, cfg.max_dims)
    day = is_day(ts, cfg.day_start_hour, cfg.day_end_hour)
    for sel, name, path in (
        (day, f"day {hhmm(cfg.day_start_hour)}-{hhmm(cfg.day_end_hour)}", day_path),
        (~day, f"night {hhmm(cfg.day_end_hour)}-{hhmm(cfg.day_start_hour)}", night_path),
    ):
        fig, ax = plt.subplots(figsize=(9, 2.6))
        fig.subplots_adjust(left=0.07, right=0.86, top=0.88, bottom=0.2)
        m = _phase_matrix(e, ts, valid, sel)
        im = ax.imshow(m, aspect="auto", interpolation="nearest", cmap="RdBu_r", vmin=-3, vmax=3)
        ax.set_title(f"{title}: {name} ({int(sel.sum())} min)", fontsize=9)
        ax.set_ylabel("dim")
        ax.set_yticks([0, len(dims) - 1], [str(dims[0]), str(dims[-1])])
        ax.set_xlabel("minutes of the phase, in time order (white: next period / no data)")
        fig.colorbar(im, cax=fig.add_axes((0.89, 0.2, 0.02, 0.68)), label="z-score")
        save_figure(fig, path, dpi=cfg.dpi)


def heatmaps(emb_dir: str | os.PathLike, agg: str, cfg: HeatmapParams, out_dir: str | os.PathLike) -> dict[str, Any]:
    """Draw every cage x level x phase heatmap of aggregation ``agg`` (:func:`heatmap_name`), write ``summary.csv``.

    ``out_dir`` is written as a whole, all-or-nothing (:func:`ethoflow.core.io.atomic_dir`): a failure
    leaves the previous folder as it was; a successful run replaces it (no figure of an earlier run stays).

    Returns:
        Metrics: ``cages``, ``figures``, ``rows``, ``minutes_covered``, ``fraction_valid`` (overall).
    """
    # local: keeps ethoflow.hbehave.plots importable without pandas
    import pandas as pd

    emb_dir, out_dir = Path(emb_dir), Path(out_dir)
    files = sorted(emb_dir.glob(f"embeddings_{agg}_*.npz"))
    if not files:
        # local: imported only on the branch that needs it
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
        rows.append(
            {
                "cage_id": cid,
                "rows": int(b - a),
                "minutes_covered": int((v > 0).sum()),
                "fraction_valid": float(v.mean()) if b > a else 0.0,
                "day_minutes": int(day.sum()),
                "night_minutes": int((~day).sum()),
                "first": str(ts[a]),
                "last": str(ts[b - 1]),
            }
        )
    n_fig = 0
    bar = progress(total=2 * len(levels) * len(drawn), desc=f"heatmaps {agg}", unit="fig")
    table = pd.DataFrame(rows)
    with atomic_dir(out_dir) as tmp_dir:
        for level in levels:
            data = load_embeddings(emb_dir / f"embeddings_{agg}_{level}.npz")
            for cid in drawn:
                a, b = data["frame_map"][cid]
                plot_cage(
                    data["embeddings"][a:b],
                    data["timestamps"][a:b],
                    data["valid"][a:b],
                    f"{cid} {agg} {level}",
                    tmp_dir / heatmap_name(agg, level, cid, "DAY"),
                    tmp_dir / heatmap_name(agg, level, cid, "NIGHT"),
                    cfg,
                )
                n_fig += 2
                bar.update(2)
        bar.close()
        table.to_csv(tmp_dir / "summary.csv", index=False, lineterminator="\n")
    return {
        "aggregation": agg,
        "cages": len(cages),
        "figures": n_fig,
        "rows": int(table["rows"].sum()),
        "minutes_covered": int(table["minutes_covered"].sum()),
        "fraction_valid": float((table["fraction_valid"] * table["rows"]).sum() / max(1, table["rows"].sum())),
    }


# ------------------------------------------------------------------------------------------ actograms
#: colours of the actogram (tests look for INVALID_FACE pixels)
ACTIVITY_COLOUR = "#1a1a1a"
DARK_COLOUR = "#cccccc"
INVALID_FACE = "#f4a582"
INVALID_HATCH = "#b2182b"
UNRECORDED_HATCH = "#bbbbbb"


@dataclass
class ActogramData:
    """What an actogram of one cage draws, on a calendar-day grid (midnight to midnight).

    Attributes:
        cage_id: the cage.
        days: ``YYYY-MM-DD`` of each recorded calendar day (row n shows ``days[n]`` and the day after).
        bin_min: minutes per bar.
        activity: (days + 1, 1440 // bin_min) mean over the bin's valid minutes of the per-minute
            activity (mean count over valid channels); NaN where the bin has no valid minute. The last
            day is empty padding (the right half of the last row).
        invalid: (days + 1, 1440) bool, minutes on the cage's grid without any valid channel.
        recorded: (days + 1, 1440) bool, minutes on the cage's grid (valid or not); the others are
            drawn dotted ("not recorded").
        dark: (1440,) bool, minutes of the clock day outside ``[day_start_hour, day_end_hour)``.
        scale: the largest bin value (bar heights are ``activity / scale`` of a row).
    """

    cage_id: str
    days: list[str]
    bin_min: int
    activity: np.ndarray
    invalid: np.ndarray
    recorded: np.ndarray
    dark: np.ndarray
    scale: float

    @property
    def n_rows(self) -> int:
        return len(self.days)

    def row(self, day: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Row ``day`` double-plotted: ``(bins, invalid minutes, recorded minutes)`` of days ``day`` and ``day + 1``."""
        return (
            np.concatenate([self.activity[day], self.activity[day + 1]]),
            np.concatenate([self.invalid[day], self.invalid[day + 1]]),
            np.concatenate([self.recorded[day], self.recorded[day + 1]]),
        )


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``[(start, stop), ...]`` of the True runs of a 1-d bool array."""
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist()))


def actogram_data(
    activity: np.ndarray,
    valid: np.ndarray,
    timestamps: np.ndarray,
    cage_id: str,
    bin_min: int = 30,
    day_start_hour: float = 7.0,
    day_end_hour: float = 19.0,
) -> ActogramData:
    """Bin one cage's minutes (``activity``/``valid`` (minutes, channels), ``timestamps`` datetime64[m])
    onto calendar days for :func:`plot_actogram`.

    A minute's activity is the mean count over its valid channels; a minute without any valid channel is
    invalid. Bins average their valid minutes. Clock times are the store's (no time zone conversion).
    """
    if 1440 % bin_min:
        raise ParamsError(f"hbehave.actogram.bin_min: {bin_min} does not divide a day (1440 minutes)")
    ts = np.asarray(timestamps).astype("datetime64[m]")
    if len(ts) == 0:
        raise ValueError(f"cage {cage_id}: no minutes to draw")
    day0 = ts[0].astype("datetime64[D]")
    off = (ts - day0.astype("datetime64[m]")).astype(np.int64)
    n_days = int(off[-1] // 1440) + 1
    size = (n_days + 1) * 1440
    valid = np.asarray(valid, bool)
    n_ok = valid.sum(1)
    total = np.where(valid, np.nan_to_num(np.asarray(activity, np.float64)), 0.0).sum(1)
    per_min = np.full(size, np.nan)
    per_min[off] = np.where(n_ok > 0, total / np.maximum(n_ok, 1), np.nan)
    invalid = np.zeros(size, bool)
    invalid[off] = n_ok == 0
    recorded = np.zeros(size, bool)
    recorded[off] = True
    bins = per_min.reshape(n_days + 1, 1440 // bin_min, bin_min)
    count = np.isfinite(bins).sum(2)
    mean = np.where(count > 0, np.nansum(bins, 2) / np.maximum(count, 1), np.nan)
    finite = mean[np.isfinite(mean)]
    scale = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    clock = np.datetime64("2000-01-01T00:00") + np.arange(1440).astype("timedelta64[m]")
    days = [str(day0 + np.timedelta64(k, "D")) for k in range(n_days)]
    return ActogramData(
        cage_id=cage_id,
        days=days,
        bin_min=bin_min,
        activity=mean,
        invalid=invalid.reshape(n_days + 1, 1440),
        recorded=recorded.reshape(n_days + 1, 1440),
        dark=~is_day(clock, day_start_hour, day_end_hour),
        scale=scale,
    )


def plot_actogram(
    data: ActogramData,
    path: str | os.PathLike,
    day_start_hour: float = 7.0,
    day_end_hour: float = 19.0,
    dpi: int = 80,
    title: str | None = None,
) -> None:
    """Write the double-plotted actogram of :func:`actogram_data` as a PNG (deterministic bytes)."""
    # local: matplotlib is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    rows = data.n_rows
    top_in, bottom_in, row_in = 0.85, 0.95, 0.32
    height = top_in + bottom_in + rows * row_in
    fig = plt.figure(figsize=(8.0, height))
    left, width = 0.13, 0.84
    ax = fig.add_axes((left, bottom_in / height, width, rows * row_in / height))
    ld = fig.add_axes((left, (bottom_in + rows * row_in + 0.06) / height, width, 0.14 / height))
    dark2 = np.concatenate([data.dark, data.dark])
    for a, b in _runs(dark2):
        ax.axvspan(a / 60, b / 60, color=DARK_COLOUR, lw=0, zorder=0)
        ld.axvspan(a / 60, b / 60, color="black", lw=0)
    ld.set_xlim(0, 48)
    ld.set_ylim(0, 1)
    ld.set_xticks([])
    ld.set_yticks([0.5], ["L/D"], fontsize=7)
    ld.tick_params(length=0)
    bw = data.bin_min / 60
    x = np.arange(2 * 1440 // data.bin_min) * bw
    for n in range(rows):
        y0 = rows - 1 - n
        bins, inval, rec = data.row(n)
        gone = _runs(~rec)
        if gone:
            ax.broken_barh(
                [(a / 60, (b - a) / 60) for a, b in gone],
                (y0, 1),
                facecolors="white",
                edgecolors=UNRECORDED_HATCH,
                hatch="..",
                linewidth=0,
                zorder=0.5,
            )
        runs = _runs(inval)
        if runs:
            ax.broken_barh(
                [(a / 60, (b - a) / 60) for a, b in runs],
                (y0, 1),
                facecolors=INVALID_FACE,
                edgecolors=INVALID_HATCH,
                hatch="////",
                linewidth=0,
                zorder=1,
            )
        ok = np.isfinite(bins) & (bins > 0)
        if ok.any():
            ax.bar(
                x[ok],
                0.9 * bins[ok] / data.scale,
                width=bw,
                bottom=y0,
                align="edge",
                color=ACTIVITY_COLOUR,
                linewidth=0,
                zorder=2,
            )
    for y in range(1, rows):
        ax.axhline(y, color="white", lw=0.8, zorder=3)
        ax.axhline(y, color="#888888", lw=0.4, zorder=3)
    ax.axvline(24, color="#555555", lw=0.6, ls="--", zorder=3)
    ax.set_xlim(0, 48)
    ax.set_ylim(0, rows)
    ax.set_xticks(range(0, 49, 6))
    ax.set_yticks([rows - 0.5 - n for n in range(rows)], data.days, fontsize=7)
    ax.tick_params(axis="x", labelsize=7)
    ax.set_xlabel("hours after midnight of the row's day (double-plotted: day n | day n + 1)", fontsize=8)
    n_rec = int(data.recorded.sum())
    n_inv = int(data.invalid.sum())
    ld.set_title(
        title
        or (
            f"{data.cage_id}: {rows} days from {data.days[0]}, {data.bin_min}-min bins; "
            f"invalid {n_inv} of {n_rec} min ({100 * n_inv / max(1, n_rec):.1f}%)"
        ),
        fontsize=9,
    )
    handles = [
        Patch(color=ACTIVITY_COLOUR, label=f"activity (row height = {data.scale:.3g} counts/min/channel)"),
        Patch(color=DARK_COLOUR, label=f"dark ({hhmm(day_end_hour)}-{hhmm(day_start_hour)})"),
        Patch(facecolor=INVALID_FACE, edgecolor=INVALID_HATCH, hatch="////", label="invalid minutes"),
        Patch(facecolor="white", edgecolor=UNRECORDED_HATCH, hatch="..", label="not recorded"),
    ]
    fig.legend(handles=handles, loc="lower center", ncol=4, fontsize=7, frameon=False, bbox_to_anchor=(0.5, 0.0))
    save_figure(fig, path, dpi=dpi)


def actogram_name(cage_id: str) -> str:
    """File name of a cage's actogram: ``actogram_{cage}.png``."""
    return f"actogram_{cage_id}.png"


def actograms(
    store: str | os.PathLike,
    cfg: ActogramParams,
    out_dir: str | os.PathLike,
    day_start_hour: float = 7.0,
    day_end_hour: float = 19.0,
) -> dict[str, Any]:
    """Draw the double-plotted actogram of every cage in ``store`` (at most ``cfg.max_cages``) and write
    ``summary.csv`` (all cages: ``days``, ``first``, ``last``, ``minutes``, ``invalid_minutes``,
    ``fraction_invalid``, ``max_bin``).

    Returns:
        Metrics: ``cages``, ``figures``, ``minutes``, ``invalid_minutes``.
    """
    # local: keeps ethoflow.hbehave.plots importable without pandas
    import pandas as pd

    is_day(np.array([], "datetime64[m]"), day_start_hour, day_end_hour)  # check the hours before drawing
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cages = list_cages(store)
    drawn = set(cages[: cfg.max_cages] if cfg.max_cages else cages)
    rows = []
    for cid in progress(cages, desc="actograms", unit="cage"):
        rec = read_cage(store, cid)
        data = actogram_data(rec.activity, rec.valid, rec.timestamps, cid, cfg.bin_min, day_start_hour, day_end_hour)
        if cid in drawn:
            plot_actogram(data, out_dir / actogram_name(cid), day_start_hour, day_end_hour, cfg.dpi)
        n_inv = int(data.invalid.sum())
        rows.append(
            {
                "cage_id": cid,
                "days": data.n_rows,
                "first": str(rec.timestamps[0]),
                "last": str(rec.timestamps[-1]),
                "minutes": rec.n_minutes,
                "invalid_minutes": n_inv,
                "fraction_invalid": n_inv / max(1, rec.n_minutes),
                "max_bin": data.scale,
            }
        )
    table = pd.DataFrame(rows)
    with atomic_path(out_dir / "summary.csv") as tmp:
        table.to_csv(tmp, index=False, lineterminator="\n")
    n_inv = int(table["invalid_minutes"].sum())
    log.info(
        "actograms: %d of %d cages drawn; %d invalid minutes of %d",
        len(drawn),
        len(cages),
        n_inv,
        int(table["minutes"].sum()),
    )
    return {
        "cages": len(cages),
        "figures": len(drawn),
        "minutes": int(table["minutes"].sum()),
        "invalid_minutes": n_inv,
    }
