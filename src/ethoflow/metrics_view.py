"""``ethoflow metrics``: the headline metrics as one row per number, narrow enough for a terminal.

``dvc metrics show`` makes one column per distinct key across every metrics file, so five pipelines'
headline numbers make a table hundreds of characters wide. This view reads the same files through DVC's
API (``Repo.metrics.show`` / ``Repo.metrics.diff``, so it sees exactly what ``dvc metrics show|diff``
see, committed revisions included) and prints ``file | metric | value`` rows, or with ``--diff REV``
``file | metric | REV | workspace | change | note`` rows for review: only the numbers that changed
(``--all``: every number), sorted by file and metric so two identical runs print the same table. A rate
``X`` that carries a 95% interval (``X_ci95_lo``/``X_ci95_hi`` beside it, see docs/decisions.md) is noted
``within CI`` when its new value lies inside the compared revision's interval (or, when that revision
has none, the old value inside the workspace's): a change a reviewer should not read as a real one.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from ethoflow.core.errors import EthoflowError
from ethoflow.core.io import flatten_metrics


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def metric_rows(
    diff_rev: str | None = None, targets: list[str] | None = None, root: str | None = None, show_all: bool = False
) -> list[list[str]]:
    """Rows of strings: ``[file, metric, value]`` for the workspace, or with ``diff_rev``
    ``[file, metric, old, new, change, note]`` for the changed metrics (every one with ``show_all``),
    see :func:`diff_rows`. Sorted by file and metric.

    Raises:
        EthoflowError: DVC could not read a metrics file (its message names the file and revision).
    """
    # local: dvc is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    from dvc.repo import Repo

    with Repo(root) as repo:
        if diff_rev is None:
            shown = repo.metrics.show(targets=targets or None)
            rows = []
            for rev, payload in shown.items():
                for path, entry in sorted(payload.get("data", {}).items()):
                    if "error" in entry:
                        if not os.path.exists(os.path.join(root or ".", path)):  # a stage not run yet
                            rows.append([path, "(no file yet: dvc repro)", "-"])
                            continue
                        raise EthoflowError(f"{path}: cannot read metrics in {rev}: {entry['error']}")
                    for key, value in sorted(flatten_metrics(entry.get("data", {})).items()):
                        rows.append([path, key, _fmt(value)])
            return rows
        diff = repo.metrics.diff(a_rev=diff_rev, targets=targets or None, all=True)
        for path, error in diff.get("errors", {}).items():
            raise EthoflowError(f"{path}: cannot read metrics: {error}")
        return diff_rows(diff.get("diff", {}), show_all)


CI_LO, CI_HI = "_ci95_lo", "_ci95_hi"


def within_interval(key: str, metrics: dict[str, dict[str, Any]]) -> bool:
    """Whether ``key``'s change lies inside its 95% interval (see the module docstring); ``False`` when
    ``key`` has no interval or a value is missing. ``metrics``: one file's ``{key: {old, new, diff}}``."""
    d = metrics.get(key, {})
    old, new = d.get("old"), d.get("new")
    lo, hi = metrics.get(key + CI_LO, {}), metrics.get(key + CI_HI, {})
    if not isinstance(old, (int, float)) or not isinstance(new, (int, float)):
        return False
    if isinstance(lo.get("old"), (int, float)) and isinstance(hi.get("old"), (int, float)):
        return lo["old"] <= new <= hi["old"]
    if isinstance(lo.get("new"), (int, float)) and isinstance(hi.get("new"), (int, float)):
        return lo["new"] <= old <= hi["new"]
    return False


def diff_rows(diff: dict[str, dict[str, dict[str, Any]]], show_all: bool = False) -> list[list[str]]:
    """``[file, metric, old, new, change, note]`` rows of DVC's ``metrics.diff(...)["diff"]``, sorted by
    file and metric; only the changed ones (a different value, or one side missing) unless ``show_all``.
    ``note``: ``within CI`` (:func:`within_interval`), ``new``/``removed``, or empty."""
    rows = []
    for path in sorted(diff):
        metrics = diff[path]
        for key in sorted(metrics):
            d = metrics[key]
            old, new = d.get("old"), d.get("new")
            changed = old != new
            if not (changed or show_all):
                continue
            note = ""
            if changed and old is None:
                note = "new"
            elif changed and new is None:
                note = "removed"
            elif changed and within_interval(key, metrics):
                note = "within CI"
            rows.append([path, key, _fmt(old), _fmt(new), _fmt(d.get("diff")), note])
    return rows


def render(header: list[str], rows: list[list[str]], markdown: bool = False) -> str:
    """A plain (space-aligned) or Markdown table."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    if markdown:
        lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |" for r in [header, *rows]]
        lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    else:
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [header, *rows]]
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--diff REV``, ``--md`` and optional metrics files."""
    parser.add_argument("--diff", metavar="REV", help="compare with this git revision (e.g. HEAD, main)")
    parser.add_argument("--all", action="store_true", help="with --diff: every metric, not only those that changed")
    parser.add_argument("--md", action="store_true", help="Markdown table (for review comments)")
    parser.add_argument("targets", nargs="*", help="metrics files (default: every headline file in dvc.yaml)")


def run(args: argparse.Namespace) -> int:
    """Print the table; 0 on success."""
    rows = metric_rows(args.diff, args.targets, show_all=args.all)
    if args.diff is None:
        header = ["file", "metric", "value"]
    else:
        header = ["file", "metric", args.diff, "workspace", "change", "note"]
        if not rows:
            print(f"no metric changed since {args.diff}")
            return 0
    print(render(header, rows, args.md))
    return 0
