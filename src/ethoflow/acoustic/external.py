"""acoustic_external: an existing ANIMAL-SPOT model evaluated on a variant's tapes, beside ethoflow's models.

The model file (``acoustic.external.<name>.file``) predicts every recording of the variant it names
with ANIMAL-SPOT's own windows and front end (:func:`ethoflow.acoustic.animal_spot.predict_recordings`),
and its window probabilities go through the same evaluation as a trained variant's
(:func:`ethoflow.acoustic.evaluate.evaluate_item`: thresholding, chaining, IoU matching, Raven tables,
PR curve), so ``acoustic_report`` puts ``<name>-<setting>`` in the same metrics table (``cnn`` layer).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ethoflow.acoustic.params import AcousticParams
from ethoflow.core import ParamsError, get_logger, read_json

log = get_logger(__name__)


def evaluate_external(
    cfg: AcousticParams,
    name: str,
    setting_name: str,
    predictions: str | Path,
    corpus_index: str | Path,
    out_dir: str | Path,
    params_path: str = "params.yaml",
) -> None:
    """Predict the variant's recordings with external model ``name`` at setting ``setting_name`` into
    ``predictions`` (Parquet, columns as ``acoustic_predict``'s), then evaluate them into ``out_dir``
    (``detections.parquet``, ``per_tape.csv``, ``selections/``, ``pr_curve.csv``, ``metrics.json``).

    Raises:
        InputError: unreadable model file or recordings; the variant index is missing.
    """
    from ethoflow.acoustic.animal_spot import predict_recordings
    from ethoflow.acoustic.evaluate import evaluate_item
    from ethoflow.acoustic.stage import VARIANT_INDEX, MatrixItem

    ext = cfg.external[name]
    setting = cfg.setting(setting_name, params_path)
    vindex = read_json(VARIANT_INDEX.format(variant=ext.variant))
    predict_recordings(
        ext.file,
        vindex["recordings"],
        setting.seq_len_s,
        setting.hop_s,
        str(predictions),
        cfg.predict.batch_size,
        cfg.predict.num_threads,
        min_max_norm=ext.min_max_norm,
    )
    item = MatrixItem(name, setting_name, f"{name}-{setting_name}", cfg, setting, vindex, params_path)
    evaluate_item(item, predictions, corpus_index, out_dir, Path(out_dir) / "metrics.json")


def run_external(
    cfg: AcousticParams,
    name: str,
    setting: str,
    predictions: str | Path,
    corpus_index: str | Path,
    out: str | Path,
    params_path: str = "params.yaml",
) -> Any:
    """``acoustic_external@<name>-<setting>``: wiring only; :func:`evaluate_external` through
    :func:`ethoflow.dispatch.run`.

    Raises:
        ParamsError: unknown external model or setting.
    """
    from ethoflow import dispatch

    if name not in cfg.external:
        raise ParamsError(f"{params_path}: acoustic.external has no model '{name}' (have: {sorted(cfg.external)})")
    cfg.setting(setting, params_path)
    return dispatch.run(
        evaluate_external,
        cfg,
        name,
        setting,
        str(predictions),
        str(corpus_index),
        str(out),
        params_path,
        stage=f"acoustic_external@{name}-{setting}",
        params_path=params_path,
    )
