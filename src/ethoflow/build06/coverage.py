"""The coverage report: fraction of df02 rows that got latents, overall and per experiment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from ethoflow.core.logging import get_logger

log = get_logger(__name__)


def coverage_report(
    exp: pa.ChunkedArray | pa.Array,
    matched: pa.Array | pa.ChunkedArray,
    experiments: list[str],
    files: dict[str, Path | None],
    warn_below: float,
) -> dict[str, Any]:
    """Coverage overall and per experiment (with the latent file used); warns below ``warn_below``.

    Args:
        exp: experiment of each df03 row (rows,).
        matched: True where the row found a latent (rows,).
        experiments: the merged experiments.
        files: latent file per experiment (``None``: missing).
        warn_below: fraction (0..1) under which a warning is logged and the experiment listed in
            ``below_threshold``.

    Returns:
        ``{"overall": {n_rows, n_with_latents, coverage}, "per_experiment": {...}, "warn_below",
        "below_threshold", "missing_latent_files": count}`` (the caller adds the unmatched counts).
    """
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
        "missing_latent_files": sum(1 for e in experiments if files.get(e) is None),
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


def headline_metrics(cov: dict[str, Any]) -> dict[str, Any]:
    """The numbers a reviewer compares (``metrics/build06.json``): the fraction of df02 rows that got
    latents, and the number of df02 rows."""
    o = cov["overall"]
    return {"coverage": o["coverage"], "rows": o["n_rows"]}
