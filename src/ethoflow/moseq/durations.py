"""Syllable durations: run lengths of per-frame syllable labels, and their distribution.

The lowest moseq module for durations (numpy only): :mod:`~ethoflow.moseq.results`,
:mod:`~ethoflow.moseq.seeds` and :mod:`~ethoflow.moseq.validation` all measure syllables with it.
"""

from __future__ import annotations

import numpy as np

from ethoflow.core.errors import InputError

__all__ = ["duration_stats", "run_lengths", "syllable_durations"]


def run_lengths(labels: np.ndarray) -> np.ndarray:
    """Lengths (frames) of the runs of equal values in a 1-D label sequence."""
    labels = np.asarray(labels)
    if labels.size == 0:
        return np.zeros(0, dtype=int)
    change = np.flatnonzero(np.diff(labels) != 0) + 1
    edges = np.concatenate([[0], change, [labels.size]])
    return np.diff(edges)


def syllable_durations(res: dict[str, dict]) -> np.ndarray:
    """Every syllable's duration (frames): run lengths of ``res[session]["syllable"]`` (kpms
    ``extract_results`` layout), sessions in sorted order, concatenated.

    Raises:
        InputError: ``res`` has no sessions.
    """
    if not res:
        raise InputError("no sessions in the results: cannot compute syllable durations")
    return np.concatenate([run_lengths(np.asarray(res[name]["syllable"])) for name in sorted(res)])


def duration_stats(durations: np.ndarray, fps: float) -> dict[str, float]:
    """Distribution of syllable durations (run lengths in frames): quartiles in ms (numpy's linear
    interpolation) and the fraction of syllables lasting a single frame ("spiky" syllables).

    Raises:
        InputError: no durations.
    """
    d = np.asarray(durations, dtype=float)
    if d.size == 0:
        raise InputError("no syllables: cannot compute the duration distribution")
    q25, q50, q75 = (float(v) for v in np.percentile(d, [25, 50, 75]))
    to_ms = 1000.0 / fps
    return {
        "q25_ms": round(q25 * to_ms, 3),
        "median_ms": round(q50 * to_ms, 3),
        "q75_ms": round(q75 * to_ms, 3),
        "one_frame_fraction": round(float(np.mean(d == 1)), 6),
    }
