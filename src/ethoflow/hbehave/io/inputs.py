"""The entry point of hbehave's readers: every cage of an input folder, whatever its format.

:func:`read_inputs` reads ``hbehave.zarr.input_dir`` with the reader of its ``input_format``
(``dvc_csv``: :mod:`~ethoflow.hbehave.io.ventilated_cage` with the summary CSV; ``dam``:
:mod:`~ethoflow.hbehave.io.dam`), then applies the checks across cages (unique ids, summary rows
without data or data without summary row, equal channels).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from ethoflow.core.errors import InputError
from ethoflow.core.logging import get_logger
from ethoflow.core.progress import progress
from ethoflow.hbehave.io.dam import DamOptions, read_dam
from ethoflow.hbehave.io.dam_readings import ROW_PROBLEMS
from ethoflow.hbehave.io.summary import read_summary
from ethoflow.hbehave.io.ventilated_cage import read_ventilated_cage_csv
from ethoflow.hbehave.params import ZarrParams
from ethoflow.hbehave.store import CageRecord

log = get_logger(__name__)


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
