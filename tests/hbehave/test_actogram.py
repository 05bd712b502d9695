"""Double-plotted actograms (stage hbehave_actograms): the binned data, invalid minutes drawn where they
are, one figure per cage with deterministic bytes, the stage on the demo store and on the shared DAM file."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml

from ethoflow.core.errors import ParamsError
from ethoflow.hbehave.params import ActogramParams, HBehaveParams
from ethoflow.hbehave.plots import INVALID_FACE, actogram_data, actogram_name, actograms, plot_actogram
from ethoflow.hbehave.store import CageRecord, create_store, write_cage

T0 = np.datetime64("2024-01-01T06:00")


def _cage(n_min=2 * 1440, invalid=(600, 720), channels=2):
    """Minutes from 2024-01-01 06:00; channel values = minute of day / 100 (a ramp per day); ``invalid``
    minutes (offsets from T0) have no valid channel; channel 1 alone is invalid at offset 100."""
    ts = T0 + np.arange(n_min).astype("timedelta64[m]")
    mod = ((ts - ts.astype("datetime64[D]")).astype(np.int64)).astype(np.float32)
    act = np.repeat((mod / 100)[:, None], channels, 1)
    valid = np.ones_like(act, bool)
    if invalid:
        valid[invalid[0] : invalid[1]] = False
    valid[100, -1] = False
    act[~valid] = np.nan
    return act, valid, ts


def test_actogram_data_bins_days_and_invalid_minutes():
    act, valid, ts = _cage()
    d = actogram_data(act, valid, ts, "c", bin_min=60, day_start_hour=7, day_end_hour=19)
    # 2 days from 06:00 touch 3 calendar days; one padding day for the right half of the last row
    assert d.days == ["2024-01-01", "2024-01-02", "2024-01-03"] and d.activity.shape == (4, 24)
    assert d.invalid.shape == d.recorded.shape == (4, 1440)
    assert not d.recorded[0, :360].any() and d.recorded[0, 360:].all() and d.recorded[2, :360].all()
    assert not d.recorded[2, 360:].any() and not d.recorded[3].any()
    # the invalid offsets 600-720 are 16:00-18:00 on day 1; a minute with one valid channel is valid
    assert np.flatnonzero(d.invalid[0]).tolist() == list(range(960, 1080)) and d.invalid.sum() == 120
    # bins: mean of the valid minutes' channel mean (minute of day / 100), NaN where nothing valid/recorded
    np.testing.assert_allclose(d.activity[1, 10], np.arange(600, 660).mean() / 100, rtol=1e-6)
    assert np.isnan(d.activity[0, 16]) and np.isnan(d.activity[0, 17]) and np.isnan(d.activity[0, 3])
    np.testing.assert_allclose(d.scale, np.arange(1380, 1440).mean() / 100, rtol=1e-6)
    # double plot: row n = day n | day n + 1
    bins, inval, rec = d.row(0)
    assert bins.shape == (48,) and inval.shape == rec.shape == (2880,)
    np.testing.assert_array_equal(bins[24:], d.activity[1])
    assert inval[960:1080].all() and not inval[1440:].any()
    # light phase [7, 19): dark before 07:00 and from 19:00
    assert d.dark[: 7 * 60].all() and not d.dark[7 * 60 : 19 * 60].any() and d.dark[19 * 60 :].all()
    wrap = actogram_data(act, valid, ts, "c", 60, day_start_hour=20, day_end_hour=8)
    assert not wrap.dark[:480].any() and wrap.dark[480:1200].all() and not wrap.dark[1200:].any()
    with pytest.raises(ParamsError, match="1440"):
        actogram_data(act, valid, ts, "c", bin_min=7)


def _invalid_pixels(png) -> tuple[np.ndarray, np.ndarray]:
    import matplotlib.image as mpimg

    img = mpimg.imread(png)[..., :3]
    face = np.array([int(INVALID_FACE[i : i + 2], 16) / 255 for i in (1, 3, 5)])
    ys, xs = np.nonzero(np.abs(img - face).max(-1) < 0.02)
    return ys, xs


def test_invalid_minutes_are_drawn_where_they_are(tmp_path):
    dpi = 80
    rows_bottom = (0.85 + 3 * 0.32) * dpi  # pixel row where the 3 day rows end (top margin 0.85 in, 0.32 in a row)
    act, valid, ts = _cage()
    plot_actogram(actogram_data(act, valid, ts, "c", bin_min=30), tmp_path / "a.png", dpi=dpi)
    ys, xs = _invalid_pixels(tmp_path / "a.png")
    in_axes = ys < rows_bottom
    ys, xs = ys[in_axes], xs[in_axes]
    assert len(xs) > 200
    # the hatched block spans 16:00-18:00 of day 1 (x 16-18 of 48 h; axes at 0.13-0.97 of the 8 in width) ...
    lo, hi = (0.13 + 0.84 * 16 / 48) * 8 * dpi, (0.13 + 0.84 * 18 / 48) * 8 * dpi
    assert lo - 1.5 <= xs.min() and xs.max() <= hi + 1.5 and xs.max() - xs.min() > 0.8 * (hi - lo)
    # ... in the first (top) row only: day 1 is in no other row
    assert 0.85 * dpi - 1.5 <= ys.min() and ys.max() <= (0.85 + 0.32) * dpi + 1.5
    # a cage without invalid minutes has none in the rows (the legend's swatch below them only)
    act, valid, ts = _cage(invalid=None)
    plot_actogram(actogram_data(act, valid, ts, "c", bin_min=30), tmp_path / "b.png", dpi=dpi)
    ys_b, _ = _invalid_pixels(tmp_path / "b.png")
    assert len(ys_b) and (ys_b > rows_bottom).all()


def _small_store(path, cages):
    create_store(path, ["e1", "e2"])
    for cid, kw in cages.items():
        act, valid, ts = _cage(**kw)
        write_cage(path, CageRecord(cid, act, valid, ts, {"experiment": "x"}))
    return path


def test_actograms_one_figure_per_cage_deterministic(tmp_path):
    store = _small_store(tmp_path / "s.zarr", {"b": {}, "a": {"invalid": None, "n_min": 1440}})
    met = actograms(store, ActogramParams(bin_min=60, dpi=40), tmp_path / "o1")
    assert met == {"cages": 2, "figures": 2, "minutes": 1440 + 2880, "invalid_minutes": 120}
    assert sorted(p.name for p in (tmp_path / "o1").glob("*.png")) == ["actogram_a.png", "actogram_b.png"]
    table = pd.read_csv(tmp_path / "o1" / "summary.csv")
    assert table["cage_id"].tolist() == ["a", "b"] and table["invalid_minutes"].tolist() == [0, 120]
    assert table["days"].tolist() == [2, 3] and table["first"].tolist() == ["2024-01-01T06:00"] * 2
    actograms(store, ActogramParams(bin_min=60, dpi=40, max_cages=1), tmp_path / "o2")
    assert [p.name for p in (tmp_path / "o2").glob("*.png")] == ["actogram_a.png"]
    assert (tmp_path / "o2" / "actogram_a.png").read_bytes() == (tmp_path / "o1" / "actogram_a.png").read_bytes()
    assert (tmp_path / "o2" / "summary.csv").read_bytes() == (tmp_path / "o1" / "summary.csv").read_bytes()
    with pytest.raises(ParamsError, match="day_start_hour"):
        actograms(store, ActogramParams(), tmp_path / "o3", day_start_hour=25)


def test_actograms_on_the_demo_store(tiny_store, tmp_path):
    from ethoflow.hbehave.store import list_cages, read_cage

    met = actograms(tiny_store, ActogramParams(bin_min=60, dpi=40), tmp_path / "o")
    cages = list_cages(tiny_store)
    assert met["figures"] == len(cages) == 3
    assert {p.name for p in (tmp_path / "o").glob("*.png")} == {actogram_name(c) for c in cages}
    table = pd.read_csv(tmp_path / "o" / "summary.csv")
    for cid, n_inv in zip(table["cage_id"], table["invalid_minutes"]):
        assert n_inv == int((~read_cage(tiny_store, cid).valid.any(1)).sum())


def test_params_and_stage(tmp_path, in_tmp):
    from stages.hbehave_actograms import main

    assert HBehaveParams().actogram == ActogramParams()
    with pytest.raises(ValueError, match="does not divide a day"):
        ActogramParams(bin_min=7)
    store = _small_store(tmp_path / "s.zarr", {"c1": {}})
    (tmp_path / "params.yaml").write_text(
        yaml.safe_dump(
            {"hbehave": {"heatmaps": {"day_start_hour": 6, "day_end_hour": 18}, "actogram": {"bin_min": 15, "dpi": 30}}}
        )
    )
    main(
        [
            "--params",
            str(tmp_path / "params.yaml"),
            "--store",
            str(store),
            "--out",
            "rep",
            "--summary",
            "rep/summary.json",
        ]
    )
    assert (in_tmp / "rep" / "actogram_c1.png").is_file()
    assert json.loads((in_tmp / "rep" / "summary.json").read_text())["invalid_minutes"] == 120


def test_actograms_on_the_shared_dam_file(shared_data, tmp_path):
    from ethoflow.hbehave.ingest import build_store
    from ethoflow.hbehave.params import ZarrParams
    from ethoflow.hbehave.store import read_cage

    store = tmp_path / "dam.zarr"
    build_store(
        ZarrParams(
            input_format="dam",
            input_dir=str(shared_data / "activity" / "dam"),
            summary_file=None,
            dam_layout="per_tube",
        ),
        store,
    )
    met = actograms(store, ActogramParams(bin_min=60, max_cages=1, dpi=30), tmp_path / "o")
    assert met["cages"] == 32 and met["figures"] == 1 and (tmp_path / "o" / "actogram_M014_ch01.png").is_file()
    table = pd.read_csv(tmp_path / "o" / "summary.csv")
    # the status-51 (no data) and status-24 readings at the start: 14:08-14:42 on 2017-06-30, every tube
    assert (table["invalid_minutes"] == 35).all() and (table["days"] == 4).all()
    rec = read_cage(store, "M014_ch05")
    d = actogram_data(rec.activity, rec.valid, rec.timestamps, "M014_ch05", 60)
    assert d.days[0] == "2017-06-30" and np.flatnonzero(d.invalid[0]).tolist() == list(range(848, 883))
    assert not d.recorded[0, :848].any() and d.recorded[1].all()
    # bars: per-hour mean counts per minute of that tube, from its own readings
    hour = (rec.timestamps >= np.datetime64("2017-07-01T20:00")) & (rec.timestamps < np.datetime64("2017-07-01T21:00"))
    np.testing.assert_allclose(d.activity[1, 20], rec.activity[hour, 0].mean(), rtol=1e-6)
