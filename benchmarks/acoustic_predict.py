"""Prediction speed: ethoflow's predictor vs a naive per-window reference, same model and audio.

Ours (``ethoflow.acoustic.predict.predict_power``): compute the tape's spectrogram once, slice every
window from it and classify the windows in batches. Naive (``naive_predict``, the way ANIMAL-SPOT's
predictor works: audio loaded once, then per window its spectrogram and a batch of one). Both use the
same ResNet-18 (width 64) and front end (48 kHz, n_fft 2048, hop 1024, 128 bins, 400 ms windows,
100 ms hop) on a synthetic demo tape, and both run at each torch thread count asked for (default: 1
and torch's default, the machine's cores). Prints seconds of audio per second of compute, ms per
window, the ratio, and how closely the two agree (they differ only at window edges, where the
whole-tape STFT sees real neighbouring samples instead of zero padding).

numpy's BLAS (OpenBLAS) is limited to one thread for both: with torch's OpenMP threads still
spinning after a forward pass, OpenBLAS's own threads fight them for the cores, and the naive
reference's small per-window filterbank product then took 15 ms instead of 0.7 ms on 2 cores. That
contention made an earlier version of this benchmark report a 17x speed-up that was mostly the
reference's handicap.

    PYTHONPATH=src python benchmarks/acoustic_predict.py --seconds 30 --repeats 3
    PYTHONPATH=src python benchmarks/acoustic_predict.py --threads 1 --tape-sr 44100
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
    from threadpoolctl import threadpool_limits

    from ethoflow.acoustic.model import CallClassifier
    from ethoflow.acoustic.params import DemoParams, FeatureParams
    from ethoflow.acoustic.predict import naive_predict, predict_power
    from ethoflow.acoustic.spectrogram import recording_power
    from ethoflow.demo.acoustic import generate

    default_threads = torch.get_num_threads()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=30.0, help="length of the benchmark tape (s)")
    ap.add_argument(
        "--threads",
        type=int,
        nargs="+",
        default=sorted({1, default_threads}),
        help=f"torch CPU thread counts to run (default: 1 and torch's default, {default_threads})",
    )
    ap.add_argument("--base-width", type=int, default=64)
    ap.add_argument(
        "--model",
        default=None,
        help="a trained model.pt (e.g. models/acoustic/<variant>/model.pt) instead of an untrained "
        "ResNet-18; its front end params are used",
    )
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--hop", type=float, default=0.1)
    ap.add_argument("--repeats", type=int, default=3, help="timed runs of each; the fastest is reported")
    ap.add_argument(
        "--tape-sr",
        type=int,
        default=48000,
        help="sample rate of the tape (the model runs at 48 kHz: other rates are resampled once per tape by both)",
    )
    args = ap.parse_args()
    torch.manual_seed(0)
    f = FeatureParams()
    model = CallClassifier(2, 18, args.base_width).eval()
    if args.model:
        from ethoflow.acoustic.train import load_model

        model, meta = load_model(args.model)
        f = FeatureParams(**meta["features"])
    reference = copy.deepcopy(model)  # the same weights, kept in torch's default layout for the naive run
    rows = []
    with tempfile.TemporaryDirectory() as tmp, threadpool_limits(limits=1, user_api="blas"):
        generate(tmp, DemoParams(n_tapes=1, recordings_per_tape=1, recording_s=args.seconds, sr=args.tape_sr))
        generate(Path(tmp) / "warm", DemoParams(n_tapes=1, recordings_per_tape=1, recording_s=2.0, sr=args.tape_sr))
        wav = Path(tmp) / "T01_r1.wav"
        warm = Path(tmp) / "warm" / "T01_r1.wav"  # warm-up: imports, FFT plans, allocator
        for threads in args.threads:
            torch.set_num_threads(threads)
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
            rows.append((threads, t_ours, t_naive, ours.logit.to_numpy(), naive))
    n = len(rows[0][3])
    print(
        f"tape: {args.seconds:.0f} s at {args.tape_sr / 1000:g} kHz (model at {f.sr / 1000:g} kHz), {n} windows "
        f"({f.seq_len_s} s, hop {args.hop} s), {args.model or f'untrained ResNet-18 width {args.base_width}'}, "
        f"batch {args.batch_size}; "
        f"{default_threads} CPU thread(s) by default"
    )
    print("threads | ours: s audio/s, ms/window | naive: s audio/s, ms/window | speed-up")
    for threads, t_ours, t_naive, _, _ in rows:
        print(
            f"{threads:7d} | {args.seconds / t_ours:8.1f} {1000 * t_ours / n:8.2f} | "
            f"{args.seconds / t_naive:8.1f} {1000 * t_naive / n:8.2f} | {t_naive / t_ours:6.1f}x"
        )
    a, b = rows[-1][3], rows[-1][4]
    inner = slice(1, -1)
    print(
        f"agreement ({'trained' if args.model else 'untrained'} network; log-odds std {a.std():.4f}): correlation "
        f"{np.corrcoef(a[inner], b[inner])[0, 1]:.4f}, median |difference| {np.median(np.abs(a - b)):.4f}, "
        f"max {np.abs(a - b).max():.4f}"
    )


if __name__ == "__main__":
    main()
