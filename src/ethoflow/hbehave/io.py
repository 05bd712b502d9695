"""Readers of raw home-cage activity: Digital Ventilated Cage per-cage CSVs + summary, and DAM2/DAM5 monitor files.

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
- **DAM5 (multibeam)**: only the rows of one data type (column 8, ``CT`` counts by default) are read;
  the other types (``C1``-``C4``, ``D1``-``D4``, ``Pn``, ``TA``) are left out and counted.
- **DAM interval not a whole number of minutes** (e.g. 131 s): readings are spread onto minutes by
  overlap (:func:`resample_to_minutes`); a minute is valid when valid readings cover at least
  ``min_valid_fraction`` of it.
- **Damaged DAM rows** (column count, date, time, status; counts non-numeric, negative or above
  ``max_count``): ``on_bad_row="fail"`` raises ``<file>: line N: ... in column C (...)``; ``skip``
  leaves the row (a bad count: that tube's value) out and reports it (:func:`read_dam_readings`).
"""

from __future__ import annotations

import datetime as _dt
import os
import re
from dataclasses import dataclass
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


# ------------------------------------------------------------ Digital Ventilated Cage CSV


def _read_csv(path: Path, what: str, **kw: Any) -> pd.DataFrame:
    """``pd.read_csv`` with an empty, header-only or malformed file named as such (``InputError``)."""
    from ethoflow.core.inputs import check_file, check_last_row

    check_file(path, what)
    check_last_row(path, what)
    try:
        df = pd.read_csv(path, **kw)
    except pd.errors.EmptyDataError:
        raise InputError(f"{path}: {what} holds no data (blank lines only)") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: {what} cannot be parsed: {' '.join(str(exc).split())[:200]}") from None
    if df.empty:
        raise InputError(f"{path}: {what} has a header but no rows (columns: {', '.join(map(str, df.columns))})")
    return df


def read_summary(path: str | os.PathLike) -> pd.DataFrame:
    """Read a summary CSV (one row per cage; ``cage_id`` required; ``from_tpt``/``to_tpt`` optional).

    Raises:
        InputError: file missing, no ``cage_id`` column, duplicated cage ids, or unparseable times.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: summary CSV not found")
    df = _read_csv(path, "summary CSV", dtype={"cage_id": str})
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


def read_ventilated_cage_csv(
    path: str | os.PathLike,
    *,
    summary_row: pd.Series | None = None,
    duplicates: str = "mean",
) -> tuple[CageRecord, dict[str, Any]]:
    """Read one Digital Ventilated Cage CSV (``timestamp, v_1..v_N``, one row per minute) onto the minute grid.

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
    raw = _read_csv(path, "activity CSV", dtype=str, keep_default_na=False)
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
        log.warning(
            "%s: %d rows with unparseable timestamps left out (first at line %d)", path, len(bad_ts), bad_ts[0] + 2
        )
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
        report["first_non_numeric"] = {
            "line": int(np.flatnonzero(keep)[r]) + 2,
            "column": vcols[c],
            "value": cells.values[r, c],
        }
    cell_valid = np.isfinite(values)
    window = None
    if summary_row is not None and "from_tpt" in summary_row and "to_tpt" in summary_row:
        if not pd.isna(summary_row["from_tpt"]) and not pd.isna(summary_row["to_tpt"]):
            window = (
                int(_minutes(pd.DatetimeIndex([summary_row["from_tpt"]]))[0]),
                int(_minutes(pd.DatetimeIndex([summary_row["to_tpt"]]))[0]),
            )
            if window[1] <= window[0]:
                raise InputError(f"{path}: summary to_tpt is not after from_tpt for cage {cage_id}")
    act, valid, grid_ts, rep = grid_from_rows(
        _minutes(ts), values, cell_valid, where=str(path), duplicates=duplicates, window=window
    )
    report.update(rep)
    meta = _meta_from_summary(summary_row)
    exp, date = _experiment(meta, int(grid_ts[0].astype(np.int64)))
    attrs = {
        **meta,
        "experiment": exp,
        "experiment_date": date,
        "source_file": path.name,
        "source_format": "dvc_csv",
        "channels": vcols,
        "start": str(grid_ts[0]),
    }
    return CageRecord(cage_id, act, valid, grid_ts, attrs), report


