"""Typed records the moseq stages pass to their fits, validated on read.

- :class:`TrialSpec`: one kappa trial (:func:`ethoflow.moseq.fit.fit_trial`), built by
  :mod:`ethoflow.moseq.kappa` for every trial of a round.
- :class:`FinalFitSpec`: the chosen trial continued to all iterations (:func:`ethoflow.moseq.fit.continue_fit`).
- :class:`SeedSpec`: one seed's whole model (:func:`ethoflow.moseq.fit.fit_seed`), built by
  :mod:`ethoflow.moseq.seeds`.
- The kappa search state (``search_state.json``) is :class:`ethoflow.moseq.search.SearchState`.

The specs travel as plain dicts (pickled into Slurm array tasks) and are validated where a fit reads
them; one that does not match raises :class:`~ethoflow.core.errors.InputError` naming the spec and key.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from ethoflow.core.records import Record, validate_record
from ethoflow.moseq.search import SearchState

__all__ = ["FinalFitSpec", "SearchState", "SeedSpec", "TrialSpec", "read_spec"]


class _FitSpec(Record):
    """What every fit shares: where checkpoints go, the compute options, the project root (JAX cache)."""

    project_dir: str
    options: dict[str, Any] = Field(default_factory=dict)
    root: str | None = None


class TrialSpec(_FitSpec):
    """One kappa trial: ``kind`` (``arhmm``: a fresh AR-HMM on ``keypoints`` with the PCA in
    ``pca_dir``, at most ``num_states`` states, segments of ``seg_length`` frames; ``full``: the
    AR-HMM checkpoint ``init_dir``/``init_name`` reloaded), checkpoint ``name``, ``kappa``, ``iters``
    Gibbs iterations, ``seed``."""

    kind: Literal["arhmm", "full"]
    name: str
    kappa: float = Field(gt=0)
    iters: int = Field(ge=1)
    seed: int
    keypoints: str | None = None
    pca_dir: str | None = None
    num_states: int = Field(100, ge=2)
    seg_length: int | None = Field(None, ge=1)
    init_dir: str | None = None
    init_name: str | None = None

    @model_validator(mode="after")
    def _inputs(self) -> TrialSpec:
        need = ("keypoints", "pca_dir") if self.kind == "arhmm" else ("init_dir", "init_name")
        missing = [k for k in need if getattr(self, k) is None]
        if missing:
            raise ValueError(f"a {self.kind} trial needs {missing}")
        return self


class FinalFitSpec(_FitSpec):
    """The final fit: the trial checkpoint ``trial_name`` (or, on resume, ``final_name``'s latest
    snapshot) continued to iteration ``end_iter`` under ``final_name``, a snapshot every
    ``save_every`` iterations; ``kind`` says whether the AR-HMM only is fitted."""

    kind: Literal["arhmm", "full"]
    final_name: str
    trial_name: str
    end_iter: int = Field(ge=1)
    save_every: int = Field(10, ge=1)


class SeedSpec(_FitSpec):
    """One seed's whole model: a fresh AR-HMM (``arhmm_kappa``, ``arhmm_iters``, ``num_states``,
    segments of ``seg_length`` frames) on ``keypoints`` with the PCA in ``pca_dir``, then the full model
    (``full_kappa``, ``full_iters``), saved as ``project_dir/name``; ``record`` (the completion record
    written with ``fingerprint``)."""

    name: str
    seed: int
    keypoints: str
    pca_dir: str
    arhmm_kappa: float = Field(gt=0)
    full_kappa: float = Field(gt=0)
    num_states: int = Field(100, ge=2)
    seg_length: int | None = Field(None, ge=1)
    arhmm_iters: int = Field(ge=1)
    full_iters: int = Field(ge=1)
    record: str | None = None
    fingerprint: str = ""


def read_spec(spec: dict[str, Any] | Record, model: type[Record], what: str) -> Any:
    """``spec`` validated as ``model`` (an already validated ``model`` passes through); ``what``
    (e.g. ``"fit_trial spec"``) and the spec's ``name``, when it has one, name it in the error.

    Raises:
        InputError: a missing or mistyped key (``what`` and the key named).
    """
    if isinstance(spec, model):
        return spec
    name = spec.get("name") or spec.get("final_name") if isinstance(spec, dict) else None
    return validate_record(spec, model, f"{what} {name}" if name else what)
