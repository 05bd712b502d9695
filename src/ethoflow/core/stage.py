"""Helpers that keep ``stages/*.py`` short: an argument parser with ``--params`` and a runner.

A stage script looks like::

    def main(argv=None):
        args = stage_parser(__doc__).parse_args(argv)
        cfg = load_section("vae", VAEParams, args.params)
        ...one library call...

    if __name__ == "__main__":
        run_stage(main)

:func:`run_stage` sets up logging, turns an :class:`~ethoflow.core.errors.EthoflowError` into one
clear error line and exit status 1 (no traceback), and Ctrl-C into exit status 130.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

from ethoflow.core.errors import EthoflowError
from ethoflow.core.io import read_yaml, write_yaml
from ethoflow.core.logging import get_logger, setup_logging
from ethoflow.core.params import DEFAULT_PARAMS


def stage_parser(description: str | None = None) -> argparse.ArgumentParser:
    """An ``ArgumentParser`` with the common ``--params`` option (default ``params.yaml``)."""
    parser = argparse.ArgumentParser(description=(description or "").strip().splitlines()[0] if description else None)
    parser.add_argument("--params", default=DEFAULT_PARAMS, help="params file (default: %(default)s)")
    return parser


def run_stage(main: Callable[[], object]) -> None:
    """Run a stage's ``main`` with logging and clean error reporting, then exit."""
    setup_logging()
    log = get_logger("ethoflow.stage")
    try:
        main()
    except EthoflowError as exc:
        log.error("%s", exc)
        sys.exit(1)
    except KeyboardInterrupt:
        log.error("interrupted")
        sys.exit(130)
    sys.exit(0)


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
    from dvc.fs import LocalFileSystem
    from dvc.parsing import DataResolver, EntryDefinition

    from ethoflow.core.params import load_section

    raw = read_yaml(params_file) or {}
    for name, model in (sections or {}).items():
        raw[name] = load_section(name, model, params_file).model_dump(mode="json")
    out: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="ethoflow-dvcyaml-") as tmp:
        write_yaml(Path(tmp) / "params.yaml", raw)
        try:
            resolver = DataResolver(SimpleNamespace(fs=LocalFileSystem(), config={}), tmp, read_yaml(dvc_yaml))
            for name, definition in resolver.definitions.items():
                if name.startswith(prefix):
                    resolved = (
                        definition.resolve() if isinstance(definition, EntryDefinition) else definition.resolve_all()
                    )
                    out.update({stage: body["cmd"] for stage, body in resolved.items()})
        except Exception as exc:  # DVC's ResolveError and friends: one line naming dvc.yaml
            raise EthoflowError(f"{dvc_yaml}: cannot resolve the {prefix}* stages: {exc}") from None
    return out
