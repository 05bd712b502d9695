"""The whole ``params.yaml`` as one typed object.

Each pipeline owns its section's model in ``ethoflow.<pipeline>.params``; this module composes them
so one call validates every section (``ethoflow doctor`` and the test suite do). Stages still load
only their own section with :func:`ethoflow.core.params.load_section`.
"""

from __future__ import annotations

import os
from typing import Any

from pydantic import Field

from ethoflow.core.params import DEFAULT_PARAMS, StrictModel, load_params, validate_section
from ethoflow.dispatch import ComputeParams
from ethoflow.moseq.params import MoseqParams


class ProjectParams(StrictModel):
    """All sections of ``params.yaml``."""

    compute: ComputeParams = Field(default_factory=ComputeParams)
    # Pipeline sections: replaced by their typed models as the pipelines land.
    acoustic: dict[str, Any] = Field(default_factory=dict)
    moseq: MoseqParams = Field(default_factory=MoseqParams)
    hbehave: dict[str, Any] = Field(default_factory=dict)
    vae: dict[str, Any] = Field(default_factory=dict)
    build06: dict[str, Any] = Field(default_factory=dict)


def load_project_params(path: str | os.PathLike = DEFAULT_PARAMS) -> ProjectParams:
    """Validate every section of ``path``; raises ``ParamsError`` naming the file and key."""
    return validate_section(load_params(path), ProjectParams, path, "")
