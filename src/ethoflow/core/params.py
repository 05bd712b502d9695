"""Typed, validated params: ``params.yaml`` sections loaded into pydantic models.

Every pipeline defines its section as a :class:`StrictModel` subclass (unknown keys are errors) in
its own ``params`` module. Stages call :func:`load_section`; a wrong key or type fails at stage start
with a :class:`~ethoflow.core.errors.ParamsError` that names the file and the dotted key path, e.g.::

    params.yaml: acoustic.train.lr: Input should be a valid number, unable to parse string as a
    number (got 'fast')
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from ethoflow.core.errors import ParamsError

M = TypeVar("M", bound=BaseModel)

DEFAULT_PARAMS = "params.yaml"


class StrictModel(BaseModel):
    """Base for params models: unknown keys are rejected, values validated on assignment too."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, protected_namespaces=())


def load_params(path: str | os.PathLike = DEFAULT_PARAMS) -> dict[str, Any]:
    """Read the whole params file as a dict (raises :class:`ParamsError` naming the file)."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ParamsError(f"{path}: params file not found") from None
    except yaml.YAMLError as exc:
        raise ParamsError(f"{path}: invalid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ParamsError(f"{path}: expected a mapping of sections at the top level")
    return data


def format_validation_error(exc: ValidationError, path: str | os.PathLike, prefix: str) -> str:
    """One line per problem: ``<file>: <section.key.path>: <message> (got <value>)``."""
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in (prefix, *err["loc"]) if p != "")
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key (not a parameter of this section; check the spelling)"
        got = err.get("input")
        got_txt = "" if err["type"] in ("missing", "extra_forbidden") else f" (got {got!r})"
        lines.append(f"{path}: {loc}: {msg}{got_txt}")
    return "\n".join(lines)


def validate_section(data: Any, model: type[M], path: str | os.PathLike, section: str) -> M:
    """Validate ``data`` into ``model``; errors become :class:`ParamsError` naming file and key."""
    try:
        return model.model_validate(data if data is not None else {})
    except ValidationError as exc:
        raise ParamsError(format_validation_error(exc, path, section)) from None


def load_section(
    section: str, model: type[M], path: str | os.PathLike = DEFAULT_PARAMS, required: bool = True
) -> M:
    """Load ``section`` (dotted, e.g. ``"acoustic"`` or ``"acoustic.train"``) of ``path`` into ``model``.

    Raises:
        ParamsError: the file is missing or malformed, the section is absent (when ``required``),
            or a key is unknown, missing or of the wrong type.
    """
    data: Any = load_params(path)
    for part in section.split("."):
        if not isinstance(data, dict) or part not in data:
            if required:
                raise ParamsError(f"{path}: section '{section}' is missing")
            data = {}
            break
        data = data[part]
    return validate_section(data, model, path, section)
