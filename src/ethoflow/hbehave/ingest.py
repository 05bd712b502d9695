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

from ethoflow.core.errors import InputError
from ethoflow.core.logging import get_logger
from ethoflow.core.progress import progress
from ethoflow.hbehave.io import read_inputs
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
