"""The df03 sidecar (``df03.json``): what a df03 was built from, one pydantic model, validated on read."""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from ethoflow.core.errors import InputError
from ethoflow.core.io import dumps_json, read_json
from ethoflow.core.records import record_dict


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())


class CoverageSummary(_Record):
    """Overall coverage: df02 rows, rows that got latents, and their fraction (0..1)."""

    n_rows: int
    n_with_latents: int
    coverage: float


class Df03Sidecar(_Record):
    """Provenance of one df03, written beside it (``<stem>.json``).

    Attributes:
        model_name: the VAE whose latents were merged.
        latent_store: the store folder read (``.../<model_name>/``).
        latent_files: latent file per experiment (``None``: missing, only with ``allow_partial``).
        df02: the df02 file read.
        z_schema, z_dtype, z_columns: the z columns of df03 and how they were chosen.
        n_rows: df03 rows (= df02 rows of the merged experiments).
        params: the build06 params section used.
        coverage: overall coverage (per experiment: the coverage report).
        unmatched_latents: latent rows whose snip_id is in no df02 row (left out).
        missing_latent_files: experiments merged without a latent file.
        outputs: every file of the output set.
        git_commit, timestamp: outside DVC only (``git rev-parse HEAD``, UTC ISO 8601); under DVC,
            dvc.lock is the provenance and a timestamp would make every rerun's sidecar differ.
    """

    model_name: str
    latent_store: str
    latent_files: dict[str, str | None]
    df02: str
    z_schema: Literal["auto", "flat", "bio_nuisance", "bio_nuisance_or_flat"]
    z_dtype: Literal["float32", "float64"]
    z_columns: list[str]
    n_rows: int
    params: dict[str, Any]
    coverage: CoverageSummary
    unmatched_latents: int
    missing_latent_files: int
    outputs: list[str]
    git_commit: str | None = None
    timestamp: str | None = None

    def to_json(self) -> str:
        """Stable JSON text (sorted keys); ``git_commit``/``timestamp`` only when they were given."""
        return dumps_json(record_dict(self))


def read_sidecar(path: str | os.PathLike) -> Df03Sidecar:
    """Read and validate a df03 sidecar.

    Raises:
        InputError: missing file, invalid JSON, or a missing, unknown or mistyped key (one line per
            problem, naming the file and the key).
    """
    data = read_json(path)
    try:
        return Df03Sidecar.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"]) or "(top level)"
            msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
            lines.append(f"{path}: df03 sidecar key {key}: {msg}")
        raise InputError("\n".join(lines)) from None
