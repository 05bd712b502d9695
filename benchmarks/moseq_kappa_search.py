"""Fits needed by bisection vs the safeguarded secant to reach the target window, on the demo data.

Every fit is a real AR-HMM trial (``ethoflow.moseq.fit.fit_trial``, ``trial_iters`` Gibbs
iterations, same seed): median syllable duration at a kappa is deterministic, so fits are memoised
and both methods see the same duration(kappa). Several target windows are searched, since on one
window the first trial may already hit.

Needs the demo's PCA (run ``dvc repro moseq_pca`` first). Usage::

    PYTHONPATH=src python benchmarks/moseq_kappa_search.py [--trial-iters 20] [--windows 100:150 ...]

Prints one line per window and method, then the totals.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time

from ethoflow.core import load_section
from ethoflow.moseq.fit import fit_trial, target_frames
from ethoflow.moseq.io import read_kpms_config
from ethoflow.moseq.params import MoseqParams
from ethoflow.moseq.search import new_state, run_search


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--keypoints", default="data/interim/moseq/outliers/keypoints.p")
    ap.add_argument("--pca-dir", default="models/moseq/pca")
    ap.add_argument("--trial-iters", type=int, default=None, help="default: moseq.arhmm.trial_iters")
    ap.add_argument("--windows", nargs="*", default=["100:133", "200:266", "300:400", "500:666", "1000:1333"],
                    help="target windows in ms, low:high")
    args = ap.parse_args(argv)
    cfg = load_section("moseq", MoseqParams, args.params)
    fps = float(read_kpms_config(args.pca_dir)["fps"])
    iters = args.trial_iters or cfg.arhmm.trial_iters
    memo: dict[float, float] = {}
    workdir = tempfile.mkdtemp(prefix="kappa-bench-")
    fit_s = []

    def evaluate(trials):
        out = []
        for t in trials:
            if t.log10_kappa not in memo:
                t0 = time.time()
                d, _ = fit_trial({"kind": "arhmm", "project_dir": workdir, "name": "trial", "kappa": t.kappa,
                                  "iters": iters, "seed": cfg.seed, "options": {}, "keypoints": args.keypoints,
                                  "pca_dir": args.pca_dir})
                fit_s.append(time.time() - t0)
                memo[t.log10_kappa] = d
            out.append((memo[t.log10_kappa], "trial"))
        return out

    totals = {"bisection": 0, "secant": 0}
    print(f"demo data, AR-HMM trials of {iters} iterations, fps {fps:g}, kappa range "
          f"10^{cfg.arhmm.kappa_log10_range[0]:g}-10^{cfg.arhmm.kappa_log10_range[1]:g}")
    for w in args.windows:
        lo, hi = (float(v) for v in w.split(":"))
        for method in ("bisection", "secant"):
            st = new_state(method, target_frames((lo, hi), fps), cfg.arhmm.kappa_log10_range, cfg.arhmm.max_trials)
            run_search(evaluate, st, None)
            best = st.trials[st.chosen]
            totals[method] += len(st.trials)
            print(f"window {lo:g}-{hi:g} ms  {method:9s}  fits {len(st.trials):2d}  status {st.status:11s}"
                  f"  kappa {best.kappa:.3g}  median {best.duration * 1000 / fps:.0f} ms", flush=True)
    print(f"total fits: bisection {totals['bisection']}, secant {totals['secant']} "
          f"({len(memo)} distinct kappas fitted, {sum(fit_s):.0f} s of fitting)")


if __name__ == "__main__":
    sys.exit(main())
