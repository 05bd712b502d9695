"""The ``build06`` section of ``params.yaml``: df02 + latents -> df03."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from ethoflow.core.params import StrictModel

#: df02 inside a morphseq-style root
MORPHSEQ_DF02 = "metadata/combined_metadata_files/embryo_metadata_df02.csv"
#: latent store inside a morphseq-style data root
MORPHSEQ_LATENTS = "analysis/latent_embeddings/legacy"

DEFAULT_DF02 = "data/processed/vae/df02.parquet"
DEFAULT_LATENTS_ROOT = "data/processed/latents"


class Build06Params(StrictModel):
    """Options of the build06 merge (stage ``build06`` and ``ethoflow build06``).

    Attributes:
        model_name: latent store folder ``<latents_root>/<model_name>/``; ``null``: ``vae.model_name``.
        df02: df02 table (Parquet or CSV); ``null``: the morphseq path under ``morphseq_root`` when
            that is set, else ``data/processed/vae/df02.parquet``.
        latents_root: parent of the model folders; ``null``: ``<data_root>/analysis/latent_embeddings/legacy``
            when ``data_root`` is set, else ``data/processed/latents``.
        morphseq_root: a morphseq-style root with ``metadata/combined_metadata_files/embryo_metadata_df02.csv``.
        data_root: a morphseq-style data root with ``analysis/latent_embeddings/legacy/<model_name>/``.
        experiments: experiments to merge; ``null``: every ``experiment_date`` of df02.
        experiment_column: df02 column naming the experiment.
        z_schema: ``auto`` (every ``z_mu_*`` column present: flat and/or bio/nuisance), ``flat``
            (``z_mu_XX`` only, required) or ``bio_nuisance`` (``z_mu_b_XX`` and ``z_mu_n_XX``, required).
        z_dtype: type of the z columns in df03; ``float32`` (what the VAE computes; half the memory)
            or ``float64`` (for external latents written with more precision).
        generate_missing_latents: embed experiments without a latent file through vae_embed
            (``vae_checkpoint`` + ``activity_store``); otherwise warn and merge what exists.
        vae_checkpoint: model for ``generate_missing_latents``; ``null``: ``models/vae/<model_name>/model.pt``.
        activity_store: store for ``generate_missing_latents``.
        out: df03 Parquet path; the CSV (``write_csv``) and the sidecar JSON sit beside it.
        write_csv: also write ``<out stem>.csv``.
        coverage_report: coverage JSON (overall and per experiment).
        coverage_warn: warn when a coverage (overall or per experiment) is below this fraction.
        analysis_root: when set, also write ``<analysis_root>/df03_{experiment}.csv`` per experiment.
        train_metadata: optional table (CSV/Parquet) left-joined on ``train_metadata_on``.
        train_metadata_on: join key of ``train_metadata`` (a df02 column).
        overwrite: replace existing outputs that DVC does not manage (the CLI's outputs, analysis copies).
        dry_run: list what would be read and written; write nothing.
    """

    model_name: str | None = None
    df02: str | None = None
    latents_root: str | None = None
    morphseq_root: str | None = None
    data_root: str | None = None
    experiments: list[str] | None = None
    experiment_column: str = "experiment_date"
    z_schema: Literal["auto", "flat", "bio_nuisance"] = "auto"
    z_dtype: Literal["float32", "float64"] = "float32"
    generate_missing_latents: bool = False
    vae_checkpoint: str | None = None
    activity_store: str = "data/interim/hbehave/activity.zarr"
    out: str = "data/processed/df03.parquet"
    write_csv: bool = True
    coverage_report: str = "data/processed/df03_coverage.json"
    coverage_warn: float = Field(0.95, ge=0.0, le=1.0)
    analysis_root: str | None = None
    train_metadata: str | None = None
    train_metadata_on: str = "snip_id"
    overwrite: bool = False
    dry_run: bool = False

    @field_validator("out")
    @classmethod
    def _parquet(cls, v: str) -> str:
        if not v.endswith(".parquet"):
            raise ValueError("out must end in .parquet (the CSV is written beside it)")
        return v
