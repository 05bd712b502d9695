"""Do `dvc plots show` and the review pages draw without internet? (issue #26)

Run in a project where the pipelines ran (`make repro`): renders `dvc plots show` into a temporary folder,
opens it and every existing `reports/review/<pipeline>.html` in headless Chromium with the network off
(proxy 127.0.0.1:9), and prints per page the Vega views embedded vs drawn and the images; saves a
screenshot of each page beside it (``--shots DIR``) to look at. Exit 1 when a Vega view is not drawn.

    python benchmarks/review_pages.py --shots /tmp/review-shots
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from ethoflow.report.browser import dump_dom, screenshot, vega_draw_counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shots", default=None, help="folder for the screenshots (default: a temporary one)")
    args = parser.parse_args()
    shots = Path(args.shots or tempfile.mkdtemp(prefix="ethoflow-shots-"))
    shots.mkdir(parents=True, exist_ok=True)
    plots_dir = shots / "dvc_plots"
    dvc = Path(sys.executable).parent / "dvc"
    subprocess.run([str(dvc), "plots", "show", "-o", str(plots_dir)], check=True)
    pages = [plots_dir / "index.html", *sorted(Path("reports/review").glob("*.html"))]
    ok = True
    print(f"{'page':40s} {'vega embedded':>13s} {'drawn':>6s} {'images':>7s}  screenshot")
    for page in pages:
        dom = dump_dom(page)
        embedded, drawn = vega_draw_counts(dom)
        shot = screenshot(page, shots / f"{page.parent.name}-{page.stem}.png", 1400, 6000)
        print(f"{str(page)[-40:]:40s} {embedded:13d} {drawn:6d} {dom.count('<img'):7d}  {shot}")
        ok &= embedded == drawn
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
