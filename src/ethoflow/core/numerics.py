"""Compute mode: ``portable`` (every CPU kernel choice we found pinned) or ``fast`` (the libraries' own choice).

Trained results depend on which CPU kernels run: ATen picks AVX-512/AVX2/plain kernels at start,
oneDNN (mkldnn) picks its own, MKL and OpenBLAS pick code paths per CPU model, XLA compiles for the
host's widest ISA, and every multi-threaded reduction splits its work by the number of threads. The
same seed then gives different weights on two machines (and on one machine under different settings).

``portable`` pins all of them:

- ``ATEN_CPU_CAPABILITY=default`` (ATen's non-vectorised kernels) and oneDNN off
  (``torch.backends.mkldnn.enabled = False``; ``ONEDNN_MAX_CPU_ISA=SSE41`` for any oneDNN call left),
- ``MKL_CBWR=COMPATIBLE`` (MKL's conditional numerical reproducibility, Intel's documented switch),
- ``OPENBLAS_CORETYPE=Prescott`` (numpy/scipy's OpenBLAS: one SSE3 code path on every x86-64 CPU),
- ``NPY_DISABLE_CPU_FEATURES`` = numpy's dispatch targets above its x86-64-v2 baseline (its AVX2/AVX-512
  ``exp``/``log``/``sin`` loops round differently from the baseline ones),
- ``XLA_FLAGS=--xla_cpu_max_isa=SSE4_2 --xla_cpu_multi_thread_eigen=false`` (jax: moseq),
- ``compute.threads`` threads for OpenMP, MKL, OpenBLAS and torch (the split of a reduction, hence its
  rounding, follows the thread count, not the machine's core count).

Two kernels follow the CPU whatever the variables say, and portable mode avoids them: NNPACK (torch's
convolution once oneDNN is off; it runs only on CPUs with AVX2, so it is switched off in
:func:`apply_runtime`), and MKL's vector square root, whose SSE path uses the CPU's approximate
reciprocal square root (Intel and AMD round it differently; MKL takes that path on every AMD CPU):
ethoflow's optimiser is torch's fused Adam (:func:`ethoflow.core.training.adam`), whose square root is
exact. What ``portable`` gives, measured (docs/decisions.md, "Portable numbers across CPU vendors"):
a short training of every pipeline's model gives the same bytes under this machine's dispatch
settings, and on an Intel CPU natively and under an emulated AMD EPYC and an emulated pre-AVX2 CPU
(``benchmarks/numerics.py cross-cpu``, ``tests/core/test_numerics.py``). ``fast`` changes nothing:
each library uses the widest ISA and all cores of the machine it runs on; results are repeatable on
one machine, not across machines.

The variables must be in the environment before torch, numpy or jax load, so they are set by
:func:`ensure`, which the stage runner (:func:`ethoflow.core.stage.run_stage`) and the test suite's
``conftest.py`` call first: when the process's environment is not yet the one the mode asks for, it
replaces the process (``os.execve``) by the same command with that environment. A Slurm job gets the
variables in its batch script and :func:`apply_runtime` before the stage's function
(:mod:`ethoflow.dispatch`). Nothing is set as a side effect of importing ethoflow.
"""

from __future__ import annotations

import logging
import os
import shlex
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

Numerics = Literal["portable", "fast"]
MODES: tuple[str, ...] = ("portable", "fast")

#: set by :func:`environment` to ``<mode>:<threads>``; tells :func:`ensure` the process already runs in it
ENV_APPLIED = "ETHOFLOW_NUMERICS_APPLIED"

#: the XLA flags portable mode adds to ``XLA_FLAGS``
XLA_PORTABLE = ("--xla_cpu_max_isa=SSE4_2", "--xla_cpu_multi_thread_eigen=false")

#: numpy's (2.x, x86-64) dispatch targets above its baseline; names a CPU lacks are ignored by numpy
NPY_ABOVE_BASELINE = "X86_V3 X86_V4 AVX512_ICL AVX512_SPR"

THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def portable_variables(threads: int) -> dict[str, str]:
    """The environment variables of portable mode with ``threads`` threads (``XLA_FLAGS`` not merged)."""
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    out = {
        "ATEN_CPU_CAPABILITY": "default",
        "ONEDNN_MAX_CPU_ISA": "SSE41",
        "MKL_CBWR": "COMPATIBLE",
        "OPENBLAS_CORETYPE": "Prescott",
        "NPY_DISABLE_CPU_FEATURES": NPY_ABOVE_BASELINE,
        "XLA_FLAGS": " ".join(XLA_PORTABLE),
    }
    out.update({var: str(threads) for var in THREAD_VARS})
    return out


def marker(mode: str, threads: int) -> str:
    """The value of :data:`ENV_APPLIED` for ``mode`` (threads matter only in portable mode)."""
    return f"portable:{threads}" if mode == "portable" else "fast"


