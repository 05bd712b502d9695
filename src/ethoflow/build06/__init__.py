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
    "Build06Params": "ethoflow.build06.params",
    "Build06Result": "ethoflow.build06.build",
    "RunOptions": "ethoflow.build06.build",
    "TrainJoin": "ethoflow.build06.build",
    "build_df03_with_embeddings": "ethoflow.build06.build",
    "coverage_report": "ethoflow.build06.coverage",
    "headline_metrics": "ethoflow.build06.coverage",
    "export_df03_copies_by_experiment": "ethoflow.build06.export",
    "write_output_set": "ethoflow.build06.export",
    "ensure_latents_for_experiments": "ethoflow.build06.latents",
    "find_latent_files": "ethoflow.build06.latents",
    "load_latents": "ethoflow.build06.latents",
    "select_z_columns": "ethoflow.build06.latents",
    "Df03Paths": "ethoflow.build06.layout",
    "resolve_model_dir": "ethoflow.build06.layout",
    "merge_df02_with_embeddings": "ethoflow.build06.merge",
    "merge_train_with_embeddings": "ethoflow.build06.merge",
    "unmatched_latents": "ethoflow.build06.merge",
    "Df03Sidecar": "ethoflow.build06.sidecar",
    "read_sidecar": "ethoflow.build06.sidecar",
    "run_build06": "ethoflow.build06.stages",
    "normalise_snip_ids": "ethoflow.build06.tables",
    "read_table": "ethoflow.build06.tables",
    "resolve_experiments": "ethoflow.build06.tables",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
