"""Keypoint-MoSeq pipeline: load keypoints, remove outliers, PCA, kappa-searched AR-HMM and full
model fits (resumable), results and summary.

Modules: ``params`` (the ``moseq`` section), ``io`` (loading, cleaning, kpms config), ``prepare``
(load, outlier removal, PCA), ``search`` (the kappa maths: state record, proposals, outcome; pure
Python), ``kappa`` (one search around the trial fits, top-down, with the resumable loop and state file), ``fit`` (the model fits: trial, final, per
seed), ``durations`` (syllable run lengths), ``results`` (results and summary), ``validation`` and
``plots`` (figures, grid movies), ``jaxcache`` (persistent JAX compilation cache), ``stages`` (one
``run_<stage>`` per DVC stage: the wiring, and the only place fits are dispatched), ``seeds`` (model
selection and the closed kappa loop), ``apply``, ``groups`` (group analysis), ``framerate`` (a file's
own frame rate checked), ``calibration`` (noise calibration from labelled frames), ``records`` (the
fit specs), ``kpms_warnings``.

Public API: the names in ``__all__``, each imported from its module on first use (the pattern of every
ethoflow subpackage, :mod:`ethoflow.core.lazy`), so nothing heavy (jax, keypoint-moseq) is imported at
package import.

keypoint-moseq replaces ``warnings.formatwarning`` at import with one that prints the bare message;
every moseq process installs :func:`~ethoflow.moseq.kpms_warnings.show_warning` as
``warnings.showwarning`` (see :mod:`ethoflow.moseq.kpms_warnings`), so every warning names its category
and source.
"""

from ethoflow.core.lazy import lazy_exports

_EXPORTS = {
    "MoseqComputeOptions": "ethoflow.moseq.params",
    "MoseqParams": "ethoflow.moseq.params",
    "SearchError": "ethoflow.moseq.search",
    "SearchState": "ethoflow.moseq.search",
    "Trial": "ethoflow.moseq.search",
    "load_or_new": "ethoflow.moseq.kappa",
    "new_state": "ethoflow.moseq.search",
    "propose": "ethoflow.moseq.search",
    "run_search": "ethoflow.moseq.kappa",
    "KappaSearch": "ethoflow.moseq.kappa",
    "run_lengths": "ethoflow.moseq.durations",
    "syllable_durations": "ethoflow.moseq.durations",
    "show_warning": "ethoflow.moseq.kpms_warnings",
    "run_moseq_load": "ethoflow.moseq.stages",
    "run_moseq_outliers": "ethoflow.moseq.stages",
    "run_moseq_pca": "ethoflow.moseq.stages",
    "run_moseq_arhmm": "ethoflow.moseq.stages",
    "run_moseq_full": "ethoflow.moseq.stages",
    "run_moseq_seeds": "ethoflow.moseq.stages",
    "run_moseq_results": "ethoflow.moseq.stages",
    "run_moseq_apply": "ethoflow.moseq.stages",
    "run_moseq_groups": "ethoflow.moseq.stages",
    "run_moseq_calibrate": "ethoflow.moseq.stages",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
