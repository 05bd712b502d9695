"""Per-minute hBehaveMAE embeddings: strided windows + token spreading vs naive per-minute windows.

Same model (the CPU preset, 1-day windows, trained briefly on the demo cages) and the same data (one demo cage) for all:

- ``strided``: windows every S minutes; every level's tokens spread to the minutes they cover;
  each minute = mean over the ~window/S windows covering it (``ethoflow.hbehave.extract.embed_cage``).
- ``naive (same windows)``: the same per-minute definition computed minute by minute, recomputing
  every covering window for each minute. Outputs must be equal to ``strided``; timed on a sample of
  minutes and extrapolated to the whole cage.
- ``one window per minute`` (S = 1): a window starting at every minute (what recomputing a window for
  every minute costs); its outputs are compared with ``strided`` (relative RMS difference, correlation).

Run:  PYTHONPATH=src python benchmarks/hbehave_extract.py [--stride 360] [--days 3] [--sample 24]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stride", type=int, default=360, help="window stride S in minutes")
    ap.add_argument("--days", type=int, default=3)
    ap.add_argument("--sample", type=int, default=24, help="minutes timed for the naive recomputation")
    ap.add_argument(
        "--per-minute-days",
        type=float,
        default=None,
        help="days embedded for the S=1 run (default: all; it takes ~window x longer)",
    )
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--compare", default="720,120,30,5", help="further strides compared with S=1")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument(
        "--train-epochs",
        type=int,
        default=10,
        help="train the model on the demo cages first (0: seeded random weights)",
    )
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from ethoflow.demo.hbehave import generate
    from ethoflow.hbehave.extract import embed_cage, load_model, window_starts
    from ethoflow.hbehave.ingest import build_store
    from ethoflow.hbehave.model import build_model, count_parameters
    from ethoflow.hbehave.params import DemoParams, ModelParams, TrainParams, ZarrParams
    from ethoflow.hbehave.store import read_normalised
    from ethoflow.hbehave.train import train_model

    with tempfile.TemporaryDirectory() as tmp:
        generate(DemoParams(n_cages=4, n_days=args.days, seed=0), Path(tmp) / "raw")
        build_store(ZarrParams(input_dir=str(Path(tmp) / "raw"), val_fraction=0.25), Path(tmp) / "a.zarr")
        x = read_normalised(Path(tmp) / "a.zarr", "cage01").activity
        if args.train_epochs:
            t = time.perf_counter()
            s = train_model(
                ModelParams(),
                TrainParams(epochs=args.train_epochs),
                Path(tmp) / "a.zarr",
                Path(tmp) / "m.pt",
                None,
                Path(tmp) / "ck",
            )
            print(
                f"trained {args.train_epochs} epochs on the demo cages in {time.perf_counter() - t:.1f} s "
                f"(train loss {s['train_loss']:.3f})"
            )
            model, _ = load_model(Path(tmp) / "m.pt")
        else:
            torch.manual_seed(0)
            model = build_model(ModelParams()).eval()
    W = model.arch.input_size[0]
    M = x.shape[0]
    S = args.stride
    print(
        f"model: CPU preset ({'trained' if args.train_epochs else 'random weights'}), {count_parameters(model)['total']:,} parameters, window {W} min, levels "
        f"{list(model.arch.minutes_per_token)} min/token; data: 1 demo cage, {M} minutes x {x.shape[1]} electrodes; "
        f"threads {args.threads}"
    )

    t = time.perf_counter()
    strided = embed_cage(model, x, W, S, batch_size=args.batch)
    t_strided = time.perf_counter() - t
    starts = window_starts(M, W, S)
    print(f"strided S={S}: {len(starts)} windows, {t_strided:.2f} s")

    # naive recomputation of the same per-minute definition, on a sample of minutes
    rng = np.random.default_rng(0)
    sample = np.sort(rng.choice(M, size=min(args.sample, M), replace=False))
    t = time.perf_counter()
    max_diff = 0.0
    n_windows_naive = 0
    for minute in sample:
        cover = [s for s in starts if s <= minute < s + W]
        n_windows_naive += len(cover)
        xb = torch.from_numpy(np.stack([x[s : s + W] for s in cover])).reshape(len(cover), 1, W, 1, x.shape[1])
        with torch.no_grad():
            lv = model.embed(xb)
        for e, m, ref in zip(lv, model.arch.minutes_per_token, strided):
            toks = np.stack([e[i, (minute - s) // m].numpy() for i, s in enumerate(cover)]).mean(0)
            max_diff = max(max_diff, float(np.abs(toks - ref[minute]).max()))
    t_naive_sample = time.perf_counter() - t
    t_naive = t_naive_sample / len(sample) * M
    print(
        f"naive per-minute recomputation (same windows): {n_windows_naive} windows for {len(sample)} minutes in "
        f"{t_naive_sample:.2f} s -> {t_naive:.1f} s extrapolated to {M} minutes; "
        f"max |difference| vs strided over all levels: {max_diff:.2e} (equal: {max_diff < 1e-4})"
    )
    print(f"speed-up strided vs naive recomputation: {t_naive / t_strided:.0f}x")

    # one window per minute (S = 1)
    m1 = M if args.per_minute_days is None else int(args.per_minute_days * 1440)
    m1 = max(m1, W)
    t = time.perf_counter()
    per_min = embed_cage(model, x[:m1], W, 1, batch_size=args.batch)
    t_s1 = time.perf_counter() - t
    n1 = len(window_starts(m1, W, 1))
    print(f"one window per minute (S=1): {n1} windows over {m1} minutes, {t_s1:.1f} s")
    print("stride S vs S=1 on the same minutes: time, speed ratio, per-level relative RMS difference / correlation")
    for s_cmp in sorted({int(v) for v in args.compare.split(",")} | {S}, reverse=True):
        t = time.perf_counter()
        ref = embed_cage(model, x[:m1], W, s_cmp, batch_size=args.batch)
        t_ref = time.perf_counter() - t
        cells = []
        for i, (a, b) in enumerate(zip(ref, per_min)):
            rel = float(np.sqrt(((a - b) ** 2).mean() / (b**2).mean()))
            corr = float(np.corrcoef(a.ravel(), b.ravel())[0, 1])
            cells.append(f"L{i + 1} {rel:.2f}/{corr:.3f}")
        print(
            f"  S={s_cmp:4d}: {len(window_starts(m1, W, s_cmp)):5d} windows {t_ref:6.2f} s  x{t_s1 / t_ref:5.0f}  "
            + "  ".join(cells)
        )


if __name__ == "__main__":
    main()
