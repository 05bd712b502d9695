"""Readers of raw home-cage activity: DVC per-cage CSVs + summary, and DAM2/DAM5 monitor files.

Every reader returns :class:`~ethoflow.hbehave.store.CageRecord` objects on a complete minute grid
plus a per-cage report of what the rules did. The rules (documented in ``docs/hbehave.md``):

- **Unparseable timestamp**: the row cannot be placed on the grid; it is left out and counted
  (``bad_timestamps``, first row numbers listed).
- **Seconds**: timestamps are floored to the minute (``off_minute_rows`` counts those that had seconds).
- **Unsorted rows**: sorted by time (stable); ``unsorted_rows`` counts rows earlier than their predecessor.
- **Duplicate minutes**: merged by ``duplicates`` = ``mean`` (valid values per channel), ``first``,
  ``last`` or ``error``; ``duplicate_rows`` (extra rows), ``conflicting_duplicates`` (minutes whose
  copies differ).
- **Non-numeric values** (e.g. ``ERR``) and empty cells: NaN and ``valid=False`` for that channel and
  minute only; counted as ``non_numeric_values`` / ``empty_values``.
- **Gaps**: the grid spans the summary's ``[from_tpt, to_tpt)`` (else first to last row); minutes
  without a row are NaN / ``valid=False``; ``gap_minutes`` and ``gaps`` (start, length) report them.
- **Rows outside the summary window**: left out, counted (``outside_window_rows``).
- **Cages missing from the summary**: kept with unknown metadata (or an error, by params);
  summary rows without a CSV are reported (``summary_without_data``).
- **DAM status column**: ``1`` = valid reading; any other code (``51`` = no data from the monitor)
  marks that reading invalid for every tube; counts per code in ``status_codes``.
- **DAM reading interval** N > 1 minute: each reading's count covers the N minutes ending at its
  timestamp and is spread evenly over them (counts per minute), so totals are kept.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ethoflow.core.errors import InputError
from ethoflow.core.logging import get_logger
from ethoflow.hbehave.store import CageRecord

log = get_logger(__name__)

_VCOL = re.compile(r"^v_(\d+)$")
MAX_LISTED = 20


def _minutes(ts: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    return np.asarray(pd.DatetimeIndex(ts).floor("min").values.astype("datetime64[m]").astype(np.int64))


def _gaps(valid_row: np.ndarray, grid0: int) -> list[list[Any]]:
    """Runs of minutes without any row: ``[[start_iso, n_minutes], ...]``."""
    missing = ~valid_row
    if not missing.any():
        return []
    d = np.diff(np.concatenate([[0], missing.astype(np.int8), [0]]))
    starts, stops = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
    return [[str(np.datetime64(grid0 + int(s), "m")), int(e - s)] for s, e in zip(starts, stops)]


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
    minutes, values, cell_valid = minutes[order], values[order], cell_valid[order]
    uniq, first_idx, counts = np.unique(minutes, return_index=True, return_counts=True)
    n_dup = int((counts - 1).sum())
    report["duplicate_rows"] = n_dup
    conflicting = 0
    if n_dup:
        if duplicates == "error":
            bad = [str(np.datetime64(int(m), "m")) for m in uniq[counts > 1][:MAX_LISTED]]
            raise InputError(f"{where}: duplicate timestamps (duplicates=error): {', '.join(bad)}")
        merged, mvalid = values[first_idx].copy(), cell_valid[first_idx].copy()
        for k in np.flatnonzero(counts > 1):
            i0, c = first_idx[k], counts[k]
            blk, bv = values[i0 : i0 + c], cell_valid[i0 : i0 + c]
            if not np.array_equal(np.where(bv, blk, np.nan), np.where(bv[:1], blk[:1], np.nan).repeat(c, 0), equal_nan=True):
                conflicting += 1
            if duplicates == "first":
                merged[k], mvalid[k] = blk[0], bv[0]
            elif duplicates == "last":
                merged[k], mvalid[k] = blk[-1], bv[-1]
            else:
                cnt = bv.sum(0)
                merged[k] = np.where(cnt > 0, np.where(bv, blk, 0.0).sum(0) / np.maximum(cnt, 1), np.nan)
                mvalid[k] = cnt > 0
        values, cell_valid = merged, mvalid
    else:
        values, cell_valid = values[first_idx], cell_valid[first_idx]
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


# --------------------------------------------------------------------------- DVC CSV


def read_summary(path: str | os.PathLike) -> pd.DataFrame:
    """Read a summary CSV (one row per cage; ``cage_id`` required; ``from_tpt``/``to_tpt`` optional).

    Raises:
        InputError: file missing, no ``cage_id`` column, duplicated cage ids, or unparseable times.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: summary CSV not found")
    df = pd.read_csv(path, dtype={"cage_id": str})
    if "cage_id" not in df.columns:
        raise InputError(f"{path}: summary CSV has no 'cage_id' column (columns: {', '.join(df.columns)})")
    dup = df["cage_id"][df["cage_id"].duplicated()].tolist()
    if dup:
        raise InputError(f"{path}: cage_id listed more than once: {', '.join(map(str, dup))}")
    for col in ("from_tpt", "to_tpt"):
        if col in df.columns:
            parsed = pd.to_datetime(df[col], errors="coerce", format="mixed")
            bad = df.index[parsed.isna() & df[col].notna()].tolist()
            if bad:
                raise InputError(f"{path}: row {bad[0] + 2}: unparseable {col} {df[col][bad[0]]!r}")
            df[col] = parsed
    return df.set_index("cage_id", drop=False)


