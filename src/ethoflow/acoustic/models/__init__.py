"""Acoustic models: the ResNet window classifier (:mod:`.model`), the framewise detector (:mod:`.framewise`)
and the reader of existing ANIMAL-SPOT model files (:mod:`.animal_spot`).
"""
