"""Keypoint-MoSeq pipeline: load keypoints, remove outliers, PCA, kappa-searched AR-HMM and full
model fits (resumable), results and summary.

Modules: ``params`` (the ``moseq`` section), ``io`` (loading, cleaning, kpms config), ``prepare``
(load, outlier removal, PCA), ``search`` (pure kappa search), ``kappa`` (the search around the trial
fits), ``fit`` (the model fits: trial, final, per seed), ``results`` (results and summary), ``plots``,
``jaxcache`` (persistent JAX compilation cache), ``stages`` (one ``run_<stage>`` per DVC stage: the
wiring, and the only place fits are dispatched).
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
