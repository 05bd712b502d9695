"""Typed records that one stage writes for another (pydantic models validated on read).

A record is a small JSON file (a variant index, a training summary) or a dict inside a checkpoint
(a training state). Its model lives next to the code that writes it. Both sides use the same class:
the writer builds the record object and writes it with :func:`write_record`; the reader gets it back
with :func:`read_record` (or checks a dict with :func:`validate_record`). A missing key or a wrong type
becomes one :class:`InputError` that names the file and the key path, instead of a ``KeyError`` deep
inside the reader.
"""

from __future__ import annotations

import os
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from ethoflow.core.errors import InputError
from ethoflow.core.io import read_json, write_json

__all__ = ["Record", "read_record", "record_dict", "validate_record", "write_record"]

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


def record_dict(record: BaseModel) -> dict[str, Any]:
    """The keys the writer set on ``record`` (declared fields and extra keys), values as validated.

    Fields left at their default are not added, so an optional key a writer does not produce stays out
    of the file, and the file holds exactly the keys the writer gave (written sorted by
    :func:`~ethoflow.core.io.write_json`).
    """
    return record.model_dump(exclude_unset=True)


def write_record(path: str | os.PathLike, record: BaseModel) -> os.PathLike:
    """Write ``record`` (a :class:`Record` built by the writing stage) to the JSON file ``path``, atomically.

    The twin of :func:`read_record`: the file holds :func:`record_dict` as stable JSON (sorted keys,
    numpy scalars as plain numbers, NaN as ``null``; see :func:`ethoflow.core.io.dumps_json`), so
    ``read_record(path, type(record))`` gives back an equal record. Returns ``path``.
    """
    return write_json(path, record_dict(record))
