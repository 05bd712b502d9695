"""acoustic_evaluate: window probabilities -> detections -> 1-D IoU matching against the annotations.

Detections: windows with ``prob >= threshold`` are chained when they overlap or are at most
``min_gap_s`` apart (with ``boundary: center`` each positive window stands for its central ``hop_s``
only, which keeps detections close to the call's true edges); detections shorter than ``min_dur_s``
are dropped. Each detection carries ``cnn_logit_mean``: the duration-weighted mean log-odds of its windows.

Post-processing chosen on validation tapes (:func:`choose_postprocess`): ``threshold``, ``min_gap_s``
and ``min_dur_s`` may each be ``auto``; the ``auto`` ones are chosen jointly, on a grid
(``evaluate.search``), by the mean event F1 (Hungarian matching at ``iou``) over the variant's validation
tapes (role ``val``), never on test or benchmark tapes, with the one-standard-error rule toward
``evaluate.defaults`` and a fall-back to the defaults under ``evaluate.min_val_events`` validation events;
the chosen values and their validation evidence are used for every tape and written to the metrics and
to ``postprocess.json`` (which detection sets of that variant read). ``evaluate.min_bout_gap_s`` (a lab's
shortest gap between two events) floors the merge gap everywhere.
The clean-up is TweetyNet's (Cohen et al. 2022, eLife): merge detections separated by gaps shorter
than ``min_gap_s``, then drop detections shorter than ``min_dur_s``.

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
    from ethoflow.acoustic.params import AcousticParams, EvaluateParams
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


def merge_intervals(
    s: np.ndarray, e: np.ndarray, min_gap_s: float = 0.0, min_dur_s: float = 0.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Chain intervals ``(s[k], e[k])`` (seconds, shape (n,), in time order) into events: an interval joins
    the current event when it starts at most ``min_gap_s`` after the event's end (overlapping and touching
    intervals always join); events shorter than ``min_dur_s`` are then dropped (TweetyNet's clean-up:
    merge short gaps first, then remove short segments).

    Returns (starts (m,), ends (m,), event index of each interval (n,), -1 for intervals of dropped events).
    """
    s, e = np.asarray(s, float), np.asarray(e, float)
    if not len(s):
        return np.zeros(0), np.zeros(0), np.zeros(0, int)
    run_end = np.maximum.accumulate(e)
    new = np.ones(len(s), bool)
    new[1:] = s[1:] > run_end[:-1] + min_gap_s + 1e-9
    first = np.flatnonzero(new)
    starts, ends = s[first], np.maximum.reduceat(e, first)
    group = np.cumsum(new) - 1
    keep = ends - starts >= min_dur_s
    renum = np.where(keep, np.cumsum(keep) - 1, -1)
    return starts[keep], ends[keep], renum[group]


def window_intervals(win: pd.DataFrame, threshold: float, hop_s: float, boundary: str = "center") -> pd.DataFrame:
    """The windows with ``prob >= threshold`` in time order, with the interval each stands for (``s``, ``e``,
    seconds): the whole window (``boundary: full``) or its central ``hop_s`` (``center``)."""
    w = win[win.prob >= threshold].sort_values("start_s")
    s, e = w.start_s.to_numpy(float), w.end_s.to_numpy(float)
    if boundary == "center":
        c = (s + e) / 2
        half = np.minimum(hop_s, e - s) / 2
        s, e = c - half, c + half
    return w.assign(s=s, e=e)


