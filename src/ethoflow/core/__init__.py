"""Shared pieces every stage uses: typed params, atomic writes, stable JSON/YAML, logging, progress,
typed inter-stage records, the stage helpers.

Public API: the names in ``__all__`` (see :mod:`ethoflow.core.lazy` for the pattern every subpackage uses).
"""

from ethoflow.core.lazy import lazy_exports

_EXPORTS = {
    "EthoflowError": "ethoflow.core.errors",
    "InputError": "ethoflow.core.errors",
    "OutputError": "ethoflow.core.errors",
    "ParamsError": "ethoflow.core.errors",
    "atomic_dir": "ethoflow.core.io",
    "atomic_path": "ethoflow.core.io",
    "atomic_write_bytes": "ethoflow.core.io",
    "atomic_write_text": "ethoflow.core.io",
    "check_overwrite": "ethoflow.core.io",
    "load_torch": "ethoflow.core.io",
    "save_torch": "ethoflow.core.io",
    "output_error": "ethoflow.core.io",
    "output_set": "ethoflow.core.io",
    "read_json": "ethoflow.core.io",
    "sha256_file": "ethoflow.core.io",
    "read_yaml": "ethoflow.core.io",
    "save_figure": "ethoflow.core.io",
    "to_plain": "ethoflow.core.io",
    "write_json": "ethoflow.core.io",
    "write_live_curves": "ethoflow.core.io",
    "write_metrics": "ethoflow.core.io",
    "write_yaml": "ethoflow.core.io",
    "get_logger": "ethoflow.core.logging",
    "setup_logging": "ethoflow.core.logging",
    "load_params": "ethoflow.core.params",
    "load_section": "ethoflow.core.params",
    "project_root": "ethoflow.core.paths",
    "state_dir": "ethoflow.core.paths",
    "progress": "ethoflow.core.progress",
    "Record": "ethoflow.core.records",
    "read_record": "ethoflow.core.records",
    "validate_record": "ethoflow.core.records",
    "write_record": "ethoflow.core.records",
    "seed_everything": "ethoflow.core.seed",
    "run_stage": "ethoflow.core.stage",
    "stage_commands": "ethoflow.core.stage",
    "stage_parser": "ethoflow.core.stage",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
