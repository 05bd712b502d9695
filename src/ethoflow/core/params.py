"""Typed, validated params: ``params.yaml`` sections loaded into pydantic models.

Every pipeline defines its section as a :class:`StrictModel` subclass (unknown keys are errors) in
its own ``params`` module. Stages call :func:`load_section`; a wrong key or type fails at stage start
with a :class:`~ethoflow.core.errors.ParamsError` that names the file and the dotted key path, e.g.::

    params.yaml: acoustic.train.lr: Input should be a valid number, unable to parse string as a
    number (got 'fast')

The file is read as YAML 1.2 with ruamel's safe loader, the reader DVC itself uses for params files
(``dvc params diff``, ``dvc exp run -S``), so a file DVC rewrote reads back the same: under PyYAML's
YAML 1.1 an unquoted ``19:00`` would be the integer 1140 and ``1e-05`` a string.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, ClassVar, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from ethoflow.core.errors import ParamsError

M = TypeVar("M", bound=BaseModel)

DEFAULT_PARAMS = "params.yaml"


class StrictModel(BaseModel):
    """Base for params models: unknown keys are rejected, values validated on assignment too.

    ``renamed_keys`` maps a key a section no longer has to a hint naming its replacement; the
    "unknown key" error then shows the hint (e.g. ``day_start`` -> ``use day_start_hour ...``).
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True, protected_namespaces=())
    renamed_keys: ClassVar[dict[str, str]] = {}


def _hour_of_day(value: Any) -> Any:
    if isinstance(value, str) and ":" in value:
        raise ValueError("the hour of day is a number of hours, e.g. 7 or 6.5 for 06:30, not 'HH:MM'")
    return value


#: An hour of the day as a number of hours, 0 <= h <= 24 (6.5 is 06:30). Used by every section that
#: names a light phase (``day_start_hour``/``day_end_hour``); ``"HH:MM"`` strings are rejected.
HourOfDay = Annotated[float, BeforeValidator(_hour_of_day), Field(ge=0.0, le=24.0)]


def check_light_phase(day_start_hour: float, day_end_hour: float) -> None:
    """Refuse equal lights-on and lights-off hours (ambiguous: 0 and 24 mean constant light, 24 and 0
    constant dark). Hours as in :data:`HourOfDay`.

    Raises:
        ValueError: the two hours are equal.
    """
    if day_start_hour == day_end_hour:
        raise ValueError(
            f"day_start_hour and day_end_hour are both {day_start_hour:g}: no light phase is defined "
            "(use 0 and 24 for constant light, 24 and 0 for constant dark)"
        )


def _yaml_error(path: Path, exc: Exception) -> str:
    """One line: file, line and column, and the parser's complaint."""
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    what = getattr(exc, "problem", None) or " ".join(str(exc).split())
    return f"{path}: invalid YAML{where}: {what}"


def parse_params_text(text: str, path: str | os.PathLike = DEFAULT_PARAMS) -> Any:
    """Parse params YAML exactly as DVC does: YAML 1.2, ruamel's safe loader, duplicate keys refused.

    Raises:
        ParamsError: the text is not valid YAML (file, line and column named).
    """
    # local: keeps ethoflow.core.params importable without ruamel
    from ruamel.yaml import YAML, YAMLError

    try:
        return YAML(typ="safe").load(text)
    except YAMLError as exc:
        raise ParamsError(_yaml_error(Path(path), exc)) from None


def load_params(path: str | os.PathLike = DEFAULT_PARAMS) -> dict[str, Any]:
    """Read the whole params file as a dict (YAML 1.2, as DVC reads it; see the module docstring).

    Raises:
        ParamsError: the file is missing, is not valid YAML, or its top level is not a mapping.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ParamsError(f"{path}: params file not found") from None
    except UnicodeDecodeError as exc:
        raise ParamsError(
            f"{path}: params file is not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start}); "
            "save it as UTF-8"
        ) from None
    except OSError as exc:
        raise ParamsError(f"{path}: params file cannot be read ({exc.strerror or exc})") from None
    data = parse_params_text(text, path)
    if data is None:
        raise ParamsError(f"{path}: params file holds no params (empty, or comments only)")
    if not isinstance(data, dict):
        raise ParamsError(f"{path}: expected a mapping of sections at the top level")
    return data


def _model_at(model: type[BaseModel], loc: tuple) -> type[BaseModel] | None:
    """The params model that validates the mapping at ``loc`` below ``model`` (None if not a model)."""
    for part in loc:
        field = model.model_fields.get(part) if isinstance(part, str) else None
        ann = field.annotation if field is not None else None
        if not (isinstance(ann, type) and issubclass(ann, BaseModel)):
            return None
        model = ann
    return model


def format_validation_error(
    exc: ValidationError, path: str | os.PathLike, prefix: str, model: type[BaseModel] | None = None
) -> str:
    """One line per problem: ``<file>: <section.key.path>: <message> (got <value>)``.

    With ``model`` (the model that raised), an unknown key the model lists in ``renamed_keys``
    gets that hint instead of "check the spelling".
    """
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in (prefix, *err["loc"]) if p != "")
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            owner = _model_at(model, tuple(err["loc"][:-1])) if model is not None else None
            hint = getattr(owner, "renamed_keys", {}).get(str(err["loc"][-1])) if owner else None
            msg = (
                f"unknown key ({hint})" if hint else "unknown key (not a parameter of this section; check the spelling)"
            )
        got = err.get("input")
        got_txt = "" if err["type"] in ("missing", "extra_forbidden") else f" (got {got!r})"
        lines.append(f"{path}: {loc}: {msg}{got_txt}")
    return "\n".join(lines)


def _none_strings(data: Any, key: str) -> list[str]:
    """Dotted keys whose value is the string ``None`` (YAML's null is ``null``, e.g. after ``-S k=None``)."""
    if isinstance(data, dict):
        return [k for name, v in data.items() for k in _none_strings(v, f"{key}.{name}" if key else str(name))]
    if isinstance(data, list):
        return [k for i, v in enumerate(data) for k in _none_strings(v, f"{key}[{i}]")]
    return [key] if data == "None" else []


def validate_section(data: Any, model: type[M], path: str | os.PathLike, section: str) -> M:
    """Validate ``data`` into ``model``.

    Raises:
        ParamsError: one line per problem, each naming the file and the dotted key; also for a value
            written as the string ``None`` (almost always meant as ``null``).
    """
    bad = _none_strings(data, section)
    if bad:
        raise ParamsError(
            "\n".join(
                f"{path}: {k}: the string 'None'; write null for no value (with dvc exp run -S: {k.split('[')[0]}=null)"
                for k in bad
            )
        )
    try:
        return model.model_validate(data if data is not None else {})
    except ValidationError as exc:
        raise ParamsError(format_validation_error(exc, path, section, model)) from None


def load_section(section: str, model: type[M], path: str | os.PathLike = DEFAULT_PARAMS, required: bool = True) -> M:
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