def _meta_from_summary(row: pd.Series | None) -> dict[str, Any]:
    if row is None:
        return {"strain": None, "age": None, "in_summary": False}
    meta: dict[str, Any] = {"in_summary": True}
    for key, val in row.items():
        if key == "cage_id":
            continue
        if isinstance(val, pd.Timestamp):
            meta[key] = val.isoformat()
        elif pd.isna(val):
            meta[key] = None
        elif isinstance(val, (np.integer, np.floating)):
            meta[key] = val.item()
        else:
            meta[key] = val
    meta.setdefault("strain", None)
    meta.setdefault("age", None)
    return meta


def _experiment(meta: dict[str, Any], first_minute: int) -> tuple[str, str]:
    date = str(np.datetime64(int(first_minute), "m").astype("datetime64[D]"))
    exp = meta.get("experiment")
    return (str(exp) if exp not in (None, "") else date.replace("-", "")), date


def read_dvc_csv(
    path: str | os.PathLike,
    *,
    summary_row: pd.Series | None = None,
    duplicates: str = "mean",
) -> tuple[CageRecord, dict[str, Any]]:
    """Read one DVC cage CSV (``timestamp, v_1..v_N``, one row per minute) onto the minute grid.

    Args:
        path: ``{cage_id}.csv``.
        summary_row: the cage's summary row (gives the window ``[from_tpt, to_tpt)`` and metadata).
        duplicates: duplicate-minute rule (see module docstring).

    Returns:
        ``(record, report)``; ``record.attrs`` has ``experiment``, ``experiment_date``, ``strain``,
        ``age``, ``source_file`` and the summary's other columns.

    Raises:
        InputError: missing ``timestamp`` or ``v_*`` columns, no usable rows.
    """
    path = Path(path)
    cage_id = path.stem
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    if "timestamp" not in raw.columns:
        raise InputError(f"{path}: no 'timestamp' column (columns: {', '.join(raw.columns)})")
    vcols = sorted((c for c in raw.columns if _VCOL.match(c)), key=lambda c: int(_VCOL.match(c).group(1)))
    if not vcols:
        raise InputError(f"{path}: no electrode columns v_1..v_N")
    report: dict[str, Any] = {"source_file": str(path), "rows_read": len(raw)}
    ts = pd.to_datetime(raw["timestamp"], errors="coerce", format="mixed")
    bad_ts = np.flatnonzero(ts.isna().values)
    report["bad_timestamps"] = len(bad_ts)
    if len(bad_ts):
        report["bad_timestamp_rows"] = [int(i) + 2 for i in bad_ts[:MAX_LISTED]]  # file line numbers
        log.warning("%s: %d rows with unparseable timestamps left out (first at line %d)", path, len(bad_ts), bad_ts[0] + 2)
    keep = ~ts.isna().values
    ts, raw = ts[keep], raw[keep]
    report["off_minute_rows"] = int((ts.dt.second != 0).sum() + (ts.dt.microsecond != 0).sum())
    cells = raw[vcols].apply(lambda s: s.str.strip())
    empty = (cells == "").values | cells.isin(["NA", "NaN", "nan", "null", "None"]).values
    values = cells.apply(pd.to_numeric, errors="coerce").values.astype(float)
    nonnum = np.isnan(values) & ~empty
    report["empty_values"] = int(empty.sum())
    report["non_numeric_values"] = int(nonnum.sum())
    if nonnum.any():
        r, c = np.argwhere(nonnum)[0]
        report["first_non_numeric"] = {"line": int(np.flatnonzero(keep)[r]) + 2, "column": vcols[c], "value": cells.values[r, c]}
    cell_valid = np.isfinite(values)
    window = None
    if summary_row is not None and "from_tpt" in summary_row and "to_tpt" in summary_row:
        if not pd.isna(summary_row["from_tpt"]) and not pd.isna(summary_row["to_tpt"]):
            window = (int(_minutes(pd.DatetimeIndex([summary_row["from_tpt"]]))[0]),
                      int(_minutes(pd.DatetimeIndex([summary_row["to_tpt"]]))[0]))
            if window[1] <= window[0]:
                raise InputError(f"{path}: summary to_tpt is not after from_tpt for cage {cage_id}")
    act, valid, grid_ts, rep = grid_from_rows(
        _minutes(ts), values, cell_valid, where=str(path), duplicates=duplicates, window=window
    )
    report.update(rep)
    meta = _meta_from_summary(summary_row)
    exp, date = _experiment(meta, int(grid_ts[0].astype(np.int64)))
    attrs = {**meta, "experiment": exp, "experiment_date": date, "source_file": path.name,
             "source_format": "dvc_csv", "channels": vcols, "start": str(grid_ts[0])}
    return CageRecord(cage_id, act, valid, grid_ts, attrs), report


