"""IoU, chaining windows into detections, greedy and Hungarian matching on hand-made cases."""

import numpy as np
import pandas as pd
import pytest

from ethoflow.acoustic.evaluation.chaining import chain_windows
from ethoflow.acoustic.evaluation.matching import (
    counts,
    evaluate_detections,
    iou_1d,
    iou_matrix,
    match_greedy,
    match_hungarian,
)


def test_iou_1d_hand_cases():
    assert iou_1d((0, 1), (0, 1)) == 1.0
    assert iou_1d((0, 1), (1, 2)) == 0.0  # touching: no overlap
    assert iou_1d((0, 1), (2, 3)) == 0.0
    assert iou_1d((0, 2), (1, 3)) == pytest.approx(1 / 3)
    assert iou_1d((0, 4), (1, 2)) == pytest.approx(0.25)  # containment
    M = iou_matrix(np.array([[0, 2], [5, 6]]), np.array([[1, 3], [5, 6], [10, 11]]))
    np.testing.assert_allclose(M, [[1 / 3, 0, 0], [0, 1, 0]])


def test_greedy_and_hungarian_differ_where_greedy_is_suboptimal():
    # gt0 overlaps det0 (IoU 0.5) and det1 (IoU 2/3); gt1 overlaps det1 only (IoU 1/9).
    gt = np.array([[0.0, 1.0], [1.0, 2.0]])
    det = np.array([[0.0, 0.5], [0.2, 1.2]])
    M = iou_matrix(gt, det)
    assert M[0, 0] == pytest.approx(0.5) and M[0, 1] == pytest.approx(2 / 3)
    assert M[1, 0] == 0 and M[1, 1] == pytest.approx(0.2 / 1.8)
    # with threshold 0.1 both gt can be matched, but greedy gives det1 to gt0 first
    g = match_greedy(gt, det, 0.1)
    h = match_hungarian(gt, det, 0.1)
    assert [(i, j) for i, j, _ in g] == [(0, 1)]
    assert [(i, j) for i, j, _ in h] == [(0, 0), (1, 1)]
    assert counts(2, 2, g, gt, det)["tp"] == 1 and counts(2, 2, h, gt, det)["tp"] == 2
    # at IoU 0.4 only gt0 can be matched; both find one pair
    assert len(match_greedy(gt, det, 0.4)) == len(match_hungarian(gt, det, 0.4)) == 1


def test_matching_respects_threshold_and_one_to_one():
    gt = np.array([[0.0, 1.0]])
    det = np.array([[0.0, 1.0], [0.05, 1.0]])  # two detections of one call
    for fn in (match_greedy, match_hungarian):
        pairs = fn(gt, det, 0.4)
        assert len(pairs) == 1 and pairs[0][1] == 0
        c = counts(1, 2, pairs, gt, det)
        assert (c["tp"], c["fp"], c["fn"]) == (1, 1, 0)
        assert c["precision"] == 0.5 and c["recall"] == 1.0
    assert match_hungarian(gt, np.array([[0.0, 0.3]]), 0.4) == []  # IoU 0.3 < 0.4
    assert match_hungarian(np.zeros((0, 2)), det, 0.4) == []


def test_offsets_in_ms():
    gt, det = np.array([[1.0, 2.0]]), np.array([[1.1, 1.95]])
    c = counts(1, 1, match_hungarian(gt, det, 0.4), gt, det)
    assert c["start_offset_ms"] == pytest.approx(100) and c["end_offset_ms"] == pytest.approx(50)


def _windows(probs, L=0.4, hop=0.1):
    s = np.arange(len(probs)) * hop
    p = np.asarray(probs, float)
    return pd.DataFrame({"start_s": s, "end_s": s + L, "prob": p, "logit": np.log(p / (1 - p))})


