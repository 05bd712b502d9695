"""What keeps ``stages/*.py`` to one line of code: :func:`stage_main` and :func:`run_stage`.

A stage script is its docstring (``<stage>: what it does``) and::

    from ethoflow.acoustic.stages import run_acoustic_train
    from ethoflow.core.stage import run_stage, stage_main

    main = stage_main(run_acoustic_train, __doc__)

    if __name__ == "__main__":
        run_stage(main)

:func:`stage_main` reads the command line from the run function (its signature and docstring ``Args:``).

The one library call is the stage function ``ethoflow.<pkg>.stages.run_<stage>``; every one has the same
signature::

    run_<stage>(cfg, *, <item names>, <paths>, params_path=DEFAULT_PARAMS)

``cfg`` (the params section, a pydantic model) is the only positional argument. After it, by keyword
only: the item names of a ``foreach`` stage (``variant``, ``setting``, ``name``), the input and output
paths (one by one, or one frozen paths record when a stage has many, e.g.
:class:`ethoflow.acoustic.records.ReportPaths`), then ``params_path`` (the params file: named in errors,
and where :func:`ethoflow.dispatch.run` reads the ``compute`` section; left out by a stage that reads
nothing else from it). The moseq stages that dispatch also take an optional ``compute`` (the
``compute`` params, ``None``: read from ``params_path``) just before ``params_path``.

:func:`run_stage` sets up logging, turns an :class:`~ethoflow.core.errors.EthoflowError` into one
clear error line and exit status 1 (no traceback), and Ctrl-C into exit status 130. An ``OSError`` that
no library function turned into an ``EthoflowError`` (a read-only folder, a full disk, a file where a
folder is needed) and any error raised inside pyarrow, zarr, numcodecs, h5py or torch is also one line,
naming the path (``exc.filename``) and the cause. The traceback is shown only with ``-v``/``--verbose``
on the stage's command line or ``ETHOFLOW_DEBUG=1`` in the environment.
"""

from __future__ import annotations

import argparse
import collections.abc
import dataclasses
import inspect
import os
import re
import sys
import tempfile
import traceback
import typing
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from ethoflow.core.errors import EthoflowError
from ethoflow.core.io import _OS_CAUSES, read_yaml, write_yaml
from ethoflow.core.logging import get_logger, setup_logging
from ethoflow.core.params import DEFAULT_PARAMS, load_section


def stage_parser(description: str | None = None) -> argparse.ArgumentParser:
    """An ``ArgumentParser`` with the common ``--params`` option (default ``params.yaml``)."""
    parser = argparse.ArgumentParser(description=(description or "").strip().splitlines()[0] if description else None)
    parser.add_argument("--params", default=DEFAULT_PARAMS, help="params file (default: %(default)s)")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="show the traceback of an error (or set ETHOFLOW_DEBUG=1)"
    )
    return parser


def _doc_args(obj: Any) -> dict[str, str]:
    """``name -> text`` from the ``Args:`` (or ``Attributes:``) section of ``obj``'s docstring (Google style:
    ``name: text`` one indent in, continuation lines further in); ``a, b: text`` documents both."""
    lines = inspect.cleandoc(getattr(obj, "__doc__", None) or "").splitlines()
    out: dict[str, str] = {}
    current: list[str] = []
    indent = None
    in_section = False
    for line in lines:
        stripped = line.strip()
        if stripped in ("Args:", "Attributes:"):
            in_section, indent, current = True, None, []
            continue
        if not in_section:
            continue
        if not stripped:
            continue
        lead = len(line) - len(line.lstrip())
        if lead == 0:
            in_section = False
            continue
        indent = lead if indent is None else indent
        m = re.match(r"^([\w.]+(?:, [\w.]+)*): (.*)$", stripped) if lead == indent else None
        if m:
            current = [m.group(2)]
            for name in m.group(1).split(", "):
                out[name] = current  # shared list: continuation lines extend every name documented together
        elif current:
            current.append(stripped)
    return {name: " ".join(text) for name, text in out.items()}


def _record_type(hint: Any) -> type | None:
    """The dataclass or pydantic record in a parameter's type hint (``Paths``, ``Paths | Mapping``), or None."""
    for candidate in (hint, *typing.get_args(hint)):
        if isinstance(candidate, type) and (dataclasses.is_dataclass(candidate) or hasattr(candidate, "model_fields")):
            return candidate
    return None


