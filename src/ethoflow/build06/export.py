"""Writing build06's outputs: df03 Parquet + CSV + sidecar + coverage (+ analysis copies, training
join) as one all-or-nothing output set (:func:`ethoflow.core.io.output_set`).

Every file is first written to a hidden ``.<stem>.partial<suffix>`` sibling; only when all are
complete are they renamed into place. A full disk, an exception or a kill -9 while writing leaves the
previous outputs untouched and no new file under a real name, so an overwrite guard never blocks the
rerun because of its own failed run.
"""

from __future__ import annotations

import datetime as _dt
import subprocess
from collections.abc import Mapping
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ethoflow.core.io import output_set


def git_commit() -> str | None:
    """``git rev-parse HEAD`` of the working directory (``None`` outside git)."""
    try:
        res = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if res.returncode != 0:
        return None
    return res.stdout.strip() or None


def utc_timestamp() -> str:
    """Now, UTC, ISO 8601 to the second."""
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def write_parquet(table: pa.Table, path: Path) -> None:
    """Parquet with dictionary encoding for non-float columns only (trying it on a million distinct
    floats per z column costs seconds and the writer abandons it anyway)."""
    dict_cols = [f.name for f in table.schema if not pa.types.is_floating(f.type)]
    pq.write_table(table, path, use_dictionary=dict_cols)


def write_csv(table: pa.Table, path: Path) -> None:
    """CSV with a header, quoting only where needed (pyarrow's writer)."""
    pacsv.write_csv(table, path, write_options=pacsv.WriteOptions(quoting_style="needed"))


def export_df03_copies_by_experiment(
    df03: pa.Table, experiment: pa.ChunkedArray | pa.Array, experiments: list[str], folder: str | Path
) -> dict[Path, pa.Table]:
    """The per-experiment analysis copies ``<folder>/df03_{experiment}.csv``: path -> rows of df03.

    Args:
        df03: the merged table; experiment: its experiment column as text (rows,).

    Returns the planned files; :func:`write_output_set` writes them with df03, all or nothing
    (morphseq's layout puts ``folder`` at ``<data_root>/metadata/metadata_n_embeddings/<model_name>``).
    """
    return {Path(folder) / f"df03_{e}.csv": df03.filter(pc.equal(experiment, e)) for e in experiments}


def write_output_set(outputs: Mapping[Path, pa.Table | str]) -> list[Path]:
    """Write every output all-or-nothing: a table to ``.parquet`` or ``.csv`` by suffix, a str as text.

    Raises:
        OutputError: no space left, permission denied, read-only location, a file where a folder is
            needed (names the path and the cause); every previous output is left as it was.
        ValueError: a table for a path that is neither ``.parquet`` nor ``.csv``.
    """
    targets = list(outputs)
    with output_set(targets) as temps:
        for target, tmp in zip(targets, temps):
            obj = outputs[target]
            if isinstance(obj, str):
                tmp.write_text(obj, encoding="utf-8")
            elif target.suffix == ".parquet":
                write_parquet(obj, tmp)
            elif target.suffix == ".csv":
                write_csv(obj, tmp)
            else:
                raise ValueError(f"{target}: tables are written as .parquet or .csv")
    return targets
