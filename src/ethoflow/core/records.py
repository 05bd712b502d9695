"""Typed records that one stage writes for another (pydantic models validated on read).

A record is a small JSON file (a variant index, a training summary) or a dict inside a checkpoint
(a training state). Its model lives next to the code that writes it; :func:`read_record` and
:func:`validate_record` turn a missing key or a wrong type into one :class:`InputError` that names the
file and the key path, instead of a ``KeyError`` deep inside the reader.
"""

from __future__ import annotations

import os
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from ethoflow.core.errors import InputError
from ethoflow.core.io import read_json

__all__ = ["Record", "read_record", "validate_record"]

R = TypeVar("R", bound=BaseModel)


class Record(BaseModel):
    """Base of every inter-stage record: extra keys are kept (newer writers may add some), types checked."""

    model_config = ConfigDict(extra="allow", arbitrary_types_allowed=True)


def validate_record(data: Any, model: type[R], source: str | os.PathLike) -> R:
    """``model`` validated from ``data``; ``source`` (a file, or ``file:key``) names it in the error.

    Raises:
        InputError: ``<source>: <key path>: <problem>`` for the first invalid or missing key (and a count of the rest).
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        first = errors[0]
        key = ".".join(str(p) for p in first["loc"]) or "(top level)"
        more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
        raise InputError(f"{source}: {model.__name__} key {key}: {first['msg']}{more}") from None


def read_record(path: str | os.PathLike, model: type[R]) -> R:
    """Read the JSON file ``path`` as a ``model`` record.

    Raises:
        InputError: the file is missing, is not JSON, or does not match ``model`` (file and key named).
    """
    return validate_record(read_json(path), model, path)
