"""Prediction speed: ethoflow's predictor vs a naive per-window reference, same model and audio.

Ours (``ethoflow.acoustic.predict``): load the tape once, compute its spectrogram once, slice every
window from it and classify the windows in batches. Naive (as ANIMAL-SPOT's predictor works): for
each window, read its audio from the file, compute its spectrogram, and classify it alone.
Both use the same ResNet-18 (default width 64, default front end: 48 kHz, n_fft 2048, hop 1024,
128 bins, 400 ms windows, 100 ms hop) on a synthetic demo tape. Prints seconds of audio per second
of compute for both, the ratio, and how closely the two agree (they differ only at window edges,
where the whole-tape STFT sees real neighbouring samples instead of zero padding).

    PYTHONPATH=src python benchmarks/acoustic_predict.py --seconds 30 --threads 1 --repeats 3
    PYTHONPATH=src python benchmarks/acoustic_predict.py --seconds 30 --threads 1 --tape-sr 44100
"""

from __future__ import annotations

import argparse
import copy
import tempfile
import time
from pathlib import Path


def main() -> None:
    import numpy as np
    import torch

    from ethoflow.acoustic.model import CallClassifier
    from ethoflow.acoustic.params import DemoParams, FeatureParams
    from ethoflow.acoustic.predict import naive_predict, predict_power
    from ethoflow.acoustic.spectrogram import recording_power
    from ethoflow.demo.acoustic import generate

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=30.0, help="length of the benchmark tape (s)")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--base-width", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--hop", type=float, default=0.1)
    ap.add_argument("--repeats", type=int, default=3, help="timed runs of each; the fastest is reported")
    ap.add_argument("--tape-sr", type=int, default=48000,
                    help="sample rate of the tape (the model runs at 48 kHz: other rates are resampled, once per "
                         "tape by ours, once per window by the naive reference)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    f = FeatureParams()
    model = CallClassifier(2, 18, args.base_width).eval()
    reference = copy.deepcopy(model)  # the same weights, kept in torch's default layout for the naive run
    with tempfile.TemporaryDirectory() as tmp:
        generate(tmp, DemoParams(n_tapes=1, recordings_per_tape=1, recording_s=args.seconds, sr=args.tape_sr))
        generate(Path(tmp) / "warm", DemoParams(n_tapes=1, recordings_per_tape=1, recording_s=2.0, sr=args.tape_sr))
        wav = Path(tmp) / "T01_r1.wav"
        warm = Path(tmp) / "warm" / "T01_r1.wav"  # warm-up: imports, FFT plans, allocator
        predict_power(model, recording_power(warm, f), f, 2.0, f.seq_len_s, args.hop, args.batch_size)
        naive_predict(reference, warm, f, 2.0, f.seq_len_s, args.hop)
        t_ours = t_naive = float("inf")
        for _ in range(args.repeats):  # interleaved; the fastest of each (least disturbed by other load)
            t0 = time.perf_counter()
            power = recording_power(wav, f)
            ours = predict_power(model, power, f, args.seconds, f.seq_len_s, args.hop, args.batch_size)
            t_ours = min(t_ours, time.perf_counter() - t0)
            t0 = time.perf_counter()
            naive = naive_predict(reference, wav, f, args.seconds, f.seq_len_s, args.hop)
            t_naive = min(t_naive, time.perf_counter() - t0)
    a, b = ours.logit.to_numpy(), naive
    inner = slice(1, -1)
    print(f"tape: {args.seconds:.0f} s at {args.tape_sr / 1000:g} kHz (model at 48 kHz), {len(a)} windows (0.4 s, hop {args.hop} s), ResNet-18 width "
          f"{args.base_width}, {args.threads} torch thread(s)")
    print(f"ours : {t_ours:8.2f} s  -> {args.seconds / t_ours:8.1f} s of audio per s")
    print(f"naive: {t_naive:8.2f} s  -> {args.seconds / t_naive:8.1f} s of audio per s")
    print(f"speed-up: {t_naive / t_ours:.1f}x")
    print(f"agreement: correlation of window log-odds {np.corrcoef(a[inner], b[inner])[0, 1]:.4f}, "
          f"median |difference| {np.median(np.abs(a - b)):.4f}")


if __name__ == "__main__":
    main()
