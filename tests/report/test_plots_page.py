"""Offline `dvc plots show`: Vega inlined from the installed panel package, readable images, revisions told
apart in `dvc plots diff`, and every figure a guide names declared as a DVC plot."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ethoflow.core.errors import EthoflowError
from ethoflow.report.browser import dump_dom, vega_draw_counts
from ethoflow.report.vega import MARKER, bundled_libraries, write_plots_template

REPO = Path(__file__).resolve().parents[2]
SOURCE = REPO / ".dvc/plots/page.in.html"


@pytest.fixture(scope="module")
def page_template(tmp_path_factory) -> Path:
    return write_plots_template(SOURCE, tmp_path_factory.mktemp("tpl") / "page.html")


def test_dvc_config_points_at_the_generated_offline_template():
    config = (REPO / ".dvc/config").read_text()
    assert re.search(r"html_template\s*=\s*plots/page.html", config)
    assert "/.dvc/plots/page.html" in (REPO / ".gitignore").read_text()  # generated, never committed
    assert "ethoflow report plots-template" in (REPO / "Makefile").read_text()


def test_template_inlines_vega_vegalite_and_embed_from_the_installed_package(page_template):
    html = page_template.read_text(encoding="utf-8")
    libs = bundled_libraries()
    assert list(libs) == ["vega", "vega-lite", "vega-embed"]
    for path in libs.values():
        assert f"<!-- {path.name} from the installed panel package -->" in html
    assert "<script src=" not in html and "cdn.jsdelivr" not in html
    assert "{plot_divs}" in html and "{scripts}" not in html and MARKER not in html
    assert "img { max-width: min(92vw, 1400px); max-height: 85vh;" in html  # a 6000 px figure fits the window


def test_dvc_renders_no_cdn_link_with_the_template(page_template, tmp_path):
    from dvc_render import VegaRenderer, render_html

    points = [{"epoch": i, "val_f1": 0.1 * i, "series": "v1", "rev": "workspace"} for i in range(3)]
    renderer = VegaRenderer(
        points, "curves.csv", template="series_lines", template_dir=str(REPO / ".dvc/plots"), x="epoch", y="val_f1"
    )
    out = Path(render_html([renderer], tmp_path / "index.html", html_template=str(page_template)))
    html = out.read_text(encoding="utf-8")
    assert "vegaEmbed('#curves_csv'" in html
    assert "cdn.jsdelivr" not in html


def test_template_source_errors_name_the_file(tmp_path):
    bad = tmp_path / "page.in.html"
    bad.write_text("<html>{plot_divs}</html>")
    with pytest.raises(EthoflowError, match=r"page.in.html: no '<!-- ethoflow:vega-scripts -->' line"):
        write_plots_template(bad, tmp_path / "page.html")
    bad.write_text(f"<html>{MARKER}{{scripts}}{{plot_divs}}</html>")
    with pytest.raises(EthoflowError, match=r"page.in.html: remove DVC's '\{scripts\}'"):
        write_plots_template(bad, tmp_path / "page.html")
    assert not (tmp_path / "page.html").exists()


@pytest.mark.parametrize("name", ["series_lines", "series_points", "series_pr"])
def test_revisions_get_their_own_point_shape_and_dash(name):
    """`dvc plots diff`: each revision a point shape (one legend) and a dash; no legend of identical marks."""
    enc = json.loads((REPO / f".dvc/plots/{name}.json").read_text())["encoding"]
    assert enc["shape"]["field"] == "rev" and enc["shape"]["title"] == "revision"
    assert enc["strokeDash"]["field"] == "rev" and enc["strokeDash"]["legend"] is None


def _plot_paths() -> list[str]:
    from ethoflow.core.stage import resolved_dvc_yaml

    return [e if isinstance(e, str) else next(iter(e)) for e in resolved_dvc_yaml(REPO / "dvc.yaml")["plots"]]


#: figures the guides name that are not plots, and why
NOT_PLOTS = {
    "spectrograms/*.png": "optional per-window training previews (acoustic.variants.save_spectrograms), thousands",
    # a folder inside the out of acoustic_detect@<set> (sets are named by the lab): DVC cannot load a plot
    # below an out folder that is not there yet, and `dvc plots show` then fails as a whole
    "timelines/<recording>.png": "per-recording detection QC inside data/processed/acoustic/detect/<set>/",
    # moseq_calibrate@<set> runs only for the labelled sets a lab configures (moseq.calibration; the demo
    # has none): a plot of a stage that does not exist would fail `dvc plots show` for the same reason
    "reports/moseq/calibration/<set>.png": "noise-calibration fit per labelled set (moseq.calibration)",
}


def _covers(plots: list[str], path: str) -> bool:
    """Does a plot entry (a file, or a folder whose PNGs are plots) hold ``path``? ``<v>``, ``{cage}``,
    ``${key}``, ``*`` stand for one folder or file-name part; a path without a folder matches any folder."""
    pattern = re.escape(path)
    pattern = re.sub(r"(\\<[^/]*?\\>|\\\$\\\{[^/]*?\\\}|\\\{[^/]*?\\\}|\\\*)", "[^/]+", pattern)
    rx = re.compile(rf"(.+/)?{pattern}")
    return any(rx.fullmatch(p) or rx.fullmatch(f"{p}/{path.rsplit('/', 1)[-1]}") for p in plots) or any(
        re.compile(rf"{re.escape(p)}/.+").fullmatch(path) for p in plots
    )


def test_every_figure_a_guide_names_is_a_dvc_plot():
    plots = _plot_paths()
    named = {
        (md.name, m)
        for md in sorted((REPO / "docs").glob("*.md"))
        for m in re.findall(r"[A-Za-z0-9_/<>{}$.*-]+\.png", md.read_text())
        if not m.startswith("_")  # the tail of a name split by Markdown
    }
    assert len(named) >= 20
    full = [p for _, p in named if "/" in p and _covers(plots, p)]
    missing = []
    for doc, path in sorted(named):
        if path in NOT_PLOTS or _covers(plots, path):
            continue
        # a bare name with placeholders (heatmap_{agg}_..._NIGHT.png) beside a full path the guide names
        stem = re.split(r"[<{$*]", path)[0]
        if "/" not in path and stem and any(f.rsplit("/", 1)[-1].startswith(stem) for f in full):
            continue
        missing.append(f"{doc}: {path}")
    assert not missing, missing


@pytest.mark.chromium
def test_dvc_page_draws_every_vega_plot_in_chromium_offline(page_template, tmp_path):
    from dvc_render import VegaRenderer, render_html

    curves = [{"epoch": i, "val_f1": 0.1 * i, "series": s, "rev": r} for i in range(4) for s in "ab" for r in "xy"]
    confusion = [
        {"predicted": p, "actual": a, "count": 3, "series": "v1", "rev": "workspace"} for p in "ab" for a in "ab"
    ]
    renderers = [
        VegaRenderer(
            curves, "curves", template="series_lines", template_dir=str(REPO / ".dvc/plots"), x="epoch", y="val_f1"
        ),
        VegaRenderer(
            confusion,
            "conf",
            template="series_confusion",
            template_dir=str(REPO / ".dvc/plots"),
            x="predicted",
            y="actual",
        ),
    ]
    page = render_html(renderers, tmp_path / "index.html", html_template=str(page_template))
    assert vega_draw_counts(dump_dom(page)) == (2, 2)
