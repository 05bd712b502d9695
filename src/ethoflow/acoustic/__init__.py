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
    "AcousticParams": "ethoflow.acoustic.params",
    "load_acoustic": "ethoflow.acoustic.params",
    "build_corpus": "ethoflow.acoustic.data.corpus",
    "build_variant": "ethoflow.acoustic.data.variants",
    "write_variant": "ethoflow.acoustic.data.variants",
    "power_spectrogram": "ethoflow.acoustic.frontend.spectrogram",
    "recording_power": "ethoflow.acoustic.frontend.spectrogram",
    "window_batch": "ethoflow.acoustic.frontend.spectrogram",
    "CallClassifier": "ethoflow.acoustic.models.model",
    "train_model": "ethoflow.acoustic.training.train",
    "load_model": "ethoflow.acoustic.training.train",
    "predict_recordings": "ethoflow.acoustic.inference.predict",
    "TapeReader": "ethoflow.acoustic.inference.streaming",
    "stream_windows": "ethoflow.acoustic.inference.streaming",
    "load_animal_spot": "ethoflow.acoustic.models.animal_spot",
    "is_animal_spot_file": "ethoflow.acoustic.models.animal_spot",
    "chain_windows": "ethoflow.acoustic.evaluation.chaining",
    "match_greedy": "ethoflow.acoustic.evaluation.matching",
    "match_hungarian": "ethoflow.acoustic.evaluation.matching",
    "iou_1d": "ethoflow.acoustic.evaluation.matching",
    "merge_intervals": "ethoflow.acoustic.evaluation.chaining",
    "choose_postprocess": "ethoflow.acoustic.evaluation.postprocess",
    "segment_features": "ethoflow.acoustic.frontend.features",
    "detection_features": "ethoflow.acoustic.frontend.features",
    "fit_filter": "ethoflow.acoustic.evaluation.rf",
    "train_rf": "ethoflow.acoustic.evaluation.rf",
    "load_external_filter": "ethoflow.acoustic.evaluation.rf",
    "filter_detections": "ethoflow.acoustic.evaluation.rf",
    "build_report": "ethoflow.acoustic.reporting.report",
    "run_pipeline": "ethoflow.acoustic.pipeline",
    "VariantIndex": "ethoflow.acoustic.records",
    "TrainSummary": "ethoflow.acoustic.records",
    "FitSummary": "ethoflow.acoustic.records",
    "FramewiseTrainSummary": "ethoflow.acoustic.records",
    "read_variant_index": "ethoflow.acoustic.records",
    "read_history": "ethoflow.acoustic.records",
    "run_acoustic_corpus": "ethoflow.acoustic.stages",
    "run_acoustic_variants": "ethoflow.acoustic.stages",
    "run_acoustic_train": "ethoflow.acoustic.stages",
    "run_acoustic_predict": "ethoflow.acoustic.stages",
    "run_acoustic_evaluate": "ethoflow.acoustic.stages",
    "run_acoustic_rf_train": "ethoflow.acoustic.stages",
    "run_acoustic_rf_filter": "ethoflow.acoustic.stages",
    "run_acoustic_report": "ethoflow.acoustic.stages",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
