"""acoustic learning curve: nested seeded subsets of training recordings by audio duration, the variant cut
to them, and the curve/headline/evaluation index gathered from the points (training itself: `make repro`)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from ethoflow.acoustic.training.learning_curve import (
    choose_recordings,
    heldout_scores,
    parse_duration,
    subset_variant,
    summarise,
)
from ethoflow.core.errors import InputError

DURS = {f"r{i}": 20.0 for i in range(8)}


def test_subsets_reach_the_duration_and_are_nested_per_seed():
    sets = {d: choose_recordings(DURS, d, seed=1) for d in (40, 80, 120, None)}
    assert [len(sets[d]) for d in (40, 80, 120, None)] == [2, 4, 6, 8]
    assert sets[40] == sets[80][:2] and sets[80] == sets[120][:4] and sets[120] == sets[None][:6]
    assert choose_recordings(DURS, 50, seed=1) == sets[80][:3]  # whole recordings until 50 s is reached
    assert choose_recordings(DURS, 40, seed=2) != sets[40]  # another seed, another order
    assert choose_recordings(DURS, 1, seed=0) and len(choose_recordings(DURS, 1, seed=0)) == 1


def test_durations_are_seconds_or_all():
    assert parse_duration("all") is None and parse_duration(30) == 30.0 and parse_duration("60") == 60.0
    with pytest.raises(InputError, match="'-5': must be > 0 seconds"):
        parse_duration("-5")
    with pytest.raises(InputError, match="'lots': a number of seconds or 'all'"):
        parse_duration("lots")


def test_subset_variant_keeps_only_the_chosen_recordings_training_segments(tmp_path):
    vdir = tmp_path / "v"
    vdir.mkdir()
    pd.DataFrame({"uid": ["a", "b", "c"], "recording": ["r0", "r1", "r0"], "split": "train"}).to_csv(
        vdir / "train.csv", index=False
    )
    for name in ("val.csv", "test.csv", "variant_index.json"):
        (vdir / name).write_text("x")
    assert subset_variant(vdir, ["r0"], tmp_path / "s") == 2
    assert list(pd.read_csv(tmp_path / "s/train.csv").uid) == ["a", "c"]
    assert (tmp_path / "s/val.csv").read_text() == "x"
    with pytest.raises(InputError, match="train.csv: no training segment in recordings"):
        subset_variant(vdir, ["r9"], tmp_path / "t")


def _metrics(f1, method="hungarian"):
    counts = {"f1": f1, "precision": f1, "recall": f1, "tp": 5, "fp": 1, "fn": 2}
    return {"variant": "v1", "setting": "default", "layer": "cnn", "groups": {"heldout": {method: counts}}}


def test_summarise_writes_curve_headline_and_evaluation_index(tmp_path):
    points = tmp_path / "points"
    for dur, dur_s, f1s in (("40", 40.0, (0.2, 0.4, 0.3)), ("all", 160.0, (0.8, 0.9, 0.7))):
        for seed, f1 in enumerate(f1s):
            d = points / f"{dur}-{seed}"
            (d / "evaluation").mkdir(parents=True)
            (d / "evaluation/metrics.json").write_text(json.dumps(_metrics(f1)))
            point = {"duration": dur, "duration_s": dur_s, "seed": seed, "f1": f1, "recordings": ["r"]}
            (d / "point.json").write_text(json.dumps(point))
    det = tmp_path / "detections/v1-default"
    det.mkdir(parents=True)
    (det / "metrics.json").write_text(json.dumps(_metrics(0.85, "greedy")))
    (det / "per_tape.csv").write_text("x")
    head = summarise(points, tmp_path / "out", tmp_path / "evaluation/index.json", [str(tmp_path / "detections")])
    assert list(head) == ["40", "all"]
    assert head["40"]["f1_mean"] == pytest.approx(0.3) and head["40"]["f1_min"] == 0.2 and head["all"]["seeds"] == 3
    assert head["all"]["f1_sd"] == pytest.approx(0.1) and head["all"]["duration_s"] == 160.0
    assert len(pd.read_csv(tmp_path / "out/curve.csv")) == 6
    assert (tmp_path / "out/learning_curve.png").stat().st_size > 5000
    index = json.loads((tmp_path / "evaluation/index.json").read_text())["evaluations"]
    assert len(index) == 7
    first = index[0]
    assert first["evaluation"].endswith("detections/v1-default") and first["files"] == ["metrics.json", "per_tape.csv"]
    assert first["heldout"]["f1"] == 0.85


def test_heldout_scores_prefer_hungarian_and_tolerate_no_heldout_tapes():
    both = {"groups": {"heldout": {"greedy": _metrics(0.1)["groups"]["heldout"]["hungarian"],
                                   "hungarian": _metrics(0.2)["groups"]["heldout"]["hungarian"]}}}  # fmt: skip
    assert heldout_scores(both)["f1"] == 0.2
    assert heldout_scores({"groups": {"heldout": {}}})["f1"] == 0.0
