"""Keypoint-MoSeq pipeline: load keypoints, remove outliers, PCA, kappa-searched AR-HMM and full
model fits (resumable), results and summary.

Modules: ``params`` (the ``moseq`` section), ``io`` (loading, cleaning, kpms config), ``prepare``
(load, outlier removal, PCA), ``search`` (pure kappa search), ``kappa`` (the search around the trial
fits), ``fit`` (the model fits: trial, final, per seed), ``results`` (results and summary), ``plots``,
``jaxcache`` (persistent JAX compilation cache), ``stages`` (one ``run_<stage>`` per DVC stage: the
wiring, and the only place fits are dispatched), ``seeds`` (model selection and the closed kappa
loop), ``apply``, ``groups`` (group analysis), ``framerate`` (a file's own frame rate checked),
``calibration`` (noise calibration from labelled frames).
Nothing heavy (jax, keypoint-moseq) is imported at package import.

keypoint-moseq replaces ``warnings.formatwarning`` at import with one that prints the bare message
(no category, file or line: ``invalid value encountered in divide`` naming no source). Importing this
package installs :func:`show_warning` as ``warnings.showwarning``, which Python calls whatever
``formatwarning`` is, so every warning names its category and source.
"""

import sys
import warnings

from ethoflow.moseq.params import MoseqComputeOptions, MoseqParams
from ethoflow.moseq.search import SearchError, SearchState, Trial, load_or_new, new_state, propose, run_search


def show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """``warnings.showwarning`` that names the source: ``<file>:<line>: <Category>: <message>``."""
    out = file if file is not None else sys.stderr
    if out is None:
        return
    try:
        out.write(f"{filename}:{lineno}: {category.__name__}: {message}\n")
    except OSError:
        pass


warnings.showwarning = show_warning

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
