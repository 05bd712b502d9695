"""Run the real ``dvc.yaml`` in a throw-away copy of the project.

:func:`copy_project` copies what git would (tracked and untracked-not-ignored files) into a new
git repository under ``tmp_path``, merges tiny params over ``params.yaml`` and commits. :func:`dvc`
runs the ``dvc`` of this environment there, with this environment's Python first on ``PATH`` and the
copy's ``src/`` on ``PYTHONPATH``. :func:`ran_stages` parses which stages a ``dvc repro`` ran.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


class Replace(dict):
    """A mapping that :func:`deep_merge` puts in place of the base's instead of merging into it (e.g.
    ``acoustic.variants``: the tiny test project trains only the variants it names)."""


def deep_merge(base: dict, over: dict) -> dict:
    """``over`` merged into a copy of ``base`` (nested dicts merged, :class:`Replace` and everything else replaced)."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Replace):
            out[key] = dict(value)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _env(proj: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(proj / "src")
    env["ETHOFLOW_PROGRESS"] = "0"
    env["DVC_NO_ANALYTICS"] = "1"
    env.pop("ETHOFLOW_ROOT", None)
    env.setdefault("ETHOFLOW_EXECUTOR", "local")
    return env


def git(proj: Path, *args: str) -> str:
    out = subprocess.run(["git", *args], cwd=proj, capture_output=True, text=True, check=True)
    return out.stdout


def copy_project(tmp_path: Path, params: dict[str, Any] | None = None) -> Path:
    """A committed copy of the project at ``tmp_path/project`` with ``params`` merged in.

    The copy has no ``dvc.lock``: the committed one records the demo's outs at full size, which are in
    no cache here (a queued or saved experiment would try to load them), and its own runs write a new one.
    """
    proj = tmp_path / "project"
    files = (
        subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=REPO,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for rel in filter(None, files):
        if rel == "dvc.lock":
            continue
        src = REPO / rel
        if not src.is_file():
            continue
        dst = proj / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)
    if params:
        merged = deep_merge(yaml.safe_load((proj / "params.yaml").read_text()), params)
        (proj / "params.yaml").write_text(yaml.safe_dump(merged, sort_keys=False))
    git(proj, "init", "-q", "-b", "main")
    git(proj, "config", "user.email", "test@ethoflow.local")
    git(proj, "config", "user.name", "ethoflow test")
    git(proj, "add", "-A")
    git(proj, "commit", "-q", "-m", "project copy")
    return proj


def repro_and_commit(tmp_path: Path, params: dict[str, Any] | None, target: str, expect: set[str]) -> Path:
    """:func:`copy_project`, then ``dvc repro target`` (which must run at least the stages ``expect``),
    then commit everything it wrote: the baseline that review, remote and experiment tests start from."""
    proj = copy_project(tmp_path, params)
    first = dvc(proj, "repro", target)
    assert expect <= ran_stages(first), first.stdout
    git(proj, "add", "-A")
    git(proj, "commit", "-q", "-m", f"first repro of {target}")
    return proj


def dvc(proj: Path, *args: str, check: bool = True, timeout: float = 1800) -> subprocess.CompletedProcess:
    """Run ``dvc args...`` in ``proj``; on failure (with ``check``) raise with the whole output."""
    res = subprocess.run(
        [str(BIN / "dvc"), *args], cwd=proj, env=_env(proj), capture_output=True, text=True, timeout=timeout
    )
    if check and res.returncode != 0:
        raise AssertionError(f"dvc {' '.join(args)} failed ({res.returncode}):\n{res.stdout}\n{res.stderr}")
    return res


def set_params(proj: Path, params: dict[str, Any]) -> None:
    """Merge ``params`` into ``proj/params.yaml`` (not committed)."""
    merged = deep_merge(yaml.safe_load((proj / "params.yaml").read_text()), params)
    (proj / "params.yaml").write_text(yaml.safe_dump(merged, sort_keys=False))


_RAN = re.compile(r"Running stage '([^']+)'")


def ran_stages(res: subprocess.CompletedProcess) -> set[str]:
    """Names of the stages a ``dvc repro`` / ``dvc exp run`` actually ran."""
    return set(_RAN.findall(res.stdout + res.stderr))


def file_digests(root: Path, paths: list[str]) -> dict[str, str]:
    """``{file path relative to root: sha256}`` for every file under ``paths`` (files or folders, relative
    to ``root``)."""
    digests = {}
    for rel in paths:
        top = root / rel
        files = [top] if top.is_file() else sorted(p for p in top.rglob("*") if p.is_file())
        for f in files:
            digests[str(f.relative_to(root))] = hashlib.sha256(f.read_bytes()).hexdigest()
    return digests
