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
from ethoflow.core.errors import InputError, ParamsError, UsageError
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


def _numbering_gaps(cols: list[str]) -> list[str]:
    """Names missing from a run of numbered z columns (``z_mu_00, z_mu_01, z_mu_03`` -> ``z_mu_02``),
    per prefix (``z_mu_``, ``z_mu_b_``, ``z_mu_n_``), keeping each prefix's digit width."""
    groups: dict[str, tuple[int, set[int]]] = {}
    for c in cols:
        prefix, num = c.rsplit("_", 1)
        width, have = groups.setdefault(prefix + "_", (len(num), set()))
        have.add(int(num))
    out = []
    for prefix, (width, have) in groups.items():
        out += [f"{prefix}{i:0{width}d}" for i in range(min(have), max(have)) if i not in have]
    return out


def select_z_columns(columns: list[str], schema: str, source: str | os.PathLike) -> list[str]:
    """The z columns of a latent file under the schema policy (file order kept).

    ``bio_nuisance`` needs ``z_mu_b_XX`` and ``z_mu_n_XX`` columns; on a store with flat ``z_mu_XX``
    only it stops (exit 2) unless the user asked for the fallback with ``bio_nuisance_or_flat``, which
    then uses the flat columns with a warning (morphseq's Build06 design falls back silently).
    A gap in a numbered run (``z_mu_00, z_mu_01, z_mu_03``) names the missing column.

    Raises:
        UsageError: ``bio_nuisance`` on a file with flat z columns only (exit status 2).
        InputError: the schema's columns are absent (``flat``: ``z_mu_XX``; ``bio_nuisance``: both
            ``z_mu_b_XX`` and ``z_mu_n_XX``; ``auto``: any ``z_mu_*``), or a numbered column is missing.
        ParamsError: unknown schema.
    """
    flat = [c for c in columns if FLAT_RE.match(c)]
    bion = [c for c in columns if BION_RE.match(c)]
    if schema == "flat":
        if not flat:
            raise InputError(f"{source}: z_schema 'flat' needs z_mu_XX columns (found {bion[:3] or 'none'}...)")
        chosen = flat
    elif schema in ("bio_nuisance", "bio_nuisance_or_flat"):
        has_b = any(c.startswith("z_mu_b_") for c in bion)
        has_n = any(c.startswith("z_mu_n_") for c in bion)
        if has_b and has_n:
            chosen = bion
        elif not bion and flat and schema == "bio_nuisance_or_flat":
            log.warning(
                "build06: %s has no z_mu_b_XX/z_mu_n_XX columns; z_schema bio_nuisance_or_flat uses its "
                "%d flat z_mu_XX columns",
                source,
                len(flat),
            )
            chosen = flat
        elif not bion and flat:
            raise UsageError(
                f"{source}: z_schema 'bio_nuisance' needs z_mu_b_XX and z_mu_n_XX columns, but this latent "
                f"file has flat z_mu_XX columns only ({len(flat)}: {', '.join(flat[:3])}...); set "
                "build06.z_schema to flat (or auto), or to bio_nuisance_or_flat to fall back to the flat ones"
            )
        else:
            raise InputError(
                f"{source}: z_schema {schema!r} needs z_mu_b_XX and z_mu_n_XX columns "
                f"(found {(flat + bion)[:3] or 'none'}...)"
            )
    elif schema != "auto":
        raise ParamsError(f"z_schema must be auto, flat, bio_nuisance or bio_nuisance_or_flat (got {schema!r})")
    else:
        chosen = [c for c in columns if FLAT_RE.match(c) or BION_RE.match(c)]
        if not chosen:
            raise InputError(f"{source}: no z_mu_* columns (columns: {', '.join(columns[:8])})")
    gaps = _numbering_gaps(chosen)
    if gaps:
        raise InputError(
            f"{source}: latent column(s) {', '.join(gaps[:5])} missing "
            f"(the file has {chosen[0]} .. {chosen[-1]} without them)"
        )
    return chosen


def _name_column_difference(path: Path, zc: list[str], first: Path, cols: list[str]) -> str:
    missing = [c for c in cols if c not in zc]
    extra = [c for c in zc if c not in cols]
    parts = []
    if missing:
        parts.append(f"latent column(s) {', '.join(missing[:5])} missing (present in {first})")
    if extra:
        parts.append(f"extra latent column(s) {', '.join(extra[:5])} (absent from {first})")
    if not parts:
        parts.append(f"the z columns are in another order than in {first}")
    return f"{path}: " + "; ".join(parts)


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
        UsageError: ``bio_nuisance`` on flat latents (see :func:`select_z_columns`).
        InputError: a file lacks ``snip_id`` or the schema's columns, files disagree on their z
            columns (the missing or extra columns named), a z value is not finite (NaN, inf, empty), or a snip_id occurs twice
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
            cols, first = zc, path
        elif zc != cols:
            raise InputError(_name_column_difference(path, zc, first, cols))
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
