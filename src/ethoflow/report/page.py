"""One self-contained HTML page per pipeline for review (stage ``report_review@<pipeline>``).

The page holds, for one pipeline: its headline metrics (every ``metrics/<pipeline>.json`` and
``metrics/<pipeline>_*.json``, one row per number, with its uncertainty where the file gives one: a
sibling ``<name>_sd...``, ``<name>_ci_low``/``<name>_ci_high``, or ``<name>_ci`` / ``ci`` as a
``[low, high]`` pair), its figures (the dvc.yaml plots whose id or path names the pipeline, rendered as
``dvc plots show`` renders them: Vega specs filled by DVC, images embedded as base64, at most
``max_images_per_plot`` per folder plot), the pipeline's section of ``params.yaml``, and the git revision
of ``dvc.lock`` (commit, date, and whether the workspace's dvc.lock differs from it). Vega, Vega-Lite and
vega-embed are inlined (:mod:`ethoflow.report.vega`): the page draws offline and can be attached to a
review as one file.
"""

from __future__ import annotations

import base64
import html
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import yaml

from ethoflow.core.errors import InputError
from ethoflow.core.io import atomic_write_text, flatten_metrics
from ethoflow.core.logging import get_logger
from ethoflow.report.vega import offline_scripts

log = get_logger(__name__)

UNCERTAINTY_SUFFIXES = ("_sd", "_sd_folds", "_std", "_sem", "_ci95_lo", "_ci95_hi", "_ci_low", "_ci_high", "_ci")


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, list) and len(v) == 2:
        return f"[{_fmt(v[0])}, {_fmt(v[1])}]"
    return str(v)


def metric_rows(files: list[Path]) -> list[dict[str, str]]:
    """``[{file, metric, value, uncertainty}]``: each number of each file, its uncertainty keys folded into
    the row of the number they qualify (``acc`` + ``acc_sd`` -> ``acc``, ``± sd``)."""
    rows = []
    for f in files:
        try:
            flat = flatten_metrics(json.loads(f.read_text(encoding="utf-8")))
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(f"{f}: unreadable metrics file ({exc})") from exc
        # a dict {value/estimate, ci: [lo, hi]} is one number with its interval
        used: set[str] = set()
        for key in flat:
            if key in used:
                continue
            if any(key.endswith(s) for s in UNCERTAINTY_SUFFIXES) or key.endswith(".ci"):
                base = key
                for s in UNCERTAINTY_SUFFIXES:
                    if key.endswith(s):
                        base = key[: -len(s)]
                        break
                if base in flat and base != key:
                    continue  # shown in its number's row
            parts = []
            for s in UNCERTAINTY_SUFFIXES:
                k = key + s
                if k in flat:
                    used.add(k)
                    label = s.strip("_").replace("_", " ")
                    parts.append(f"{label} {_fmt(flat[k])}")
            parent = key.rsplit(".", 1)[0] if "." in key else ""
            if parent and f"{parent}.ci" in flat and key.rsplit(".", 1)[-1] in ("value", "estimate", "mean", "median"):
                used.add(f"{parent}.ci")
                parts.append(f"CI {_fmt(flat[parent + '.ci'])}")
            rows.append({"file": f.name, "metric": key, "value": _fmt(flat[key]), "uncertainty": "; ".join(parts)})
    return rows


def lock_revision(root: Path) -> dict[str, str]:
    """``{commit, date, dirty}`` of the last git commit that changed ``root/dvc.lock`` (``unknown`` outside
    git); ``dirty`` says whether the workspace's dvc.lock differs from that commit."""

    def git(*args: str) -> str:
        proc = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
        return proc.stdout.strip() if proc.returncode == 0 else ""

    line = git("log", "-1", "--format=%H %cI", "--", "dvc.lock")
    commit, _, date = line.partition(" ")
    dirty = git("status", "--porcelain", "--", "dvc.lock")
    return {
        "commit": commit or "unknown",
        "date": date or "unknown",
        "dirty": "yes: the workspace's dvc.lock has uncommitted changes" if dirty else "no",
    }


