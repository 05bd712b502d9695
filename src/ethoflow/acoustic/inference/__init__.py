"""Acoustic inference: per-window probabilities of the variants' tapes (:mod:`.predict`), long tapes read in
chunks (:mod:`.streaming`, shared by predict and detect) and detection sets over unannotated recordings
(:mod:`.detect`).
"""
