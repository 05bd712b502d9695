"""Acoustic inference: per-window probabilities of the variants' tapes (:mod:`.predict`), long tapes read in
chunks (:mod:`.streaming`, shared by predict and detect) and detection sets over unannotated recordings
(:mod:`.detect`, with its recordings listed and screened in :mod:`.recordings`, its resume records in
:mod:`.resume` and its optional truth in :mod:`.truth`).
"""
