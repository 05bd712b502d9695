"""The activity Zarr store: one file that every activity-based stage (hbehave, vae) reads.

Layout (Zarr v3, Blosc zstd then a CRC-32C checksum per chunk, chunked along time for window reads)::

    activity.zarr/
      attrs: format="ethoflow-activity", version=1, channels=[...], normalisation={...}
      cages/<cage_id>/
        activity    float32 (minutes, channels)  raw readings on a complete minute grid; NaN where missing
        valid       bool    (minutes, channels)  True where a reading exists (gaps and bad values are False)
        timestamps  int64   (minutes,)           minutes since 1970-01-01 (``datetime64[m]`` as int64)
        attrs: cage_id, experiment, strain, age, source_file, start, ... (free metadata from the summary)

Values are stored raw (not normalised); the normalisation statistics (computed on training cages)
sit in the root attrs and are applied by :func:`normalise` at training and extraction alike.

Every chunk carries a CRC-32C checksum (zarr's ``crc32c`` codec after Blosc): a chunk cut short by an
interrupted copy fails its checksum on read. Without it Blosc decompresses a truncated chunk by reading
past its end, which fails only sometimes (seen: 1 read in 5 gave garbage numbers and no error). Stores
written before the checksum was added still read; they lack that protection (rerun ``hbehave_zarr``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ethoflow.core.errors import InputError
from ethoflow.core.io import to_plain

FORMAT = "ethoflow-activity"
VERSION = 1
CHUNK_MINUTES = 1440


@dataclass
class CageRecord:
    """One cage's readings on a complete minute grid.

    Attributes:
        cage_id: cage (or DAM monitor/tube) identifier.
        activity: float32 array (minutes, channels); NaN where no valid reading.
        valid: bool array (minutes, channels); False for gaps and unparseable values.
        timestamps: ``datetime64[m]`` array (minutes,), strictly increasing by one minute.
        attrs: metadata (strain, age, experiment, source_file, ...), plain JSON types.
    """

    cage_id: str
    activity: np.ndarray
    valid: np.ndarray
    timestamps: np.ndarray
    attrs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        t, c = self.activity.shape
        if self.valid.shape != (t, c):
            raise ValueError(f"cage {self.cage_id}: valid shape {self.valid.shape} != activity shape {(t, c)}")
        if self.timestamps.shape != (t,):
            raise ValueError(f"cage {self.cage_id}: timestamps shape {self.timestamps.shape} != ({t},)")

    @property
    def n_minutes(self) -> int:
        return int(self.activity.shape[0])


def _zarr():
    # local: zarr is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    import zarr

    return zarr


def create_store(path: str | os.PathLike, channels: list[str], attrs: dict[str, Any] | None = None) -> Path:
    """Create an empty store at ``path`` (replacing any previous one; it is a DVC out)."""
    zarr = _zarr()
    path = Path(path)
    if path.exists():
        shutil.rmtree(path)
    root = zarr.open_group(str(path), mode="w")
    root.attrs.update(to_plain({"format": FORMAT, "version": VERSION, "channels": list(channels), **(attrs or {})}))
    root.require_group("cages")
    return path


def write_cage(path: str | os.PathLike, record: CageRecord, chunk_minutes: int = CHUNK_MINUTES) -> None:
    """Add ``record`` as ``cages/<cage_id>`` to the store at ``path``."""
    zarr = _zarr()
    # local: zarr is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    from zarr.codecs import BloscCodec, Crc32cCodec

    # the checksum is checked before Blosc reads a chunk, so a truncated chunk is always an error
    comp = (BloscCodec(cname="zstd", clevel=5, shuffle="bitshuffle"), Crc32cCodec())
    root = zarr.open_group(str(path), mode="r+")
    grp = root["cages"].require_group(record.cage_id)
    t, c = record.activity.shape
    chunks = (max(1, min(chunk_minutes, t)), c)
    grp.create_array(
        "activity", data=record.activity.astype(np.float32), chunks=chunks, compressors=comp, overwrite=True
    )
    grp.create_array("valid", data=record.valid.astype(bool), chunks=chunks, compressors=comp, overwrite=True)
    ts = record.timestamps.astype("datetime64[m]").astype(np.int64)
    grp.create_array("timestamps", data=ts, chunks=(chunks[0],), compressors=comp, overwrite=True)
    grp.attrs.update(to_plain({"cage_id": record.cage_id, **record.attrs}))


def update_store_attrs(path: str | os.PathLike, attrs: dict[str, Any]) -> None:
    """Merge ``attrs`` into the store's root attributes (e.g. normalisation statistics)."""
    root = _zarr().open_group(str(path), mode="r+")
    root.attrs.update(to_plain(attrs))


