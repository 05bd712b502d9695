"""vae_snips: snips cut from the activity store into df02 (ids, night flag, QC flags)."""

import numpy as np
import pandas as pd
import pytest

from ethoflow.core.errors import InputError
from ethoflow.vae.params import SnipParams
from ethoflow.vae.snips import (
    DF02_COLUMNS,
    build_df02,
    cage_snips,
    is_night,
    load_snip_arrays,
    make_snip_id,
    read_df02,
    write_df02,
)
from tests.vae.helpers import make_store


def test_snip_id_format():
    assert make_snip_id("20240418", "cage01", 7) == "20240418_cage01_t0007"
    assert make_snip_id("expA", "M014_ch03", 12345) == "expA_M014_ch03_t12345"


def test_is_night_light_phase_and_wrap():
    ts = np.array(["2024-01-01T06:59", "2024-01-01T07:00", "2024-01-01T18:59", "2024-01-01T19:00"], "datetime64[m]")
    assert is_night(ts, 7, 19).tolist() == [True, False, False, True]
    # light phase wrapping midnight (lights on 20:00, off 08:00)
    assert is_night(ts, 20, 8).tolist() == [False, False, True, True]
    # fractional hours: lights on at 06:30
    assert is_night(ts, 6.5, 19).tolist() == [False, False, False, True]


def test_snip_day_hours_same_rule_as_hbehave():
    """vae.snips and hbehave.heatmaps share key names, type and rule (is_night == ~is_day)."""
    import pytest
    from pydantic import ValidationError

    from ethoflow.hbehave.plots import is_day

    ts = np.datetime64("2024-01-01T00:00") + np.arange(1440).astype("timedelta64[m]")
    for a, b in ((7, 19), (20, 8), (6.5, 18.25), (0, 24)):
        assert (is_night(ts, a, b) == ~is_day(ts, a, b)).all()
    for bad in ({"day_start_hour": "07:00"}, {"day_end_hour": 25}, {"day_start_hour": 19}):
        with pytest.raises(ValidationError):
            SnipParams(**bad)


def test_df02_from_store(tmp_path):
    store = make_store(tmp_path / "a.zarr", minutes=600)
    cfg = SnipParams(snip_len=60, snip_stride=60, min_frac_valid=0.8)
    df = build_df02(store, cfg)
    assert list(df.columns) == DF02_COLUMNS
    assert len(df) == 3 * 10
    c1 = df[df.cage_id == "C1"].reset_index(drop=True)
    assert c1.snip_id.tolist()[:3] == ["expA_C1_t0000", "expA_C1_t0001", "expA_C1_t0002"]
    assert c1.start_minute.tolist() == list(range(0, 600, 60))
    assert (c1.end_time - c1.start_time).eq(pd.Timedelta(minutes=60)).all()
    # C1 has a gap at minutes 120-210: snips 2 (120-180) fully missing, 3 (180-240) half
    assert c1.frac_valid.tolist()[:5] == pytest.approx([1.0, 1.0, 0.0, 0.5, 1.0])
    assert c1.use_snip_flag.tolist()[:5] == [True, True, False, False, True]
    assert set(df.experiment_date) == {"expA", "expB"}
    assert df.loc[df.cage_id == "C2", "strain"].iloc[0] == "BALB"
    assert df.loc[df.cage_id == "C3", "age"].iloc[0] == 11
    # 00:00-10:00: snips starting before 07:00 are night
    assert c1.is_night.tolist() == [True] * 7 + [False] * 3


def test_stride_overlap_and_short_cage(tmp_path):
    store = make_store(tmp_path / "a.zarr", minutes=100, cages={"X": {}})
    df = build_df02(store, SnipParams(snip_len=40, snip_stride=20))
    assert df.start_minute.tolist() == [0, 20, 40, 60]
    assert df.experiment_date.iloc[0] == "20240101"  # no experiment attr: date of the first minute
    with pytest.raises(InputError, match="snip_len=200"):
        build_df02(store, SnipParams(snip_len=200))


def test_zero_fraction_qc():
    act = np.zeros((60, 2), np.float32)
    act[:6] = 1.0
    valid = np.ones_like(act, bool)
    ts = np.datetime64("2024-01-01T12:00") + np.arange(60).astype("timedelta64[m]")
    df = cage_snips("K", act, valid, ts, {}, SnipParams(snip_len=30, snip_stride=30, max_frac_zero=0.9))
    assert df.frac_zero.tolist() == pytest.approx([0.8, 1.0])
    assert df.use_snip_flag.tolist() == [True, False]


def test_write_read_and_arrays(tmp_path):
    store = make_store(tmp_path / "a.zarr", minutes=300)
    df = build_df02(store, SnipParams(snip_len=60))
    write_df02(df, tmp_path / "df02.parquet", tmp_path / "df02.csv")
    back = read_df02(tmp_path / "df02.parquet")
    pd.testing.assert_frame_equal(back, df)
    assert read_df02(tmp_path / "df02.csv").snip_id.tolist() == df.snip_id.tolist()
    x, m = load_snip_arrays(store, df, 60)
    assert x.shape == (len(df), 60, 4) and m.shape == x.shape
    assert np.isnan(x[~m]).all() and np.isfinite(x[m]).all()
    r = df.index[(df.cage_id == "C1") & (df.time_int == 3)][0]
    assert m[r, :30].sum() == 0 and m[r, 30:].all()
    with pytest.raises(InputError, match="differ from the model"):
        load_snip_arrays(store, df, 60, channels=["a"])
