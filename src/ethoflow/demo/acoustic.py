"""Seeded synthetic tapes for the acoustic demo: harmonic FM calls in realistic background noise.

Each tape has ``recordings_per_tape`` mono 16-bit WAV files ``<tape>_r<k>.wav`` and one Raven selection
table per file (``<tape>_r<k>.Table.1.selections.txt``, columns as Raven Pro writes them plus
``Annotation`` and ``Quality``). Background: pink noise plus low-frequency brown rumble with a slowly
varying level; distractors that are *not* annotated: broadband clicks and pure-tone whistles.
Other species (not annotated): the same kind of harmonic sounds with a higher fundamental.
Calls: 2-4 harmonics of a frequency-modulated fundamental (up/down sweeps or a sinusoidal vibrato),
with a raised-cosine envelope, duration and level drawn per call.

Deterministic: the same params give the same bytes (numpy ``default_rng(seed)``, PCM_16 WAV).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ethoflow.acoustic.data.annotations import RAVEN_COLUMNS
from ethoflow.acoustic.params import AcousticParams, DemoParams
from ethoflow.core import atomic_path, atomic_write_text, get_logger

log = get_logger(__name__)

RAVEN_HEADER = [*RAVEN_COLUMNS, "Quality"]


def coloured_noise(rng: np.random.Generator, n_samples: int, exponent: float) -> np.ndarray:
    """Noise with power spectrum ~ 1/f**exponent (1: pink, 2: brown), unit RMS. Shape (n_samples,)."""
    white = rng.standard_normal(n_samples)
    spec = np.fft.rfft(white)
    f = np.arange(spec.size, dtype=float)
    f[0] = 1.0
    spec /= f ** (exponent / 2)
    spec[0] = 0.0
    x = np.fft.irfft(spec, n_samples)
    return x / (np.sqrt(np.mean(x**2)) + 1e-12)


def harmonic_call(
    rng: np.random.Generator, dur_s: float, sr: int, f0_range: tuple[float, float]
) -> tuple[np.ndarray, float, float]:
    """One harmonic FM call. Returns (signal (n,), low_hz, high_hz) of its energy band."""
    n = max(int(dur_s * sr), 8)
    t = np.arange(n) / sr
    f_start = rng.uniform(*f0_range)
    shape = rng.integers(3)
    if shape == 0:  # down sweep
        f_end = f_start * rng.uniform(0.6, 0.85)
        f0 = f_start + (f_end - f_start) * t / dur_s
    elif shape == 1:  # up sweep
        f_end = f_start * rng.uniform(1.15, 1.4)
        f0 = f_start + (f_end - f_start) * t / dur_s
    else:  # vibrato
        rate = rng.uniform(6, 14)
        f0 = f_start * (1 + 0.08 * np.sin(2 * np.pi * rate * t))
    phase = 2 * np.pi * np.cumsum(f0) / sr
    n_harm = int(rng.integers(2, 5))
    sig = np.zeros(n)
    for h in range(1, n_harm + 1):
        sig += (0.7 ** (h - 1)) * np.sin(h * phase + rng.uniform(0, 2 * np.pi))
    ramp = max(int(0.02 * sr), 1)
    env = np.ones(n)
    env[:ramp] = 0.5 - 0.5 * np.cos(np.pi * np.arange(ramp) / ramp)
    env[-ramp:] = env[:ramp][::-1]
    sig *= env
    sig /= np.sqrt(np.mean(sig**2)) + 1e-12
    return sig, float(f0.min() * 0.9), float(min(f0.max() * n_harm * 1.1, sr / 2))


def synth_recording(rng: np.random.Generator, params: DemoParams) -> tuple[np.ndarray, list[dict]]:
    """One recording: (int16-range float signal (n,), list of annotated call dicts)."""
    sr, dur = params.sr, params.recording_s
    n = int(dur * sr)
    bg = 0.6 * coloured_noise(rng, n, 1.0) + 0.8 * coloured_noise(rng, n, 2.0)
    level = 1 + 0.3 * np.sin(2 * np.pi * rng.uniform(0.02, 0.1) * np.arange(n) / sr + rng.uniform(0, 6.3))
    x = bg * level * 0.02
    bg_rms = 0.02
    # distractors: clicks (broadband transients) and pure-tone whistles
    for _ in range(rng.poisson(params.clicks_per_minute * dur / 60)):
        i = int(rng.integers(0, n - sr // 50))
        m = int(rng.integers(sr // 2000, sr // 200))
        x[i : i + m] += bg_rms * rng.uniform(3, 15) * rng.standard_normal(m) * np.exp(-np.arange(m) / (m / 4))
    for _ in range(rng.poisson(params.whistles_per_minute * dur / 60)):
        m = int(rng.uniform(0.1, 0.6) * sr)
        i = int(rng.integers(0, n - m))
        f = rng.uniform(2500, 3800)
        x[i : i + m] += bg_rms * rng.uniform(1, 4) * np.sin(2 * np.pi * f * np.arange(m) / sr) * np.hanning(m)
    # other species: harmonic FM sounds in a higher band, not annotated (false-alarm bait for the CNN)
    for _ in range(rng.poisson(params.others_per_minute * dur / 60)):
        d = float(rng.uniform(0.1, 0.5))
        sig, _, _ = harmonic_call(rng, d, sr, params.other_f0_hz)
        i = int(rng.integers(0, n - sig.size))
        x[i : i + sig.size] += sig * bg_rms * 10 ** (rng.uniform(*params.snr_db) / 20)
    # calls: Poisson count, placed without overlap
    n_calls = max(1, int(rng.poisson(params.calls_per_minute * dur / 60)))
    calls: list[dict] = []
    occupied: list[tuple[float, float]] = []
    for _ in range(n_calls * 4):
        if len(calls) >= n_calls:
            break
        d = float(rng.uniform(*params.call_dur_s))
        s = float(rng.uniform(0.2, dur - d - 0.2))
        if any(s < b + 0.3 and s + d > a - 0.3 for a, b in occupied):
            continue
        sig, lo, hi = harmonic_call(rng, d, sr, params.f0_hz)
        snr = rng.uniform(*params.snr_db)
        i = int(s * sr)
        x[i : i + sig.size] += sig * bg_rms * 10 ** (snr / 20)
        occupied.append((s, s + d))
        quality = 1 + int(snr > np.mean(params.snr_db)) + int(snr > params.snr_db[1] - 2)
        calls.append({"start": s, "end": s + sig.size / sr, "low": lo, "high": hi, "quality": quality})
    calls.sort(key=lambda c: c["start"])
    return x, calls


def raven_table(calls: list[dict], label: str = "call") -> str:
    """A Raven Pro selection table (TSV) for ``calls`` (dicts with start, end, low, high, quality)."""
    lines = ["\t".join(RAVEN_HEADER)]
    for k, c in enumerate(calls, 1):
        lines.append(
            "\t".join(
                [
                    str(k),
                    "Spectrogram 1",
                    "1",
                    f"{c['start']:.6f}",
                    f"{c['end']:.6f}",
                    f"{c['low']:.1f}",
                    f"{c['high']:.1f}",
                    label,
                    str(c["quality"]),
                ]
            )
        )
    return "\n".join(lines) + "\n"


def generate(out_dir: str | Path, params: DemoParams) -> dict:
    """Write the demo tapes into ``out_dir``; return a summary dict (files, calls, seconds).

    Raises:
        ValueError: params that cannot place a call (recording too short for ``call_dur_s``).
    """
    # local: keeps ethoflow.demo.acoustic importable without soundfile
    import soundfile as sf

    if params.recording_s < params.call_dur_s[1] + 1.0:
        raise ValueError("acoustic.demo.recording_s must exceed the longest call by at least 1 s")
    if params.benchmark_tapes and params.benchmark_recording_s < params.call_dur_s[1] + 1.0:
        raise ValueError("acoustic.demo.benchmark_recording_s must exceed the longest call by at least 1 s")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(params.seed)
    files, n_calls, total_s = [], 0, 0.0
    bench = params.model_copy(update={"recording_s": params.benchmark_recording_s})
    tapes = [(f"T{t + 1:02d}", params) for t in range(params.n_tapes)]
    tapes += [(f"B{t + 1:02d}", bench) for t in range(params.benchmark_tapes)]
    for tape, p in tapes:
        for r in range(params.recordings_per_tape):
            stem = f"{tape}_r{r + 1}"
            x, calls = synth_recording(rng, p)
            peak = np.max(np.abs(x))
            x = x / max(peak, 1e-9) * 0.9 if peak > 0.99 else x
            pcm = np.round(x * 32767).astype(np.int16)
            with atomic_path(out / f"{stem}.wav") as tmp:
                sf.write(tmp, pcm, params.sr, subtype="PCM_16", format="WAV")
            atomic_write_text(out / f"{stem}.Table.1.selections.txt", raven_table(calls))
            files.append(stem)
            n_calls += len(calls)
            total_s += p.recording_s
    log.info("demo: %d recordings, %d calls, %.0f s of audio in %s", len(files), n_calls, total_s, out)
    return {"recordings": files, "n_calls": n_calls, "seconds": total_s}


def generate_heldout(out_dir: str | Path, params: DemoParams) -> dict:
    """Write the detection demo's held-out tape, outside the corpus: ``<out_dir>/tapes/H01.flac`` (at
    ``params.heldout_sr`` Hz, ``params.heldout_s`` seconds, the corpus's kind of calls and distractors)
    and its annotations ``<out_dir>/truth/H01.Table.1.selections.txt``, which only the scoring of the
    detections reads. Its own random stream (seed ``[params.seed, 1]``), so the corpus tapes do not
    change with it. Returns a summary dict (files, calls, seconds); nothing is written when
    ``heldout_s`` is 0.
    """
    # local: keeps ethoflow.demo.acoustic importable without soundfile
    import soundfile as sf

    if params.heldout_s <= 0:
        return {"recordings": [], "n_calls": 0, "seconds": 0.0}
    p = params.model_copy(update={"sr": params.heldout_sr, "recording_s": params.heldout_s})
    if p.recording_s < p.call_dur_s[1] + 1.0:
        raise ValueError("acoustic.demo.heldout_s must exceed the longest call by at least 1 s")
    rng = np.random.default_rng([params.seed, 1])
    x, calls = synth_recording(rng, p)
    peak = np.max(np.abs(x))
    x = x / max(peak, 1e-9) * 0.9 if peak > 0.99 else x
    out = Path(out_dir)
    with atomic_path(out / "tapes" / "H01.flac") as tmp:
        sf.write(tmp, np.round(x * 32767).astype(np.int16), p.sr, subtype="PCM_16", format="FLAC")
    atomic_write_text(out / "truth" / "H01.Table.1.selections.txt", raven_table(calls))
    log.info("demo held-out tape: %d calls, %.0f s at %d Hz in %s", len(calls), p.recording_s, p.sr, out)
    return {"recordings": ["H01"], "n_calls": len(calls), "seconds": p.recording_s}


def run_demo_acoustic(cfg: AcousticParams, out: str | Path, heldout: str | Path | None = None) -> dict:
    """Stage ``demo_acoustic``: the demo tapes of ``cfg.demo`` (the ``acoustic`` params) into ``out`` and,
    when ``heldout`` is given, the detection demo's held-out tape and its hidden truth there
    (:func:`generate_heldout`).

    Args:
        out: folder of the demo tapes.
        heldout: folder of the detection demo's held-out tape and its truth.
    """
    summary = generate(out, cfg.demo)
    if heldout is not None:
        summary["heldout"] = generate_heldout(heldout, cfg.demo)
    return summary