# --------------------------------------------------------------------------- DAM

_DAM_DATE_FORMATS = ("%d %b %y", "%d %b %Y", "%Y-%m-%d", "%d/%m/%Y", "%d.%m.%Y", "%d-%b-%y", "%d-%b-%Y")
_DAM_TIME_FORMATS = ("%H:%M:%S", "%H:%M")


def parse_dam_datetime(date: str, time: str) -> _dt.datetime:
    """Parse a DAM date and time, e.g. ``"1 Jul 17"`` + ``"07:04:00"`` (DAM2/DAM5 write ``%d %b %y``).

    Also accepts four-digit years, ISO dates and ``dd/mm/yyyy``. Raises ``ValueError`` otherwise.
    """
    date, time = date.strip(), time.strip()
    for df in _DAM_DATE_FORMATS:
        try:
            d = _dt.datetime.strptime(date, df).date()
        except ValueError:
            continue
        for tf in _DAM_TIME_FORMATS:
            try:
                t = _dt.datetime.strptime(time, tf).time()
            except ValueError:
                continue
            return _dt.datetime.combine(d, t)
        raise ValueError(f"unparseable time {time!r}")
    raise ValueError(f"unparseable date {date!r}")


DAM_CHANNELS = 32
DAM_EXTRA_COLS = 6


