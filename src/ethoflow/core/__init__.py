"""Shared pieces every stage uses: typed params, atomic writes, stable JSON/YAML, logging, progress."""

from ethoflow.core.errors import EthoflowError, InputError, OutputError, ParamsError
from ethoflow.core.io import (
    atomic_dir,
    atomic_path,
    atomic_write_bytes,
    atomic_write_text,
    check_overwrite,
    load_torch,
    output_error,
    output_set,
    read_json,
    read_yaml,
    save_figure,
    to_plain,
    write_json,
    write_live_curves,
    write_metrics,
    write_yaml,
)
from ethoflow.core.logging import get_logger, setup_logging
from ethoflow.core.params import load_params, load_section
from ethoflow.core.paths import project_root, state_dir
from ethoflow.core.progress import progress
from ethoflow.core.seed import seed_everything

__all__ = [
    "EthoflowError",
    "InputError",
    "OutputError",
    "ParamsError",
    "atomic_dir",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_text",
    "check_overwrite",
    "get_logger",
    "load_params",
    "load_torch",
    "load_section",
    "output_error",
    "output_set",
    "progress",
    "project_root",
    "read_json",
    "read_yaml",
    "save_figure",
    "seed_everything",
    "setup_logging",
    "state_dir",
    "to_plain",
    "write_json",
    "write_live_curves",
    "write_metrics",
    "write_yaml",
]
