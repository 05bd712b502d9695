"""DAM files read right, or refused with the line named (issue #13, part 1).

- DAM5 (multibeam) excerpts are written here from the format (one row per data type per reading,
  the type in column 8: ``CT`` counts, ``C1``-``C4`` per-beam counts, ``D1``-``D4`` dwell, ``Pn``
  position, 32 ``TA`` rows with the bin in column 7), with a 131 s reading interval: only the ``CT``
  rows are counts, and the 131 s readings are spread onto minutes by overlap.
- The shared DAM2 file ``M014.txt`` is read exactly as before (its records pinned by hash).
- Hand-made damaged rows give ``file: line N: ... column C`` with ``dam_on_bad_row=fail``, a reported
  skip with ``skip``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re

import numpy as np
import pytest

from ethoflow.core.errors import InputError
from ethoflow.hbehave import read_cage
from ethoflow.hbehave.ingest import build_store
from ethoflow.hbehave.io import read_dam, read_dam_readings, resample_to_minutes
from ethoflow.hbehave.params import ZarrParams

T0 = dt.datetime(2017, 12, 21, 17, 1, 25)
TUBE5_CT = [0, 35, 22, 0]  # tube 5's CT counts of the first four readings
DAM5_OTHER_TYPES = ["C1", "C2", "C3", "C4", "D1", "D2", "D3", "D4", "Pn"]


def _dam_date(when: dt.datetime) -> str:
    return f"{when.day} {when.strftime('%b %y')}"


def _row(idx: int, when: dt.datetime, status, col7, dtype, counts) -> str:
    return "\t".join(
        [
            str(idx),
            _dam_date(when),
            when.strftime("%H:%M:%S"),
            str(status),
            "0",
            "30",
            str(col7),
            dtype,
            "0",
            "0",
            *map(str, counts),
        ]
    )


def make_dam5(path, n_readings=12, interval_s=131, seed=0, status=None, types=None):
    """A DAM5 excerpt: per reading the CT row, C1-C4, D1-D4, Pn and 32 TA rows (42 rows).

    Returns the CT counts (n_readings, 32) as written. The other data types hold values unlike the
    counts (dwell percentages up to 100, positions 1-4, TA bins), so any mixing shows.
    """
    rng = np.random.default_rng(seed)
    ct = rng.integers(0, 60, size=(n_readings, 32))
    ct[: len(TUBE5_CT), 4] = TUBE5_CT
    lines = []
    for r in range(n_readings):
        when = T0 + dt.timedelta(seconds=interval_s * r)
        st = 1 if status is None else status[r]
        rows = {"CT": ct[r], "C1": rng.multinomial(1, [0.25] * 4, size=32)[:, 0] * ct[r]}
        for t in ("C2", "C3", "C4"):
            rows[t] = rng.integers(0, 30, 32)
        for t in ("D1", "D2", "D3", "D4"):
            rows[t] = rng.integers(60, 101, 32)
        rows["Pn"] = rng.integers(1, 5, 32)
        for t in types or ["CT", *DAM5_OTHER_TYPES]:
            lines.append(_row(118788 + r, when, st, 0, t, rows[t]))
        if types is None:
            for b in range(1, 33):
                lines.append(_row(118788 + r, when, st, b, "TA", rng.integers(0, 101, 32)))
    path.write_text("\r\n".join(lines) + "\r\n")
    return ct


def per_second_reference(ct, ok, interval_s, t0_s, min_fraction=0.5):
    """Independent per-second reference: each reading's count spread evenly over the seconds it covers
    (interval_s before its stamp, back to the previous reading at most); a minute [60(m-1), 60m) sums
    its seconds and is valid at coverage >= min_fraction, scaled to a full minute."""
    n = len(ct)
    stamps = t0_s + interval_s * np.arange(n)
    lo = stamps[0] - interval_s
    first_min = lo // 60 + 1
    last_min = (stamps[-1] - 1) // 60 + 1
    span0 = (first_min - 1) * 60
    rate = np.zeros((last_min - first_min + 1) * 60)
    covered = np.zeros_like(rate)
    for r in range(n):
        a = stamps[r] - interval_s if r == 0 else max(stamps[r] - interval_s, stamps[r - 1])
        if ok[r]:
            rate[a - span0 : stamps[r] - span0] = ct[r] / (stamps[r] - a)
            covered[a - span0 : stamps[r] - span0] = 1
    per_min = rate.reshape(-1, 60).sum(1)
    cov = covered.reshape(-1, 60).mean(1)
    expect = np.where(cov >= min_fraction, per_min / np.where(cov > 0, cov, 1), np.nan)
    return expect, cov, first_min


def _epoch_s(when: dt.datetime) -> int:
    return int((when - dt.datetime(1970, 1, 1)).total_seconds())


def _minute(rec, hhmm: str) -> float:
    i = int(np.flatnonzero(rec.timestamps == np.datetime64(f"2017-12-21T{hhmm}"))[0])
    return float(rec.activity[i, 0])


# --------------------------------------------------------------------------- DAM5


def test_dam5_counts_are_the_ct_rows_not_an_average(tmp_path):
    ct = make_dam5(tmp_path / "M030.txt")
    rd = read_dam_readings(tmp_path / "M030.txt")
    assert rd.dam_format == "DAM5" and rd.data_type == "CT" and rd.rows_read == 12 * 42
    assert rd.data_type_rows == {"CT": 12, **{t: 12 for t in DAM5_OTHER_TYPES}, "TA": 12 * 32}
    # one reading per 131 s, tube 5's counts exactly the file's CT rows
    assert np.diff(rd.seconds).tolist() == [131] * 11
    assert rd.counts[:4, 4].tolist() == [0.0, 35.0, 22.0, 0.0]
    np.testing.assert_array_equal(rd.counts, ct)
    assert rd.lines[:2].tolist() == [1, 43]
    # another data type on request (case-insensitive), never mixed with CT
    c1 = read_dam_readings(tmp_path / "M030.txt", data_type="c1")
    assert len(c1.seconds) == 12 and c1.lines[0] == 2 and not np.array_equal(c1.counts, ct)


def test_dam5_131s_readings_spread_over_minutes_without_gaps(tmp_path):
    ct = make_dam5(tmp_path / "M030.txt")
    recs, rep = read_dam(tmp_path / "M030.txt", layout="per_tube")
    assert rep["format"] == "DAM5" and rep["resampling"] == "overlap" and rep["interval_s"] == 131
    assert rep["readings"] == 12 and rep["duplicate_rows"] == 0 and rep["data_type_rows"]["TA"] == 384
    assert rep["gap_minutes"] == 0 and rep["n_gaps"] == 0  # no artificial 1-minute gaps
    tube5 = recs[4]
    assert tube5.cage_id == "M030_ch05" and tube5.attrs["interval_s"] == 131 and tube5.attrs["data_type"] == "CT"
    # grid minute T holds [T - 1 min, T): reading 2 (35, stamped 17:03:36) covers 17:01:25-17:03:36,
    # reading 3 (22) 17:03:36-17:05:47, reading 4 (0) 17:05:47-17:07:58
    assert _minute(tube5, "17:03") == pytest.approx(35 * 60 / 131)  # inside reading 2
    assert _minute(tube5, "17:04") == pytest.approx((35 * 36 + 22 * 24) / 131)  # 36 s of 2, 24 s of 3
    assert _minute(tube5, "17:05") == pytest.approx(22 * 60 / 131)  # inside reading 3
    assert _minute(tube5, "17:06") == pytest.approx(22 * 47 / 131)  # 47 s of 3, 13 s of 4 (0)
    assert _minute(tube5, "17:07") == 0.0  # inside reading 4
    assert _minute(tube5, "17:08") == pytest.approx(ct[4, 4] * 2 / 131)  # 58 s of 4, 2 s of 5
    # every minute of every tube against the per-second reference built from the file's CT rows
    for c in range(32):
        expect, cov, first_min = per_second_reference(ct[:, c], np.ones(12, bool), 131, _epoch_s(T0))
        np.testing.assert_allclose(recs[c].activity[:, 0], expect, rtol=1e-5, equal_nan=True)
    assert int(tube5.timestamps[0].astype(np.int64)) == first_min and tube5.n_minutes == len(expect)
    # all minutes between the first and the last reading are fully covered and valid; the first
    # (46 s covered) is scaled to a minute, the last (26 s) is below dam_min_valid_fraction
    assert (cov[1:-1] == 1).all() and tube5.valid[:-1, 0].all() and not tube5.valid[-1, 0]
    assert cov[0] == pytest.approx(46 / 60) and cov[-1] == pytest.approx(26 / 60)


def test_dam5_invalid_reading_only_invalidates_the_minutes_it_covers(tmp_path):
    status = [1] * 12
    status[5] = 51  # reading 6 (stamped 17:12:20, covering 17:10:09-17:12:20): no data
    ct = make_dam5(tmp_path / "M031.txt", status=status)
    (mon,), rep = read_dam(tmp_path / "M031.txt", layout="per_monitor")
    assert rep["invalid_status_rows"] == 1 and rep["status_codes"] == {"1": 11, "51": 1}
    ok = np.array(status) == 1
    for c in (0, 4, 31):
        expect, cov, _ = per_second_reference(ct[:, c], ok, 131, _epoch_s(T0))
        np.testing.assert_allclose(mon.activity[:, c], expect, rtol=1e-5, equal_nan=True)
        np.testing.assert_array_equal(mon.valid[:, c], np.isfinite(expect))
    t = mon.timestamps
    # minute 17:11 ([17:10, 17:11)) has 9 s of valid reading 5, 17:12 lies inside the invalid reading:
    # both invalid; 17:13 has 40 s of valid reading 7 (counts scaled to the minute): valid
    i = {
        hhmm: int(np.flatnonzero(t == np.datetime64(f"2017-12-21T{hhmm}"))[0])
        for hhmm in ("17:10", "17:11", "17:12", "17:13")
    }
    assert not mon.valid[i["17:11"]].any() and not mon.valid[i["17:12"]].any()
    assert mon.valid[i["17:10"]].all() and mon.valid[i["17:13"]].all()
    np.testing.assert_allclose(mon.activity[i["17:13"]], ct[6] * 40 / 131 / (40 / 60), rtol=1e-5)
    assert rep["gap_minutes"] == 0 and rep["low_coverage_minutes"] == 2  # 17:11 and the last minute (26 s)


def test_dam5_without_the_data_type_is_refused(tmp_path):
    make_dam5(tmp_path / "M032.txt", types=["C1", "D1", "Pn"])
    with pytest.raises(
        InputError,
        match=r"M032.txt: DAM5 \(multibeam\) file has no 'CT' rows \(column 8 holds "
        r"C1, D1, Pn\); set hbehave.zarr.dam_data_type",
    ):
        read_dam(tmp_path / "M032.txt")


def test_dam5_store_and_stage_log(tmp_path, ethoflow_log):
    (tmp_path / "raw").mkdir()
    make_dam5(tmp_path / "raw" / "M030.txt")
    cfg = ZarrParams(input_format="dam", input_dir=str(tmp_path / "raw"), summary_file=None, val_fraction=0.0)
    rep = build_store(cfg, tmp_path / "a.zarr")
    assert rep["dam_rows"]["formats"] == {"DAM5": 1} and rep["dam_rows"]["readings"] == 12
    assert "DAM5 (multibeam): 12 CT rows read as counts (left out: 12 C1" in ethoflow_log.text
    assert "reading interval 131 s, resampled to minutes by overlap" in ethoflow_log.text
    assert "DAM rows: 1 files, 12 readings read (1 DAM5); 0 rows skipped; 0 count values left out" in ethoflow_log.text
    recs, _ = read_dam(tmp_path / "raw" / "M030.txt")
    stored = read_cage(tmp_path / "a.zarr", "M030_ch05")
    np.testing.assert_array_equal(stored.activity, recs[4].activity)
    np.testing.assert_array_equal(stored.valid, recs[4].valid)


def test_sub_minute_readings_are_summed_per_minute(tmp_path):
    # DAM2 at 30 s: two readings per minute add up (they used to be averaged as duplicates)
    t0 = dt.datetime(2017, 7, 1, 10, 0, 30)
    lines = [_row(k + 1, t0 + dt.timedelta(seconds=30 * k), 1, 0, "0", [k + 1] * 32) for k in range(6)]
    (tmp_path / "M006.txt").write_text("\n".join(lines) + "\n")
    (mon,), rep = read_dam(tmp_path / "M006.txt", layout="per_monitor")
    assert rep["format"] == "DAM2" and rep["interval_s"] == 30 and rep["resampling"] == "overlap"
    assert [str(t) for t in mon.timestamps] == ["2017-07-01T10:01", "2017-07-01T10:02", "2017-07-01T10:03"]
    np.testing.assert_allclose(mon.activity[:, 0], [1 + 2, 3 + 4, 5 + 6])
    assert mon.valid.all()


def test_jittered_one_minute_readings_stay_on_their_minutes(tmp_path):
    t0 = dt.datetime(2017, 7, 1, 10, 0, 0)
    offsets = [0, 61, 121, 182, 241, 301]  # a 1-minute setting with a clock a second off now and then
    lines = [_row(k + 1, t0 + dt.timedelta(seconds=s), 1, 0, "0", [k + 1] * 32) for k, s in enumerate(offsets)]
    (tmp_path / "M009.txt").write_text("\n".join(lines) + "\n")
    (mon,), rep = read_dam(tmp_path / "M009.txt", layout="per_monitor")
    assert rep["resampling"] == "minute" and rep["interval_s"] == 60 and rep["off_minute_rows"] == 5
    np.testing.assert_array_equal(mon.activity[:, 0], [1, 2, 3, 4, 5, 6])


def test_resample_rules_directly():
    secs = np.array([130, 300, 260], np.int64)  # unsorted; 130 s and 40 s steps, interval 60 s
    vals = np.array([[60.0], [20.0], [30.0]])
    act, valid, cov, ts, rep = resample_to_minutes(secs, vals, np.ones((3, 1), bool), interval_s=60, where="x")
    # 70-130 s -> minutes 2 (50 s) and 3 (10 s); 200-260 s -> minutes 4 (40 s) and 5 (20 s); 260-300 s -> 5
    assert ts.astype(np.int64).tolist() == [2, 3, 4, 5] and rep["unsorted_rows"] == 1
    np.testing.assert_allclose(cov[:, 0], [50 / 60, 10 / 60, 40 / 60, 1.0])
    np.testing.assert_allclose(act[:, 0], [60.0, np.nan, 30.0, 10 + 20], equal_nan=True)
    assert valid[:, 0].tolist() == [True, False, True, True] and rep["gap_minutes"] == 0
    # counts kept: with every covered minute valid, counts per minute x coverage add up to all counts
    act, valid, cov, _, _ = resample_to_minutes(
        secs, vals, np.ones((3, 1), bool), interval_s=60, where="x", min_valid_fraction=1e-6
    )
    assert valid.all() and float((act * cov).sum()) == pytest.approx(60 + 20 + 30)
    with pytest.raises(InputError, match="x: duplicate timestamps"):
        resample_to_minutes(
            np.array([60, 60]), vals[:2], np.ones((2, 1), bool), interval_s=60, where="x", duplicates="error"
        )


# --------------------------------------------------------------------------- DAM2: M014.txt


# sha256 over (cage id, activity, valid, timestamps, attrs) of read_dam(M014.txt) as the reader wrote
# them before DAM5 support and row validation (commit a84ac45): the DAM2 path must not move a bit.
M014_PINNED = {
    "per_tube": "4697b53fee17bf45ee7a09861b729115e001de625419ae0985113b2ff8757213",
    "per_monitor": "811a27cb0386ee23d953512cd5804cf0fc050fbf8f5f68a0f011337e78f66815",
}


def _records_hash(recs) -> str:
    h = hashlib.sha256()
    for r in recs:
        h.update(r.cage_id.encode())
        h.update(r.activity.tobytes())
        h.update(r.valid.tobytes())
        h.update(r.timestamps.astype(np.int64).tobytes())
        h.update(json.dumps(r.attrs, sort_keys=True, default=str).encode())
    return h.hexdigest()


@pytest.mark.parametrize("layout", ["per_tube", "per_monitor"])
def test_m014_read_exactly_as_before(shared_data, layout):
    recs, rep = read_dam(shared_data / "activity/dam/M014.txt", layout=layout)
    assert _records_hash(recs) == M014_PINNED[layout]
    assert rep["format"] == "DAM2" and rep["resampling"] == "minute" and rep["interval_s"] == 60
    assert rep["skipped_rows"] == 0 and rep["skipped_values"] == 0 and rep["problems"] == []
    assert rep["off_minute_rows"] == 1  # line 19: 14:43:08, floored to 14:43 as before


def test_m014_minutes_match_the_file_rows(shared_data):
    path = shared_data / "activity/dam/M014.txt"
    recs, _ = read_dam(path, layout="per_tube")
    rows = [line.split("\t") for line in path.read_text().splitlines()]
    ts = recs[0].timestamps
    for ln in (40, 500, 1234, 3465):  # 1-based line numbers of status-1 rows
        cells = rows[ln - 1]
        assert cells[3] == "1"
        when = dt.datetime.strptime(f"{cells[1]} {cells[2]}", "%d %b %y %H:%M:%S")
        i = int(np.flatnonzero(ts == np.datetime64(when.strftime("%Y-%m-%dT%H:%M")))[0])
        for tube in (1, 5, 17, 32):
            assert recs[tube - 1].activity[i, 0] == float(cells[9 + tube]), (ln, tube)
            assert recs[tube - 1].valid[i, 0]


# --------------------------------------------------------------------------- damaged rows


def _dam2_lines(n=8):
    t0 = dt.datetime(2017, 7, 1, 10, 0)
    counts = [[(k * 7 + c) % 50 for c in range(32)] for k in range(n)]
    return [_row(k + 1, t0 + dt.timedelta(minutes=k), 1, 0, "0", counts[k]) for k in range(n)], counts


def _nth_tab(line: str, n: int) -> int:
    """Position of the n-th tab: cutting there leaves n columns (a file cut mid-write)."""
    return [i for i, ch in enumerate(line) if ch == "\t"][n - 1]


def _set(line: str, column: int, value: str | None) -> str:
    cells = line.split("\t")
    if value is None:
        del cells[column - 1]
    else:
        cells[column - 1] = value
    return "\t".join(cells)


# name -> (line, column, problem, row-level?, how to damage the lines)
DAMAGE = {
    "missing_field_mid_line": (3, 42, "column_count", True, lambda ls: ls.__setitem__(2, _set(ls[2], 20, None))),
    "truncated_last_line": (8, 21, "column_count", True, lambda ls: ls.__setitem__(7, ls[7][: _nth_tab(ls[7], 20)])),
    "extra_field": (2, 43, "column_count", True, lambda ls: ls.__setitem__(1, ls[1] + "\t7")),
    "bad_date": (4, 2, "date", True, lambda ls: ls.__setitem__(3, _set(ls[3], 2, "31 Jun 17"))),
    "bad_time": (5, 3, "time", True, lambda ls: ls.__setitem__(4, _set(ls[4], 3, "10:4x:00"))),
    "bad_status": (6, 4, "status", True, lambda ls: ls.__setitem__(5, _set(ls[5], 4, "1?"))),
    "non_numeric_count": (4, 13, "non_numeric", False, lambda ls: ls.__setitem__(3, _set(ls[3], 13, "x"))),
    "empty_count": (4, 30, "non_numeric", False, lambda ls: ls.__setitem__(3, _set(ls[3], 30, ""))),
    "negative_count": (5, 19, "negative", False, lambda ls: ls.__setitem__(4, _set(ls[4], 19, "-4"))),
    "absurd_count": (6, 40, "above_max", False, lambda ls: ls.__setitem__(5, _set(ls[5], 40, "99999"))),
}


def _damaged(tmp_path, name):
    lines, counts = _dam2_lines()
    line, column, problem, row_level, damage = DAMAGE[name]
    damage(lines)
    end = "" if name == "truncated_last_line" else "\n"  # a cut file has no final newline
    path = tmp_path / "M007.txt"
    path.write_text("\n".join(lines) + end)
    return path, counts, line, column, problem, row_level


@pytest.mark.parametrize("name", list(DAMAGE))
def test_damaged_row_fail_names_file_line_and_column(tmp_path, name):
    path, _, line, column, _, _ = _damaged(tmp_path, name)
    with pytest.raises(InputError) as err:
        read_dam(path, on_bad_row="fail")
    msg = str(err.value)
    assert "\n" not in msg
    assert re.match(rf"^{re.escape(str(path))}: line {line}: .*\bcolumn {column}\b", msg), msg
    # the stage, with the params default
    cfg = ZarrParams(input_format="dam", input_dir=str(tmp_path), summary_file=None)
    with pytest.raises(InputError, match=rf"M007.txt: line {line}: .*column {column}"):
        build_store(cfg, tmp_path / "s.zarr")


@pytest.mark.parametrize("name", list(DAMAGE))
def test_damaged_row_skip_is_reported_and_nothing_shifts(tmp_path, name):
    path, counts, line, column, problem, row_level = _damaged(tmp_path, name)
    (mon,), rep = read_dam(path, layout="per_monitor", on_bad_row="skip")
    assert rep["problems"][0]["line"] == line and rep["problems"][0]["column"] == column
    assert rep["problems"][0]["problem"] == problem and rep["problem_counts"] == {problem: 1}
    assert (rep["skipped_rows"], rep["skipped_values"]) == ((1, 0) if row_level else (0, 1))
    counts = np.array(counts, float)
    t = (mon.timestamps - np.datetime64("2017-07-01T10:00", "m")).astype(np.int64)  # reading k at minute k
    for i, k in enumerate(t):  # every kept value is the one written for its reading and tube
        ok = mon.valid[i]
        np.testing.assert_array_equal(mon.activity[i, ok], counts[k, ok])
    bad_minute = line - 1
    if row_level:
        assert bad_minute not in t or not mon.valid[t == bad_minute].any()
    else:
        tube = column - 10
        i = int(np.flatnonzero(t == bad_minute)[0])
        assert not mon.valid[i, tube - 1] and mon.valid[i, np.arange(32) != tube - 1].all()
    assert mon.valid.sum() == 8 * 32 - (32 if row_level else 1)


def test_skip_mode_stage_log_says_how_many_and_why(tmp_path, ethoflow_log):
    lines, _ = _dam2_lines()
    lines[2] = _set(lines[2], 20, None)  # missing field
    lines[4] = _set(lines[4], 19, "-4")  # negative count
    lines[5] = _set(lines[5], 40, "99999")  # absurd count
    (tmp_path / "M008.txt").write_text("\n".join(lines) + "\n")
    cfg = ZarrParams(input_format="dam", input_dir=str(tmp_path), summary_file=None, dam_on_bad_row="skip")
    rep = build_store(cfg, tmp_path / "s.zarr")
    assert (
        "M008.txt: 1 rows skipped (1 column_count), 2 count values left out (1 negative, 1 above_max); "
        "first: line 3: 41 columns instead of 42: column 42 onward missing"
    ) in ethoflow_log.text
    assert (
        "DAM rows: 1 files, 7 readings read (1 DAM2); 1 rows skipped (1 column_count); "
        "2 count values left out (1 negative, 1 above_max)"
    ) in ethoflow_log.text
    assert rep["dam_rows"]["skipped_rows"] == 1 and rep["dam_rows"]["files_with_problems"] == ["M008.txt"]
    assert [(p["line"], p["column"]) for p in rep["files"]["M008.txt"]["problems"]] == [(3, 42), (5, 19), (6, 40)]


def test_dam_params_keys():
    cfg = ZarrParams()
    assert (cfg.dam_data_type, cfg.dam_max_count, cfg.dam_on_bad_row, cfg.dam_interval_s) == ("CT", 1000, "fail", None)
    with pytest.raises(ValueError, match="not both"):
        ZarrParams(dam_interval_s=131, dam_interval_min=2)
    with pytest.raises(ValueError, match="TA rows"):
        ZarrParams(dam_data_type="TA")
    with pytest.raises(ValueError):
        ZarrParams(dam_on_bad_row="ignore")
