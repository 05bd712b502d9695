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
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ethoflow.acoustic.params import RFParams
from ethoflow.core import atomic_write_bytes, get_logger

if TYPE_CHECKING:
    from ethoflow.acoustic.stage import MatrixItem

log = get_logger(__name__)

TRAIN_ROLES = ("train", "val", "mixed")


def choose_threshold(prob: np.ndarray, y: np.ndarray, p: RFParams) -> float:
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
        if p.target == "recall":
            if rec >= p.target_value:
                return float(t)
            continue
        prec = tp / keep.sum() if keep.sum() else 0.0
        b2 = p.beta**2
        f = (1 + b2) * prec * rec / (b2 * prec + rec) if prec + rec else 0.0
        if f > best_f + 1e-12:
            best_f, best_t = f, float(t)
    return best_t if p.target == "fbeta" else 0.0


def fit_filter(X: pd.DataFrame, y: np.ndarray, groups: np.ndarray, p: RFParams) -> tuple[Any, float, dict[str, Any]]:
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
            n_estimators=p.n_estimators,
            max_depth=p.max_depth,
            min_samples_leaf=p.min_samples_leaf,
            random_state=p.seed,
            n_jobs=1,
            class_weight="balanced",
        )

    n_folds = min(p.n_folds, len(set(groups)))
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
    thr = choose_threshold(oof, y, p)
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


def rf_train_item(
    item: MatrixItem, detections: str | Path, features_out: str | Path, model_out: str | Path, summary_out: str | Path
) -> None:
    """``acoustic_rf_train`` for one (variant, setting): features of every detection, forest on the training tapes.

    Writes the features (``features_out``, parquet), the filter (``model_out``, see :func:`save_filter`)
    and its fit statistics (``summary_out``, JSON). A top-level function so that the stage can dispatch
    it as a job (paths are relative to the project root, the job's working directory).
    """
    from ethoflow.acoustic.features import detection_features
    from ethoflow.core import write_json
    from ethoflow.core.io import output_set

    cfg = item.cfg
    files = {r["recording"]: r["file"] for r in item.vindex["recordings"]}
    det = pd.read_parquet(detections)
    X = detection_features(det, files, cfg.rf)
    train = det.role.isin(TRAIN_ROLES).to_numpy()
    y = (det.gt_hungarian != "").to_numpy(int)
    model, thr, stats = fit_filter(X[train].reset_index(drop=True), y[train], det.tape[train].to_numpy(), cfg.rf)
    with output_set([features_out, model_out, summary_out]) as (t_features, t_model, t_summary):  # all-or-nothing
        X.to_parquet(t_features, index=False)
        save_filter(t_model, model, thr, list(X.columns), stats)
        write_json(t_summary, stats)


def rf_filter_item(
    item: MatrixItem,
    detections: str | Path,
    features: str | Path,
    model: str | Path,
    corpus_index: str | Path,
    out_dir: str | Path,
    metrics_path: str | Path,
) -> None:
    """``acoustic_rf_filter`` for one (variant, setting): keep the detections the forest accepts.

    Writes the ``rf`` layer into ``out_dir`` and its metrics JSON to ``metrics_path`` (as
    :func:`ethoflow.acoustic.evaluate.write_layer` does for the ``cnn`` layer), plus
    ``out_dir/pr_curve.csv``. A top-level function so that the stage can dispatch it as a job.
    """
    from ethoflow.acoustic.evaluate import evaluate_detections, ground_truth, layer_set, write_layer
    from ethoflow.core import read_json

    cfg, vindex = item.cfg, item.vindex
    det = pd.read_parquet(detections)
    X = pd.read_parquet(features)
    flt = load_filter(model)
    det["rf_prob"] = rf_probabilities(flt, X)
    gt = ground_truth(read_json(corpus_index), vindex["classes"])
    kept = det[det.rf_prob >= flt["threshold"]].drop(columns=["gt_greedy", "gt_hungarian", "iou_hungarian"])
    result = evaluate_detections(kept.reset_index(drop=True), gt, vindex["tape_roles"], cfg.evaluate.iou)
    meta = {
        "variant": item.variant,
        "setting": item.setting_name,
        "iou": cfg.evaluate.iou,
        "rf_threshold": flt["threshold"],
        "recordings": [r["recording"] for r in vindex["recordings"]],
    }
    curve = rf_curve(det, gt, vindex["tape_roles"])
    with layer_set(out_dir, metrics_path) as (tmp, tmp_metrics):  # all-or-nothing
        write_layer(tmp, tmp_metrics, "rf", result, meta)
        curve.to_csv(tmp / "pr_curve.csv", index=False, float_format="%.6f", lineterminator="\n")
