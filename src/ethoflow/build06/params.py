"""The ``build06`` section of ``params.yaml``: how df02 + latents become df03 (no paths here).

Every path of the DVC stage is written once, in dvc.yaml's ``cmd``; the command ``ethoflow build06``
takes its paths as flags (``--root``, ``--data-root``, ``--df02``, ...). This section holds only the
merge options that both share.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from ethoflow.core.params import StrictModel

_PATH_MOVED = "paths are cmd arguments in dvc.yaml (stage) or flags of `ethoflow build06`; remove this key"


class Build06Params(StrictModel):
    """Options of the build06 merge (stage ``build06`` and ``ethoflow build06``).

    Attributes:
        experiments: experiments to merge; ``null``: every experiment of df02.
        experiment_column: df02 column naming the experiment (default ``experiment_date``).
        z_schema: ``auto`` (every ``z_mu_*`` column: flat and/or bio/nuisance), ``flat``
            (``z_mu_XX`` only, required), ``bio_nuisance`` (``z_mu_b_XX`` and ``z_mu_n_XX``; a store
            with flat columns only stops the run, exit status 2) or ``bio_nuisance_or_flat`` (as
            ``bio_nuisance``, falling back to flat ``z_mu_XX`` with a warning, as morphseq's Build06
            design does).
        z_dtype: type of the z columns in df03: ``float32`` (what the VAE computes) or ``float64``.
        coverage_warn: warn when a coverage (overall or per experiment) is below this fraction.
        allow_partial: an experiment without a latent file is an error (exit status 1) unless this
            is true; then its rows get empty z values and the coverage report counts the missing files.
    """

    renamed_keys: ClassVar[dict[str, str]] = {
        k: _PATH_MOVED
        for k in (
            "df02",
            "latents_root",
            "morphseq_root",
            "data_root",
            "out",
            "coverage_report",
            "analysis_root",
            "train_metadata",
            "vae_checkpoint",
            "activity_store",
        )
    } | {
        "model_name": "the stage takes --model-name ${vae.model_name} in dvc.yaml; the command takes --model-name",
        "generate_missing_latents": "vae_embed covers every df02 experiment in the DVC chain; outside it use "
        "`ethoflow build06 --generate-missing-latents`",
        "write_csv": "the stage always writes df03.csv (a DVC out); the command takes --no-csv",
        "train_metadata_on": "the training join is on snip_id (`ethoflow build06 --train-name`)",
        "overwrite": "a flag of `ethoflow build06` (--overwrite); DVC owns the stage's outputs",
        "dry_run": "a flag of `ethoflow build06` (--dry-run)",
    }

    experiments: list[str] | None = None
    experiment_column: str = "experiment_date"
    z_schema: Literal["auto", "flat", "bio_nuisance", "bio_nuisance_or_flat"] = "auto"
    z_dtype: Literal["float32", "float64"] = "float32"
    coverage_warn: float = Field(0.95, ge=0.0, le=1.0)
    allow_partial: bool = False
