"""df02 and other metadata tables: reading (Parquet/CSV), experiments, snip_id keys.

Everything stays an Arrow table (pyarrow), so a df02 of a million snips is read and checked in
about a second.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ethoflow.core.errors import InputError

#: a trailing legacy stem ``_s####`` (4+ digits), read as ``_t####``
STEM_PATTERN = r"_s(\d{4,})$"


def read_table(path: str | os.PathLike, what: str = "table") -> pa.Table:
    """Read a Parquet or CSV file as an Arrow table (CSV strings stay strings, multithreaded).

    Raises:
        InputError: missing file, unknown extension or unreadable content (names the file).
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: {what} not found")
    try:
        if path.suffix == ".parquet":
            return pq.ParquetFile(path).read()
        if path.suffix == ".csv" or path.name.endswith(".csv.gz"):
            try:
                return pacsv.read_csv(path)
            except pa.ArrowInvalid:
                # Arrow infers column types from the first block; a column that changes type further
                # down (common in hand-kept metadata tables) gets pandas' whole-column inference.
                # local: keeps ethoflow.build06.tables importable without pandas
                import pandas as pd

                return pa.Table.from_pandas(pd.read_csv(path, low_memory=False), preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot read {what}: {exc}") from None
    raise InputError(f"{path}: {what} must be .parquet or .csv")


def experiment_strings(table: pa.Table, column: str, source: str | os.PathLike) -> pa.ChunkedArray:
    """The experiment column as strings (CSV readers make ``20240418`` an integer).

    Raises:
        InputError: the column is missing.
    """
    if column not in table.column_names:
        raise InputError(f"{source}: df02 has no {column!r} column (set build06.experiment_column)")
    return pc.cast(table[column], pa.string())


def resolve_experiments(
    df02: pa.Table, experiments: list[str] | None, column: str, source: str | os.PathLike
) -> list[str]:
    """``experiments`` (each must occur in df02, order kept, duplicates dropped), else df02's, sorted.

    Raises:
        InputError: an explicit experiment has no df02 rows, or df02 is empty.
    """
    have = sorted(set(pc.unique(experiment_strings(df02, column, source)).to_pylist()) - {None})
    if experiments is None:
        if not have:
            raise InputError(f"{source}: df02 has no rows")
        return have
    missing = [e for e in experiments if e not in set(have)]
    if missing:
        raise InputError(f"{source}: experiment(s) {missing} have no rows in df02 (it has {have})")
    return list(dict.fromkeys(experiments))


def normalise_snip_ids(ids: pa.Array | pa.ChunkedArray) -> pa.ChunkedArray | pa.Array:
    """Replace a trailing ``_s####`` stem (4+ digits) by ``_t####``; other ids are unchanged."""
    ids = pc.cast(ids, pa.string())
    if not pc.any(pc.match_substring(ids, "_s")).as_py():  # cheap test first: most stores have none
        return ids
    return pc.replace_substring_regex(ids, pattern=STEM_PATTERN, replacement=r"_t\1")


def check_unique(keys: pa.ChunkedArray | pa.Array, what: str, origin: list[tuple[str, int]] | str) -> None:
    """Raise InputError listing duplicated snip_ids (and, for several files, which file each copy came from).

    ``origin`` is a file name, or ``(file, n_rows)`` per concatenated file in ``keys``' order.
    """
    if len(pc.unique(keys)) == len(keys):
        return
    counts = pc.value_counts(keys)
    dup_mask = pc.greater(counts.field("counts"), 1)
    dups = pc.filter(counts.field("values"), dup_mask).to_pylist()
    examples = sorted(dups)[:5]
    if isinstance(origin, str):
        where = ", ".join(repr(e) for e in examples)
    else:
        ends = np.cumsum([n for _, n in origin])
        where_parts = []
        for ex in examples[:3]:
            rows = np.flatnonzero(pc.equal(keys, ex).to_numpy(zero_copy_only=False))
            files = sorted({origin[int(np.searchsorted(ends, r, side="right"))][0] for r in rows})
            where_parts.append(f"{ex!r} in {', '.join(files)}")
        where = "; ".join(where_parts)
    raise InputError(
        f"duplicated snip_id in {what}: {len(dups)} id(s) occur more than once "
        f"(after _s####->_t#### normalisation), e.g. {where}"
    )


def check_df02_snip_ids(df02: pa.Table, source: str | os.PathLike = "df02") -> None:
    """Raise InputError when df02 has no ``snip_id`` column or empty ``snip_id`` cells (null or blank).

    An empty id can match no latent, so its row would silently get no z values; the message names the
    file and the first few data rows (1-based, header not counted: line = row + 1 in a CSV).
    """
    if "snip_id" not in df02.column_names:
        raise InputError(f"{source}: df02 has no snip_id column")
    ids = pc.cast(df02["snip_id"], pa.string())
    blank = pc.fill_null(pc.equal(pc.utf8_trim_whitespace(ids), ""), True)
    n = pc.sum(pc.cast(blank, pa.int64())).as_py() or 0
    if n:
        rows = np.flatnonzero(blank.to_numpy(zero_copy_only=False))[:5] + 1
        more = ", ..." if n > len(rows) else ""
        raise InputError(
            f"{source}: empty snip_id in {n} row(s) of df02 (data rows {', '.join(map(str, rows))}"
            f"{more}; 1-based, header not counted); every df02 row needs its snip_id"
        )
