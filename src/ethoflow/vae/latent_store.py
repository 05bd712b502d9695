"""The latent store: ``<latents_root>/<model_name>/morph_latents_{experiment}.csv`` (+ a Parquet twin).

The CSV (``snip_id``, ``z_mu_XX`` or ``z_mu_b_XX``/``z_mu_n_XX``) is the file analysis users know and
the only one external (morphseq-style) stores have. Parsing a million rows of 64 floats from text
takes longer than the rest of build06, so :func:`write_latent_csv` also writes
``morph_latents_{experiment}.parquet``: the CSV's own parse (float64, exactly what a CSV reader
gets) with the CSV's size and CRC-32 in its metadata. :func:`read_latent_file` uses the twin only
while that fingerprint matches the CSV on disk; an edited, replaced or missing CSV twin falls back
to parsing the CSV. Only pyarrow is imported here (no torch).
"""

from __future__ import annotations

import csv
import io
import os
import zlib
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ethoflow.core.errors import InputError
from ethoflow.core.inputs import check_file
from ethoflow.core.io import output_error, output_set

LATENT_FILE = "morph_latents_{experiment}.csv"
META_SIZE = b"ethoflow.source_csv_size"
META_CRC = b"ethoflow.source_csv_crc32"


def latent_path(latents_root: str | os.PathLike, model_name: str, experiment: str) -> Path:
    """``<latents_root>/<model_name>/morph_latents_{experiment}.csv``."""
    return Path(latents_root) / model_name / LATENT_FILE.format(experiment=experiment)


def twin_path(csv_path: str | os.PathLike) -> Path:
    """The Parquet twin beside a latent CSV."""
    return Path(csv_path).with_suffix(".parquet")


def csv_fingerprint(path: str | os.PathLike) -> tuple[int, int]:
    """(size in bytes, CRC-32) of a file, read in 8 MiB blocks."""
    crc, size = 0, 0
    with open(path, "rb") as fh:
        while block := fh.read(8 << 20):
            crc = zlib.crc32(block, crc)
            size += len(block)
    return size, crc


def _parse(source, z_columns: list[str], dtype: str) -> pa.Table:
    types = {"snip_id": pa.string(), **{c: pa.type_for_alias(dtype) for c in z_columns}}
    opts = pacsv.ConvertOptions(include_columns=["snip_id", *z_columns], column_types=types)
    return pacsv.read_csv(source, convert_options=opts)


def write_latent_pair(
    csv_text: str, csv_tmp: str | os.PathLike, twin_tmp: str | os.PathLike | None, dtype: str = "float32"
) -> None:
    """Write a latent CSV's bytes to ``csv_tmp`` and its Parquet twin to ``twin_tmp`` (``None``: no twin).

    The paths are the temporaries of an :func:`ethoflow.core.io.output_set`; the caller names the real
    files. An ``OSError`` (disk full, ...) propagates for the set to undo.
    """
    data = csv_text.encode("utf-8")
    if twin_tmp is not None:
        header = pacsv.open_csv(io.BytesIO(data)).schema.names
        table = _parse(io.BytesIO(data), [c for c in header if c.startswith("z_mu_")], dtype)
        meta = {META_SIZE: str(len(data)).encode(), META_CRC: str(zlib.crc32(data)).encode()}
        table = table.replace_schema_metadata(meta)
        pq.write_table(table, twin_tmp, use_dictionary=["snip_id"])
    with open(csv_tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def write_latent_csv(csv_text: str, csv_path: str | os.PathLike, twin: bool = True, dtype: str = "float32") -> Path:
    """Write a latent CSV and its Parquet twin (``dtype`` parse of the same bytes + fingerprint) as one
    all-or-nothing set: a failure leaves the previous pair untouched.

    Raises:
        OutputError: the pair cannot be written (no space, permission, ...), naming the file.
    """
    csv_path = Path(csv_path)
    targets = [csv_path, twin_path(csv_path)] if twin else [csv_path]
    with output_set(targets) as tmps:
        try:
            write_latent_pair(csv_text, tmps[0], tmps[1] if twin else None, dtype)
        except OSError as exc:
            raise output_error(exc, csv_path) from exc
    return csv_path


def latent_header(csv_path: str | os.PathLike) -> list[str]:
    """Column names of a latent CSV (its first line).

    Raises:
        InputError: the file is missing (a broken symlink included), empty, or its header is not UTF-8 text.
    """
    check_file(csv_path, "latent file")
    try:
        with open(csv_path, newline="", encoding="utf-8") as fh:
            return next(csv.reader([fh.readline()]), [])
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{csv_path}: latent file is not UTF-8 text (byte {exc.object[exc.start]:#04x} at {exc.start}); "
            "not a latent CSV, or saved in another encoding"
        ) from None


def read_latent_file(csv_path: str | os.PathLike, z_columns: list[str], dtype: str = "float32") -> tuple[pa.Table, str]:
    """``snip_id`` (string) and ``z_columns`` (``dtype``) of one latent file; and which file was read.

    Reads the Parquet twin when its recorded size and CRC-32 match the CSV and its z columns have
    ``dtype`` (so the values are exactly what parsing the CSV gives), else parses the CSV.
    Returns ``(table, "parquet" | "csv")``.
    """
    tw = twin_path(csv_path)
    if tw.exists():
        try:
            pf = pq.ParquetFile(tw)
            schema = pf.schema_arrow
            meta = schema.metadata or {}
            want = pa.type_for_alias(dtype)
            if (
                META_SIZE in meta
                and int(meta[META_SIZE]) == os.path.getsize(csv_path)
                and all(c in schema.names and schema.field(c).type == want for c in z_columns)
            ):
                _, crc = csv_fingerprint(csv_path)
                if int(meta.get(META_CRC, b"-1")) == crc:
                    return pf.read(columns=["snip_id", *z_columns]), "parquet"
        except (pa.ArrowInvalid, OSError, KeyError, ValueError):
            pass  # unreadable or foreign twin: the CSV is the truth
    return _parse(csv_path, z_columns, dtype), "csv"
