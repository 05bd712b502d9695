"""acoustic_external: an existing ANIMAL-SPOT model evaluated on a variant's tapes, beside ethoflow's models.

The model file (``acoustic.external.<name>.file``) predicts every recording of the variant it names
with ANIMAL-SPOT's own windows and front end (:func:`ethoflow.acoustic.inference.predict.predict_recordings_animal_spot`),
and its window probabilities go through the same evaluation as a trained variant's
(:func:`ethoflow.acoustic.evaluation.evaluate.evaluate_predictions`: thresholding, chaining, IoU matching, Raven tables,
PR curve), so ``acoustic_report`` puts ``<name>-<setting>`` in the same metrics table (``cnn`` layer).
"""

from __future__ import annotations

from pathlib import Path

from ethoflow.acoustic.params import AcousticParams
from ethoflow.acoustic.records import VariantIndex
from ethoflow.core import get_logger

log = get_logger(__name__)


def evaluate_external(
    cfg: AcousticParams,
    name: str,
    setting_name: str,
    vindex: VariantIndex,
    predictions: str | Path,
    corpus_index: str | Path,
    out_dir: str | Path,
) -> None:
    """Predict the recordings of ``vindex`` (the variant that ``acoustic.external.<name>`` names) with the
    external model ``name`` at setting ``setting_name`` into ``predictions`` (Parquet, columns as
    ``acoustic_predict``'s), then evaluate them into ``out_dir`` as a trained variant is
    (:func:`ethoflow.acoustic.evaluation.evaluate.evaluate_predictions`: ``detections.parquet``, ``per_tape.csv``,
    ``selections/``, ``pr_curve.csv``, ``metrics.json``).

    Raises:
        InputError: unreadable model file or recordings.
    """
    # local: keeps ethoflow.acoustic.external importable without pandas
    from ethoflow.acoustic.evaluation.evaluate import evaluate_predictions
    from ethoflow.acoustic.inference.predict import StreamOptions, predict_recordings_animal_spot

    ext = cfg.external[name]
    setting = cfg.predict.settings[setting_name]
    predict_recordings_animal_spot(
        ext.file,
        vindex.recording_dicts(),
        setting,
        str(predictions),
        cfg.predict.batch_size,
        cfg.predict.num_threads,
        min_max_norm=ext.min_max_norm,
        stream=StreamOptions(cfg.predict.chunk_s, cfg.corpus.nonfinite),
    )
    evaluate_predictions(cfg, name, setting_name, vindex, predictions, corpus_index, out_dir)
