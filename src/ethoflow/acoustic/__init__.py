"""Acoustic pipeline: ANIMAL-SPOT-style call segmentation (corpus -> variants -> CNN -> detections -> RF).

Submodules (imported lazily; nothing heavy runs at import): ``params``, ``corpus``, ``variants``,
``spectrogram``, ``model``, ``train``, ``predict``, ``evaluate``, ``features``, ``rf``, ``report``.
"""

from ethoflow.acoustic.params import AcousticParams, load_acoustic

__all__ = ["AcousticParams", "load_acoustic"]
