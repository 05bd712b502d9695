"""``ethoflow report``: ``plots-template`` writes DVC's offline page template; ``open <pipeline>`` opens
that pipeline's review page (written by its ``<pipeline>_review`` stage)."""

from __future__ import annotations

import argparse
import webbrowser
from pathlib import Path

from ethoflow.core.errors import EthoflowError

PLOTS_TEMPLATE_SOURCE = ".dvc/plots/page.in.html"
PLOTS_TEMPLATE = ".dvc/plots/page.html"


def review_page_path(pipeline: str, root: str | Path = ".") -> Path:
    """``reports/review/<pipeline>.html`` under ``root`` (the path the review stages write)."""
    return Path(root) / "reports" / "review" / f"{pipeline}.html"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``plots-template [--source --out]`` and ``open PIPELINE [--print]``."""
    sub = parser.add_subparsers(dest="report_command", required=True)
    tpl = sub.add_parser("plots-template", help="write .dvc/plots/page.html with Vega inlined (offline dvc plots)")
    tpl.add_argument("--source", default=PLOTS_TEMPLATE_SOURCE)
    tpl.add_argument("--out", default=PLOTS_TEMPLATE)
    opn = sub.add_parser("open", help="open a pipeline's review page (reports/review/<pipeline>.html)")
    opn.add_argument("pipeline", help="acoustic | moseq | hbehave | vae")
    opn.add_argument("--print", action="store_true", help="only print the page's path, open no browser")


def run(args: argparse.Namespace) -> int:
    """0 on success; a missing page raises :class:`EthoflowError` naming the stage to run."""
    if args.report_command == "plots-template":
        # local: keeps ethoflow.report.cli importable without yaml
        from ethoflow.report.vega import write_plots_template

        print(write_plots_template(args.source, args.out))
        return 0
    page = review_page_path(args.pipeline)
    if not page.is_file():
        raise EthoflowError(f"{page}: no review page yet; run `dvc repro report_review@{args.pipeline}`")
    print(page.resolve())
    if not args.print:
        webbrowser.open(page.resolve().as_uri())
    return 0
