"""build06: merge per-snip VAE latents into df02, giving df03 (stage ``build06``, ``ethoflow build06``).

Needs only pyarrow (torch is imported only to generate missing latents through vae_embed).
"""

from ethoflow.build06.merge import (
    Build06Result,
    Paths,
    coverage,
    ensure_latents,
    find_latent_files,
    join_train_metadata,
    left_join,
    normalise_snip_ids,
    read_latents,
    read_table,
    resolve_experiments,
    resolve_paths,
    run_build06,
    select_z_columns,
)
from ethoflow.build06.params import Build06Params

__all__ = [
    "Build06Params",
    "Build06Result",
    "Paths",
    "coverage",
    "ensure_latents",
    "find_latent_files",
    "join_train_metadata",
    "left_join",
    "normalise_snip_ids",
    "read_latents",
    "read_table",
    "resolve_experiments",
    "resolve_paths",
    "run_build06",
    "select_z_columns",
]
