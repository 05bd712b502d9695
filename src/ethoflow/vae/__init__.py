"""vae: a compact VAE for behavioural / neural time series, from activity snips to latents.

Stages: ``vae_snips`` (df02), ``vae_train`` (model), ``vae_embed`` (latent store), wired in ``stages``.
Public API: the names in ``__all__``, each imported from its module on first use (the pattern of every
ethoflow subpackage, :mod:`ethoflow.core.lazy`), so ``import ethoflow.vae`` loads neither torch nor zarr.
"""

from ethoflow.core.lazy import lazy_exports

_EXPORTS = {
    "params": ("VAEParams",),
    "model": ("VAEConfig", "TimeSeriesVAE", "Encoder", "Decoder", "reparameterize", "count_parameters"),
    "losses": ("kl_divergence", "recon_loss", "vae_loss", "beta_at"),
    "snips": ("build_df02", "read_df02", "write_df02", "make_snip_id", "load_snip_arrays"),
    "fitting": ("train", "TrainResult", "TrainSettings", "SnipData", "import_h5", "split_datasets", "KL_SCHEDULES"),
    "plots": ("plot_latent_traversal", "TraversalGrid"),
    "training": ("train_vae", "FigurePaths", "load_vae", "fit_normaliser", "split_by_cage"),
    "embed": ("embed_experiments", "latent_columns"),
    "latent_store": ("latent_path",),
    "records": ("TrainPaths", "TrainSummary"),
    "stages": ("run_vae_snips", "run_vae_train", "run_vae_embed"),
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
