"""Acoustic data: the annotation-format readers (crowsetta ingestion, Raven tables; :mod:`.annotations`), the
annotated corpus (label mapping, event merging; :mod:`.corpus`) and the training variants built from it
(splits, benchmark tapes, noise mining, Raven selection tables; :mod:`.variants`).
"""
