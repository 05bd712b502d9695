"""The earlier moseq stages' outputs that a later stage reads, as one typed record.

``moseq_seeds`` and ``moseq_results`` read the models and summaries of the stages before them; a
:class:`MoseqInputs` carries those paths (as ``dvc.yaml`` gives them to the stage script) so that the
stage functions and the domain functions they call take one argument for them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path

from ethoflow.core.errors import InputError

__all__ = ["MoseqInputs"]

PathLike = str | os.PathLike


@dataclass(frozen=True)
class MoseqInputs:
    """Paths of the earlier moseq stages' outputs (each ``None`` when the reading stage needs none).

    Attributes:
        arhmm_dir: moseq_arhmm's folder (its ``config.yml`` holds the AR-HMM kappa, ``search_state.json``).
        full_dir: moseq_full's folder (the full model, its kappa and search state).
        keypoints: the cleaned keypoints pickle (moseq_outliers' ``keypoints.p``).
        pca_dir: moseq_pca's folder (``pca.p``, ``config.yml``).
        pca_summary: moseq_pca's summary JSON (``latent_dim``, ``variance_explained``).
        seeds_dir: moseq_seeds' folder (``seeds.json`` and one model per seed).
    """

    arhmm_dir: Path
    full_dir: Path
    keypoints: Path | None = None
    pca_dir: Path | None = None
    pca_summary: Path | None = None
    seeds_dir: Path | None = None

    @classmethod
    def of(
        cls,
        arhmm_dir: PathLike,
        full_dir: PathLike,
        **others: PathLike | None,
    ) -> MoseqInputs:
        """The record from plain paths (``str`` or ``os.PathLike``; ``None`` kept as not given).

        Raises:
            TypeError: an unknown keyword.
        """
        return cls(Path(arhmm_dir), Path(full_dir), **{k: None if v is None else Path(v) for k, v in others.items()})

    @classmethod
    def coerce(cls, value: MoseqInputs | Mapping[str, PathLike | None]) -> MoseqInputs:
        """The record of ``value`` with every path a :class:`~pathlib.Path`: ``value`` may be a record
        (:func:`ethoflow.core.stage.stage_main` builds it from the command line's strings) or a mapping of
        field names to paths (``{"arhmm_dir": ..., "full_dir": ..., ...}``).

        Raises:
            TypeError: a mapping with an unknown key or without ``arhmm_dir`` / ``full_dir``.
        """
        if isinstance(value, cls):
            value = {f.name: getattr(value, f.name) for f in fields(value)}
        return cls.of(**value)

    def need(self, name: str) -> Path:
        """The path ``name`` (a field), required by the reading stage.

        Raises:
            InputError: it was not given.
        """
        if name not in {f.name for f in fields(self)}:
            raise AttributeError(name)
        path = getattr(self, name)
        if path is None:
            raise InputError(f"moseq inputs: {name} not given")
        return path
