"""Snips: fixed-length windows of the activity store, and df02, the per-snip metadata table.

A snip is ``snip_len`` consecutive minutes of one cage, starting every ``snip_stride`` minutes
(windows that would run past the cage's last minute are not cut). df02 has one row per snip:

==================  =====================================================================
experiment_date     experiment the cage belongs to (store attr ``experiment``; else
                    ``snips.default_experiment``; else the date of the cage's first minute, YYYYMMDD)
cage_id             cage (or DAM monitor/tube) id from the store
snip_id             ``{experiment_date}_{cage_id}_t{NNNN}``; NNNN = ``time_int`` (4 digits or more)
time_int            snip index within the cage (0, 1, 2, ...)
start_minute        first store row of the snip (minutes since the cage's first minute)
start_time          timestamp of the first minute (datetime64[ms], the store's clock)
end_time            timestamp just after the last minute (start_time + snip_len minutes)
is_night            midpoint outside [day_start_hour, day_end_hour)
strain, age         from the cage attrs (missing: empty)
frac_valid          fraction of valid (minute, channel) readings in the snip
frac_zero           fraction of the valid readings that are exactly 0
use_snip_flag       frac_valid >= min_frac_valid and frac_zero <= max_frac_zero
==================  =====================================================================
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ethoflow.core.errors import InputError
from ethoflow.core.inputs import check_file, check_last_row
from ethoflow.core.io import output_set
from ethoflow.core.logging import get_logger
from ethoflow.core.progress import progress
from ethoflow.hbehave.store import list_cages, read_cage, read_store_attrs
from ethoflow.vae.params import SnipParams

log = get_logger(__name__)

DF02_COLUMNS = [
    "experiment_date",
    "cage_id",
    "snip_id",
    "time_int",
    "start_minute",
    "start_time",
    "end_time",
    "is_night",
    "strain",
    "age",
    "frac_valid",
    "frac_zero",
    "use_snip_flag",
]


def make_snip_id(experiment: str, cage_id: str, time_int: int) -> str:
    """``{experiment}_{cage_id}_t{NNNN}`` (``time_int`` zero-padded to at least 4 digits)."""
    return f"{experiment}_{cage_id}_t{int(time_int):04d}"


def is_night(timestamps: np.ndarray, day_start_hour: float, day_end_hour: float) -> np.ndarray:
    """Bool (N,): True where the hour of day of ``timestamps`` (datetime64) is outside the light phase.

    The light phase is ``[day_start_hour, day_end_hour)`` in hours after midnight (floats allowed: 6.5
    is 06:30); when ``day_start_hour > day_end_hour`` it wraps around midnight. Same rule as
    :func:`ethoflow.hbehave.plots.is_day` (params ``vae.snips.day_start_hour``/``day_end_hour``).
    """
    ts = np.asarray(timestamps).astype("datetime64[s]")
    day = ts.astype("datetime64[D]")
    hours = (ts - day).astype(np.int64) / 3600.0
    if day_start_hour <= day_end_hour:
        light = (hours >= day_start_hour) & (hours < day_end_hour)
    else:
        light = (hours >= day_start_hour) | (hours < day_end_hour)
    return ~light


def _experiment_of(attrs: dict[str, Any], timestamps: np.ndarray, default: str | None) -> str:
    exp = attrs.get("experiment")
    if exp not in (None, ""):
        return str(exp)
    if default:
        return default
    if len(timestamps) == 0:
        return "unknown"
    return str(np.datetime_as_string(timestamps[0].astype("datetime64[D]"))).replace("-", "")


def cage_snips(
    cage_id: str,
    activity: np.ndarray,
    valid: np.ndarray,
    timestamps: np.ndarray,
    attrs: dict[str, Any],
    cfg: SnipParams,
) -> pd.DataFrame:
    """df02 rows of one cage (columns :data:`DF02_COLUMNS`).

    Args:
        activity: float32 (minutes, channels), NaN where missing.
        valid: bool (minutes, channels).
        timestamps: datetime64[m] (minutes,).
    """
    n = activity.shape[0]
    starts = np.arange(0, n - cfg.snip_len + 1, cfg.snip_stride, dtype=np.int64)
    exp = _experiment_of(attrs, timestamps, cfg.default_experiment)
    if len(starts) == 0:
        log.warning("cage %s: %d minutes, shorter than snip_len %d: no snips", cage_id, n, cfg.snip_len)
        return pd.DataFrame(columns=DF02_COLUMNS)
    # Per-snip counts through cumulative sums over minutes (O(minutes), any stride/overlap).
    v = valid.sum(1).astype(np.int64)
    z = (valid & (np.nan_to_num(activity) == 0)).sum(1).astype(np.int64)
    cv = np.concatenate([[0], np.cumsum(v)])
    cz = np.concatenate([[0], np.cumsum(z)])
    n_valid = cv[starts + cfg.snip_len] - cv[starts]
    n_zero = cz[starts + cfg.snip_len] - cz[starts]
    total = cfg.snip_len * activity.shape[1]
    frac_valid = n_valid / total
    frac_zero = np.where(n_valid > 0, n_zero / np.maximum(n_valid, 1), 1.0)
    ts = timestamps.astype("datetime64[m]")
    start_time = ts[starts]
    end_time = start_time + np.timedelta64(cfg.snip_len, "m")
    mid = start_time + np.timedelta64(cfg.snip_len * 30, "s")
    time_int = np.arange(len(starts), dtype=np.int64)
    return pd.DataFrame(
        {
            "experiment_date": exp,
            "cage_id": cage_id,
            "snip_id": [make_snip_id(exp, cage_id, t) for t in time_int],
            "time_int": time_int,
            "start_minute": starts,
            "start_time": start_time.astype("datetime64[ms]"),
            "end_time": end_time.astype("datetime64[ms]"),
            "is_night": is_night(mid, cfg.day_start_hour, cfg.day_end_hour),
            "strain": attrs.get("strain"),
            "age": attrs.get("age"),
            "frac_valid": frac_valid.astype(np.float64),
            "frac_zero": frac_zero.astype(np.float64),
            "use_snip_flag": (frac_valid >= cfg.min_frac_valid) & (frac_zero <= cfg.max_frac_zero),
        },
        columns=DF02_COLUMNS,
    )


def build_df02(store: str | os.PathLike, cfg: SnipParams) -> pd.DataFrame:
    """Cut every cage of the activity ``store`` into snips; df02 sorted by experiment, cage, time.

    Raises:
        InputError: the store is missing or has no cages; two cages give the same snip_id.
    """
    cages = list_cages(store)
    if not cages:
        raise InputError(f"{store}: activity store has no cages")
    parts = []
    for cage in progress(cages, desc="snips"):
        rec = read_cage(store, cage)
        parts.append(cage_snips(cage, rec.activity, rec.valid, rec.timestamps, rec.attrs, cfg))
    parts = [p for p in parts if len(p)]
    if not parts:
        raise InputError(f"{store}: no cage is at least snip_len={cfg.snip_len} minutes long")
    df = pd.concat(parts, ignore_index=True)
    df["strain"] = df["strain"].astype("string")
    df["age"] = _tidy_age(df["age"])
    dup = df["snip_id"].duplicated(keep=False)
    if dup.any():
        raise InputError(
            f"{store}: duplicated snip_id(s) {sorted(set(df.loc[dup, 'snip_id']))[:5]} "
            "(two cages share an experiment and cage id)"
        )
    return df.sort_values(["experiment_date", "cage_id", "time_int"], kind="stable").reset_index(drop=True)


def _tidy_age(age: pd.Series) -> pd.Series:
    num = pd.to_numeric(age, errors="coerce")
    if num.notna().sum() == age.notna().sum():
        return num.astype("float64")
    return age.astype("string")


def write_df02(df: pd.DataFrame, parquet_path: str | os.PathLike, csv_path: str | os.PathLike | None) -> None:
    """Write df02 to Parquet (and CSV) as one all-or-nothing set."""
    targets = [parquet_path] if csv_path is None else [parquet_path, csv_path]
    with output_set(targets) as tmps:
        df.to_parquet(tmps[0], index=False)
        if csv_path is not None:
            df.to_csv(tmps[1], index=False)


def read_df02(path: str | os.PathLike) -> pd.DataFrame:
    """Read df02 from ``.parquet`` or ``.csv``; must have ``snip_id``.

    Raises:
        InputError: missing, empty, truncated or corrupt file, unknown extension or no ``snip_id`` column.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: df02 not found")

    check_file(path, "df02")
    if path.suffix == ".csv":
        check_last_row(path, "df02")
    try:
        if path.suffix == ".parquet":
            df = pd.read_parquet(path)
        elif path.suffix in (".csv", ".gz"):
            df = pd.read_csv(path, low_memory=False)
        else:
            raise InputError(f"{path}: df02 must be .parquet or .csv")
    except (OSError, ValueError, pd.errors.ParserError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        text = " ".join(str(exc).split())[:160]
        raise InputError(f"{path}: df02 is truncated or corrupt ({type(exc).__name__}: {text})") from None
    if "snip_id" not in df.columns:
        raise InputError(f"{path}: df02 has no 'snip_id' column (columns: {', '.join(map(str, df.columns))})")
    return df


def snips_summary(df: pd.DataFrame) -> dict[str, Any]:
    """Counts for data/processed/vae/snips_summary.json: snips, flagged snips, cages, per experiment."""
    per_exp = {
        str(exp): {
            "n_snips": int(len(g)),
            "n_use": int(g["use_snip_flag"].sum()),
            "n_cages": int(g["cage_id"].nunique()),
        }
        for exp, g in df.groupby("experiment_date", sort=True)
    }
    return {
        "n_snips": int(len(df)),
        "n_use": int(df["use_snip_flag"].sum()),
        "frac_use": float(df["use_snip_flag"].mean()) if len(df) else 0.0,
        "n_cages": int(df["cage_id"].nunique()),
        "mean_frac_valid": float(df["frac_valid"].mean()) if len(df) else 0.0,
        "per_experiment": per_exp,
    }


def load_snip_arrays(
    store: str | os.PathLike, df: pd.DataFrame, snip_len: int, channels: list[str] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Raw snips of the df02 rows ``df`` (in row order) from ``store``.

    Returns:
        x: float32 (N, snip_len, C), raw readings with NaN where missing;
        mask: bool (N, snip_len, C), True where valid.

    Raises:
        InputError: a cage is missing, a snip runs past its cage, or the channels differ from ``channels``.
    """
    attrs = read_store_attrs(store)
    if channels is not None and list(attrs.get("channels", [])) != list(channels):
        raise InputError(f"{store}: store channels {attrs.get('channels')} differ from the model's {channels}")
    c = len(attrs.get("channels", [])) or None
    n = len(df)
    x = mask = None
    if n == 0:
        return np.zeros((0, snip_len, c or 0), np.float32), np.zeros((0, snip_len, c or 0), bool)
    starts_all = df["start_minute"].to_numpy(np.int64)
    for cage, idx in df.groupby("cage_id", sort=True).indices.items():
        rec = read_cage(store, str(cage))
        if x is None:
            c = rec.activity.shape[1]
            x = np.full((n, snip_len, c), np.nan, np.float32)
            mask = np.zeros((n, snip_len, c), bool)
        starts = starts_all[idx]
        if len(starts) and starts.max() + snip_len > rec.n_minutes:
            raise InputError(
                f"{store}: cage {cage}: a snip starting at minute {starts.max()} runs past "
                f"its {rec.n_minutes} minutes (df02 and store do not match)"
            )
        win = starts[:, None] + np.arange(snip_len)[None, :]
        x[idx] = rec.activity[win]
        mask[idx] = rec.valid[win]
    return x, mask
