"""Where build06 reads and writes: the df03 output set, and the morphseq folder layout.

The morphseq names below are the file names of morphseq's own pipeline (its Build06 design), kept so
a lab coming from morphseq points ethoflow at its existing roots:

- ``<root>/metadata/combined_metadata_files/embryo_metadata_df02.csv`` (df02; df03 is written beside it)
- ``<root>/training_data/<train_name>/embryo_metadata_df_train.csv`` (training metadata) and
  ``.../embryo_metadata_with_embeddings.csv`` (its join with the latents)
- ``<data_root>/analysis/latent_embeddings/legacy/<model_name>/morph_latents_{experiment}.csv``
- ``<data_root>/metadata/metadata_n_embeddings/<model_name>/df03_{experiment}.csv`` (analysis copies)
- ``<data_root>/models/legacy/<model_name>/`` (the model, for generating missing latents)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ethoflow.core.errors import InputError

#: morphseq's df02 inside a pipeline root
MORPHSEQ_DF02 = "metadata/combined_metadata_files/embryo_metadata_df02.csv"
#: morphseq's df03 stem beside df02 (ethoflow writes .parquet, .csv, .json and _coverage.json)
MORPHSEQ_DF03_STEM = "embryo_metadata_df03"
#: morphseq's latent store inside a data root
MORPHSEQ_LATENTS = "analysis/latent_embeddings/legacy"
#: morphseq's per-experiment analysis copies inside a data root
MORPHSEQ_ANALYSIS = "metadata/metadata_n_embeddings"
#: morphseq's models inside a data root
MORPHSEQ_MODELS = "models/legacy"
#: morphseq's training run folder, training metadata and its join with the latents
MORPHSEQ_TRAIN_DIR = "training_data"
MORPHSEQ_TRAIN_METADATA = "embryo_metadata_df_train.csv"
MORPHSEQ_TRAIN_OUT = "embryo_metadata_with_embeddings.csv"
#: the checkpoint file vae_train writes
CHECKPOINT = "model.pt"


@dataclass(frozen=True)
class Df03Paths:
    """The df03 output set: Parquet, optional CSV, sidecar JSON and coverage JSON."""

    parquet: Path
    csv: Path | None
    sidecar: Path
    coverage: Path

    @classmethod
    def beside(cls, parquet: str | os.PathLike, csv: bool = True) -> Df03Paths:
        """``<stem>.parquet``, ``<stem>.csv``, ``<stem>.json`` and ``<stem>_coverage.json`` in one folder.

        Raises:
            InputError: ``parquet`` does not end in ``.parquet``.
        """
        parquet = Path(parquet)
        if parquet.suffix != ".parquet":
            raise InputError(f"{parquet}: the df03 output must end in .parquet (the CSV is written beside it)")
        return cls(
            parquet=parquet,
            csv=parquet.with_suffix(".csv") if csv else None,
            sidecar=parquet.with_suffix(".json"),
            coverage=parquet.with_name(parquet.stem + "_coverage.json"),
        )

    def files(self) -> list[Path]:
        """The paths of the set: Parquet, CSV (if any), sidecar, coverage."""
        return [self.parquet, *([self.csv] if self.csv else []), self.sidecar, self.coverage]


def morphseq_df02(root: str | os.PathLike) -> Path:
    """df02 of a morphseq pipeline root."""
    return Path(root) / MORPHSEQ_DF02


def morphseq_df03(root: str | os.PathLike, csv: bool = True) -> Df03Paths:
    """The df03 set beside df02 in a morphseq pipeline root (``embryo_metadata_df03.*``)."""
    return Df03Paths.beside(morphseq_df02(root).with_name(MORPHSEQ_DF03_STEM + ".parquet"), csv=csv)


def morphseq_latents_dir(data_root: str | os.PathLike, model_name: str) -> Path:
    """``<data_root>/analysis/latent_embeddings/legacy/<model_name>``."""
    return Path(data_root) / MORPHSEQ_LATENTS / model_name


def morphseq_analysis_dir(data_root: str | os.PathLike, model_name: str) -> Path:
    """``<data_root>/metadata/metadata_n_embeddings/<model_name>`` (per-experiment df03 copies)."""
    return Path(data_root) / MORPHSEQ_ANALYSIS / model_name


def morphseq_train_paths(root: str | os.PathLike, train_name: str) -> tuple[Path, Path]:
    """(training metadata, joined output) of ``<root>/training_data/<train_name>/``."""
    folder = Path(root) / MORPHSEQ_TRAIN_DIR / train_name
    return folder / MORPHSEQ_TRAIN_METADATA, folder / MORPHSEQ_TRAIN_OUT


def resolve_model_dir(data_root: str | os.PathLike, model_name: str) -> Path:
    """The folder holding ``model.pt`` for ``model_name`` (used only to generate missing latents).

    Looks in ``<data_root>/models/legacy/<model_name>`` (morphseq layout) and then
    ``<data_root>/<model_name>`` (an ethoflow ``models/vae`` folder passed as root); in each, the
    checkpoint may sit directly or in ``final_model/``.

    Raises:
        InputError: no candidate holds ``model.pt`` (the message lists where it looked).
    """
    tried = []
    for base in (Path(data_root) / MORPHSEQ_MODELS / model_name, Path(data_root) / model_name):
        for folder in (base, base / "final_model"):
            tried.append(folder)
            if (folder / CHECKPOINT).is_file():
                return folder
    raise InputError(
        f"model {model_name!r}: no {CHECKPOINT} in " + ", ".join(str(p) for p in tried) + " (pass --vae-checkpoint)"
    )
