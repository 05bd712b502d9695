"""Where a moseq stage process spends its time, with an empty and with a filled JAX compilation cache.

Runs the moseq chain ``moseq_arhmm -> moseq_full -> moseq_seeds -> moseq_results -> moseq_apply@heldout``
as ``dvc repro`` would (one fresh Python process per stage, the commands read from ``dvc.yaml``) in a
scratch copy of the project, twice per repeat, interleaved:

- **cold**: a new, empty cache folder (``ETHOFLOW_JAX_CACHE``); what a fresh clone paid with the old
  per-project cache (``.ethoflow/jax-cache``), and still pays on a machine's first run;
- **warm**: the folder the cold chain just filled; what a rerun, a fresh clone or worktree on the same
  machine, or the CI clone now get with the per-machine cache (:mod:`ethoflow.moseq.jaxcache`).

Every stage process is profiled with JAX's monitoring events: seconds importing keypoint-moseq, in
tracing (Python -> jaxpr), lowering (jaxpr -> StableHLO), and compiling or loading from the cache
(XLA backend compile, or the cache read and deserialisation on a hit; intervals merged so nested jits
count once), and the persistent-cache hits and misses. CPU seconds are the process's user + system
time (less sensitive than wall time to other load on a shared machine). The outputs of the cold and
the warm chain are compared byte for byte.

Needs the moseq inputs first (``dvc repro moseq_pca`` and ``demo_moseq``). By default the iteration
counts are cut (``--quick``: compile time does not depend on them); ``--demo-params`` keeps params.yaml.
Usage::

    PYTHONPATH=src python benchmarks/moseq_warmup.py [--repeats 1] [--demo-params] [--src DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from ethoflow.core.stage import resolved_stages

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests.integration.dvcproject: the project-copy helpers
STAGES = ["moseq_arhmm", "moseq_full", "moseq_seeds", "moseq_results", "moseq_apply@heldout"]
INPUTS = ["data/interim/moseq/outliers", "models/moseq/pca", "data/raw/moseq", "data/raw/moseq_heldout"]
OUTPUTS = ["models/moseq", "reports/moseq", "metrics/moseq.json"]
QUICK = {
    "arhmm": {"trial_iters": 10, "arhmm_iters": 20, "max_trials": 3},
    "full": {"trial_iters": 3, "full_iters": 6, "max_trials": 2},
    "seeds": {"n_seeds": 2},
    "apply": {"num_iters": 5},
}

# runs one stage script (argv[1:]) under JAX's monitoring listeners, prints a JSON report line
CHILD = r"""
import json, runpy, sys, time
t0 = time.perf_counter()
from jax import monitoring
spans, counts = {}, {}
monitoring.register_event_time_span_listener(lambda e, s, t, **k: spans.setdefault(e, []).append((s, t)))
def count(e, **k):
    counts[e] = counts.get(e, 0) + 1
monitoring.register_event_listener(count)
t1 = time.perf_counter()
import keypoint_moseq
t2 = time.perf_counter()
sys.argv = sys.argv[1:]
rc = 0
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
except SystemExit as exc:
    rc = exc.code or 0
t3 = time.perf_counter()
def merged(*events):
    iv = sorted(x for e in events for x in spans.get(e, []))
    total, end = 0.0, float("-inf")
    for s, t in iv:
        if t > end:
            total += t - max(s, end)
            end = t
    return total
P = "/jax/core/compile/"
report = {"import_jax": t1 - t0, "import_kpms": t2 - t1, "run": t3 - t2,
          "trace": merged(P + "jaxpr_trace_duration"), "lower": merged(P + "jaxpr_to_mlir_module_duration"),
          "compile": merged(P + "backend_compile_duration"),
          "jax": merged(P + "jaxpr_trace_duration", P + "jaxpr_to_mlir_module_duration", P + "backend_compile_duration"),
          "hits": counts.get("/jax/compilation_cache/cache_hits", 0),
          "misses": counts.get("/jax/compilation_cache/cache_misses", 0)}
