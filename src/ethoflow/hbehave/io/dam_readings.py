"""DAM2/DAM5 monitor files (TriKinetics) parsed and validated into readings, before any minute grid.

File format: tab-separated, no header, 42 columns: index, date, time, status, six further columns, then
32 counts (one per tube). DAM5 (multibeam) writes one row per data type per reading (column 8).
"""

from __future__ import annotations

import datetime as _dt
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ethoflow.core.errors import InputError
from ethoflow.core.logging import get_logger

log = get_logger(__name__)

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
    rows, problems, rows_read, blank = _split_rows(path)
    multibeam = False
    type_rows: dict[str, int] = {}
    types = [c[DAM_TYPE_COL] for _, c in rows]
    if any(t.upper() in DAM5_DATA_TYPES for t in types):
        multibeam = True
        rows, type_rows = _keep_data_type(path, rows, types, data_type, problems)
    kept_lines, kept_secs, kept_status, kept_counts = _place_rows(rows, problems)
    status = np.asarray(kept_status, dtype=np.int64)
    counts, count_ok = _check_counts(kept_lines, status, kept_counts, max_count, problems)
    problems.sort(key=lambda p: (p.line, p.column))
    _raise_problems(path, problems, on_bad_row, n_kept=len(kept_lines))
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
        _log_problems(readings)
    return readings


def _split_rows(path: Path) -> tuple[list[tuple[int, list[str]]], list[DamProblem], int, int]:
    """The file's non-blank lines with the right column count, as ``(line number, stripped cells)``.

    Returns:
        ``(rows, problems (column counts), non-blank lines, blank lines)``.

    Raises:
        InputError: the file cannot be read or holds no non-blank line.
    """
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
    return rows, problems, rows_read, blank


def _keep_data_type(
    path: Path, rows: list[tuple[int, list[str]]], types: list[str], data_type: str, problems: list[DamProblem]
) -> tuple[list[tuple[int, list[str]]], dict[str, int]]:
    """The ``data_type`` rows of a DAM5 file and the rows per type; readings without one go to ``problems``.

    Raises:
        InputError: no ``data_type`` row at all.
    """
    type_rows: dict[str, int] = {}
    for t in types:
        type_rows[t] = type_rows.get(t, 0) + 1
    want = data_type.upper()
    kept = [r for r, t in zip(rows, types) if t.upper() == want]
    if not kept:
        raise InputError(
            f"{path}: DAM5 (multibeam) file has no {data_type!r} rows (column 8 holds "
            f"{', '.join(sorted(type_rows))}); set hbehave.zarr.dam_data_type"
        )
    problems.extend(_readings_without_type_row(rows, kept, data_type))
    return kept, type_rows


def _place_rows(
    rows: list[tuple[int, list[str]]], problems: list[DamProblem]
) -> tuple[list[int], list[int], list[int], list[list[str]]]:
    """Date, time and status of each row; rows where one cannot be parsed go to ``problems``.

    Returns:
        ``(lines, seconds since 1970, status, count cells)`` of the rows kept.
    """
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
    return kept_lines, kept_secs, kept_status, kept_counts


def _check_counts(
    kept_lines: list[int], status: np.ndarray, kept_counts: list[list[str]], max_count: int, problems: list[DamProblem]
) -> tuple[np.ndarray, np.ndarray]:
    """The 32 counts of each kept row as float64 (NaN where left out) and their ``count_ok`` mask.

    Counts of status-1 rows must be integers in ``[0, max_count]``; each bad one goes to ``problems``.
    """
    n = len(kept_lines)
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
            problems.append(_count_problem(int(kept_lines[r]), int(ch), kind, str(txt[r, ch]), max_count))
        count_ok &= ~mask
    counts[~count_ok] = np.nan
    return counts, count_ok


def _count_problem(line: int, ch: int, kind: str, v: str, max_count: int) -> DamProblem:
    """A bad count of tube ``ch + 1`` (0-based ``ch``) on ``line``: non-numeric, negative or above max."""
    col, fld = DAM_COUNT_COL + ch + 1, f"tube {ch + 1}"
    if kind == "non_numeric":
        what = f"non-numeric count {v!r}" if v else "empty count"
    elif kind == "negative":
        what = f"negative count {v}"
    else:
        what = f"count {v} above hbehave.zarr.dam_max_count ({max_count})"
    return DamProblem(line, col, fld, kind, f"{what} in column {col} ({fld})", v)


def _raise_problems(path: Path, problems: list[DamProblem], on_bad_row: str, *, n_kept: int) -> None:
    """Raise the first problem with ``on_bad_row="fail"``, or when no row is left.

    Raises:
        InputError: ``<file>: line N: <problem> in column C (<field>)``, or no readable DAM row.
    """
    if problems and on_bad_row == "fail":  # a row that cannot be placed is named before a bad count
        first = min(problems, key=lambda p: (p.kind not in ROW_PROBLEMS, p.line, p.column))
        more = f"; {len(problems) - 1} more problem(s) in this file" if len(problems) > 1 else ""
        raise InputError(
            f"{first.text(path)}{more} (hbehave.zarr.dam_on_bad_row: fail; "
            "skip leaves bad rows and counts out and reports them)"
        )
    if n_kept == 0:
        first = f"; first: {problems[0].text(path)}" if problems else ""
        raise InputError(f"{path}: no readable DAM row ({len(problems)} problems{first})")


def _log_problems(readings: DamReadings) -> None:
    """One warning: rows skipped and count values left out, by kind, and the first problem."""
    problems = readings.problems
    pc = readings.problem_counts()
    log.warning(
        "%s: %d rows skipped (%s), %d count values left out (%s); first: %s",
        readings.path,
        readings.skipped_rows,
        _summarise(pc, ROW_PROBLEMS) or "none",
        readings.skipped_values,
        _summarise(pc, VALUE_PROBLEMS) or "none",
        f"line {problems[0].line}: {problems[0].message}",
    )


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
