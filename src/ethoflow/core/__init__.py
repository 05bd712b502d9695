"""Shared pieces every stage uses: typed params, atomic writes, stable JSON/YAML, logging, progress,
typed inter-stage records, the stage helpers.

Public API: the names in ``__all__`` (see :mod:`ethoflow.core.lazy` for the pattern every subpackage uses).
"""

from ethoflow.core.lazy import lazy_exports

_EXPORTS = {
    "errors": ("EthoflowError", "InputError", "OutputError", "ParamsError"),
    "io": (
        "atomic_dir",
        "atomic_path",
        "atomic_write_bytes",
        "atomic_write_text",
        "check_overwrite",
        "load_torch",
        "save_torch",
        "output_error",
        "output_set",
        "read_json",
        "sha256_file",
        "read_yaml",
        "save_figure",
        "to_plain",
        "write_json",
        "write_live_curves",
        "write_metrics",
        "write_yaml",
    ),
    "logging": ("get_logger", "setup_logging"),
    "params": ("load_params", "load_section"),
    "paths": ("project_root", "state_dir"),
    "progress": ("progress",),
    "records": ("Record", "read_record", "validate_record", "write_record"),
    "seed": ("seed_everything",),
    "stage": ("run_stage", "stage_commands", "stage_parser"),
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