# --------------------------------------------------------------------------- DAM

_DAM_DATE_FORMATS = ("%d %b %y", "%d %b %Y", "%Y-%m-%d", "%d/%m/%Y", "%d.%m.%Y", "%d-%b-%y", "%d-%b-%Y")
_DAM_TIME_FORMATS = ("%H:%M:%S", "%H:%M")
_EPOCH_ORDINAL = _dt.date(1970, 1, 1).toordinal()
_INT = re.compile(r"^[+-]?\d+$")

DAM_CHANNELS = 32
DAM_EXTRA_COLS = 6
DAM_COLUMNS = 4 + DAM_EXTRA_COLS + DAM_CHANNELS  # 42
DAM_TYPE_COL = 7  # 0-based: column 8, the data type of a DAM5 (multibeam) row
DAM_COUNT_COL = 4 + DAM_EXTRA_COLS  # 0-based: column 11 holds tube 1
# Data types a DAM5 file writes in column 8 (upper case): counts, per-beam counts, dwell, position, tabulated.
DAM5_DATA_TYPES = frozenset({"CT", "C1", "C2", "C3", "C4", "D1", "D2", "D3", "D4", "PN", "PNF", "TA"})
ROW_PROBLEMS = ("column_count", "date", "time", "status", "missing_type_row")
VALUE_PROBLEMS = ("non_numeric", "negative", "above_max")


def _parse_dam_date(date: str) -> _dt.date:
    for fmt in _DAM_DATE_FORMATS:
        try:
            return _dt.datetime.strptime(date, fmt).date()
        except ValueError:
            continue
    raise ValueError(f"unparseable date {date!r}")


def _parse_dam_time(time: str) -> _dt.time:
    for fmt in _DAM_TIME_FORMATS:
        try:
            return _dt.datetime.strptime(time, fmt).time()
        except ValueError:
            continue
    raise ValueError(f"unparseable time {time!r}")


def parse_dam_datetime(date: str, time: str) -> _dt.datetime:
    """Parse a DAM date and time, e.g. ``"1 Jul 17"`` + ``"07:04:00"`` (DAM2/DAM5 write ``%d %b %y``).

    Also accepts four-digit years, ISO dates and ``dd/mm/yyyy``; times with or without seconds.

    Raises:
        ValueError: ``unparseable date '...'`` or ``unparseable time '...'``.
    """
    return _dt.datetime.combine(_parse_dam_date(date.strip()), _parse_dam_time(time.strip()))


@dataclass
class DamProblem:
    """One problem in a DAM file: where (line, 1-based column), what, and the value found.

    ``kind`` is one of :data:`ROW_PROBLEMS` (the row cannot be placed: left out with
    ``on_bad_row="skip"``) or :data:`VALUE_PROBLEMS` (one tube's count of that reading is left out).
    """

    line: int
    column: int
    field: str
    kind: str
    message: str
    value: str

    def text(self, path: str | os.PathLike) -> str:
        return f"{path}: line {self.line}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "column": self.column,
            "field": self.field,
            "problem": self.kind,
            "value": self.value,
            "message": self.message,
        }


