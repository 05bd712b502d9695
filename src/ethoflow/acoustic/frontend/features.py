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
from ethoflow.core.inputs import audio_info, screen_nonfinite

log = get_logger(__name__)


def _percentile_point(cum: np.ndarray, q: float) -> int:
    return int(np.searchsorted(cum, q * cum[-1], side="left")) if cum[-1] > 0 else 0


def _entropy_bits(p: np.ndarray, axis: int = 0) -> np.ndarray:
    p = p / np.maximum(p.sum(axis=axis, keepdims=True), 1e-30)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.where(p > 0, p * np.log2(p), 0.0).sum(axis=axis)
    return h


def segment_features(y: np.ndarray, sr: int, params: RFParams) -> dict[str, float]:
    """Features of one audio segment ``y`` (n_samples,) at ``sr`` Hz (see the module docstring).

    Segments shorter than ``n_fft`` use the largest power of two that fits (at least 64 samples;
    shorter segments are zero-padded to 64).
    """
    # local: librosa is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    import librosa

    y = np.asarray(y, dtype=np.float32)
    if y.size < 64:
        y = np.pad(y, (0, 64 - y.size))
    n_fft = params.n_fft
    while n_fft > y.size and n_fft > 64:
        n_fft //= 2
    hop = max(1, min(params.hop_length, n_fft // 2))
    S = np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop, center=False, window="hann")) ** 2
    freqs = np.arange(S.shape[0]) * sr / n_fft
    fmax = min(params.fmax, sr / 2)
    band = (freqs >= params.fmin) & (freqs <= fmax)
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
            n_mfcc=params.n_mfcc,
            n_fft=n_fft,
            hop_length=hop,
            fmin=params.fmin,
            fmax=fmax,
            center=False,
            n_mels=max(params.n_mfcc + 1, min(40, n_fft // 8)),
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


def detection_features(
    det: pd.DataFrame, files: dict[str, str], params: RFParams, nonfinite: str = "fail"
) -> pd.DataFrame:
    """Feature table (one row per detection, same order) for detections (``recording, start_s, end_s,
    cnn_logit_mean``); ``files`` maps recording -> audio path. Audio is read once per recording.

    ``nonfinite`` (``acoustic.corpus.nonfinite``): ``fail`` raises on a NaN/infinite sample (naming the file
    and time); ``skip`` reads such samples as 0 (no feature is NaN) and records each run of them in the
    table's ``attrs["nonfinite_spans"]`` (recording -> ``start_s``/``end_s``/``samples``), each logged.

    Raises:
        InputError: a file is missing, truncated or unreadable, or (``fail``) holds a NaN/infinite sample.
    """
    # local: keeps ethoflow.acoustic.frontend.features importable without soundfile
    import soundfile as sf

    rows: list[dict[str, Any]] = [dict() for _ in range(len(det))]
    det = det.reset_index(drop=True)
    skipped: dict[str, list[dict[str, Any]]] = {}

    for rec, g in progress(det.groupby("recording", sort=True), desc="features"):
        audio_info(files[rec])  # truncated/empty/non-audio named as such
        y, sr = sf.read(files[rec], dtype="float32", always_2d=True)
        y, spans = screen_nonfinite(y, files[rec], sr, 0, nonfinite)
        if spans:
            skipped[rec] = [
                {"start_s": round(a / sr, 6), "end_s": round(b / sr, 6), "samples": b - a} for a, b in spans
            ]
            log.warning(
                "%s: %d non-finite span(s) read as 0 for the RF features (nonfinite: skip)", files[rec], len(spans)
            )
        y = y.mean(axis=1)
        for i, r in g.iterrows():
            a, b = int(r.start_s * sr), max(int(r.end_s * sr), int(r.start_s * sr) + 1)
            rows[i] = segment_features(y[a:b], sr, params) | {"cnn_logit_mean": float(r.cnn_logit_mean)}
    cols = list(rows[0]) if rows else []
    out = pd.DataFrame(rows, columns=cols)
    out.attrs["nonfinite_spans"] = skipped
    return out


BAND_BLOCK_FRAMES = 4096  # STFT frames per block: bounds the memory of a band estimate on long detections


def _band_fft(n_samples: int, n_fft: int) -> int:
    n = max(n_samples, 64)
    while n_fft > n and n_fft > 64:
        n_fft //= 2
    return n_fft


def _power_sum(y: np.ndarray, n_fft: int) -> np.ndarray:
    """Sum over Hann frames (hop ``n_fft // 2``) of the power spectrum of ``y`` (len >= n_fft). (n_fft//2+1,)"""
    hop = max(1, n_fft // 2)
    n = 1 + (y.size - n_fft) // hop
    frames = np.lib.stride_tricks.sliding_window_view(y, n_fft)[::hop][:n] * np.hanning(n_fft).astype(np.float32)
    return (np.abs(np.fft.rfft(frames, axis=1)) ** 2).sum(axis=0)


def _band_points(S: np.ndarray, sr: int, n_fft: int, fmin: float, fmax: float) -> tuple[float, float]:
    freqs = np.arange(S.size) * sr / n_fft
    band = (freqs >= fmin) & (freqs <= min(fmax, sr / 2))
    S, freqs = S[band], freqs[band]
    cum = np.cumsum(S)
    if not S.size or cum[-1] <= 0:
        return float(fmin), float(fmin)
    lo = freqs[min(_percentile_point(cum, 0.05), len(freqs) - 1)]
    hi = freqs[min(_percentile_point(cum, 0.95), len(freqs) - 1)]
    return float(lo), float(hi)


def energy_band(y: np.ndarray, sr: int, fmin: float, fmax: float, n_fft: int = 1024) -> tuple[float, float]:
    """Frequency band of a segment: the 5 % and 95 % points (Hz) of its energy over frequency (Raven's
    "Freq 5%"/"Freq 95%", Charif et al.), from a Hann STFT (``n_fft``, or the largest power of two the
    segment holds, at least 64 samples; hop ``n_fft // 2``) restricted to ``[fmin, min(fmax, sr/2)]``.

    Args:
        y: samples (n_samples,) at ``sr`` Hz.
    Returns:
        ``(low_hz, high_hz)``; ``(fmin, fmin)`` for a silent or empty segment.
    """
    y = np.asarray(y, dtype=np.float32)
    if y.size < 64:
        y = np.pad(y, (0, 64 - y.size))
    n_fft = _band_fft(y.size, n_fft)
    return _band_points(_power_sum(y, n_fft), sr, n_fft, fmin, fmax)


def finite_samples(y: np.ndarray) -> np.ndarray:
    """``y`` (samples, (n,) or (n, channels)) with every frame holding a NaN/infinite sample set to 0 (a
    copy only when some are): a detection merged across a span that ``acoustic.corpus.nonfinite: skip``
    left out reads it as silence (with ``fail`` the recording never gets this far)."""
    bad = ~np.isfinite(y)
    if not bad.any():
        return y
    y = y.copy()
    y[bad.any(axis=1) if y.ndim > 1 else bad] = 0.0
    return y


def file_energy_band(
    fh: Any, start_frame: int, end_frame: int, fmin: float, fmax: float, n_fft: int = 1024
) -> tuple[float, float]:
    """:func:`energy_band` of frames ``[start_frame, end_frame)`` of an open ``soundfile.SoundFile`` (channels averaged),
    read in blocks of :data:`BAND_BLOCK_FRAMES` STFT frames, so a detection hours long needs no more
    memory than a short one (same frames; the sum is accumulated per block)."""
    end_frame = min(end_frame, fh.frames)
    start_frame = min(start_frame, end_frame)
    n_fft = _band_fft(end_frame - start_frame, n_fft)
    if end_frame - start_frame <= n_fft * 2:
        fh.seek(start_frame)
        y = fh.read(end_frame - start_frame, dtype="float32", always_2d=True)
        return energy_band(finite_samples(y).mean(axis=1), fh.samplerate, fmin, fmax)
    hop = max(1, n_fft // 2)
    n_frames = 1 + (end_frame - start_frame - n_fft) // hop
    S = np.zeros(n_fft // 2 + 1)
    for f0 in range(0, n_frames, BAND_BLOCK_FRAMES):
        f1 = min(f0 + BAND_BLOCK_FRAMES, n_frames)
        fh.seek(start_frame + f0 * hop)
        y = fh.read((f1 - 1 - f0) * hop + n_fft, dtype="float32", always_2d=True)
        S += _power_sum(finite_samples(y).mean(axis=1), n_fft)
    return _band_points(S, fh.samplerate, n_fft, fmin, fmax)


def detection_bands(det: pd.DataFrame, files: dict[str, str], fmin: float, fmax: float) -> pd.DataFrame:
    """``det`` with ``low_hz``/``high_hz``: each detection's :func:`energy_band` in ``[fmin, fmax]``, from
    its own samples (read from ``files[recording]`` at the file's rate, channels averaged)."""
    # local: keeps ethoflow.acoustic.frontend.features importable without soundfile
    import soundfile as sf

    det = det.copy()
    lo = np.zeros(len(det))
    hi = np.zeros(len(det))
    pos = {k: i for i, k in enumerate(det.index)}
    for rec, g in det.groupby("recording", sort=True):
        with sf.SoundFile(str(files[rec])) as fh:
            sr = fh.samplerate
            for k, r in g.iterrows():
                a = int(r.start_s * sr)
                lo[pos[k]], hi[pos[k]] = file_energy_band(fh, a, max(int(r.end_s * sr), a + 1), fmin, fmax)
    det["low_hz"], det["high_hz"] = lo, hi
    return det
