"""Review pages: one self-contained HTML page per pipeline (metrics with uncertainty, figures, params,
dvc.lock revision) that draws offline in a real browser; `ethoflow report open` finds it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ethoflow.core.errors import EthoflowError, InputError
from ethoflow.report.browser import dump_dom, vega_draw_counts
from ethoflow.report.page import metric_rows, write_page

REPO = Path(__file__).resolve().parents[2]


def _git(cwd, *args):
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A tiny DVC project: pipeline `demo` with a headline file, a Vega plot, an image plot and params."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    proj = tmp_path_factory.mktemp("proj")
    _git(proj, "init", "-q")
    subprocess.run([str(Path(sys.executable).parent / "dvc"), "init", "-q"], cwd=proj, check=True)
    plots = [
        {"demo_f1": {"template": "series_lines", "x": "epoch", "y": {"reports/demo/curve.csv": "f1"}}},
        "reports/demo/fig.png",
        {"other_loss": {"x": "epoch", "y": {"reports/other/loss.csv": "loss"}}},
    ]
    (proj / "dvc.yaml").write_text(yaml.safe_dump({"stages": {}, "plots": plots}))
    (proj / ".dvc/plots").mkdir(exist_ok=True)
    (proj / ".dvc/plots/series_lines.json").write_text((REPO / ".dvc/plots/series_lines.json").read_text())
    (proj / "params.yaml").write_text("demo:\n  lr: 0.125\nother:\n  lr: 9\n")
    (proj / "metrics").mkdir()
    (proj / "metrics/demo.json").write_text('{"f1": 0.8125, "f1_sd": 0.0625, "n_events": 40}')
    (proj / "metrics/demo_probe.json").write_text(
        '{"level1": {"accuracy": 0.75, "accuracy_ci_low": 0.5, "accuracy_ci_high": 0.9}}'
    )
    (proj / "reports/demo").mkdir(parents=True)
    (proj / "reports/other").mkdir(parents=True)
    (proj / "reports/demo/curve.csv").write_text("epoch,f1,series\n0,0.5,v1\n1,0.7,v1\n2,0.8,v1\n")
    (proj / "reports/other/loss.csv").write_text("epoch,loss\n0,1\n1,0.5\n")
    fig = plt.figure(figsize=(2, 1))
    fig.savefig(proj / "reports/demo/fig.png")
    plt.close(fig)
    (proj / "dvc.lock").write_text("schema: '2.0'\nstages: {}\n")
    _git(proj, "add", "-A")
    _git(proj, "-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qm", "init")
    return proj


def test_page_holds_metrics_with_uncertainty_figures_params_and_lock_revision(project, tmp_path):
    page = write_page(project, "demo", tmp_path / "demo.html")
    html = page.read_text(encoding="utf-8")
    assert (
        "<td>metrics/demo.json</td>" not in html
        and "<td>demo.json</td><td>f1</td><td class=num>0.8125</td><td>sd 0.0625</td>" in html
    )
    assert "<td>level1.accuracy</td><td class=num>0.75</td><td>ci low 0.5; ci high 0.9</td>" in html
    assert "f1_sd" not in html  # folded into its number's row
    assert html.count('vegaEmbed("#') == 1 and "other_loss" not in html  # only the pipeline's plots
    assert html.count('src="data:image/png;base64,') == 1 and "<script src=" not in html
    assert "lr: 0.125" in html and "lr: 9" not in html
    assert _git(project, "rev-parse", "HEAD") in html and "uncommitted changes: no" in html


def test_metric_rows_fold_uncertainty_into_the_number(tmp_path):
    f = tmp_path / "m.json"
    f.write_text('{"a": {"f1": 0.5, "f1_sd": 0.1, "f1_ci": [0.3, 0.7]}, "b": 2}')
    assert metric_rows([f]) == [
        {"file": "m.json", "metric": "a.f1", "value": "0.5", "uncertainty": "sd 0.1; ci [0.3, 0.7]"},
        {"file": "m.json", "metric": "b", "value": "2", "uncertainty": ""},
    ]


def test_a_pipeline_without_metrics_is_named(project, tmp_path):
    with pytest.raises(InputError, match=r"metrics: no nothing.json \(run the nothing pipeline first\)"):
        write_page(project, "nothing", tmp_path / "x.html")


def test_report_open_prints_the_page_or_names_the_stage(tmp_path, monkeypatch, capsys):
    import argparse

    from ethoflow.cli import main
    from ethoflow.report.cli import run

    monkeypatch.chdir(tmp_path)
    with pytest.raises(EthoflowError, match=r"no review page yet; run `dvc repro report_review@demo`"):
        run(argparse.Namespace(report_command="open", pipeline="demo", print=True))
    (tmp_path / "reports/review").mkdir(parents=True)
    (tmp_path / "reports/review/demo.html").write_text("<html></html>")
    assert main(["report", "open", "demo", "--print"]) == 0
    assert capsys.readouterr().out.strip() == str((tmp_path / "reports/review/demo.html").resolve())


@pytest.mark.chromium
def test_page_draws_offline_in_chromium(project, tmp_path):
    page = write_page(project, "demo", tmp_path / "demo.html")
    dom = dump_dom(page)
    assert vega_draw_counts(dom) == (1, 1)
    assert "<img" in dom
