"""``ethoflow metrics --diff``: only what changed (``--all`` for everything), in a stable order, with a
change inside the metric's 95% interval marked."""

from __future__ import annotations

import json
import subprocess
import sys

from ethoflow.metrics_view import diff_rows, metric_rows, within_interval


def _d(old, new):
    diff = None if old is None or new is None else new - old
    return {"old": old, "new": new, "diff": diff}


DIFF = {
    "metrics/vae.json": {"elbo": _d(-600.0, -600.0)},
    "metrics/acoustic.json": {
        "v1-default.cnn.recall": _d(0.9, 0.5),
        "v1-default.cnn.f1_ci95_hi": _d(0.90, 0.91),
        "v1-default.cnn.f1": _d(0.84, 0.86),
        "v1-default.cnn.f1_ci95_lo": _d(0.78, 0.80),
        "v1-default.cnn.events": _d(160, 160),
        "v1-default.cnn.precision": _d(None, 0.7),
    },
}


def test_diff_shows_only_changed_rows_sorted_and_marks_a_change_inside_the_interval():
    rows = diff_rows(DIFF)
    assert [r[1] for r in rows] == [
        "v1-default.cnn.f1",
        "v1-default.cnn.f1_ci95_hi",
        "v1-default.cnn.f1_ci95_lo",
        "v1-default.cnn.precision",
        "v1-default.cnn.recall",
    ]
    notes = {r[1]: r[5] for r in rows}
    assert notes["v1-default.cnn.f1"] == "within CI"  # 0.86 lies in the old [0.78, 0.90]
    assert notes["v1-default.cnn.recall"] == ""  # no interval: a plain change
    assert notes["v1-default.cnn.precision"] == "new"
    # --all: every row, the unchanged ones too, still in file/metric order
    every = diff_rows(DIFF, show_all=True)
    assert len(every) == 7 and [r[0] for r in every] == sorted(r[0] for r in every)
    # the order does not depend on the order DVC returned the keys in
    shuffled = {p: dict(reversed(list(m.items()))) for p, m in reversed(list(DIFF.items()))}
    assert diff_rows(shuffled, show_all=True) == every


def test_a_change_outside_the_interval_is_not_marked():
    m = {"f1": _d(0.84, 0.95), "f1_ci95_lo": _d(0.78, 0.9), "f1_ci95_hi": _d(0.90, 0.99)}
    assert not within_interval("f1", m)
    # only the workspace has an interval: the old value inside it counts
    m = {"f1": _d(0.84, 0.86), "f1_ci95_lo": _d(None, 0.80), "f1_ci95_hi": _d(None, 0.9)}
    assert within_interval("f1", m)


def test_metric_rows_reads_dvcs_diff_against_a_revision(tmp_path):
    def sh(*cmd):
        subprocess.run(cmd, cwd=tmp_path, check=True, capture_output=True)

    sh("git", "init", "-q")
    sh("git", "config", "user.email", "t@example.org")
    sh("git", "config", "user.name", "t")
    sh(sys.executable, "-m", "dvc", "init", "-q")
    (tmp_path / "dvc.yaml").write_text("metrics:\n  - m.json\n")
    m = {"b": {"f1": 0.8, "f1_ci95_lo": 0.7, "f1_ci95_hi": 0.9, "events": 150}, "a": {"acc": 0.5}}
    (tmp_path / "m.json").write_text(json.dumps(m))
    sh("git", "add", "-A")
    sh("git", "commit", "-qm", "base")
    m["b"]["f1"] = 0.85
    (tmp_path / "m.json").write_text(json.dumps(m))
    rows = metric_rows("HEAD", root=str(tmp_path))
    assert rows == [["m.json", "b.f1", "0.8", "0.85", "0.05", "within CI"]]
    assert len(metric_rows("HEAD", root=str(tmp_path), show_all=True)) == 5
    assert [r[1] for r in metric_rows(root=str(tmp_path))] == [
        "a.acc",
        "b.events",
        "b.f1",
        "b.f1_ci95_hi",
        "b.f1_ci95_lo",
    ]
