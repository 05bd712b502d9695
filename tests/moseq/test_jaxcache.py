"""The JAX compilation cache of the moseq fits (:mod:`ethoflow.moseq.jaxcache`): one folder per machine
and instruction set, shared by every project; a second process loads what the first compiled and
computes the same bytes; every moseq job turns it on before keypoint-moseq is imported."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

from ethoflow.moseq import jaxcache

REPO = Path(__file__).resolve().parents[2]
MOSEQ = REPO / "src" / "ethoflow" / "moseq"

INTEL = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f\nmodel name\t: X\n"


def test_the_default_folder_is_in_the_user_cache_per_machine_not_in_the_project(monkeypatch, tmp_path):
    monkeypatch.delenv(jaxcache.ENV_CACHE, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)
    assert jaxcache.cache_dir() == tmp_path / "xdg" / "ethoflow" / "jax" / jaxcache.host_tag()
    monkeypatch.setenv(jaxcache.ENV_CACHE, str(tmp_path / "mine"))
    assert jaxcache.cache_dir() == tmp_path / "mine"


def test_cpus_with_different_instruction_sets_get_different_folders():
    same_set_other_order = INTEL.replace("sse2 avx2", "avx2 sse2")
    without_avx512 = INTEL.replace(" avx512f", "")
    arm = "processor\t: 0\nFeatures\t: fp asimd sve\n"
    assert jaxcache.host_tag(INTEL) == jaxcache.host_tag(same_set_other_order)
    assert len({jaxcache.host_tag(INTEL), jaxcache.host_tag(without_avx512), jaxcache.host_tag(arm)}) == 3


CHILD = r"""
import hashlib, json, sys
from ethoflow.moseq import jaxcache
path = jaxcache.enable()
import jax, jax.numpy as jnp
from jax import monitoring
counts = {}
monitoring.register_event_listener(lambda e, **k: counts.__setitem__(e, counts.get(e, 0) + 1))
jax.config.update("jax_enable_x64", True)

@jax.jit
def gibbs_like(key, x):
    def step(c, k):
        c = 0.9 * c + jax.random.normal(k, c.shape)
        return c, c.sum()
    return jax.lax.scan(step, x, jax.random.split(key, 50))

c, s = gibbs_like(jax.random.PRNGKey(0), jnp.ones(7))
print(json.dumps({
    "dir": jax.config.jax_compilation_cache_dir, "enabled_dir": str(path),
    "settings": {k: getattr(jax.config, k) for k in jaxcache.SETTINGS},
    "hits": counts.get("/jax/compilation_cache/cache_hits", 0),
    "misses": counts.get("/jax/compilation_cache/cache_misses", 0),
    "sha": hashlib.sha256(jax.numpy.asarray(c).tobytes() + jax.numpy.asarray(s).tobytes()).hexdigest(),
}))
"""


def _run(tmp_path: Path) -> dict:
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "xdg"), "PYTHONPATH": str(REPO / "src")}
    env.pop(jaxcache.ENV_CACHE, None)
    out = subprocess.run(
        [sys.executable, "-c", CHILD], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_second_process_loads_the_compiled_programs_and_computes_the_same_bytes(tmp_path):
    cold = _run(tmp_path)
    warm = _run(tmp_path)
    expected = str(tmp_path / "xdg" / "ethoflow" / "jax" / jaxcache.host_tag())
    assert cold["dir"] == cold["enabled_dir"] == expected
    assert cold["settings"] == jaxcache.SETTINGS
    assert cold["misses"] > 0 and cold["hits"] == 0
    assert warm["hits"] == cold["misses"] and warm["misses"] == 0
    assert warm["sha"] == cold["sha"]
    assert not (tmp_path / ".ethoflow").exists()  # nothing written into the project


#: the functions that start moseq work in a process of their own (a stage process or a Slurm task)
ENTRY_POINTS = {
    "fit.py": ["fit_trial", "continue_fit", "fit_seed"],
    "stages.py": ["_apply_job"],
    "results.py": ["results"],
    "prepare.py": ["outliers", "pca"],
}


def _first_line(fn: ast.FunctionDef, pred) -> int | None:
    lines = [n.lineno for n in ast.walk(fn) if pred(n)]
    return min(lines) if lines else None


def _is_enable(n) -> bool:
    return isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "enable"


def _imports_jax_code(n) -> bool:
    if isinstance(n, ast.Import):
        names = [a.name for a in n.names]
    elif isinstance(n, ast.ImportFrom):
        names = [n.module or ""]
    else:
        return False
    return any(m.split(".")[0] in ("jax", "keypoint_moseq", "jax_moseq") for m in names)


def test_every_moseq_entry_point_enables_the_cache_before_importing_jax_code():
    for module, names in ENTRY_POINTS.items():
        tree = ast.parse((MOSEQ / module).read_text())
        funcs = {n.name: n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
        for name in names:
            fn = funcs[name]
            enable = _first_line(fn, _is_enable)
            first_jax = _first_line(fn, _imports_jax_code)
            assert enable is not None, f"{module}:{name} never calls jaxcache.enable()"
            assert first_jax is None or enable < first_jax, f"{module}:{name} imports JAX code before enable()"
