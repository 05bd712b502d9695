"""Digital Ventilated Cage per-cage CSVs (``timestamp, v_1..v_N``, one row per minute)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ethoflow.core.errors import InputError
from ethoflow.core.logging import get_logger
from ethoflow.hbehave.io.grid import MAX_LISTED, grid_from_rows, minutes_of
from ethoflow.hbehave.io.summary import cage_meta, experiment_of, read_input_csv
from ethoflow.hbehave.store import CageRecord

log = get_logger(__name__)

_VCOL = re.compile(r"^v_(\d+)$")


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
    raw = read_input_csv(path, "activity CSV", dtype=str, keep_default_na=False)
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
                int(minutes_of(pd.DatetimeIndex([summary_row["from_tpt"]]))[0]),
                int(minutes_of(pd.DatetimeIndex([summary_row["to_tpt"]]))[0]),
            )
            if window[1] <= window[0]:
                raise InputError(f"{path}: summary to_tpt is not after from_tpt for cage {cage_id}")
    act, valid, grid_ts, rep = grid_from_rows(
        minutes_of(ts), values, cell_valid, where=str(path), duplicates=duplicates, window=window
    )
    report.update(rep)
    meta = cage_meta(summary_row)
    exp, date = experiment_of(meta, int(grid_ts[0].astype(np.int64)))
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
