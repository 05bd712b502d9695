"""GPU check: every GPU stage with tiny params on CUDA and on CPU, outputs compared, throughput printed.

Run on a CUDA machine after ``pip install -e '.[gpu]'`` (JAX's CUDA build for keypoint-moseq)::

    python benchmarks/gpu_check.py                 # all four GPU pipelines, under 8 minutes
    python benchmarks/gpu_check.py --only acoustic vae

What it does, in two throw-away copies of the project (``tests/integration/dvcproject.copy_project``,
the integration tests' tiny params for each pipeline plus the search sizes below):

1. **Reference run on CPU** (``CUDA_VISIBLE_DEVICES=""``, ``JAX_PLATFORMS=cpu``): ``dvc repro -s`` of
   every stage the GPU stages need, one stage at a time, timed.
2. **Device run** (``--device cuda``: GPU visible, ``JAX_PLATFORMS=cuda``): the same. A hook
   (``sitecustomize``, injected through ``PYTHONPATH``) records, for every stage process, torch's
   peak CUDA memory and JAX's platform; the check **fails** if a GPU stage did not use the device
   (torch stages: peak CUDA memory > 0; moseq: JAX platform ``gpu``/``cuda``).
3. **Inference parity**: the CPU run's trained models are copied into the device project and its
   inference stages (``acoustic_predict``, ``hbehave_extract``, ``vae_embed``) rerun on the device;
   their outputs must match the CPU outputs within tolerance (``TOLERANCE``; hbehave's extract runs in
   bf16 on GPU, hence its looser bound). Training itself is not bit-comparable across devices
   (different kernels, bf16 autocast, JAX's GPU RNG): its headline metrics are printed side by side
   and must be finite.
4. **Throughput** per GPU stage: windows/s (acoustic train and predict, hBehaveMAE train and
   extract), snips/s (VAE train and embed), Gibbs iterations/s (moseq AR-HMM and full model).

Without a visible CUDA device, ``--device cuda`` (the default) prints ``SKIP: <reason>`` and exits 0,
so CI runs it cleanly. ``--device cpu`` runs the whole machinery with CPU as "device" (a self-test:
every parity difference must then be exactly 0). Exit status: 0 pass or skip, 1 a check failed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

GROUPS: dict[str, list[str]] = {
    "acoustic": ["acoustic_train", "acoustic_predict"],
    "hbehave": ["hbehave_train", "hbehave_extract"],
    "vae": ["vae_train", "vae_embed"],
    "moseq": ["moseq_arhmm", "moseq_full"],
}
TRAINING = {"acoustic_train", "hbehave_train", "vae_train"}
INFERENCE = {"acoustic_predict": "acoustic_train", "hbehave_extract": "hbehave_train", "vae_embed": "vae_train"}
TORCH_STAGES = {"acoustic_train", "acoustic_predict", "hbehave_train", "hbehave_extract", "vae_train", "vae_embed"}
# max |device - cpu| over every numeric value of an inference stage's outputs (same trained weights)
TOLERANCE = {"acoustic_predict": 1e-3, "hbehave_extract": 5e-2, "vae_embed": 1e-3}
SEARCH = {  # the kappa searches at test size: a few trials of a few Gibbs iterations
    "moseq": {
        "outliers": {"plot_dpi": 40},
        "arhmm": {"trial_iters": 4, "arhmm_iters": 6, "max_trials": 3},
        "full": {"trial_iters": 2, "full_iters": 3, "max_trials": 2},
    },
    "hbehave": {"extract": {"precision": "auto"}},  # bf16 on GPU, fp32 on CPU
}

HOOK = """
import atexit, json, os, sys, time
_t0 = time.time()
def _ethoflow_gpu_check_report():
    out = os.environ.get("ETHOFLOW_GPU_CHECK_DIR")
    if not out:
        return
    rec = {"argv": sys.argv, "wall_s": time.time() - _t0}
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        rec["torch_cuda_peak_bytes"] = max(
            torch.cuda.max_memory_allocated(i) for i in range(torch.cuda.device_count()))
    jax = sys.modules.get("jax")
    if jax is not None:
        try:
            dev = jax.devices()[0]
            rec["jax_platform"] = dev.platform
            rec["jax_peak_bytes"] = (dev.memory_stats() or {}).get("peak_bytes_in_use")
        except Exception as exc:
            rec["jax_error"] = repr(exc)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, f"{os.getpid()}.json"), "w") as fh:
        json.dump(rec, fh)
