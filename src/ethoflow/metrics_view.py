"""``ethoflow metrics``: the headline metrics as one row per number, narrow enough for a terminal.

``dvc metrics show`` makes one column per distinct key across every metrics file, so five pipelines'
headline numbers make a table hundreds of characters wide. This view reads the same files through DVC's
API (``Repo.metrics.show`` / ``Repo.metrics.diff``, so it sees exactly what ``dvc metrics show|diff``
see, committed revisions included) and prints ``file | metric | value`` rows, or with ``--diff REV``
``file | metric | REV | workspace | change`` rows for review.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from ethoflow.core.errors import EthoflowError


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for key, value in data.items():
            out.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: data}


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def metric_rows(
    diff_rev: str | None = None, targets: list[str] | None = None, root: str | None = None
) -> list[list[str]]:
    """Rows of strings: ``[file, metric, value]`` for the workspace, or with ``diff_rev``
    ``[file, metric, old, new, change]`` for every metric (changed or not).

    Raises:
        EthoflowError: DVC could not read a metrics file (its message names the file and revision).
    """
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
                    for key, value in _flatten(entry.get("data", {})).items():
                        rows.append([path, key, _fmt(value)])
            return rows
        diff = repo.metrics.diff(a_rev=diff_rev, targets=targets or None, all=True)
        rows = []
        for path, metrics in sorted(diff.get("diff", {}).items()):
            for key, d in metrics.items():
                rows.append([path, key, _fmt(d.get("old")), _fmt(d.get("new")), _fmt(d.get("diff"))])
        for path, error in diff.get("errors", {}).items():
            raise EthoflowError(f"{path}: cannot read metrics: {error}")
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
    parser.add_argument("--md", action="store_true", help="Markdown table (for review comments)")
    parser.add_argument("targets", nargs="*", help="metrics files (default: every headline file in dvc.yaml)")


def run(args: argparse.Namespace) -> int:
    """Print the table; 0 on success."""
    rows = metric_rows(args.diff, args.targets)
    header = ["file", "metric", "value"] if args.diff is None else ["file", "metric", args.diff, "workspace", "change"]
    print(render(header, rows, args.md))
    return 0
