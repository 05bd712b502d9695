"""The joins: df02 (or a training metadata table) + latents on the normalised ``snip_id``.

Hash join with Arrow's ``index_in`` (no per-row Python): every row of the left table is kept, in its
order, and gets the z columns (null where its snip has no latent).
"""

from __future__ import annotations

import os

import pyarrow as pa
import pyarrow.compute as pc

from ethoflow.build06.latents import KEY
from ethoflow.build06.tables import check_unique, normalise_snip_ids
from ethoflow.core.errors import InputError


def _left_join(
    table: pa.Table, latents: pa.Table, z_cols: list[str], what: str, source: str
) -> tuple[pa.Table, pa.Array]:
    if "snip_id" not in table.column_names:
        raise InputError(f"{source}: {what} has no snip_id column")
    key = normalise_snip_ids(table["snip_id"])
    check_unique(key, f"{what} ({source})", source)
    if len(latents):
        idx = pc.index_in(key, value_set=latents[KEY].combine_chunks())
    else:
        idx = pa.nulls(len(table), pa.int32())
    matched = pc.is_valid(idx)
    out = table
    for c in z_cols:
        if c in out.column_names:
            raise InputError(f"{source}: {what} already has a column {c}; drop it before merging latents")
        out = out.append_column(c, pc.take(latents[c], idx))
    return out, matched


def merge_df02_with_embeddings(
    df02: pa.Table, latents: pa.Table, z_cols: list[str], source: str | os.PathLike = "df02"
) -> tuple[pa.Table, pa.Array]:
    """df03 = df02 + z columns matched on normalised ``snip_id``; every df02 row kept, in order.

    Args:
        df02: per-snip metadata (rows = snips), with ``snip_id``.
        latents: :func:`~ethoflow.build06.latents.load_latents`' table (``__snip_key__`` + z columns).
        z_cols: the z columns to append (``z_mu_XX`` ...), float32/float64.
        source: df02's file, for messages.

    Returns:
        (df03 table, bool array (rows,) True where the row found a latent).

    Raises:
        InputError: df02 has no snip_id, duplicated snip_ids, or already has a z column.
    """
    return _left_join(df02, latents, z_cols, "df02", str(source))


def merge_train_with_embeddings(
    train: pa.Table, latents: pa.Table, z_cols: list[str], source: str | os.PathLike = "training metadata"
) -> pa.Table:
    """A training run's metadata table + z columns on normalised ``snip_id`` (every row kept, in order).

    morphseq writes this as ``training_data/<train_name>/embryo_metadata_with_embeddings.csv``.

    Raises:
        InputError: the table has no snip_id, duplicated snip_ids, or already has a z column.
    """
    return _left_join(train, latents, z_cols, "training metadata", str(source))[0]


def unmatched_latents(latents: pa.Table, df02_keys: pa.ChunkedArray | pa.Array) -> tuple[int, list[str]]:
    """Latent rows whose (normalised) snip_id is in no df02 row: (count, first 5 ids)."""
    if not len(latents):
        return 0, []
    keys = pc.cast(df02_keys, pa.string())
    if isinstance(keys, pa.ChunkedArray):
        keys = keys.combine_chunks()
    miss = pc.invert(pc.is_in(latents[KEY], value_set=keys))
    n = int(pc.sum(pc.cast(miss, pa.int64())).as_py() or 0)
    examples = pc.filter(latents[KEY], miss).to_pylist()[:5] if n else []
    return n, examples
