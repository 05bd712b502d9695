"""The per-minute grid shared by every reader: place rows on minutes (sort, merge duplicates, window, gaps)
and spread readings of any interval onto minutes by overlap.

The rules are those of :mod:`ethoflow.hbehave.io` (module docstring there).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ethoflow.core.errors import InputError

MAX_LISTED = 20


def minutes_of(ts: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """int64 minutes since 1970 of each time stamp, floored to the minute."""
    return np.asarray(pd.DatetimeIndex(ts).floor("min").values.astype("datetime64[m]").astype(np.int64))


def _gaps(valid_row: np.ndarray, grid0: int) -> list[list[Any]]:
    """Runs of minutes without any row: ``[[start_iso, n_minutes], ...]``."""
    missing = ~valid_row
    if not missing.any():
        return []
    d = np.diff(np.concatenate([[0], missing.astype(np.int8), [0]]))
    starts, stops = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
    return [[str(np.datetime64(grid0 + int(s), "m")), int(e - s)] for s, e in zip(starts, stops)]


def _merge_duplicates(
    keys: np.ndarray, values: np.ndarray, cell_valid: np.ndarray, *, where: str, duplicates: str, unit: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
    """Merge rows with equal sorted ``keys`` (minutes or seconds since the epoch, ``unit`` ``m``/``s``).

    Returns:
        ``(unique keys, values, cell_valid, duplicate rows, conflicting keys)``; ``mean`` averages the
        valid values per channel, ``first``/``last`` take one copy (file order).

    Raises:
        InputError: a repeated key when ``duplicates == "error"`` (the first times listed).
    """
    uniq, first_idx, counts = np.unique(keys, return_index=True, return_counts=True)
    n_dup = int((counts - 1).sum())
    conflicting = 0
    if not n_dup:
        return uniq, values[first_idx], cell_valid[first_idx], 0, 0
    if duplicates == "error":
        bad = [str(np.datetime64(int(m), unit)) for m in uniq[counts > 1][:MAX_LISTED]]
        raise InputError(f"{where}: duplicate timestamps (duplicates=error): {', '.join(bad)}")
    merged, mvalid = values[first_idx].copy(), cell_valid[first_idx].copy()
    for k in np.flatnonzero(counts > 1):
        i0, c = first_idx[k], counts[k]
        blk, bv = values[i0 : i0 + c], cell_valid[i0 : i0 + c]
        if not np.array_equal(
            np.where(bv, blk, np.nan), np.where(bv[:1], blk[:1], np.nan).repeat(c, 0), equal_nan=True
        ):
            conflicting += 1
        if duplicates == "first":
            merged[k], mvalid[k] = blk[0], bv[0]
        elif duplicates == "last":
            merged[k], mvalid[k] = blk[-1], bv[-1]
        else:
            cnt = bv.sum(0)
            merged[k] = np.where(cnt > 0, np.where(bv, blk, 0.0).sum(0) / np.maximum(cnt, 1), np.nan)
            mvalid[k] = cnt > 0
    return uniq, merged, mvalid, n_dup, conflicting


def grid_from_rows(
    minutes: np.ndarray,
    values: np.ndarray,
    cell_valid: np.ndarray,
    *,
    where: str,
    duplicates: str = "mean",
    window: tuple[int, int] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
    """Place rows on a complete minute grid, applying the sorting, duplicate, window and gap rules.

    Args:
        minutes: int64 (rows,) minutes since the epoch (already floored), in file order.
        values: float (rows, channels); NaN where the cell is unusable.
        cell_valid: bool (rows, channels).
        where: file name for messages.
        duplicates: ``mean`` | ``first`` | ``last`` | ``error``.
        window: ``(first_minute, stop_minute)`` of the grid (stop exclusive); ``None``: the rows' span.

    Returns:
        ``(activity float32 (M, C), valid bool (M, C), timestamps datetime64[m] (M,), report)``.

    Raises:
        InputError: no rows, or a duplicate minute when ``duplicates == "error"``.
    """
    report: dict[str, Any] = {}
    n = len(minutes)
    report["unsorted_rows"] = int(np.sum(np.diff(minutes) < 0)) if n > 1 else 0
    if window is not None:
        inside = (minutes >= window[0]) & (minutes < window[1])
        report["outside_window_rows"] = int((~inside).sum())
        minutes, values, cell_valid = minutes[inside], values[inside], cell_valid[inside]
    else:
        report["outside_window_rows"] = 0
    if len(minutes) == 0:
        raise InputError(f"{where}: no rows inside the recording window")
    order = np.argsort(minutes, kind="stable")
    uniq, values, cell_valid, n_dup, conflicting = _merge_duplicates(
        minutes[order], values[order], cell_valid[order], where=where, duplicates=duplicates, unit="m"
    )
    report["duplicate_rows"] = n_dup
    report["conflicting_duplicates"] = conflicting
    g0, g1 = (int(uniq[0]), int(uniq[-1]) + 1) if window is None else window
    m = g1 - g0
    activity = np.full((m, values.shape[1]), np.nan, np.float32)
    valid = np.zeros((m, values.shape[1]), bool)
    pos = (uniq - g0).astype(np.int64)
    activity[pos] = np.where(cell_valid, values, np.nan).astype(np.float32)
    valid[pos] = cell_valid
    has_row = np.zeros(m, bool)
    has_row[pos] = True
    report["minutes"] = int(m)
    report["gap_minutes"] = int((~has_row).sum())
    gaps = _gaps(has_row, g0)
    report["n_gaps"] = len(gaps)
    report["gaps"] = gaps[:MAX_LISTED]
    report["valid_fraction"] = float(valid.mean()) if valid.size else 0.0
    ts = (g0 + np.arange(m)).astype("datetime64[m]")
    return activity, valid, ts, report


def _spread_by_overlap(
    t: np.ndarray, v: np.ndarray, ok: np.ndarray, interval_s: int
) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """Spread sorted, unique readings (``t`` int64 (n,) end stamps, ``v`` (n, C), ``ok`` bool (n, C))
    over grid minutes by the overlap of each reading's span with each minute.

    Returns:
        ``(first grid minute, counts per minute float64 (M, C), valid seconds per minute int64 (M, C),
        seconds covered by any reading int64 (M,))``.
    """
    start = t - int(interval_s)
    start[1:] = np.maximum(start[1:], t[:-1])
    length = t - start
    m_first = start // 60 + 1  # grid minute m holds seconds [60 (m - 1), 60 m)
    m_last = (t - 1) // 60 + 1
    g0, g1 = int(m_first[0]), int(m_last[-1]) + 1
    m_total = g1 - g0
    c = v.shape[1]
    acc = np.zeros((m_total, c))
    cov_s = np.zeros((m_total, c), np.int64)
    any_s = np.zeros(m_total, np.int64)
    vz = np.where(ok, v, 0.0)
    for k in range(int((m_last - m_first).max()) + 1):
        m = m_first + k
        use = m <= m_last
        if not use.any():
            continue
        mu = m[use]
        ov = np.minimum(t[use], mu * 60) - np.maximum(start[use], (mu - 1) * 60)
        idx = mu - g0
        np.add.at(any_s, idx, ov)
        np.add.at(acc, idx, vz[use] * (ov / length[use])[:, None])
        np.add.at(cov_s, idx, ok[use] * ov[:, None])
    return g0, acc, cov_s, any_s


def resample_to_minutes(
    seconds: np.ndarray,
    values: np.ndarray,
    cell_valid: np.ndarray,
    *,
    interval_s: int,
    where: str,
    duplicates: str = "mean",
    min_valid_fraction: float = 0.5,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
    """Spread readings stamped at the end of their interval onto the per-minute grid, by overlap.

    Each reading covers the ``interval_s`` seconds before its time stamp, or less when the previous
    reading is nearer (readings never overlap, so no count is counted twice); its count is spread over
    that span in proportion to time. Grid minute ``T`` is the minute ending at ``T``, ``[T - 60 s, T)``
    (the DAM convention: a reading stamped 07:04:00 counted during 07:03-07:04; whole-minute files are
    placed the same way). A minute's ``coverage`` is the fraction of it covered by valid readings;
    it is valid when ``coverage >= min_valid_fraction`` and its activity is the counts falling in it
    divided by ``coverage`` (counts per minute; equal to the plain sum when fully covered).

    Args:
        seconds: int64 (n,) time stamps, seconds since 1970, in file order.
        values: float (n, C) counts per reading; NaN where unusable.
        cell_valid: bool (n, C).
        interval_s: reading interval, seconds (>= 1).
        where: file name for messages.
        duplicates: rule for readings with the same time stamp (``mean``, ``first``, ``last``, ``error``).
        min_valid_fraction: coverage (0-1] a minute needs to be valid.

    Returns:
        ``(activity float32 (M, C) counts per minute (NaN where not valid), valid bool (M, C),
        coverage float32 (M, C) in 0-1, timestamps datetime64[m] (M,), report)``.

    Raises:
        InputError: no reading, ``interval_s < 1``, or a repeated time stamp with ``duplicates="error"``.
    """
    if len(seconds) == 0:
        raise InputError(f"{where}: no readings")
    if interval_s < 1:
        raise InputError(f"{where}: reading interval {interval_s} s is not positive")
    seconds = np.asarray(seconds, dtype=np.int64)
    report: dict[str, Any] = {"unsorted_rows": int(np.sum(np.diff(seconds) < 0)), "outside_window_rows": 0}
    order = np.argsort(seconds, kind="stable")
    t, v, ok, n_dup, conflicting = _merge_duplicates(
        seconds[order],
        np.asarray(values, float)[order],
        np.asarray(cell_valid, bool)[order],
        where=where,
        duplicates=duplicates,
        unit="s",
    )
    report["duplicate_rows"] = n_dup
    report["conflicting_duplicates"] = conflicting
    ok = ok & np.isfinite(v)
    g0, acc, cov_s, any_s = _spread_by_overlap(t, v, ok, interval_s)
    m_total = len(any_s)
    coverage = cov_s / 60.0
    valid = (cov_s > 0) & (coverage >= min_valid_fraction - 1e-9)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(cov_s == 60, acc, acc * 60.0 / cov_s)
    activity = np.where(valid, rate, np.nan).astype(np.float32)
    has_row = any_s > 0
    gaps = _gaps(has_row, g0)
    report.update(
        {
            "minutes": int(m_total),
            "gap_minutes": int((~has_row).sum()),
            "n_gaps": len(gaps),
            "gaps": gaps[:MAX_LISTED],
            "valid_fraction": float(valid.mean()) if valid.size else 0.0,
            "partial_minutes": int(((any_s > 0) & (any_s < 60)).sum()),
            "low_coverage_minutes": int(((cov_s > 0) & ~valid).any(axis=1).sum()),
        }
    )
    ts = (g0 + np.arange(m_total)).astype("datetime64[m]")
    return activity, valid, coverage.astype(np.float32), ts, report
