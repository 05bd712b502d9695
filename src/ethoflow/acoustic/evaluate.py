"""acoustic_evaluate: window probabilities -> detections -> 1-D IoU matching against the annotations.

Detections: windows with ``prob >= threshold`` are chained when they overlap or are at most
``min_gap_s`` apart (with ``boundary: center`` each positive window stands for its central ``hop_s``
only, which keeps detections close to the call's true edges); detections shorter than ``min_dur_s``
are dropped. Each detection carries ``cnn_logit_mean``: the duration-weighted mean log-odds of its windows.

Matching (a detection and an annotated call match when their time IoU >= ``iou``):

- ``greedy`` (as the alpaca scripts did): annotations in time order, each takes the still-unmatched
  detection with the highest IoU.
- ``hungarian``: a maximum-cardinality assignment (ties broken by total IoU) with
  ``scipy.optimize.linear_sum_assignment``; never fewer matches than greedy.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ethoflow.core import atomic_path, get_logger, read_json, write_json
from ethoflow.core.io import atomic_dir

if TYPE_CHECKING:
    from ethoflow.acoustic.params import AcousticParams
    from ethoflow.acoustic.records import VariantIndex

log = get_logger(__name__)

HELDOUT_ROLES = ("benchmark", "test")
DET_COLUMNS = ["tape", "recording", "role", "start_s", "end_s", "cnn_logit_mean", "prob_max", "n_windows", "label"]


def iou_1d(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Intersection over union of two time intervals (start, end) in seconds (0 when disjoint)."""
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
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


def chain_windows(
    win: pd.DataFrame,
    threshold: float,
    hop_s: float,
    boundary: str = "center",
    min_gap_s: float = 0.0,
    min_dur_s: float = 0.0,
) -> pd.DataFrame:
    """Detections of one recording from its windows (``start_s, end_s, prob, logit`` [, ``label``]).

    Returns a DataFrame with ``start_s, end_s, cnn_logit_mean, prob_max, n_windows, label``.
    """
    w = win[win.prob >= threshold].sort_values("start_s")
    cols = ["start_s", "end_s", "cnn_logit_mean", "prob_max", "n_windows", "label"]
    if w.empty:
        return pd.DataFrame(columns=cols)
    s, e = w.start_s.to_numpy(float), w.end_s.to_numpy(float)
    if boundary == "center":
        c = (s + e) / 2
        half = np.minimum(hop_s, e - s) / 2
        s, e = c - half, c + half
    dur = w.end_s.to_numpy(float) - w.start_s.to_numpy(float)
    logit, prob = w.logit.to_numpy(float), w.prob.to_numpy(float)
    labels = w["label"].to_numpy() if "label" in w else np.array(["target"] * len(w))
    out, cur = [], None
    for k in range(len(w)):
        if cur is not None and s[k] <= cur["end"] + min_gap_s + 1e-9:
            cur["end"] = max(cur["end"], e[k])
            cur["idx"].append(k)
        else:
            if cur is not None:
                out.append(cur)
            cur = {"start": s[k], "end": e[k], "idx": [k]}
    out.append(cur)
    rows = []
    for d in out:
        idx = np.array(d["idx"])
        if d["end"] - d["start"] < min_dur_s:
            continue
        vals, cnt = np.unique(labels[idx], return_counts=True)
        rows.append(
            {
                "start_s": round(max(d["start"], 0.0), 6),
                "end_s": round(d["end"], 6),
                "cnn_logit_mean": float(np.sum(logit[idx] * dur[idx]) / np.sum(dur[idx])),
                "prob_max": float(prob[idx].max()),
                "n_windows": len(idx),
                "label": str(vals[cnt.argmax()]),
            }
        )
    return pd.DataFrame(rows, columns=cols)


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


def detect_all(
    pred: pd.DataFrame,
    roles: dict[str, str],
    threshold: float,
    hop_s: float,
    boundary: str,
    min_gap_s: float,
    min_dur_s: float,
) -> pd.DataFrame:
    """:func:`chain_windows` over every recording of a predictions table -> detections (:data:`DET_COLUMNS`)."""
    frames = []
    for (tape, rec), w in pred.groupby(["tape", "recording"], sort=True):
        d = chain_windows(w, threshold, hop_s, boundary, min_gap_s, min_dur_s)
        d.insert(0, "role", roles.get(tape, "unknown"))
        d.insert(0, "recording", rec)
        d.insert(0, "tape", tape)
        frames.append(d)
    det = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=DET_COLUMNS)
    return det[DET_COLUMNS].astype(
        {"start_s": float, "end_s": float, "cnn_logit_mean": float, "prob_max": float, "n_windows": int}
    )


