"""build06: merge per-snip latents into df02, giving df03 (the table analysis users load).

Steps (each a function here, :func:`run_build06` chains them):

1. :func:`resolve_paths` - df02 and latent store paths (project defaults or morphseq-style roots);
2. :func:`resolve_experiments` - the explicit list, or every ``experiment_date`` of df02;
3. :func:`find_latent_files` / :func:`ensure_latents` - ``morph_latents_{exp}.csv`` per experiment;
   missing ones are generated through vae_embed (``generate_missing_latents``) or reported and skipped;
4. :func:`read_latents` - z columns chosen by the schema policy, ``snip_id`` stems normalised
   (``_s####`` -> ``_t####``), finite values and unique snip_ids checked;
5. :func:`left_join` - every df02 row kept, z columns null where a snip has no latent;
6. :func:`coverage` - fraction of df02 rows with latents, overall and per experiment;
7. outputs: df03 Parquet (+ CSV), coverage JSON, sidecar JSON, optional per-experiment copies.

Everything runs on Arrow tables (hash-based ``index_in`` join, column-wise checks), so a df02 of a
million snips with 64 latent dims merges in seconds.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ethoflow.build06.params import (
    DEFAULT_DF02,
    DEFAULT_LATENTS_ROOT,
    MORPHSEQ_DF02,
    MORPHSEQ_LATENTS,
    Build06Params,
)
from ethoflow.core.errors import InputError, ParamsError
from ethoflow.core.io import atomic_path, check_overwrite, write_json
from ethoflow.core.logging import get_logger
from ethoflow.vae.latent_store import LATENT_FILE, latent_header, read_latent_file

log = get_logger(__name__)

FLAT_RE = re.compile(r"^z_mu_\d+$")
BION_RE = re.compile(r"^z_mu_[bn]_\d+$")
STEM_PATTERN = r"_s(\d{4,})$"
KEY = "__snip_key__"


@dataclass
class Paths:
    """Resolved inputs and outputs of one build06 run."""

    df02: Path
    latents_dir: Path
    model_name: str
    out: Path
    csv: Path | None
    sidecar: Path
    coverage: Path
    analysis_root: Path | None
    vae_checkpoint: Path


@dataclass
class Build06Result:
    """What a run read, wrote (or would write, for a dry run) and measured."""

    paths: Paths
    experiments: list[str]
    latent_files: dict[str, str | None]
    reads: list[str]
    writes: list[str]
    coverage: dict[str, Any] = field(default_factory=dict)
    z_columns: list[str] = field(default_factory=list)
    n_rows: int = 0
    dry_run: bool = False
    table: pa.Table | None = None
    protected_existing: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- paths and experiments
def resolve_paths(cfg: Build06Params, model_name: str | None = None) -> Paths:
    """Input and output paths from the params (``model_name`` fills a null ``cfg.model_name``).

    Raises:
        ParamsError: no model name.
    """
    name = cfg.model_name or model_name
    if not name:
        raise ParamsError("build06.model_name is not set (and no vae.model_name to fall back on)")
    if cfg.df02:
        df02 = Path(cfg.df02)
    elif cfg.morphseq_root:
        df02 = Path(cfg.morphseq_root) / MORPHSEQ_DF02
    else:
        df02 = Path(DEFAULT_DF02)
    if cfg.latents_root:
        root = Path(cfg.latents_root)
    elif cfg.data_root:
        root = Path(cfg.data_root) / MORPHSEQ_LATENTS
    else:
        root = Path(DEFAULT_LATENTS_ROOT)
    out = Path(cfg.out)
    return Paths(
        df02=df02,
        latents_dir=root / name,
        model_name=name,
        out=out,
        csv=out.with_suffix(".csv") if cfg.write_csv else None,
        sidecar=out.with_suffix(".json"),
        coverage=Path(cfg.coverage_report),
        analysis_root=Path(cfg.analysis_root) if cfg.analysis_root else None,
        vae_checkpoint=Path(cfg.vae_checkpoint) if cfg.vae_checkpoint else Path("models/vae") / name / "model.pt",
    )


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


def resolve_experiments(df02: pa.Table, cfg: Build06Params, source: str | os.PathLike) -> list[str]:
    """``cfg.experiments`` (each must occur in df02), else df02's experiments, sorted.

    Raises:
        InputError: an explicit experiment has no df02 rows, or df02 is empty.
    """
    have = sorted(set(pc.unique(experiment_strings(df02, cfg.experiment_column, source)).to_pylist()) - {None})
    if cfg.experiments is None:
        if not have:
            raise InputError(f"{source}: df02 has no rows")
        return have
    missing = [e for e in cfg.experiments if e not in set(have)]
    if missing:
        raise InputError(f"{source}: experiment(s) {missing} have no rows in df02 (it has {have})")
    return list(dict.fromkeys(cfg.experiments))


def find_latent_files(latents_dir: str | os.PathLike, experiments: list[str]) -> dict[str, Path | None]:
    """``morph_latents_{exp}.csv`` per experiment (``None`` when absent)."""
    out: dict[str, Path | None] = {}
    for exp in experiments:
        p = Path(latents_dir) / LATENT_FILE.format(experiment=exp)
        out[exp] = p if p.exists() else None
    return out


def ensure_latents(paths: Paths, cfg: Build06Params, experiments: list[str]) -> dict[str, Path | None]:
    """Latent files per experiment; missing ones generated through vae_embed or reported.

    With ``generate_missing_latents`` the missing experiments are embedded with ``vae_checkpoint``
    from ``activity_store`` (df02 must be an ethoflow df02 with ``cage_id`` and ``start_minute``).
    Otherwise each missing experiment is logged as a warning and the merge continues without it.
    """
    files = find_latent_files(paths.latents_dir, experiments)
    missing = [e for e, p in files.items() if p is None]
    if not missing:
        return files
    if cfg.generate_missing_latents:
        from ethoflow.vae.embed import embed_experiments  # torch only when needed

        log.info("build06: generating latents for %s with %s", missing, paths.vae_checkpoint)
        embed_experiments(paths.vae_checkpoint, paths.df02, cfg.activity_store, paths.latents_dir, missing)
        files = find_latent_files(paths.latents_dir, experiments)
        still = [e for e, p in files.items() if p is None]
        if still:
            raise InputError(f"{paths.latents_dir}: vae_embed did not produce latents for {still}")
        return files
    for exp in missing:
        log.warning(
            "build06: no latents for experiment %s (%s missing); its rows get no z values "
            "(set generate_missing_latents: true to embed it)",
            exp,
            paths.latents_dir / LATENT_FILE.format(experiment=exp),
        )
    return files


# --------------------------------------------------------------------------- latents
def normalise_snip_ids(ids: pa.Array | pa.ChunkedArray) -> pa.ChunkedArray | pa.Array:
    """Replace a trailing ``_s####`` stem (4+ digits) by ``_t####``; other ids are unchanged."""
    ids = pc.cast(ids, pa.string())
    if not pc.any(pc.match_substring(ids, "_s")).as_py():  # cheap test first: most stores have none
        return ids
    return pc.replace_substring_regex(ids, pattern=STEM_PATTERN, replacement=r"_t\1")


