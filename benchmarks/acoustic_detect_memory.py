"""Memory and speed of ``acoustic_detect`` on a long tape: peak RSS and seconds of audio per second.

Writes a synthetic tape (default 2 hours, 48 kHz, 16-bit WAV, ~690 MB) to a temporary folder in
pieces (a few seeded 60 s demo recordings, cycled: the file is never held in memory), saves an
untrained ethoflow model of the default size (ResNet-18, width 64, the default front end) or uses the
model file given with ``--model`` (e.g. an ANIMAL-SPOT ``.pk``), and runs one detection set over the
tape in a **separate process** (:func:`ethoflow.acoustic.detect.detect_set`, streamed in chunks of
``--chunk-s``). That process reports its own peak resident memory (``resource.getrusage``,
``ru_maxrss``) and its wall time; the benchmark prints them next to what loading the whole tape
would take (its float32 samples alone). Target (issue #11/#16): peak RSS < 1.5 GB for 2 hours at 48 kHz.

    PYTHONPATH=src nice -n 10 python benchmarks/acoustic_detect_memory.py            # 2 h tape
    PYTHONPATH=src python benchmarks/acoustic_detect_memory.py --minutes 20 --threads 2
    PYTHONPATH=src python benchmarks/acoustic_detect_memory.py --width 8   # 2 h, small network: memory in minutes
    PYTHONPATH=src python benchmarks/acoustic_detect_memory.py --model ../shared/data/audio/animal-spot/model.pk --hop 0.05
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
from ethoflow.acoustic.detect import detect_set
from ethoflow.acoustic.params import AcousticParams
cfg = AcousticParams.model_validate(json.loads(sys.argv[1]))
t1 = time.perf_counter()
summary = detect_set(cfg, "bench", sys.argv[2])
t2 = time.perf_counter()
print("RESULT " + json.dumps({
    "import_s": t1 - t0, "detect_s": t2 - t1, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "detections": summary["metrics"]["detections"], "threads": torch.get_num_threads(),
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=120.0, help="tape length (min); default 120")
    ap.add_argument("--sr", type=int, default=48000, help="tape sample rate (Hz)")
    ap.add_argument("--model", default=None, help="a model file (ethoflow model.pt or ANIMAL-SPOT .pk)")
    ap.add_argument("--hop", type=float, default=0.1, help="window hop (s)")
    ap.add_argument("--seq-len", type=float, default=0.4, help="window length (s)")
    ap.add_argument("--chunk-s", type=float, default=300.0, help="seconds of audio per streamed chunk")
    ap.add_argument("--threads", type=int, default=1, help="torch threads in the detection process")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument(
        "--width",
        type=int,
        default=64,
        help="ResNet-18 base width of the untrained model (64: default size; "
        "a small width measures the streaming's memory on a slow machine in minutes, weights ~45 MB less)",
    )
    ap.add_argument("--tmp", default=None, help="folder for the tape (default: a new temporary folder)")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="ethoflow_detect_bench_", dir=args.tmp) as tmp:
        tmp = Path(tmp)
        (tmp / "tapes").mkdir()
        t0 = time.perf_counter()
        seconds = write_tape(tmp / "tapes" / "long.wav", args.minutes, args.sr)
        t_write = time.perf_counter() - t0
        if args.model:  # linked into the set's data_dir, where the params check wants model files
            model_path = tmp / Path(args.model).name
            model_path.symlink_to(Path(args.model).resolve())
        else:
            import torch

            from ethoflow.acoustic.model import CallClassifier
            from ethoflow.acoustic.params import FeatureParams

            torch.manual_seed(0)
            m = CallClassifier(2, 18, args.width).eval()
            f = FeatureParams(sr=48000)
            model_path = tmp / "model.pt"
            torch.save(
                {"state_dict": m.state_dict(), "model": m.config, "classes": ["call"], "features": f.model_dump()},
                model_path,
            )
        cfg = {
            "predict": {"settings": {"bench": {"seq_len_s": args.seq_len, "hop_s": args.hop}}},
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
        t0 = time.perf_counter()
        res = subprocess.run(
            [sys.executable, "-c", CHILD, json.dumps(cfg), str(tmp / "out")], capture_output=True, text=True
        )
        wall = time.perf_counter() - t0
        lines = [ln for ln in res.stdout.splitlines() if ln.startswith("RESULT ")]
        if res.returncode != 0 or not lines:
            sys.exit(f"detection process failed (exit {res.returncode}):\n{res.stderr[-3000:]}")
        r = json.loads(lines[0][len("RESULT ") :])
    whole_gb = seconds * args.sr * 4 / 1e9
    print(f"tape: {seconds / 60:.1f} min at {args.sr} Hz, 16-bit WAV (written in {t_write:.0f} s)")
    print(
        f"model: {args.model or f'untrained ethoflow ResNet-18 width {args.width}'}; window {args.seq_len} s, hop {args.hop} s"
    )
    print(f"threads: {r['threads']}; batch {args.batch_size}; chunk {args.chunk_s:.0f} s")
    print(f"detection process peak RSS: {r['peak_rss_mb']:.0f} MB (target < 1500 MB)")
    print(f"  (the tape's float32 samples alone would take {whole_gb:.2f} GB if loaded whole)")
    print(f"detection time: {r['detect_s']:.1f} s (+ {r['import_s']:.1f} s imports; process {wall:.1f} s)")
    print(f"seconds of audio per second: {seconds / r['detect_s']:.1f} (detection), {seconds / wall:.1f} (process)")
    print(f"detections: {r['detections']}")


if __name__ == "__main__":
    main()