print("WARMUP " + json.dumps(report), flush=True)
sys.exit(rc)
"""


def stage_argv(stages: dict, stage: str) -> list[str]:
    """The script and arguments of ``stage`` (``name@key`` for a foreach item) from the resolved dvc.yaml
    (:func:`ethoflow.core.stage.resolved_stages`)."""
    return shlex.split(stages[stage]["cmd"])[1:]


def scratch_project(src_repo: Path, quick: bool) -> Path:
    """A temporary project: dvc.yaml, params.yaml (iterations cut with ``quick``), stages/, inputs."""
    root = Path(tempfile.mkdtemp(prefix="moseq-warmup-"))
    for name in ("dvc.yaml", "params.yaml"):
        shutil.copy(REPO / name, root / name)
    shutil.copytree(src_repo / "stages", root / "stages")
    for rel in INPUTS:
        if not (REPO / rel).exists():
            raise SystemExit(f"missing {rel}: run `dvc repro moseq_pca demo_moseq` first")
        shutil.copytree(REPO / rel, root / rel)
    if quick:
        params = yaml.safe_load((root / "params.yaml").read_text())
        for section, values in QUICK.items():
            params["moseq"][section].update(values)
        (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return root


def run_chain(src: Path, cache: Path, quick: bool) -> tuple[dict[str, dict], Path]:
    """Run every stage in a fresh scratch project with ``cache``; per stage: wall, cpu and the report."""
    root = scratch_project(src.parent, quick)
    stages = resolved_stages(root / "dvc.yaml")
    env = {
        **os.environ,
        "ETHOFLOW_JAX_CACHE": str(cache),
        "PYTHONPATH": str(src),
        "ETHOFLOW_PROGRESS": "0",
        "PYTHONHASHSEED": "0",
    }
    rows = {}
    for stage in STAGES:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-c", CHILD, *stage_argv(stages, stage)], cwd=root, env=env, capture_output=True, text=True
        )
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if out.returncode != 0:
            raise SystemExit(f"{stage} failed in {root}:\n{out.stderr[-3000:]}")
        line = [ln for ln in out.stdout.splitlines() if ln.startswith("WARMUP ")][-1]
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        rows[stage] = {"wall": wall, "cpu": cpu, **json.loads(line[7:])}
        print(
            f"  {stage:22s} wall {wall:6.1f} s  cpu {cpu:6.1f} s  {rows[stage]['hits']} hits "
            f"{rows[stage]['misses']} misses",
            flush=True,
        )
    return rows, root


def digests(root: Path) -> dict[str, str]:
    """sha256 of every output file of the chain, by path relative to ``root``."""
    from tests.integration.dvcproject import file_digests

    return file_digests(root, OUTPUTS)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=1, help="cold/warm pairs, interleaved (medians printed)")
    ap.add_argument("--demo-params", action="store_true", help="params.yaml as it is (default: iterations cut)")
    ap.add_argument("--src", default=str(REPO / "src"), help="the ethoflow sources to run (another checkout's src/)")
    ap.add_argument("--keep", action="store_true", help="keep the scratch projects and caches")
    args = ap.parse_args(argv)
    src = Path(args.src).resolve()
    res: dict[str, list[dict]] = {"cold": [], "warm": []}
    same = []
    for i in range(args.repeats):
        cache = Path(tempfile.mkdtemp(prefix="jax-cache-"))
        print(f"repeat {i + 1}: cold (empty cache {cache})", flush=True)
        cold, cold_root = run_chain(src, cache, not args.demo_params)
        print(f"repeat {i + 1}: warm (filled cache)", flush=True)
        warm, warm_root = run_chain(src, cache, not args.demo_params)
        res["cold"].append(cold)
        res["warm"].append(warm)
        a, b = digests(cold_root), digests(warm_root)
        diff = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
        same.append((len(a), diff))
        if not args.keep:
            for p in (cache, cold_root, warm_root):
                shutil.rmtree(p, ignore_errors=True)

    def med(kind: str, stage: str, key: str) -> float:
        return statistics.median(r[stage][key] for r in res[kind])

    load = os.getloadavg()
    print(
        f"\nmedian of {args.repeats} interleaved cold/warm pair(s); {os.cpu_count()} CPUs, "
        f"load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1/5/15 min) at the end"
    )
    print(
        f"{'stage':22s} {'wall cold':>9s} {'warm':>6s} {'cpu cold':>9s} {'warm':>6s} {'ratio':>6s} | warm: "
        f"{'kpms imp':>8s} {'trace':>6s} {'lower':>6s} {'load':>6s} {'hit/miss':>9s} | cold: {'compile':>7s} "
        f"{'hit/miss':>9s}"
    )
    tot = {"cold": 0.0, "warm": 0.0, "cc": 0.0, "cw": 0.0}
    for st in STAGES:
        wc, ww, cc, cw = (
            med("cold", st, "wall"),
            med("warm", st, "wall"),
            med("cold", st, "cpu"),
            med("warm", st, "cpu"),
        )
        tot["cold"] += wc
        tot["warm"] += ww
        tot["cc"] += cc
        tot["cw"] += cw
        print(
            f"{st:22s} {wc:9.1f} {ww:6.1f} {cc:9.1f} {cw:6.1f} {cc / cw:5.2f}x | {'':6s}"
            f"{med('warm', st, 'import_kpms'):8.1f} {med('warm', st, 'trace'):6.1f} {med('warm', st, 'lower'):6.1f} "
            f"{med('warm', st, 'compile'):6.1f} {int(med('warm', st, 'hits')):4d}/{int(med('warm', st, 'misses')):<4d} | "
            f"{'':6s}{med('cold', st, 'compile'):7.1f} {int(med('cold', st, 'hits')):4d}/{int(med('cold', st, 'misses')):<4d}"
        )
    print(
        f"{'all five':22s} {tot['cold']:9.1f} {tot['warm']:6.1f} {tot['cc']:9.1f} {tot['cw']:6.1f} "
        f"{tot['cc'] / tot['cw']:5.2f}x"
    )
    for i, (n, diff) in enumerate(same):
        print(
            f"outputs, repeat {i + 1}: {n - len(diff)} of {n} files byte-identical cold vs warm"
            + (f"; differ: {', '.join(diff)}" if diff else "")
        )


if __name__ == "__main__":
    main()
