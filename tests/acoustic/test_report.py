"""Report pieces: event-level confusion rows and the RF precision-recall sweep."""

import pandas as pd
import pytest

from ethoflow.acoustic.evaluation.rf import rf_curve
from ethoflow.acoustic.reporting.report import confusion_rows


def _gt():
    return pd.DataFrame(
        {
            "uid": ["a#1", "a#2", "b#1"],
            "recording": ["a", "a", "b"],
            "tape": ["A", "A", "B"],
            "start_s": [0.0, 2.0, 0.0],
            "end_s": [1.0, 3.0, 1.0],
            "label": ["song", "call", "song"],
        }
    )


def _det():
    return pd.DataFrame(
        {
            "tape": ["A", "A", "B"],
            "recording": ["a", "a", "b"],
            "label": ["song", "song", "song"],
            "gt_hungarian": ["a#1", "", ""],
            "rf_prob": [0.9, 0.3, 0.6],
        }
    )


def test_confusion_rows_count_hits_false_alarms_and_misses():
    conf = confusion_rows(_det(), _gt(), None)
    pairs = sorted(map(tuple, conf.to_numpy().tolist()))
    assert pairs == sorted([("song", "song"), ("none", "song"), ("none", "song"), ("call", "none"), ("song", "none")])
    only_b = confusion_rows(_det(), _gt(), {"B"})
    assert sorted(map(tuple, only_b.to_numpy().tolist())) == [("none", "song"), ("song", "none")]


def test_rf_curve_on_heldout_tapes():
    c = rf_curve(_det(), _gt(), {"A": "test", "B": "train"}, thresholds=[0.0, 0.5, 0.95])
    # held-out tape A: 2 annotations, detections with rf_prob 0.9 (hit) and 0.3 (false alarm)
    assert c.precision.tolist() == [0.5, 1.0, 1.0]
    assert c.recall.tolist() == [0.5, 0.5, 0.0]
    assert c.f1[1] == pytest.approx(2 / 3)
