"""tqdm progress bars that stay quiet when stderr is not a terminal (CI, Slurm logs)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import Any, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def progress_enabled() -> bool:
    """True when stderr is a TTY, unless ``ETHOFLOW_PROGRESS`` is ``0`` (off) or ``1`` (forced on)."""
    env = os.environ.get("ETHOFLOW_PROGRESS")
    if env is not None:
        return env not in ("0", "false", "no", "")
    return sys.stderr.isatty()


def progress(iterable: Iterable[T] | None = None, desc: str | None = None, **kwargs: Any) -> tqdm:
    """``tqdm(iterable, desc=...)`` that is disabled when not attached to a terminal."""
    kwargs.setdefault("disable", not progress_enabled())
    kwargs.setdefault("dynamic_ncols", True)
    return tqdm(iterable, desc=desc, **kwargs)