def _record_fields(record: type) -> list[tuple[str, Any, bool]]:
    """``(name, type hint, required)`` of a dataclass's or pydantic model's fields, in order."""
    if dataclasses.is_dataclass(record):
        hints = typing.get_type_hints(record)
        return [
            (f.name, hints.get(f.name), f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING)
            for f in dataclasses.fields(record)
        ]
    return [(name, f.annotation, f.is_required()) for name, f in record.model_fields.items()]


def _add_option(parser: argparse.ArgumentParser, name: str, hint: Any, required: bool, default: Any, help_text: str):
    """One ``--name`` option (``_`` written ``-``) typed from its hint: int, float, a list (one or more
    values) or text."""
    kw: dict[str, Any] = {"help": help_text or None, "required": required, "dest": name}
    base = [a for a in typing.get_args(hint) if a is not type(None)] if typing.get_origin(hint) is not None else [hint]
    origin = typing.get_origin(hint)
    if origin in (list, tuple, collections.abc.Sequence) or any(typing.get_origin(b) is list for b in base):
        kw["nargs"] = "+"
    elif int in base and str not in base:
        kw["type"] = int
    elif float in base and str not in base:
        kw["type"] = float
    if not required:
        kw["default"] = default
    parser.add_argument("--" + name.replace("_", "-"), **kw)


def stage_options(run: Callable[..., Any], required: bool = False) -> list[str]:
    """The ``--options`` of the stage whose library call is ``run`` (see :func:`stage_main`), in order;
    with ``required``, only those without a default."""
    names: list[str] = []
    hints = typing.get_type_hints(run)
    signature = inspect.signature(run)
    for i, name in enumerate(signature.parameters):
        if i == 0 or name == "params_path":
            continue
        record = _record_type(hints.get(name))
        has_default = signature.parameters[name].default is not inspect.Parameter.empty
        if record is not None and has_default:
            continue  # an optional record (e.g. ``compute``) keeps its default: not on the command line
        if record is not None:
            names += ["--" + f.replace("_", "-") for f, _, req in _record_fields(record) if req or not required]
        elif not (required and has_default):
            names.append("--" + name.replace("_", "-"))
    return names


def stage_option_help(run: Callable[..., Any]) -> dict[str, str]:
    """``--option -> help`` of the stage whose library call is ``run``: the ``Args:`` line of ``run``'s
    docstring (or of its record's) that names each option's parameter (empty when none does)."""
    hints = typing.get_type_hints(run)
    docs = _doc_args(run)
    out = {}
    for name in list(inspect.signature(run).parameters)[1:]:
        record = _record_type(hints.get(name))
        if record is not None:
            record_docs = _doc_args(record)
            for f, _, _ in _record_fields(record):
                out["--" + f.replace("_", "-")] = record_docs.get(f, docs.get(f, ""))
        else:
            out["--" + name.replace("_", "-")] = docs.get(name, "")
    return {o: out.get(o, "") for o in stage_options(run)}


def stage_main(run: Callable[..., Any], description: str | None = None) -> Callable[[list[str] | None], Any]:
    """The ``main(argv=None)`` of a stage script whose one library call is ``run``; its command line is read
    from ``run`` itself, so that a stage's inputs are declared once (in ``run``'s signature and docstring)
    and its paths once (in dvc.yaml's ``cmd``).

    The convention of every ``run_<stage>`` in ``ethoflow.<pkg>.stages``: the first parameter is the
    pipeline's params section (a pydantic model, loaded from ``--params`` with :func:`load_section`,
    section = ``<pkg>``); a parameter ``params_path`` receives ``--params``; every other parameter is one
    ``--option`` (``variant_dir`` is ``--variant-dir``; required unless it has a default; typed int, float
    or a list from its annotation), except a parameter typed as a record (a dataclass or pydantic model,
    e.g. a ``<Name>Paths`` of the stage's paths), whose fields are the options; a record parameter with a
    default (``compute=None``) is not on the command line. Each option's help is the
    line of ``run``'s (or the record's) docstring ``Args:`` section that names it.

    Raises (from the returned ``main``):
        SystemExit: (argparse) a missing or unknown argument, or ``-h``.
        ParamsError: the params file or section is invalid.
    """
    signature = inspect.signature(run)
    hints = typing.get_type_hints(run)
    first, *rest = signature.parameters
    section = hints[first].__module__.split(".")[1]  # ethoflow.<section>.params
    docs = _doc_args(run)

    def main(argv: list[str] | None = None) -> Any:
        parser = stage_parser(description or run.__doc__)
        records: dict[str, tuple[type, list[str]]] = {}
        for name in rest:
            if name == "params_path":
                continue
            param = signature.parameters[name]
            record = _record_type(hints.get(name))
            if record is not None and param.default is not inspect.Parameter.empty:
                continue  # an optional record (e.g. ``compute``) keeps its default
            if record is not None:
                fields = _record_fields(record)
                records[name] = (record, [f for f, _, _ in fields])
                record_docs = _doc_args(record)
                for field, hint, required in fields:
                    _add_option(parser, field, hint, required, None, record_docs.get(field, docs.get(field, "")))
                continue
            required = param.default is inspect.Parameter.empty
            _add_option(parser, name, hints.get(name), required, param.default, docs.get(name, ""))
        args = vars(parser.parse_args(argv))
        cfg = load_section(section, hints[first], args["params"])
        kwargs: dict[str, Any] = {}
        for name in rest:
            if name == "params_path":
                kwargs[name] = args["params"]
            elif name not in args and name not in records:
                continue  # an optional record left at its default
            elif name in records:
                record, fields = records[name]
                kwargs[name] = record(**{f: args[f] for f in fields if args[f] is not None})
            else:
                kwargs[name] = args[name]
        return run(cfg, **kwargs)

    main.__doc__ = f"Command line of :func:`{run.__module__}.{run.__name__}` (see :func:`stage_main`)."
    return main


