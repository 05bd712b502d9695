"""Random-forest filter: learns from validation-tape detections, never lowers the CNN's F1 there
(or passes everything through), reports its counts, and accepts a lab's classifier after a feature check."""

import joblib
import numpy as np
import pandas as pd
import pytest

from ethoflow.acoustic.evaluation.rf import (
    choose_threshold,
    chosen_metrics,
    fit_filter,
    load_external_filter,
    load_filter,
    rf_probabilities,
    save_filter,
    train_rf,
)
from ethoflow.acoustic.params import AcousticParams, RFParams
from ethoflow.acoustic.records import VariantIndex
from ethoflow.core import InputError, write_json


def test_threshold_maximises_event_f1_counting_calls_the_cnn_missed():
    prob = np.array([0.9, 0.8, 0.7, 0.6, 0.4, 0.3])
    y = np.array([1, 1, 0, 0, 1, 0])
    # 3 detections match, 5 annotated calls: CNN alone P 3/6, R 3/5, F1 .545; at 0.8: P 1, R 2/5, F1 .571;
    # at 0.4: P 3/5, R 3/5, F1 .6 (the best)
    thr, st = choose_threshold(prob, y, 5, RFParams(target="f1"))
    assert thr == 0.4 and not st["pass_through"]
    assert st["val_f1_cnn"] == pytest.approx(6 / 11) and st["val_f1_rf"] == pytest.approx(0.6)
    for name in ("val_f1_cnn", "val_f1_rf"):  # each validation F1 with its bootstrap interval over events
        assert 0.0 <= st[f"{name}_ci95_lo"] < st[name] < st[f"{name}_ci95_hi"] <= 1.0
    # a filter that can only drop true calls (recall counts the calls the CNN missed): pass through
    thr, st = choose_threshold(np.array([0.9, 0.8, 0.7]), np.array([0, 1, 1]), 2, RFParams(target="f1"))
    assert thr == 0.0 and st["pass_through"] and st["val_f1_rf"] == st["val_f1_cnn"] == pytest.approx(0.8)


def test_a_recall_or_fbeta_target_that_lowers_f1_passes_through():
    prob = np.array([0.9, 0.8, 0.7, 0.6, 0.4, 0.3])
    y = np.array([1, 1, 0, 0, 1, 0])
    thr, st = choose_threshold(prob, y, 3, RFParams(target="recall", target_value=0.6))
    assert thr == 0.8 and not st["pass_through"]  # highest threshold with recall >= 0.6; F1 .8 > .667
    thr, st = choose_threshold(prob, np.array([1, 0, 1, 1, 1, 1]), 5, RFParams(target="recall", target_value=0.2))
    assert thr == 0.0 and st["pass_through"]  # 0.9 keeps 1 of 5 calls: F1 .33 < CNN's .909
    thr, st = choose_threshold(prob, y, 3, RFParams(target="fbeta", beta=3.0))
    assert thr == 0.4 and not st["pass_through"]  # F3 favours recall: drops only the lowest false alarm


@pytest.mark.parametrize("seed", range(20))
def test_cnn_plus_rf_f1_is_never_below_the_cnn_on_the_validation_detections(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 30))
    y = rng.integers(0, 2, n)
    prob = np.round(rng.random(n), 2)
    for target in ("f1", "fbeta", "recall"):
        thr, st = choose_threshold(prob, y, int(y.sum() + rng.integers(0, 5)), RFParams(target=target))
        assert st["val_f1_rf"] >= st["val_f1_cnn"] - 1e-12
        assert thr == 0.0 or not st["pass_through"]