def read_dam(
    path: str | os.PathLike,
    *,
    layout: str = "per_tube",
    interval_min: int | None = None,
    duplicates: str = "mean",
    summary: pd.DataFrame | None = None,
) -> tuple[list[CageRecord], dict[str, Any]]:
    """Read a DAM2/DAM5 monitor file (TriKinetics) as cages.

    File format: tab-separated, no header; columns: index, date (``1 Jul 17``), time (``07:04:00``),
    status (1 = valid; 51 = no data), six further columns, then 32 activity counts (one per tube).
    One row per reading interval (usually a minute).

    Args:
        path: the monitor file (its stem, e.g. ``M014``, names the cages).
        layout: ``per_tube`` (32 cages ``M014_ch01``..``M014_ch32``, one channel ``counts``) or
            ``per_monitor`` (one cage ``M014`` with channels ``ch01``..``ch32``).
        interval_min: reading interval in minutes (``None``: the median step between valid rows).
        duplicates: duplicate-minute rule.
        summary: optional metadata table indexed by cage id (strain, age ...).

    Returns:
        ``(records, report)``.

    Raises:
        InputError: wrong column count, unparseable date/time, non-numeric counts (naming line).
    """
    path = Path(path)
    monitor = path.stem
    try:
        raw = pd.read_csv(path, sep="\t", header=None, dtype=str, keep_default_na=False)
    except pd.errors.ParserError as exc:
        raise InputError(f"{path}: not a DAM file (tab-separated, 42 columns): {exc}") from None
    ncol = 4 + DAM_EXTRA_COLS + DAM_CHANNELS
    if raw.shape[1] != ncol:
        raise InputError(f"{path}: DAM file has {raw.shape[1]} columns, expected {ncol} "
                         f"(index, date, time, status, {DAM_EXTRA_COLS} more, {DAM_CHANNELS} counts)")
    raw = raw.apply(lambda s: s.str.strip())
    stamps = []
    for i, (d, t) in enumerate(zip(raw[1], raw[2])):
        try:
            stamps.append(parse_dam_datetime(d, t))
        except ValueError as exc:
            raise InputError(f"{path}: line {i + 1}: {exc}") from None
    minutes = _minutes(pd.DatetimeIndex(stamps))
    status = pd.to_numeric(raw[3], errors="coerce")
    if status.isna().any():
        i = int(np.flatnonzero(status.isna().values)[0])
        raise InputError(f"{path}: line {i + 1}: non-numeric status {raw[3][i]!r}")
    status = status.values.astype(int)
    counts_txt = raw.iloc[:, 4 + DAM_EXTRA_COLS :]
    counts = counts_txt.apply(pd.to_numeric, errors="coerce").values.astype(float)
    nonnum = np.isnan(counts)
    codes, ncodes = np.unique(status, return_counts=True)
    report: dict[str, Any] = {
        "source_file": str(path),
        "rows_read": len(raw),
        "status_codes": {str(c): int(k) for c, k in zip(codes, ncodes)},
        "invalid_status_rows": int((status != 1).sum()),
        "non_numeric_values": int(nonnum.sum()),
        "bad_timestamps": 0,
    }
    row_ok = status == 1
    if interval_min is None:
        steps = np.diff(np.sort(minutes[row_ok])) if row_ok.sum() > 1 else np.array([1])
        steps = steps[steps > 0]
        interval_min = int(np.median(steps)) if len(steps) else 1
    report["interval_min"] = int(interval_min)
    cell_valid = row_ok[:, None] & ~nonnum
    values = np.where(cell_valid, counts, np.nan)
    if interval_min > 1:  # spread each reading over the interval that ends at its timestamp
        k = interval_min
        minutes = (minutes[:, None] - np.arange(k)[::-1][None, :]).ravel()
        values = np.repeat(values / k, k, axis=0)
        cell_valid = np.repeat(cell_valid, k, axis=0)
    act, valid, ts, rep = grid_from_rows(minutes, values, cell_valid, where=str(path), duplicates=duplicates)
    report.update(rep)
    base = {"source_file": path.name, "source_format": "dam", "monitor": monitor,
            "interval_min": int(interval_min), "start": str(ts[0])}
    records: list[CageRecord] = []
    if layout == "per_monitor":
        meta = _meta_from_summary(summary.loc[monitor] if summary is not None and monitor in summary.index else None)
        channels = [f"ch{c + 1:02d}" for c in range(DAM_CHANNELS)]
        exp, date = _experiment(meta, int(ts[0].astype(np.int64)))
        records.append(CageRecord(monitor, act, valid, ts, {**meta, **base, "experiment": exp,
                                                            "experiment_date": date, "channels": channels}))
    elif layout == "per_tube":
        for c in range(DAM_CHANNELS):
            cid = f"{monitor}_ch{c + 1:02d}"
            meta = _meta_from_summary(summary.loc[cid] if summary is not None and cid in summary.index else None)
            exp, date = _experiment(meta, int(ts[0].astype(np.int64)))
            records.append(CageRecord(cid, act[:, c : c + 1].copy(), valid[:, c : c + 1].copy(), ts,
                                      {**meta, **base, "experiment": exp, "experiment_date": date,
                                       "tube": c + 1, "channels": ["counts"]}))
    else:
        raise InputError(f"unknown DAM layout {layout!r} (per_tube | per_monitor)")
    return records, report
