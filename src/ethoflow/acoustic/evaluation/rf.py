"""acoustic_rf_train / acoustic_rf_filter: a random forest that removes the CNN's false alarms.

Training rows: the CNN's detections on the variant's **validation tapes** (role ``val``): audio the
network did not train on, so their false alarms are the ones it makes on new tapes (the training tapes'
detections have almost none); test and benchmark tapes stay untouched. Label 1 when the detection
matches an annotated call (Hungarian matching at ``evaluate.iou``), else 0.

Threshold: out-of-fold probabilities of those detections (scikit-learn ``GroupKFold`` by tape, or by
recording when there is one validation tape), then the threshold of the best event F1 on the validation
tapes (``target: f1``; or F-beta / a recall target). Event F1 counts every annotated call of the
validation tapes, so a filter that drops true calls pays for it. When no threshold gives a higher F1
than the CNN alone (or the chosen target's threshold gives a lower one), the filter passes every
detection through (``pass_through``). The final forest is fit on all validation-tape detections
(``RandomForestClassifier``, class-balanced). An existing classifier (``rf.model_file``) can replace
the training: its feature names are checked against ours and only its threshold is chosen.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ethoflow.acoustic.evaluation.evaluate import layer_set, write_layer
from ethoflow.acoustic.evaluation.matching import HELDOUT_ROLES, evaluate_detections, event_intervals, ground_truth
from ethoflow.acoustic.params import RFParams
from ethoflow.core import InputError, atomic_write_bytes, get_logger, output_set, read_json, write_json

if TYPE_CHECKING:
    from ethoflow.acoustic.params import AcousticParams
    from ethoflow.acoustic.records import RFFilterPaths, VariantIndex

log = get_logger(__name__)

TRAIN_ROLES = ("val",)


def _scores(tp: int, n_pred: int, n_gt: int, beta: float = 1.0) -> tuple[float, float, float, float]:
    p = tp / n_pred if n_pred else 0.0
    r = tp / n_gt if n_gt else 0.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    b2 = beta**2
    fb = (1 + b2) * p * r / (b2 * p + r) if p + r else 0.0
    return p, r, f1, fb


def choose_threshold(prob: np.ndarray, y: np.ndarray, n_gt: int, params: RFParams) -> tuple[float, dict[str, Any]]:
    """RF threshold from validation detections: probabilities ``prob`` (n,), labels ``y`` (n,) in {0, 1}
    (1: matches a call), ``n_gt`` annotated calls on the same tapes (event recall = kept matches / n_gt).

    ``f1``: the threshold of the best event F1 (ties: the lower threshold); ``fbeta``: of the best
    F-beta; ``recall``: the highest threshold with recall >= ``target_value``. The result must not lower
    F1 below the CNN's own (every detection kept); otherwise (and for ``f1`` when nothing beats the
    CNN) the filter passes everything through (threshold 0.0).

    Returns:
        (threshold, stats): ``pass_through`` (bool), ``val_f1_cnn``, ``val_f1_rf``, ``val_precision_rf``,
        ``val_recall_rf``, ``val_kept``, and the 95% intervals ``val_f1_cnn_ci95_lo``/``_hi``,
        ``val_f1_rf_ci95_lo``/``_hi`` (bootstrap over validation events,
        :func:`~ethoflow.acoustic.evaluation.matching.event_intervals`).
    """
    prob, y = np.asarray(prob, float), np.asarray(y, int)
    _, _, f1_cnn, _ = _scores(int(y.sum()), len(y), n_gt)
    best_t, best_v = None, -1.0
    for t in np.unique(prob):  # ascending: ties go to the lower threshold
        keep = prob >= t
        tp = int((keep & (y == 1)).sum())
        _, r, f1, fb = _scores(tp, int(keep.sum()), n_gt, params.beta)
        if params.target == "recall":
            if r >= params.target_value:
                best_t = float(t)  # the last (highest) one that still reaches the target
            continue
        v = f1 if params.target == "f1" else fb
        if v > best_v + 1e-12:
            best_v, best_t = v, float(t)
    thr = 0.0 if best_t is None else best_t
    keep = prob >= thr
    tp = int((keep & (y == 1)).sum())
    p, r, f1, _ = _scores(tp, int(keep.sum()), n_gt)
    passing = best_t is None or f1 < f1_cnn - 1e-12 or (params.target == "f1" and f1 <= f1_cnn + 1e-12)
    if passing:
        thr, p, r, f1 = 0.0, *_scores(int(y.sum()), len(y), n_gt)[:3]
        keep = prob >= thr
    n_cnn, tp = int(y.sum()), int((keep & (y == 1)).sum())
    ci_cnn = event_intervals(n_cnn, len(y) - n_cnn, n_gt - n_cnn)
    ci_rf = event_intervals(tp, int(keep.sum()) - tp, n_gt - tp)
    return thr, {
        "pass_through": bool(passing),
        "val_f1_cnn": f1_cnn,
        **{f"val_f1_cnn_{k}": ci_cnn[f"f1_{k}"] for k in ("ci95_lo", "ci95_hi") if f"f1_{k}" in ci_cnn},
        "val_f1_rf": f1,
        **{f"val_f1_rf_{k}": ci_rf[f"f1_{k}"] for k in ("ci95_lo", "ci95_hi") if f"f1_{k}" in ci_rf},
        "val_precision_rf": p,
        "val_recall_rf": r,
        "val_kept": int(keep.sum()),
    }


def _make_forest(params: RFParams) -> Any:
    # local: sklearn is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(
        n_estimators=params.n_estimators,
        max_depth=params.max_depth,
        min_samples_leaf=params.min_samples_leaf,
        random_state=params.seed,
        n_jobs=1,
        class_weight="balanced",
    )


def fit_filter(
    X: pd.DataFrame, y: np.ndarray, groups: np.ndarray, n_gt: int, params: RFParams
) -> tuple[Any, float, dict[str, Any]]:
    """Fit the forest on validation detections ``X`` (n, features) with labels ``y`` (n,) and choose its
    threshold (:func:`choose_threshold`) on out-of-fold probabilities (``GroupKFold`` over ``groups``, (n,)).
    ``n_gt``: annotated calls on the same tapes.

    Returns (model or None, threshold, stats with ``n_train``, ``n_pos``, ``n_neg``, ``n_groups``,
    ``fitted``, ``pass_through`` and a ``reason`` when it passes through). ``None`` (pass-through) when
    the rows hold a single class; a fitted model that passes through when there are fewer than two
    groups (no out-of-fold check possible) or no threshold helps.
    """
    # local: sklearn is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    from sklearn.model_selection import GroupKFold

    y = np.asarray(y, int)
    stats: dict[str, Any] = {
        "n_train": int(len(y)),
        "n_pos": int(y.sum()),
        "n_neg": int(len(y) - y.sum()),
        "n_groups": int(len(set(groups))),
        "n_gt": int(n_gt),
    }
    if len(set(y.tolist())) < 2:
        what = "absent" if not len(y) else ("all true calls" if y[0] else "all false alarms")
        log.warning("rf: validation detections are %s; the filter passes every detection through", what)
        _, st = choose_threshold(np.ones(len(y)), y, n_gt, params.model_copy(update={"target": "f1"}))
        return None, 0.0, stats | st | {"fitted": False, "pass_through": True, "reason": f"detections {what}"}
    model = _make_forest(params).fit(X, y)
    n_folds = min(params.n_folds, stats["n_groups"])
    if n_folds < 2:
        log.warning("rf: one validation group; no out-of-fold check possible, the filter passes everything")
        _, st = choose_threshold(np.ones(len(y)), y, n_gt, params.model_copy(update={"target": "f1"}))
        return model, 0.0, stats | st | {"fitted": True, "pass_through": True, "reason": "one validation group"}
    oof = np.full(len(y), np.nan)
    for tr, te in GroupKFold(n_splits=n_folds).split(X, y, groups):
        if len(set(y[tr].tolist())) < 2:
            oof[te] = float(y[tr][0])
            continue
        oof[te] = _make_forest(params).fit(X.iloc[tr], y[tr]).predict_proba(X.iloc[te])[:, 1]
    thr, st = choose_threshold(oof, y, n_gt, params)
    stats |= {"fitted": True, "n_folds": n_folds, "threshold": thr, **st}
    if st["pass_through"]:
        stats["reason"] = "no threshold beats the CNN's F1 on the validation tapes"
    return model, thr, stats


def load_external_filter(path: str | Path, columns: list[str]) -> tuple[Any, list[str]]:
    """A lab's filter file (``rf.model_file``): a scikit-learn classifier saved with joblib, or an
    ``rf.pkl`` that :func:`save_filter` wrote. Its feature names must be exactly ``columns`` (ours).

    Returns (classifier, its feature names in its own order).

    Raises:
        InputError: missing/unreadable file, no ``predict_proba``, classes other than {0, 1}, no feature
            names, or missing/extra features (both lists named).
    """
    # local: keeps ethoflow.acoustic.evaluation.rf importable without joblib
    import joblib

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: RF model file not found (acoustic.rf.model_file)")
    try:
        obj = joblib.load(path)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure is a bad file
        raise InputError(f"{path}: not a joblib/pickle file ({type(exc).__name__}: {exc})") from None
    names = None
    if isinstance(obj, dict) and "model" in obj:
        obj, names = obj["model"], obj.get("columns")
    if obj is None:
        raise InputError(f"{path}: the file holds an unfitted filter (no forest); train one or give another")
    if not hasattr(obj, "predict_proba"):
        raise InputError(f"{path}: {type(obj).__name__} has no predict_proba; need a scikit-learn classifier")
    classes = [int(c) for c in getattr(obj, "classes_", [])]
    if sorted(classes) != [0, 1]:
        raise InputError(f"{path}: classifier classes {classes}; need 0 (false alarm) and 1 (true call)")
    if hasattr(obj, "feature_names_in_"):
        names = [str(c) for c in obj.feature_names_in_]
    if names is None:
        raise InputError(
            f"{path}: the classifier has no feature names (fit it on a DataFrame with ethoflow's columns: "
            f"{', '.join(columns)})"
        )
    missing = [c for c in names if c not in columns]
    extra = [c for c in columns if c not in names]
    if missing or extra:
        raise InputError(
            f"{path}: feature list differs from ethoflow's: the file needs {missing or 'nothing more'} that "
            f"ethoflow does not compute; ethoflow computes {extra or 'nothing more'} that the file lacks"
        )
    return obj, names


def train_rf(cfg: AcousticParams, vindex: VariantIndex, detections: str, corpus_index: str) -> dict[str, Any]:
    """``acoustic_rf_train``'s work: librosa features of every CNN detection (``detections``, a
    ``detections.parquet`` of ``acoustic_evaluate``) and the filter (:func:`fit_filter` on the validation
    tapes' detections, or ``cfg.rf.model_file`` with its threshold chosen there).

    Returns ``{"features": DataFrame (one row per detection), "model", "threshold", "columns", "stats"}``.
    """
    # local: resolved at call time: tests patch this name on its module
    from ethoflow.acoustic.frontend.features import detection_features

    files = {r.recording: r.file for r in vindex.recordings}
    det = pd.read_parquet(detections)
    features = detection_features(det, files, cfg.rf, cfg.corpus.nonfinite)
    skipped = features.attrs.get("nonfinite_spans", {})
    if features.empty:
        features = pd.DataFrame(index=range(len(det)))
    rows = det.role.isin(TRAIN_ROLES).to_numpy()
    labels = (det.gt_hungarian != "").to_numpy(int)
    val_tapes = {t for t, r in vindex.tape_roles.items() if r in TRAIN_ROLES}
    gt = ground_truth(read_json(corpus_index), vindex.classes)
    n_gt = int(gt.tape.isin(val_tapes).sum())
    Xv, yv = features[rows].reset_index(drop=True), labels[rows]
    columns = list(features.columns)
    if not val_tapes:
        log.warning("rf: the variant has no validation tapes; the filter passes every detection through")
        model, thr = None, 0.0
        stats = {"n_train": 0, "n_pos": 0, "n_neg": 0, "fitted": False, "pass_through": True, "reason": "no val tapes"}
    elif cfg.rf.model_file is not None:
        model, columns = load_external_filter(cfg.rf.model_file, columns)
        prob = model.predict_proba(Xv[columns])[:, list(model.classes_).index(1)] if len(Xv) else np.zeros(0)
        thr, st = choose_threshold(prob, yv, n_gt, cfg.rf)
        stats = {"model_file": cfg.rf.model_file, "fitted": False, "n_train": 0, "n_pos": 0, "n_neg": 0}
        stats |= {"n_val": int(len(yv)), "n_val_pos": int(yv.sum()), "n_gt": n_gt, "threshold": thr, **st}
    else:
        tapes = det.tape[rows].to_numpy()
        groups = tapes if len(set(tapes)) >= 2 else det.recording[rows].to_numpy()
        model, thr, stats = fit_filter(Xv, yv, groups, n_gt, cfg.rf)
    stats["threshold"] = thr
    stats["nonfinite_spans"] = sum(len(v) for v in skipped.values())  # nonfinite: skip; read as 0
    stats["nonfinite_spans_by_recording"] = skipped
    return {"features": features, "model": model, "threshold": thr, "columns": columns, "stats": stats}


def save_filter(path: str | Path, model: Any, threshold: float, columns: list[str], stats: dict[str, Any]) -> None:
    """Pickle ``{model, threshold, columns, stats}`` atomically."""
    atomic_write_bytes(
        path, pickle.dumps({"model": model, "threshold": threshold, "columns": columns, "stats": stats}, protocol=4)
    )


def load_filter(path: str | Path) -> dict[str, Any]:
    """Load what :func:`save_filter` wrote."""
    with open(path, "rb") as fh:
        return pickle.load(fh)


def rf_probabilities(flt: dict[str, Any], X: pd.DataFrame) -> np.ndarray:
    """P(true call) per detection (ones when the filter was not fitted). Shape (n,)."""
    if flt["model"] is None or len(X) == 0:
        return np.ones(len(X))
    model = flt["model"]
    return model.predict_proba(X[flt["columns"]])[:, list(model.classes_).index(1)]


def rf_curve(
    det: pd.DataFrame, gt: pd.DataFrame, roles: dict[str, str], thresholds: np.ndarray | None = None
) -> pd.DataFrame:
    """Event-level precision/recall of the ``rf`` layer on held-out tapes (all when none) per RF threshold.

    ``det`` holds every CNN detection with ``rf_prob`` and its Hungarian match (``gt_hungarian``): the
    matching of a subset of detections keeps those pairs, so no re-matching is needed.
    """
    thresholds = np.round(np.arange(0.0, 1.0, 0.05), 2) if thresholds is None else thresholds
    held = {t for t, r in roles.items() if r in HELDOUT_ROLES}
    d = det[det.tape.isin(held)] if held else det
    n_gt = int(gt.tape.isin(held).sum()) if held else len(gt)
    rows = []
    for t in thresholds:
        keep = d.rf_prob >= t
        tp = int((keep & (d.gt_hungarian != "")).sum())
        n = int(keep.sum())
        pr = tp / n if n else 1.0
        rc = tp / n_gt if n_gt else 0.0
        rows.append(
            {"threshold": float(t), "precision": pr, "recall": rc, "f1": 2 * pr * rc / (pr + rc) if pr + rc else 0.0}
        )
    return pd.DataFrame(rows)


def filter_detections(det: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """The detections whose ``rf_prob`` >= ``threshold``, without the ``cnn`` layer's matching columns
    (``gt_greedy``, ``gt_hungarian``, ``iou_hungarian``), re-indexed from 0, ready to be matched again."""
    kept = det[det.rf_prob >= threshold].drop(columns=["gt_greedy", "gt_hungarian", "iou_hungarian"])
    return kept.reset_index(drop=True)


def write_rf_train(
    cfg: AcousticParams, vindex: VariantIndex, detections: str, corpus_index: str, features_out: str, model_out: str
) -> None:
    """``acoustic_rf_train``: :func:`train_rf`, then ``features_out/features.parquet``, ``model_out/rf.pkl``
    and ``model_out/rf_summary.json`` (the counts it learned from, threshold, pass-through), all-or-nothing.
    Top level, so a dispatched job pickles it by reference."""
    res = train_rf(cfg, vindex, detections, corpus_index)
    targets = [Path(features_out) / "features.parquet", Path(model_out) / "rf.pkl", Path(model_out) / "rf_summary.json"]
    with output_set(targets) as (t_features, t_model, t_summary):  # all-or-nothing
        res["features"].to_parquet(t_features, index=False)
        save_filter(t_model, res["model"], res["threshold"], res["columns"], res["stats"])
        write_json(t_summary, res["stats"])


def chosen_metrics(stats: dict[str, Any]) -> dict[str, float | int]:
    """The numbers of an RF summary that go to the headline metrics: ``rf_threshold``, ``rf_pass_through``
    (1/0), ``rf_n_pos`` / ``rf_n_neg`` (the detections it learned from), ``val_f1_cnn`` / ``val_f1_rf`` with
    their 95% intervals (``*_ci95_lo`` / ``*_ci95_hi``), ``rf_nonfinite_spans`` (non-finite audio spans read as 0 for its features, ``acoustic.corpus.nonfinite: skip``)."""
    out: dict[str, float | int] = {
        "rf_threshold": float(stats.get("threshold", 0.0)),
        "rf_pass_through": int(bool(stats.get("pass_through", False))),
        "rf_n_pos": int(stats.get("n_pos", 0)),
        "rf_n_neg": int(stats.get("n_neg", 0)),
    }
    for k in (f"{f}{ci}" for f in ("val_f1_cnn", "val_f1_rf") for ci in ("", "_ci95_lo", "_ci95_hi")):
        if k in stats:
            out[k] = float(stats[k])
    if "nonfinite_spans" in stats:
        out["rf_nonfinite_spans"] = int(stats["nonfinite_spans"])
    return out


def filter_layer(paths: RFFilterPaths, vindex: VariantIndex, variant: str, setting: str, iou: float) -> None:
    """``acoustic_rf_filter``: the CNN's detections (``paths.detections``) with ``rf_prob`` from the filter
    ``paths.model`` (rf.pkl) on ``paths.features``, those at or above its threshold matched at IoU ``iou``
    against ``paths.corpus_index`` and written as layer ``rf`` into ``paths.out`` (as ``acoustic_evaluate``
    writes the ``cnn`` layer; metrics.json carries the filter's counts and pass-through under ``chosen``)
    plus pr_curve.csv. ``variant``, ``setting``: the item's names, for metrics.json. Top level, so a
    dispatched job pickles it by reference."""
    det = pd.read_parquet(str(paths.detections))
    flt = load_filter(str(paths.model))
    det["rf_prob"] = rf_probabilities(flt, pd.read_parquet(str(paths.features)))
    gt = ground_truth(read_json(str(paths.corpus_index)), vindex.classes)
    kept = filter_detections(det, flt["threshold"])
    result = evaluate_detections(kept, gt, vindex.tape_roles, iou)
    meta = {
        "variant": variant,
        "setting": setting,
        "iou": iou,
        "rf_threshold": flt["threshold"],
        "rf": flt.get("stats", {}),
        "chosen": chosen_metrics(flt.get("stats", {}) | {"threshold": flt["threshold"]}),
        "recordings": vindex.recording_names(),
    }
    curve = rf_curve(det, gt, vindex.tape_roles)
    out = str(paths.out)
    with layer_set(out, Path(out) / "metrics.json") as (tmp, tmp_metrics):  # all-or-nothing
        write_layer(tmp, tmp_metrics, "rf", result, meta)
        curve.to_csv(tmp / "pr_curve.csv", index=False, float_format="%.6f", lineterminator="\n")
