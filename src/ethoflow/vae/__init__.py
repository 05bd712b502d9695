"""vae: a compact VAE for behavioural / neural time series, from activity snips to latents.

Stages: ``vae_snips`` (df02), ``vae_train`` (model), ``vae_embed`` (latent store), wired in ``stages``.
Public API: the names in ``__all__``, each imported from its module on first use (the pattern of every
ethoflow subpackage, :mod:`ethoflow.core.lazy`), so ``import ethoflow.vae`` loads neither torch nor zarr.
"""

from ethoflow.core.lazy import lazy_exports

_EXPORTS = {
    "VAEParams": "ethoflow.vae.params",
    "VAEConfig": "ethoflow.vae.model",
    "TimeSeriesVAE": "ethoflow.vae.model",
    "Encoder": "ethoflow.vae.model",
    "Decoder": "ethoflow.vae.model",
    "reparameterize": "ethoflow.vae.model",
    "count_parameters": "ethoflow.vae.model",
    "kl_divergence": "ethoflow.vae.losses",
    "recon_loss": "ethoflow.vae.losses",
    "vae_loss": "ethoflow.vae.losses",
    "beta_at": "ethoflow.vae.losses",
    "build_df02": "ethoflow.vae.snips",
    "read_df02": "ethoflow.vae.snips",
    "write_df02": "ethoflow.vae.snips",
    "make_snip_id": "ethoflow.vae.snips",
    "load_snip_arrays": "ethoflow.vae.snips",
    "train": "ethoflow.vae.fitting",
    "TrainResult": "ethoflow.vae.fitting",
    "TrainSettings": "ethoflow.vae.fitting",
    "SnipData": "ethoflow.vae.fitting",
    "import_h5": "ethoflow.vae.fitting",
    "split_datasets": "ethoflow.vae.fitting",
    "KL_SCHEDULES": "ethoflow.vae.fitting",
    "plot_latent_traversal": "ethoflow.vae.plots",
    "TraversalGrid": "ethoflow.vae.plots",
    "train_vae": "ethoflow.vae.training",
    "FigurePaths": "ethoflow.vae.training",
    "load_vae": "ethoflow.vae.training",
    "fit_normaliser": "ethoflow.vae.training",
    "split_by_cage": "ethoflow.vae.training",
    "embed_experiments": "ethoflow.vae.embed",
    "latent_columns": "ethoflow.vae.embed",
    "latent_path": "ethoflow.vae.latent_store",
    "TrainSummary": "ethoflow.vae.records",
    "run_vae_snips": "ethoflow.vae.stages",
    "run_vae_train": "ethoflow.vae.stages",
    "run_vae_embed": "ethoflow.vae.stages",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
