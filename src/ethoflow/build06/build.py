"""build06 end to end: :func:`build_df03_with_embeddings` (the one orchestrator; morphseq's Build06 name).

Steps, each a function of its own module:

1. df02 read and checked (:mod:`~ethoflow.build06.tables`), experiments resolved;
2. latent files found (:func:`~ethoflow.build06.latents.ensure_latents_for_experiments`; missing ones
   generated only when the caller passes ``generate``, which the DVC stage never does); an
   experiment without a file is an error unless ``allow_partial``;
3. latents loaded and checked (:func:`~ethoflow.build06.latents.load_latents`);
4. df02 + latents joined (:func:`~ethoflow.build06.merge.merge_df02_with_embeddings`), coverage
   measured (:mod:`~ethoflow.build06.coverage`), optional training join;
5. df03 Parquet + CSV + sidecar + coverage (+ analysis copies, training join) written all-or-nothing
   (:mod:`~ethoflow.build06.export`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from ethoflow.build06.coverage import coverage_report
from ethoflow.build06.export import (
    export_df03_copies_by_experiment,
    git_commit,
    utc_timestamp,
    write_output_set,
)
from ethoflow.build06.latents import ensure_latents_for_experiments, find_latent_files, load_latents
from ethoflow.build06.layout import Df03Paths
from ethoflow.build06.merge import merge_df02_with_embeddings, merge_train_with_embeddings, unmatched_latents
from ethoflow.build06.params import Build06Params
from ethoflow.build06.sidecar import Df03Sidecar
from ethoflow.build06.tables import (
    check_df02_snip_ids,
    experiment_strings,
    normalise_snip_ids,
    read_table,
    resolve_experiments,
)
from ethoflow.core.errors import InputError
from ethoflow.core.io import check_overwrite, dumps_json
from ethoflow.core.logging import get_logger
from ethoflow.vae.latent_store import LATENT_FILE

log = get_logger(__name__)


@dataclass
class TrainJoin:
    """A training run's metadata table and where its join with the latents goes."""

    metadata: Path
    out: Path


@dataclass
class Build06Result:
    """What a run read, wrote (or would write, for a dry run) and measured."""

    df02: Path
    latents_dir: Path
    model_name: str
    outputs: Df03Paths
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


def _missing_error(latents_dir: Path, missing: list[str]) -> InputError:
    files = ", ".join(str(latents_dir / LATENT_FILE.format(experiment=e)) for e in missing)
    return InputError(
        f"{latents_dir}: no latent file for {len(missing)} experiment(s) {missing} ({files}); run vae_embed "
        "for them (`ethoflow build06 --generate-missing-latents` outside DVC), or set build06.allow_partial: "
        "true (--allow-partial) to merge without them"
    )


@dataclass(frozen=True)
class RunOptions:
    """How :func:`build_df03_with_embeddings` runs (defaults: the ``ethoflow build06`` command's).

    Attributes:
        overwrite: replace existing outputs (a DVC stage passes True: its outs are DVC's).
        dry_run: only plan: list reads, writes and missing latents; write nothing.
        generate: called with the experiments that have no latent file; must write them into
            ``latents_dir`` (the command's ``--generate-missing-latents``; never the DVC stage).
        provenance: put the git commit and a UTC timestamp in the sidecar (False under DVC, where
            dvc.lock is the provenance and outputs must be byte-identical across reruns).
    """

    overwrite: bool = False
    dry_run: bool = False
    generate: Callable[[list[str]], object] | None = None
    provenance: bool = True


