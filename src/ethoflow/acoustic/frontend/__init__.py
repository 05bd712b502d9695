"""Acoustic front end: spectrograms, windows and augmentation (:mod:`.spectrogram`) and the librosa
features of a segment or detection used by the RF post-filter (:mod:`.features`).
"""
