"""DAM2/DAM5 monitor files (TriKinetics) read as cages on the per-minute grid."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ethoflow.core.errors import InputError
from ethoflow.core.logging import get_logger
from ethoflow.hbehave.io.dam_readings import (
    DAM_CHANNELS,
    DamReadings,
    check_duplicate_readings,
    read_dam_readings,
)
from ethoflow.hbehave.io.grid import MAX_LISTED, grid_from_rows, resample_to_minutes
from ethoflow.hbehave.io.summary import cage_meta, experiment_of
from ethoflow.hbehave.store import CageRecord

log = get_logger(__name__)


def _detect_interval_s(seconds: np.ndarray) -> int:
    """Median step (seconds) between distinct valid readings; 60 with fewer than two."""
    steps = np.diff(np.unique(seconds))
    return int(round(float(np.median(steps)))) if len(steps) else 60


@dataclass(frozen=True)
class DamOptions:
    """How a DAM file's readings are validated and placed on minutes (``hbehave.zarr.dam_*`` params).

    Attributes:
        interval_min: reading interval in minutes (``None``: detected).
        interval_s: reading interval in seconds (overrides ``interval_min``; ``None``: detected as the
            median step between valid readings).
        duplicates: rule for several readings with the same time stamp (``mean``, ``first``, ``last``,
            ``error``); ``on_duplicate`` other than ``fail`` overrides it.
        data_type: DAM5 data type read as counts (column 8), ``CT`` by default.
        max_count: largest plausible count per reading.
        min_valid_fraction: coverage a resampled minute needs to be valid (0-1].
    """

    interval_min: int | None = None
    interval_s: int | None = None
    duplicates: str = "mean"
    data_type: str = "CT"
    max_count: int = 1000
    min_valid_fraction: float = 0.5


def read_dam(
    path: str | os.PathLike,
    *,
    layout: str = "per_tube",
    summary: pd.DataFrame | None = None,
    on_bad_row: str = "fail",
    on_duplicate: str = "fail",
    options: DamOptions | None = None,
) -> tuple[list[CageRecord], dict[str, Any]]:
    """Read a DAM2/DAM5 monitor file (TriKinetics) as cages on the per-minute grid.

    File format: tab-separated, no header, 42 columns: index, date (``1 Jul 17``), time
    (``07:04:00``), status (1 = valid; 51 = no data), six further columns, then 32 counts (one per
    tube). DAM2 writes one row per reading; DAM5 (multibeam) one row per data type per reading, the
    type in column 8 (``CT`` counts, ``C1``-``C4``, ``D1``-``D4``, ``Pn``, 32 ``TA`` rows): only the
    ``data_type`` rows are read (:func:`read_dam_readings` validates the rows).

    The reading interval (``options.interval_s``, else ``options.interval_min``, else the median step between valid
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
        summary: optional metadata table indexed by cage id (strain, age ...).
        on_bad_row: ``fail`` or ``skip`` (see :func:`read_dam_readings`).
        on_duplicate: two readings with the same time stamp and different counts or status
            (:func:`check_duplicate_readings`): ``fail`` raises naming both lines; ``mean``, ``first``
            or ``last`` merges them that way (and overrides ``options.duplicates``), logged with the counts.
            Identical repeated readings are merged in every mode and counted.
        options: interval, duplicate rule, DAM5 data type, count limit, minute coverage
            (:class:`DamOptions`; ``None``: its defaults).

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
    opts = options or DamOptions()
    path = Path(path)
    rd = read_dam_readings(path, data_type=opts.data_type, max_count=opts.max_count, on_bad_row=on_bad_row)
    n_repeated, n_conflicting = check_duplicate_readings(rd, on_duplicate=on_duplicate)
    duplicates = opts.duplicates if on_duplicate == "fail" else on_duplicate
    pc = rd.problem_counts()
    codes, ncodes = np.unique(rd.status, return_counts=True)
    report: dict[str, Any] = {
        "source_file": str(path),
        "rows_read": rd.rows_read,
        "status_codes": {str(c): int(k) for c, k in zip(codes, ncodes)},
        "invalid_status_rows": int((rd.status != 1).sum()),
        "non_numeric_values": int(pc.get("non_numeric", 0)),
        "bad_timestamps": int(pc.get("date", 0) + pc.get("time", 0)),
    }
    grid = _place_readings(rd, opts, duplicates=duplicates, where=str(path))
    report.update(grid.report)
    report.update(
        {
            "format": rd.dam_format,
            "data_type": rd.data_type,
            "data_type_rows": rd.data_type_rows,
            "interval_s": grid.interval_s,
            "resampling": grid.resampling,
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
        _log_dam5(path, rd, opts.data_type, grid)
    return _cage_records(path, rd, grid, report["interval_min"], layout=layout, summary=summary), report


@dataclass
class _MinuteGrid:
    """A DAM file's readings on the per-minute grid (:func:`_place_readings`)."""

    activity: np.ndarray  # float32 (M, 32)
    valid: np.ndarray  # bool (M, 32)
    timestamps: np.ndarray  # datetime64[m] (M,)
    report: dict[str, Any]  # ``off_minute_rows`` (whole minutes), ``interval_min``, then the grid's report
    interval_s: int
    resampling: str  # ``minute`` | ``overlap``


def _place_readings(rd: DamReadings, opts: DamOptions, *, duplicates: str, where: str) -> _MinuteGrid:
    """Put the valid counts of ``rd`` on minutes: on their minute (whole-minute interval) or by overlap.

    The interval is ``opts.interval_s``, else ``opts.interval_min``, else the median step between valid
    readings (within 1 s of whole minutes counts as whole minutes); see :func:`read_dam`.
    """
    interval_s, interval_min = opts.interval_s, opts.interval_min
    row_ok = rd.status == 1
    cell_valid = row_ok[:, None] & rd.count_ok
    values = np.where(cell_valid, rd.counts, np.nan)
    if interval_s is None and interval_min is None:
        detected_s = _detect_interval_s(rd.seconds[row_ok])
        # within a second of whole minutes (clock jitter of a 1-minute setting): whole minutes
        whole_minutes = abs(detected_s - 60 * round(detected_s / 60)) <= 1 and detected_s >= 59
    else:
        whole_minutes = interval_s is None or interval_s % 60 == 0
    report: dict[str, Any] = {}
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
        act, valid, ts, rep = grid_from_rows(minutes, values, cell_valid, where=where, duplicates=duplicates)
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
            where=where,
            duplicates=duplicates,
            min_valid_fraction=opts.min_valid_fraction,
        )
        report["interval_min"] = round(interval_s / 60, 4)
        resampling = "overlap"
    report.update(rep)
    return _MinuteGrid(act, valid, ts, report, int(interval_s), resampling)


def _log_dam5(path: Path, rd: DamReadings, data_type: str, grid: _MinuteGrid) -> None:
    """One info line: the DAM5 rows read as counts, the other types left out, the interval and placement."""
    others = ", ".join(f"{n} {t}" for t, n in rd.data_type_rows.items() if t.upper() != str(data_type).upper())
    log.info(
        "%s: DAM5 (multibeam): %d %s rows read as counts (left out: %s); reading interval %d s, %s",
        path,
        len(rd.seconds),
        data_type,
        others or "none",
        grid.interval_s,
        "resampled to minutes by overlap" if grid.resampling == "overlap" else "on whole minutes",
    )


def _cage_records(
    path: Path, rd: DamReadings, grid: _MinuteGrid, interval_min: float, *, layout: str, summary: pd.DataFrame | None
) -> list[CageRecord]:
    """The cages of one monitor: 32 one-channel tubes (``per_tube``) or one 32-channel cage (``per_monitor``)."""
    monitor = path.stem
    act, valid, ts = grid.activity, grid.valid, grid.timestamps
    base: dict[str, Any] = {
        "source_file": path.name,
        "source_format": "dam",
        "monitor": monitor,
        "interval_min": interval_min,
        "start": str(ts[0]),
    }
    if rd.dam_format == "DAM5" or grid.resampling == "overlap":
        base.update(
            {
                "dam_format": rd.dam_format,
                "data_type": rd.data_type,
                "interval_s": grid.interval_s,
                "resampling": grid.resampling,
            }
        )
    records: list[CageRecord] = []
    if layout == "per_monitor":
        meta = cage_meta(summary.loc[monitor] if summary is not None and monitor in summary.index else None)
        channels = [f"ch{c + 1:02d}" for c in range(DAM_CHANNELS)]
        exp, date = experiment_of(meta, int(ts[0].astype(np.int64)))
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
            meta = cage_meta(summary.loc[cid] if summary is not None and cid in summary.index else None)
            exp, date = experiment_of(meta, int(ts[0].astype(np.int64)))
            records.append(
                CageRecord(
                    cid,
                    act[:, c : c + 1].copy(),
                    valid[:, c : c + 1].copy(),
                    ts,
                    {**meta, **base, "experiment": exp, "experiment_date": date, "tube": c + 1, "channels": ["counts"]},
                )
            )
    return records
