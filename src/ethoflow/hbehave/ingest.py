"""Stage ``hbehave_zarr``: raw activity (Digital Ventilated Cage CSVs + summary, or DAM files) -> the activity Zarr store.

The store (layout in :mod:`ethoflow.hbehave.store`) gets, besides the cages, root attrs:

- ``split``: ``{"train": [...], "val": [...]}`` cage ids (``val_cages`` or a seeded ``val_fraction``);
- ``normalisation``: ``{"mode": "per_electrode"|"global", "mean": [C], "std": [C], "fitted_on": "train",
  "train_cages": [...]}``; for ``global`` all C entries are equal, so consumers never branch;
- ``source_format``, ``ingest_report`` (summary counts).

The store is built in a temporary folder beside the target and renamed into place on success.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ethoflow.core.errors import InputError
from ethoflow.core.logging import get_logger
from ethoflow.core.progress import progress
from ethoflow.hbehave.io import ROW_PROBLEMS, DamOptions, read_dam, read_summary, read_ventilated_cage_csv
from ethoflow.hbehave.params import ZarrParams
from ethoflow.hbehave.store import CageRecord, create_store, update_store_attrs, write_cage

log = get_logger(__name__)


def split_cages(
    cage_ids: list[str], val_fraction: float, seed: int, val_cages: list[str] | None = None
) -> dict[str, list[str]]:
    """Train/validation split by cage (sorted ids; seeded permutation; at least one training cage).

    Raises:
        InputError: ``val_cages`` names a cage that does not exist, or leaves no training cage.
    """
    ids = sorted(cage_ids)
    if val_cages is not None:
        unknown = sorted(set(val_cages) - set(ids))
        if unknown:
            raise InputError(f"hbehave.zarr.val_cages: unknown cage(s) {', '.join(unknown)}")
        val = sorted(val_cages)
    else:
        n_val = int(round(val_fraction * len(ids)))
        n_val = min(n_val, len(ids) - 1)
        perm = np.random.default_rng(seed).permutation(len(ids))
        val = sorted(ids[i] for i in perm[:n_val])
    train = [c for c in ids if c not in set(val)]
    if not train:
        raise InputError("hbehave.zarr: the split leaves no training cage")
    return {"train": train, "val": val}


def fit_normalisation(records: list[CageRecord], mode: str) -> dict[str, Any]:
    """z-score statistics over the valid readings of ``records`` (the training cages).

    Args:
        records: training cages (all with the same channels).
        mode: ``per_electrode`` (one mean/std per channel) or ``global`` (one over all channels,
            repeated per channel).

    Returns:
        ``{"mode", "mean": [C], "std": [C]}`` (float64 sums, population std; std 0 -> 1).

    Raises:
        InputError: no valid reading at all.
    """
    c = records[0].activity.shape[1]
    s = np.zeros(c)
    s2 = np.zeros(c)
    n = np.zeros(c)
    for r in records:
        x = np.where(r.valid, r.activity.astype(np.float64), 0.0)
        s += x.sum(0)
        s2 += (x * x).sum(0)
        n += r.valid.sum(0)
    if n.sum() == 0:
        raise InputError("hbehave.zarr: training cages have no valid reading; cannot fit normalisation")
    if mode == "global":
        s, s2, n = np.full(c, s.sum()), np.full(c, s2.sum()), np.full(c, n.sum())
    nn = np.maximum(n, 1)
    mean = s / nn
    std = np.sqrt(np.maximum(s2 / nn - mean**2, 0.0))
    std = np.where(std > 1e-12, std, 1.0)
    return {"mode": mode, "mean": [float(v) for v in mean], "std": [float(v) for v in std]}


def _kinds(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {kind}" for kind, n in counts.items())


def dam_rows_summary(files: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Totals of the DAM row validation over the per-file reports of :func:`read_dam`.

    Returns:
        ``{"readings", "formats": {"DAM2": files, ...}, "skipped_rows", "skipped_rows_by_problem",
        "skipped_values", "skipped_values_by_problem", "files_with_problems": [...]}``.
    """
    out: dict[str, Any] = {
        "readings": 0,
        "formats": {},
        "skipped_rows": 0,
        "skipped_rows_by_problem": {},
        "skipped_values": 0,
        "skipped_values_by_problem": {},
        "files_with_problems": [],
    }
    for name, rep in files.items():
        out["readings"] += int(rep.get("readings", 0))
        fmt = rep.get("format", "DAM2")
        out["formats"][fmt] = out["formats"].get(fmt, 0) + 1
        out["skipped_rows"] += int(rep.get("skipped_rows", 0))
        out["skipped_values"] += int(rep.get("skipped_values", 0))
        for kind, n in rep.get("problem_counts", {}).items():
            key = "skipped_rows_by_problem" if kind in ROW_PROBLEMS else "skipped_values_by_problem"
            out[key][kind] = out[key].get(kind, 0) + int(n)
        if rep.get("problem_counts"):
            out["files_with_problems"].append(name)
    return out


