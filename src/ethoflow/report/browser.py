"""Headless Chromium with the network off: does a page (``dvc plots show``'s, a review page) draw?

Used by the tests and ``benchmarks/review_pages.py``. Chromium runs with ``--proxy-server=127.0.0.1:9``
(nothing listens there, so every http(s) request fails, as on a cluster without internet) and a virtual
time budget, so scripts finish before the DOM is dumped or the screenshot taken.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from ethoflow.core.errors import EthoflowError

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
OFFLINE_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--hide-scrollbars",
    "--proxy-server=127.0.0.1:9",
    "--proxy-bypass-list=<-loopback>",
    "--virtual-time-budget=15000",
)


def chromium_path() -> str | None:
    """The first Chromium/Chrome executable on PATH, or None."""
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def _run(args: list[str], page: Path, timeout_s: float) -> subprocess.CompletedProcess:
    exe = chromium_path()
    if exe is None:
        raise EthoflowError(f"no Chromium on PATH (tried {', '.join(CANDIDATES)}); apt-get install chromium")
    if not page.is_file():
        raise EthoflowError(f"{page}: page not found")
    return subprocess.run(
        [exe, *OFFLINE_FLAGS, *args, page.resolve().as_uri()],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def dump_dom(page: str | Path, timeout_s: float = 120.0) -> str:
    """The DOM of ``page`` after its scripts ran (``chromium --dump-dom``), network off.

    Raises:
        EthoflowError: no Chromium installed, the page is missing, or Chromium failed (its stderr tail).
    """
    page = Path(page)
    proc = _run(["--dump-dom"], page, timeout_s)
    if proc.returncode != 0 or not proc.stdout:
        raise EthoflowError(f"{page}: chromium --dump-dom failed ({proc.returncode}): {proc.stderr[-800:]}")
    return proc.stdout


def screenshot(page: str | Path, png: str | Path, width: int = 1400, height: int = 4000, timeout_s: float = 120.0):
    """Save a ``width`` x ``height`` px screenshot of ``page`` to ``png`` (network off).

    Raises:
        EthoflowError: as :func:`dump_dom`, or no PNG was written.
    """
    page, png = Path(page), Path(png)
    png.parent.mkdir(parents=True, exist_ok=True)
    proc = _run([f"--screenshot={png.resolve()}", f"--window-size={width},{height}"], page, timeout_s)
    if proc.returncode != 0 or not png.is_file():
        raise EthoflowError(f"{page}: chromium --screenshot failed ({proc.returncode}): {proc.stderr[-800:]}")
    return png


def vega_draw_counts(dom: str) -> tuple[int, int]:
    """(Vega views embedded, Vega views drawn) in a dumped DOM: vega-embed adds a ``vega-embed`` class to
    each target and draws a ``<canvas class="marks">`` or ``<svg class="marks">`` inside it."""
    embeds = len(re.findall(r'class="[^"]*\bvega-embed\b', dom))
    drawn = len(re.findall(r'<(?:canvas|svg)[^>]*class="marks"', dom))
    return embeds, drawn
