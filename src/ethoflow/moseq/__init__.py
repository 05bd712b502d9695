"""Keypoint-MoSeq pipeline: load keypoints, remove outliers, PCA, kappa-searched AR-HMM and full
model fits (resumable), results and summary.

Modules: ``params`` (the ``moseq`` section), ``io`` (loading, cleaning, kpms config), ``prepare``
(load, outlier removal, PCA), ``search`` (the kappa maths: state record, proposals, outcome; pure
Python), ``kappa`` (one search around the trial fits, top-down, with the resumable loop and state file), ``fit`` (the model fits: trial, final, per
seed), ``durations`` (syllable run lengths), ``results`` (results and summary), ``validation`` and
``plots`` (figures, grid movies), ``jaxcache`` (persistent JAX compilation cache), ``stages`` (one
``run_<stage>`` per DVC stage: the wiring, and the only place fits are dispatched), ``seeds`` (model
selection and the closed kappa loop), ``correction`` (the loop's kappa steps and their slope), ``apply``, ``groups`` (group analysis), ``framerate`` (a file's
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
    "params": ("MoseqComputeOptions", "MoseqParams"),
    "search": ("SearchError", "SearchState", "Trial", "new_state", "propose"),
    "kappa": ("load_or_new", "run_search", "KappaSearch"),
    "durations": ("run_lengths", "syllable_durations"),
    "kpms_warnings": ("show_warning",),
    "stages": (
        "run_moseq_load",
        "run_moseq_outliers",
        "run_moseq_pca",
        "run_moseq_arhmm",
        "run_moseq_full",
        "run_moseq_seeds",
        "run_moseq_results",
        "run_moseq_apply",
        "run_moseq_groups",
        "run_moseq_calibrate",
    ),
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
