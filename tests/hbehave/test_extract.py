"""hbehave_extract: token-to-minute spreading, window starts, equality with a per-minute reference,
architecture mismatch, output files without pickles; heatmaps and coverage table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from ethoflow.core.errors import ParamsError
from ethoflow.hbehave.extract import embed_cage, extract, load_embeddings, load_model, spread_tokens, window_starts
from ethoflow.hbehave.model import build_model
from ethoflow.hbehave.params import ExtractParams, HeatmapParams, ModelParams
from ethoflow.hbehave.plots import heatmaps, is_day
from tests.fixtures.tiny import HBEHAVE_MODEL


def _tiny_model():
    """The tests' 3-level hBehaveMAE (8-dim first level, 4 h windows), in eval mode."""
    return build_model(ModelParams(**HBEHAVE_MODEL)).eval()


def test_spread_tokens_covers_each_minute_once():
    sums = np.zeros((20, 2))
    tok = np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0]])
    spread_tokens(tok, 5, 3, sums)
    assert (sums[:3] == 0).all() and (sums[18:] == 0).all()
    np.testing.assert_array_equal(sums[3:8, 0], 1.0)
    np.testing.assert_array_equal(sums[8:13, 1], 20.0)
    np.testing.assert_array_equal(sums[13:18, 0], 3.0)


def test_window_starts_cover_all_minutes():
    assert window_starts(1000, 240, 120) == [0, 120, 240, 360, 480, 600, 720, 760]
    assert window_starts(240, 240, 60) == [0]
    assert window_starts(100, 240, 60) == [0]
    for m, w, s in [(1000, 240, 120), (4320, 1440, 360), (777, 60, 7)]:
        st = window_starts(m, w, s)
        cover = np.zeros(m, int)
        for a in st:
            cover[a : a + w] += 1
        assert (cover > 0).all() and max(st) + w == m


