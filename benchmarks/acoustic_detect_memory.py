"""Memory and speed of ``acoustic_detect`` and ``acoustic_predict`` on a long tape, both architectures.

Writes a synthetic tape (default 2 hours, 48 kHz, 16-bit WAV, ~690 MB) to a temporary folder in
pieces (a few seeded 60 s demo recordings, cycled: the file is never held in memory) and saves
untrained models of the default sizes with the default front end: the ResNet-18 window classifier
(width 64; ``--width``) and the framewise detector (``arch: framewise``, default
``FramewiseParams``), or uses the model file given with ``--model`` (e.g. an ANIMAL-SPOT ``.pk``,
detect only). Then, each in a **separate process** and one after the other, it runs
``acoustic_detect`` (:func:`ethoflow.acoustic.inference.detect.detect_set`, one detection set over the tape)
and ``acoustic_predict`` (:func:`ethoflow.acoustic.inference.predict.predict_recordings`, the tape as one
recording), both streamed in chunks of ``--chunk-s`` (:mod:`ethoflow.acoustic.inference.streaming`). Each
process reports its own peak resident memory (``resource.getrusage``, ``ru_maxrss``) and its times;
the benchmark prints one table: peak RSS against the target (issue #11/#16: < 1.5 GB for 2 hours at
48 kHz) and seconds of audio per second (compute, and whole process with imports), next to what
loading the whole tape would take (its float32 samples alone).

    PYTHONPATH=src nice -n 10 python benchmarks/acoustic_detect_memory.py            # 2 h tape, all four
    PYTHONPATH=src python benchmarks/acoustic_detect_memory.py --minutes 20 --threads 2
    PYTHONPATH=src python benchmarks/acoustic_detect_memory.py --stages predict --archs framewise
    PYTHONPATH=src python benchmarks/acoustic_detect_memory.py --width 8   # small ResNet: memory in minutes
    PYTHONPATH=src python benchmarks/acoustic_detect_memory.py --model ../shared/data/audio/animal-spot/model.pk \
        --hop 0.05 --stages detect
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
t0 = time.perf_counter()
import torch
from ethoflow.acoustic.inference.detect import detect_set
from ethoflow.acoustic.params import AcousticParams
from ethoflow.acoustic.inference.predict import StreamOptions, predict_recordings
job = json.loads(sys.argv[1])
cfg = AcousticParams.model_validate(job["cfg"])
t1 = time.perf_counter()
if job["stage"] == "detect":
    n = detect_set(cfg, "bench", job["out"])["metrics"]["detections"]
else:
    s = cfg.predict.settings["bench"]
    n = predict_recordings(job["model"], [job["recording"]], s, job["out"] + ".parquet",
                           cfg.predict.batch_size, cfg.predict.num_threads, stream=StreamOptions(cfg.predict.chunk_s))["n_windows"]
t2 = time.perf_counter()
print("RESULT " + json.dumps({
    "import_s": t1 - t0, "run_s": t2 - t1, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "rows": n, "threads": torch.get_num_threads(),
}))
"""


def write_tape(path: Path, minutes: float, sr: int, seed: int = 0) -> float:
    """Write a ``minutes``-long mono PCM_16 WAV at ``sr`` Hz from 4 seeded 60 s demo recordings, cycled,
    one minute at a time. Returns the tape's length in seconds."""
    import numpy as np
    import soundfile as sf

    from ethoflow.acoustic.params import DemoParams
    from ethoflow.demo.acoustic import synth_recording

    rng = np.random.default_rng(seed)
    p = DemoParams(sr=sr, recording_s=60.0)
    blocks = []
    for _ in range(4):
        x, _ = synth_recording(rng, p)
        blocks.append(np.round(np.clip(x, -0.99, 0.99) * 32767).astype(np.int16))
    n_total = int(round(minutes * 60 * sr))
    with sf.SoundFile(str(path), "w", samplerate=sr, channels=1, subtype="PCM_16", format="WAV") as fh:
        done, k = 0, 0
        while done < n_total:
            b = blocks[k % len(blocks)][: n_total - done]
            fh.write(b)
            done, k = done + len(b), k + 1
    return n_total / sr


