"""Keypoint-MoSeq pipeline: load keypoints, remove outliers, PCA, kappa-searched AR-HMM and full
model fits (resumable), results and summary.

Modules: ``params`` (the ``moseq`` section), ``io`` (loading, cleaning, kpms config), ``prepare``
(load/outliers/PCA stages), ``search`` (pure kappa search), ``fit`` (trial fits and search stages),
``results`` (results stage), ``plots``, ``jaxcache`` (persistent JAX compilation cache).
Nothing heavy (jax, keypoint-moseq) is imported at package import.
"""

from ethoflow.moseq.params import MoseqComputeOptions, MoseqParams
from ethoflow.moseq.search import SearchError, SearchState, Trial, load_or_new, new_state, propose, run_search

__all__ = [
    "MoseqComputeOptions",
    "MoseqParams",
    "SearchError",
    "SearchState",
    "Trial",
    "load_or_new",
    "new_state",
    "propose",
    "run_search",
]
