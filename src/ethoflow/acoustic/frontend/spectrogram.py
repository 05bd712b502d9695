"""Spectrogram front end (the recipe of ANIMAL-SPOT, Bergler et al. 2019, written for ethoflow).

Steps: mono load -> resample to ``sr`` -> pre-emphasis ``y[n] - a*y[n-1]`` -> STFT (Hann, ``n_fft``,
``hop_length``, centred frames, magnitude scaled by the window sum so a full-scale sine is 0 dB) ->
power -> frequency compression to ``n_freq_bins`` between ``fmin`` and ``fmax`` (linear interpolation of
STFT bins, or a mel filterbank) -> dB with a floor -> normalisation (``fixed``: (dB - floor) /
(ref - floor) clipped to [0, 1]; ``minmax``: per window).

A recording's compressed power spectrogram is computed **once** (:func:`recording_power`, shape
``(n_freq_bins, n_frames)``, frame ``i`` centred at ``i * hop_length / sr`` seconds); windows are slices
of it (:func:`window_batch`), so training and prediction see identical inputs and prediction never
reloads audio per window. Augmentation (training only) works on the power window before dB: gain,
pitch (frequency-axis scaling), time stretch (a longer/shorter slice resampled to the window length)
and mixing in a noise window.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from ethoflow.acoustic.params import AugmentParams, FeatureParams
from ethoflow.core import InputError
from ethoflow.core.inputs import audio_info, check_finite_audio

EPS = 1e-12


def load_audio(path: str | Path, sr: int) -> np.ndarray:
    """Mono float32 samples of ``path`` resampled to ``sr`` Hz. Shape (n_samples,).

    Raises:
        InputError: the file is missing, empty, truncated or unreadable (see ``core.inputs.audio_info``), or
            holds a NaN/infinite sample (naming its time; ``core.inputs.check_finite_audio``).
    """
    # local: keeps ethoflow.acoustic.frontend.spectrogram importable without soundfile
    import soundfile as sf

    audio_info(path)
    try:
        y, file_sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:
        raise InputError(f"{path}: cannot read audio ({type(exc).__name__}: {exc})") from None
    check_finite_audio(y, path, file_sr)
    y = y.mean(axis=1)
    if file_sr != sr:
        # local: scipy is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
        from scipy.signal import resample_poly

        g = np.gcd(int(file_sr), int(sr))
        y = resample_poly(y, sr // g, file_sr // g).astype(np.float32)
    return y


@lru_cache(maxsize=16)
def _filterbank(sr: int, n_fft: int, n_bins: int, fmin: float, fmax: float, kind: str) -> np.ndarray:
    n_stft = n_fft // 2 + 1
    if kind == "mel":
        # local: librosa is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
        import librosa

        return librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_bins, fmin=fmin, fmax=fmax, htk=True).astype(np.float32)
    # linear compression: each output bin interpolates the two STFT bins around its centre frequency
    centres = np.linspace(fmin, fmax, n_bins) / (sr / n_fft)
    fb = np.zeros((n_bins, n_stft), dtype=np.float32)
    lo = np.clip(np.floor(centres).astype(int), 0, n_stft - 1)
    hi = np.clip(lo + 1, 0, n_stft - 1)
    w = (centres - lo).astype(np.float32)
    fb[np.arange(n_bins), lo] += 1 - w
    fb[np.arange(n_bins), hi] += w
    return fb


def power_spectrogram(y: np.ndarray, features: FeatureParams) -> np.ndarray:
    """Compressed power spectrogram of samples ``y`` (already at ``f.sr``). Shape (n_freq_bins, n_frames),
    ``n_frames = 1 + len(y) // hop_length``."""
    # local: torch is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    import torch

    y = np.asarray(y, dtype=np.float32)
    if features.preemphasis > 0 and y.size > 1:
        y = np.concatenate([y[:1], y[1:] - features.preemphasis * y[:-1]])
    if y.size < features.n_fft:
        y = np.pad(y, (0, features.n_fft - y.size))
    win = torch.hann_window(features.n_fft, periodic=True, dtype=torch.float32)
    with torch.no_grad():
        spec = torch.stft(
            torch.from_numpy(y),
            features.n_fft,
            features.hop_length,
            window=win,
            center=True,
            pad_mode="constant",
            return_complex=True,
        )
        mag = spec.abs() * (2.0 / win.sum())
        power = (mag * mag).numpy()
    fb = _filterbank(
        features.sr,
        features.n_fft,
        features.n_freq_bins,
        float(features.fmin),
        float(features.fmax),
        features.freq_compression,
    )
    return filterbank_product(fb, power)


def filterbank_product(fb: np.ndarray, power: np.ndarray) -> np.ndarray:
    """``fb @ power`` (filterbank (F, n_stft) times STFT power (n_stft, T)) on one BLAS thread, float32.

    One thread makes the result bit-identical whatever the process's BLAS threads (a Slurm job with one
    CPU vs a local run with all cores): a multithreaded product sums in another order for large ``T``.
    """
    # local: keeps ethoflow.acoustic.frontend.spectrogram importable without threadpoolctl
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        return (fb @ power).astype(np.float32)


