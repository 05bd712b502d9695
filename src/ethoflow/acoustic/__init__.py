"""Acoustic pipeline: ANIMAL-SPOT-style call segmentation (corpus -> variants -> CNN -> detections -> RF).

Public API: the names in ``__all__``, each imported from its module on first use (the pattern of every
ethoflow subpackage, :mod:`ethoflow.core.lazy`), so ``import ethoflow.acoustic`` loads neither torch nor
librosa. Modules: ``params`` (typed section), ``corpus`` (crowsetta ingestion), ``variants`` (splits, noise
mining, selection tables), ``spectrogram`` (front end, augmentation), ``model`` (ResNet), ``train``,
``predict``, ``streaming`` (long tapes in chunks, shared by predict and detect), ``animal_spot`` (existing ANIMAL-SPOT model files), ``evaluate`` (detections, IoU matching),
``features`` (librosa), ``rf`` (false-alarm filter), ``report``, ``records`` (typed inter-stage files),
``stages`` (one ``run_<stage>`` per DVC stage), ``pipeline`` (run the stages outside DVC).
"""

from ethoflow.core.lazy import lazy_exports

_EXPORTS = {
    "AcousticParams": "ethoflow.acoustic.params",
    "load_acoustic": "ethoflow.acoustic.params",
    "build_corpus": "ethoflow.acoustic.corpus",
    "build_variant": "ethoflow.acoustic.variants",
    "write_variant": "ethoflow.acoustic.variants",
    "power_spectrogram": "ethoflow.acoustic.spectrogram",
    "recording_power": "ethoflow.acoustic.spectrogram",
    "window_batch": "ethoflow.acoustic.spectrogram",
    "CallClassifier": "ethoflow.acoustic.model",
    "train_model": "ethoflow.acoustic.train",
    "load_model": "ethoflow.acoustic.train",
    "predict_recordings": "ethoflow.acoustic.predict",
    "TapeReader": "ethoflow.acoustic.streaming",
    "stream_windows": "ethoflow.acoustic.streaming",
    "load_animal_spot": "ethoflow.acoustic.animal_spot",
    "is_animal_spot_file": "ethoflow.acoustic.animal_spot",
    "chain_windows": "ethoflow.acoustic.evaluate",
    "match_greedy": "ethoflow.acoustic.evaluate",
    "match_hungarian": "ethoflow.acoustic.evaluate",
    "iou_1d": "ethoflow.acoustic.evaluate",
    "merge_intervals": "ethoflow.acoustic.evaluate",
    "choose_postprocess": "ethoflow.acoustic.evaluate",
    "segment_features": "ethoflow.acoustic.features",
    "detection_features": "ethoflow.acoustic.features",
    "fit_filter": "ethoflow.acoustic.rf",
    "train_rf": "ethoflow.acoustic.rf",
    "load_external_filter": "ethoflow.acoustic.rf",
    "filter_detections": "ethoflow.acoustic.rf",
    "build_report": "ethoflow.acoustic.report",
    "run_pipeline": "ethoflow.acoustic.pipeline",
    "VariantIndex": "ethoflow.acoustic.records",
    "TrainSummary": "ethoflow.acoustic.records",
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
