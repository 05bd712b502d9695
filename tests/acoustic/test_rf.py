"""Random-forest filter: threshold choice (recall / F-beta) and group-aware fitting."""

import numpy as np
import pandas as pd

from ethoflow.acoustic.params import RFParams
from ethoflow.acoustic.rf import choose_threshold, fit_filter, load_filter, rf_probabilities, save_filter


def test_choose_threshold_recall_target():
    prob = np.array([0.9, 0.8, 0.7, 0.6, 0.4, 0.3, 0.2, 0.1])
    y = np.array([1, 1, 0, 1, 1, 0, 0, 0])
    assert choose_threshold(prob, y, RFParams(target="recall", target_value=0.75)) == 0.6
    assert choose_threshold(prob, y, RFParams(target="recall", target_value=1.0)) == 0.4
    assert choose_threshold(prob, y, RFParams(target="recall", target_value=0.5)) == 0.8


def test_choose_threshold_fbeta():
    prob = np.array([0.9, 0.8, 0.7, 0.6, 0.4, 0.3])
    y = np.array([1, 1, 0, 0, 1, 0])
    # thresholds: 0.8 -> P=1, R=2/3 (F1 .8); 0.4 -> P=.6, R=1 (F1 .75); F2 favours recall
    assert choose_threshold(prob, y, RFParams(target="fbeta", beta=1.0)) == 0.8
    assert choose_threshold(prob, y, RFParams(target="fbeta", beta=3.0)) == 0.4
    assert choose_threshold(prob, np.zeros(6, int), RFParams()) == 0.0


def test_fit_filter_separates_and_uses_groups(tmp_path):
    rng = np.random.default_rng(0)
    n = 120
    y = rng.integers(0, 2, n)
    X = pd.DataFrame({"center_freq": 1000 + 800 * y + rng.normal(0, 100, n), "junk": rng.normal(0, 1, n)})
    groups = np.repeat([f"t{i}" for i in range(6)], n // 6)
    model, thr, stats = fit_filter(X, y, groups, RFParams(n_estimators=20, n_folds=3, target_value=0.9))
    assert stats["fitted"] and stats["n_folds"] == 3 and stats["n_groups"] == 6
    assert stats["val_recall"] >= 0.9 and stats["val_precision"] > 0.9
    save_filter(tmp_path / "rf.pkl", model, thr, list(X.columns), stats)
    flt = load_filter(tmp_path / "rf.pkl")
    p = rf_probabilities(flt, X)
    assert ((p >= thr) == (y == 1)).mean() > 0.9
    none, thr0, st = fit_filter(X, np.ones(n, int), groups, RFParams())
    assert none is None and thr0 == 0.0 and not st["fitted"]
    assert (rf_probabilities({"model": None, "threshold": 0.0, "columns": []}, X) == 1).all()