@dataclass
class DamReadings:
    """The rows of one DAM file that carry the counts, parsed and validated, before the minute grid.

    Attributes:
        path: the file.
        dam_format: ``DAM2`` (one row per reading) or ``DAM5`` (multibeam: one row per data type per
            reading, column 8 names the type; only ``data_type`` rows are kept).
        data_type: the data type kept (DAM5), ``None`` for DAM2.
        lines: int64 (n,) line numbers (1-based) of the kept rows.
        seconds: int64 (n,) time stamps in seconds since 1970 (the end of each reading's interval).
        status: int64 (n,) status column (1 = valid reading).
        counts: float64 (n, 32) counts as written; NaN where a count was left out.
        count_ok: bool (n, 32) False where a count was left out (non-numeric, negative, above max).
        problems: every problem found, in file order.
        rows_read: non-blank lines; blank_lines: blank lines (ignored).
        data_type_rows: rows per data type (DAM5), e.g. ``{"CT": 12, "C1": 12, ..., "TA": 384}``.
    """

    path: Path
    dam_format: str
    data_type: str | None
    lines: np.ndarray
    seconds: np.ndarray
    status: np.ndarray
    counts: np.ndarray
    count_ok: np.ndarray
    problems: list[DamProblem]
    rows_read: int
    blank_lines: int
    data_type_rows: dict[str, int]

    @property
    def skipped_rows(self) -> int:
        return sum(p.kind in ROW_PROBLEMS for p in self.problems)

    @property
    def skipped_values(self) -> int:
        return sum(p.kind in VALUE_PROBLEMS for p in self.problems)

    def problem_counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for p in self.problems:
            out[p.kind] = out.get(p.kind, 0) + 1
        return out


def _column_count_problem(line: int, n: int) -> DamProblem:
    if n < DAM_COLUMNS:
        msg = (
            f"{n} columns instead of {DAM_COLUMNS}: column {n + 1} onward missing "
            "(a field missing mid-line, or the line cut short)"
        )
        return DamProblem(line, n + 1, "columns", "column_count", msg, str(n))
    msg = f"{n} columns instead of {DAM_COLUMNS}: column {DAM_COLUMNS + 1} onward is extra"
    return DamProblem(line, DAM_COLUMNS + 1, "columns", "column_count", msg, str(n))


def _summarise(counts: dict[str, int], kinds: tuple[str, ...]) -> str:
    return ", ".join(f"{counts[k]} {k}" for k in kinds if counts.get(k))


def _readings_without_type_row(
    all_rows: list[tuple[int, list[str]]], kept: list[tuple[int, list[str]]], data_type: str
) -> list[DamProblem]:
    """DAM5 readings (rows sharing a date and time) that have other data types but no ``data_type`` row.

    Such a reading would silently become a gap on the minute grid; it is a row problem instead, named
    by its time and lines (``on_bad_row``: ``fail`` raises it, ``skip`` reports it).
    """
    have = {(c[1], c[2]) for _, c in kept}
    missing: dict[tuple[str, str], list[int]] = {}
    for ln, c in all_rows:
        key = (c[1], c[2])
        if key not in have:
            missing.setdefault(key, []).append(ln)
    out = []
    for (date, time), lines in missing.items():
        span = f"line {lines[0]}" if len(lines) == 1 else f"lines {lines[0]}-{lines[-1]}"
        msg = (
            f"DAM5 reading at {date} {time} ({span}, {len(lines)} rows of other data types) has no "
            f"{data_type} row: that reading would be a gap"
        )
        out.append(DamProblem(lines[0], DAM_TYPE_COL + 1, "data type", "missing_type_row", msg, f"{date} {time}"))
    return out


