"""Portable vs fast compute mode (``compute.numerics``): identical bytes, and what portability costs.

Each pipeline's model is trained briefly from a fixed seed on synthetic inputs, with ethoflow's own
model classes and losses: the acoustic ResNet window classifier (``CallClassifier``), the framewise CNN
(``FramewiseNet``), hBehaveMAE, the time-series VAE (torch, Adam steps) and a few Gibbs iterations of
the moseq AR-HMM (jax, ``jax_moseq``). Every run is a fresh process that puts itself in the mode
with :func:`ethoflow.core.numerics.ensure`, exactly as a stage does.

    python benchmarks/numerics.py probe --mode portable --size tiny   # sha256 of each model's result (JSON)
    python benchmarks/numerics.py bench --repeats 3 --size bench      # wall time, portable vs fast
    python benchmarks/numerics.py cross-cpu --cpus EPYC-Rome SandyBridge   # same bytes on emulated CPUs?

``bench`` runs portable and fast alternately (interleaved repeats, one fresh process per run) and prints
the median training wall time per pipeline side by side with the ratio. The test
``tests/core/test_numerics.py`` runs ``probe`` under different CPU dispatch settings.

``cross-cpu`` runs ``probe`` natively and under QEMU's user-mode emulation of other CPU models
(``qemu-x86_64 -cpu <model>``, Debian package ``qemu-user``): another vendor (``EPYC-Rome``: AMD, AVX2,
other cache sizes), a CPU with AVX but without AVX2 and FMA (``SandyBridge``; jaxlib needs AVX). The emulated CPU answers ``cpuid`` as that model,
so every library picks the code path it would pick there, and QEMU computes the approximate
instructions (``rsqrtps``, ``rcpps``) differently from Intel's hardware, as AMD's hardware does: a
kernel that uses them shows up as a difference. ``sqrt_reference`` (torch's ``sqrt``, which goes
through MKL's vector maths) is the control that differs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests.fixtures.tiny: the tiny model configurations
PIPELINES = ("acoustic_resnet", "acoustic_framewise", "hbehave", "vae", "moseq")
#: what ``probe`` can run: the pipelines and the ``cross-cpu`` control
PROBES = (*PIPELINES, "sqrt_reference")

#: per size: Adam steps, batch, ResNet window side (bins), Gibbs sweeps, and whether the sweeps resample
#: the AR parameters too (their jit compile is most of a tiny run's time); ``tiny`` for the test
SIZES = {
    "tiny": {"steps": 3, "batch": 2, "hw": 16, "iters": 2, "ar": False},
    "bench": {"steps": 20, "batch": 8, "hw": 32, "iters": 100, "ar": True},
    # batches of 16: torch's NNPACK convolution (16 or more) would run; AR parameters resampled
    "cross": {"steps": 3, "batch": 16, "hw": 16, "iters": 3, "ar": True},
}


def _digest(arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(a.tobytes())
    return h.hexdigest()


def _torch_train(model, batch_fn, loss_fn, steps: int) -> str:
    """``steps`` steps of ethoflow's optimiser (:func:`ethoflow.core.training.adam`) on ``batch_fn(step)``;
    sha256 of the parameters and the last loss."""
    from ethoflow.core.training import adam

    opt = adam(model.parameters(), lr=1e-2)
    model.train()
    loss = None
    for step in range(steps):
        opt.zero_grad()
        loss = loss_fn(model, *batch_fn(step))
        loss.backward()
        opt.step()
    return _digest([p.detach().numpy() for p in model.parameters()] + [loss.detach().numpy()])


def acoustic_resnet(size: dict) -> str:
    """ResNet-18 window classifier (width 4) on (B, 1, hw, hw) spectrogram windows, cross-entropy."""
    import torch

    from ethoflow.acoustic.models.model import CallClassifier

    torch.manual_seed(0)
    model = CallClassifier(2, 18, 4)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(8 * size["batch"], 1, size["hw"], size["hw"], generator=g)
    y = torch.randint(0, 2, (8 * size["batch"],), generator=g)
    b = size["batch"]
    return _torch_train(
        model,
        lambda s: (x[(s % 8) * b : (s % 8 + 1) * b], y[(s % 8) * b : (s % 8 + 1) * b]),
        lambda m, xb, yb: torch.nn.functional.cross_entropy(m(xb), yb),
        size["steps"],
    )


def acoustic_framewise(size: dict) -> str:
    """Framewise CNN (width 2, 3 temporal layers) on (B, 1, 32, 128) spectrograms, per-frame cross-entropy."""
    import torch

    from ethoflow.acoustic.models.framewise import FramewiseNet
    from ethoflow.acoustic.params import FramewiseParams

    torch.manual_seed(0)
    model = FramewiseNet(32, 2, FramewiseParams(width=2, hidden=8, temporal_layers=3))
    g = torch.Generator().manual_seed(1)
    x = torch.randn(size["batch"], 1, 32, 128, generator=g)
    y = torch.randint(0, 2, (size["batch"], 128), generator=g)
    return _torch_train(
        model, lambda s: (x, y), lambda m, xb, yb: torch.nn.functional.cross_entropy(m(xb), yb), size["steps"]
    )


def hbehave(size: dict) -> str:
    """hBehaveMAE (3 stages, width 8) on (B, 1, 240, 1, 4) activity windows, masked reconstruction."""
    import torch

    from ethoflow.hbehave.model import HBehaveMAE, build_architecture
    from ethoflow.hbehave.params import ModelParams
    from tests.fixtures.tiny import HBEHAVE_MODEL

    mp = ModelParams(**HBEHAVE_MODEL)  # the tests' tiny hBehaveMAE
    torch.manual_seed(0)
    model = HBehaveMAE(build_architecture(mp))
    g = torch.Generator().manual_seed(1)
    x = torch.rand(size["batch"], 1, 240, 1, 4, generator=g)

    def loss(m, xb):
        return m(xb, None, torch.Generator().manual_seed(2))[0]

    return _torch_train(model, lambda s: (x,), loss, size["steps"])


def vae(size: dict) -> str:
    """Time-series VAE (conv, 2 layers, 16 hidden, 6 latents) on (B, 30, 5) snips, negative ELBO."""
    import torch

    from ethoflow.vae.losses import vae_loss
    from ethoflow.vae.model import TimeSeriesVAE, VAEConfig

    torch.manual_seed(0)
    model = TimeSeriesVAE(VAEConfig(seq_len=30, channels=5, latent_dim=6, hidden_dim=16, num_layers=2))
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2 * size["batch"], 30, 5, generator=g)

    def loss(m, xb):
        x_hat, mu, logvar = m(xb)
        return vae_loss(x_hat, xb, mu, logvar, beta=1.0).loss

    return _torch_train(model, lambda s: (x,), loss, size["steps"])


def moseq(size: dict) -> str:
    """AR-HMM Gibbs sweeps as moseq's fit runs them (``jax_moseq.models.arhmm.gibbs``: discrete state
    sequences, then, with ``ar``, AR parameters), 4 states, 2 latent dims, 1 lag, 2 synthetic sessions
    x 200 frames; sha256 of the AR parameters and states after ``iters`` sweeps."""
    import jax.numpy as jnp
    import jax.random as jr
    import numpy as np
    from jax_moseq.models.arhmm import gibbs, initialize

    K, D = 4, 2
    rng = np.random.default_rng(0)
    x = jnp.asarray((np.cumsum(rng.standard_normal((2, 200, D)), axis=1) * 0.1).astype(np.float32))
    mask = jnp.ones((2, 200), jnp.float32)
    hyp = initialize.init_hyperparams(
        {"num_states": K, "gamma": 1e3, "alpha": 5.7, "kappa": 1e3},
        {"latent_dim": D, "nlags": 1, "S_0_scale": 0.01, "K_0_scale": 10.0},
    )["ar_hypparams"]
    Ab = jnp.asarray(rng.standard_normal((K, D, D + 1)).astype(np.float32) * 0.1)
    Q = jnp.tile(jnp.eye(D, dtype=jnp.float32), (K, 1, 1))
    pi = jnp.full((K, K), 0.1 / (K - 1), jnp.float32).at[jnp.diag_indices(K)].set(0.9)
    key = jr.PRNGKey(0)
    for _ in range(size["iters"]):
        key, k1, k2 = jr.split(key, 3)
        z = gibbs.resample_discrete_stateseqs(k1, x, mask, Ab, Q, pi)
        if size["ar"]:
            Ab, Q = gibbs.resample_ar_params(k2, mask=mask, x=x, z=z, **hyp)
    return _digest(np.asarray(a) for a in (Ab, Q, z))


def sqrt_reference(size: dict) -> str:
    """Control for ``cross-cpu``: ``torch.sqrt`` of 4096 positive floats, which torch computes with MKL's
    vector maths (its SSE path rounds through the CPU's approximate reciprocal square root)."""
    import torch

    torch.manual_seed(0)
    return _digest([(torch.randn(4096) * 3).abs().sqrt().numpy()])


def probe(mode: str, threads: int, size: str, pipelines=PIPELINES) -> dict[str, object]:
    """Put this process in ``mode`` (may replace it, see ``ensure``), train each of ``pipelines``;
    ``{pipeline: sha256, pipeline + "_s": wall seconds, "numerics": describe()}``."""
    from ethoflow.core import numerics

    numerics.ensure(mode, threads)
    numerics.apply_runtime(mode, threads)
    out: dict[str, object] = {}
    for name in pipelines:
        t0 = time.perf_counter()
        out[name] = globals()[name](SIZES[size])
        out[name + "_s"] = round(time.perf_counter() - t0, 3)
    out["numerics"] = numerics.describe()
    return out


def run_probe(
    mode: str, size: str, env: dict[str, str] | None = None, threads: int = 2, cpus=None, pipelines=PIPELINES
) -> dict:
    """``probe`` of ``pipelines`` in a fresh process with environment ``env`` (default: this one's,
    without the mode marker) pinned to the CPUs ``cpus`` (``None``: all); its JSON result."""
    env = dict(os.environ if env is None else env)
    env.pop("ETHOFLOW_NUMERICS_APPLIED", None)
    cmd = [sys.executable, str(Path(__file__).resolve()), "probe", "--mode", mode, "--size", size]
    cmd += ["--threads", str(threads), "--pipelines", *pipelines]
    res = subprocess.run(
        cmd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO,
        preexec_fn=None if cpus is None else (lambda: os.sched_setaffinity(0, cpus)),
    )
    if res.returncode != 0:
        raise RuntimeError(f"probe failed ({res.returncode}): {res.stderr[-2000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def run_emulated(cpu: str | None, mode: str, size: str, pipelines, threads: int = 2) -> dict:
    """``probe`` of ``pipelines`` in ``mode`` in a fresh process: natively (``cpu`` None) or under
    ``qemu-x86_64 -cpu <cpu>``; its JSON result. The mode's environment is set beforehand, so the probe
    does not re-execute itself (QEMU's user mode would run a re-executed process natively)."""
    from ethoflow.core import numerics

    base = {k: v for k, v in os.environ.items() if k not in numerics.portable_variables(1)}
    base.pop(numerics.ENV_APPLIED, None)
    env = numerics.environment(mode, threads, base=base)
    cmd = [sys.executable, str(Path(__file__).resolve()), "probe", "--mode", mode, "--size", size]
    cmd += ["--threads", str(threads), "--pipelines", *pipelines]
    if cpu is not None:
        cmd = ["qemu-x86_64", "-cpu", cpu, *cmd]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800, cwd=REPO)
    if res.returncode != 0:
        raise RuntimeError(f"probe on {cpu or 'native'} failed ({res.returncode}): {res.stderr[-2000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def cross_cpu(cpus, modes, size: str, pipelines) -> None:
    """Print each pipeline's sha256 (first 12 hex digits) natively and on each emulated CPU, per mode."""
    from concurrent.futures import ThreadPoolExecutor

    runs = [(mode, cpu) for mode in modes for cpu in (None, *cpus)]
    with ThreadPoolExecutor(2) as pool:
        results = dict(zip(runs, pool.map(lambda r: run_emulated(r[1], r[0], size, pipelines), runs)))
    print(f"# size={size}; native CPU: {_cpu_name()}; emulated: qemu-x86_64 -cpu {' / '.join(cpus)}")
    for mode in modes:
        print(f"{mode:<9} {'pipeline':<20} {'native':<13}" + "".join(f"{c:<22}" for c in cpus))
        for p in pipelines:
            here = results[(mode, None)][p]
            cells = [
                f"{results[(mode, c)][p][:12]} {'same' if results[(mode, c)][p] == here else 'DIFF'}" for c in cpus
            ]
            print(f"{'':<9} {p:<20} {here[:12]:<13}" + "".join(f"{c:<22}" for c in cells))


def _cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def bench(repeats: int, size: str, threads: int) -> None:
    """Interleaved portable/fast runs; median training seconds per pipeline, side by side."""
    times: dict[str, dict[str, list[float]]] = {m: {p: [] for p in PIPELINES} for m in ("portable", "fast")}
    for r in range(repeats):
        for mode in ("portable", "fast") if r % 2 == 0 else ("fast", "portable"):
            out = run_probe(mode, size, threads=threads)
            for p in PIPELINES:
                times[mode][p].append(out[p + "_s"])
    print(f"# size={size} repeats={repeats} portable threads={threads}, fast: library defaults ({os.cpu_count()} CPUs)")
    print(f"{'pipeline':<20} {'portable s':>11} {'fast s':>9} {'ratio':>7}")
    for p in PIPELINES:
        a, b = statistics.median(times["portable"][p]), statistics.median(times["fast"][p])
        print(f"{p:<20} {a:>11.3f} {b:>9.3f} {a / b:>7.2f}")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("probe", help="train each model once in this process; print JSON")
    p.add_argument("--mode", choices=("portable", "fast"), default="portable")
    p.add_argument("--size", choices=sorted(SIZES), default="tiny")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--pipelines", nargs="+", choices=PROBES, default=list(PIPELINES))
    b = sub.add_parser("bench", help="portable vs fast wall time per pipeline")
    b.add_argument("--repeats", type=int, default=3)
    b.add_argument("--size", choices=sorted(SIZES), default="bench")
    b.add_argument("--threads", type=int, default=2)
    c = sub.add_parser("cross-cpu", help="probe natively and on CPUs emulated by qemu-x86_64 (qemu-user)")
    c.add_argument(
        "--cpus", nargs="+", default=["EPYC-Rome", "SandyBridge"], help="QEMU CPU models (qemu-x86_64 -cpu help)"
    )
    c.add_argument("--modes", nargs="+", choices=("portable", "fast"), default=["portable"])
    c.add_argument("--size", choices=sorted(SIZES), default="cross")
    c.add_argument("--pipelines", nargs="+", choices=PROBES, default=list(PROBES))
    args = ap.parse_args(argv)
    if args.cmd == "probe":
        print(json.dumps(probe(args.mode, args.threads, args.size, args.pipelines)))
    elif args.cmd == "cross-cpu":
        cross_cpu(args.cpus, args.modes, args.size, args.pipelines)
    else:
        bench(args.repeats, args.size, args.threads)


if __name__ == "__main__":
    main()