class _PlainDumper(yaml.SafeDumper):
    """``yaml.safe_dump`` without anchors: a value params.yaml shares by a YAML alias (``*name``) is
    written out in full at each key, as the page showed it before the aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _belongs(name: str, pipeline: str) -> bool:
    return name.startswith(f"{pipeline}_") or f"reports/{pipeline}/" in name or f"/{pipeline}/" in name


def figures(root: Path, pipeline: str, max_images_per_plot: int) -> tuple[list[str], list[str]]:
    """(HTML blocks, ids of plots not available yet) for the pipeline's DVC plots in ``root``'s workspace."""
    # local: dvc is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    from dvc.render.match import match_defs_renderers
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        data = repo.plots.show(onerror=lambda *a, **k: None)
        renderers = [r.renderer for r in match_defs_renderers(data=data, templates_dir=repo.plots.templates_dir)]
    blocks, per_folder = [], {}
    for r in renderers:
        if not _belongs(r.name, pipeline):
            continue
        esc = html.escape(r.name)
        if r.TYPE == "vega":
            if not r.datapoints:
                continue
            div = "v" + str(len(blocks))
            spec = json.dumps(r.get_filled_template()).replace("</", "<\\/")
            blocks.append(f'<figure><div id="{div}"></div><script>vegaEmbed("#{div}", {spec});</script></figure>')
        else:
            folder = os.path.dirname(r.name)
            per_folder[folder] = per_folder.get(folder, 0) + 1
            if per_folder[folder] > max_images_per_plot:
                continue
            for dp in r.datapoints:
                src = dp["src"]
                if not src.startswith("data:"):
                    src = "data:image/png;base64," + base64.b64encode(Path(src).read_bytes()).decode()
                src = src.replace("data:image;base64", "data:image/png;base64")
                blocks.append(f'<figure><img alt="{esc}" src="{src}"><figcaption>{esc}</figcaption></figure>')
    skipped = [
        f"{folder}: {n - max_images_per_plot} more image(s)"
        for folder, n in per_folder.items()
        if n > max_images_per_plot
    ]
    return blocks, skipped


STYLE = """
body { font-family: sans-serif; margin: 1.5em; max-width: 1500px; }
table { border-collapse: collapse; font-size: 0.9em; }
td, th { border-bottom: 1px solid #ddd; padding: 2px 10px; text-align: left; }
td.num { font-variant-numeric: tabular-nums; }
figure { display: inline-block; vertical-align: top; margin: 8px; }
img { max-width: min(92vw, 1200px); max-height: 80vh; width: auto; height: auto; }
figcaption { font-size: 0.8em; color: #555; }
pre { background: #f6f6f6; padding: 8px; font-size: 0.85em; max-height: 40em; overflow: auto; }
"""


def build_page(root: str | os.PathLike, pipeline: str, max_images_per_plot: int = 8) -> str:
    """The review page of ``pipeline`` for the project at ``root`` (see the module docstring), as HTML.

    Raises:
        InputError: no headline metrics file for the pipeline, a metrics file unreadable, or
            ``params.yaml`` without the pipeline's section.
    """
    root = Path(root)
    files = sorted((root / "metrics").glob(f"{pipeline}.json")) + sorted((root / "metrics").glob(f"{pipeline}_*.json"))
    if not files:
        raise InputError(f"{root / 'metrics'}: no {pipeline}.json (run the {pipeline} pipeline first)")
    params = yaml.safe_load((root / "params.yaml").read_text(encoding="utf-8")) or {}
    if pipeline not in params:
        raise InputError(f"{root / 'params.yaml'}: no '{pipeline}' section")
    rev = lock_revision(root)
    rows = metric_rows(files)
    blocks, skipped = figures(root, pipeline, max_images_per_plot)
    table = "\n".join(
        f"<tr><td>{html.escape(r['file'])}</td><td>{html.escape(r['metric'])}</td>"
        f"<td class=num>{html.escape(r['value'])}</td><td>{html.escape(r['uncertainty'])}</td></tr>"
        for r in rows
    )
    more = (
        f"<p>Not shown: {html.escape('; '.join(skipped))} (all in <code>dvc plots show</code>).</p>" if skipped else ""
    )
    section = yaml.dump({pipeline: params[pipeline]}, Dumper=_PlainDumper, sort_keys=False, default_flow_style=None)
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>ethoflow review: {pipeline}</title>
{offline_scripts()}
<style>{STYLE}</style></head>
<body>
<h1>ethoflow review: {pipeline}</h1>
<p>dvc.lock at commit <code>{rev["commit"]}</code> ({html.escape(rev["date"])}); uncommitted changes: {rev["dirty"]}.</p>
<h2>Headline metrics</h2>
<table><tr><th>file</th><th>metric</th><th>value</th><th>uncertainty</th></tr>
{table}
</table>
<h2>Figures</h2>
{"".join(blocks) or "<p>No figures yet: run the pipeline (dvc repro).</p>"}
{more}
<h2>Parameters (params.yaml)</h2>
<pre>{html.escape(section)}</pre>
</body></html>
"""


def write_page(root: str | os.PathLike, pipeline: str, out: str | os.PathLike, max_images_per_plot: int = 8) -> Path:
    """Write :func:`build_page` to ``out`` atomically; returns ``out``."""
    atomic_write_text(out, build_page(root, pipeline, max_images_per_plot))
    log.info("review page of %s: %s", pipeline, out)
    return Path(out)