def select_z_columns(columns: list[str], schema: str, source: str | os.PathLike) -> list[str]:
    """The z columns of a latent file under the schema policy (file order kept).

    Raises:
        InputError: the schema's columns are absent (``flat``: ``z_mu_XX``; ``bio_nuisance``:
            ``z_mu_b_XX`` and ``z_mu_n_XX``; ``auto``: any ``z_mu_*``).
    """
    flat = [c for c in columns if FLAT_RE.match(c)]
    bion = [c for c in columns if BION_RE.match(c)]
    if schema == "flat":
        if not flat:
            raise InputError(f"{source}: z_schema 'flat' needs z_mu_XX columns (found {bion[:3] or 'none'}...)")
        return flat
    if schema == "bio_nuisance":
        if not any(c.startswith("z_mu_b_") for c in bion) or not any(c.startswith("z_mu_n_") for c in bion):
            raise InputError(
                f"{source}: z_schema 'bio_nuisance' needs z_mu_b_XX and z_mu_n_XX columns "
                f"(found {(flat + bion)[:3] or 'none'}...)"
            )
        return bion
    if schema != "auto":
        raise ParamsError(f"z_schema must be auto, flat or bio_nuisance (got {schema!r})")
    both = [c for c in columns if FLAT_RE.match(c) or BION_RE.match(c)]
    if not both:
        raise InputError(f"{source}: no z_mu_* columns (columns: {', '.join(columns[:8])})")
    return both


