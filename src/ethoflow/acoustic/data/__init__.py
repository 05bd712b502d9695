"""Acoustic data: the annotated corpus (crowsetta ingestion, label mapping, event merging; :mod:`.corpus`) and the
training variants built from it (splits, benchmark tapes, noise mining, Raven selection tables; :mod:`.variants`).
"""
