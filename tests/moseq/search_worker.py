"""Runs a kappa search on a synthetic monotone duration(kappa) for the kill/resume test.

Usage: python search_worker.py STATE_JSON EVAL_LOG [SLEEP_S]
Every evaluated log10 kappa is appended to EVAL_LOG (one line, flushed) before the result returns.
"""

import math
import os
import sys
import time

from ethoflow.moseq.kappa import load_or_new, run_search
from ethoflow.moseq.search import new_state


def duration(x: float) -> float:
    """Median duration (frames) at log10 kappa x: a saturating monotone curve."""
    return 2.0 + 400.0 / (1.0 + math.exp(-(x - 12.0) / 1.3))


def fresh():
    return new_state("secant", (40.0, 55.0), (3.0, 18.0), 20, fingerprint="synthetic")


def main(state_path: str, log_path: str, sleep_s: float = 0.0) -> None:
    def evaluate(trials):
        out = []
        for t in trials:
            with open(log_path, "a") as fh:
                fh.write(f"{t.log10_kappa!r}\n")
                fh.flush()
                os.fsync(fh.fileno())
            time.sleep(sleep_s)
            out.append((duration(t.log10_kappa), t.checkpoint))
        return out

    state = load_or_new(state_path, fresh())
    state = run_search(evaluate, state, state_path)
    print(state.status, state.trials[state.chosen].log10_kappa)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], float(sys.argv[3]) if len(sys.argv) > 3 else 0.0)