atexit.register(_ethoflow_gpu_check_report)
"""


@dataclass
class StageRun:
    """One ``dvc repro -s`` of one stage: wall seconds and what its processes reported."""

    name: str
    seconds: float
    records: list[dict] = field(default_factory=list)

    @property
    def base(self) -> str:
        return self.name.split("@")[0]

    def used_device(self) -> bool:
        if self.base.startswith("moseq"):
            return any(r.get("jax_platform") in ("gpu", "cuda") for r in self.records)
        return any((r.get("torch_cuda_peak_bytes") or 0) > 0 for r in self.records)


def no_cuda_reason() -> str | None:
    """Why ``--device cuda`` cannot run here (``None`` when a CUDA device is visible)."""
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - torch is a core dependency
        return f"torch not importable ({exc})"
    if not torch.cuda.is_available():
        vis = os.environ.get("CUDA_VISIBLE_DEVICES")
        extra = f", CUDA_VISIBLE_DEVICES={vis!r}" if vis is not None else ""
        return f"no CUDA device visible (torch.cuda.is_available() is False{extra}; torch {torch.__version__})"
    return None


def stage_env(device: str, hook_dir: Path, record_dir: Path) -> dict[str, str]:
    """Environment overrides for one run: device visibility, JAX platform and the recording hook."""
    env = {"ETHOFLOW_GPU_CHECK_DIR": str(record_dir), "ETHOFLOW_EXECUTOR": "local"}
    if device == "cpu":
        env |= {"CUDA_VISIBLE_DEVICES": "", "JAX_PLATFORMS": "cpu"}
    else:
        env |= {"JAX_PLATFORMS": "cuda"}
    env["GPU_CHECK_HOOK"] = str(hook_dir)
    return env


def _dvc(proj: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    from tests.integration.dvcproject import BIN, _env

    full = _env(proj) | env
    full["PYTHONPATH"] = f"{env['GPU_CHECK_HOOK']}{os.pathsep}{full['PYTHONPATH']}"
    res = subprocess.run([str(BIN / "dvc"), *args], cwd=proj, env=full, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"dvc {' '.join(args)} failed in {proj}:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}")
    return res


def plan(proj: Path, targets: list[str]) -> list[str]:
    """Stages ``dvc repro targets`` would run, in DVC's own order (``ethoflow.repro.make_plan``)."""
    import contextlib

    from ethoflow.repro import make_plan

    with contextlib.chdir(proj):  # DVC resolves stage names against the working directory's dvc.yaml
        return list(make_plan(targets, proj).order)


def run_stages(
    proj: Path, env: dict[str, str], names: list[str], record_root: Path, force: bool = False
) -> list[StageRun]:
    """``dvc repro -s [-f] name`` for each stage in order, timed, with the hook's records."""
    runs = []
    for name in names:
        rec_dir = record_root / name.replace("@", "_")
        shutil.rmtree(rec_dir, ignore_errors=True)
        t0 = time.perf_counter()
        _dvc(proj, env | {"ETHOFLOW_GPU_CHECK_DIR": str(rec_dir)}, "repro", "-s", *(["-f"] if force else []), name)
        secs = time.perf_counter() - t0
        recs = [json.loads(p.read_text()) for p in sorted(rec_dir.glob("*.json"))] if rec_dir.is_dir() else []
        runs.append(StageRun(name, secs, recs))
        print(f"  {name:<32} {secs:7.1f} s", flush=True)
    return runs


def stage_outs(proj: Path, name: str) -> list[Path]:
    """The outs ``dvc.lock`` records for stage ``name`` (``stage@item`` for foreach items)."""
    import yaml

    lock = yaml.safe_load((proj / "dvc.lock").read_text())["stages"]
    return [proj / o["path"] for o in lock[name].get("outs", [])]


def _numeric_arrays(path: Path) -> dict[str, object]:
    import numpy as np
    import pandas as pd

    if path.suffix == ".parquet":
        df = pd.read_parquet(path)
    elif path.suffix == ".csv":
        df = pd.read_csv(path)
    elif path.suffix == ".npz":
        with np.load(path) as z:
            return {k: np.asarray(z[k], dtype=float) for k in z.files if np.issubdtype(z[k].dtype, np.number)}
    elif path.suffix == ".npy":
        return {"": np.load(path).astype(float)}
    else:
        return {}
    return {c: df[c].to_numpy(dtype=float) for c in df.columns if pd.api.types.is_numeric_dtype(df[c])}


