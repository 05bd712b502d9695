"""build06: merge per-snip VAE latents into df02, giving df03 (stage ``build06``, ``ethoflow build06``).

Public names follow morphseq's Build06 design (``resolve_model_dir``, ``ensure_latents_for_experiments``,
``load_latents``, ``merge_df02_with_embeddings``, ``merge_train_with_embeddings``,
``export_df03_copies_by_experiment``, ``build_df03_with_embeddings``). Needs only pyarrow; torch is
imported only when ``ethoflow build06 --generate-missing-latents`` embeds missing experiments.
"""

from ethoflow.build06.build import Build06Result, TrainJoin, build_df03_with_embeddings
from ethoflow.build06.coverage import coverage_report, headline_metrics
from ethoflow.build06.export import export_df03_copies_by_experiment, write_output_set
from ethoflow.build06.latents import (
    ensure_latents_for_experiments,
    find_latent_files,
    load_latents,
    select_z_columns,
)
from ethoflow.build06.layout import Df03Paths, resolve_model_dir
from ethoflow.build06.merge import merge_df02_with_embeddings, merge_train_with_embeddings, unmatched_latents
from ethoflow.build06.params import Build06Params
from ethoflow.build06.sidecar import Df03Sidecar, read_sidecar
from ethoflow.build06.stages import run_build06
from ethoflow.build06.tables import normalise_snip_ids, read_table, resolve_experiments

__all__ = [
    "Build06Params",
    "Build06Result",
    "Df03Paths",
    "Df03Sidecar",
    "TrainJoin",
    "build_df03_with_embeddings",
    "coverage_report",
    "ensure_latents_for_experiments",
    "export_df03_copies_by_experiment",
    "find_latent_files",
    "headline_metrics",
    "load_latents",
    "merge_df02_with_embeddings",
    "merge_train_with_embeddings",
    "normalise_snip_ids",
    "read_sidecar",
    "read_table",
    "resolve_experiments",
    "resolve_model_dir",
    "run_build06",
    "select_z_columns",
    "unmatched_latents",
    "write_output_set",
]
