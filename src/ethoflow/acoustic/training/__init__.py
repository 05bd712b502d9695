"""Acoustic training: the window classifier (:mod:`.train`), the framewise detector
(:mod:`.framewise_training`) and the learning-curve points (:mod:`.learning_curve`).
"""
