"""vae: a compact VAE for behavioural / neural time series, from activity snips to latents.

Stages: ``vae_snips`` (df02), ``vae_train`` (model), ``vae_embed`` (latent store). Importing this
package imports neither torch nor zarr; the names below load their module on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

_API = {
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
    "SnipData": "ethoflow.vae.fitting",
    "import_h5": "ethoflow.vae.fitting",
    "split_datasets": "ethoflow.vae.fitting",
    "KL_SCHEDULES": "ethoflow.vae.fitting",
    "plot_latent_traversal": "ethoflow.vae.plots",
    "train_vae": "ethoflow.vae.train",
    "load_vae": "ethoflow.vae.train",
    "fit_normaliser": "ethoflow.vae.train",
    "split_by_cage": "ethoflow.vae.train",
    "embed_experiments": "ethoflow.vae.embed",
    "latent_columns": "ethoflow.vae.embed",
    "latent_path": "ethoflow.vae.embed",
}

__all__ = sorted(_API)


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'ethoflow.vae' has no attribute {name!r}")