def build_df03_with_embeddings(
    cfg: Build06Params,
    *,
    df02: str | os.PathLike,
    latents_dir: str | os.PathLike,
    model_name: str,
    out: Df03Paths,
    analysis_dir: str | os.PathLike | None = None,
    train: TrainJoin | None = None,
    options: RunOptions | None = None,
) -> Build06Result:
    """Merge the latents of ``latents_dir`` into ``df02``, giving the df03 output set ``out``.

    Args:
        cfg: merge options (experiments, z schema and dtype, coverage warning, allow_partial).
        df02: per-snip metadata (Parquet/CSV) with ``snip_id`` and ``cfg.experiment_column``.
        latents_dir: latent store folder ``.../<model_name>/`` of ``morph_latents_{exp}.csv``.
        model_name: recorded in the sidecar.
        out: the df03 set (Parquet, optional CSV, sidecar, coverage).
        analysis_dir: also write ``<analysis_dir>/df03_{experiment}.csv``.
        train: also write the training metadata table joined with the latents.
        options: overwrite, dry run, generation of missing latents, provenance (:class:`RunOptions`;
            ``None``: its defaults).

    Raises:
        InputError: bad inputs (see the step functions), or missing latent files without
            ``cfg.allow_partial``.
        OverwriteError: an output exists and ``options.overwrite`` is false (checked before any work).
        OutputError: the output set cannot be written (nothing of it is left behind).
    """
    opts = options or RunOptions()
    df02, latents_dir = Path(df02), Path(latents_dir)
    plan = _plan(cfg, df02, latents_dir, out, analysis_dir, train, overwrite=opts.overwrite)
    if opts.dry_run:
        _log_dry_run(plan, generate=opts.generate is not None, allow_partial=cfg.allow_partial)
        return Build06Result(
            df02,
            latents_dir,
            model_name,
            out,
            plan.experiments,
            {e: str(p) if p else None for e, p in plan.found.items()},
            plan.reads,
            plan.writes,
            dry_run=True,
            protected_existing=plan.blocked,
        )
    check_overwrite(plan.writes, opts.overwrite)

    files = _latent_files(plan, latents_dir, opts.generate, allow_partial=cfg.allow_partial)
    latents, z_cols = load_latents(files, cfg.z_schema, cfg.z_dtype)
    df03, exp_col, cov = _merge(cfg, plan, df02, files, (latents, z_cols))
    sidecar = Df03Sidecar(
        model_name=model_name,
        latent_store=str(latents_dir),
        latent_files={e: str(p) if p else None for e, p in files.items()},
        df02=str(df02),
        z_schema=cfg.z_schema,
        z_dtype=cfg.z_dtype,
        z_columns=z_cols,
        n_rows=df03.num_rows,
        params=cfg.model_dump(),
        coverage=cov["overall"],
        unmatched_latents=cov["unmatched_latents"],
        missing_latent_files=cov["missing_latent_files"],
        outputs=plan.writes,
        **({"git_commit": git_commit(), "timestamp": utc_timestamp()} if opts.provenance else {}),
    )
    outputs: dict[Path, pa.Table | str] = {out.parquet: df03}
    if out.csv:
        outputs[out.csv] = df03
    outputs[out.sidecar] = sidecar.to_json()
    outputs[out.coverage] = dumps_json(cov)
    if analysis_dir:
        outputs.update(export_df03_copies_by_experiment(df03, exp_col, plan.experiments, analysis_dir))
    if train:
        outputs[train.out] = _train_join(train, latents, z_cols)
    write_output_set(outputs)
    log.info(
        "build06: df03 %d rows, %d z columns, coverage %.1f%% -> %s",
        df03.num_rows,
        len(z_cols),
        100 * cov["overall"]["coverage"],
        out.parquet,
    )
    return Build06Result(
        df02,
        latents_dir,
        model_name,
        out,
        plan.experiments,
        {e: str(p) if p else None for e, p in files.items()},
        plan.reads,
        plan.writes,
        coverage=cov,
        z_columns=z_cols,
        n_rows=df03.num_rows,
        table=df03,
    )


@dataclass
class _Plan:
    """What a run reads and writes, decided before any work: df02 ``table``, the ``experiments``, the
    latent files ``found`` (``None``: missing), ``reads``, ``writes`` and the existing outputs ``blocked``
    (empty with ``overwrite``)."""

    table: pa.Table
    experiments: list[str]
    found: dict[str, Path | None]
    reads: list[str]
    writes: list[str]
    blocked: list[str]

    @property
    def missing(self) -> list[str]:
        return [e for e, p in self.found.items() if p is None]


