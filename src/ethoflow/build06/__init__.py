"""build06: merge per-snip VAE latents into df02, giving df03 (stage ``build06``, ``ethoflow build06``).

Public names follow morphseq's Build06 design (``resolve_model_dir``, ``ensure_latents_for_experiments``,
``load_latents``, ``merge_df02_with_embeddings``, ``merge_train_with_embeddings``,
``export_df03_copies_by_experiment``, ``build_df03_with_embeddings``). Needs only pyarrow; torch is
imported only when ``ethoflow build06 --generate-missing-latents`` embeds missing experiments.
Public API: the names in ``__all__``, each imported from its module on first use (the pattern of every
ethoflow subpackage, :mod:`ethoflow.core.lazy`).
"""

from ethoflow.core.lazy import lazy_exports

_EXPORTS = {
    "params": ("Build06Params",),
    "build": ("Build06Result", "RunOptions", "TrainJoin", "build_df03_with_embeddings"),
    "coverage": ("coverage_report", "headline_metrics"),
    "export": ("export_df03_copies_by_experiment", "write_output_set"),
    "latents": ("ensure_latents_for_experiments", "find_latent_files", "load_latents", "select_z_columns"),
    "layout": ("Df03Paths", "resolve_model_dir"),
    "merge": ("merge_df02_with_embeddings", "merge_train_with_embeddings", "unmatched_latents"),
    "records": ("Build06Paths",),
    "sidecar": ("Df03Sidecar", "read_sidecar"),
    "stages": ("run_build06",),
    "tables": ("normalise_snip_ids", "read_table", "resolve_experiments"),
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