def save_models(tmp: Path, width: int) -> dict[str, Path]:
    """Untrained, seeded model files of the default sizes (front end ``FeatureParams(sr=48000)``)."""
    import torch

    from ethoflow.acoustic.models.framewise import FramewiseNet
    from ethoflow.acoustic.models.model import CallClassifier
    from ethoflow.acoustic.params import FeatureParams, FramewiseParams

    f = FeatureParams(sr=48000)
    torch.manual_seed(0)
    m = CallClassifier(2, 18, width).eval()
    paths = {"window": tmp / "window.pt", "framewise": tmp / "framewise.pt"}
    ck = {"state_dict": m.state_dict(), "model": m.config, "classes": ["call"], "features": f.model_dump()}
    torch.save(ck, paths["window"])
    torch.manual_seed(0)
    fw = FramewiseNet(f.n_freq_bins, 2, FramewiseParams()).eval()
    fw.scale_mean.fill_(-60.0)  # untrained: a plausible dB scaler
    fw.scale_std.fill_(15.0)
    ck = {"arch": "framewise", "state_dict": fw.state_dict(), "model": fw.config, "classes": ["call"]}
    torch.save({**ck, "features": f.model_dump()}, paths["framewise"])
    return paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=120.0, help="tape length (min); default 120")
    ap.add_argument("--sr", type=int, default=48000, help="tape sample rate (Hz)")
    ap.add_argument("--model", default=None, help="a model file (ethoflow model.pt or ANIMAL-SPOT .pk) instead")
    ap.add_argument("--stages", nargs="+", default=["detect", "predict"], choices=["detect", "predict"])
    ap.add_argument("--archs", nargs="+", default=["framewise", "window"], choices=["framewise", "window"])
    ap.add_argument("--hop", type=float, default=0.1, help="window hop (s)")
    ap.add_argument("--seq-len", type=float, default=0.4, help="window length (s)")
    ap.add_argument("--chunk-s", type=float, default=300.0, help="seconds of audio per streamed chunk")
    ap.add_argument("--threads", type=int, default=1, help="torch threads in each process")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument(
        "--width",
        type=int,
        default=64,
        help="ResNet-18 base width of the untrained window model (64: default size; "
        "a small width measures the streaming's memory on a slow machine in minutes, weights ~45 MB less)",
    )
    ap.add_argument("--tmp", default=None, help="folder for the tape (default: a new temporary folder)")
    args = ap.parse_args()

    rows = []
    with tempfile.TemporaryDirectory(prefix="ethoflow_detect_bench_", dir=args.tmp) as tmp:
        tmp = Path(tmp)
        (tmp / "tapes").mkdir()
        t0 = time.perf_counter()
        seconds = write_tape(tmp / "tapes" / "long.wav", args.minutes, args.sr)
        print(f"tape: {seconds / 60:.1f} min at {args.sr} Hz, 16-bit WAV (written in {time.perf_counter() - t0:.0f} s)")
        if args.model:  # linked into the set's data_dir, where the params check wants model files
            models = {"given": tmp / Path(args.model).name}
            models["given"].symlink_to(Path(args.model).resolve())
        else:
            paths = save_models(tmp, args.width)
            models = {a: paths[a] for a in args.archs}
        print(
            f"window {args.seq_len} s, hop {args.hop} s; threads {args.threads}; batch {args.batch_size}; "
            f"chunk {args.chunk_s:.0f} s; each stage x model in its own process, one after the other",
            flush=True,
        )
        for arch, model_path in models.items():
            for stage in args.stages:
                cfg = {
                    "predict": {
                        "settings": {"bench": {"seq_len_s": args.seq_len, "hop_s": args.hop}},
                        "batch_size": args.batch_size,
                        "num_threads": args.threads,
                        "chunk_s": args.chunk_s,
                    },
                    "detect": {
                        "sets": {
                            "bench": {
                                "data_dir": str(tmp),
                                "recordings": str(tmp / "tapes"),
                                "model": str(model_path),
                                "setting": "bench",
                                "chunk_s": args.chunk_s,
                            }
                        },
                        "batch_size": args.batch_size,
                        "num_threads": args.threads,
                    },
                }
                rec = {
                    "recording": "long",
                    "tape": "long",
                    "file": str(tmp / "tapes" / "long.wav"),
                    "duration_s": seconds,
                }
                job = {
                    "stage": stage,
                    "cfg": cfg,
                    "model": str(model_path),
                    "recording": rec,
                    "out": str(tmp / f"out_{arch}_{stage}"),
                }
                t0 = time.perf_counter()
                res = subprocess.run([sys.executable, "-c", CHILD, json.dumps(job)], capture_output=True, text=True)
                wall = time.perf_counter() - t0
                lines = [ln for ln in res.stdout.splitlines() if ln.startswith("RESULT ")]
                if res.returncode != 0 or not lines:
                    sys.exit(f"{stage} / {arch} process failed (exit {res.returncode}):\n{res.stderr[-3000:]}")
                r = json.loads(lines[0][len("RESULT ") :]) | {"stage": stage, "arch": arch, "wall_s": wall}
                rows.append(r)
                print(f"  done: acoustic_{stage} / {arch}: {r['peak_rss_mb']:.0f} MB, {r['run_s']:.0f} s", flush=True)
    name = {"window": f"ResNet-18 width {args.width} (window)", "framewise": "framewise", "given": str(args.model)}
    print(
        f"\n{seconds / 60:.0f}-minute tape at {args.sr} Hz; the whole tape's float32 samples alone: "
        f"{seconds * args.sr * 4 / 1e6:.0f} MB; target: peak RSS < 1500 MB\n"
    )
    print("| stage | model | peak RSS (MB) | < 1.5 GB | compute (s) | audio s/s | process (s) | audio s/s | rows |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| acoustic_{r['stage']} | {name[r['arch']]} | {r['peak_rss_mb']:.0f} | "
            f"{'yes' if r['peak_rss_mb'] < 1500 else 'NO'} | {r['run_s']:.1f} | {seconds / r['run_s']:.1f} | "
            f"{r['wall_s']:.1f} | {seconds / r['wall_s']:.1f} | {r['rows']} |"
        )
    print(
        f"\nthreads per process: {rows[0]['threads'] if rows else '-'}; rows: windows (predict) or detections (detect)"
    )


if __name__ == "__main__":
    main()