def chain_windows(
    win: pd.DataFrame,
    threshold: float,
    hop_s: float,
    boundary: str = "center",
    min_gap_s: float = 0.0,
    min_dur_s: float = 0.0,
) -> pd.DataFrame:
    """Detections of one recording from its windows (``start_s, end_s, prob, logit`` [, ``label``]):
    windows with ``prob >= threshold`` (:func:`window_intervals`) chained and cleaned up by
    :func:`merge_intervals`.

    Returns a DataFrame with ``start_s, end_s, cnn_logit_mean, prob_max, n_windows, label``.
    """
    w = window_intervals(win, threshold, hop_s, boundary)
    cols = ["start_s", "end_s", "cnn_logit_mean", "prob_max", "n_windows", "label"]
    if w.empty:
        return pd.DataFrame(columns=cols)
    starts, ends, group = merge_intervals(w.s.to_numpy(), w.e.to_numpy(), min_gap_s, min_dur_s)
    dur = w.end_s.to_numpy(float) - w.start_s.to_numpy(float)
    logit, prob = w.logit.to_numpy(float), w.prob.to_numpy(float)
    labels = w["label"].to_numpy() if "label" in w else np.array(["target"] * len(w))
    rows = []
    for g in range(len(starts)):
        idx = np.flatnonzero(group == g)
        vals, cnt = np.unique(labels[idx], return_counts=True)
        rows.append(
            {
                "start_s": round(max(starts[g], 0.0), 6),
                "end_s": round(ends[g], 6),
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


VAL_ROLE = "val"
#: the file of an ``acoustic_evaluate`` out holding the post-processing it used (detection sets read it)
POSTPROCESS_FILE = "postprocess.json"


def _event_scores(
    recs: list[tuple[pd.DataFrame, np.ndarray]], threshold: float, min_gap_s: float, min_dur_s: float, iou: float
) -> np.ndarray:
    """Per recording ``(windows with s/e, gt (n, 2))``: rows (tp, n_pred, n_gt, summed IoU of the matches)."""
    out = np.zeros((len(recs), 4))
    for k, (w, g) in enumerate(recs):
        w = w[w.prob >= threshold]
        st, en, _ = merge_intervals(w.s.to_numpy(), w.e.to_numpy(), min_gap_s, min_dur_s)
        det = np.column_stack([np.round(np.maximum(st, 0.0), 6), np.round(en, 6)])
        pairs = match_hungarian(g, det, iou) if len(g) and len(det) else []
        out[k] = len(pairs), len(det), len(g), sum(v for _, _, v in pairs)
    return out


def _f1(tp: int, n_pred: int, n_gt: int) -> tuple[float, float, float]:
    p = tp / n_pred if n_pred else 0.0
    r = tp / n_gt if n_gt else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


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


def _unit_f1(per_unit: np.ndarray) -> np.ndarray:
    """Event F1 of each unit (rows tp, n_pred, n_gt, ...); units with neither events nor detections are NaN."""
    tp, n_pred, n_gt = per_unit[:, 0], per_unit[:, 1], per_unit[:, 2]
    f1 = np.where(n_pred + n_gt > 0, 2 * tp / np.maximum(n_pred + n_gt, 1), np.nan)
    return f1


_POSTPROCESS_KEYS = ("threshold", "min_gap_s", "min_dur_s")


def _validation_units(
    pred: pd.DataFrame, gt: pd.DataFrame, val: list[str], hop_s: float, ev: EvaluateParams
) -> tuple[list[tuple[pd.DataFrame, np.ndarray]], np.ndarray, bool]:
    """The validation tapes' recordings, each as ``(windows with s/e, gt (n, 2))`` (sorted by recording),
    and the (n_units, n_recordings) 0/1 membership of recordings in units: the tapes when there are 3 or
    more, else the recordings. Returns (recordings, membership, units are tapes)."""
    p = pred[pred.tape.isin(val)]
    g = gt[gt.tape.isin(val)]
    recs, rec_names = [], sorted(set(p.recording) | set(g.recording))
    for rec in rec_names:
        w = window_intervals(p[p.recording == rec], 0.0, hop_s, ev.boundary)
        recs.append((w, g.loc[g.recording == rec, ["start_s", "end_s"]].to_numpy(float)))
    rec_tape = dict(zip(p.recording, p.tape)) | dict(zip(g.recording, g.tape))
    by_tape = len(val) >= 3
    unit_of = [rec_tape[r] if by_tape else r for r in rec_names]
    units = sorted(set(unit_of))
    member = np.array([[u == x for x in unit_of] for u in units], float).reshape(len(units), len(rec_names))
    return recs, member, by_tape


def _search_grid(ev: EvaluateParams, fixed: dict[str, float], auto: list[str]) -> dict[str, list[float]]:
    """Candidate values of each post-processing key: ``ev.search``'s (sorted, unique) for the ``auto``
    keys, the fixed value for the others; merge gaps floored by ``ev.min_bout_gap_s``."""
    grid = {k: [fixed[k]] for k in _POSTPROCESS_KEYS}
    if "threshold" in auto:
        grid["threshold"] = sorted(set(ev.search.thresholds))
    for k in ("min_gap_s", "min_dur_s"):
        if k in auto:
            grid[k] = sorted(set(getattr(ev.search, k)))
    if "min_gap_s" in auto:
        grid["min_gap_s"] = sorted({ev.merge_gap(v) for v in grid["min_gap_s"]})
    return grid


def _score_candidates(
    recs: list[tuple[pd.DataFrame, np.ndarray]],
    member: np.ndarray,
    grid: dict[str, list[float]],
    defaults: dict[str, float],
    auto: list[str],
    iou: float,
) -> list[dict[str, Any]]:
    """Score every candidate of ``grid`` (threshold, then gap, then duration order): mean, SD and SE of the
    unit event F1s, pooled F1, summed IoU of the matches, distance to ``defaults`` over the ``auto`` keys
    (each over its grid's span) and the pooled counts ``tot`` (tp, n_pred, n_gt, IoU sum)."""
    span = {k: (max(grid[k] + [defaults[k]]) - min(grid[k] + [defaults[k]])) or 1.0 for k in _POSTPROCESS_KEYS}
    cands = []
    for thr in grid["threshold"]:
        for gap in grid["min_gap_s"]:
            for dur in grid["min_dur_s"]:
                per_rec = _event_scores(recs, thr, gap, dur, iou)
                per_unit = member @ per_rec
                f1u = _unit_f1(per_unit)
                f1u = f1u[~np.isnan(f1u)]
                tot = per_rec.sum(axis=0)
                mean = float(np.mean(f1u)) if len(f1u) else 0.0
                sd = float(np.std(f1u, ddof=1)) if len(f1u) > 1 else 0.0
                vals = {"threshold": thr, "min_gap_s": gap, "min_dur_s": dur}
                dist = sum(abs(vals[k] - defaults[k]) / span[k] for k in auto)
                cands.append(
                    {
                        **vals,
                        "mean": round(mean, 12),
                        "sd": sd,
                        "se": sd / np.sqrt(len(f1u)) if len(f1u) else 0.0,
                        "n_units": len(f1u),
                        "pooled": round(_f1(*tot[:3])[2], 12),
                        "iou_sum": round(float(tot[3]), 9),
                        "dist": round(dist, 12),
                        "tot": tot,
                    }
                )
    return cands


def _pick_one_se(cands: list[dict[str, Any]], tolerance_se: float) -> tuple[dict[str, Any], dict[str, Any]]:
    """(best, pick): the best-mean candidate and, among those within ``tolerance_se`` of its standard
    errors, the nearest to the defaults (ties: higher mean, pooled F1, IoU sum; lower threshold, gap)."""
    best = max(cands, key=lambda c: (c["mean"], c["pooled"], c["iou_sum"], -c["dist"]))
    floor = best["mean"] - tolerance_se * best["se"] - 1e-12
    pick = min(
        (c for c in cands if c["mean"] >= floor),
        key=lambda c: (c["dist"], -c["mean"], -c["pooled"], -c["iou_sum"], c["threshold"], c["min_gap_s"]),
    )
    return best, pick


def _warn_uninformed(
    model: str, val: list[str], n_gt_val: int, few: bool, ev: EvaluateParams, auto: list[str], defaults: dict
) -> None:
    """Warn when the validation tapes hold no annotated call, or too few for a search (defaults taken)."""
    if not n_gt_val:
        log.warning("%s: the validation tapes %s hold no annotated call; post-processing not informed", model, val)
    elif few:
        log.warning(
            "%s: only %d annotated events on the validation tapes (acoustic.evaluate.min_val_events: %d): "
            "%s take the defaults %s instead of a search",
            model,
            n_gt_val,
            ev.min_val_events,
            ", ".join(auto),
            {k: defaults[k] for k in auto},
        )


def _postprocess_result(
    pick: dict[str, Any],
    best: dict[str, Any],
    auto: list[str],
    rule: str,
    defaults: dict[str, float],
    val: list[str],
    by_tape: bool,
) -> dict[str, Any]:
    """:func:`choose_postprocess`'s answer: the picked values and their validation scores."""
    tp, n_pred, n_gt = (int(v) for v in pick["tot"][:3])
    pr, rc, f1 = _f1(tp, n_pred, n_gt)
    return {
        "threshold": float(pick["threshold"]),
        "min_gap_s": float(pick["min_gap_s"]),
        "min_dur_s": float(pick["min_dur_s"]),
        "auto": auto,
        "rule": rule,
        "defaults": defaults,
        "val_tapes": val,
        "val_units": "tapes" if by_tape else "recordings",
        "val_n_units": pick["n_units"],
        "val_n_gt": n_gt,
        "val_tp": tp,
        "val_fp": n_pred - tp,
        "val_fn": n_gt - tp,
        "val_precision": pr,
        "val_recall": rc,
        "val_f1": f1,
        "val_f1_mean": pick["mean"],
        "val_f1_sd": pick["sd"],
        "val_f1_se": pick["se"],
        "best_val_f1_mean": best["mean"],
        "best": {k: float(best[k]) for k in _POSTPROCESS_KEYS},
    }


def _log_choice(model: str, val: list[str], out: dict[str, Any], pick: dict[str, Any], best: dict[str, Any]) -> None:
    """Log the chosen post-processing (``out``, :func:`_postprocess_result`) and its validation scores."""
    log.info(
        "%s: on validation tapes %s (%d events) chose threshold %g, min_gap_s %g, min_dur_s %g "
        "(%s; mean F1 %.3f +- %.3f SE over %d %s; best mean %.3f)",
        model,
        val,
        out["val_n_gt"],
        out["threshold"],
        out["min_gap_s"],
        out["min_dur_s"],
        out["rule"],
        pick["mean"],
        pick["se"],
        pick["n_units"],
        out["val_units"],
        best["mean"],
    )


def choose_postprocess(
    pred: pd.DataFrame,
    gt: pd.DataFrame,
    roles: dict[str, str],
    hop_s: float,
    ev: EvaluateParams,
    model: str = "",
) -> dict[str, Any]:
    """The post-processing (threshold, min_gap_s, min_dur_s) for one model's window predictions.

    Fixed values of ``ev`` are kept; the ``auto`` ones are chosen jointly from ``ev.search`` on the
    validation tapes (``roles[tape] == "val"``) only, robustly to small validation sets:

    1. Each candidate is scored by its **mean event F1 over validation units** (Hungarian matching at
       ``ev.iou``, detections as :func:`chain_windows` makes them). Units are the validation tapes, or
       their recordings when there are fewer than 3 tapes; a unit with neither events nor detections
       does not count.
    2. Fewer than ``ev.min_val_events`` annotated validation events: the ``auto`` keys take
       ``ev.defaults`` (a warning says so; ``rule: "defaults"``).
    3. Otherwise the one-standard-error rule (Breiman et al. 1984; Hastie et al., *Elements of
       Statistical Learning*, 7.10): among the candidates whose mean is within ``ev.tolerance_se``
       standard errors (of the best candidate's unit F1s) of the best mean, the one nearest
       ``ev.defaults`` (sum of distances, each over its grid's span); then the higher mean, pooled F1
       and summed IoU. With few events the standard error is large and the choice stays at or near the
       defaults; with many it moves to the best mean. ``tolerance_se: 0``: the best mean, ties to the
       nearest to the defaults.

    ``ev.min_bout_gap_s`` floors the merge gap (fixed, searched and default alike).

    Args:
        pred: window predictions (``tape, recording, start_s, end_s, prob``).
        gt: annotated events (``recording, tape, start_s, end_s``).
        roles: tape -> role (``train``/``val``/``test``/``benchmark``/``mixed``).
        hop_s: the prediction hop (s). model: named in errors.

    Returns:
        ``{threshold, min_gap_s, min_dur_s, auto: [keys chosen], rule, defaults, val_tapes, val_units,
        val_n_units, val_n_gt, val_tp, val_fp, val_fn, val_precision, val_recall, val_f1 (pooled),
        val_f1_mean, val_f1_sd, val_f1_se (over units), best_val_f1_mean, best (the best-mean values)}``
        (the ``val_*`` entries at the returned values; absent without validation tapes). ``rule``:
        ``fixed`` (no auto key), ``defaults`` (too few events) or ``one_se``.

    Raises:
        ParamsError: an ``auto`` key and no validation tape (e.g. a ``random`` split, whose tapes are
            ``mixed``), naming the key.
    """
    from ethoflow.core import ParamsError

    auto = ev.auto_keys()
    val = sorted(t for t, r in roles.items() if r == VAL_ROLE)
    fixed = {k: getattr(ev, k) for k in _POSTPROCESS_KEYS}
    defaults = ev.defaults.model_dump()
    defaults["min_gap_s"] = ev.merge_gap(defaults["min_gap_s"])
    if "min_gap_s" not in auto:
        fixed["min_gap_s"] = ev.merge_gap(fixed["min_gap_s"])
    if not val:
        if auto:
            raise ParamsError(
                f"acoustic.evaluate.{auto[0]}: auto is chosen on validation tapes, and {model or 'the model'}'s "
                f"variant has none (tape roles: {sorted(set(roles.values()))}); use a tape_exclusive split or "
                "set a number"
            )
        return {**fixed, "auto": [], "rule": "fixed"}
    recs, member, by_tape = _validation_units(pred, gt, val, hop_s, ev)
    grid = _search_grid(ev, fixed, auto)
    n_gt_val = int(sum(len(x) for _, x in recs))
    few = bool(auto) and n_gt_val < ev.min_val_events
    if few:  # score the defaults only
        grid = {k: [defaults[k]] if k in auto else grid[k] for k in _POSTPROCESS_KEYS}
    cands = _score_candidates(recs, member, grid, defaults, auto, ev.iou)
    best, pick = _pick_one_se(cands, ev.tolerance_se)
    rule = "fixed" if not auto else ("defaults" if few else "one_se")
    _warn_uninformed(model, val, n_gt_val, few, ev, auto, defaults)
    out = _postprocess_result(pick, best, auto, rule, defaults, val, by_tape)
    if auto:
        _log_choice(model, val, out, pick, best)
    return out


def read_postprocess(path: str | Path) -> dict[str, Any]:
    """Read an evaluation's ``postprocess.json`` (:func:`choose_postprocess`'s result).

    Raises:
        InputError: missing file (run ``acoustic_evaluate`` first) or a file without the three values.
    """
    from ethoflow.core import InputError

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: missing; run acoustic_evaluate for this variant and setting first")
    post = read_json(path)
    missing = [k for k in ("threshold", "min_gap_s", "min_dur_s", "auto") if k not in post]
    if missing:
        raise InputError(f"{path}: no {', '.join(missing)} (not written by acoustic_evaluate?)")
    return post


def detection_postprocess(
    cfg: AcousticParams, name: str, evaluations: str | Path | None, params_path: str = "params.yaml"
) -> dict[str, Any]:
    """Threshold and clean-up of detection set ``name``: its own ``threshold`` (``null``:
    ``acoustic.evaluate.threshold``) and ``acoustic.evaluate``'s ``min_gap_s``/``min_dur_s``; each one that is
    ``auto`` is the value ``acoustic_evaluate`` chose on the model variant's validation tapes
    (``<evaluations>/<variant>-<setting>/postprocess.json``).

    Returns ``{threshold, min_gap_s, min_dur_s, from}`` (``from``: the postprocess.json read, or None).

    Raises:
        ParamsError: an ``auto`` for a set whose model is a file (no validation tapes), or whose variant's
            evaluation did not choose that value (naming the key). InputError: postprocess.json missing.
    """
    from ethoflow.core import ParamsError

    ds = cfg.detect.sets[name]
    ev = cfg.evaluate
    want = {
        "threshold": ev.threshold if ds.threshold is None else ds.threshold,
        "min_gap_s": ev.min_gap_s,
        "min_dur_s": ev.min_dur_s,
    }
    auto = [k for k, v in want.items() if v == "auto"]
    if not auto:
        out = {k: float(v) for k, v in want.items()}
        return {**out, "min_gap_s": ev.merge_gap(out["min_gap_s"]), "from": None}
    key = {
        k: (
            f"acoustic.detect.sets.{name}.threshold"
            if k == "threshold" and ds.threshold is not None
            else f"acoustic.evaluate.{k}"
        )
        for k in auto
    }
    if ds.model not in cfg.variants:
        raise ParamsError(
            f"{params_path}: {key[auto[0]]}: auto uses the value chosen on a trained variant's validation tapes, "
            f"and the model of detection set {name!r} is the file {ds.model!r}, which has none: set a number"
        )
    if evaluations is None:
        raise ParamsError(f"{params_path}: {key[auto[0]]}: auto needs acoustic_evaluate's outs (--evaluations)")
    path = Path(evaluations) / f"{ds.model}-{ds.setting}" / POSTPROCESS_FILE
    post = read_postprocess(path)
    for k in auto:
        if k not in post["auto"]:
            raise ParamsError(
                f"{params_path}: {key[k]}: auto reads the value acoustic_evaluate@{ds.model}-{ds.setting} chose on "
                f"validation tapes, but acoustic.evaluate.{k} is fixed there ({post[k]}): set "
                f"acoustic.evaluate.{k}: auto, or a number"
            )
    out = {k: float(post[k]) if k in auto else float(want[k]) for k in want}
    return {**out, "min_gap_s": ev.merge_gap(out["min_gap_s"]), "from": str(path)}


#: window probability thresholds of :func:`pr_curve` (0.05 to 0.95 by 0.05)
PR_THRESHOLDS = np.round(np.arange(0.05, 1.0, 0.05), 2)


def pr_curve(
    pred: pd.DataFrame,
    gt: pd.DataFrame,
    roles: dict[str, str],
    hop_s: float,
    boundary: str,
    min_gap_s: float,
    min_dur_s: float,
    iou: float,
) -> pd.DataFrame:
    """Event-level precision/recall (Hungarian, held-out tapes or all when none) per window threshold
    (:data:`PR_THRESHOLDS`)."""
    thresholds = PR_THRESHOLDS
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
    from ethoflow.acoustic.data.variants import write_tables

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
    ground truth, with the post-processing of :func:`choose_postprocess` (``auto`` values chosen on the
    validation tapes). Writes the ``cnn`` layer into ``out`` (:func:`write_layer`: detections.parquet,
    per_tape.csv, selections/, metrics.json with the values used under ``chosen``), ``out/pr_curve.csv``
    and ``out/postprocess.json``. ``variant`` names the item's model
    (a trained variant or an external model); ``vindex`` is the variant whose recordings were predicted.
    Top level, so a dispatched job pickles it by reference.
    """
    from ethoflow.acoustic.frontend.features import detection_bands

    ev, s = cfg.evaluate, cfg.predict.settings[setting]
    roles = vindex.tape_roles
    pred = pd.read_parquet(predictions)
    gt = ground_truth(read_json(corpus_index), vindex.classes)
    post = choose_postprocess(pred, gt, roles, s.hop_s, ev, f"{variant}-{setting}")
    thr, gap, dur = post["threshold"], post["min_gap_s"], post["min_dur_s"]
    det = detect_all(pred, roles, thr, s.hop_s, ev.boundary, gap, dur)
    files = {r.recording: r.file for r in vindex.recordings}
    det = detection_bands(det, files, cfg.features.fmin, cfg.features.fmax)  # Raven Low/High Freq
    result = evaluate_detections(det, gt, roles, ev.iou)
    chosen = {"threshold": thr, "min_gap_s": gap, "min_dur_s": dur}
    for k in ("val_n_gt", "val_f1", "val_f1_mean", "val_f1_sd", "val_n_units"):
        if k in post:  # the validation evidence of the chosen values
            chosen[k] = post[k]
    meta = {
        "variant": variant,
        "setting": setting,
        "iou": ev.iou,
        "threshold": thr,
        "min_gap_s": gap,
        "min_dur_s": dur,
        "postprocess": post,
        "chosen": chosen,
        "recordings": vindex.recording_names(),
    }
    curve = pr_curve(pred, gt, roles, s.hop_s, ev.boundary, gap, dur, ev.iou)
    with layer_set(out, Path(out) / "metrics.json") as (tmp, tmp_metrics):  # all-or-nothing
        write_layer(tmp, tmp_metrics, "cnn", result, meta)
        curve.to_csv(tmp / "pr_curve.csv", index=False, float_format="%.6f", lineterminator="\n")
        write_json(tmp / POSTPROCESS_FILE, post)
