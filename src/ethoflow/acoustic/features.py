"""Per-detection acoustic features (librosa) for the random-forest false-alarm filter.

Raven-style measurements on a band-limited power spectrogram (STFT rows between ``fmin`` and ``fmax``),
as defined in the Raven Pro 1.6 manual (Charif et al.), computed by us:

- ``dur_50`` / ``dur_90`` (s): time between the 25 % and 75 % (5 % and 95 %) points of the cumulative
  energy over time.
- ``freq_5``, ``freq_25``, ``center_freq`` (50 %), ``freq_75``, ``freq_95`` (Hz): the frequencies below
  which that share of the energy (summed over time) lies.
- ``bw_50`` = freq_75 - freq_25, ``bw_90`` = freq_95 - freq_5 (Hz).
- ``avg_entropy`` (bits): mean over frames of the Shannon entropy of each frame's spectrum;
  ``agg_entropy`` (bits): entropy of the time-summed spectrum.
- 13 MFCCs (``librosa.feature.mfcc``) with deltas and delta-deltas: mean and std of each (78 values).
- ``cnn_logit_mean`` from the detection.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from ethoflow.acoustic.params import RFParams
from ethoflow.core import get_logger, progress

log = get_logger(__name__)


def _percentile_point(cum: np.ndarray, q: float) -> int:
    return int(np.searchsorted(cum, q * cum[-1], side="left")) if cum[-1] > 0 else 0


def _entropy_bits(p: np.ndarray, axis: int = 0) -> np.ndarray:
    p = p / np.maximum(p.sum(axis=axis, keepdims=True), 1e-30)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.where(p > 0, p * np.log2(p), 0.0).sum(axis=axis)
    return h


def segment_features(y: np.ndarray, sr: int, p: RFParams) -> dict[str, float]:
    """Features of one audio segment ``y`` (n_samples,) at ``sr`` Hz (see the module docstring).

    Segments shorter than ``n_fft`` use the largest power of two that fits (at least 64 samples;
    shorter segments are zero-padded to 64).
    """
    import librosa

    y = np.asarray(y, dtype=np.float32)
    if y.size < 64:
        y = np.pad(y, (0, 64 - y.size))
    n_fft = p.n_fft
    while n_fft > y.size and n_fft > 64:
        n_fft //= 2
    hop = max(1, min(p.hop_length, n_fft // 2))
    S = np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop, center=False, window="hann")) ** 2
    freqs = np.arange(S.shape[0]) * sr / n_fft
    fmax = min(p.fmax, sr / 2)
    band = (freqs >= p.fmin) & (freqs <= fmax)
    S, freqs = S[band], freqs[band]
    times = (np.arange(S.shape[1]) * hop + n_fft / 2) / sr
    e_t = np.cumsum(S.sum(axis=0))
    e_f = np.cumsum(S.sum(axis=1))
    t = {q: times[min(_percentile_point(e_t, q), len(times) - 1)] for q in (0.05, 0.25, 0.75, 0.95)}
    fq = {q: freqs[min(_percentile_point(e_f, q), len(freqs) - 1)] for q in (0.05, 0.25, 0.5, 0.75, 0.95)}
    hop_s = hop / sr
    out = {
        "dur_50": float(t[0.75] - t[0.25] + hop_s),
        "dur_90": float(t[0.95] - t[0.05] + hop_s),
        "freq_5": float(fq[0.05]),
        "freq_25": float(fq[0.25]),
        "center_freq": float(fq[0.5]),
        "freq_75": float(fq[0.75]),
        "freq_95": float(fq[0.95]),
        "bw_50": float(fq[0.75] - fq[0.25]),
        "bw_90": float(fq[0.95] - fq[0.05]),
        "avg_entropy": float(np.mean(_entropy_bits(S, axis=0))) if S.size else 0.0,
        "agg_entropy": float(_entropy_bits(S.sum(axis=1), axis=0)) if S.size else 0.0,
    }
    with warnings.catch_warnings():  # tiny segments leave some mel filters empty
        warnings.simplefilter("ignore")
        mf = librosa.feature.mfcc(
            y=y,
            sr=sr,
            n_mfcc=p.n_mfcc,
            n_fft=n_fft,
            hop_length=hop,
            fmin=p.fmin,
            fmax=fmax,
            center=False,
            n_mels=max(p.n_mfcc + 1, min(40, n_fft // 8)),
        )
    n = mf.shape[1]
    width = min(9, n if n % 2 else n - 1)
    if width >= 3:
        d1 = librosa.feature.delta(mf, width=width, order=1)
        d2 = librosa.feature.delta(mf, width=width, order=2)
    else:
        d1 = d2 = np.zeros_like(mf)
    for name, m in (("mfcc", mf), ("dmfcc", d1), ("ddmfcc", d2)):
        for i in range(m.shape[0]):
            out[f"{name}{i + 1}_mean"] = float(m[i].mean())
            out[f"{name}{i + 1}_std"] = float(m[i].std())
    return out


def detection_features(det: pd.DataFrame, files: dict[str, str], p: RFParams) -> pd.DataFrame:
    """Feature table (one row per detection, same order) for detections (``recording, start_s, end_s,
    cnn_logit_mean``); ``files`` maps recording -> audio path. Audio is read once per recording."""
    import soundfile as sf

    rows: list[dict[str, Any]] = [dict() for _ in range(len(det))]
    det = det.reset_index(drop=True)
    from ethoflow.core.inputs import audio_info

    for rec, g in progress(det.groupby("recording", sort=True), desc="features"):
        audio_info(files[rec])  # truncated/empty/non-audio named as such
        y, sr = sf.read(files[rec], dtype="float32", always_2d=True)
        y = y.mean(axis=1)
        for i, r in g.iterrows():
            a, b = int(r.start_s * sr), max(int(r.end_s * sr), int(r.start_s * sr) + 1)
            rows[i] = segment_features(y[a:b], sr, p) | {"cnn_logit_mean": float(r.cnn_logit_mean)}
    cols = list(rows[0]) if rows else []
    return pd.DataFrame(rows, columns=cols)
