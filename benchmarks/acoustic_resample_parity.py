"""Window-probability parity with ANIMAL-SPOT when a tape is not at the model's rate.

ANIMAL-SPOT resamples a whole recording with ``resampy`` (Kaiser window, ``kaiser_best``) before cutting
its windows; ethoflow streams it through :class:`ethoflow.acoustic.inference.streaming.TapeReader`
(``scipy.signal.resample_poly``, pieces with a margin). Everything after resampling is the same code
(:func:`ethoflow.acoustic.models.animal_spot.predict_samples`, whose parity with ANIMAL-SPOT's ``predict.py`` at
the model's own rate the test suite checks), so the difference printed here is the resamplers' alone.

The tape: the shared parity tape (``../shared/data/audio/animal-spot/tape.wav``, 48 kHz) written at
``--tape-sr`` (default 44.1 kHz) as 16-bit PCM, as a lab's recorder would, then read back by the shared
ANIMAL-SPOT model (48 kHz, ``--min_max_norm``), window 0.4 s, hop 0.05 s. ``resampy`` is not an ethoflow
dependency: install it anywhere on ``PYTHONPATH`` (``pip install --target DIR resampy``; it needs numba,
which librosa already brings).

    PYTHONPATH=src:/tmp/pylib_resampy python benchmarks/acoustic_resample_parity.py
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data" / "audio" / "animal-spot"


def main() -> None:
    import resampy
    import soundfile as sf
    from scipy.signal import resample_poly

    from ethoflow.acoustic.inference.streaming import TapeReader
    from ethoflow.acoustic.models.animal_spot import load_animal_spot, predict_samples

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tape-sr", type=int, default=44100)
    ap.add_argument("--hop", type=float, default=0.05)
    args = ap.parse_args()
    model, fe, classes = load_animal_spot(SHARED / "model.pk", min_max_norm=True)
    y48, sr = sf.read(SHARED / "tape.wav", dtype="float32")
    g = np.gcd(sr, args.tape_sr)
    y = resample_poly(y48, args.tape_sr // g, sr // g)
    with tempfile.TemporaryDirectory() as tmp:
        tape = Path(tmp) / "tape.wav"
        sf.write(tape, np.clip(y, -1, 1), args.tape_sr, subtype="PCM_16")
        reader = TapeReader(tape, fe.sr)
        ours = reader.read(0, reader.n)
        reader.close()
        raw, _ = sf.read(tape, dtype="float32")
    theirs = resampy.resample(raw, args.tape_sr, fe.sr, filter="kaiser_best").astype(np.float32)
    print(f"samples at {fe.sr} Hz: ours {len(ours)}, resampy {len(theirs)}")
    n = min(len(ours), len(theirs))
    d_samples = np.abs(ours[:n] - theirs[:n])
    print(f"sample difference: max {d_samples.max():.2e}, median {np.median(d_samples):.2e} (full scale 1)")
    rows = {}
    for name, sig in (("ours", ours[:n]), ("resampy", theirs[:n]), ("tape at 48 kHz", y48[:n])):
        rows[name] = predict_samples(model, fe, classes, sig, 0.4, args.hop, batch_size=64)
    p_ours, p_theirs = rows["ours"].prob.to_numpy(), rows["resampy"].prob.to_numpy()
    d = np.abs(p_ours - p_theirs)
    dl = np.abs(rows["ours"].logit.to_numpy() - rows["resampy"].logit.to_numpy())
    print(
        f"{len(d)} windows (0.4 s, hop {args.hop} s), tape at {args.tape_sr} Hz -> model at {fe.sr} Hz:\n"
        f"  window probability |resample_poly - resampy|: max {d.max():.2e}, median {np.median(d):.2e}, "
        f"p95 {np.quantile(d, 0.95):.2e}; log-odds max {dl.max():.2e}"
    )
    d48 = np.abs(p_theirs - rows["tape at 48 kHz"].prob.to_numpy())
    print(f"  for scale: resampy's tape vs the 48 kHz original: max {d48.max():.2e} (the 16-bit round trip)")


if __name__ == "__main__":
    main()
