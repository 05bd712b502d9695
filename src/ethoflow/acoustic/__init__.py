"""Acoustic pipeline: ANIMAL-SPOT-style call segmentation (corpus -> variants -> CNN -> detections -> RF).

Public API: the names in ``__all__``, each imported from its module on first use (the pattern of every
ethoflow subpackage, :mod:`ethoflow.core.lazy`), so ``import ethoflow.acoustic`` loads neither torch nor
librosa. Subpackages by concern: ``data`` (``corpus``: crowsetta ingestion; ``variants``: splits, noise
mining, selection tables), ``frontend`` (``spectrogram``: front end, augmentation; ``features``: librosa),
``models`` (``model``: ResNet; ``framewise``; ``animal_spot``: existing ANIMAL-SPOT model files), ``training``
(``train``, ``framewise_training``, ``learning_curve``), ``inference`` (``predict``; ``streaming``: long tapes in
chunks, shared by predict and detect; ``detect``), ``evaluation`` (``evaluate``: detections, IoU matching;
``rf``: false-alarm filter), ``reporting`` (``report``, ``plots``). Top level: ``params`` (typed section),
``records`` (typed inter-stage files), ``stages`` (one ``run_<stage>`` per DVC stage), ``pipeline`` (run the
stages outside DVC), ``external`` (evaluate an ANIMAL-SPOT model file).
"""

from ethoflow.core.lazy import lazy_exports

_EXPORTS = {
    "params": ("AcousticParams", "load_acoustic"),
    "data.corpus": ("build_corpus",),
    "data.variants": ("build_variant", "write_variant"),
    "frontend.spectrogram": ("power_spectrogram", "recording_power", "window_batch"),
    "models.model": ("CallClassifier",),
    "training.train": ("train_model", "load_model"),
    "inference.predict": ("predict_recordings",),
    "inference.streaming": ("TapeReader", "stream_windows"),
    "models.animal_spot": ("load_animal_spot", "is_animal_spot_file"),
    "evaluation.chaining": ("chain_windows", "merge_intervals"),
    "evaluation.matching": ("match_greedy", "match_hungarian", "iou_1d"),
    "evaluation.postprocess": ("choose_postprocess",),
    "frontend.features": ("segment_features", "detection_features"),
    "evaluation.rf": ("fit_filter", "train_rf", "load_external_filter", "filter_detections"),
    "reporting.report": ("build_report",),
    "pipeline": ("run_pipeline",),
    "records": (
        "VariantIndex",
        "TrainSummary",
        "FitSummary",
        "FramewiseTrainSummary",
        "read_variant_index",
        "read_history",
    ),
    "stages": (
        "run_acoustic_corpus",
        "run_acoustic_variants",
        "run_acoustic_train",
        "run_acoustic_predict",
        "run_acoustic_evaluate",
        "run_acoustic_rf_train",
        "run_acoustic_rf_filter",
        "run_acoustic_report",
    ),
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