def _plan(
    cfg: Build06Params,
    df02: Path,
    latents_dir: Path,
    out: Df03Paths,
    analysis_dir: str | os.PathLike | None,
    train: TrainJoin | None,
    *,
    overwrite: bool,
) -> _Plan:
    """Read and check df02, resolve the experiments, find their latent files (no generation yet).

    Raises:
        InputError: see :func:`~ethoflow.build06.tables.read_table` and ``resolve_experiments``.
    """
    table = read_table(df02, "df02")
    check_df02_snip_ids(table, df02)
    experiments = resolve_experiments(table, cfg.experiments, cfg.experiment_column, df02)
    copies_planned = [Path(analysis_dir) / f"df03_{e}.csv" for e in experiments] if analysis_dir else []
    write_paths = [*out.files(), *copies_planned, *([train.out] if train else [])]
    writes = [str(p) for p in write_paths]
    found = find_latent_files(latents_dir, experiments)  # no generation yet: plan first
    reads = [str(df02), *[str(p) for p in found.values() if p], *([str(train.metadata)] if train else [])]
    blocked = [w for w in writes if Path(w).exists()] if not overwrite else []
    return _Plan(table, experiments, found, reads, writes, blocked)


def _log_dry_run(plan: _Plan, *, generate: bool, allow_partial: bool) -> None:
    """One line per read, missing latent file (and what a run would do) and write."""
    for r in plan.reads:
        log.info("build06 dry run: would read %s", r)
    for e in plan.missing:
        action = "would generate them" if generate else ("would merge without" if allow_partial else "error")
        log.info("build06 dry run: no latents for %s: %s", e, action)
    for w in plan.writes:
        log.info("build06 dry run: would write %s%s", w, " (exists; needs overwrite)" if w in plan.blocked else "")


def _latent_files(
    plan: _Plan, latents_dir: Path, generate: Callable[[list[str]], object] | None, *, allow_partial: bool
) -> dict[str, Path | None]:
    """The latent file of each experiment, generating missing ones when ``generate`` is given.

    Raises:
        InputError: an experiment still has no latent file and ``allow_partial`` is false.
    """
    found = plan.found
    files = (
        ensure_latents_for_experiments(latents_dir, plan.experiments, generate) if plan.missing and generate else found
    )
    missing = [e for e, p in files.items() if p is None]
    if missing and not allow_partial:
        raise _missing_error(latents_dir, missing)
    for e in missing:
        log.warning(
            "build06: no latents for experiment %s (%s missing); allow_partial: its rows get no z values",
            e,
            latents_dir / LATENT_FILE.format(experiment=e),
        )
    return files


def _merge(
    cfg: Build06Params,
    plan: _Plan,
    df02: Path,
    files: dict[str, Path | None],
    loaded: tuple[pa.Table, list[str]],
) -> tuple[pa.Table, pa.ChunkedArray, dict[str, Any]]:
    """Join df02 (``cfg.experiments``' rows) with the ``loaded`` latents and their z columns.

    Returns:
        ``(df03, experiment of each df03 row, coverage report with unmatched latents)``.
    """
    latents, z_cols = loaded
    table, exp_col = plan.table, experiment_strings(plan.table, cfg.experiment_column, df02)
    all_ids = table["snip_id"]  # "unmatched" means in no df02 row, whichever experiments are merged
    if cfg.experiments is not None:
        keep = pc.is_in(exp_col, value_set=pa.array(plan.experiments, pa.string()))
        table, exp_col = table.filter(keep), exp_col.filter(keep)
    df03, matched = merge_df02_with_embeddings(table, latents, z_cols, df02)
    cov = coverage_report(exp_col, matched, plan.experiments, files, cfg.coverage_warn)
    _count_unmatched(cov, latents, all_ids, df02)
    return df03, exp_col, cov


def _train_join(train: TrainJoin, latents: pa.Table, z_cols: list[str]) -> pa.Table:
    """The training run's metadata table joined with the latents (:func:`merge_train_with_embeddings`)."""
    return merge_train_with_embeddings(read_table(train.metadata, "training metadata"), latents, z_cols, train.metadata)


def _count_unmatched(cov: dict[str, Any], latents: pa.Table, all_ids: Any, df02: Path) -> None:
    """Add ``unmatched_latents`` (latent rows whose snip_id is in no df02 row) and examples to ``cov``."""
    n_unmatched, unmatched_examples = unmatched_latents(latents, normalise_snip_ids(all_ids))
    cov["unmatched_latents"] = n_unmatched
    cov["unmatched_latent_examples"] = unmatched_examples
    if n_unmatched:
        log.warning(
            "build06: %d latent row(s) have a snip_id in no df02 row (%s) and are left out of df03, e.g. %s",
            n_unmatched,
            df02,
            ", ".join(repr(x) for x in unmatched_examples),
        )
