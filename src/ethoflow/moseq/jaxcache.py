"""JAX persistent compilation cache for the moseq fits, shared by every project on this machine.

Keypoint-MoSeq's Gibbs sampler is jit-compiled per data shape; on CPU compiling the AR-HMM takes
about 20 s of CPU time and the keypoint-SLDS (full model) about 30 s (measured in
``benchmarks/moseq_warmup.py``). With JAX's persistent cache (``jax_compilation_cache_dir``) a later
process loads the compiled programs from disk instead. JAX keys each entry by the lowered program
(shapes, dtypes, constants; debug locations stripped), the jaxlib version, the XLA flags, the compile
options and the devices, so an entry is only ever reused for the same computation.

Default folder: ``$XDG_CACHE_HOME/ethoflow/jax/<host>`` (``~/.cache/...`` without the variable), where
``<host>`` names the machine architecture and a hash of the CPU's instruction-set flags: a fresh clone
or worktree of a project, the CI clone, and every other project on the machine reuse what any of them
compiled, and a home folder shared by cluster nodes with different CPUs keeps one cache per
instruction set (an executable compiled for AVX-512 never loads on a node without it).
``ETHOFLOW_JAX_CACHE`` names another folder (tests, or a project-local ``.ethoflow/jax-cache``).

:func:`enable` must run before the first jit in a process (every moseq job calls it first); it is
idempotent.
"""

from __future__ import annotations

import hashlib
import os
import platform
from pathlib import Path

from ethoflow.core.logging import get_logger
from ethoflow.moseq import kpms_warnings

log = get_logger(__name__)

#: environment variable that names the cache folder (overrides the per-machine default).
ENV_CACHE = "ETHOFLOW_JAX_CACHE"

#: JAX settings applied by :func:`enable` (besides the folder): every compiled program is written,
#: however short its compile time or small its size (the Gibbs step is ~150 programs, many tiny); no
#: Python tracebacks in the lowered programs' debug locations, which JAX strips from the cache key
#: anyway (lowering the full model's first iteration took ~1 s less CPU of ~18 s, same sampled states;
#: error tracebacks are unchanged).
SETTINGS: dict[str, float | int | bool] = {
    "jax_persistent_cache_min_compile_time_secs": 0.0,
    "jax_persistent_cache_min_entry_size_bytes": -1,
    "jax_include_full_tracebacks_in_locations": False,
}

_enabled: Path | None = None


def host_tag(cpuinfo: str | None = None) -> str:
    """``<machine>-<12 hex>``: the architecture (``platform.machine()``) and a hash of the CPU's
    instruction-set flags (the ``flags``/``Features`` line of ``/proc/cpuinfo``; ``cpuinfo`` text for
    tests; the processor name where there is no such file, e.g. macOS)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            cpuinfo = ""
    flags = ""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            flags = " ".join(sorted(value.split()))
            break
    ident = flags or platform.processor() or "unknown"
    return f"{platform.machine() or 'cpu'}-{hashlib.sha256(ident.encode()).hexdigest()[:12]}"


def cache_dir() -> Path:
    """The cache folder :func:`enable` uses: ``$ETHOFLOW_JAX_CACHE`` when set, else
    ``$XDG_CACHE_HOME/ethoflow/jax/<host_tag()>`` (``~/.cache`` without ``XDG_CACHE_HOME``)."""
    env = os.environ.get(ENV_CACHE)
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ethoflow" / "jax" / host_tag()


def enable(root: str | os.PathLike | None = None) -> Path:
    """Turn on JAX's persistent compilation cache in :func:`cache_dir` with :data:`SETTINGS`;
    return the folder (created if missing). Idempotent within a process. Also installs
    :func:`ethoflow.moseq.kpms_warnings.show_warning` (every moseq job calls this before importing
    keypoint-moseq).

    ``root`` (the project root, which the fit specs carry) no longer chooses the folder and is
    ignored; it stays so that every caller keeps working unchanged."""
    global _enabled
    kpms_warnings.install()  # a dispatched job's process: warnings name their source
    if _enabled is not None:
        return _enabled
    path = cache_dir()
    path.mkdir(parents=True, exist_ok=True)
    # local: jax is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    import jax

    jax.config.update("jax_compilation_cache_dir", str(path))
    for name, value in SETTINGS.items():
        jax.config.update(name, value)
    _enabled = path
    log.debug("JAX compilation cache: %s", path)
    return path
