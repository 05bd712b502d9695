"""One logging format for every stage: ``HH:MM:SS LEVEL ethoflow.<module>: message``."""

from __future__ import annotations

import logging
import os
import sys

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
DATEFMT = "%H:%M:%S"


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at emit time (test capture, redirected streams)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:  # StreamHandler.__init__ assigns it
        pass


def setup_logging(level: str | int | None = None) -> None:
    """Configure the ``ethoflow`` logger once (stderr, :data:`FORMAT`).

    ``level`` defaults to the ``ETHOFLOW_LOG_LEVEL`` environment variable, else INFO. Calling it
    again only changes the level. Other libraries' loggers are left as they are.
    """
    level = level or os.environ.get("ETHOFLOW_LOG_LEVEL", "INFO")
    logger = logging.getLogger("ethoflow")
    if not any(getattr(h, "_ethoflow", False) for h in logger.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter(FORMAT, DATEFMT))
        handler._ethoflow = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel(level if isinstance(level, int) else str(level).upper())


def get_logger(name: str) -> logging.Logger:
    """Logger under the ``ethoflow`` namespace (``name`` is usually ``__name__``)."""
    if not name.startswith("ethoflow"):
        name = f"ethoflow.{name}"
    return logging.getLogger(name)
