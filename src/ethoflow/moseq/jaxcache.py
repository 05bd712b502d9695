"""JAX persistent compilation cache in the project (``.ethoflow/jax-cache/``, git-ignored).

Keypoint-MoSeq's Gibbs sampler is jit-compiled per data shape; on CPU the full model takes tens of
seconds to compile. With the persistent cache (``jax.config.jax_compilation_cache_dir``) a later
trial process, a rerun of the stage, or a resumed search loads the compiled executables from disk.
Must be enabled before the first jit; :func:`enable` is idempotent.
"""

from __future__ import annotations

import os
from pathlib import Path

from ethoflow.core.logging import get_logger
from ethoflow.core.paths import state_dir

log = get_logger(__name__)

#: environment variable that points the cache elsewhere (tests share one across temp projects).
ENV_CACHE = "ETHOFLOW_JAX_CACHE"

_enabled: Path | None = None


def enable(root: str | os.PathLike | None = None) -> Path:
    """Turn on JAX's persistent compilation cache; return its folder.

    The folder is ``$ETHOFLOW_JAX_CACHE`` when set, else ``<project>/.ethoflow/jax-cache/``.
    Every compiled program is cached (no minimum compile time or size).
    """
    global _enabled
    if _enabled is not None:
        return _enabled
    env = os.environ.get(ENV_CACHE)
    path = Path(env) if env else state_dir("jax-cache", root=root)
    path.mkdir(parents=True, exist_ok=True)
    import jax

    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
    _enabled = path
    log.debug("JAX compilation cache: %s", path)
    return path
