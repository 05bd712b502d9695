"""Acoustic training: the window classifier (:mod:`.train`), the framewise detector
(:mod:`.framewise_training`), what the two share (:mod:`.fitting`: class weights, the engine call, the
summary and the model files) and the learning-curve points (:mod:`.learning_curve`).
"""
