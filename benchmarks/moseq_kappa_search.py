"""Fits needed by bisection vs the safeguarded secant to reach the target window, on the demo data.

Every fit is a real AR-HMM trial (``ethoflow.moseq.fit.fit_trial``, ``trial_iters`` Gibbs
iterations, same seed): median syllable duration at a kappa is deterministic, so fits are memoised
and both methods see the same duration(kappa). Many target windows are searched (by default 15,
geometrically spaced from 100 to 1300 ms, each as wide as the default 300-400 ms window in ratio):
on any one window the count is partly luck (the median duration is a noisy integer function of
kappa), so the totals are the comparison that counts. ``--cache`` keeps the fitted durations in a
JSON file so a rerun (or another method) refits nothing.

Needs the demo's PCA (run ``dvc repro moseq_pca`` first). Usage::

    PYTHONPATH=src python benchmarks/moseq_kappa_search.py [--trial-iters 20] [--windows 100:150 ...]
        [--cache /tmp/kappa_fits.json]

Prints one line per window and method, then the totals.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

from ethoflow.core import load_section
from ethoflow.moseq.fit import fit_trial, target_frames
from ethoflow.moseq.io import read_kpms_config
from ethoflow.moseq.kappa import run_search
from ethoflow.moseq.params import MoseqParams
from ethoflow.moseq.search import HIT_STATUSES, new_state


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--keypoints", default="data/interim/moseq/outliers/keypoints.p")
    ap.add_argument("--pca-dir", default="models/moseq/pca")
    ap.add_argument("--trial-iters", type=int, default=None, help="default: moseq.arhmm.trial_iters")
    ap.add_argument(
        "--windows",
        nargs="*",
        default=None,
        help="target windows in ms, low:high (default: 15 windows of ratio 4:3 from 100 to 1300 ms)",
    )
    ap.add_argument("--cache", default=None, help="JSON file of fitted durations (read and extended)")
    ap.add_argument("--trace", action="store_true", help="print every trial (log10 kappa, median frames, why)")
    args = ap.parse_args(argv)
    cfg = load_section("moseq", MoseqParams, args.params)
    fps = float(read_kpms_config(args.pca_dir)["fps"])
    iters = args.trial_iters or cfg.arhmm.trial_iters
    windows = args.windows or [f"{lo:.0f}:{lo * 4 / 3:.0f}" for lo in (100 * (13 ** (i / 14)) for i in range(15))]
    key = f"{os.path.abspath(args.keypoints)}|{os.path.getmtime(args.keypoints)}|iters={iters}|seed={cfg.seed}"
    cached = json.load(open(args.cache)) if args.cache and os.path.exists(args.cache) else {}
    memo: dict[float, float] = {float(x): d for x, d in cached.get(key, {}).items()}
    workdir = tempfile.mkdtemp(prefix="kappa-bench-")
    fit_s = []

    def evaluate(trials):
        out = []
        for t in trials:
            if t.log10_kappa not in memo:
                t0 = time.time()
                d, _ = fit_trial(
                    {
                        "kind": "arhmm",
                        "project_dir": workdir,
                        "name": "trial",
                        "kappa": t.kappa,
                        "iters": iters,
                        "seed": cfg.seed,
                        "options": {},
                        "keypoints": args.keypoints,
                        "pca_dir": args.pca_dir,
                    }
                )
                fit_s.append(time.time() - t0)
                memo[t.log10_kappa] = d
                if args.cache:
                    cached[key] = {repr(x): v for x, v in sorted(memo.items())}
                    with open(args.cache, "w") as fh:
                        json.dump(cached, fh, indent=1)
            out.append((memo[t.log10_kappa], "trial"))
        return out

    totals = {"bisection": 0, "secant": 0}
    found = {"bisection": 0, "secant": 0}
    print(
        f"demo data, AR-HMM trials of {iters} iterations, fps {fps:g}, kappa range "
        f"10^{cfg.arhmm.kappa_log10_range[0]:g}-10^{cfg.arhmm.kappa_log10_range[1]:g}"
    )
    wins = {"secant": 0, "bisection": 0, "tie": 0}
    for w in windows:
        counts = {}
        lo, hi = (float(v) for v in w.split(":"))
        for method in ("bisection", "secant"):
            st = new_state(method, target_frames((lo, hi), fps), cfg.arhmm.kappa_log10_range, cfg.arhmm.max_trials)
            run_search(evaluate, st, None)
            best = st.trials[st.chosen]
            totals[method] += len(st.trials)
            counts[method] = len(st.trials)
            found[method] += st.status in HIT_STATUSES  # found, or at_bound: inside the window at a range bound
            print(
                f"window {lo:g}-{hi:g} ms  {method:9s}  fits {len(st.trials):2d}  status {st.status:11s}"
                f"  kappa {best.kappa:.3g}  median {best.duration * 1000 / fps:.0f} ms",
                flush=True,
            )
            if args.trace:
                print("    " + ", ".join(f"{t.log10_kappa:.2f}:{t.duration:g} ({t.why})" for t in st.trials))
        d = counts["secant"] - counts["bisection"]
        wins["secant" if d < 0 else "bisection" if d > 0 else "tie"] += 1
    print(f"fewer fits: secant on {wins['secant']} windows, bisection on {wins['bisection']}, tie on {wins['tie']}")
    print(
        f"total fits over {len(windows)} windows: bisection {totals['bisection']}, secant {totals['secant']} "
        f"({len(memo)} distinct kappas fitted, {sum(fit_s):.0f} s of fitting)"
    )
    print(f"windows reached: bisection {found['bisection']}/{len(windows)}, secant {found['secant']}/{len(windows)}")


if __name__ == "__main__":
    sys.exit(main())
