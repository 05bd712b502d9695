"""Typed ``hbehave`` section of ``params.yaml`` (no torch/zarr imports here).

Sections: ``demo`` (seeded Digital Ventilated Cage-like cages), ``zarr`` (ingest rules, normalisation, train/val split),
``model`` (hBehaveMAE architecture, with the names of the published configuration), ``train``,
``extract``, ``heatmaps`` and ``actogram``.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field, field_validator, model_validator

from ethoflow.core.params import HourOfDay, StrictModel, check_light_phase


class DemoParams(StrictModel):
    """Seeded demo generator of Digital-Ventilated-Cage-like activity (see ``ethoflow.demo.hbehave``).

    Attributes:
        seed: generator seed (same params = same bytes).
        n_cages: number of cages.
        n_days: days per cage (1440 minutes each).
        start: first minute, ``YYYY-MM-DD HH:MM``.
        strains: strains assigned to cages in turn (strain differences in activity level and bouts).
        electrodes: electrodes per cage (a Digital Ventilated Cage rack cage has 12).
        gap_prob: probability that a cage has a recording gap (30-180 missing minutes).
        duplicate_rows: duplicated minutes per cage (some identical, some conflicting).
        bad_values: non-numeric cells per cage (``ERR``) and empty cells.
        swapped_rows: adjacent row pairs swapped per cage (unsorted rows).
    """

    seed: int = 0
    n_cages: int = Field(4, ge=1)
    n_days: int = Field(3, ge=1)
    start: str = "2024-03-04 00:00"
    strains: list[str] = Field(default_factory=lambda: ["C57BL/6J", "BALB/cJ"], min_length=1)
    electrodes: int = Field(12, ge=1)
    gap_prob: float = Field(0.5, ge=0, le=1)
    duplicate_rows: int = Field(3, ge=0)
    bad_values: int = Field(2, ge=0)
    swapped_rows: int = Field(1, ge=0)

    @field_validator("start", mode="before")
    @classmethod
    def _start_text(cls, v):
        # An unquoted `start: 2024-03-04 00:00:00` is a YAML timestamp; keep the documented text form.
        if isinstance(v, dt.datetime):
            return v.isoformat(" ", "minutes" if v.second == 0 and v.microsecond == 0 else "seconds")
        if isinstance(v, dt.date):
            return f"{v.isoformat()} 00:00"
        return v


class ZarrParams(StrictModel):
    """Ingest of raw activity into the Zarr store (stage ``hbehave_zarr``).

    Attributes:
        input_format: ``dvc_csv`` (Digital Ventilated Cage export: per-cage ``{cage_id}.csv`` with ``timestamp, v_1..v_N`` plus a
            summary CSV) or ``dam`` (Drosophila Activity Monitor DAM2/DAM5 text files).
        input_dir: folder with the per-cage CSVs or the DAM files (a DVC dependency).
        summary_file: summary CSV inside ``input_dir`` (``cage_id, from_tpt, to_tpt, strain,
            nb_animals, age`` ...); optional for DAM (per-tube metadata, cage ids like ``M014_ch01``).
        dam_glob: file pattern of DAM monitor files inside ``input_dir``.
        dam_layout: ``per_tube`` (each of the 32 tubes is a cage with one channel: one fly = one
            animal, like one Digital Ventilated Cage) or ``per_monitor`` (one cage per monitor file, 32 channels).
        dam_interval_min: DAM reading interval in minutes; ``null`` detects it (median step).
        dam_interval_s: DAM reading interval in seconds (e.g. ``131`` for a DAM5 setting), instead of
            ``dam_interval_min``; ``null`` detects it (median step between valid readings, seconds). A
            whole number of minutes places each reading on its minute; any other interval is resampled
            to minutes by overlap (each count spread over the seconds its reading covers).
        dam_data_type: DAM5 (multibeam) rows read as counts: the data type in column 8, ``CT`` (total
            counts) by default, or ``C1``-``C4``, ``D1``-``D4``, ``Pn`` (case-insensitive); the other
            types' rows are left out, never averaged in. DAM2 files have no data type (ignored).
        dam_max_count: largest plausible count per tube and reading; a larger one is a bad count.
        dam_min_valid_fraction: a resampled minute (overlap) is valid when valid readings cover at
            least this fraction of it (0-1]; its count is then scaled to a full minute.
        dam_on_bad_row: a DAM row with the wrong column count, an unparseable date or time, a
            non-integer status, or a count that is non-numeric, negative or above ``dam_max_count``:
            ``fail`` stops the stage naming file, line and column; ``skip`` leaves the row out (a bad
            count: that tube's value of that reading only) and reports every problem (stage log and
            ``zarr_report.json``). A DAM5 reading whose ``dam_data_type`` row is missing (other
            data types present at that time) is such a problem too, named by its time.
        dam_on_duplicate: two DAM readings with the same time stamp and different counts or status:
            ``fail`` stops the stage naming both lines; ``mean``, ``first`` or ``last`` merges them so
            (logged with the counts, in ``zarr_report.json``). Identical repeats are always merged.
        duplicates: rule for several rows with the same minute: ``mean`` (of the valid values per
            channel), ``first``, ``last`` (in file order) or ``error``.
        missing_in_summary: cages with a CSV but no summary row: ``keep`` (metadata unknown,
            reported) or ``error``. Summary rows without a CSV are always reported.
        normalisation: z-score statistics ``per_electrode`` or ``global``, fitted on training cages.
        val_fraction: fraction of cages held out for validation (at least one cage stays in train).
        val_cages: explicit validation cage ids (overrides ``val_fraction``).
        split_seed: seed of the cage split.
        chunk_minutes: Zarr chunk length along time (a day by default: window reads touch few chunks).
    """

    input_format: Literal["dvc_csv", "dam"] = "dvc_csv"
    input_dir: str = "data/raw/hbehave/demo"
    summary_file: str | None = "summary.csv"
    dam_glob: str = "*.txt"
    dam_layout: Literal["per_tube", "per_monitor"] = "per_tube"
    dam_interval_min: int | None = Field(None, ge=1)
    dam_interval_s: int | None = Field(None, ge=1)
    dam_data_type: str = "CT"
    dam_max_count: int = Field(1000, ge=1)
    dam_min_valid_fraction: float = Field(0.5, gt=0, le=1)
    dam_on_bad_row: Literal["fail", "skip"] = "fail"
    dam_on_duplicate: Literal["fail", "mean", "first", "last"] = "fail"
    duplicates: Literal["mean", "first", "last", "error"] = "mean"
    missing_in_summary: Literal["keep", "error"] = "keep"
    normalisation: Literal["per_electrode", "global"] = "per_electrode"
    val_fraction: float = Field(0.25, ge=0, lt=1)
    val_cages: list[str] | None = None
    split_seed: int = 0
    chunk_minutes: int = Field(1440, ge=1)

    @field_validator("dam_data_type")
    @classmethod
    def _data_type(cls, v: str) -> str:
        v = str(v).strip()
        if v.upper() not in {"CT", "C1", "C2", "C3", "C4", "D1", "D2", "D3", "D4", "PN", "PNF"}:
            raise ValueError(
                f"{v!r} is not a DAM5 data type read per tube: CT (counts), C1-C4, D1-D4, Pn "
                "(TA rows hold 32 rows per reading and are not read)"
            )
        return v

    @model_validator(mode="after")
    def _one_interval(self):
        if self.dam_interval_min is not None and self.dam_interval_s is not None:
            raise ValueError("set dam_interval_s or dam_interval_min, not both (null detects the interval)")
        return self


def parse_q_strides(text: str) -> list[tuple[int, int, int]]:
    """``"6,1,1;4,1,1"`` -> ``[(6, 1, 1), (4, 1, 1)]`` (the published hBehaveMAE notation)."""
    if text is None or str(text).strip() == "":
        return []
    out = []
    for part in str(text).split(";"):
        vals = [int(v) for v in part.split(",")]
        if len(vals) != 3 or any(v < 1 for v in vals):
            raise ValueError(f"q_strides entry {part!r} is not three positive integers 'T,H,W'")
        out.append(tuple(vals))
    return out


def _ints(value, n: int | None = None, name: str = "") -> list[int]:
    if isinstance(value, str):
        value = [int(v) for v in value.replace(",", " ").split()]
    if isinstance(value, int):
        value = [value]
    vals = [int(v) for v in value]
    if n is not None and len(vals) != n:
        raise ValueError(f"{name} needs {n} integers, got {vals}")
    return vals


class ModelParams(StrictModel):
    """hBehaveMAE architecture (Stoffl et al., ECCV 2024), with the published parameter names.

    Attributes:
        input_size: ``(T, H, W)`` of one window: minutes, 1, electrodes (``"1440 1 12"`` or a list).
        patch_kernel: Conv3d patch embedding kernel = stride ``(t, h, w)``.
        stages: transformer blocks per stage (``"2 3 4"``).
        q_strides: query pooling strides between stages, ``"6,1,1;4,1,1"`` (len(stages) - 1 entries).
        mask_unit_attn: per stage, ``true`` for attention within mask units, ``false`` for global
            attention (``null``: mask-unit attention in the first stage only, as Hiera does).
        init_embed_dim: width of stage 1 (doubles per stage unless ``out_embed_dims`` is given).
        init_num_heads: heads of stage 1 (doubled with the width).
        out_embed_dims: explicit widths per stage (the Digital Ventilated Cage 4-week preset uses it).
        out_num_heads: explicit heads per stage (``null``: ``init_num_heads`` doubled per stage).
        mlp_ratio: MLP hidden width / width.
        mask_ratio: fraction of mask units hidden from the encoder during training.
        decoder: ``single`` (from the last level) or ``multi`` (all levels fused).
        decoder_embed_dim, decoder_depth, decoder_num_heads: the MAE decoder.
        norm_pix_loss: per-patch normalised targets (MAE's ``norm_pix_loss``).
    """

    input_size: list[int] = Field(default_factory=lambda: [1440, 1, 12])
    patch_kernel: list[int] = Field(default_factory=lambda: [5, 1, 12])
    stages: list[int] = Field(default_factory=lambda: [1, 1, 1])
    q_strides: str = "6,1,1;4,1,1"
    mask_unit_attn: list[bool] | None = None
    init_embed_dim: int = Field(32, ge=1)
    init_num_heads: int = Field(1, ge=1)
    out_embed_dims: list[int] | None = None
    out_num_heads: list[int] | None = None
    mlp_ratio: float = Field(4.0, gt=0)
    mask_ratio: float = Field(0.75, ge=0, lt=1)
    decoder: Literal["single", "multi"] = "multi"
    decoder_embed_dim: int = Field(32, ge=1)
    decoder_depth: int = Field(1, ge=0)
    decoder_num_heads: int = Field(1, ge=1)
    norm_pix_loss: bool = False

    @field_validator("input_size", "patch_kernel", mode="before")
    @classmethod
    def _three_ints(cls, v, info):
        return _ints(v, 3, info.field_name)

    @field_validator("stages", "out_embed_dims", "out_num_heads", mode="before")
    @classmethod
    def _int_list(cls, v, info):
        return None if v is None else _ints(v, None, info.field_name)

    @field_validator("q_strides")
    @classmethod
    def _q(cls, v):
        parse_q_strides(v)
        return v

    @model_validator(mode="after")
    def _lengths(self):
        n = len(self.stages)
        if len(parse_q_strides(self.q_strides)) != n - 1:
            raise ValueError(
                f"q_strides has {len(parse_q_strides(self.q_strides))} entries; stages has {n} stages, needs {n - 1}"
            )
        if self.out_embed_dims is not None and len(self.out_embed_dims) != n:
            raise ValueError(f"out_embed_dims has {len(self.out_embed_dims)} entries, stages has {n}")
        if self.out_num_heads is not None and len(self.out_num_heads) != n:
            raise ValueError(f"out_num_heads has {len(self.out_num_heads)} entries, stages has {n}")
        if self.mask_unit_attn is not None and len(self.mask_unit_attn) != n:
            raise ValueError(f"mask_unit_attn has {len(self.mask_unit_attn)} entries, stages has {n}")
        return self


class TrainParams(StrictModel):
    """Training of hBehaveMAE (stage ``hbehave_train``).

    Attributes:
        seed: seed of weights, window sampling and masks.
        epochs: passes over the training windows.
        batch_size: windows per optimisation step (per process under DDP).
        window_stride_min: stride between training windows (minutes).
        lr, weight_decay, betas: AdamW.
        warmup_epochs: linear warm-up before the cosine decay (fraction of an epoch allowed).
        min_lr: floor of the cosine decay.
        min_valid_fraction: windows with less valid data are skipped.
        max_windows: cap on training windows per epoch (``null``: all).
        checkpoint_every: save a resumable checkpoint every N steps (and at each epoch end).
    """

    seed: int = 0
    epochs: int = Field(2, ge=1)
    batch_size: int = Field(8, ge=1)
    window_stride_min: int = Field(360, ge=1)
    lr: float = Field(1e-3, gt=0)
    min_lr: float = Field(1e-5, ge=0)
    weight_decay: float = Field(0.05, ge=0)
    betas: list[float] = Field(default_factory=lambda: [0.9, 0.95])
    warmup_epochs: float = Field(0.5, ge=0)
    min_valid_fraction: float = Field(0.5, ge=0, le=1)
    max_windows: int | None = Field(None, ge=1)
    checkpoint_every: int = Field(50, ge=1)


class ExtractParams(StrictModel):
    """Embedding extraction (stage ``hbehave_extract``, ``foreach`` over ``aggregations``).

    Attributes:
        model: the checkpoint extraction reads (a DVC dependency of ``hbehave_extract``): ethoflow's own
            (``models/hbehave/model.pt``, written by ``hbehave_train``) or a checkpoint of the authors'
            BehaveMAE code (``main_pretrain.py``'s ``checkpoint-*.pth``; read with ``hbehave.pretrained``),
            told apart by their contents. Another path than ``hbehave_train``'s output takes training out
            of the DAG.
        aggregations: name -> window length in minutes (``1day: 1440``): the trained window length
            or any multiple of the mask-unit span (longer context; time positions interpolated).
        window_stride_min: stride S between windows; tokens spread back to minutes and overlapping
            windows averaged (S = window: no overlap).
        batch_size: windows per forward pass.
        precision: ``auto`` (bf16 autocast on GPU, fp32 on CPU), ``fp32``, ``fp16``, ``bf16``.
    """

    model: str = "models/hbehave/model.pt"
    aggregations: dict[str, int] = Field(default_factory=lambda: {"1day": 1440})
    window_stride_min: int = Field(360, ge=1)
    batch_size: int = Field(16, ge=1)
    precision: Literal["auto", "fp32", "fp16", "bf16"] = "auto"


class PretrainedArchitecture(StrictModel):
    """Architecture arguments of a BehaveMAE checkpoint, as the authors' ``main_pretrain.py`` and its
    extraction script take them (their meaning, not ``hbehave.model``'s: stage widths start at
    ``init_embed_dim`` and double per stage, heads likewise; ``out_embed_dims`` are the widths of the
    per-level projections, i.e. of the embeddings). ``null``: taken from the ``args`` the checkpoint was
    saved with; a value set here must agree with them.

    Attributes:
        input_size: ``(T, H, W)`` of one window (``"40320 1 12"`` or a list).
        patch_kernel: patch embedding kernel = stride ``(t, h, w)``.
        stages: blocks per stage (``"2 3 4 4 5 5 6"``).
        q_strides: pooling between stages, ``"6,1,1;4,1,1;..."``.
        mask_unit_attn: per stage, mask-unit (``true``) or global attention.
        init_embed_dim, init_num_heads: width and heads of stage 1.
        out_embed_dims: per-level embedding widths (``"128 160 192 192 224 224 256"``).
        sep_pos_embed: the checkpoint holds separate temporal/spatial positional embeddings
            (``--sep_pos_embed``); ``null``: from its args, else from its keys.
    """

    input_size: list[int] | None = None
    patch_kernel: list[int] | None = None
    stages: list[int] | None = None
    q_strides: str | None = None
    mask_unit_attn: list[bool] | None = None
    init_embed_dim: int | None = Field(None, ge=1)
    init_num_heads: int | None = Field(None, ge=1)
    out_embed_dims: list[int] | None = None
    sep_pos_embed: bool | None = None

    @field_validator("input_size", "patch_kernel", mode="before")
    @classmethod
    def _three_ints(cls, v, info):
        return None if v is None else _ints(v, 3, info.field_name)

    @field_validator("stages", "out_embed_dims", mode="before")
    @classmethod
    def _int_list(cls, v, info):
        return None if v is None else _ints(v, None, info.field_name)

    @field_validator("q_strides")
    @classmethod
    def _q(cls, v):
        if v is not None:
            parse_q_strides(v)
        return v


class PretrainedParams(StrictModel):
    """Extraction with a checkpoint of the authors' BehaveMAE code (used when ``hbehave.extract.model``
    is one; ignored for ethoflow's own checkpoints).

    Attributes:
        stats: the z-score statistics file the model was trained with (``.npy``, the extraction
            script's ``--stats_path``): ``np.save`` of ``{'mean': m, 'std': s}`` (one value, or one per
            channel), an array ``[mean, std]`` or ``[[mean...], [std...]]``, or an ``.npz`` with ``mean``
            and ``std``. Read without unpickling code. Required when ``normalise`` is true.
        normalise: z-score the activity with ``stats`` (invalid minutes then 0); ``false`` feeds the raw
            values (invalid minutes 0), for models trained on unnormalised data.
        architecture: the architecture arguments (:class:`PretrainedArchitecture`).
    """

    stats: str | None = None
    normalise: bool = True
    architecture: PretrainedArchitecture = Field(default_factory=PretrainedArchitecture)


class HeatmapParams(StrictModel):
    """Day/night heatmaps (stage ``hbehave_heatmaps``).

    Attributes:
        day_start_hour: lights on, hours after midnight (0-24; 6.5 is 06:30). The light phase is
            ``[day_start_hour, day_end_hour)``; it wraps midnight when ``day_start_hour > day_end_hour``.
            Same key and meaning as ``vae.snips.day_start_hour``.
        day_end_hour: lights off, hours after midnight (0-24).
        max_dims: embedding dimensions drawn per heatmap (evenly spaced when a level has more).
        max_cages: draw at most this many cages (sorted ids); the summary table covers all.
        dpi: figure resolution.

    Raises (on validation):
        ValueError: an hour outside 0-24 or written as ``"HH:MM"``, or equal start and end (ambiguous;
            0 and 24 is constant light, 24 and 0 constant dark). The old keys ``day_start``/``day_end``
            are unknown keys whose message names the new key.
    """

    renamed_keys = {
        "day_start": "renamed: use day_start_hour, hours as a number, e.g. 7 or 6.5 for 06:30",
        "day_end": "renamed: use day_end_hour, hours as a number, e.g. 19 or 18.5 for 18:30",
    }

    day_start_hour: HourOfDay = 7.0
    day_end_hour: HourOfDay = 19.0
    max_dims: int = Field(32, ge=1)
    max_cages: int | None = Field(None, ge=1)
    dpi: int = Field(80, ge=20)

    @model_validator(mode="after")
    def _phase_not_empty(self):
        check_light_phase(self.day_start_hour, self.day_end_hour)
        return self


class ActogramParams(StrictModel):
    """Double-plotted actograms per cage, a QC figure of the store (stage ``hbehave_actograms``).

    The light/dark shading uses ``hbehave.heatmaps.day_start_hour`` / ``day_end_hour`` (one light phase
    for the whole hbehave pipeline).

    Attributes:
        bin_min: minutes per bar (a divisor of 1440: 1, 5, 10, 15, 30, 60, ...); a bar is the mean
            activity per valid minute of its bin.
        max_cages: draw at most this many cages (sorted ids); ``summary.csv`` covers all.
        dpi: figure resolution.
    """

    bin_min: int = Field(30, ge=1, le=1440)
    max_cages: int | None = Field(None, ge=1)
    dpi: int = Field(80, ge=20)

    @field_validator("bin_min")
    @classmethod
    def _divides_day(cls, v: int) -> int:
        if 1440 % v:
            raise ValueError(f"{v} does not divide a day (1440 minutes) into whole bins; use e.g. 5, 10, 15, 30 or 60")
        return v


class ProbeParams(StrictModel):
    """Linear probe of each level's embeddings against a categorical label (stage ``hbehave_probe@<agg>``;
    see :mod:`ethoflow.hbehave.probe`).

    Attributes:
        label: ``light_phase`` (from ``hbehave.heatmaps``' day window; no table needed) or a column of
            ``labels_file``.
        labels_file: CSV with ``cage_id, start, end`` and one column per label (``start``/``end`` blank:
            the whole cage); null for ``light_phase``.
        bin_min: minutes averaged into one sample per cage (clock bins).
        min_valid_fraction: minutes with a smaller valid fraction are left out.
        folds: cross-validation folds across cages (at most the number of cages; a cage is never in both).
        n_permutations: label permutations (within cages) for the chance macro-F1 and the p-value.
        C: inverse L2 regularisation of the logistic regression.
        seed: seed of the permutations and the solver.
    """

    label: str = "light_phase"
    labels_file: str | None = None
    bin_min: int = Field(60, ge=1, le=1440)
    min_valid_fraction: float = Field(0.5, ge=0.0, le=1.0)
    folds: int = Field(5, ge=2)
    n_permutations: int = Field(20, ge=1)
    C: float = Field(1.0, gt=0)
    seed: int = 0


class HBehaveParams(StrictModel):
    """The ``hbehave`` section of ``params.yaml``."""

    demo: DemoParams = Field(default_factory=DemoParams)
    zarr: ZarrParams = Field(default_factory=ZarrParams)
    model: ModelParams = Field(default_factory=ModelParams)
    train: TrainParams = Field(default_factory=TrainParams)
    extract: ExtractParams = Field(default_factory=ExtractParams)
    pretrained: PretrainedParams = Field(default_factory=PretrainedParams)
    heatmaps: HeatmapParams = Field(default_factory=HeatmapParams)
    actogram: ActogramParams = Field(default_factory=ActogramParams)
    probe: ProbeParams = Field(default_factory=ProbeParams)


# The published 4-week Digital Ventilated Cage configuration (hBehaveMAE, Stoffl et al., ECCV 2024).
VENTILATED_CAGE_4WEEK_PRESET: dict = {
    "input_size": [40320, 1, 12],
    "patch_kernel": [5, 1, 12],
    "stages": [2, 3, 4, 4, 5, 5, 6],
    "q_strides": "6,1,1;4,1,1;3,1,1;4,1,1;2,1,1;2,1,1",
    "out_embed_dims": [128, 160, 192, 192, 224, 224, 256],
    "init_embed_dim": 128,
    "init_num_heads": 2,
    # heads doubled per stage would give 224/64 at stage 6; double while widths allow, then hold.
    "out_num_heads": [2, 4, 8, 8, 8, 8, 8],
    "mask_unit_attn": [True, False, False, False, False, False, False],
    "mask_ratio": 0.75,
    "decoder": "multi",
    "decoder_embed_dim": 128,
    "decoder_depth": 1,
    "decoder_num_heads": 1,
}

PRESETS: dict[str, dict] = {"cpu_1day": ModelParams().model_dump(), "dvc_4weeks": VENTILATED_CAGE_4WEEK_PRESET}