def test_chain_windows_center_and_full_boundaries():
    w = _windows([0.1, 0.9, 0.8, 0.7, 0.2, 0.1, 0.9, 0.1])
    full = chain_windows(w, 0.5, 0.1, "full")
    # windows 1-3 overlap -> one detection 0.1-0.7; window 6 -> 0.6-1.0 overlaps the first in "full" mode
    assert len(full) == 1 and full.start_s[0] == pytest.approx(0.1) and full.end_s[0] == pytest.approx(1.0)
    cen = chain_windows(w, 0.5, 0.1, "center")
    # centre mode: window k stands for [k*0.1+0.15, k*0.1+0.25]
    assert len(cen) == 2
    assert (cen.start_s[0], cen.end_s[0]) == (pytest.approx(0.25), pytest.approx(0.55))
    assert (cen.start_s[1], cen.end_s[1]) == (pytest.approx(0.75), pytest.approx(0.85))
    assert list(cen.n_windows) == [3, 1]
    # duration-weighted mean log-odds (equal durations: plain mean)
    lo = np.log(np.array([0.9, 0.8, 0.7]) / (1 - np.array([0.9, 0.8, 0.7])))
    assert cen.cnn_logit_mean[0] == pytest.approx(lo.mean())
    # a gap of 0.2 s is bridged by min_gap_s 0.25
    assert len(chain_windows(w, 0.5, 0.1, "center", min_gap_s=0.25)) == 1
    assert len(chain_windows(w, 0.5, 0.1, "center", min_dur_s=0.2)) == 1


def test_logit_mean_is_duration_weighted():
    w = pd.DataFrame(
        {"start_s": [0.0, 0.3], "end_s": [0.4, 0.5], "prob": [0.9, 0.6], "logit": [2.0, 0.5]}
    )  # second window truncated at the recording end (0.2 s)
    d = chain_windows(w, 0.5, 0.3, "full")
    assert d.cnn_logit_mean[0] == pytest.approx((2.0 * 0.4 + 0.5 * 0.2) / 0.6)


def test_evaluate_detections_groups_by_role():
    gt = pd.DataFrame(
        {
            "uid": ["a#1", "b#1"],
            "recording": ["a", "b"],
            "tape": ["A", "B"],
            "start_s": [1.0, 1.0],
            "end_s": [2.0, 2.0],
            "label": ["call", "call"],
        }
    )
    det = pd.DataFrame(
        {
            "tape": ["A", "B", "B"],
            "recording": ["a", "b", "b"],
            "role": ["train", "test", "test"],
            "start_s": [1.0, 5.0, 1.1],
            "end_s": [2.0, 6.0, 2.0],
            "cnn_logit_mean": [1.0, 1.0, 1.0],
            "prob_max": [0.9, 0.9, 0.9],
            "n_windows": [1, 1, 1],
            "label": ["call"] * 3,
        }
    )
    res = evaluate_detections(det, gt, {"A": "train", "B": "test"}, 0.4)
    held = res["groups"]["heldout"]["hungarian"]
    assert (held["n_gt"], held["tp"], held["fp"], held["fn"]) == (1, 1, 1, 0)
    assert res["groups"]["all"]["greedy"]["tp"] == 2
    assert list(res["detections"].gt_hungarian) == ["a#1", "", "b#1"]


def test_event_intervals_give_the_event_count_and_a_seeded_95pct_interval_around_each_rate():
    from ethoflow.acoustic.evaluation.matching import event_intervals

    small, large = event_intervals(14, 3, 5), event_intervals(140, 30, 50)
    assert small["events"] == 19 and large["events"] == 190
    for m, (tp, fp, fn) in ((small, (14, 3, 5)), (large, (140, 30, 50))):
        f1 = 2 * tp / (2 * tp + fp + fn)
        assert m["f1_ci95_lo"] < f1 < m["f1_ci95_hi"]
        assert m["precision_ci95_lo"] < tp / (tp + fp) < m["precision_ci95_hi"]
        assert m["recall_ci95_lo"] < tp / (tp + fn) < m["recall_ci95_hi"]
    # ten times the events: about a third of the width (1/sqrt(10))
    width = lambda m: m["f1_ci95_hi"] - m["f1_ci95_lo"]  # noqa: E731
    assert 0.2 < width(large) / width(small) < 0.5
    assert event_intervals(14, 3, 5) == small  # seeded: the same bytes in the metrics file
    assert event_intervals(0, 0, 0) == {"events": 0}
