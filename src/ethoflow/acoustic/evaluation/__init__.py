"""Acoustic evaluation: thresholds, chaining, IoU matching, PR curves and post-processing choice
(:mod:`.evaluate`), and the random-forest false-alarm filter (:mod:`.rf`).
"""