def _read_dam_files(
    root: Path, cfg: ZarrParams, summary: pd.DataFrame | None, report: dict[str, Any]
) -> list[CageRecord]:
    """Every DAM file of ``root`` matching ``cfg.dam_glob`` (:func:`~ethoflow.hbehave.io.read_dam`); fills
    ``report``'s ``files``, ``cages`` and ``dam_rows`` (also logged).

    Raises:
        InputError: no DAM file, or a file's error (see :func:`~ethoflow.hbehave.io.read_dam`).
    """
    records: list[CageRecord] = []
    files = sorted(root.glob(cfg.dam_glob))
    if not files:
        raise InputError(f"{root}: no DAM files matching {cfg.dam_glob!r}")
    dam_options = DamOptions(
        interval_min=cfg.dam_interval_min,
        interval_s=cfg.dam_interval_s,
        duplicates=cfg.duplicates,
        data_type=cfg.dam_data_type,
        max_count=cfg.dam_max_count,
        min_valid_fraction=cfg.dam_min_valid_fraction,
    )
    for f in progress(files, desc="DAM files"):
        recs, rep = read_dam(
            f,
            layout=cfg.dam_layout,
            summary=summary,
            on_bad_row=cfg.dam_on_bad_row,
            on_duplicate=cfg.dam_on_duplicate,
            options=dam_options,
        )
        report["files"][f.name] = rep
        for r in recs:
            records.append(r)
            report["cages"][r.cage_id] = {
                "minutes": r.n_minutes,
                "valid_fraction": float(r.valid.mean()),
                "source_file": str(f),
            }
    report["dam_rows"] = dam_rows_summary(report["files"])
    dr = report["dam_rows"]
    log.info(
        "DAM rows: %d files, %d readings read (%s); %d rows skipped%s; %d count values left out%s",
        len(files),
        dr["readings"],
        ", ".join(f"{n} {fmt}" for fmt, n in dr["formats"].items()),
        dr["skipped_rows"],
        f" ({_kinds(dr['skipped_rows_by_problem'])})" if dr["skipped_rows"] else "",
        dr["skipped_values"],
        f" ({_kinds(dr['skipped_values_by_problem'])})" if dr["skipped_values"] else "",
    )
    return records


