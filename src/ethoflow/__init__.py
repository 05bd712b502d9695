"""ethoflow: DVC-managed, reproducible pipelines for animal-behaviour machine learning.

Subpackages: ``core`` (params, io, logging, progress, stage helpers), ``dispatch`` (submitit),
and one per pipeline: ``acoustic``, ``moseq``, ``hbehave``, ``vae``, ``build06``, plus ``demo``.
Nothing happens at import time.
"""

__version__ = "0.1.0"