def _check_finite(table: pa.Table, cols: list[str], source: str | os.PathLike, ids: pa.ChunkedArray) -> None:
    """Raise InputError at the first null, NaN or infinite z value (naming file, column, snip_id, row)."""
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


def read_latents(
    files: dict[str, Path | None], schema: str = "auto", dtype: str = "float32"
) -> tuple[pa.Table, list[str]]:
    """Read and check the latent files; returns (table with ``__snip_key__`` + z columns, z columns).

    The key is ``snip_id`` after stem normalisation (one combined chunk); z columns are parsed as
    ``dtype`` (``float32`` or ``float64``) and keep one chunk per file.

    Each CSV's Parquet twin is read instead when its fingerprint matches (see
    :mod:`ethoflow.vae.latent_store`); the values are the same.

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
        _check_finite(t, zc, path, t["snip_id"])
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
    _check_unique(key, "latents", origin)
    return table, cols or []


def _check_unique(keys: pa.ChunkedArray | pa.Array, what: str, origin: list[tuple[str, int]] | str) -> None:
    """Raise InputError listing duplicated snip_ids (and which file each copy came from)."""
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


# --------------------------------------------------------------------------- join and coverage
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


def unmatched_latents(latents: pa.Table, df02_keys: pa.ChunkedArray | pa.Array) -> tuple[int, list[str]]:
    """Latent rows whose (normalised) snip_id is in no df02 row: (count, first 5 ids)."""
    if not len(latents):
        return 0, []
    hit = pc.is_in(
        latents[KEY],
        value_set=pc.cast(df02_keys, pa.string()).combine_chunks()
        if isinstance(df02_keys, pa.ChunkedArray)
        else pc.cast(df02_keys, pa.string()),
    )
    miss = pc.invert(hit)
    n = int(pc.sum(pc.cast(miss, pa.int64())).as_py() or 0)
    examples = pc.filter(latents[KEY], miss).to_pylist()[:5] if n else []
    return n, examples


def left_join(
    df02: pa.Table, latents: pa.Table, z_cols: list[str], source: str | os.PathLike = "df02"
) -> tuple[pa.Table, pa.Array]:
    """df02 + z columns matched on normalised ``snip_id``; every df02 row kept, in order.

    Returns:
        (df03 table, bool array (rows,) True where the row found a latent).

    Raises:
        InputError: df02 has no snip_id, or duplicated snip_ids.
    """
    if "snip_id" not in df02.column_names:
        raise InputError(f"{source}: df02 has no snip_id column")
    key = normalise_snip_ids(df02["snip_id"])
    _check_unique(key, f"df02 ({source})", str(source))
    if len(latents):
        idx = pc.index_in(key, value_set=latents[KEY].combine_chunks())
    else:
        idx = pa.nulls(len(df02), pa.int32())
    matched = pc.is_valid(idx)
    out = df02
    for c in z_cols:
        if c in out.column_names:
            raise InputError(f"{source}: df02 already has a column {c}; drop it before merging latents")
        out = out.append_column(c, pc.take(latents[c], idx))
    return out, matched


def headline_metrics(cov: dict[str, Any]) -> dict[str, Any]:
    """The numbers a reviewer compares (``metrics/build06.json``): the fraction of df02 rows that got
    latents, and the number of df02 rows."""
    o = cov["overall"]
    return {"coverage": o["coverage"], "rows": o["n_rows"]}


def coverage(
    exp: pa.ChunkedArray | pa.Array,
    matched: pa.Array | pa.ChunkedArray,
    experiments: list[str],
    files: dict[str, Path | None],
    warn_below: float,
) -> dict[str, Any]:
    """Fraction of df02 rows with latents, overall and per experiment (with the latent file used)."""
    t = pa.table({"exp": exp, "m": pc.cast(matched, pa.int64())})
    agg = t.group_by("exp").aggregate([("m", "sum"), ("m", "count")]).to_pylist()
    by = {r["exp"]: (int(r["m_sum"]), int(r["m_count"])) for r in agg}
    per = {}
    for e in experiments:
        n_ok, n = by.get(e, (0, 0))
        per[e] = {
            "n_rows": n,
            "n_with_latents": n_ok,
            "coverage": (n_ok / n) if n else 0.0,
            "latent_file": str(files.get(e)) if files.get(e) else None,
        }
    n_all = sum(v["n_rows"] for v in per.values())
    ok_all = sum(v["n_with_latents"] for v in per.values())
    cov = {
        "overall": {"n_rows": n_all, "n_with_latents": ok_all, "coverage": (ok_all / n_all) if n_all else 0.0},
        "per_experiment": per,
        "warn_below": warn_below,
    }
    low = [e for e, v in per.items() if v["coverage"] < warn_below]
    cov["below_threshold"] = low
    if cov["overall"]["coverage"] < warn_below:
        log.warning(
            "build06: latent coverage %.1f%% is below %.0f%% (%d of %d df02 rows)",
            100 * cov["overall"]["coverage"],
            100 * warn_below,
            ok_all,
            n_all,
        )
    for e in low:
        log.warning(
            "build06: experiment %s: coverage %.1f%% (%d of %d rows)",
            e,
            100 * per[e]["coverage"],
            per[e]["n_with_latents"],
            per[e]["n_rows"],
        )
    return cov


def join_train_metadata(df03: pa.Table, path: str | os.PathLike, on: str) -> pa.Table:
    """Left-join a training metadata table on ``on``; its other columns get ``_train`` when names clash.

    Raises:
        InputError: the key is missing on either side or duplicated in the metadata table.
    """
    meta = read_table(path, "training metadata")
    if on not in meta.column_names:
        raise InputError(f"{path}: training metadata has no {on!r} column")
    if on not in df03.column_names:
        raise InputError(f"df02 has no {on!r} column to join the training metadata {path} on")
    mkey = pc.cast(meta[on], pa.string())
    dkey = pc.cast(df03[on], pa.string())
    if on == "snip_id":
        mkey, dkey = normalise_snip_ids(mkey), normalise_snip_ids(dkey)
    _check_unique(mkey, f"training metadata ({path})", str(path))
    idx = pc.index_in(dkey, value_set=mkey)
    for c in meta.column_names:
        if c == on:
            continue
        name = f"{c}_train" if c in df03.column_names else c
        df03 = df03.append_column(name, pc.take(meta[c], idx))
    return df03


# --------------------------------------------------------------------------- outputs
def git_commit() -> str | None:
    """``git rev-parse HEAD`` of the working directory (``None`` outside git)."""
    try:
        res = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if res.returncode != 0:
        return None
    return res.stdout.strip() or None


def _write_parquet(table: pa.Table, path: Path) -> None:
    # Dictionary-encode only non-float columns: trying it on a million distinct floats per z column
    # costs several seconds and is then abandoned by the writer anyway.
    dict_cols = [f.name for f in table.schema if not pa.types.is_floating(f.type)]
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, use_dictionary=dict_cols)


def _write_csv(table: pa.Table, path: Path) -> None:
    with atomic_path(path) as tmp:
        pacsv.write_csv(table, tmp, write_options=pacsv.WriteOptions(quoting_style="needed"))


def plan_outputs(paths: Paths, experiments: list[str]) -> tuple[list[Path], list[Path]]:
    """(main outputs, per-experiment analysis copies) a run would write."""
    main = [paths.out, *([paths.csv] if paths.csv else []), paths.sidecar, paths.coverage]
    copies = [paths.analysis_root / f"df03_{e}.csv" for e in experiments] if paths.analysis_root else []
    return main, copies


def run_build06(
    cfg: Build06Params,
    model_name: str | None = None,
    dvc_managed: bool = False,
    params_record: dict[str, Any] | None = None,
) -> Build06Result:
    """The whole merge: resolve, ensure latents, read and check, join, write (or plan, for a dry run).

    Args:
        cfg: the build06 params (CLI options already applied).
        model_name: fallback when ``cfg.model_name`` is null (the ``vae`` section's).
        dvc_managed: the main outputs are DVC outs of the running stage (DVC removed them before the
            run), so only the analysis copies are protected; outside DVC every existing output is.
        params_record: params stored in the sidecar (default: ``cfg``).

    Raises:
        InputError: bad inputs (see the step functions).
        OverwriteError: an output exists and ``overwrite`` is false.
    """
    paths = resolve_paths(cfg, model_name)
    df02 = read_table(paths.df02, "df02")
    check_df02_snip_ids(df02, paths.df02)
    experiments = resolve_experiments(df02, cfg, paths.df02)
    main_out, copies = plan_outputs(paths, experiments)
    protected = copies if dvc_managed else [*main_out, *copies]
    files = find_latent_files(paths.latents_dir, experiments)
    reads = [str(paths.df02), *[str(p) for p in files.values() if p]]
    if cfg.train_metadata:
        reads.append(cfg.train_metadata)
    writes = [str(p) for p in (*main_out, *copies)]
    if cfg.dry_run:
        missing = [e for e, p in files.items() if p is None]
        for r in reads:
            log.info("build06 dry run: would read %s", r)
        for e in missing:
            log.info(
                "build06 dry run: no latents for %s: %s",
                e,
                "would generate them with vae_embed" if cfg.generate_missing_latents else "would warn and skip",
            )
        blocked = [str(p) for p in protected if Path(p).exists() and not cfg.overwrite]
        for w in writes:
            log.info("build06 dry run: would write %s%s", w, " (exists; needs overwrite)" if w in blocked else "")
        return Build06Result(
            paths,
            experiments,
            {e: str(p) if p else None for e, p in files.items()},
            reads,
            writes,
            dry_run=True,
            protected_existing=blocked,
        )
    check_overwrite(protected, cfg.overwrite)

    files = ensure_latents(paths, cfg, experiments)
    latents, z_cols = read_latents(files, cfg.z_schema, cfg.z_dtype)
    exp_col = experiment_strings(df02, cfg.experiment_column, paths.df02)
    all_ids = df02["snip_id"]  # "unmatched" means in no df02 row, whichever experiments are merged
    if cfg.experiments is not None:
        keep = pc.is_in(exp_col, value_set=pa.array(experiments, pa.string()))
        df02, exp_col = df02.filter(keep), exp_col.filter(keep)
    df03, matched = left_join(df02, latents, z_cols, paths.df02)
    cov = coverage(exp_col, matched, experiments, files, cfg.coverage_warn)
    n_unmatched, unmatched_examples = unmatched_latents(latents, normalise_snip_ids(all_ids))
    cov["unmatched_latents"] = n_unmatched
    cov["unmatched_latent_examples"] = unmatched_examples
    if n_unmatched:
        log.warning(
            "build06: %d latent row(s) have a snip_id in no df02 row (%s) and are left out of df03, e.g. %s",
            n_unmatched,
            paths.df02,
            ", ".join(repr(x) for x in unmatched_examples),
        )
    if cfg.train_metadata:
        df03 = join_train_metadata(df03, cfg.train_metadata, cfg.train_metadata_on)

    _write_parquet(df03, paths.out)
    if paths.csv:
        _write_csv(df03, paths.csv)
    for exp, path in zip(experiments, copies):
        _write_csv(df03.filter(pc.equal(exp_col, exp)), path)
    write_json(paths.coverage, cov)
    # Provenance of a run outside DVC: the commit and the time. Under DVC, dvc.lock records the inputs'
    # hashes, and a timestamp in an out would make every rerun's df03.json differ.
    run_info = (
        {}
        if dvc_managed
        else {
            "git_commit": git_commit(),
            "timestamp": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        }
    )
    write_json(
        paths.sidecar,
        {
            "model_name": paths.model_name,
            "latent_store": str(paths.latents_dir),
            "latent_files": {e: str(p) if p else None for e, p in files.items()},
            "df02": str(paths.df02),
            "z_schema": cfg.z_schema,
            "z_dtype": cfg.z_dtype,
            "z_columns": z_cols,
            "n_rows": df03.num_rows,
            "params": params_record if params_record is not None else cfg.model_dump(),
            **run_info,
            "coverage": cov["overall"],
            "unmatched_latents": cov["unmatched_latents"],
            "outputs": writes,
        },
    )
    log.info(
        "build06: df03 %d rows, %d z columns, coverage %.1f%% -> %s",
        df03.num_rows,
        len(z_cols),
        100 * cov["overall"]["coverage"],
        paths.out,
    )
    return Build06Result(
        paths,
        experiments,
        {e: str(p) if p else None for e, p in files.items()},
        reads,
        writes,
        coverage=cov,
        z_columns=z_cols,
        n_rows=df03.num_rows,
        table=df03,
    )