def read_inputs(cfg: ZarrParams) -> tuple[list[CageRecord], dict[str, Any]]:
    """Read every cage of ``cfg.input_dir`` with the rules of :mod:`ethoflow.hbehave.io`.

    Returns:
        ``(records sorted by cage id, report)``; report has ``cages`` (per-cage counts),
        ``files`` (per DAM file), ``dam_rows`` (DAM row validation totals, also logged),
        ``missing_in_summary`` and ``summary_without_data``.

    Raises:
        InputError: no input files, a cage missing from the summary with ``missing_in_summary=error``,
            inconsistent channels across cages, a bad DAM row with ``dam_on_bad_row=fail`` (file, line
            and column named).
    """
    root = Path(cfg.input_dir)
    if not root.is_dir():
        raise InputError(f"{root}: input folder not found (hbehave.zarr.input_dir)")
    summary = None
    if cfg.summary_file:
        spath = root / cfg.summary_file
        if spath.is_file():
            summary = read_summary(spath)
        elif cfg.input_format == "dvc_csv":
            raise InputError(f"{spath}: summary CSV not found (hbehave.zarr.summary_file; null to go without)")
    report: dict[str, Any] = {"input_format": cfg.input_format, "input_dir": str(root), "cages": {}, "files": {}}
    records: list[CageRecord] = []
    if cfg.input_format == "dvc_csv":
        files = sorted(
            p for p in root.glob("*.csv") if not (cfg.summary_file and p.name == Path(cfg.summary_file).name)
        )
        if not files:
            raise InputError(f"{root}: no per-cage CSV files ({{cage_id}}.csv)")
        for f in progress(files, desc="cages"):
            row = summary.loc[f.stem] if summary is not None and f.stem in summary.index else None
            rec, rep = read_ventilated_cage_csv(f, summary_row=row, duplicates=cfg.duplicates)
            records.append(rec)
            report["cages"][rec.cage_id] = rep
    else:
        records = _read_dam_files(root, cfg, summary, report)
    ids = [r.cage_id for r in records]
    dup = sorted({c for c in ids if ids.count(c) > 1})
    if dup:
        raise InputError(f"{root}: cage ids appear in more than one file: {', '.join(dup)}")
    missing = sorted(r.cage_id for r in records if not r.attrs.get("in_summary"))
    report["missing_in_summary"] = missing if summary is not None else []
    if summary is not None and missing:
        if cfg.missing_in_summary == "error":
            raise InputError(f"{root / cfg.summary_file}: cages with data but no summary row: {', '.join(missing)}")
        log.warning("cages with data but no summary row (kept, metadata unknown): %s", ", ".join(missing))
    report["summary_without_data"] = sorted(set(summary.index) - set(ids)) if summary is not None else []
    if report["summary_without_data"]:
        log.warning("summary rows without data (no cage written): %s", ", ".join(report["summary_without_data"]))
    chans: dict[tuple, list[str]] = {}
    for r in records:
        chans.setdefault(tuple(r.attrs["channels"]), []).append(r.cage_id)
    if len(chans) > 1:
        detail = "; ".join(
            f"{len(c)} channels ({', '.join(c[:3])}{'...' if len(c) > 3 else ''}) in {', '.join(ids)}"
            for c, ids in chans.items()
        )
        raise InputError(f"{root}: cages have different channels: {detail}")
    records.sort(key=lambda r: r.cage_id)
    return records, report


def build_store(cfg: ZarrParams, out: str | os.PathLike) -> dict[str, Any]:
    """Read inputs, split cages, fit normalisation on training cages, write the Zarr store at ``out``.

    Returns:
        The ingest report (JSON-ready): per-cage rule counts, split, normalisation, totals.
    """
    records, report = read_inputs(cfg)
    channels = list(records[0].attrs["channels"])
    split = split_cages([r.cage_id for r in records], cfg.val_fraction, cfg.split_seed, cfg.val_cages)
    norm = fit_normalisation([r for r in records if r.cage_id in set(split["train"])], cfg.normalisation)
    norm.update({"fitted_on": "train", "train_cages": split["train"]})
    for r in records:
        r.attrs["split"] = "train" if r.cage_id in split["train"] else "val"
        r.attrs.pop("channels", None)
    cages = report["cages"]
    totals = {
        "n_cages": len(records),
        "minutes": int(sum(r.n_minutes for r in records)),
        "valid_fraction": float(np.mean([r.valid.mean() for r in records])),
    }
    for key in (
        "gap_minutes",
        "duplicate_rows",
        "conflicting_duplicates",
        "unsorted_rows",
        "non_numeric_values",
        "empty_values",
        "bad_timestamps",
        "outside_window_rows",
    ):
        totals[key] = int(
            sum(c.get(key, 0) for c in cages.values()) + sum(f.get(key, 0) for f in report["files"].values())
        )
    totals["invalid_status_rows"] = int(sum(f.get("invalid_status_rows", 0) for f in report["files"].values()))
    totals["missing_in_summary"] = len(report["missing_in_summary"])
    totals["summary_without_data"] = len(report["summary_without_data"])
    report.update({"split": split, "normalisation": norm, "totals": totals, "channels": channels})

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        create_store(tmp, channels, {"source_format": cfg.input_format})
        for r in progress(records, desc="write cages"):
            write_cage(tmp, r, chunk_minutes=cfg.chunk_minutes)
        update_store_attrs(tmp, {"split": split, "normalisation": norm, "ingest_report": totals})
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info(
        "wrote %s: %d cages, %d minutes, valid %.3f", out, len(records), totals["minutes"], totals["valid_fraction"]
    )
    return report
