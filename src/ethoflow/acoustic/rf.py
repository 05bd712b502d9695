"""acoustic_rf_train / acoustic_rf_filter: a random forest that removes the CNN's false alarms.

Training rows: detections of the training tapes (roles ``train``, ``val``, ``mixed``), label 1 when the
detection matches an annotated call (Hungarian matching at ``evaluate.iou``), else 0. Validation is
group-aware: out-of-fold probabilities from ``GroupKFold`` over tapes (no tape in both the fitting
and the scoring part of a fold). The decision threshold is chosen on those probabilities: the
highest threshold that keeps recall >= ``target_value`` (``target: recall``) or the F-beta maximum
(``target: fbeta``). The final forest is fit on all training rows (scikit-learn RandomForestClassifier).
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ethoflow.acoustic.params import RFParams
from ethoflow.core import atomic_write_bytes, get_logger

log = get_logger(__name__)

TRAIN_ROLES = ("train", "val", "mixed")


def choose_threshold(prob: np.ndarray, y: np.ndarray, params: RFParams) -> float:
    """Decision threshold on validation probabilities ``prob`` (n,) with labels ``y`` (n,) in {0, 1}.

    ``recall``: the highest threshold whose recall >= ``target_value``; ``fbeta``: the threshold of the
    best F-beta (ties: the higher threshold). 0.0 keeps everything (no positives to learn from).
    """
    prob, y = np.asarray(prob, float), np.asarray(y, int)
    if y.sum() == 0:
        return 0.0
    cands = np.unique(prob)[::-1]
    best_t, best_f = 0.0, -1.0
    for t in cands:
        keep = prob >= t
        tp = int((keep & (y == 1)).sum())
        rec = tp / y.sum()
        if params.target == "recall":
            if rec >= params.target_value:
                return float(t)
            continue
        prec = tp / keep.sum() if keep.sum() else 0.0
        b2 = params.beta**2
        f = (1 + b2) * prec * rec / (b2 * prec + rec) if prec + rec else 0.0
        if f > best_f + 1e-12:
            best_f, best_t = f, float(t)
    return best_t if params.target == "fbeta" else 0.0


def fit_filter(
    X: pd.DataFrame, y: np.ndarray, groups: np.ndarray, params: RFParams
) -> tuple[Any, float, dict[str, Any]]:
    """Fit the forest with group-aware out-of-fold validation. Returns (model or None, threshold, stats).

    ``None`` (with threshold 0: keep every detection) when the training rows hold a single class.
    """
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import GroupKFold

    y = np.asarray(y, int)
    stats: dict[str, Any] = {"n_train": int(len(y)), "n_pos": int(y.sum()), "n_groups": int(len(set(groups)))}
    if len(set(y.tolist())) < 2:
        what = "absent" if not len(y) else ("all true calls" if y[0] else "all false alarms")
        log.warning("rf: training detections are %s; the filter keeps every detection", what)
        return None, 0.0, stats | {"fitted": False}

    def make() -> Any:
        return RandomForestClassifier(
            n_estimators=params.n_estimators,
            max_depth=params.max_depth,
            min_samples_leaf=params.min_samples_leaf,
            random_state=params.seed,
            n_jobs=1,
            class_weight="balanced",
        )

    n_folds = min(params.n_folds, len(set(groups)))
    oof = np.full(len(y), np.nan)
    if n_folds >= 2:
        for tr, te in GroupKFold(n_splits=n_folds).split(X, y, groups):
            if len(set(y[tr].tolist())) < 2:
                oof[te] = float(y[tr][0])
                continue
            m = make().fit(X.iloc[tr], y[tr])
            oof[te] = m.predict_proba(X.iloc[te])[:, 1]
    else:  # one tape: no group-aware validation possible; threshold on in-sample probabilities
        log.warning("rf: only one training tape; the threshold is chosen on in-sample probabilities")
        oof = make().fit(X, y).predict_proba(X)[:, 1]
    thr = choose_threshold(oof, y, params)
    keep = oof >= thr
    tp = int((keep & (y == 1)).sum())
    stats |= {
        "fitted": True,
        "n_folds": n_folds,
        "threshold": thr,
        "val_recall": tp / max(int(y.sum()), 1),
        "val_precision": tp / max(int(keep.sum()), 1),
        "val_kept": int(keep.sum()),
    }
    return make().fit(X, y), thr, stats


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
    return flt["model"].predict_proba(X[flt["columns"]])[:, 1]


def rf_curve(
    det: pd.DataFrame, gt: pd.DataFrame, roles: dict[str, str], thresholds: np.ndarray | None = None
) -> pd.DataFrame:
    """Event-level precision/recall of the ``rf`` layer on held-out tapes (all when none) per RF threshold.

    ``det`` holds every CNN detection with ``rf_prob`` and its Hungarian match (``gt_hungarian``): the
    matching of a subset of detections keeps those pairs, so no re-matching is needed.
    """
    from ethoflow.acoustic.evaluate import HELDOUT_ROLES

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
