"""hbehave_zarr: ingest rules (duplicates, unsorted, gaps, non-numeric, summary), DAM parsing, normalisation."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from ethoflow.core.errors import InputError
from ethoflow.demo.hbehave import generate
from ethoflow.hbehave import list_cages, normalise, read_cage, read_normalisation, read_normalised, read_split
from ethoflow.hbehave.ingest import build_store, fit_normalisation, split_cages
from ethoflow.hbehave.io import parse_dam_datetime, read_dam, read_summary, read_ventilated_cage_csv
from ethoflow.hbehave.params import DemoParams, ZarrParams
from ethoflow.hbehave.store import CageRecord


def _write_cage(path, rows, n=3):
    cols = ["timestamp", *[f"v_{i + 1}" for i in range(n)]]
    pd.DataFrame(rows, columns=cols).to_csv(path, index=False)


def _summary(path, rows):
    pd.DataFrame(rows).to_csv(path, index=False)


def test_rules_duplicates_unsorted_gaps_non_numeric(tmp_path):
    rows = [
        ["2024-01-01 00:00:00", "1", "2", "3"],
        ["2024-01-01 00:02:00", "5", "ERR", "5"],  # non-numeric in v_2
        ["2024-01-01 00:01:00", "2", "2", "2"],  # unsorted
        ["2024-01-01 00:01:00", "4", "", "2"],  # conflicting duplicate, empty cell
        ["2024-01-01 00:05:00", "1", "1", "1"],  # gap 00:03-00:04
        ["2024-01-01 00:09:00", "1", "1", "1"],  # outside window
        ["not a time", "1", "1", "1"],
    ]
    _write_cage(tmp_path / "c1.csv", rows)
    _summary(
        tmp_path / "s.csv",
        [{"cage_id": "c1", "from_tpt": "2024-01-01 00:00", "to_tpt": "2024-01-01 00:07", "strain": "B6", "age": 10}],
    )
    summ = read_summary(tmp_path / "s.csv")
    rec, rep = read_ventilated_cage_csv(tmp_path / "c1.csv", summary_row=summ.loc["c1"], duplicates="mean")
    assert rec.n_minutes == 7 and rec.activity.shape == (7, 3)
    assert rep["unsorted_rows"] == 1
    assert rep["duplicate_rows"] == 1 and rep["conflicting_duplicates"] == 1
    assert rep["non_numeric_values"] == 1 and rep["empty_values"] == 1
    assert rep["bad_timestamps"] == 1 and rep["bad_timestamp_rows"] == [8]
    assert rep["outside_window_rows"] == 1
    assert rep["gap_minutes"] == 3  # 00:03, 00:04, 00:06
    assert rep["gaps"] == [["2024-01-01T00:03", 2], ["2024-01-01T00:06", 1]]
    # minute 00:01: mean of the duplicates per channel, v_2 valid only in the first copy
    np.testing.assert_allclose(rec.activity[1], [3.0, 2.0, 2.0])
    assert rec.valid[1].all()
    assert not rec.valid[2, 1] and np.isnan(rec.activity[2, 1]) and rec.valid[2, 0]
    assert not rec.valid[3].any() and not rec.valid[6].any()
    assert rec.attrs["strain"] == "B6" and rec.attrs["age"] == 10
    assert rec.attrs["experiment"] == "20240101" and rec.attrs["source_file"] == "c1.csv"
    first, _ = read_ventilated_cage_csv(tmp_path / "c1.csv", summary_row=summ.loc["c1"], duplicates="first")
    last, _ = read_ventilated_cage_csv(tmp_path / "c1.csv", summary_row=summ.loc["c1"], duplicates="last")
    assert first.activity[1, 0] == 2.0 and last.activity[1, 0] == 4.0
    with pytest.raises(InputError, match="duplicate timestamps"):
        read_ventilated_cage_csv(tmp_path / "c1.csv", summary_row=summ.loc["c1"], duplicates="error")


def test_missing_from_summary_kept_and_reported_or_error(tmp_path):
    rows = [["2024-01-01 00:00", "1", "1", "1"], ["2024-01-01 00:01", "1", "1", "1"]]
    _write_cage(tmp_path / "a.csv", rows)
    _write_cage(tmp_path / "b.csv", rows)
    _summary(tmp_path / "summary.csv", [{"cage_id": "a", "strain": "B6"}, {"cage_id": "z", "strain": "B6"}])
    cfg = ZarrParams(input_dir=str(tmp_path), val_fraction=0.0)
    rep = build_store(cfg, tmp_path / "out.zarr")
    assert rep["missing_in_summary"] == ["b"] and rep["summary_without_data"] == ["z"]
    assert list_cages(tmp_path / "out.zarr") == ["a", "b"]
    assert read_cage(tmp_path / "out.zarr", "b").attrs["strain"] is None
    with pytest.raises(InputError, match="no summary row: b"):
        build_store(ZarrParams(input_dir=str(tmp_path), missing_in_summary="error"), tmp_path / "o2.zarr")


def test_dam_datetime_formats():
    assert parse_dam_datetime("1 Jul 17", "07:04:00") == dt.datetime(2017, 7, 1, 7, 4)
    assert parse_dam_datetime("30 Jun 2017", "14:08") == dt.datetime(2017, 6, 30, 14, 8)
    assert parse_dam_datetime("2017-07-01", "00:09:00") == dt.datetime(2017, 7, 1, 0, 9)
    with pytest.raises(ValueError):
        parse_dam_datetime("Jul the first", "07:04:00")


def _dam_line(i, when, status, counts):
    d = f"{when.day} {when.strftime('%b %y')}"
    return "\t".join([str(i), d, when.strftime("%H:%M:%S"), str(status), *["0"] * 6, *map(str, counts)])


def test_dam_status_channels_and_interval(tmp_path):
    t0 = dt.datetime(2017, 6, 30, 23, 58)
    lines = []
    for k in range(6):
        counts = [k * 100 + c for c in range(32)]
        lines.append(_dam_line(k + 1, t0 + dt.timedelta(minutes=k), 51 if k == 1 else 1, counts))
    (tmp_path / "M001.txt").write_text("\r\n".join(lines) + "\r\n")
    recs, rep = read_dam(tmp_path / "M001.txt", layout="per_tube")
    assert len(recs) == 32 and recs[4].cage_id == "M001_ch05" and recs[4].activity.shape == (6, 1)
    assert rep["status_codes"] == {"1": 5, "51": 1} and rep["interval_min"] == 1
    assert not recs[0].valid[1].any() and recs[0].valid[[0, 2, 3, 4, 5]].all()
    assert recs[4].activity[3, 0] == 304  # tube 5 at the 4th reading, across midnight ('1 Jul 17')
    assert str(recs[0].timestamps[2]) == "2017-07-01T00:00"
    (mon,), _ = read_dam(tmp_path / "M001.txt", layout="per_monitor")
    assert mon.activity.shape == (6, 32) and mon.cage_id == "M001"
    np.testing.assert_array_equal(mon.activity[5], np.arange(500, 532))
    # a 5-minute reading interval: counts spread evenly over the 5 minutes ending at each reading
    lines = [_dam_line(k + 1, t0 + dt.timedelta(minutes=5 * k), 1, [10] * 32) for k in range(3)]
    (tmp_path / "M002.txt").write_text("\n".join(lines) + "\n")
    (m2,), rep2 = read_dam(tmp_path / "M002.txt", layout="per_monitor")
    assert rep2["interval_min"] == 5 and m2.n_minutes == 15
    np.testing.assert_allclose(m2.activity[:, 0], 2.0)
    assert m2.activity[:, 0].sum() == 30


def test_dam_bad_columns(tmp_path):
    (tmp_path / "M003.txt").write_text("1\t1 Jul 17\t00:00:00\t1\t0\t0\n")
    with pytest.raises(InputError, match="columns"):
        read_dam(tmp_path / "M003.txt")


def test_real_dam_file(shared_data):
    recs, rep = read_dam(shared_data / "activity/dam/M014.txt", layout="per_tube")
    assert len(recs) == 32
    assert rep["status_codes"]["51"] == 17 and rep["status_codes"]["1"] == 3447
    assert str(recs[0].timestamps[0]) == "2017-06-30T14:08" and str(recs[0].timestamps[-1]) == "2017-07-03T00:09"
    # the first rows are 2 minutes apart with status 51: no valid minute before the first status-1 row
    assert not recs[0].valid[:34].any() and recs[0].valid[35:].mean() > 0.99
    assert recs[0].attrs["experiment"] == "20170630" and recs[0].attrs["source_file"] == "M014.txt"


def test_normalisation_fitted_on_train_only_and_consistent(tmp_path):
    generate(DemoParams(n_cages=4, n_days=1, seed=3), tmp_path / "raw")
    cfg = ZarrParams(input_dir=str(tmp_path / "raw"), val_fraction=0.25)
    rep = build_store(cfg, tmp_path / "a.zarr")
    split = read_split(tmp_path / "a.zarr")
    assert len(split["val"]) == 1 and len(split["train"]) == 3
    stats = read_normalisation(tmp_path / "a.zarr")
    train = [read_cage(tmp_path / "a.zarr", c) for c in split["train"]]
    x = np.concatenate([r.activity for r in train])
    v = np.concatenate([r.valid for r in train])
    mean = np.array([x[v[:, c], c].mean() for c in range(12)])
    np.testing.assert_allclose(stats["mean"], mean, rtol=1e-5)
    assert stats["train_cages"] == split["train"]
    # normalised training readings have mean 0 / std 1 per electrode; invalid entries are 0
    z = np.concatenate([read_normalised(tmp_path / "a.zarr", c).activity for c in split["train"]])
    assert np.isfinite(z).all() and (z[~v] == 0).all()
    np.testing.assert_allclose([z[v[:, c], c].mean() for c in range(12)], 0, atol=1e-4)
    np.testing.assert_allclose([z[v[:, c], c].std() for c in range(12)], 1, atol=1e-3)
    g = fit_normalisation(train, "global")
    assert len(set(g["mean"])) == 1 and abs(g["mean"][0] - x[v].mean()) < 1e-5
    assert rep["totals"]["duplicate_rows"] == 12
    json.dumps(rep)


def test_split_rules():
    ids = ["c1", "c2", "c3", "c4"]
    assert split_cages(ids, 0.5, 0) == split_cages(ids, 0.5, 0)
    assert split_cages(ids, 0.0, 0) == {"train": ids, "val": []}
    assert split_cages(["c1"], 0.9, 0)["train"] == ["c1"]
    assert split_cages(ids, 0.2, 0, ["c3"]) == {"train": ["c1", "c2", "c4"], "val": ["c3"]}
    with pytest.raises(InputError, match="unknown cage"):
        split_cages(ids, 0.2, 0, ["zz"])


def test_demo_is_deterministic_and_nocturnal(tmp_path):
    p = DemoParams(n_cages=2, n_days=2, seed=5)
    generate(p, tmp_path / "a")
    generate(p, tmp_path / "b")
    for f in ("cage01.csv", "cage02.csv", "summary.csv"):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()
    rec, _ = read_ventilated_cage_csv(tmp_path / "a" / "cage01.csv")
    hour = (rec.timestamps.astype(np.int64) // 60) % 24
    act = np.nanmean(rec.activity, axis=1)
    night = np.nanmean(act[(hour >= 19) | (hour < 7)])
    day = np.nanmean(act[(hour >= 7) & (hour < 19)])
    assert night > 1.5 * day


def test_cage_record_shape_checks():
    with pytest.raises(ValueError):
        CageRecord("x", np.zeros((3, 2), np.float32), np.zeros((3, 1), bool), np.zeros(3, "datetime64[m]"))


def test_normalise_invalid_zero():
    x = np.array([[1.0, np.nan], [3.0, 4.0]], np.float32)
    v = np.isfinite(x)
    z = normalise(x, v, {"mean": [2.0, 4.0], "std": [1.0, 0.0]})
    np.testing.assert_allclose(z, [[-1, 0], [1, 0]])


def test_store_is_byte_identical_across_runs(tmp_path):
    generate(DemoParams(n_cages=2, n_days=1, seed=2), tmp_path / "raw")
    cfg = ZarrParams(input_dir=str(tmp_path / "raw"))
    build_store(cfg, tmp_path / "a.zarr")
    build_store(cfg, tmp_path / "b.zarr")
    files_a = sorted(p.relative_to(tmp_path / "a.zarr") for p in (tmp_path / "a.zarr").rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(tmp_path / "b.zarr") for p in (tmp_path / "b.zarr").rglob("*") if p.is_file())
    assert files_a == files_b and len(files_a) > 5
    for f in files_a:
        assert (tmp_path / "a.zarr" / f).read_bytes() == (tmp_path / "b.zarr" / f).read_bytes(), f


def test_demo_strains_differ(tmp_path):
    generate(DemoParams(n_cages=4, n_days=2, seed=0), tmp_path)
    summ = read_summary(tmp_path / "summary.csv")
    per_animal = {}
    for cid, row in summ.iterrows():
        rec, _ = read_ventilated_cage_csv(tmp_path / f"{cid}.csv")
        per_animal.setdefault(row["strain"], []).append(np.nanmean(rec.activity) / row["nb_animals"])
    assert set(per_animal) == {"C57BL/6J", "BALB/cJ"}
    assert min(per_animal["C57BL/6J"]) > 1.4 * max(per_animal["BALB/cJ"])


def test_inconsistent_channels_name_the_cages(tmp_path):
    _write_cage(tmp_path / "a.csv", [["2024-01-01 00:00", "1", "1", "1"]], n=3)
    _write_cage(tmp_path / "b.csv", [["2024-01-01 00:00", "1", "1"]], n=2)
    _summary(tmp_path / "summary.csv", [{"cage_id": "a"}, {"cage_id": "b"}])
    with pytest.raises(InputError, match=r"3 channels .* in a; 2 channels .* in b"):
        build_store(ZarrParams(input_dir=str(tmp_path)), tmp_path / "o.zarr")


def test_dam_bad_date_and_non_numeric_count(tmp_path):
    t0 = dt.datetime(2017, 7, 1, 10, 0)
    lines = [_dam_line(k + 1, t0 + dt.timedelta(minutes=k), 1, [1] * 32) for k in range(3)]
    cells = lines[1].split("\t")
    cells[4 + 6 + 2] = "x"  # tube 3 of the second reading
    lines[1] = "\t".join(cells)
    (tmp_path / "M004.txt").write_text("\n".join(lines) + "\n")
    # a bad count leaves out that tube's value with dam_on_bad_row=skip (the default, fail, names it: test_dam.py)
    recs, rep = read_dam(tmp_path / "M004.txt", on_bad_row="skip")
    assert rep["non_numeric_values"] == 1
    assert not recs[2].valid[1, 0] and recs[2].valid[[0, 2], 0].all() and recs[1].valid.all()
    cells = lines[2].split("\t")
    cells[1] = "32 Jul 17"
    lines[2] = "\t".join(cells)
    (tmp_path / "M005.txt").write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match="M005.txt: line 3: unparseable date '32 Jul 17'"):
        read_dam(tmp_path / "M005.txt")
