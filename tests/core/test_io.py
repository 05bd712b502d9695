"""Atomic writes and stable JSON/YAML."""

import json
from pathlib import Path

import numpy as np
import pytest

from ethoflow.core.errors import InputError, OverwriteError
from ethoflow.core.io import atomic_path, check_overwrite, dumps_json, read_json, to_plain, write_json, write_yaml


def test_atomic_path_leaves_target_untouched_on_error(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half-written")
            raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]  # no temp file left behind


def test_atomic_path_keeps_suffix_for_format_detection(tmp_path):
    with atomic_path(tmp_path / "table.parquet") as tmp:
        assert tmp.name.endswith(".parquet")
        tmp.write_bytes(b"x")
    assert (tmp_path / "table.parquet").read_bytes() == b"x"


def test_json_is_stable_and_plain(tmp_path):
    obj = {"b": np.float32(1.5), "a": np.int64(3), "c": np.arange(3), "d": Path("x/y"), "e": float("nan")}
    write_json(tmp_path / "m.json", obj)
    text = (tmp_path / "m.json").read_text()
    assert text == dumps_json({"e": None, "d": "x/y", "c": [0, 1, 2], "a": 3, "b": 1.5})
    assert list(json.loads(text)) == ["a", "b", "c", "d", "e"]
    assert read_json(tmp_path / "m.json")["c"] == [0, 1, 2]


def test_yaml_plain_types(tmp_path):
    write_yaml(tmp_path / "c.yml", {"fps": np.float64(30.0), "bodyparts": np.array(["a", "b"])})
    text = (tmp_path / "c.yml").read_text()
    assert "!!python" not in text and "numpy" not in text
    assert "fps: 30.0" in text


def test_to_plain_rejects_unknown_objects():
    with pytest.raises(TypeError, match="cannot convert"):
        to_plain(object())


def test_read_json_names_the_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{oops")
    with pytest.raises(InputError, match="bad.json: invalid JSON at line 1"):
        read_json(bad)
    with pytest.raises(InputError, match="missing.json: file not found"):
        read_json(tmp_path / "missing.json")


def test_check_overwrite(tmp_path):
    f = tmp_path / "df03.csv"
    check_overwrite(f, overwrite=False)  # absent: fine
    f.write_text("mine")
    with pytest.raises(OverwriteError, match="df03.csv"):
        check_overwrite([f], overwrite=False)
    check_overwrite([f], overwrite=True)


def test_atomic_torch_save_is_byte_identical(tmp_path):
    """torch.save names its archive after the file: the temp name must not make bytes differ."""
    import torch

    from ethoflow.core.io import atomic_path

    state = {"w": torch.arange(6, dtype=torch.float32).reshape(2, 3)}
    for name in ("a", "b"):
        with atomic_path(tmp_path / name / "model.pt") as tmp:
            torch.save(state, tmp)
    assert (tmp_path / "a" / "model.pt").read_bytes() == (tmp_path / "b" / "model.pt").read_bytes()
