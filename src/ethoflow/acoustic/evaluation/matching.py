"""IoU matching of detections against annotated calls, and their event-level counts and intervals.

A detection and an annotated call match when their time IoU >= ``iou``:

- ``greedy`` (as the alpaca scripts did): annotations in time order, each takes the still-unmatched
  detection with the highest IoU.
- ``hungarian``: a maximum-cardinality assignment (ties broken by total IoU) with
  ``scipy.optimize.linear_sum_assignment``; never fewer matches than greedy.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

HELDOUT_ROLES = ("benchmark", "test")


def iou_1d(first: tuple[float, float], second: tuple[float, float]) -> float:
    """Intersection over union of two time intervals (start, end) in seconds (0 when disjoint)."""
    inter = max(0.0, min(first[1], second[1]) - max(first[0], second[0]))
    union = max(first[1], second[1]) - min(first[0], second[0])
    return inter / union if union > 0 else 0.0


def iou_matrix(gt: np.ndarray, det: np.ndarray) -> np.ndarray:
    """IoU of every (annotation, detection) pair; ``gt`` (n, 2), ``det`` (m, 2) -> (n, m)."""
    gt = np.asarray(gt, float).reshape(-1, 2)
    det = np.asarray(det, float).reshape(-1, 2)
    inter = np.clip(np.minimum(gt[:, None, 1], det[None, :, 1]) - np.maximum(gt[:, None, 0], det[None, :, 0]), 0, None)
    union = np.maximum(gt[:, None, 1], det[None, :, 1]) - np.minimum(gt[:, None, 0], det[None, :, 0])
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def match_greedy(gt: np.ndarray, det: np.ndarray, thr: float) -> list[tuple[int, int, float]]:
    """Greedy matching: annotations by start time, each takes the unmatched detection of highest IoU >= thr.

    Returns (gt_index, det_index, iou) triples.
    """
    M = iou_matrix(gt, det)
    used: set[int] = set()
    pairs = []
    for i in np.argsort(np.asarray(gt, float).reshape(-1, 2)[:, 0], kind="stable"):
        best, bj = -1.0, -1
        for j in range(M.shape[1]):
            if j not in used and M[i, j] >= thr and M[i, j] > best:
                best, bj = M[i, j], j
        if bj >= 0:
            used.add(bj)
            pairs.append((int(i), bj, float(best)))
    return sorted(pairs)


def match_hungarian(gt: np.ndarray, det: np.ndarray, thr: float) -> list[tuple[int, int, float]]:
    """Optimal matching: the most pairs with IoU >= thr (then the largest IoU sum), via linear_sum_assignment."""
    # local: scipy is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    from scipy.optimize import linear_sum_assignment

    M = iou_matrix(gt, det)
    if M.size == 0:
        return []
    valid = M >= thr
    big = float(min(M.shape) + 1)
    weight = np.where(valid, big + M, 0.0)
    rows, cols = linear_sum_assignment(weight, maximize=True)
    return sorted((int(i), int(j), float(M[i, j])) for i, j in zip(rows, cols) if valid[i, j])


def counts(
    n_gt: int, n_pred: int, pairs: list[tuple[int, int, float]], gt: np.ndarray, det: np.ndarray
) -> dict[str, Any]:
    """tp/fp/fn, precision, recall, f1 and mean absolute start/end offsets (ms) of matched pairs."""
    tp = len(pairs)
    fp, fn = n_pred - tp, n_gt - tp
    p = tp / n_pred if n_pred else 0.0
    r = tp / n_gt if n_gt else 0.0
    gt = np.asarray(gt, float).reshape(-1, 2)
    det = np.asarray(det, float).reshape(-1, 2)
    so = [abs(det[j, 0] - gt[i, 0]) * 1000 for i, j, _ in pairs]
    eo = [abs(det[j, 1] - gt[i, 1]) * 1000 for i, j, _ in pairs]
    return {
        "n_gt": n_gt,
        "n_pred": n_pred,
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "precision": p,
        "recall": r,
        "f1": 2 * p * r / (p + r) if p + r else 0.0,
        "start_offset_ms": float(np.mean(so)) if so else None,
        "end_offset_ms": float(np.mean(eo)) if eo else None,
    }


def ground_truth(index: dict[str, Any], classes: list[str]) -> pd.DataFrame:
    """Annotated target events of ``classes`` as a DataFrame (uid, recording, tape, start_s, end_s, label)."""
    ev = [e for e in index["events"] if e["role"] == "target" and e["label"] in classes]
    return pd.DataFrame(ev, columns=["uid", "recording", "tape", "start_s", "end_s", "label"])


def match_detections(det: pd.DataFrame, gt: pd.DataFrame, iou: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Match per recording with both methods.

    Returns (detections with ``gt_greedy``, ``gt_hungarian``, ``iou_hungarian`` columns,
    per-recording counts with ``method`` in {greedy, hungarian}).
    """
    det = det.copy()
    det["gt_greedy"] = ""
    det["gt_hungarian"] = ""
    det["iou_hungarian"] = 0.0
    rows = []
    recs = sorted(set(det.recording) | set(gt.recording))
    for rec in recs:
        d = det[det.recording == rec]
        g = gt[gt.recording == rec]
        D = d[["start_s", "end_s"]].to_numpy(float)
        G = g[["start_s", "end_s"]].to_numpy(float)
        for method, fn in (("greedy", match_greedy), ("hungarian", match_hungarian)):
            pairs = fn(G, D, iou)
            for i, j, v in pairs:
                det.loc[d.index[j], f"gt_{method}"] = g.uid.iloc[i]
                if method == "hungarian":
                    det.loc[d.index[j], "iou_hungarian"] = v
            rows.append({"recording": rec, "method": method, **counts(len(G), len(D), pairs, G, D)})
    return det, pd.DataFrame(rows)


