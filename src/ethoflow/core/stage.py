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
import sys
from collections.abc import Callable

from ethoflow.core.errors import EthoflowError
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
