"""The whole ``params.yaml`` as one typed object.

Each pipeline owns its section's model in ``ethoflow.<pipeline>.params``; this module composes them
so one call validates every section (``ethoflow doctor`` and the test suite do). Stages still load
only their own section with :func:`ethoflow.core.params.load_section`.
"""

from __future__ import annotations

import os

from pydantic import Field

from ethoflow.acoustic.params import AcousticParams
from ethoflow.build06.params import Build06Params
from ethoflow.core.params import DEFAULT_PARAMS, StrictModel, load_params, validate_section
from ethoflow.dispatch import ComputeParams
from ethoflow.hbehave.params import HBehaveParams
from ethoflow.moseq.params import MoseqParams
from ethoflow.report.params import ReportParams
from ethoflow.vae.params import VAEParams


class ProjectParams(StrictModel):
    """All sections of ``params.yaml``."""

    compute: ComputeParams = Field(default_factory=ComputeParams)
    # One typed model per pipeline, owned by ethoflow.<pipeline>.params.
    acoustic: AcousticParams = Field(default_factory=AcousticParams)
    moseq: MoseqParams = Field(default_factory=MoseqParams)
    hbehave: HBehaveParams = Field(default_factory=HBehaveParams)
    vae: VAEParams = Field(default_factory=VAEParams)
    build06: Build06Params = Field(default_factory=Build06Params)
    report: ReportParams = Field(default_factory=ReportParams)


def load_project_params(path: str | os.PathLike = DEFAULT_PARAMS) -> ProjectParams:
    """Validate every section of ``path``; raises ``ParamsError`` naming the file and key."""
    return validate_section(load_params(path), ProjectParams, path, "")
