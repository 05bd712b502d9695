"""Acoustic evaluation: IoU matching and event counts (:mod:`.matching`), thresholds and chaining of windows
into detections (:mod:`.chaining`), the post-processing choice on validation tapes (:mod:`.postprocess`),
PR curves, layer outputs and the ``acoustic_evaluate`` stage (:mod:`.evaluate`), and the random-forest
false-alarm filter (:mod:`.rf`).
"""
