"""Threshold and clean-up chosen on validation tapes (never test tapes), used by evaluation and detection
sets; adjacent song bouts 0.3-0.4 s apart stay separate detections."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ethoflow.acoustic.evaluation.chaining import chain_windows, merge_intervals
from ethoflow.acoustic.evaluation.matching import match_hungarian
from ethoflow.acoustic.evaluation.postprocess import choose_postprocess, detection_postprocess
from ethoflow.acoustic.frontend.spectrogram import window_starts
from ethoflow.acoustic.params import AcousticParams, EvaluateParams
from ethoflow.core import InputError, ParamsError, write_json

AUTO = dict(threshold="auto", min_gap_s="auto", min_dur_s="auto")
#: a small grid (60 combinations instead of 380) keeps the choice tests fast
SMALL = dict(thresholds=[0.2, 0.3, 0.4, 0.5, 0.6], min_gap_s=[0.0, 0.05, 0.1, 0.2], min_dur_s=[0.0, 0.05, 0.1])
#: pairs of bouts 0.3, 0.35 and 0.4 s apart (s)
BOUTS = [(1.0, 2.0), (2.3, 3.0), (4.0, 4.8), (5.15, 6.0), (7.0, 7.6), (8.0, 9.0)]


def _windows(bouts, duration_s=10.0, seq_len_s=0.4, hop_s=0.1) -> pd.DataFrame:
    """A window classifier's probability curve: each window's probability is the share of it covered by
    bouts (what a perfect ResNet window score would look like), as ``acoustic_predict`` writes rows."""
    s = window_starts(duration_s, seq_len_s, hop_s)
    e = np.minimum(s + seq_len_s, duration_s)
    cover = sum(np.clip(np.minimum(e, b) - np.maximum(s, a), 0, None) for a, b in bouts)
    prob = np.clip(cover / (e - s), 1e-4, 1 - 1e-4)
    return pd.DataFrame({"start_s": s, "end_s": e, "prob": prob, "logit": np.log(prob / (1 - prob)), "label": "call"})


def _tape(name: str, bouts, **kw) -> tuple[pd.DataFrame, pd.DataFrame]:
    w = _windows(bouts, **kw).assign(tape=name, recording=f"{name}_r1")
    g = pd.DataFrame(
        [
            {"uid": f"{name}{i}", "recording": f"{name}_r1", "tape": name, "start_s": a, "end_s": b}
            for i, (a, b) in enumerate(bouts)
        ]
    )
    return w, g


def test_merge_short_gaps_then_drop_short_events():
    s = np.array([0.0, 0.5, 0.65, 2.0, 3.0])
    e = np.array([0.5, 0.6, 0.9, 2.05, 3.5])
    st, en, grp = merge_intervals(s, e)
    assert st.tolist() == [0.0, 0.65, 2.0, 3.0] and grp.tolist() == [0, 0, 1, 2, 3]
    st, en, grp = merge_intervals(s, e, min_gap_s=0.05, min_dur_s=0.1)
    assert list(zip(st, en)) == [(0.0, 0.9), (3.0, 3.5)] and grp.tolist() == [0, 0, 0, -1, 1]
    # merging comes first: two 0.06 s pieces 0.02 s apart survive min_dur_s 0.1 as one event
    st, en, _ = merge_intervals(np.array([0.0, 0.08]), np.array([0.06, 0.14]), min_gap_s=0.05, min_dur_s=0.1)
    assert list(zip(st, en)) == [(0.0, 0.14)]


@pytest.mark.parametrize("hop_s", [0.1, 0.05])
def test_adjacent_bouts_03_to_04_s_apart_come_out_as_separate_detections(hop_s):
    w = _windows(BOUTS, hop_s=hop_s)
    d = chain_windows(w, 0.5, hop_s, "center", min_gap_s=0.1, min_dur_s=0.05)
    assert len(d) == 6
    pairs = match_hungarian(np.array(BOUTS), d[["start_s", "end_s"]].to_numpy(), 0.4)
    assert len(pairs) == 6 and min(v for _, _, v in pairs) > 0.8
    # the test can fail: a merge gap above the bouts' gaps joins each pair
    assert len(chain_windows(w, 0.5, hop_s, "center", min_gap_s=0.6)) == 3


def test_auto_clean_up_chosen_on_validation_tapes_keeps_adjacent_bouts_apart():
    val_w, val_g = _tape("V", BOUTS)
    test_w, test_g = _tape("T", [(a + 0.1, b + 0.1) for a, b in BOUTS])
    pred, gt = pd.concat([val_w, test_w]), pd.concat([val_g, test_g])
    post = choose_postprocess(pred, gt, {"V": "val", "T": "test"}, 0.1, EvaluateParams(**AUTO))
    assert post["auto"] == ["threshold", "min_gap_s", "min_dur_s"] and post["val_tapes"] == ["V"]
    assert post["val_f1"] == 1.0 and post["min_gap_s"] < 0.3
    d = chain_windows(test_w, post["threshold"], 0.1, "center", post["min_gap_s"], post["min_dur_s"])
    assert len(d) == 6


def test_auto_values_come_from_validation_tapes_never_from_test_tapes():
    # val tape: three true bouts plus short, weak blips (false alarms above 0.3, below 0.6)
    val_w, val_g = _tape("V", [(1.0, 2.0), (4.0, 5.0), (7.0, 8.0)])
    blip = (val_w.start_s >= 5.6) & (val_w.start_s <= 5.7)
    val_w.loc[blip, "prob"] = 0.45
    test_w, test_g = _tape("T", [(1.0, 2.0), (4.0, 5.0)])
    roles = {"V": "val", "T": "test"}
    ev = EvaluateParams(threshold="auto", min_gap_s=0.1, min_dur_s=0.0, min_val_events=0, tolerance_se=0)
    post = choose_postprocess(pd.concat([val_w, test_w]), pd.concat([val_g, test_g]), roles, 0.1, ev)
    assert post["threshold"] > 0.45 and post["auto"] == ["threshold"]
    assert (post["min_gap_s"], post["min_dur_s"]) == (0.1, 0.0)  # fixed keys stay
    # whatever the test tape holds, the choice is the same
    noisy = test_w.assign(prob=np.where(test_w.start_s > 6, 0.99, test_w.prob))
    again = choose_postprocess(pd.concat([val_w, noisy]), pd.concat([val_g, test_g]), roles, 0.1, ev)
    assert again == post


def test_fixed_values_are_kept_and_auto_without_validation_tapes_is_an_error():
    w, g = _tape("M", BOUTS)
    post = choose_postprocess(w, g, {"M": "mixed"}, 0.1, EvaluateParams(threshold=0.3))
    assert post == {"threshold": 0.3, "min_gap_s": 0.1, "min_dur_s": 0.05, "auto": [], "rule": "fixed"}
    with pytest.raises(ParamsError, match=r"acoustic\.evaluate\.min_gap_s: auto .* validation tapes"):
        choose_postprocess(w, g, {"M": "mixed"}, 0.1, EvaluateParams(min_gap_s="auto"), "v9-default")
    with pytest.raises(ValueError, match="threshold"):
        EvaluateParams(threshold=1.5)
    with pytest.raises(ValueError):
        EvaluateParams(threshold="automatic")


def _val_tapes(n: int, bouts=BOUTS, scale: float = 1.0) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, str]]:
    """``n`` validation tapes and one test tape with ``bouts``; probabilities times ``scale``."""
    parts = [_tape(f"V{i}", bouts) for i in range(n)] + [_tape("T", bouts)]
    w = pd.concat([p[0] for p in parts]).assign(prob=lambda d: d.prob * scale)
    return w, pd.concat([p[1] for p in parts]), {**{f"V{i}": "val" for i in range(n)}, "T": "test"}


def test_auto_on_a_validation_set_where_many_settings_score_1_keeps_the_defaults():
    # three clean tapes: dozens of combinations reach F1 1.0; the old tie-break took whichever had the
    # largest summed IoU. Now near-ties go to the documented defaults, and the evidence is recorded.
    w, g, roles = _val_tapes(3)
    defaults = {"threshold": 0.6, "min_gap_s": 0.05, "min_dur_s": 0.1}
    ev = EvaluateParams(**AUTO, defaults=defaults, min_val_events=10, search=SMALL)
    post = choose_postprocess(w, g, roles, 0.1, ev)
    assert {k: post[k] for k in defaults} == defaults and post["rule"] == "one_se"
    assert (post["val_n_gt"], post["val_n_units"], post["val_units"]) == (18, 3, "tapes")
    assert (post["val_f1"], post["val_f1_mean"], post["val_f1_sd"]) == (1.0, 1.0, 0.0)


def test_auto_moves_away_from_the_defaults_only_when_the_validation_tapes_show_it_pays():
    # every probability below 0.5: the default threshold finds nothing, the search must go lower
    w, g, roles = _val_tapes(3, scale=0.45)
    post = choose_postprocess(w, g, roles, 0.1, EvaluateParams(**AUTO, min_val_events=10, search=SMALL))
    assert post["threshold"] < 0.45 and post["val_f1_mean"] == 1.0 and post["rule"] == "one_se"
    assert post["best_val_f1_mean"] == 1.0 and (post["min_gap_s"], post["min_dur_s"]) == (0.1, 0.05)


def test_too_few_validation_events_fall_back_to_the_defaults_with_a_warning(ethoflow_log):
    w, g, roles = _val_tapes(1, scale=0.45)  # 6 events: the search would pick a low threshold
    ev = EvaluateParams(**AUTO, min_val_events=7, search=SMALL)
    post = choose_postprocess(w, g, roles, 0.1, ev, "v9-default")
    assert (post["threshold"], post["min_gap_s"], post["min_dur_s"], post["rule"]) == (0.5, 0.1, 0.05, "defaults")
    assert post["val_n_gt"] == 6 and post["val_f1"] == 0.0 and post["val_units"] == "recordings"
    assert "v9-default: only 6 annotated events" in ethoflow_log.text and "min_val_events: 7" in ethoflow_log.text
    low = choose_postprocess(w, g, roles, 0.1, EvaluateParams(**AUTO, min_val_events=6, search=SMALL))
    assert low["threshold"] < 0.45 and low["rule"] == "one_se"


def test_min_bout_gap_merges_a_bout_split_at_a_pause_shorter_than_any_gap_between_bouts(tmp_path):
    # one song bout (1.0-3.0 s, annotated as one) with a 0.3 s pause inside: the window curve dips
    calls, bout = [(1.0, 1.85), (2.15, 3.0), (5.0, 6.0)], [(1.0, 3.0), (5.0, 6.0)]
    w = _windows(calls).assign(tape="V", recording="V_r1")
    g = pd.DataFrame(
        [{"uid": f"b{i}", "recording": "V_r1", "tape": "V", "start_s": a, "end_s": b} for i, (a, b) in enumerate(bout)]
    )
    assert len(chain_windows(w, 0.5, 0.1, "center", 0.1, 0.05)) == 3  # the split the finch runs showed
    ev = EvaluateParams(**AUTO, min_bout_gap_s=0.4, min_val_events=0, search=SMALL)
    post = choose_postprocess(w, g, {"V": "val"}, 0.1, ev)
    assert post["min_gap_s"] >= 0.4 and post["val_f1"] == 1.0
    d = chain_windows(w, post["threshold"], 0.1, "center", post["min_gap_s"], post["min_dur_s"])
    assert len(d) == 2
    fixed = detection_postprocess(_detect_cfg(0.5, threshold=0.5, min_bout_gap_s=0.4), "lab", None)
    assert fixed["min_gap_s"] == 0.4  # a fixed min_gap_s of 0.1 is floored too


def _detect_cfg(set_threshold, model="v1", **ev) -> AcousticParams:
    s = dict(data_dir="data/raw/x", recordings="data/raw/x/tapes", model=model, threshold=set_threshold)
    return AcousticParams(evaluate=ev, detect={"sets": {"lab": s}})


def test_a_detection_set_reads_its_variants_chosen_values(tmp_path):
    write_json(
        tmp_path / "v1-default" / "postprocess.json",
        {"threshold": 0.35, "min_gap_s": 0.05, "min_dur_s": 0.1, "auto": ["threshold", "min_gap_s", "min_dur_s"]},
    )
    post = detection_postprocess(_detect_cfg("auto", **AUTO), "lab", tmp_path)
    assert (post["threshold"], post["min_gap_s"], post["min_dur_s"]) == (0.35, 0.05, 0.1)
    post = detection_postprocess(_detect_cfg(None, **AUTO), "lab", tmp_path)  # null: evaluate's auto
    assert post["threshold"] == 0.35
    post = detection_postprocess(_detect_cfg(0.8, **AUTO), "lab", tmp_path)  # a number wins
    assert (post["threshold"], post["min_gap_s"]) == (0.8, 0.05)
    post = detection_postprocess(_detect_cfg(0.8, threshold=0.5), "lab", None)  # fixed path: nothing read
    assert post == {"threshold": 0.8, "min_gap_s": 0.1, "min_dur_s": 0.05, "from": None}


def test_auto_for_a_model_file_or_a_fixed_evaluation_is_an_error_naming_the_key(tmp_path):
    cfg = _detect_cfg("auto", model="data/raw/x/ANIMAL-SPOT.pk")
    with pytest.raises(ParamsError, match=r"acoustic\.detect\.sets\.lab\.threshold: auto .*ANIMAL-SPOT\.pk"):
        detection_postprocess(cfg, "lab", tmp_path)
    with pytest.raises(InputError, match=r"v1-default/postprocess\.json: missing"):
        detection_postprocess(_detect_cfg("auto"), "lab", tmp_path)
    write_json(
        tmp_path / "v1-default" / "postprocess.json",
        {"threshold": 0.5, "min_gap_s": 0.1, "min_dur_s": 0.05, "auto": []},
    )
    with pytest.raises(ParamsError, match=r"acoustic\.detect\.sets\.lab\.threshold: auto .* fixed there \(0\.5\)"):
        detection_postprocess(_detect_cfg("auto"), "lab", tmp_path)


def test_the_validation_f1_carries_its_event_count_and_a_95_percent_interval():
    """Validation rates are headline numbers too (``metrics/acoustic.json``): each has its bootstrap interval."""
    from ethoflow.acoustic.evaluation.postprocess import _postprocess_result

    pick = {"threshold": 0.5, "min_gap_s": 0.1, "min_dur_s": 0.05, "tot": (12, 15, 14), "n_units": 2}
    pick |= {"mean": 0.8, "sd": 0.1, "se": 0.07}
    out = _postprocess_result(pick, pick, [], "fixed", {}, ["a", "b"], True)
    assert out["val_n_gt"] == 14 and out["val_f1"] == pytest.approx(24 / 29)
    for rate in ("f1", "precision", "recall"):
        lo, hi = out[f"val_{rate}_ci95_lo"], out[f"val_{rate}_ci95_hi"]
        assert 0.0 <= lo < out[f"val_{rate}"] < hi <= 1.0
