"""Split strategies never leak a tape; mined noise never overlaps any annotated event; determinism."""

import copy

import numpy as np
import pytest

from ethoflow.acoustic.data.variants import SPLITS, build_variant, draw_segment, free_gaps, write_variant
from ethoflow.acoustic.params import VariantParams
from ethoflow.core import InputError


def _overlaps(a, b, margin=0.0):
    return a[0] < b[1] + margin and a[1] > b[0] - margin


def test_free_gaps_keep_margin():
    gaps = free_gaps(10.0, [(2.0, 3.0), (2.5, 4.0), (8.0, 9.9)], 0.5)
    assert gaps == [(0.0, 1.5), (4.5, 7.5)]
    assert free_gaps(5.0, [], 1.0) == [(0.0, 5.0)]
    rng = np.random.default_rng(0)
    for _ in range(50):
        s = draw_segment(rng, gaps, 1.0)
        assert any(a <= s[0] and s[1] <= b for a, b in gaps)
    assert draw_segment(rng, gaps, 3.5) is None


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_noise_never_overlaps_any_event(demo_index, seed):
    index = copy.deepcopy(demo_index)
    # mark some events as other labels / ignored: mining must avoid them too
    for k, e in enumerate(index["events"]):
        if k % 3 == 0:
            e["role"], e["label"] = "ignored", None
    margin = 0.2
    df, vi = build_variant(index, VariantParams(split="random", seed=seed, noise_per_target=2.0, margin_s=margin), 0.4)
    noise = df[df.kind == "noise"]
    assert len(noise) > 0
    events = {}
    for e in index["events"]:
        events.setdefault(e["recording"], []).append((e["start_s"], e["end_s"]))
    for r in noise.itertuples():
        seg = (r.start_s, r.end_s)
        assert r.end_s - r.start_s >= 0.4 - 1e-6
        for ev in events.get(r.recording, []):
            assert not _overlaps(seg, ev, margin - 1e-6), (r.uid, seg, ev)
    # mined noise segments do not overlap each other either
    for _rec, g in noise.groupby("recording"):
        iv = sorted(zip(g.start_s, g.end_s))
        assert all(b[0] >= a[1] - 1e-9 for a, b in zip(iv, iv[1:]))


def test_noise_falls_back_to_other_recording_of_the_same_tape(demo_index):
    index = copy.deepcopy(demo_index)
    rec = index["events"][0]["recording"]
    tape = index["events"][0]["tape"]
    dur = next(r["duration_s"] for r in index["recordings"] if r["recording"] == rec)
    # fill the recording with an ignored event: no gap left there
    index["events"].append(
        dict(index["events"][0], uid=f"{rec}#99999", start_s=0.0, end_s=dur, role="ignored", label=None)
    )
    df, vi = build_variant(index, VariantParams(split="tape_exclusive", noise_per_target=1.0), 0.4)
    mined_for = df[(df.kind == "noise") & df.source_uid.str.startswith(rec + "#")]
    assert len(mined_for) > 0
    assert (mined_for.recording != rec).all() and (mined_for.tape == tape).all()
    assert vi.noise["n_from_other_recording"] >= len(mined_for)


def test_fractional_noise_per_target_is_a_bernoulli_draw(demo_index):
    n_t = sum(e["role"] == "target" for e in demo_index["events"])
    ns = []
    for seed in range(6):
        df, _ = build_variant(
            demo_index, VariantParams(split="random", seed=seed, noise_per_target=1.5, margin_s=0.0), 0.2
        )
        ns.append((df.kind == "noise").sum())
    ns = np.array(ns)
    assert ns.min() >= n_t and ns.max() <= 2 * n_t
    assert abs(ns.mean() / n_t - 1.5) < 0.2
    assert len(set(ns.tolist())) > 1  # the draws differ between seeds


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_tape_exclusive_never_leaks_a_tape(demo_index, seed):
    df, vi = build_variant(demo_index, VariantParams(split="tape_exclusive", seed=seed, noise_per_target=1.0), 0.4)
    tapes = {s: set(df[df.split == s].tape) for s in SPLITS}
    assert (
        not (tapes["train"] & tapes["val"])
        and not (tapes["train"] & tapes["test"])
        and not (tapes["val"] & tapes["test"])
    )
    assert all(tapes[s] for s in SPLITS)  # 3 tapes: one per split
    # noise rows stay on their target's tape and split
    for s in SPLITS:
        assert set(df[(df.split == s) & (df.kind == "noise")].tape) <= tapes[s]
    assert {vi.tape_roles[t] for t in tapes["test"]} == {"test"}


def test_benchmark_tapes_are_in_no_split(demo_index):
    bench = demo_index["recordings"][0]["tape"]
    for split in ("random", "quality_balanced", "tape_exclusive"):
        df, vi = build_variant(demo_index, VariantParams(split=split, benchmark_tapes=[bench]), 0.4)
        assert bench not in set(df.tape)
        assert vi.tape_roles[bench] == "benchmark"
    with pytest.raises(InputError, match="benchmark_tapes not in the corpus"):
        build_variant(demo_index, VariantParams(benchmark_tapes=["nope"]), 0.4)


def test_quality_balanced_keeps_quality_mix(demo_index):
    df, _ = build_variant(demo_index, VariantParams(split="quality_balanced", seed=0), 0.4)
    t = df[df.kind == "target"]
    for q, g in t.groupby("quality"):
        if len(g) >= 6:  # every level with enough events reaches every split
            assert set(g.split) == set(SPLITS), q


def test_same_seed_same_bytes(demo_index, tmp_path):
    for k in ("a", "b"):
        df, vi = build_variant(demo_index, VariantParams(seed=5, noise_per_target=1.5), 0.4)
        write_variant(tmp_path / k, df, vi, demo_index)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert len(files) > 5
    for f in files:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f
    df2, _ = build_variant(demo_index, VariantParams(seed=6, noise_per_target=1.5), 0.4)
    assert not df2.equals(df)


def test_selection_tables_read_back_with_crowsetta(demo_index, tmp_path):
    import crowsetta

    df, vi = build_variant(demo_index, VariantParams(), 0.4)
    write_variant(tmp_path, df, vi, demo_index)
    rec = demo_index["recordings"][0]["recording"]
    raven = crowsetta.Transcriber(format="raven").from_file(tmp_path / "selections" / f"{rec}.Table.1.selections.txt")
    sub = df[df.recording == rec].sort_values("start_s")
    np.testing.assert_allclose(raven.df.begin_time_s, sub.start_s, atol=1e-6)
    assert list(raven.df.annotation) == list(sub.label)


def test_ground_truth_tables_keep_the_annotated_frequency_band(demo_index, tmp_path):
    import pandas as pd

    df, vi = build_variant(demo_index, VariantParams(split="tape_exclusive", noise_per_target=1.0), 0.4)
    write_variant(tmp_path, df, vi, demo_index)
    ev = {(e["recording"], round(e["start_s"], 6)): e for e in demo_index["events"]}
    rec = demo_index["recordings"][0]["recording"]
    t = pd.read_csv(tmp_path / "selections" / f"{rec}.Table.1.selections.txt", sep="\t")
    calls = t[t.kind == "target"]
    assert len(calls) and (t[t.kind == "noise"]["Low Freq (Hz)"] == 0.0).all()  # mined noise: no band
    for r in calls.itertuples():
        e = ev[(rec, round(r._4, 6))]
        assert r._6 == pytest.approx(e["low_hz"], abs=0.05) and r._7 == pytest.approx(e["high_hz"], abs=0.05)