def recording_power(path: str | Path, features: FeatureParams) -> np.ndarray:
    """:func:`power_spectrogram` of an audio file (loaded mono, resampled to ``f.sr``)."""
    return power_spectrogram(load_audio(path, features.sr), features)


def to_input(power: np.ndarray, features: FeatureParams) -> np.ndarray:
    """Power windows (..., F, T) -> normalised dB network input of the same shape (float32)."""
    db = 10.0 * np.log10(np.maximum(power, EPS))
    db = np.maximum(db, features.db_floor)
    if features.normalization == "fixed":
        x = (db - features.db_floor) / max(features.ref_db - features.db_floor, 1e-6)
        return np.clip(x, 0.0, 1.0).astype(np.float32)
    lo = db.min(axis=(-2, -1), keepdims=True)
    hi = db.max(axis=(-2, -1), keepdims=True)
    return ((db - lo) / np.maximum(hi - lo, 1e-6)).astype(np.float32)


def window_starts(duration_s: float, seq_len_s: float, hop_s: float) -> np.ndarray:
    """Window start times (seconds) covering ``[0, duration_s]``: 0, hop, ... up to the last start
    whose window still begins before ``duration_s - seq_len_s / 2`` (at least one window). Shape (n,)."""
    last = max(duration_s - seq_len_s / 2, 0.0)
    n = int(np.floor(last / hop_s + 1e-9)) + 1
    return np.round(np.arange(n) * hop_s, 6)


def frames_per_window(seq_len_s: float, features: FeatureParams) -> int:
    """Number of spectrogram frames in a window of ``seq_len_s`` seconds."""
    return max(1, int(round(seq_len_s * features.sr / features.hop_length)))


def slice_frames(power: np.ndarray, start_frame: int, n_frames: int) -> np.ndarray:
    """``power[:, start:start+n]`` with zero power (the dB floor) outside the recording. Shape (F, n)."""
    n_total = power.shape[1]
    if 0 <= start_frame and start_frame + n_frames <= n_total:
        return power[:, start_frame : start_frame + n_frames]
    out = np.zeros((power.shape[0], n_frames), dtype=power.dtype)
    a, b = max(start_frame, 0), min(start_frame + n_frames, n_total)
    if b > a:
        out[:, a - start_frame : b - start_frame] = power[:, a:b]
    return out


def window_batch(power: np.ndarray, starts_s: np.ndarray, seq_len_s: float, features: FeatureParams) -> np.ndarray:
    """Network inputs for windows starting at ``starts_s`` (seconds). Shape (B, 1, n_freq_bins, T)."""
    T = frames_per_window(seq_len_s, features)
    first = np.round(np.asarray(starts_s) * features.sr / features.hop_length).astype(int)
    n_total = power.shape[1]
    if len(first) and first.min() >= 0 and first.max() + T <= n_total:
        idx = first[:, None] + np.arange(T)[None, :]
        win = power[:, idx].transpose(1, 0, 2)  # (B, F, T)
    else:
        win = (
            np.stack([slice_frames(power, s, T) for s in first])
            if len(first)
            else np.zeros((0, power.shape[0], T), np.float32)
        )
    return to_input(win, features)[:, None]


def augment_window(
    power: np.ndarray,
    centre_frame: float,
    n_frames: int,
    rng: np.random.Generator,
    aug: AugmentParams,
    noise_power: np.ndarray | None = None,
) -> np.ndarray:
    """One augmented power window (F, n_frames) cut around ``centre_frame`` of a recording's ``power``.

    Each augmentation is applied with probability ``aug.p``: time stretch (slice of ``n*rate`` frames
    resampled to ``n``), pitch (frequency axis scaled by a factor), gain (dB) and noise mixing
    (``noise_power``, a power window (F, n_frames) of mined noise, scaled by a random weight).
    """
    rate = rng.uniform(*aug.stretch) if rng.random() < aug.p else 1.0
    n_src = max(1, int(round(n_frames * rate)))
    start = int(round(centre_frame - n_src / 2))
    w = slice_frames(power, start, n_src)
    if n_src != n_frames:
        xs = np.linspace(0, n_src - 1, n_frames)
        i0 = np.floor(xs).astype(int)
        i1 = np.minimum(i0 + 1, n_src - 1)
        t = (xs - i0)[None, :]
        w = w[:, i0] * (1 - t) + w[:, i1] * t
    if rng.random() < aug.p:
        factor = rng.uniform(*aug.pitch)
        F = w.shape[0]
        src = np.arange(F) / factor
        i0 = np.clip(np.floor(src).astype(int), 0, F - 1)
        i1 = np.clip(i0 + 1, 0, F - 1)
        t = np.clip(src - i0, 0, 1)[:, None]
        valid = (src <= F - 1)[:, None]
        w = np.where(valid, w[i0] * (1 - t) + w[i1] * t, 0.0)
    if rng.random() < aug.p:
        w = w * 10 ** (rng.uniform(*aug.gain_db) / 10)
    if noise_power is not None and rng.random() < aug.p:
        w = w + rng.uniform(*aug.noise_mix) * noise_power
    return np.asarray(w, dtype=np.float32)