def max_abs_diff(ref: list[Path], dev: list[Path]) -> float:
    """Largest ``|dev - ref|`` over every numeric column/array of every file in the outs.

    Files are paired by their path relative to the out; a file or column present on one side only,
    or arrays of different shapes, count as ``inf`` (a structural difference is never "close").
    """
    import numpy as np

    worst = 0.0
    for r_out, d_out in zip(ref, dev, strict=True):
        r_files = sorted(p for p in ([r_out] if r_out.is_file() else r_out.rglob("*")) if p.is_file())
        d_files = sorted(p for p in ([d_out] if d_out.is_file() else d_out.rglob("*")) if p.is_file())
        rel = lambda files, root: [str(p.relative_to(root)) if p != root else "" for p in files]  # noqa: E731
        if rel(r_files, r_out) != rel(d_files, d_out):
            return math.inf
        for rf, df in zip(r_files, d_files):
            ra, da = _numeric_arrays(rf), _numeric_arrays(df)
            if ra.keys() != da.keys():
                return math.inf
            for k in ra:
                a, b = np.asarray(ra[k]), np.asarray(da[k])
                if a.shape != b.shape:
                    return math.inf
                if a.size:
                    both_nan = np.isnan(a) & np.isnan(b)
                    diff = np.where(both_nan, 0.0, np.abs(a - b))
                    worst = max(worst, float(np.nanmax(np.where(np.isnan(diff), np.inf, diff))))
    return worst


def throughput(proj: Path, run: StageRun) -> tuple[float, str]:
    """Items per second of one GPU stage and their unit, from its outputs and the stage's wall time."""
    from ethoflow.core.io import read_json

    secs = max(run.seconds, 1e-9)
    item = run.name.split("@")[1] if "@" in run.name else None
    if run.base == "acoustic_train":
        s = read_json(proj / f"models/acoustic/{item}/train_summary.json")
        return s["n_segments"]["train"] * s["epochs_run"] / secs, "windows/s"
    if run.base == "hbehave_train":
        s = read_json(proj / "models/hbehave/train_summary.json")
        return s["train_windows"] * s["epochs"] / secs, "windows/s"
    if run.base == "vae_train":
        s = next(iter(sorted((proj / "models/vae").glob("*/train_summary.json"))))
        s = read_json(s)
        return s["n_train_snips"] * s["epochs_run"] / secs, "snips/s"
    if run.base in ("acoustic_predict", "hbehave_extract", "vae_embed"):
        rows = 0
        for out in stage_outs(proj, run.name):
            files = [out] if out.is_file() else sorted(p for p in out.rglob("*") if p.is_file())
            tables = [p for p in files if p.suffix == ".parquet"] or files  # a CSV twin is not counted twice
            for f in tables:
                arrays = _numeric_arrays(f)
                if arrays:
                    rows += max(len(v) for v in arrays.values())
        unit = "snips/s" if run.base == "vae_embed" else "windows/s"
        return rows / secs, unit
    if run.base in ("moseq_arhmm", "moseq_full"):
        kind = run.base.split("_")[1]
        state = read_json(proj / f"models/moseq/{kind}/search_state.json")
        trials = state.get("trials", [])
        cfg = SEARCH["moseq"][kind]
        iters = len(trials) * cfg["trial_iters"] + cfg[f"{kind}_iters"]
        return iters / secs, "Gibbs iterations/s"
    return math.nan, "?"


