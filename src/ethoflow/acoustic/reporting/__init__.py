"""Acoustic reporting: the report tables and headline metrics (:mod:`.report`) and the figures (:mod:`.plots`)."""
