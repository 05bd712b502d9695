"""Warnings that name their source, whatever keypoint-moseq did to ``warnings.formatwarning``.

keypoint-moseq replaces ``warnings.formatwarning`` at import with one that prints the bare message
(no category, file or line: ``invalid value encountered in divide`` naming no source).
:func:`show_warning`, installed as ``warnings.showwarning``, is called by Python whatever
``formatwarning`` is, so every warning names its category and source. It is installed in every moseq
process: a stage process when it imports :mod:`ethoflow.moseq.stages` (the one module every moseq
stage script imports), a dispatched fit or apply job by :func:`ethoflow.moseq.jaxcache.enable`, which
each of them calls before importing keypoint-moseq.
"""

from __future__ import annotations

import sys
import warnings

__all__ = ["install", "show_warning"]


def show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """``warnings.showwarning`` that names the source: ``<file>:<line>: <Category>: <message>``."""
    out = file if file is not None else sys.stderr
    if out is None:
        return
    try:
        out.write(f"{filename}:{lineno}: {category.__name__}: {message}\n")
    except OSError:
        pass


def install() -> None:
    """Make :func:`show_warning` the process's ``warnings.showwarning``."""
    warnings.showwarning = show_warning
