"""hbehave: damaged DAM files and activity CSVs made from the real DAM2 file M014.txt; store and
embedding sets all-or-nothing."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from ethoflow.core.errors import InputError, OutputError
from ethoflow.hbehave.ingest import build_store
from ethoflow.hbehave.params import ZarrParams
from tests.reliability.conftest import disk_full_on_call, leftovers, one_error_line, run_stage_script, tree

ROWS = 400  # the first 400 readings of M014.txt (13 h): fast, and still real


@pytest.fixture
def dam_dir(tmp_path, shared_data):
    d = tmp_path / "raw"
    d.mkdir()
    lines = (shared_data / "activity/dam/M014.txt").read_text().splitlines(keepends=True)
    (d / "M014.txt").write_text("".join(lines[:ROWS]))
    return d


def _zarr(tmp_path, d, **kw):
    import yaml

    cfg = dict(
        input_format="dam", input_dir=str(d), summary_file=None, val_fraction=0.0, dam_layout="per_monitor", **kw
    )
    p = tmp_path / "params.yaml"
    p.write_text(yaml.safe_dump({"hbehave": {"zarr": cfg}}))
    out, rep = tmp_path / "activity.zarr", tmp_path / "zarr_report.json"
    return p, out, rep


def _stage(tmp_path, d, capsys, **kw):
    p, out, rep = _zarr(tmp_path, d, **kw)
    code, err = run_stage_script("hbehave_zarr", ["--params", str(p), "--out", str(out), "--report", str(rep)], capsys)
    return code, err, out, rep


def test_clean_excerpt_ingests(tmp_path, dam_dir, capsys):
    code, err, out, rep = _stage(tmp_path, dam_dir, capsys)
    assert code == 0 and out.is_dir() and rep.is_file()


def test_zero_byte_dam_file_is_named_empty(tmp_path, dam_dir, capsys):
    (dam_dir / "M014.txt").write_bytes(b"")
    code, err, out, rep = _stage(tmp_path, dam_dir, capsys)
    assert code == 1 and "M014.txt: empty DAM file" in one_error_line(err)
    assert not out.exists() and not rep.exists() and leftovers(tmp_path) == []


def test_blank_dam_file_is_named(tmp_path, dam_dir, capsys):
    (dam_dir / "M014.txt").write_text("\n\n\n")
    code, err, out, rep = _stage(tmp_path, dam_dir, capsys)
    assert code == 1 and "M014.txt" in one_error_line(err) and not out.exists()


def test_dam_file_cut_mid_row_names_the_file_and_line(tmp_path, dam_dir, capsys):
    f = dam_dir / "M014.txt"
    text = f.read_text()
    f.write_text(text[: len(text) - 40])  # the last reading loses its last tubes
    code, err, out, rep = _stage(tmp_path, dam_dir, capsys)
    line = one_error_line(err)
    assert code == 1 and "M014.txt" in line and f"line {ROWS}" in line and not out.exists()


def test_garbage_dam_file_is_named(tmp_path, dam_dir, capsys):
    f = dam_dir / "M014.txt"
    f.write_bytes(bytes(reversed(f.read_bytes())))
    code, err, out, rep = _stage(tmp_path, dam_dir, capsys)
    assert code == 1 and "M014.txt" in one_error_line(err) and not out.exists()


def test_duplicated_and_reordered_dam_rows_are_counted_not_silent(tmp_path, dam_dir):
    f = dam_dir / "M014.txt"
    lines = f.read_text().splitlines(keepends=True)
    lines = lines[:200] + [lines[150]] + lines[200:]  # a duplicated reading
    lines[300], lines[301] = lines[301], lines[300]  # two readings swapped
    f.write_text("".join(lines))
    rep = build_store(
        ZarrParams(input_format="dam", input_dir=str(dam_dir), summary_file=None, val_fraction=0.0), tmp_path / "s.zarr"
    )
    t = rep["totals"]
    assert t["duplicate_rows"] > 0 and t["unsorted_rows"] > 0


def _dvc_csv(shared_data, path, n=300):
    raw = pd.read_csv(shared_data / "activity/dam/M014.txt", sep="\t", header=None, nrows=n)
    ts = pd.to_datetime(raw[1] + " " + raw[2], format="%d %b %y %H:%M:%S")
    df = pd.DataFrame({"timestamp": ts.dt.strftime("%Y-%m-%d %H:%M:%S")})
    for k in range(4):
        df[f"v_{k + 1}"] = raw[10 + k]
    df.to_csv(path, index=False)


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        ("empty", "activity CSV is empty (0 bytes)"),
        ("header", "activity CSV has a header but no rows"),
        ("blank", "activity CSV holds no data"),
    ],
)
def test_empty_activity_csv_is_named(tmp_path, shared_data, damage, problem):
    d = tmp_path / "raw"
    d.mkdir()
    for c in ("cage01", "cage02"):
        _dvc_csv(shared_data, d / f"{c}.csv")
    f = d / "cage02.csv"
    f.write_text({"empty": "", "header": f.read_text().splitlines()[0] + "\n", "blank": "\n\n"}[damage])
    with pytest.raises(InputError, match=rf"cage02\.csv: {re.escape(problem)}"):
        build_store(ZarrParams(input_dir=str(d), summary_file=None, val_fraction=0.0), tmp_path / "s.zarr")
    assert not (tmp_path / "s.zarr").exists() and leftovers(tmp_path) == []


def test_empty_summary_csv_is_named(tmp_path, shared_data):
    d = tmp_path / "raw"
    d.mkdir()
    _dvc_csv(shared_data, d / "cage01.csv")
    (d / "summary.csv").write_text("")
    with pytest.raises(InputError, match=r"summary\.csv: summary CSV is empty \(0 bytes\)"):
        build_store(ZarrParams(input_dir=str(d), summary_file="summary.csv", val_fraction=0.0), tmp_path / "s.zarr")


def test_store_write_failing_midway_keeps_the_previous_store(tmp_path, dam_dir, monkeypatch):
    from ethoflow.hbehave import ingest

    (dam_dir / "M015.txt").write_bytes((dam_dir / "M014.txt").read_bytes())  # a second monitor
    cfg = ZarrParams(
        input_format="dam", input_dir=str(dam_dir), summary_file=None, val_fraction=0.0, dam_layout="per_monitor"
    )
    out = tmp_path / "activity.zarr"
    build_store(cfg, out)
    before = tree(out)
    monkeypatch.setattr(ingest, "write_cage", disk_full_on_call(ingest.write_cage, 2))
    with pytest.raises(OSError):
        build_store(cfg, out)
    assert tree(out) == before and [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.fixture
def trained(tiny_hbehave_model, tiny_store):
    model, mp = tiny_hbehave_model
    return model, tiny_store, mp


def test_embedding_set_is_all_or_nothing_on_a_full_disk(trained, tmp_path, monkeypatch):
    from ethoflow.hbehave import extract as ex
    from ethoflow.hbehave.params import ExtractParams

    model, store, mp = trained
    cfg = ExtractParams(aggregations={"4h": 240}, window_stride_min=120, batch_size=4)
    out = tmp_path / "emb"
    ex.extract(model, store, "4h", cfg, out, model_params=mp)
    before = tree(out)
    real = np.savez_compressed
    # the disk fills while the third level's file is written
    monkeypatch.setattr(ex.np, "savez_compressed", disk_full_on_call(real, 3))
    with pytest.raises((OSError, OutputError)):
        ex.extract(
            model,
            store,
            "4h",
            ExtractParams(aggregations={"4h": 240}, window_stride_min=60, batch_size=4),
            out,
            model_params=mp,
        )
    assert tree(out) == before and leftovers(out) == []
    monkeypatch.setattr(ex.np, "savez_compressed", real)
    ex.extract(model, store, "4h", cfg, out, model_params=mp)  # rerun not blocked
    assert tree(out) == before