def environment(mode: str, threads: int, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """``base`` (default ``os.environ``) with the variables of ``mode`` set, for a child process.

    ``portable`` overwrites the variables of :func:`portable_variables` (a user's ``ATEN_CPU_CAPABILITY``
    or ``OMP_NUM_THREADS`` would break portability) and appends its flags to any ``XLA_FLAGS`` (those
    given later win in XLA, so ours follow the user's). ``fast`` leaves ``base`` as it is.

    Raises:
        ValueError: ``mode`` is not ``portable`` or ``fast``, or ``threads`` < 1.
    """
    if mode not in MODES:
        raise ValueError(f"numerics mode {mode!r} is not one of {', '.join(MODES)}")
    env = dict(os.environ if base is None else base)
    if mode == "portable":
        user_xla = " ".join(f for f in env.get("XLA_FLAGS", "").split() if f not in XLA_PORTABLE)
        env.update(portable_variables(threads))
        env["XLA_FLAGS"] = " ".join(x for x in (user_xla, env["XLA_FLAGS"]) if x)
    env[ENV_APPLIED] = marker(mode, threads)
    return env


def applied(mode: str, threads: int, env: Mapping[str, str] | None = None) -> bool:
    """Whether ``env`` (default ``os.environ``) already is ``mode``'s environment."""
    env = os.environ if env is None else env
    if env.get(ENV_APPLIED) != marker(mode, threads):
        return False
    if mode == "fast":
        return True
    want = portable_variables(threads)
    flags = env.get("XLA_FLAGS", "").split()
    return all(env.get(k) == v for k, v in want.items() if k != "XLA_FLAGS") and all(f in flags for f in XLA_PORTABLE)


def params_path_from_argv(argv: Sequence[str], default: str) -> str:
    """The value of ``--params`` in a stage's ``argv`` (``--params X`` or ``--params=X``), else ``default``."""
    for i, arg in enumerate(argv):
        if arg == "--params" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--params="):
            return arg.split("=", 1)[1]
    return default


def mode_from_params(params_path: str | os.PathLike) -> tuple[str, int]:
    """``(compute.numerics, compute.threads)`` of ``params_path`` (defaults when the file or section is absent).

    Raises:
        ParamsError: the ``compute`` section is invalid (the key named).
    """
    # local: keeps ethoflow.core.numerics importable without pydantic
    from ethoflow.dispatch.params import load_compute

    if not Path(params_path).is_file():
        # local: keeps ethoflow.core.numerics importable without pydantic
        from ethoflow.dispatch.params import ComputeParams

        c = ComputeParams()
    else:
        c = load_compute(params_path)
    return c.numerics, c.threads


def ensure(mode: str, threads: int, argv: Sequence[str] | None = None) -> None:
    """Make this process run in ``mode``: return when its environment already is the mode's, else
    replace it (``os.execve``) by the same command (``sys.orig_argv``, or ``argv``) with
    :func:`environment`. Call it before torch, numpy or jax do any work; it is safe after they were
    imported, since the process is replaced. Logging handlers are flushed first.
    """
    if applied(mode, threads):
        return

    for h in logging.getLogger().handlers:
        h.flush()
    sys.stdout.flush()
    sys.stderr.flush()
    cmd = list(argv if argv is not None else sys.orig_argv)
    os.execve(sys.executable, [sys.executable, *cmd[1:]], environment(mode, threads))


def apply_runtime(mode: str, threads: int) -> None:
    """The settings of ``mode`` that are not environment variables (torch installed): in portable mode
    oneDNN and NNPACK off and ``torch.set_num_threads(threads)``. ``fast``: nothing.

    NNPACK (torch's convolution for batches of 16 or more once oneDNN is off) runs only on CPUs with
    AVX2 and FMA: elsewhere torch falls back to its own convolution, with other bytes (measured under
    an emulated pre-AVX2 CPU, docs/decisions.md)."""
    if mode != "portable":
        return
    try:
        # local: torch is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return
    torch.backends.mkldnn.enabled = False
    torch.backends.nnpack.set_flags(False)
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


def apply_inherited(threads: int | None = None) -> None:
    """In a process a stage started itself (an ``mp.spawn`` DDP worker): :func:`apply_runtime` for the
    mode whose environment it inherited (the :data:`ENV_APPLIED` marker), with ``threads`` threads
    (``None``: the marker's). Nothing when the marker is absent or names ``fast``."""
    mode, _, marked = os.environ.get(ENV_APPLIED, "").partition(":")
    if mode == "portable":
        apply_runtime(mode, threads if threads is not None else int(marked or 1))


def call_in_mode(mode: str, threads: int, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)`` after :func:`apply_runtime` (what a Slurm job runs; picklable)."""
    apply_runtime(mode, threads)
    return fn(*args, **kwargs)


def slurm_setup(mode: str, threads: int) -> list[str]:
    """``export`` lines for a Slurm batch script that put the job in ``mode`` before Python starts."""
    env = environment(mode, threads, base={})
    return [f"export {k}={shlex.quote(v)}" for k, v in sorted(env.items())]


def describe() -> dict[str, Any]:
    """What this process runs with: the mode marker, the variables of portable mode as set now, and
    torch's CPU capability, oneDNN switch and thread count (when torch is imported)."""
    out: dict[str, Any] = {"applied": os.environ.get(ENV_APPLIED)}
    out.update({k: os.environ.get(k) for k in portable_variables(1)})
    torch = sys.modules.get("torch")
    if torch is not None:
        out["torch_cpu_capability"] = torch.backends.cpu.get_cpu_capability()
        out["torch_mkldnn"] = bool(torch.backends.mkldnn.enabled)
        out["torch_threads"] = torch.get_num_threads()
    return out
