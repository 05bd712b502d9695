"""Effect of JAX's persistent compilation cache on a moseq trial: first vs second run wall time.

Each run is a fresh Python process fitting one AR-HMM trial and one full-model trial (warm-started
from the AR-HMM checkpoint) on the demo data, with ``ETHOFLOW_JAX_CACHE`` pointing at a new, empty
folder for run 1 and the same (now filled) folder for run 2.

Needs ``dvc repro moseq_arhmm`` first. Usage::

    PYTHONPATH=src python benchmarks/moseq_compile_cache.py [--iters 3]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

CHILD = r"""
import sys, time, tempfile
t0 = time.time()
from ethoflow.moseq.fit import fit_trial
t1 = time.time()
work = tempfile.mkdtemp()
iters = int(sys.argv[1])
base = {"project_dir": work, "seed": 0, "options": {}, "iters": iters, "kappa": 1e6}
fit_trial({**base, "kind": "arhmm", "name": "ar", "keypoints": "data/interim/moseq/outliers/keypoints.p",
           "pca_dir": "models/moseq/pca"})
t2 = time.time()
fit_trial({**base, "kind": "full", "name": "full", "init_dir": "models/moseq/arhmm", "init_name": "arhmm"})
t3 = time.time()
print(f"TIMES import {t1 - t0:.1f} arhmm {t2 - t1:.1f} full {t3 - t2:.1f}")
"""


def run(cache: str, iters: int) -> tuple[float, str]:
    env = {**os.environ, "ETHOFLOW_JAX_CACHE": cache, "ETHOFLOW_PROGRESS": "0"}
    t0 = time.time()
    out = subprocess.run([sys.executable, "-c", CHILD, str(iters)], env=env, capture_output=True, text=True)
    wall = time.time() - t0
    if out.returncode != 0:
        raise SystemExit(out.stderr[-3000:])
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("TIMES")][-1]
    return wall, line[6:]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iters", type=int, default=3)
    args = ap.parse_args(argv)
    cache = tempfile.mkdtemp(prefix="jax-cache-")
    first = run(cache, args.iters)
    print(f"run 1 (empty cache):  wall {first[0]:.1f} s  ({first[1]})", flush=True)
    second = run(cache, args.iters)
    print(f"run 2 (filled cache): wall {second[0]:.1f} s  ({second[1]})", flush=True)
    n = sum(len(f) for _, _, f in os.walk(cache))
    print(f"cache: {n} entries in {cache}; speed-up {first[0] / second[0]:.2f}x")


if __name__ == "__main__":
    main()