def pr_curve(
    pred: pd.DataFrame,
    gt: pd.DataFrame,
    roles: dict[str, str],
    hop_s: float,
    boundary: str,
    min_gap_s: float,
    min_dur_s: float,
    iou: float,
    thresholds: np.ndarray | None = None,
) -> pd.DataFrame:
    """Event-level precision/recall (Hungarian, held-out tapes or all when none) per window threshold."""
    thresholds = np.round(np.arange(0.05, 1.0, 0.05), 2) if thresholds is None else thresholds
    held = {t for t, r in roles.items() if r in HELDOUT_ROLES}
    p = pred[pred.tape.isin(held)] if held else pred
    g = gt[gt.tape.isin(held)] if held else gt
    rows = []
    from ethoflow.core.progress import progress

    for thr in progress(thresholds, desc="pr curve", unit="thr"):
        det = detect_all(p, roles, float(thr), hop_s, boundary, min_gap_s, min_dur_s)
        _, per = match_detections(det, g, iou)
        per = per[per.method == "hungarian"]
        tp, fp, fn = int(per.tp.sum()), int(per.fp.sum()), int(per.fn.sum())
        pr = tp / (tp + fp) if tp + fp else 1.0
        rc = tp / (tp + fn) if tp + fn else 0.0
        rows.append(
            {"threshold": float(thr), "precision": pr, "recall": rc, "f1": 2 * pr * rc / (pr + rc) if pr + rc else 0.0}
        )
    return pd.DataFrame(rows)


def write_layer(
    out_dir: str | Path, metrics_path: str | Path, layer: str, result: dict[str, Any], meta: dict[str, Any]
) -> None:
    """Write one layer's (``cnn`` or ``rf``) detections.parquet, per_tape.csv, selection tables and metrics JSON."""
    from ethoflow.acoustic.variants import write_tables

    out = Path(out_dir)
    det = result["detections"]
    with atomic_path(out / "detections.parquet") as tmp:
        det.to_parquet(tmp, index=False)
    with atomic_path(out / "per_tape.csv") as tmp:
        result["per_tape"].to_csv(tmp, index=False, float_format="%.6f", lineterminator="\n")
    write_tables(
        det.assign(label=det["label"]),
        out / "selections",
        meta["recordings"],
        extra=["cnn_logit_mean", "prob_max", "gt_hungarian"] + (["rf_prob"] if "rf_prob" in det else []),
    )
    write_json(
        metrics_path,
        {"layer": layer, **{k: v for k, v in meta.items() if k != "recordings"}, "groups": result["groups"]},
    )


@contextlib.contextmanager
def layer_set(out_dir: str | Path, metrics_path: str | Path) -> Iterator[tuple[Path, Path]]:
    """Write a layer's folder all-or-nothing (:func:`ethoflow.core.io.atomic_dir`).

    Yields (temporary folder, where to write the metrics JSON): inside the temporary folder when
    ``metrics_path`` lies in ``out_dir``, else a temporary sibling of ``metrics_path`` renamed with the folder.
    """
    from ethoflow.core.io import output_set

    out, metrics = Path(out_dir), Path(metrics_path)
    try:
        rel = metrics.resolve().relative_to(out.resolve())
    except ValueError:
        rel = None
    if rel is not None:
        with atomic_dir(out) as tmp:
            yield tmp, tmp / rel
        return
    with output_set([metrics]) as (tmp_metrics,), atomic_dir(out) as tmp:
        yield tmp, tmp_metrics


def evaluate_predictions(
    cfg: AcousticParams,
    variant: str,
    setting: str,
    vindex: VariantIndex,
    predictions: str,
    corpus_index: str,
    out: str,
) -> None:
    """``acoustic_evaluate`` for one item: window probabilities (``predictions``, Parquet) -> detections
    (threshold, chaining, clean-up) with their frequency bands -> IoU matching against the corpus's
    ground truth. Writes the ``cnn`` layer into ``out`` (:func:`write_layer`: detections.parquet,
    per_tape.csv, selections/, metrics.json) and ``out/pr_curve.csv``. ``variant`` names the item's model
    (a trained variant or an external model); ``vindex`` is the variant whose recordings were predicted.
    Top level, so a dispatched job pickles it by reference.
    """
    from ethoflow.acoustic.features import detection_bands

    ev, s = cfg.evaluate, cfg.predict.settings[setting]
    roles = vindex.tape_roles
    pred = pd.read_parquet(predictions)
    gt = ground_truth(read_json(corpus_index), vindex.classes)
    det = detect_all(pred, roles, ev.threshold, s.hop_s, ev.boundary, ev.min_gap_s, ev.min_dur_s)
    files = {r.recording: r.file for r in vindex.recordings}
    det = detection_bands(det, files, cfg.features.fmin, cfg.features.fmax)  # Raven Low/High Freq
    result = evaluate_detections(det, gt, roles, ev.iou)
    meta = {
        "variant": variant,
        "setting": setting,
        "iou": ev.iou,
        "threshold": ev.threshold,
        "recordings": vindex.recording_names(),
    }
    curve = pr_curve(pred, gt, roles, s.hop_s, ev.boundary, ev.min_gap_s, ev.min_dur_s, ev.iou)
    with layer_set(out, Path(out) / "metrics.json") as (tmp, tmp_metrics):  # all-or-nothing
        write_layer(tmp, tmp_metrics, "cnn", result, meta)
        curve.to_csv(tmp / "pr_curve.csv", index=False, float_format="%.6f", lineterminator="\n")
