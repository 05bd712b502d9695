"""The ``vae`` section of ``params.yaml`` (no torch import here).

Layout::

    vae:
      model_name: vae_demo        # names models/vae/<model_name>/ and data/processed/latents/<model_name>/
      seed: 0
      snips: {...}                # vae_snips: cutting snips from the activity store, QC thresholds
      model: {...}                # architecture (VAEConfig without seq_len/channels, taken from the data)
      train: {...}                # vae_train: optimisation, beta schedule, validation split, early stopping
      embed: {...}                # vae_embed: inference batch size
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from ethoflow.core.params import HourOfDay, StrictModel, check_light_phase

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class SnipParams(StrictModel):
    """How snips are cut from the activity store (vae_snips).

    Attributes:
        snip_len: snip length in minutes (store rows); the model's ``seq_len``.
        snip_stride: minutes between the starts of consecutive snips (``snip_len``: no overlap).
        min_frac_valid: QC: a snip needs at least this fraction of valid (minute, channel) readings
            for ``use_snip_flag``.
        max_frac_zero: QC: a snip whose valid readings are zero in more than this fraction is flagged
            out (dead electrode / empty tube); 1.0 disables the check.
        day_start_hour: lights on, hours after midnight (0-24; 6.5 is 06:30). The light phase is
            ``[day_start_hour, day_end_hour)`` (wrapping midnight when start > end); a snip whose
            midpoint falls outside it is ``is_night``. Same key and meaning as
            ``hbehave.heatmaps.day_start_hour``; equal start and end are refused.
        day_end_hour: lights off, hours after midnight (0-24).
        default_experiment: ``experiment_date`` for cages whose store attrs have no ``experiment``;
            ``null`` uses the date of the cage's first minute (``YYYYMMDD``).
    """

    snip_len: int = Field(60, ge=2)
    snip_stride: int = Field(60, ge=1)
    min_frac_valid: float = Field(0.8, ge=0.0, le=1.0)
    max_frac_zero: float = Field(1.0, ge=0.0, le=1.0)
    day_start_hour: HourOfDay = 7.0
    day_end_hour: HourOfDay = 19.0
    default_experiment: str | None = None

    @model_validator(mode="after")
    def _phase_not_empty(self):
        check_light_phase(self.day_start_hour, self.day_end_hour)
        return self


class ModelParams(StrictModel):
    """Architecture; see :class:`ethoflow.vae.model.VAEConfig` for the meaning of each field."""

    latent_dim: int = Field(8, ge=1)
    hidden_dim: int = Field(32, ge=1)
    num_layers: int = Field(2, ge=1)
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    encoder: Literal["conv", "gru", "transformer"] = "conv"
    positional_encoding: bool = False
    num_heads: int = Field(2, ge=1)
    nuisance_dims: int = Field(0, ge=0)


class TrainParams(StrictModel):
    """Optimisation (vae_train).

    Attributes:
        epochs: maximum number of epochs.
        batch_size: snips per batch.
        lr: AdamW learning rate.
        weight_decay: AdamW weight decay.
        recon_loss: ``mse`` or ``huber`` (masked; missing samples do not count).
        huber_delta: Huber transition point (normalised units).
        beta: final KL weight.
        beta_schedule: ``linear`` (ramp 0 -> beta over ``warmup_epochs``), ``step`` (0 during warmup,
            then beta) or ``constant``.
        warmup_epochs: KL warm-up length in epochs.
        val_fraction: fraction of cages held out for validation (split by cage, at least one cage
            when there are two or more).
        patience: early stopping: epochs without a validation ELBO improvement of ``min_delta``.
        min_delta: smallest improvement that resets ``patience``.
        grad_clip: gradient-norm clip (0: off).
        only_flagged: train on ``use_snip_flag`` rows only.
        num_threads: torch CPU threads per process (default 1, measured best on shared machines, see
            docs/acoustic.md "threads"; 0: torch's default, all cores).
    """

    epochs: int = Field(20, ge=1)
    batch_size: int = Field(64, ge=1)
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    recon_loss: Literal["mse", "huber"] = "mse"
    huber_delta: float = Field(1.0, gt=0)
    beta: float = Field(1.0, ge=0)
    beta_schedule: Literal["linear", "step", "constant"] = "linear"
    warmup_epochs: int = Field(5, ge=0)
    val_fraction: float = Field(0.25, ge=0.0, lt=1.0)
    patience: int = Field(5, ge=1)
    min_delta: float = Field(0.0, ge=0)
    grad_clip: float = Field(5.0, ge=0)
    only_flagged: bool = True
    num_threads: int = Field(1, ge=0)


class EmbedParams(StrictModel):
    """Inference (vae_embed). ``batch_size`` changes results only in the last float digit
    (matrix-product blocking), but is listed in the stage's params so outputs stay byte-identical."""

    batch_size: int = Field(256, ge=1)


class VAEParams(StrictModel):
    """The whole ``vae`` section."""

    model_name: str = "vae_demo"
    seed: int = 0
    snips: SnipParams = Field(default_factory=SnipParams)
    model: ModelParams = Field(default_factory=ModelParams)
    train: TrainParams = Field(default_factory=TrainParams)
    embed: EmbedParams = Field(default_factory=EmbedParams)

    @field_validator("model_name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError("model_name must be a plain folder name (letters, digits, '.', '_', '-')")
        return v