def headline(proj: Path, pipelines: list[str]) -> dict[str, float]:
    """Flat ``{file.key: value}`` of the headline metrics (``metrics/<pipeline>.json``) of ``pipelines``."""
    from ethoflow.core.io import read_json

    flat: dict[str, float] = {}

    def walk(prefix: str, obj: object) -> None:
        if isinstance(obj, dict):
            for k, v in obj.items():
                walk(f"{prefix}.{k}", v)
        elif isinstance(obj, (int, float)):
            flat[prefix] = float(obj)

    for name in pipelines:
        if (proj / "metrics" / f"{name}.json").is_file():
            walk(name, read_json(proj / "metrics" / f"{name}.json"))
    return flat


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", choices=["cuda", "cpu"], default="cuda", help="device under test (default: cuda)")
    ap.add_argument("--only", nargs="+", choices=sorted(GROUPS), default=sorted(GROUPS), help="pipelines to check")
    ap.add_argument("--workdir", type=Path, default=None, help="keep the project copies here (default: temporary)")
    args = ap.parse_args(argv)

    if args.device == "cuda" and (reason := no_cuda_reason()):
        print(f"SKIP: {reason}")
        return 0
    import yaml

    from tests.fixtures.tiny import DVC_ACOUSTIC as TINY_ACOUSTIC
    from tests.fixtures.tiny import DVC_HBEHAVE as TINY_HBEHAVE
    from tests.fixtures.tiny import DVC_VAE as TINY
    from tests.integration.dvcproject import copy_project, deep_merge

    params = TINY
    for over in (TINY_ACOUSTIC, TINY_HBEHAVE, SEARCH):
        params = deep_merge(params, over)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="ethoflow-gpu-check-"))
    hook = work / "hook"
    hook.mkdir(parents=True, exist_ok=True)
    (hook / "sitecustomize.py").write_text(HOOK)
    gpu_stages = [s for g in args.only for s in GROUPS[g]]
    t_start = time.perf_counter()
    failures: list[str] = []

    runs: dict[str, dict[str, StageRun]] = {}
    projects: dict[str, Path] = {}
    for label, device in (("cpu", "cpu"), ("device", args.device)):
        print(f"== {label} run ({device})", flush=True)
        proj = copy_project(work / label, params)
        p = yaml.safe_load((proj / "params.yaml").read_text())  # one aggregation, not merged into the defaults
        p["hbehave"]["extract"]["aggregations"] = dict(TINY_HBEHAVE["hbehave"]["extract"]["aggregations"])
        (proj / "params.yaml").write_text(yaml.safe_dump(p, sort_keys=False))
        env = stage_env(device, hook, work / "records" / label)
        names = plan(proj, gpu_stages)
        runs[label] = {r.name: r for r in run_stages(proj, env, names, work / "records" / label)}
        projects[label] = proj

    # every GPU stage on the device run must have used the device
    dev_gpu_runs = [r for r in runs["device"].values() if r.base in gpu_stages]
    if args.device == "cuda":
        for r in dev_gpu_runs:
            if not r.used_device():
                failures.append(f"{r.name}: did not use the GPU (records: {r.records})")

    # inference parity: the CPU-trained models, inference rerun on the device
    print("== inference parity (CPU-trained models on the device)", flush=True)
    ref, dev = projects["cpu"], projects["device"]
    for name in [n for n in runs["cpu"] if n.split("@")[0] in TRAINING]:
        for out in stage_outs(ref, name):
            target = dev / out.relative_to(ref)
            shutil.rmtree(target, ignore_errors=True) if target.is_dir() else target.unlink(missing_ok=True)
            (shutil.copytree if out.is_dir() else shutil.copy2)(out, target)
    inf_names = [n for n in runs["cpu"] if n.split("@")[0] in INFERENCE]
    env = stage_env(args.device, hook, work / "records" / "parity")
    parity_runs = {r.name: r for r in run_stages(dev, env, inf_names, work / "records" / "parity", force=True)}
    parity: dict[str, float] = {}
    for name in inf_names:
        diff = max_abs_diff(stage_outs(ref, name), stage_outs(dev, name))
        parity[name] = diff
        tol = 0.0 if args.device == "cpu" else TOLERANCE[name.split("@")[0]]
        if not diff <= tol:
            failures.append(f"{name}: max |{args.device} - cpu| = {diff:.3g} > {tol:g}")

    # throughput table
    print()
    print(
        f"{'stage':<30} {'cpu s':>8} {'device s':>8} {'cpu rate':>12} {'device rate':>12}  unit  (device: {args.device})"
    )
    for name, dev_run in runs["device"].items():
        if dev_run.base not in gpu_stages:
            continue
        cpu_run = runs["cpu"][name]
        c_rate, unit = throughput(ref, cpu_run)
        d_rate, _ = throughput(dev, dev_run)
        print(f"{name:<30} {cpu_run.seconds:8.1f} {dev_run.seconds:8.1f} {c_rate:12.1f} {d_rate:12.1f}  {unit}")
    print()
    print(f"{'inference stage':<30} {'max |diff|':>12} {'tolerance':>10}")
    for name, diff in parity.items():
        tol = 0.0 if args.device == "cpu" else TOLERANCE[name.split("@")[0]]
        print(f"{name:<30} {diff:12.3g} {tol:10g}   (rerun {parity_runs[name].seconds:.1f} s)")

    # training: headline metrics side by side (not bit-comparable across devices), all finite
    h_cpu, h_dev = headline(ref, args.only), headline(dev, args.only)
    print()
    print(f"{'headline metric':<44} {'cpu':>12} {'device':>12}")
    for key in sorted(h_cpu.keys() | h_dev.keys()):
        a, b = h_cpu.get(key, math.nan), h_dev.get(key, math.nan)
        print(f"{key:<44} {a:12.5g} {b:12.5g}")
        if not math.isfinite(b):
            failures.append(f"headline {key}: {b} on {args.device}")
    print(f"\ntotal {time.perf_counter() - t_start:.0f} s; project copies in {work}")
    for f in failures:
        print(f"FAIL: {f}")
    print("PASS" if not failures else f"{len(failures)} check(s) failed")
    if args.workdir is None and not failures:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
