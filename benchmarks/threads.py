"""Thread defaults for shared machines: 1 thread vs all cores, alone and with a second process at once.

Two workloads, each run as separate processes (``torch.set_num_threads`` plus the OpenMP/BLAS
environment variables):

- ``predict``: ethoflow's exact window predictor on a 30 s demo tape (the child mode of
  ``benchmarks/acoustic_predict.py``; ResNet-18, window 0.4 s, hop 0.05 s).
- ``train``: the VAE library (``ethoflow.vae.train``) on synthetic snips (512 x 60 min x 4 channels,
  3 epochs).

For each: one process alone with 1 thread, alone with all cores, then two processes started together
(the situation on a shared node or with ``ethoflow repro -j 2``) with 1 thread each and with all cores
each. Prints the median wall time per process over ``--repeats`` interleaved rounds and the throughput
of the pair (work done per second by both processes together).

    PYTHONPATH=src python benchmarks/threads.py --repeats 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

TRAIN_CHILD = r"""
import sys, numpy as np, torch
torch.set_num_threads(int(sys.argv[1]))
from ethoflow.vae import TimeSeriesVAE, TrainSettings, VAEConfig, train
rng = np.random.default_rng(0)
x = rng.normal(size=(512, 60, 4)).astype(np.float32)
torch.manual_seed(0)
model = TimeSeriesVAE(VAEConfig(seq_len=60, channels=4, latent_dim=8, hidden_dim=32, num_layers=2))
train(model, x[:448], x[448:], TrainSettings(epochs=3, batch_size=32, warmup_epochs=1, seed=0))
"""


def _env(threads: int) -> dict[str, str]:
    n = str(threads)
    env = dict(os.environ, OMP_NUM_THREADS=n, MKL_NUM_THREADS=n, OPENBLAS_NUM_THREADS=n, ETHOFLOW_PROGRESS="0")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "src"), env.get("PYTHONPATH", "")]))
    return env


def _run_together(cmds: list[list[str]], threads: int) -> list[float]:
    """Start every command at once; wall seconds of each."""
    t0 = time.perf_counter()
    procs = [subprocess.Popen(c, env=_env(threads), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for c in cmds]
    ends = []
    for p in procs:
        _, err = p.communicate()
        if p.returncode != 0:
            sys.exit(err.decode()[-2000:])
        ends.append(time.perf_counter() - t0)
    return ends


def main() -> None:
    import torch

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        sys.path.insert(0, str(REPO / "benchmarks"))
        from acoustic_predict import _models

        from ethoflow.acoustic.params import DemoParams
        from ethoflow.demo.acoustic import generate

        generate(tmp, DemoParams(n_tapes=1, recordings_per_tape=1, recording_s=30.0, sr=48000))
        model = _models(tmp)["resnet"]
        bench = str(REPO / "benchmarks" / "acoustic_predict.py")

        def workload(name: str, threads: int) -> list[str]:
            if name == "predict":
                return [sys.executable, bench, "--child", "exact", "--tape", str(tmp / "T01_r1.wav")] + [
                    "--model",
                    str(model),
                    "--hop",
                    "0.05",
                    "--threads",
                    str(threads),
                ]
            return [sys.executable, "-c", TRAIN_CHILD, str(threads)]

        configs = [("alone", 1, 1), ("alone", cores, 1), ("two at once", 1, 2), ("two at once", cores, 2)]
        results: dict[tuple, list[float]] = {}
        for _ in range(args.repeats):
            for name in ("predict", "train"):
                for label, threads, n in configs:
                    walls = _run_together([workload(name, threads)] * n, threads)
                    results.setdefault((name, label, threads), []).append(max(walls))
    print(f"{cores} CPU cores, torch {torch.__version__}; medians of {args.repeats} interleaved rounds")
    print(f"{'workload':<9} {'situation':<12} {'threads':>7} {'s per process':>14} {'jobs per minute':>16}")
    for (name, label, threads), walls in results.items():
        wall = statistics.median(walls)
        n = 2 if label == "two at once" else 1
        print(f"{name:<9} {label:<12} {threads:>7} {wall:14.1f} {60 * n / wall:16.2f}")


if __name__ == "__main__":
    main()