def _reference_minute(model, x, window, starts, minute):
    """Naive per-minute definition: embed every window covering ``minute`` again, average the covering tokens."""
    outs = None
    n = 0
    for s in starts:
        if s <= minute < s + window:
            lv = model.embed(torch.from_numpy(x[s : s + window]).reshape(1, 1, window, 1, x.shape[1]))
            toks = [e[0, (minute - s) // m].numpy() for e, m in zip(lv, model.arch.minutes_per_token)]
            outs = toks if outs is None else [a + b for a, b in zip(outs, toks)]
            n += 1
    return [o / n for o in outs]


def test_strided_spreading_equals_per_minute_reference():
    torch.manual_seed(0)
    m = _tiny_model()
    x = np.random.default_rng(0).normal(size=(700, 4)).astype(np.float32)
    levels = embed_cage(m, x, 240, 60, batch_size=3)
    assert [lv.shape for lv in levels] == [(700, 8), (700, 16), (700, 32)]
    starts = window_starts(700, 240, 60)
    for minute in (0, 59, 61, 333, 460, 699):
        ref = _reference_minute(m, x, 240, starts, minute)
        for lv, r in zip(levels, ref):
            np.testing.assert_allclose(lv[minute], r, rtol=1e-5, atol=1e-6)
    # stride = window: each minute gets exactly its one window's token (no averaging)
    one = embed_cage(m, x[:480], 240, 240)
    tok = m.embed(torch.from_numpy(x[240:480]).reshape(1, 1, 240, 1, 4))
    np.testing.assert_allclose(one[2][240:480], np.repeat(tok[2][0].numpy(), 60, 0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(one[0][240:480], np.repeat(tok[0][0].numpy(), 5, 0), rtol=1e-5, atol=1e-6)


def test_short_cage_is_padded():
    m = _tiny_model()
    out = embed_cage(m, np.zeros((100, 4), np.float32), 240, 60)
    assert out[0].shape == (100, 8) and np.isfinite(out[0]).all()


@pytest.fixture
def trained(tiny_hbehave_model):
    return tiny_hbehave_model


def test_extract_outputs_and_mismatch(trained, tiny_store, tmp_path):
    model_path, mp = trained
    cfg = ExtractParams(aggregations={"4h": 240, "8h": 480}, window_stride_min=120, batch_size=4)
    met = extract(model_path, tiny_store, "4h", cfg, tmp_path / "emb", model_params=mp)
    assert (
        met["cages"] == 3
        and met["rows"] == 3 * 1440
        and met["dims"] == {"level1": 8, "level2": 16, "level3": 32, "comb": 56}
    )
    for lvl in ("level1", "level2", "level3", "comb"):
        with np.load(tmp_path / "emb" / f"embeddings_4h_{lvl}.npz", allow_pickle=False) as z:
            assert z["embeddings"].dtype == np.float32 and z["embeddings"].shape[0] == 4320
            assert z["timestamps"].dtype == np.dtype("datetime64[m]")
    e = load_embeddings(tmp_path / "emb" / "embeddings_4h_comb.npz")
    assert e["frame_map"] == {"cage01": (0, 1440), "cage02": (1440, 2880), "cage03": (2880, 4320)}
    lv1 = load_embeddings(tmp_path / "emb" / "embeddings_4h_level1.npz")["embeddings"]
    np.testing.assert_array_equal(e["embeddings"][:, :8], lv1)
    idx = pd.read_parquet(tmp_path / "emb" / "index_4h.parquet")
    assert len(idx) == 4320 and list(idx["row"][:2]) == [0, 1] and idx["cage_id"].iloc[-1] == "cage03"
    assert not (tmp_path / "emb" / ".parts").exists()
    # longer context window (a multiple of the mask unit span)
    met8 = extract(model_path, tiny_store, "8h", cfg, tmp_path / "emb8", model_params=mp)
    assert met8["rows"] == 4320
    # params that no longer describe the checkpoint: a clear error
    other = ModelParams(**{**mp.model_dump(), "init_embed_dim": 16})
    with pytest.raises(ParamsError, match="init_embed_dim|dims"):
        load_model(model_path, other)
    with pytest.raises(ParamsError, match="no 'nope'"):
        extract(model_path, tiny_store, "nope", cfg, tmp_path / "x", model_params=mp)
    # heatmaps + coverage table
    hm = heatmaps(tmp_path / "emb", "4h", HeatmapParams(max_cages=2, max_dims=8), tmp_path / "hm")
    assert hm["figures"] == 2 * 4 * 2 and (tmp_path / "hm" / "heatmap_4h_comb_cage01_DAY.png").stat().st_size > 1000
    assert (tmp_path / "hm" / "heatmap_4h_comb_cage01_NIGHT.png").stat().st_size > 1000
    table = pd.read_csv(tmp_path / "hm" / "summary.csv")
    assert list(table["cage_id"]) == ["cage01", "cage02", "cage03"]
    assert (table["rows"] == 1440).all() and (table["day_minutes"] == 720).all()
    assert (table["minutes_covered"] <= table["rows"]).all() and table["fraction_valid"].between(0, 1).all()


def test_is_day():
    ts = np.datetime64("2024-01-01T00:00") + np.arange(1440).astype("timedelta64[m]")
    d = is_day(ts)
    assert d.sum() == 720 and d[7 * 60] and not d[7 * 60 - 1] and not d[19 * 60]
    n = is_day(ts, 20, 8)
    assert n[0] and n[20 * 60] and not n[12 * 60]
    half = is_day(ts, 6.5, 18.5)  # 06:30-18:30
    assert half.sum() == 720 and half[6 * 60 + 30] and not half[6 * 60 + 29] and not half[18 * 60 + 30]
    assert is_day(ts, 0, 24).all() and not is_day(ts, 24, 0).any()
    with pytest.raises(ParamsError, match="day_start_hour"):
        is_day(ts, 25, 8)
    with pytest.raises(ParamsError, match="both 7"):
        is_day(ts, 7, 7)


def test_heatmap_day_hours_params():
    """Hours as numbers (floats allowed, 0-24); the old HH:MM keys fail naming the new key."""
    from ethoflow.core.params import validate_section

    assert HeatmapParams(day_start_hour=6.5, day_end_hour=18).day_start_hour == 6.5
    for bad in (
        {"day_start_hour": 24.5},
        {"day_end_hour": -1},
        {"day_start_hour": "07:00"},
        {"day_start_hour": 8, "day_end_hour": 8},
    ):
        with pytest.raises(ParamsError, match=r"p.yaml: hbehave.heatmaps"):
            validate_section(bad, HeatmapParams, "p.yaml", "hbehave.heatmaps")
    with pytest.raises(ParamsError, match=r"hbehave.heatmaps.day_end: unknown key \(renamed: use day_end_hour"):
        validate_section({"day_end": "19:00"}, HeatmapParams, "p.yaml", "hbehave.heatmaps")


def test_extraction_uses_the_training_statistics(trained, tiny_store, tmp_path):
    """The array-task body normalises with the checkpoint's statistics (= the store's, fitted on train cages)."""
    from ethoflow.hbehave.extract import embed_cage_to_file
    from ethoflow.hbehave.store import normalise, read_cage, read_normalisation

    model_path, _ = trained
    model, meta = load_model(model_path)
    assert meta["normalisation"] == read_normalisation(tiny_store)
    cfg = ExtractParams(aggregations={"4h": 240}, window_stride_min=120)
    part = embed_cage_to_file(
        str(model_path), str(tiny_store), "cage02", 240, cfg.model_dump(), str(tmp_path / "p.npz")
    )
    rec = read_cage(tiny_store, "cage02")
    ref = embed_cage(model, normalise(rec.activity, rec.valid, meta["normalisation"]), 240, 120)
    raw = embed_cage(model, np.nan_to_num(rec.activity), 240, 120)
    with np.load(part, allow_pickle=False) as z:
        np.testing.assert_allclose(z["level2"], ref[1], rtol=1e-6, atol=1e-6)
        assert not np.allclose(z["level2"], raw[1], atol=1e-3)
        np.testing.assert_allclose(z["valid"], rec.valid.mean(1))


@pytest.mark.parametrize("precision,tol", [("bf16", 0.2), ("fp16", 0.05)])
def test_reduced_precision_close_to_fp32(precision, tol):
    m = _tiny_model()
    x = np.random.default_rng(0).normal(size=(500, 4)).astype(np.float32)
    ref = embed_cage(m, x, 240, 60, precision="fp32")
    out = embed_cage(m, x, 240, 60, precision=precision)
    for a, b in zip(out, ref):
        assert a.dtype == np.float32 and np.abs(a - b).max() < tol


def test_extract_stage_runs_cages_as_a_job_array_through_submitit(trained, tiny_store, in_tmp):
    """The stage sends one task per cage through dispatch.map_array; the debug executor pickles each
    task like Slurm would, and the result equals the in-process extraction."""
    from ethoflow.hbehave.params import HBehaveParams
    from ethoflow.hbehave.stages import run_hbehave_extract

    model_path, mp = trained
    cfg = ExtractParams(aggregations={"4h": 240}, window_stride_min=240)
    local = extract(model_path, tiny_store, "4h", cfg, in_tmp / "a", model_params=mp)
    params = in_tmp / "compute.yaml"
    params.write_text("compute:\n  executor: debug\n")
    dbg = run_hbehave_extract(
        HBehaveParams(model=mp, extract=cfg),
        agg="4h",
        model=model_path,
        store=tiny_store,
        out=in_tmp / "b",
        summary=in_tmp / "b" / "summary.json",
        work_dir=in_tmp / "work",
        params_path=str(params),
    )
    assert local["rows"] == dbg["rows"] == 4320 and dbg["model"]["format"] == "ethoflow"
    assert list((in_tmp / ".ethoflow" / "jobs").iterdir()), "tasks went through submitit"
    for lvl in ("level1", "comb"):
        a = load_embeddings(in_tmp / "a" / f"embeddings_4h_{lvl}.npz")["embeddings"]
        b = load_embeddings(in_tmp / "b" / f"embeddings_4h_{lvl}.npz")["embeddings"]
        np.testing.assert_array_equal(a, b)


def test_demo_start_accepts_an_unquoted_yaml_timestamp(tmp_path):
    """`start: 2024-03-04 00:00:00` unquoted is a YAML timestamp; it reads as the documented text."""
    from ethoflow.core.params import load_section
    from ethoflow.hbehave.params import DemoParams

    p = tmp_path / "params.yaml"
    p.write_text("hbehave:\n  demo:\n    start: 2024-03-04 06:30:00\n")
    assert load_section("hbehave.demo", DemoParams, p).start == "2024-03-04 06:30"
    p.write_text("hbehave:\n  demo:\n    start: 2024-03-04\n")
    assert load_section("hbehave.demo", DemoParams, p).start == "2024-03-04 00:00"