#: errors raised inside these libraries are reported as one line (traceback under -v / ETHOFLOW_DEBUG=1)
LIBRARY_ERRORS = ("pyarrow", "zarr", "numcodecs", "h5py", "torch", "pandas", "soundfile", "sleap_io")


def debug_enabled(argv: list[str] | None = None) -> bool:
    """True when ``-v``/``--verbose`` is on the command line or ``ETHOFLOW_DEBUG`` is set (not ``0``)."""
    argv = sys.argv[1:] if argv is None else argv
    env = os.environ.get("ETHOFLOW_DEBUG", "")
    return env not in ("", "0", "false", "no") or "-v" in argv or "--verbose" in argv


def error_line(exc: BaseException) -> str | None:
    """One line for an ``OSError`` or a library error (see :data:`LIBRARY_ERRORS`); ``None`` for others.

    ``OSError``: ``<exc.filename>: <cause>`` with the cause named as :func:`ethoflow.core.io.output_error`
    names it ("no space left on device", "permission denied", ...). Library errors:
    ``<library> error: <Type>: <message>`` (first 300 characters, on one line).
    """
    if isinstance(exc, OSError):
        cause = _OS_CAUSES.get(exc.errno or -1)
        if cause == "parent folder missing":
            cause = "no such file or folder"
        cause = cause or exc.strerror or " ".join(str(exc).split())[:300] or type(exc).__name__
        name = exc.filename if exc.filename is not None else None
        if exc.filename2 is not None:
            name = f"{exc.filename} -> {exc.filename2}"
        return f"{name}: {cause}" if name is not None else f"I/O error: {cause}"
    mod = (type(exc).__module__ or "").split(".")[0]
    if mod in LIBRARY_ERRORS:
        text = " ".join(str(exc).split())[:300]
        return f"{mod} error: {type(exc).__name__}: {text}"
    return None


def run_stage(main: Callable[[], object]) -> None:
    """Run a stage's ``main`` in the compute mode of its params file (``compute.numerics``: the process
    is first replaced by the same command in that mode's environment when it is not in it yet, see
    :func:`ethoflow.core.numerics.ensure`), with logging and clean error reporting, then exit."""
    setup_logging()
    log = get_logger("ethoflow.stage")
    debug = debug_enabled()
    try:
        # local: imported only on the branch that needs it
        from ethoflow.core import numerics

        mode, threads = numerics.mode_from_params(numerics.params_path_from_argv(sys.argv[1:], DEFAULT_PARAMS))
        numerics.ensure(mode, threads)
        numerics.apply_runtime(mode, threads)
        main()
    except EthoflowError as exc:
        if debug:
            log.error("%s", "".join(traceback.format_exception(exc)).rstrip())
        log.error("%s", exc)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        log.error("interrupted")
        sys.exit(130)
    except Exception as exc:
        line = error_line(exc)
        if line is None:
            raise
        if debug:
            log.error("%s", "".join(traceback.format_exception(exc)).rstrip())
        log.error("%s%s", line, "" if debug else " (traceback: rerun with -v or ETHOFLOW_DEBUG=1)")
        sys.exit(1)
    sys.exit(0)