@contextlib.contextmanager
def _damaged(path: str | os.PathLike, what: str) -> Iterator[None]:
    """Turn zarr/numcodecs/JSON errors while reading ``what`` into one ``InputError`` naming the store."""
    try:
        yield
    except InputError:
        raise
    except Exception as exc:  # zarr, numcodecs (blosc RuntimeError), json: a damaged store
        text = " ".join(str(exc).split())[:160]
        raise InputError(
            f"{path}: damaged activity store: {what} cannot be read ({type(exc).__name__}: {text}); "
            "rerun hbehave_zarr to rebuild it"
        ) from None


def _open(path: str | os.PathLike):
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: activity store not found (run the hbehave_zarr stage first)")
    with _damaged(path, "its metadata"):
        root = _zarr().open_group(str(path), mode="r")
    if root.attrs.get("format") != FORMAT:
        raise InputError(f"{path}: not an ethoflow activity store (format={root.attrs.get('format')!r})")
    return root


def read_store_attrs(path: str | os.PathLike) -> dict[str, Any]:
    """Root attributes: ``channels``, ``normalisation`` and whatever the writer added."""
    return dict(_open(path).attrs)


def list_cages(path: str | os.PathLike) -> list[str]:
    """Cage ids in the store, sorted."""
    root = _open(path)
    with _damaged(path, "the cage list"):
        return sorted(root["cages"].group_keys())


def read_cage(path: str | os.PathLike, cage_id: str, start: int = 0, stop: int | None = None) -> CageRecord:
    """Read rows ``start:stop`` (minutes) of one cage.

    Raises:
        InputError: the store or the cage does not exist, or the store is damaged (a truncated chunk,
            broken metadata): the message names the store and the cage.
    """
    root = _open(path)
    if cage_id not in root["cages"]:
        raise InputError(f"{path}: cage {cage_id!r} not in store (cages: {', '.join(list_cages(path))})")
    sl = slice(start, stop)
    with _damaged(path, f"cage {cage_id!r}"):
        grp = root["cages"][cage_id]
        return CageRecord(
            cage_id=cage_id,
            activity=np.asarray(grp["activity"][sl], dtype=np.float32),
            valid=np.asarray(grp["valid"][sl], dtype=bool),
            timestamps=np.asarray(grp["timestamps"][sl], dtype=np.int64).astype("datetime64[m]"),
            attrs=dict(grp.attrs),
        )


def normalise(activity: np.ndarray, valid: np.ndarray, stats: dict[str, Any]) -> np.ndarray:
    """Apply z-score statistics ``{"mean": [...], "std": [...]}`` (one value or one per channel).

    Returns float32 (minutes, channels) with invalid entries set to 0 (the normalised mean), so
    models see no NaN; use ``valid`` as the mask.
    """
    mean = np.asarray(stats["mean"], dtype=np.float32)
    std = np.asarray(stats["std"], dtype=np.float32)
    std = np.where(std > 0, std, 1.0).astype(np.float32)
    out = (np.nan_to_num(activity.astype(np.float32)) - mean) / std
    out[~valid] = 0.0
    return out.astype(np.float32)


def read_normalisation(path: str | os.PathLike) -> dict[str, Any]:
    """The store's normalisation statistics ``{"mode", "mean": [C], "std": [C], "train_cages", ...}``.

    Fitted on the training cages by the ``hbehave_zarr`` stage; apply them with :func:`normalise`.

    Raises:
        InputError: the store has no statistics (written by an older or foreign writer).
    """
    attrs = read_store_attrs(path)
    stats = attrs.get("normalisation")
    if not stats or "mean" not in stats or "std" not in stats:
        raise InputError(f"{path}: store has no normalisation statistics (re-run hbehave_zarr)")
    return dict(stats)


def read_split(path: str | os.PathLike) -> dict[str, list[str]]:
    """``{"train": [...], "val": [...]}`` cage ids (all cages in train when the store has no split)."""
    attrs = read_store_attrs(path)
    split = attrs.get("split")
    if not split:
        return {"train": list_cages(path), "val": []}
    return {"train": list(split.get("train", [])), "val": list(split.get("val", []))}


def read_normalised(path: str | os.PathLike, cage_id: str, start: int = 0, stop: int | None = None) -> CageRecord:
    """Like :func:`read_cage`, with ``activity`` z-scored by the store's statistics (invalid -> 0)."""
    rec = read_cage(path, cage_id, start, stop)
    rec.activity = normalise(rec.activity, rec.valid, read_normalisation(path))
    return rec
