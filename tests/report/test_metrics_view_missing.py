"""`ethoflow metrics` lists a headline file that no stage has produced yet instead of failing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from ethoflow.metrics_view import metric_rows


def test_a_headline_file_not_produced_yet_is_listed(tmp_path):
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run([str(Path(sys.executable).parent / "dvc"), "init", "-q"], cwd=tmp_path, check=True)
    stage = {
        "cmd": "true",
        "metrics": [{"metrics/a.json": {"cache": False}}, {"metrics/a_probe.json": {"cache": False}}],
    }
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"a": stage}}))
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics/a.json").write_text('{"f1": 0.5}')
    rows = metric_rows(root=str(tmp_path))
    assert ["metrics/a.json", "f1", "0.5"] in rows
    assert ["metrics/a_probe.json", "(no file yet: dvc repro)", "-"] in rows
