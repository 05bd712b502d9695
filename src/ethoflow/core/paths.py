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


_GLOB_CHARS = set("*?[")


def glob_base(pattern: str) -> str:
    """The static folder part of a glob (``data/raw/x/*.slp`` -> ``data/raw/x``); a plain path is itself."""
    parts = Path(pattern).parts
    static = []
    for part in parts:
        if _GLOB_CHARS & set(part):
            break
        static.append(part)
    return str(Path(*static)) if static else "."


def path_within(path: str | os.PathLike, folder: str | os.PathLike, root: str | os.PathLike | None = None) -> bool:
    """Whether ``path`` (a file, folder or glob; relative paths from the project root) lies inside ``folder``
    or is ``folder`` itself, compared lexically (the paths need not exist). Used to check that every input
    a stage reads is covered by the folder dvc.yaml lists as the stage's dependency."""
    base = project_root(root)

    def norm(p: str | os.PathLike) -> str:
        p = Path(p)
        return os.path.normpath(p if p.is_absolute() else base / p)

    inner, outer = norm(glob_base(str(path))), norm(folder)
    return inner == outer or inner.startswith(outer.rstrip(os.sep) + os.sep)
