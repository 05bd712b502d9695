"""Project paths: the project root and the git-ignored state folder ``.ethoflow/``."""

from __future__ import annotations

import os
from pathlib import Path


def project_root(start: str | os.PathLike | None = None) -> Path:
    """The nearest folder at or above ``start`` (default: cwd) holding ``dvc.yaml`` or ``.dvc/``.

    ``ETHOFLOW_ROOT`` overrides the search. Falls back to ``start`` itself when none is found.
    """
    env = os.environ.get("ETHOFLOW_ROOT")
    if env:
        return Path(env).resolve()
    here = Path(start or os.getcwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "dvc.yaml").exists() or (folder / ".dvc").is_dir():
            return folder
    return here


def state_dir(*parts: str, root: str | os.PathLike | None = None) -> Path:
    """``<project>/.ethoflow/<parts...>``, created if missing (job logs, caches; git-ignored)."""
    path = project_root(root) / ".ethoflow" / Path(*parts) if parts else project_root(root) / ".ethoflow"
    path.mkdir(parents=True, exist_ok=True)
    return path