def read_dam_readings(
    path: str | os.PathLike,
    *,
    data_type: str = "CT",
    max_count: int = 1000,
    on_bad_row: str = "fail",
) -> DamReadings:
    """Parse and validate a DAM2/DAM5 file into its readings (no minute grid yet).

    Every non-blank line must have 42 tab-separated columns; kept rows (all rows of a DAM2 file, the
    ``data_type`` rows of a DAM5 file) must have a date (column 2), time (column 3) and integer status
    (column 4); the 32 counts (columns 11-42) of status-1 rows must be integers in
    ``[0, max_count]``. A DAM5 file is recognised by DAM5 data types (``CT``, ``C1``, ``D1``, ``Pn``,
    ``TA`` ...) in column 8; DAM2 files have a number there.

    Args:
        path: the monitor file.
        data_type: DAM5 rows to keep (column 8, case-insensitive); ignored for DAM2.
        max_count: largest plausible count per reading (counts per tube and reading interval).
        on_bad_row: ``fail``: one problem is raised (file, line, column; the first row that cannot
            be placed, else the first bad count) with the number of further problems. ``skip``: rows
            that cannot be placed (column count, date, time, status) are left out, and a bad count
            leaves out that tube's value of that reading only (the other tubes of a line with the
            right column count are aligned); all listed in ``problems`` and logged.

    Returns:
        :class:`DamReadings`.

    Raises:
        InputError: file unreadable or empty; with ``on_bad_row="fail"`` any problem (one line:
            ``<file>: line N: <problem> in column C (<field>)``); a DAM5 file without ``data_type``
            rows; no readable row.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise InputError(f"{path}: cannot read DAM file ({exc.strerror})") from None
    problems: list[DamProblem] = []
    rows: list[tuple[int, list[str]]] = []
    blank = 0
    all_lines = text.splitlines()
    for ln, line in enumerate(all_lines, 1):
        if not line.strip():
            blank += 1
            continue
        cells = line.split("\t")
        while len(cells) > DAM_COLUMNS and not cells[-1].strip():  # trailing tabs
            cells.pop()
        if len(cells) != DAM_COLUMNS:
            problems.append(_column_count_problem(ln, len(cells)))
            continue
        rows.append((ln, [c.strip() for c in cells]))
    rows_read = len(all_lines) - blank
    if rows_read == 0:
        raise InputError(f"{path}: empty DAM file")

    types = [c[DAM_TYPE_COL] for _, c in rows]
    multibeam = any(t.upper() in DAM5_DATA_TYPES for t in types)
    type_rows: dict[str, int] = {}
    if multibeam:
        for t in types:
            type_rows[t] = type_rows.get(t, 0) + 1
        want = data_type.upper()
        all_rows = rows
        rows = [r for r, t in zip(rows, types) if t.upper() == want]
        if not rows:
            raise InputError(
                f"{path}: DAM5 (multibeam) file has no {data_type!r} rows (column 8 holds "
                f"{', '.join(sorted(type_rows))}); set hbehave.zarr.dam_data_type"
            )
        problems.extend(_readings_without_type_row(all_rows, rows, data_type))

    dates: dict[str, _dt.date] = {}
    times: dict[str, int] = {}
    kept_lines, kept_secs, kept_status, kept_counts = [], [], [], []
    for ln, c in rows:
        d, t, st = c[1], c[2], c[3]
        try:
            day = dates[d] if d in dates else dates.setdefault(d, _parse_dam_date(d))
        except ValueError as exc:
            problems.append(DamProblem(ln, 2, "date", "date", f"{exc} in column 2 (date)", d))
            continue
        try:
            if t not in times:
                tt = _parse_dam_time(t)
                times[t] = tt.hour * 3600 + tt.minute * 60 + tt.second
            sec = times[t]
        except ValueError as exc:
            problems.append(DamProblem(ln, 3, "time", "time", f"{exc} in column 3 (time)", t))
            continue
        if not _INT.match(st):
            msg = f"non-integer status {st!r} in column 4 (status)"
            problems.append(DamProblem(ln, 4, "status", "status", msg, st))
            continue
        kept_lines.append(ln)
        kept_secs.append((day.toordinal() - _EPOCH_ORDINAL) * 86400 + sec)
        kept_status.append(int(st))
        kept_counts.append(c[DAM_COUNT_COL:])

    n = len(kept_lines)
    status = np.asarray(kept_status, dtype=np.int64)
    txt = np.asarray(kept_counts, dtype=str).reshape(n, DAM_CHANNELS)
    try:
        counts = txt.astype(np.int64).astype(np.float64)
        isint = np.ones(txt.shape, bool)
    except (ValueError, OverflowError):  # some cell is not an integer: find which
        isint = np.vectorize(lambda v: bool(_INT.match(v)), otypes=[bool])(txt)
        counts = np.full(txt.shape, np.nan)
        counts[isint] = txt[isint].astype(np.float64)
    checked = (status == 1)[:, None]  # counts of invalid readings are not used, so not checked
    bad_kinds = (
        ("non_numeric", checked & ~isint),
        ("negative", checked & isint & (counts < 0)),
        ("above_max", checked & isint & (counts > max_count)),
    )
    count_ok = np.ones(txt.shape, bool)
    for kind, mask in bad_kinds:
        for r, ch in np.argwhere(mask):
            v = str(txt[r, ch])
            col, fld = DAM_COUNT_COL + ch + 1, f"tube {ch + 1}"
            if kind == "non_numeric":
                what = f"non-numeric count {v!r}" if v else "empty count"
            elif kind == "negative":
                what = f"negative count {v}"
            else:
                what = f"count {v} above hbehave.zarr.dam_max_count ({max_count})"
            problems.append(DamProblem(int(kept_lines[r]), col, fld, kind, f"{what} in column {col} ({fld})", v))
        count_ok &= ~mask
    counts[~count_ok] = np.nan
    problems.sort(key=lambda p: (p.line, p.column))

    if problems and on_bad_row == "fail":  # a row that cannot be placed is named before a bad count
        first = min(problems, key=lambda p: (p.kind not in ROW_PROBLEMS, p.line, p.column))
        more = f"; {len(problems) - 1} more problem(s) in this file" if len(problems) > 1 else ""
        raise InputError(
            f"{first.text(path)}{more} (hbehave.zarr.dam_on_bad_row: fail; "
            "skip leaves bad rows and counts out and reports them)"
        )
    if n == 0:
        first = f"; first: {problems[0].text(path)}" if problems else ""
        raise InputError(f"{path}: no readable DAM row ({len(problems)} problems{first})")
    readings = DamReadings(
        path=path,
        dam_format="DAM5" if multibeam else "DAM2",
        data_type=data_type if multibeam else None,
        lines=np.asarray(kept_lines, dtype=np.int64),
        seconds=np.asarray(kept_secs, dtype=np.int64),
        status=status,
        counts=counts,
        count_ok=count_ok,
        problems=problems,
        rows_read=rows_read,
        blank_lines=blank,
        data_type_rows=type_rows,
    )
    if problems:
        pc = readings.problem_counts()
        log.warning(
            "%s: %d rows skipped (%s), %d count values left out (%s); first: %s",
            path,
            readings.skipped_rows,
            _summarise(pc, ROW_PROBLEMS) or "none",
            readings.skipped_values,
            _summarise(pc, VALUE_PROBLEMS) or "none",
            f"line {problems[0].line}: {problems[0].message}",
        )
    return readings


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


def check_duplicate_readings(rd: DamReadings, *, on_duplicate: str = "fail") -> tuple[int, int]:
    """Readings of one DAM file that repeat a time stamp (to the second), before any merging.

    A repeat that differs from the first reading at that time (a count, or the status, of any tube)
    is a conflict: the file holds two answers for one reading and no rule can tell which is right.

    Args:
        rd: the parsed readings (:func:`read_dam_readings`).
        on_duplicate: ``fail`` raises on the first conflict; ``mean``/``first``/``last``: the caller
            merges that way; the counts are logged here (a warning when any conflict).

    Returns:
        ``(repeated readings, conflicting readings)``: extra rows at an already-seen time, and how
        many of them differ.

    Raises:
        InputError: ``on_duplicate="fail"`` and a conflict: ``<file>: lines A and B: two readings at
            <time> with different counts (tube T: x vs y); N conflicting ...``.
    """
    secs = rd.seconds
    order = np.argsort(secs, kind="stable")
    s_sorted = secs[order]
    same = np.flatnonzero(s_sorted[1:] == s_sorted[:-1]) + 1  # positions that repeat the previous time
    if not len(same):
        return 0, 0
    # the first reading of each run of equal times
    run_start = np.maximum.accumulate(np.where(np.r_[True, s_sorted[1:] != s_sorted[:-1]], np.arange(len(secs)), 0))
    ok = (rd.status == 1)[:, None] & rd.count_ok
    vals = np.where(ok, rd.counts, np.nan)
    conflicts = []
    for pos in same:
        a, b = order[run_start[pos]], order[pos]
        if rd.status[a] != rd.status[b] or not np.array_equal(vals[a], vals[b], equal_nan=True):
            conflicts.append((a, b))
    n_rep, n_conf = len(same), len(conflicts)
    if conflicts and on_duplicate == "fail":
        a, b = conflicts[0]
        when = str(np.datetime64(int(secs[a]), "s")).replace("T", " ")
        if rd.status[a] != rd.status[b]:
            what = f"status {rd.status[a]} vs {rd.status[b]}"
        else:
            tube = int(np.flatnonzero(~((vals[a] == vals[b]) | (np.isnan(vals[a]) & np.isnan(vals[b]))))[0])
            what = f"tube {tube + 1}: {rd.counts[a, tube]:g} vs {rd.counts[b, tube]:g}"
        more = f"; {n_conf} conflicting readings in this file" if n_conf > 1 else ""
        raise InputError(
            f"{rd.path}: lines {rd.lines[a]} and {rd.lines[b]}: two readings at {when} with different "
            f"counts ({what}){more} (hbehave.zarr.dam_on_duplicate: fail; mean, first or last merges them)"
        )
    if conflicts:
        log.warning(
            "%s: %d readings repeat a time stamp, %d of them with different counts: merged by "
            "hbehave.zarr.dam_on_duplicate=%s",
            rd.path,
            n_rep,
            n_conf,
            on_duplicate,
        )
    else:
        log.info("%s: %d identical repeated readings merged", rd.path, n_rep)
    return n_rep, n_conf


def _detect_interval_s(seconds: np.ndarray) -> int:
    """Median step (seconds) between distinct valid readings; 60 with fewer than two."""
    steps = np.diff(np.unique(seconds))
    return int(round(float(np.median(steps)))) if len(steps) else 60


def read_dam(
    path: str | os.PathLike,
    *,
    layout: str = "per_tube",
    interval_min: int | None = None,
    duplicates: str = "mean",
    summary: pd.DataFrame | None = None,
    interval_s: int | None = None,
    data_type: str = "CT",
    max_count: int = 1000,
    on_bad_row: str = "fail",
    min_valid_fraction: float = 0.5,
    on_duplicate: str = "fail",
) -> tuple[list[CageRecord], dict[str, Any]]:
    """Read a DAM2/DAM5 monitor file (TriKinetics) as cages on the per-minute grid.

    File format: tab-separated, no header, 42 columns: index, date (``1 Jul 17``), time
    (``07:04:00``), status (1 = valid; 51 = no data), six further columns, then 32 counts (one per
    tube). DAM2 writes one row per reading; DAM5 (multibeam) one row per data type per reading, the
    type in column 8 (``CT`` counts, ``C1``-``C4``, ``D1``-``D4``, ``Pn``, 32 ``TA`` rows): only the
    ``data_type`` rows are read (:func:`read_dam_readings` validates the rows).

    The reading interval (``interval_s``, else ``interval_min``, else the median step between valid
    readings, in seconds; a detected step within 1 s of whole minutes counts as whole minutes)
    chooses the placement. A whole number of minutes: each reading goes to its
    minute (seconds floored, counted in ``off_minute_rows``), and an interval of N > 1 minutes spreads
    each count evenly over the N minutes ending at its time stamp (``resampling: minute``, the DAM2
    rule). Any other interval (a DAM5 interval of 131 s, 30 s readings): resampled by overlap with
    :func:`resample_to_minutes` (``resampling: overlap``): no artificial gaps, counts kept.

    Args:
        path: the monitor file (its stem, e.g. ``M014``, names the cages).
        layout: ``per_tube`` (32 cages ``M014_ch01``..``M014_ch32``, one channel ``counts``) or
            ``per_monitor`` (one cage ``M014`` with channels ``ch01``..``ch32``).
        interval_min: reading interval in minutes (``None``: detected).
        duplicates: rule for several readings with the same time stamp.
        summary: optional metadata table indexed by cage id (strain, age ...).
        interval_s: reading interval in seconds (overrides ``interval_min``; ``None``: detected as the
            median step between valid readings).
        data_type: DAM5 data type read as counts (column 8), ``CT`` by default.
        max_count: largest plausible count per reading.
        on_bad_row: ``fail`` or ``skip`` (see :func:`read_dam_readings`).
        min_valid_fraction: coverage a resampled minute needs to be valid (0-1].
        on_duplicate: two readings with the same time stamp and different counts or status
            (:func:`check_duplicate_readings`): ``fail`` raises naming both lines; ``mean``, ``first``
            or ``last`` merges them that way (and overrides ``duplicates``), logged with the counts.
            Identical repeated readings are merged in every mode and counted.

    Returns:
        ``(records, report)``; the report counts every rule (``status_codes``, ``skipped_rows``,
        ``skipped_values``, ``problems`` with line and column, ``interval_s``, ``resampling`` ...).

    Raises:
        InputError: a bad row or count with ``on_bad_row="fail"`` (file, line and column named), a DAM5
            reading without its ``data_type`` row with ``on_bad_row="fail"`` (its time named), a DAM5
            file without ``data_type`` rows, conflicting readings with ``on_duplicate="fail"`` (both
            lines named), no readable row, an unknown layout.
    """
    if layout not in ("per_tube", "per_monitor"):
        raise InputError(f"unknown DAM layout {layout!r} (per_tube | per_monitor)")
    if on_duplicate not in ("fail", "mean", "first", "last"):
        raise InputError(f"unknown dam_on_duplicate {on_duplicate!r} (fail | mean | first | last)")
    path = Path(path)
    monitor = path.stem
    rd = read_dam_readings(path, data_type=data_type, max_count=max_count, on_bad_row=on_bad_row)
    n_repeated, n_conflicting = check_duplicate_readings(rd, on_duplicate=on_duplicate)
    if on_duplicate != "fail":
        duplicates = on_duplicate
    status = rd.status
    pc = rd.problem_counts()
    codes, ncodes = np.unique(status, return_counts=True)
    report: dict[str, Any] = {
        "source_file": str(path),
        "rows_read": rd.rows_read,
        "status_codes": {str(c): int(k) for c, k in zip(codes, ncodes)},
        "invalid_status_rows": int((status != 1).sum()),
        "non_numeric_values": int(pc.get("non_numeric", 0)),
        "bad_timestamps": int(pc.get("date", 0) + pc.get("time", 0)),
    }
    row_ok = status == 1
    cell_valid = row_ok[:, None] & rd.count_ok
    values = np.where(cell_valid, rd.counts, np.nan)
    if interval_s is None and interval_min is None:
        detected_s = _detect_interval_s(rd.seconds[row_ok])
        # within a second of whole minutes (clock jitter of a 1-minute setting): whole minutes
        whole_minutes = abs(detected_s - 60 * round(detected_s / 60)) <= 1 and detected_s >= 59
    else:
        whole_minutes = interval_s is None or interval_s % 60 == 0
    if whole_minutes:  # placed on their minute (seconds floored), as DAM2 files always were
        minutes = rd.seconds // 60
        report["off_minute_rows"] = int((rd.seconds % 60 != 0).sum())
        if interval_s is not None:
            interval_min = interval_s // 60
        if interval_min is None:
            steps = np.diff(np.sort(minutes[row_ok])) if row_ok.sum() > 1 else np.array([1])
            steps = steps[steps > 0]
            interval_min = int(np.median(steps)) if len(steps) else 1
        report["interval_min"] = int(interval_min)
        if interval_min > 1:  # spread each reading over the interval that ends at its timestamp
            k = interval_min
            minutes = (minutes[:, None] - np.arange(k)[::-1][None, :]).ravel()
            values = np.repeat(values / k, k, axis=0)
            cell_valid = np.repeat(cell_valid, k, axis=0)
        act, valid, ts, rep = grid_from_rows(minutes, values, cell_valid, where=str(path), duplicates=duplicates)
        interval_s = int(interval_min) * 60
        resampling = "minute"
    else:
        if interval_s is None:
            interval_s = detected_s
        act, valid, _cov, ts, rep = resample_to_minutes(
            rd.seconds,
            values,
            cell_valid,
            interval_s=interval_s,
            where=str(path),
            duplicates=duplicates,
            min_valid_fraction=min_valid_fraction,
        )
        report["interval_min"] = round(interval_s / 60, 4)
        resampling = "overlap"
    report.update(rep)
    report.update(
        {
            "format": rd.dam_format,
            "data_type": rd.data_type,
            "data_type_rows": rd.data_type_rows,
            "interval_s": int(interval_s),
            "resampling": resampling,
            "readings": int(len(rd.seconds)),
            "blank_lines": rd.blank_lines,
            "skipped_rows": rd.skipped_rows,
            "skipped_values": rd.skipped_values,
            "problem_counts": pc,
            "problems": [p.as_dict() for p in rd.problems[:MAX_LISTED]],
            "repeated_readings": n_repeated,
            "conflicting_readings": n_conflicting,
            "dam_on_duplicate": on_duplicate,
        }
    )
    if rd.dam_format == "DAM5":
        others = ", ".join(f"{n} {t}" for t, n in rd.data_type_rows.items() if t.upper() != str(data_type).upper())
        log.info(
            "%s: DAM5 (multibeam): %d %s rows read as counts (left out: %s); reading interval %d s, %s",
            path,
            len(rd.seconds),
            data_type,
            others or "none",
            interval_s,
            "resampled to minutes by overlap" if resampling == "overlap" else "on whole minutes",
        )
    base: dict[str, Any] = {
        "source_file": path.name,
        "source_format": "dam",
        "monitor": monitor,
        "interval_min": report["interval_min"],
        "start": str(ts[0]),
    }
    if rd.dam_format == "DAM5" or resampling == "overlap":
        base.update(
            {
                "dam_format": rd.dam_format,
                "data_type": rd.data_type,
                "interval_s": int(interval_s),
                "resampling": resampling,
            }
        )
    records: list[CageRecord] = []
    if layout == "per_monitor":
        meta = _meta_from_summary(summary.loc[monitor] if summary is not None and monitor in summary.index else None)
        channels = [f"ch{c + 1:02d}" for c in range(DAM_CHANNELS)]
        exp, date = _experiment(meta, int(ts[0].astype(np.int64)))
        records.append(
            CageRecord(
                monitor,
                act,
                valid,
                ts,
                {**meta, **base, "experiment": exp, "experiment_date": date, "channels": channels},
            )
        )
    else:
        for c in range(DAM_CHANNELS):
            cid = f"{monitor}_ch{c + 1:02d}"
            meta = _meta_from_summary(summary.loc[cid] if summary is not None and cid in summary.index else None)
            exp, date = _experiment(meta, int(ts[0].astype(np.int64)))
            records.append(
                CageRecord(
                    cid,
                    act[:, c : c + 1].copy(),
                    valid[:, c : c + 1].copy(),
                    ts,
                    {**meta, **base, "experiment": exp, "experiment_date": date, "tube": c + 1, "channels": ["counts"]},
                )
            )
    return records, report