def _rows(n=120, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    X = pd.DataFrame({"center_freq": 1000 + 800 * y + rng.normal(0, 100, n), "junk": rng.normal(0, 1, n)})
    return X, y


def test_fit_filter_uses_groups_reports_counts_and_helps_on_separable_false_alarms(tmp_path):
    X, y = _rows()
    groups = np.repeat([f"t{i}" for i in range(6)], 20)
    model, thr, stats = fit_filter(X, y, groups, int(y.sum()), RFParams(n_estimators=20, n_folds=3))
    assert stats["fitted"] and stats["n_folds"] == 3 and stats["n_groups"] == 6
    assert stats["n_pos"] == y.sum() and stats["n_neg"] == len(y) - y.sum() and stats["n_train"] == len(y)
    assert not stats["pass_through"] and stats["val_f1_rf"] > stats["val_f1_cnn"] + 0.2
    save_filter(tmp_path / "rf.pkl", model, thr, list(X.columns), stats)
    flt = load_filter(tmp_path / "rf.pkl")
    assert ((rf_probabilities(flt, X) >= thr) == (y == 1)).mean() > 0.9
    m = chosen_metrics(stats)
    assert m["rf_pass_through"] == 0 and m["rf_n_pos"] == y.sum() and m["rf_n_neg"] == len(y) - y.sum()


def test_fit_filter_passes_through_on_one_class_one_group_or_noise_features():
    X, y = _rows()
    groups = np.repeat([f"t{i}" for i in range(6)], 20)
    none, thr, st = fit_filter(X, np.ones(len(y), int), groups, len(y), RFParams())
    assert none is None and thr == 0.0 and st["pass_through"] and not st["fitted"]
    assert (rf_probabilities({"model": None, "threshold": 0.0, "columns": []}, X) == 1).all()
    model, thr, st = fit_filter(X, y, np.array(["t0"] * len(y)), int(y.sum()), RFParams(n_estimators=10))
    assert model is not None and thr == 0.0 and st["pass_through"] and st["reason"] == "one validation group"
    rng = np.random.default_rng(1)
    noise = pd.DataFrame({"center_freq": rng.normal(0, 1, len(y)), "junk": rng.normal(0, 1, len(y))})
    yy = (rng.random(len(y)) < 0.85).astype(int)  # mostly true calls, features carry no information
    _, thr, st = fit_filter(noise, yy, groups, int(yy.sum()), RFParams(n_estimators=20, n_folds=3))
    assert st["val_f1_rf"] >= st["val_f1_cnn"]
    assert thr == 0.0 or not st["pass_through"]


def _variant_case(tmp_path):
    """Detections on tapes A (train), V1, V2 (val), T (test); a corpus with the annotated calls."""
    roles = {"A": "train", "V1": "val", "V2": "val", "T": "test"}
    recs = [
        dict(recording=f"{t}_r", tape=t, file=f"{t}.wav", sr=16000, duration_s=60.0, role=r) for t, r in roles.items()
    ]
    vindex = VariantIndex(
        strategy="tape_exclusive", seed=0, classes=["call"], counts={}, tape_roles=roles, noise={}, recordings=recs
    )
    rng = np.random.default_rng(0)
    rows, events = [], []
    for t in roles:
        for k in range(30):
            true = k % 3 != 0
            rows.append(
                dict(
                    tape=t,
                    recording=f"{t}_r",
                    role=roles[t],
                    start_s=k * 2.0,
                    end_s=k * 2.0 + 0.5,
                    cnn_logit_mean=1.0,
                    gt_hungarian=f"{t}{k}" if true else "",
                )
            )
            if true:
                events.append(
                    dict(
                        uid=f"{t}{k}",
                        recording=f"{t}_r",
                        tape=t,
                        start_s=k * 2.0,
                        end_s=k * 2.0 + 0.5,
                        label="call",
                        role="target",
                    )
                )
    det = pd.DataFrame(rows).assign(prob_max=0.9, n_windows=5, label="call", low_hz=500.0, high_hz=2000.0)
    det = det.assign(gt_greedy=det.gt_hungarian, iou_hungarian=np.where(det.gt_hungarian != "", 1.0, 0.0))
    det.to_parquet(tmp_path / "detections.parquet")
    write_json(tmp_path / "corpus_index.json", {"events": events})
    feats = pd.DataFrame(
        {
            "center_freq": np.where(det.gt_hungarian != "", 1800.0, 1000.0) + rng.normal(0, 50, len(det)),
            "cnn_logit_mean": det.cnn_logit_mean,
        }
    )
    return vindex, feats


def test_train_rf_learns_only_from_validation_tape_detections(tmp_path, monkeypatch):
    vindex, feats = _variant_case(tmp_path)
    monkeypatch.setattr(
        "ethoflow.acoustic.frontend.features.detection_features", lambda det, files, p, nonfinite: feats.copy()
    )
    cfg = AcousticParams(rf={"n_estimators": 20, "n_folds": 2})
    res = train_rf(cfg, vindex, str(tmp_path / "detections.parquet"), str(tmp_path / "corpus_index.json"))
    st = res["stats"]
    assert st["n_train"] == 60 and st["n_pos"] == 40 and st["n_neg"] == 20  # tapes V1, V2 only
    assert st["n_groups"] == 2 and not st["pass_through"] and res["threshold"] > 0
    # the test tape's rows do not change what it learns (features of tape T scrambled)
    det = pd.read_parquet(tmp_path / "detections.parquet")
    scrambled = feats.copy()
    scrambled.loc[det.tape == "T", "center_freq"] = 0.0
    monkeypatch.setattr(
        "ethoflow.acoustic.frontend.features.detection_features", lambda det, files, p, nonfinite: scrambled.copy()
    )
    res2 = train_rf(cfg, vindex, str(tmp_path / "detections.parquet"), str(tmp_path / "corpus_index.json"))
    assert res2["threshold"] == res["threshold"] and res2["stats"] == st


def test_a_labs_classifier_file_is_used_after_its_features_are_checked(tmp_path, monkeypatch):
    from sklearn.ensemble import RandomForestClassifier

    vindex, feats = _variant_case(tmp_path)
    monkeypatch.setattr(
        "ethoflow.acoustic.frontend.features.detection_features", lambda det, files, p, nonfinite: feats.copy()
    )
    y = (pd.read_parquet(tmp_path / "detections.parquet").gt_hungarian != "").to_numpy(int)
    lab = RandomForestClassifier(n_estimators=10, random_state=0).fit(feats[["cnn_logit_mean", "center_freq"]], y)
    joblib.dump(lab, tmp_path / "lab_rf.joblib")
    cfg = AcousticParams(rf={"model_file": str(tmp_path / "lab_rf.joblib")})
    res = train_rf(cfg, vindex, str(tmp_path / "detections.parquet"), str(tmp_path / "corpus_index.json"))
    assert res["columns"] == ["cnn_logit_mean", "center_freq"] and not res["stats"]["fitted"]
    assert res["stats"]["n_val"] == 60 and not res["stats"]["pass_through"]
    p = rf_probabilities({"model": res["model"], "columns": res["columns"]}, feats)
    assert ((p >= res["threshold"]) == (y == 1)).all()

    other = RandomForestClassifier(n_estimators=5, random_state=0).fit(
        feats.rename(columns={"center_freq": "peak_freq"})[["peak_freq", "cnn_logit_mean"]], y
    )
    joblib.dump(other, tmp_path / "other.joblib")
    with pytest.raises(InputError, match=r"other\.joblib.*\['peak_freq'\].*\['center_freq'\]"):
        load_external_filter(tmp_path / "other.joblib", list(feats.columns))
    joblib.dump(RandomForestClassifier(n_estimators=2).fit(feats.to_numpy(), y), tmp_path / "nonames.joblib")
    with pytest.raises(InputError, match="no feature names"):
        load_external_filter(tmp_path / "nonames.joblib", list(feats.columns))
    with pytest.raises(InputError, match="not found"):
        load_external_filter(tmp_path / "missing.joblib", list(feats.columns))
    with pytest.raises(ValueError, match="rf.model_file .* outside corpus.data_dir"):
        AcousticParams(corpus={"data_dir": "data/raw/x"}, rf={"model_file": "/elsewhere/rf.joblib"})


def test_rf_stage_outputs_report_counts_and_the_filter_layer_carries_them(tmp_path, monkeypatch):
    from ethoflow.acoustic.evaluation.rf import filter_layer, write_rf_train
    from ethoflow.acoustic.records import RFFilterPaths
    from ethoflow.core import read_json

    vindex, feats = _variant_case(tmp_path)
    monkeypatch.setattr(
        "ethoflow.acoustic.frontend.features.detection_features", lambda det, files, p, nonfinite: feats.copy()
    )
    cfg = AcousticParams(rf={"n_estimators": 20, "n_folds": 2})
    det, corpus = str(tmp_path / "detections.parquet"), str(tmp_path / "corpus_index.json")
    write_rf_train(cfg, vindex, det, corpus, str(tmp_path / "feat"), str(tmp_path / "rf"))
    summary = read_json(tmp_path / "rf" / "rf_summary.json")
    assert (summary["n_pos"], summary["n_neg"], summary["pass_through"]) == (40, 20, False)
    out = tmp_path / "filtered"
    model = str(tmp_path / "rf" / "rf.pkl")
    paths = RFFilterPaths(
        detections=det,
        features=str(tmp_path / "feat" / "features.parquet"),
        model=model,
        corpus_index=corpus,
        variant_index=str(tmp_path / "variant_index.json"),
        out=str(out),
    )
    filter_layer(paths, vindex, "v1", "default", cfg.evaluate.iou)
    m = read_json(out / "metrics.json")
    assert m["layer"] == "rf" and m["chosen"]["rf_n_pos"] == 40 and m["chosen"]["rf_n_neg"] == 20
    assert m["chosen"]["rf_pass_through"] == 0 and m["chosen"]["val_f1_rf"] > m["chosen"]["val_f1_cnn"]
    for k in ("val_f1_cnn", "val_f1_rf"):  # with their intervals, as in metrics/acoustic.json
        assert m["chosen"][f"{k}_ci95_lo"] <= m["chosen"][k] <= m["chosen"][f"{k}_ci95_hi"]
    held = m["groups"]["heldout"]["hungarian"]
    assert held["fp"] == 0 and held["tp"] == 20  # the test tape's false alarms are gone, its calls kept
