"""Summary CSV (one row per cage: metadata and the recording window) and the cage metadata taken from it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ethoflow.core.errors import InputError


def read_input_csv(path: Path, what: str, **kw: Any) -> pd.DataFrame:
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
    df = read_input_csv(path, "summary CSV", dtype={"cage_id": str})
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


def cage_meta(row: pd.Series | None) -> dict[str, Any]:
    """A cage's metadata from its summary row (JSON-ready values; ``strain``/``age`` always present).

    ``None`` (a cage missing from the summary) gives unknown ``strain``/``age`` and ``in_summary: False``.
    """
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


def experiment_of(meta: dict[str, Any], first_minute: int) -> tuple[str, str]:
    """``(experiment, date)``: the summary's ``experiment`` (else the date as ``YYYYMMDD``) and ``YYYY-MM-DD``.

    ``first_minute``: the cage's first grid minute, minutes since 1970.
    """
    date = str(np.datetime64(int(first_minute), "m").astype("datetime64[D]"))
    exp = meta.get("experiment")
    return (str(exp) if exp not in (None, "") else date.replace("-", "")), date
