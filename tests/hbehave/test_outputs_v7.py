"""Outputs the hBehaveMAE v7 extraction script's users can load: its documented post-processing snippet
runs unchanged on our npz (checked against the pickle-free Parquet index), pickle-free readers still
read every other array, and heatmaps carry the script's names (``heatmap_{agg}_{level}_{cage}_DAY.png``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ethoflow.hbehave.extract import extract, load_embeddings
from ethoflow.hbehave.params import ExtractParams, HeatmapParams
from ethoflow.hbehave.plots import heatmap_name, heatmaps

LEVELS = ("level1", "level2", "level3", "comb")


@pytest.fixture(scope="module")
def emb_dir(tiny_hbehave_model, tiny_store, tmp_path_factory):
    d = tmp_path_factory.mktemp("hb_v7")
    model, mp = tiny_hbehave_model
    extract(
        model,
        tiny_store,
        "4h",
        ExtractParams(aggregations={"4h": 240}, window_stride_min=120, batch_size=4),
        d / "emb",
        model_params=mp,
    )
    return d / "emb"


def _v7_snippet(path, start_night: str, end_night: str):
    """The v7 README's post-processing example, as written there (only the path and the night are arguments)."""
    # Load the data
    data = np.load(path, allow_pickle=True)
    embeddings = data["embeddings"]
    timestamps = data["timestamps"]
    frame_map = data["frame_map"].item()

    # Create a DataFrame for easy filtering
    df = pd.DataFrame(embeddings)
    df["timestamp"] = timestamps

    # Filter for a specific night
    start_night = pd.to_datetime(start_night)
    end_night = pd.to_datetime(end_night)

    night_df = df[(df["timestamp"] >= start_night) & (df["timestamp"] < end_night)]
    nocturnal_embeddings = night_df.drop(columns=["timestamp"]).values
    return embeddings, timestamps, frame_map, nocturnal_embeddings


def test_v7_snippet_runs_on_our_npz(emb_dir):
    idx = pd.read_parquet(emb_dir / "index_4h.parquet")
    for level in LEVELS:
        emb, ts, frame_map, night = _v7_snippet(
            emb_dir / f"embeddings_4h_{level}.npz", "2024-03-04 19:00:00", "2024-03-05 07:00:00"
        )
        # frame_map: a dict cage_id -> slice of rows, the rows the Parquet index gives each cage
        assert isinstance(frame_map, dict) and sorted(frame_map) == sorted(idx["cage_id"].unique())
        for cid, sl in frame_map.items():
            assert type(cid) is str and isinstance(sl, slice) and sl.step is None
            rows = idx.loc[idx["cage_id"] == cid, "row"].to_numpy()
            assert (sl.start, sl.stop) == (rows.min(), rows.max() + 1) and len(rows) == sl.stop - sl.start
            assert len(emb[sl]) == len(rows)
        # timestamps: datetime64, one per row, equal to the index's
        assert np.issubdtype(ts.dtype, np.datetime64) and ts.shape == (len(emb),) == (len(idx),)
        np.testing.assert_array_equal(ts.astype("datetime64[ns]"), idx["timestamp"].to_numpy())
        # the night filter selects the index's rows of that window (3 demo cages x 19:00-24:00 on day 1)
        win = (idx["timestamp"] >= "2024-03-04 19:00") & (idx["timestamp"] < "2024-03-05 07:00")
        assert night.shape == (3 * 300, emb.shape[1]) and int(win.sum()) == 3 * 300
        np.testing.assert_array_equal(night, emb[idx.loc[win, "row"].to_numpy()])


def test_pickle_free_readers_read_every_other_array(emb_dir):
    for level in LEVELS:
        path = emb_dir / f"embeddings_4h_{level}.npz"
        with np.load(path, allow_pickle=False) as z:
            assert set(z.files) == {"embeddings", "timestamps", "valid", "cage_rows", "frame_map"}
            arrays = {k: z[k] for k in ("embeddings", "timestamps", "valid", "cage_rows")}
            with pytest.raises(ValueError, match="allow_pickle"):
                z["frame_map"]  # only the v7 dict is pickled
        rows = arrays["cage_rows"]
        assert rows.dtype.names == ("cage_id", "start", "stop") and list(rows["cage_id"]) == [
            "cage01",
            "cage02",
            "cage03",
        ]
        with np.load(path, allow_pickle=True) as z:
            fm = z["frame_map"].item()
        assert {str(r["cage_id"]): slice(int(r["start"]), int(r["stop"])) for r in rows} == fm
        e = load_embeddings(path)
        assert e["frame_map"] == {c: (s.start, s.stop) for c, s in fm.items()}
        np.testing.assert_array_equal(e["embeddings"], arrays["embeddings"])


def test_load_embeddings_reads_files_written_before_the_v7_map(tmp_path):
    old = np.array([("c1", 0, 2), ("c2", 2, 5)], dtype=[("cage_id", "U8"), ("start", "i8"), ("stop", "i8")])
    ts = np.datetime64("2024-01-01T00:00") + np.arange(5).astype("timedelta64[m]")
    np.savez_compressed(
        tmp_path / "e.npz",
        embeddings=np.zeros((5, 2), np.float32),
        timestamps=ts,
        valid=np.ones(5, np.float32),
        frame_map=old,
    )
    assert load_embeddings(tmp_path / "e.npz")["frame_map"] == {"c1": (0, 2), "c2": (2, 5)}


def test_heatmaps_named_as_v7_with_a_progress_bar(emb_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ETHOFLOW_PROGRESS", "1")
    met = heatmaps(emb_dir, "4h", HeatmapParams(max_cages=2, max_dims=8, dpi=40), tmp_path / "hm")
    err = capsys.readouterr().err
    assert "heatmaps 4h" in err and "16/16" in err
    want = {heatmap_name("4h", lv, c, ph) for lv in LEVELS for c in ("cage01", "cage02") for ph in ("DAY", "NIGHT")}
    assert "heatmap_4h_level1_cage01_DAY.png" in want and "heatmap_4h_comb_cage02_NIGHT.png" in want
    assert {p.name for p in (tmp_path / "hm").glob("*.png")} == want and met["figures"] == 16
    assert all((tmp_path / "hm" / n).stat().st_size > 1000 for n in want)
    # deterministic bytes (no Software tag, no timestamps)
    monkeypatch.setenv("ETHOFLOW_PROGRESS", "0")
    heatmaps(emb_dir, "4h", HeatmapParams(max_cages=1, max_dims=8, dpi=40), tmp_path / "hm2")
    for n in (p.name for p in (tmp_path / "hm2").glob("*.png")):
        assert (tmp_path / "hm2" / n).read_bytes() == (tmp_path / "hm" / n).read_bytes(), n
