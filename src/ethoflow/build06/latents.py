"""The per-experiment latent files build06 reads: finding them, z schema, loading and checking.

A latent store is a folder ``<...>/<model_name>/`` of ``morph_latents_{experiment}.csv`` files
(``snip_id`` + ``z_mu_XX`` or ``z_mu_b_XX``/``z_mu_n_XX``; the layout of morphseq's legacy store,
which vae_embed also writes, with a Parquet twin: see :mod:`ethoflow.vae.latent_store`). build06 only
reads stores; generating missing files is the caller's choice (:func:`ensure_latents_for_experiments`
with a ``generate`` callback), never the DVC stage's.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa

from ethoflow.build06.tables import check_unique, normalise_snip_ids
from ethoflow.core.errors import InputError, ParamsError
from ethoflow.core.logging import get_logger
from ethoflow.vae.latent_store import LATENT_FILE, latent_header, read_latent_file

log = get_logger(__name__)

FLAT_RE = re.compile(r"^z_mu_\d+$")
BION_RE = re.compile(r"^z_mu_[bn]_\d+$")
#: name of the normalised snip_id column of a loaded latent table
KEY = "__snip_key__"


def find_latent_files(latents_dir: str | os.PathLike, experiments: list[str]) -> dict[str, Path | None]:
    """``morph_latents_{exp}.csv`` per experiment (``None`` when absent)."""
    out: dict[str, Path | None] = {}
    for exp in experiments:
        p = Path(latents_dir) / LATENT_FILE.format(experiment=exp)
        out[exp] = p if p.exists() else None
    return out


def ensure_latents_for_experiments(
    latents_dir: str | os.PathLike,
    experiments: list[str],
    generate: Callable[[list[str]], object] | None = None,
) -> dict[str, Path | None]:
    """Latent file per experiment (``None`` where missing), after generating missing ones if asked.

    Args:
        latents_dir: the store folder (``.../<model_name>/``).
        experiments: experiment names (df02's ``experiment_date`` values, as text).
        generate: called once with the missing experiments; must write their files into
            ``latents_dir`` (``ethoflow build06 --generate-missing-latents`` passes vae_embed's
            ``embed_experiments``). ``None``: nothing is generated.

    Raises:
        InputError: ``generate`` ran but some files are still missing.
    """
    files = find_latent_files(latents_dir, experiments)
    missing = [e for e, p in files.items() if p is None]
    if not missing or generate is None:
        return files
    log.info("build06: generating latents for %s into %s", missing, latents_dir)
    generate(missing)
    files = find_latent_files(latents_dir, experiments)
    still = [e for e, p in files.items() if p is None]
    if still:
        raise InputError(f"{latents_dir}: latent generation did not produce files for {still}")
    return files


def select_z_columns(columns: list[str], schema: str, source: str | os.PathLike) -> list[str]:
    """The z columns of a latent file under the schema policy (file order kept).

    ``bio_nuisance`` falls back to flat ``z_mu_XX`` (with a warning) when the file has no
    ``z_mu_b_XX``/``z_mu_n_XX`` columns at all, as morphseq's Build06 design does.

    Raises:
        InputError: the schema's columns are absent (``flat``: ``z_mu_XX``; ``bio_nuisance``: both
            ``z_mu_b_XX`` and ``z_mu_n_XX``, or flat ones to fall back on; ``auto``: any ``z_mu_*``).
        ParamsError: unknown schema.
    """
    flat = [c for c in columns if FLAT_RE.match(c)]
    bion = [c for c in columns if BION_RE.match(c)]
    if schema == "flat":
        if not flat:
            raise InputError(f"{source}: z_schema 'flat' needs z_mu_XX columns (found {bion[:3] or 'none'}...)")
        return flat
    if schema == "bio_nuisance":
        has_b = any(c.startswith("z_mu_b_") for c in bion)
        has_n = any(c.startswith("z_mu_n_") for c in bion)
        if has_b and has_n:
            return bion
        if not bion and flat:
            log.warning(
                "build06: %s has no z_mu_b_XX/z_mu_n_XX columns; z_schema bio_nuisance uses flat z_mu_XX", source
            )
            return flat
        raise InputError(
            f"{source}: z_schema 'bio_nuisance' needs z_mu_b_XX and z_mu_n_XX columns "
            f"(found {(flat + bion)[:3] or 'none'}...)"
        )
    if schema != "auto":
        raise ParamsError(f"z_schema must be auto, flat or bio_nuisance (got {schema!r})")
    both = [c for c in columns if FLAT_RE.match(c) or BION_RE.match(c)]
    if not both:
        raise InputError(f"{source}: no z_mu_* columns (columns: {', '.join(columns[:8])})")
    return both


def check_finite(table: pa.Table, cols: list[str], source: str | os.PathLike) -> None:
    """Raise InputError at the first null, NaN or infinite z value (naming file, column, snip_id, row)."""
    ids = table["snip_id"]
    for c in cols:
        col = table[c]
        if not pa.types.is_floating(col.type):
            raise InputError(f"{source}: column {c} is not floating point ({col.type})")
        offset = 0
        for chunk in col.chunks:
            if chunk.null_count:
                i = offset + int(np.flatnonzero(~np.asarray(chunk.is_valid()))[0])
                raise InputError(
                    f"{source}: non-finite z value in column {c} for snip_id {ids[i].as_py()!r} "
                    f"(row {i + 2} of the file): empty"
                )
            vals = chunk.to_numpy(zero_copy_only=False)
            finite = np.isfinite(vals)
            if not finite.all():
                j = int(np.flatnonzero(~finite)[0])
                i = offset + j
                raise InputError(
                    f"{source}: non-finite z value in column {c} for snip_id {ids[i].as_py()!r} "
                    f"(row {i + 2} of the file): {vals[j]!r}"
                )
            offset += len(chunk)


def load_latents(
    files: dict[str, Path | None], schema: str = "auto", dtype: str = "float32"
) -> tuple[pa.Table, list[str]]:
    """Read and check the latent files; returns (table with ``__snip_key__`` + z columns, z columns).

    The key is ``snip_id`` after stem normalisation (one combined chunk); z columns are parsed as
    ``dtype`` (``float32`` or ``float64``) and keep one chunk per file. Each CSV's Parquet twin is
    read instead when its fingerprint matches (see :mod:`ethoflow.vae.latent_store`); the values are
    the same. ``None`` entries (missing files) are skipped.

    Raises:
        InputError: a file lacks ``snip_id`` or the schema's columns, files disagree on their z
            columns, a z value is not finite (NaN, inf, empty), or a snip_id occurs twice
            (within or across files; message lists examples and files).
    """
    parts, cols, origin = [], None, []
    for path in files.values():
        if path is None:
            continue
        header = latent_header(path)
        if "snip_id" not in header:
            raise InputError(f"{path}: latent file has no snip_id column")
        zc = select_z_columns(header, schema, path)
        if cols is None:
            cols = zc
        elif zc != cols:
            raise InputError(f"{path}: z columns {zc[:4]}... differ from the other latent files' {cols[:4]}...")
        try:
            t, parsed = read_latent_file(path, zc, dtype)
        except pa.ArrowInvalid as exc:
            raise InputError(f"{path}: cannot read latents: {exc}") from None
        log.debug("build06: %s read from its %s", path, parsed)
        check_finite(t, zc, path)
        if t["snip_id"].null_count:
            raise InputError(f"{path}: empty snip_id in {t['snip_id'].null_count} row(s)")
        key = normalise_snip_ids(t["snip_id"])
        parts.append(pa.table({KEY: key, **{c: t[c] for c in zc}}))
        origin.append((str(path), len(t)))
    if not parts:
        return pa.table({KEY: pa.array([], pa.string())}), []
    table = pa.concat_tables(parts)
    key = pa.chunked_array([table[KEY].combine_chunks()])
    table = table.set_column(0, KEY, key)
    check_unique(key, "latents", origin)
    return table, cols or []
