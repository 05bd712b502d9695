"""Window probabilities -> detections: threshold, chaining and clean-up.

Windows with ``prob >= threshold`` are chained when they overlap or are at most ``min_gap_s`` apart
(with ``boundary: center`` each positive window stands for its central ``hop_s`` only, which keeps
detections close to the call's true edges); detections shorter than ``min_dur_s`` are dropped. Each
detection carries ``cnn_logit_mean``: the duration-weighted mean log-odds of its windows.
The clean-up is TweetyNet's (Cohen et al. 2022, eLife): merge detections separated by gaps shorter
than ``min_gap_s``, then drop detections shorter than ``min_dur_s``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

DET_COLUMNS = ["tape", "recording", "role", "start_s", "end_s", "cnn_logit_mean", "prob_max", "n_windows", "label"]


def merge_intervals(
    start_s: np.ndarray, end_s: np.ndarray, min_gap_s: float = 0.0, min_dur_s: float = 0.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Chain intervals ``(start_s[k], end_s[k])`` (seconds, shape (n,), in time order) into events: an interval joins
    the current event when it starts at most ``min_gap_s`` after the event's end (overlapping and touching
    intervals always join); events shorter than ``min_dur_s`` are then dropped (TweetyNet's clean-up:
    merge short gaps first, then remove short segments).

    Returns (starts (m,), ends (m,), event index of each interval (n,), -1 for intervals of dropped events).
    """
    start_s, end_s = np.asarray(start_s, float), np.asarray(end_s, float)
    if not len(start_s):
        return np.zeros(0), np.zeros(0), np.zeros(0, int)
    run_end = np.maximum.accumulate(end_s)
    new = np.ones(len(start_s), bool)
    new[1:] = start_s[1:] > run_end[:-1] + min_gap_s + 1e-9
    first = np.flatnonzero(new)
    starts, ends = start_s[first], np.maximum.reduceat(end_s, first)
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