def resolved_dvc_yaml(
    dvc_yaml: str | os.PathLike,
    params_file: str | os.PathLike | None = None,
    sections: dict[str, type] | None = None,
    prefix: str | None = None,
) -> dict[str, Any]:
    """``dvc.yaml`` as DVC resolves it: ``{"stages": {name: body}, "plots": [...], "artifacts": {...}}``.

    Resolved by DVC's own parser (``dvc.parsing.DataResolver``: ``vars`` (the ``paths`` mapping),
    ``foreach``/``matrix`` items and ``${...}`` expanded exactly as ``dvc repro`` does). Each stage body
    holds its ``cmd``, ``deps``, ``params``, ``outs``, ``metrics`` as written after interpolation (an out
    with options stays a one-key mapping ``{path: {cache: false}}``); stage names are DVC's addressing
    (``acoustic_train@v1``, ``acoustic_predict@v1-default``), in file order.

    ``params_file``: the params ``${...}`` is filled from (default: ``params.yaml`` beside ``dvc.yaml``);
    its sections named in ``sections`` (section -> params model) are first validated and completed with
    their defaults, so a tiny params file names only what it changes. ``prefix``: resolve only the stages
    whose name starts with it, and neither plots nor artifacts (which may name params the tiny file
    lacks). Code that reads ``dvc.yaml`` reads it through this function (or :func:`resolved_stages`),
    never as raw text with ``${...}`` in it.

    Raises:
        ParamsError: a section is invalid. EthoflowError: ``dvc.yaml`` does not resolve (the reason named).
    """
    # local: dvc is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    from dvc.fs import LocalFileSystem
    from dvc.parsing import DataResolver, EntryDefinition

    dvc_yaml = Path(dvc_yaml)
    params_file = Path(params_file) if params_file is not None else dvc_yaml.parent / "params.yaml"
    raw = (read_yaml(params_file) or {}) if params_file.exists() else {}
    for name, model in (sections or {}).items():
        raw[name] = load_section(name, model, params_file).model_dump(mode="json")
    out: dict[str, Any] = {"stages": {}, "plots": [], "artifacts": {}}
    what = "" if prefix is None else f" the {prefix}* stages"
    with tempfile.TemporaryDirectory(prefix="ethoflow-dvcyaml-") as tmp:
        write_yaml(Path(tmp) / "params.yaml", raw)
        try:
            resolver = DataResolver(SimpleNamespace(fs=LocalFileSystem(), config={}), tmp, read_yaml(dvc_yaml))
            for name, definition in resolver.definitions.items():
                if name.startswith(prefix or ""):
                    resolved = (
                        definition.resolve() if isinstance(definition, EntryDefinition) else definition.resolve_all()
                    )
                    # a foreach/matrix over an empty mapping (e.g. no acoustic.external) resolves to None
                    out["stages"].update(resolved or {})
            if prefix is None:
                out["plots"] = resolver.resolve_plots() or []
                out["artifacts"] = resolver.resolve_artifacts() or {}
        except Exception as exc:  # DVC's ResolveError and friends: one line naming dvc.yaml
            raise EthoflowError(f"{dvc_yaml}: cannot resolve{what}: {exc}") from None
    return out


def resolved_stages(
    dvc_yaml: str | os.PathLike,
    params_file: str | os.PathLike | None = None,
    prefix: str = "",
    sections: dict[str, type] | None = None,
) -> dict[str, dict[str, Any]]:
    """``{stage name: resolved body}`` of the ``dvc.yaml`` stages whose name starts with ``prefix``, in
    file order (only those are resolved). See :func:`resolved_dvc_yaml` (arguments, errors)."""
    return resolved_dvc_yaml(dvc_yaml, params_file, sections, prefix=prefix)["stages"]


def stage_commands(
    dvc_yaml: str | os.PathLike,
    params_file: str | os.PathLike,
    prefix: str = "",
    sections: dict[str, type] | None = None,
) -> dict[str, str]:
    """``{stage name: cmd}`` of the ``dvc.yaml`` stages whose name starts with ``prefix``, in file order.

    Resolved by DVC's own parser (``dvc.parsing.DataResolver``: ``foreach``/``matrix`` items and ``${...}``
    expanded exactly as ``dvc repro`` does) against ``params_file``, whose sections named in ``sections``
    (section -> params model) are first validated and completed with their defaults, so a tiny params
    file names only what it changes. Used to run stages outside DVC with the paths written once, in dvc.yaml.

    Raises:
        ParamsError: a section is invalid. EthoflowError: ``dvc.yaml`` does not resolve (the reason named).
    """
    return {name: body["cmd"] for name, body in resolved_stages(dvc_yaml, params_file, prefix, sections).items()}