def aggregate(per_rec: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Sum counts over ``keys`` groups and recompute precision/recall/f1 (offsets: tp-weighted means)."""
    out = []
    for k, g in per_rec.groupby(keys, sort=True):
        tp, fp, fn = int(g.tp.sum()), int(g.fp.sum()), int(g.fn.sum())
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        row = dict(zip(keys, k if isinstance(k, tuple) else (k,)))
        w = g.tp.to_numpy(float)
        off = {}
        for c in ("start_offset_ms", "end_offset_ms"):
            v = pd.to_numeric(g[c], errors="coerce").to_numpy(float)
            ok = ~np.isnan(v) & (w > 0)
            off[c] = float(np.sum(v[ok] * w[ok]) / np.sum(w[ok])) if ok.any() else None
        row.update(
            n_gt=int(g.n_gt.sum()),
            n_pred=int(g.n_pred.sum()),
            tp=tp,
            fp=fp,
            fn=fn,
            precision=p,
            recall=r,
            f1=2 * p * r / (p + r) if p + r else 0.0,
            **off,
        )
        out.append(row)
    return pd.DataFrame(out)


def evaluate_detections(det: pd.DataFrame, gt: pd.DataFrame, roles: dict[str, str], iou: float) -> dict[str, Any]:
    """Match and summarise. Returns dict with ``detections`` (matched), ``per_recording``, ``per_tape`` and
    ``groups`` (``heldout``: tapes with role benchmark/test, ``all``) -> method -> counts."""
    det, per_rec = match_detections(det, gt, iou)
    rec_tape = dict(zip(gt.recording, gt.tape)) | dict(zip(det.recording, det.tape))
    per_rec["tape"] = per_rec.recording.map(rec_tape)
    per_rec["role"] = per_rec.tape.map(roles).fillna("unknown")
    per_tape = aggregate(per_rec, ["tape", "role", "method"]) if len(per_rec) else pd.DataFrame()
    groups: dict[str, Any] = {}
    for name, mask in (("heldout", per_rec.role.isin(HELDOUT_ROLES)), ("all", per_rec.role.notna())):
        sub = per_rec[mask]
        groups[name] = (
            {
                r["method"]: {k: v for k, v in r.items() if k != "method"}
                for r in aggregate(sub, ["method"]).to_dict("records")
            }
            if len(sub)
            else {}
        )
    return {"detections": det, "per_recording": per_rec, "per_tape": per_tape, "groups": groups}


#: bootstrap draws and seed of :func:`event_intervals` (fixed: the interval is part of the headline's bytes)
BOOTSTRAP_DRAWS, BOOTSTRAP_SEED = 2000, 0


def event_intervals(tp: int, fp: int, fn: int, draws: int = BOOTSTRAP_DRAWS, seed: int = BOOTSTRAP_SEED) -> dict:
    """Event count and 95% intervals of event-level precision, recall and F1 by a bootstrap over events.

    The ``tp + fp + fn`` scored events (each annotated call found or missed, each detection true or false)
    are resampled with replacement (multinomial counts of the three outcomes, ``draws`` times, numpy
    ``default_rng(seed)``), and each rate's 2.5th/97.5th percentiles are its interval (the percentile
    bootstrap, Efron & Tibshirani 1993). Resampling events treats them as independent, which calls of one
    recording are not quite; with as few held-out recordings as the demo has, a bootstrap over recordings
    would rest on a handful of clusters.

    Returns:
        ``{"events": tp + fn (annotated calls), "f1_ci95_lo", "f1_ci95_hi", "precision_ci95_lo", ...}``;
        only ``events`` when there is nothing to resample.
    """
    out: dict[str, Any] = {"events": int(tp + fn)}
    n = tp + fp + fn
    if n == 0:
        return out
    rng = np.random.default_rng(seed)
    c = rng.multinomial(n, np.array([tp, fp, fn], dtype=float) / n, size=draws).astype(float)
    t, f_p, f_n = c[:, 0], c[:, 1], c[:, 2]
    with np.errstate(invalid="ignore", divide="ignore"):
        rates = {
            "precision": np.where(t + f_p > 0, t / (t + f_p), 0.0),
            "recall": np.where(t + f_n > 0, t / (t + f_n), 0.0),
            "f1": np.where(2 * t + f_p + f_n > 0, 2 * t / (2 * t + f_p + f_n), 0.0),
        }
    for name, r in rates.items():
        lo, hi = np.percentile(r, [2.5, 97.5])
        out[f"{name}_ci95_lo"], out[f"{name}_ci95_hi"] = float(lo), float(hi)
    return out
