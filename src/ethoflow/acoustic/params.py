"""Typed ``acoustic`` section of ``params.yaml`` (no torch/librosa imports here).

Layout::

    acoustic:
      demo:       synthetic tapes for ``make repro`` (demo_acoustic stage)
      corpus:     annotation sources, label mapping, quality filter, merging, bad-input policy
      variants:   name -> dataset variant (split strategy, seed, noise mining); DVC ``foreach``
      features:   spectrogram front end (ANIMAL-SPOT recipe) shared by training and prediction
      train:      ResNet + linear classifier, Adam, lr decay, early stopping, augmentation
      predict:    settings: name -> {seq_len_s, hop_s}; DVC ``matrix`` variant x setting
      evaluate:   threshold, chaining of windows into detections, IoU matching
      rf:         random-forest false-alarm filter on per-detection librosa features
      detect:     sets: name -> detection set on unannotated recordings; DVC ``foreach``
      external:   name -> an existing (ANIMAL-SPOT) model file evaluated beside the variants; DVC ``matrix``

Why this module is long: one model per subsection above, in that order, with the cross-field checks
between them, so the whole section reads in one file as ``params.yaml`` lays it out.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from ethoflow.core import ParamsError
from ethoflow.core.params import StrictModel, load_section
from ethoflow.core.paths import path_within

ANNOTATION_FORMATS = (
    "raven",
    "aud-seq",
    "aud-bbox",
    "birdsong-recognition-dataset",
    "textgrid",
    "simple-seq",
    "generic-seq",
    "notmat",
)


class DemoParams(StrictModel):
    """Synthetic demo tapes (:mod:`ethoflow.demo.acoustic`).

    Attributes:
        seed: generator seed.
        n_tapes: number of tapes; each tape has ``recordings_per_tape`` WAV files.
        recordings_per_tape: recordings (files) per tape.
        recording_s: length of one recording in seconds.
        sr: sample rate in Hz.
        calls_per_minute: mean call rate (Poisson).
        call_dur_s: [min, max] call duration in seconds.
        f0_hz: [min, max] fundamental frequency in Hz.
        snr_db: [min, max] call level over the background in dB.
        clicks_per_minute: broadband clicks (distractors) per minute.
        whistles_per_minute: pure-tone distractor whistles per minute (not annotated as calls).
        others_per_minute / other_f0_hz: harmonic sounds of "another species" (not annotated).
        heldout_s: length (s) of one extra tape written outside the corpus for the detection demo
            (its annotations go to a separate ``truth`` folder the detector never reads); 0: none.
        heldout_sr: its sample rate (Hz; FLAC), another rate than ``sr`` so detection resamples.
        benchmark_tapes: extra tapes ``B01``, ``B02``, ... in the corpus, drawn like the others after them
            (the first ``n_tapes`` are unchanged), each ``recordings_per_tape`` recordings of
            ``benchmark_recording_s`` seconds; list them in a variant's ``benchmark_tapes`` to evaluate on
            them only (the demo's test set: enough events for a rate with a usable interval).
    """

    seed: int = 7
    n_tapes: int = 6
    recordings_per_tape: int = Field(2, ge=1)
    recording_s: float = Field(20.0, gt=1)
    sr: int = 48000
    calls_per_minute: float = Field(18.0, gt=0)
    call_dur_s: tuple[float, float] = (0.15, 0.9)
    f0_hz: tuple[float, float] = (500.0, 1400.0)
    snr_db: tuple[float, float] = (0.0, 12.0)
    clicks_per_minute: float = 30.0
    whistles_per_minute: float = 6.0
    others_per_minute: float = 15.0
    other_f0_hz: tuple[float, float] = (1100.0, 2000.0)
    heldout_s: float = Field(0.0, ge=0)
    heldout_sr: int = Field(44100, gt=0)
    benchmark_tapes: int = Field(0, ge=0)
    benchmark_recording_s: float = Field(60.0, gt=1)


class SourceParams(StrictModel):
    """One annotation source read with crowsetta.

    Attributes:
        name: source name (prefixes tape ids when ``prefix_tapes``).
        format: crowsetta format name (``raven``, ``aud-seq`` (Audacity labels),
            ``birdsong-recognition-dataset``, ``textgrid``, ...).
        annotations: glob (relative to the project root) of annotation files.
        audio_dir: folder of the audio files; a Raven/Audacity/TextGrid table ``X.Table.1.selections.txt``
            / ``X.txt`` / ``X.TextGrid`` is paired with ``X.<audio_ext>`` there (birdsong-recognition-dataset
            names its files itself).
        audio: one audio file that every table of this source annotates (overrides pairing by name).
        audio_ext: audio file extension.
        label_column: Raven column with the label (crowsetta ``annot_col``).
        quality_column: Raven column with a numeric quality (higher is better), if any.
        tape_regex: regex applied to the audio file stem; group ``tape`` names the tape (several
            recordings of one tape share it). Default: each file is its own tape.
        prefix_tapes: prefix tape ids with ``<name>/``.
    """

    name: str
    format: Literal[ANNOTATION_FORMATS]  # type: ignore[valid-type]
    annotations: str
    audio_dir: str | None = None
    audio: str | None = None
    audio_ext: str = ".wav"
    label_column: str = "Annotation"
    quality_column: str | None = None
    tape_regex: str = r"(?P<tape>.+)"
    prefix_tapes: bool = False


class CorpusParams(StrictModel):
    """acoustic_corpus: which annotations to ingest and how to clean them.

    Attributes:
        data_dir: folder with the recordings and annotations, tracked as the stage's dependency in
            dvc.yaml (``${acoustic.corpus.data_dir}``); every source's ``annotations`` and ``audio_dir``
            must lie inside it (validated), so replacing a file there reruns the stages that read it.
            ``None`` (library use outside DVC): not checked.
        sources: annotation sources.
        label_map: raw label -> class name; ``noise`` marks annotated non-target sounds.
        unmapped: what an unmapped label becomes: ``keep`` (its own class), ``target``, ``noise``
            or ``drop`` (dropped from the classes, but still avoided by noise mining).
        min_quality: drop (as targets) events whose quality is below this (events without a quality
            are kept); dropped events are still avoided by noise mining.
        merge_gap_s: merge events of one class in one recording closer than this (e.g. notes into
            song bouts); ``null``: no merging.
        on_error: ``skip`` (report and leave out bad files/events) or ``fail`` (stop with the report).
        bad_rows: a Raven table row with a cell that is not a number: ``fail`` (the table is bad, its
            problem names the row and column; then ``on_error`` applies) or ``skip`` (only that row is left
            out, and reported). Latin-1 files and decimal commas are read either way.
        nonfinite: a NaN or infinite audio sample (float WAV/FLAC), wherever recordings are read for
            prediction (``acoustic_predict``, ``acoustic_external``, the learning curve), detection
            (``acoustic_detect``) and the RF features: ``fail`` (an error naming the file and the time of the
            first one) or ``skip`` (every window or framewise cell whose samples touch a run of them is left
            out, so no probability is NaN and no detection starts inside it; the samples are read as 0 for
            the rest, and each span is reported with its start/end (s) and sample count).
        overlaps: what to do with annotations of one class in one recording that overlap or nest
            (counted in the corpus report and warned either way): ``keep`` both, ``merge`` them into one
            event spanning both, or ``drop`` the later (or the nested) one.
    """

    data_dir: str | None = None
    sources: list[SourceParams] = Field(default_factory=list)
    label_map: dict[str, str] = Field(default_factory=dict)
    unmapped: Literal["keep", "target", "noise", "drop"] = "target"
    min_quality: float | None = None
    merge_gap_s: float | None = Field(None, ge=0)
    on_error: Literal["skip", "fail"] = "skip"
    bad_rows: Literal["fail", "skip"] = "fail"
    nonfinite: Literal["fail", "skip"] = "fail"
    overlaps: Literal["keep", "merge", "drop"] = "keep"

    @model_validator(mode="after")
    def _inputs_tracked(self) -> CorpusParams:
        if self.data_dir is None:
            return self
        outside = [
            f"sources[{i}].{k}={v!r}"
            for i, src in enumerate(self.sources)
            for k, v in (("annotations", src.annotations), ("audio_dir", src.audio_dir))
            if v is not None and not path_within(v, self.data_dir)
        ]
        if outside:
            raise ValueError(
                f"{', '.join(outside)} outside corpus.data_dir {self.data_dir!r}, the folder DVC "
                "tracks as the corpus/train/predict dependency: set data_dir to a folder that holds them"
            )
        return self


class SplitFractions(StrictModel):
    train: float = Field(0.7, ge=0)
    val: float = Field(0.15, ge=0)
    test: float = Field(0.15, ge=0)

    @model_validator(mode="after")
    def _sum_to_one(self) -> SplitFractions:
        # an error, not a silent renormalisation: {train: 0.7, val: 0.2, test: 0.2} is a typo, and
        # scaling it would give splits the user never wrote down
        total = self.train + self.val + self.test
        if abs(total - 1.0) > 1e-6:
            raise ValueError(
                f"split fractions train + val + test must sum to 1, got {self.train:g} + {self.val:g} + "
                f"{self.test:g} = {total:g} (they are not renormalised)"
            )
        return self


class FrontEndOverride(StrictModel):
    """A variant's front-end overrides (``null``: ``acoustic.features``' value). Units: s, samples, Hz."""

    seq_len_s: float | None = Field(None, gt=0)
    n_fft: int | None = Field(None, gt=0)
    hop_length: int | None = Field(None, gt=0)
    sr: int | None = Field(None, gt=0)


class VariantParams(StrictModel):
    """One training-dataset variant (acoustic_variants@<name>).

    Attributes:
        split: ``random`` (events shuffled, tapes may be shared across splits), ``quality_balanced``
            (random within each quality level, tapes may be shared), ``tape_exclusive`` (whole tapes
            to one split: no tape is shared).
        fractions: train/val/test fractions (of events, or of tapes for ``tape_exclusive``).
        benchmark_tapes: tapes held out of every split (evaluation only).
        seed: seed of splits, noise mining and Bernoulli draws.
        noise_per_target: noise segments mined per target event; the fractional part is a Bernoulli
            draw (1.5: one, plus a second with probability 0.5).
        margin_s: mined noise keeps this distance (seconds) from every annotated event.
        noise_min_s / noise_max_s: noise segments are as long as their target, clipped to
            [noise_min_s, noise_max_s] seconds (``noise_min_s`` null: ``features.seq_len_s``; ``noise_max_s``
            null: no upper limit). Training cuts ``seq_len_s`` windows from them, so long song bouts need
            no equally long silent gaps.
        classes: target classes used (``null``: all in the corpus).
        spectrogram_pngs: write this many example spectrogram PNGs per split (0: none).
        features: this variant's own front end: any of ``seq_len_s``, ``n_fft``, ``hop_length``, ``sr``
            replacing ``acoustic.features`` (as alpaca's ``train_variants.json`` entries do); the model
            file records the front end it was trained with, and prediction/detection read it from there.
        arch: the model trained on this variant: ``resnet`` (window classifier) or ``framewise`` (one pass,
            a probability per frame); ``null``: ``acoustic.train.arch``. Two variants with the same split
            and different ``arch`` put both architectures side by side in the metrics table.
    """

    split: Literal["random", "quality_balanced", "tape_exclusive"] = "tape_exclusive"
    fractions: SplitFractions = Field(default_factory=SplitFractions)
    benchmark_tapes: list[str] = Field(default_factory=list)
    seed: int = 0
    noise_per_target: float = Field(1.0, ge=0)
    margin_s: float = Field(0.25, ge=0)
    noise_min_s: float | None = Field(None, gt=0)
    noise_max_s: float | None = Field(1.0, gt=0)
    classes: list[str] | None = None
    spectrogram_pngs: int = Field(0, ge=0)
    features: FrontEndOverride | None = None
    arch: Literal["resnet", "framewise"] | None = None


class FeatureParams(StrictModel):
    """Spectrogram front end (ANIMAL-SPOT's recipe, written for ethoflow).

    Attributes:
        sr: resample every recording to this rate (Hz).
        preemphasis: pre-emphasis coefficient (0: off).
        n_fft: STFT size (samples); hop_length: STFT hop (samples).
        n_freq_bins: frequency bins after compression; fmin/fmax: band kept (Hz).
        freq_compression: ``linear`` (interpolation of STFT bins) or ``mel``.
        db_floor: dB floor (values below are clipped); ref_db: dB mapped to 1 by ``fixed`` (0 dB: a
            full-scale sine, the STFT is scaled by its window sum).
        normalization: ``fixed`` ((dB - floor) / (ref - floor), clipped to [0, 1]) or ``minmax`` (per window).
        seq_len_s: training window length in seconds.
    """

    sr: int = Field(48000, gt=0)
    preemphasis: float = Field(0.98, ge=0, lt=1)
    n_fft: int = Field(2048, gt=0)
    hop_length: int = Field(1024, gt=0)
    n_freq_bins: int = Field(128, gt=1)
    fmin: float = Field(0.0, ge=0)
    fmax: float = Field(4000.0, gt=0)
    freq_compression: Literal["linear", "mel"] = "linear"
    db_floor: float = -100.0
    ref_db: float = 0.0
    normalization: Literal["fixed", "minmax"] = "minmax"
    seq_len_s: float = Field(0.4, gt=0)

    @model_validator(mode="after")
    def _band(self) -> FeatureParams:
        if self.fmax <= self.fmin:
            raise ValueError(f"fmax ({self.fmax}) must be above fmin ({self.fmin})")
        if self.fmax > self.sr / 2:
            raise ValueError(f"fmax ({self.fmax}) is above the Nyquist frequency of sr {self.sr}")
        return self


class AugmentParams(StrictModel):
    """Training-only augmentation (applied to spectrogram windows).

    Attributes:
        p: probability of each augmentation.
        gain_db: [min, max] amplitude change in dB.
        pitch: [min, max] frequency scaling factor (pitch shift).
        stretch: [min, max] time-stretch factor.
        noise_mix: [min, max] weight of a mined noise window mixed in (power domain).
    """

    enabled: bool = True
    p: float = Field(0.5, ge=0, le=1)
    gain_db: tuple[float, float] = (-6.0, 3.0)
    pitch: tuple[float, float] = (0.9, 1.1)
    stretch: tuple[float, float] = (0.85, 1.15)
    noise_mix: tuple[float, float] = (0.2, 0.6)


class FramewiseParams(StrictModel):
    """The framewise model (``acoustic.train.arch: framewise``; :mod:`ethoflow.acoustic.models.framewise`).

    Attributes:
        width: channels of the first 5x5 convolution block (the second has twice as many).
        hidden: channels of the temporal convolution stack.
        temporal_layers: dilated residual 1-D convolutions (dilations 1, 2, 4, ...).
        kernel: odd kernel size of the temporal convolutions (frames).
        dropout: dropout after each temporal block.
        chunk_s: length of the random training crops (seconds).
        passes: training crops per epoch, in passes over the training frames (crops overlap at random).
    """

    width: int = Field(16, ge=1)
    hidden: int = Field(64, ge=1)
    temporal_layers: int = Field(6, ge=1, le=12)
    kernel: int = Field(3, ge=1)
    dropout: float = Field(0.1, ge=0, lt=1)
    chunk_s: float = Field(4.0, gt=0)
    passes: float = Field(4.0, gt=0)

    @field_validator("kernel")
    @classmethod
    def _odd(cls, v: int) -> int:
        if v % 2 == 0:
            raise ValueError(f"kernel must be odd (symmetric context), got {v}")
        return v


class TrainParams(StrictModel):
    """acoustic_train: ResNet encoder + linear classifier (ANIMAL-SPOT-style).

    Attributes:
        resnet: depth (18, 34; basic blocks). base_width: channels of the first stage (64 as ResNet).
        epochs: maximum epochs; batch_size; lr: Adam learning rate; weight_decay.
        lr_patience_epochs / lr_decay_factor: lr *= factor when the val metric has not improved for
            this many epochs.
        early_stopping_patience_epochs: stop when the val metric has not improved for this many epochs.
        metric: validation metric to maximise (``f1`` of target vs noise, or ``accuracy``).
        seed: torch/numpy seed. num_threads: torch CPU threads per process (default 1, measured best on
            shared machines, see docs/acoustic.md; 0: torch's default, all cores).
        arch: ``resnet`` (the window classifier, ANIMAL-SPOT's design; default) or ``framewise`` (one pass
            over the whole spectrogram, a probability per frame; ``framewise`` holds its settings).
    """

    resnet: Literal[18, 34] = 18
    base_width: int = Field(64, ge=4)
    epochs: int = Field(30, ge=1)
    batch_size: int = Field(16, ge=1)
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    lr_patience_epochs: int = Field(4, ge=1)
    lr_decay_factor: float = Field(0.5, gt=0, le=1)
    early_stopping_patience_epochs: int = Field(8, ge=1)
    metric: Literal["f1", "accuracy"] = "f1"
    seed: int = 0
    num_threads: int = Field(1, ge=0)
    augment: AugmentParams = Field(default_factory=AugmentParams)
    arch: Literal["resnet", "framewise"] = "resnet"
    framewise: FramewiseParams = Field(default_factory=FramewiseParams)


class PredictSetting(StrictModel):
    """One prediction setting: window length and hop (seconds)."""

    seq_len_s: float = Field(0.4, gt=0)
    hop_s: float = Field(0.1, gt=0)


class PredictParams(StrictModel):
    """acoustic_predict: settings (name -> window/hop) form the DVC matrix with the variants."""

    settings: dict[str, PredictSetting] = Field(default_factory=lambda: {"default": PredictSetting()})
    batch_size: int = Field(64, ge=1)
    num_threads: int = Field(1, ge=0)
    chunk_s: float = Field(300.0, gt=0)  # audio per streamed chunk (s): memory, never results

    @field_validator("settings")
    @classmethod
    def _nonempty(cls, v: dict) -> dict:
        if not v:
            raise ValueError("at least one prediction setting is needed")
        return v


AUTO = "auto"


class PostprocessSearch(StrictModel):
    """Candidate values searched for the ``auto`` keys of ``acoustic.evaluate`` (every combination).

    Attributes:
        thresholds: window probability thresholds (0..1).
        min_gap_s: merge gaps shorter than this (s); min_dur_s: drop detections shorter than this (s).
    """

    thresholds: list[float] = Field(default_factory=lambda: [round(0.05 * k, 2) for k in range(1, 20)], min_length=1)
    min_gap_s: list[float] = Field(default_factory=lambda: [0.0, 0.05, 0.1, 0.2, 0.3], min_length=1)
    min_dur_s: list[float] = Field(default_factory=lambda: [0.0, 0.05, 0.1, 0.2], min_length=1)

    @model_validator(mode="after")
    def _ranges(self) -> PostprocessSearch:
        if any(not 0 <= t <= 1 for t in self.thresholds):
            raise ValueError(f"thresholds must lie in [0, 1], got {self.thresholds}")
        if any(v < 0 for v in self.min_gap_s + self.min_dur_s):
            raise ValueError("min_gap_s and min_dur_s candidates must be >= 0")
        return self


class PostprocessDefaults(StrictModel):
    """The post-processing a lab trusts without validation evidence: where ``auto`` starts from, what its
    ties and near-ties go to, and what it falls back to on too few validation events.

    Attributes:
        threshold: window probability threshold (0..1); min_gap_s: merge gap (s); min_dur_s: shortest
            detection kept (s).
    """

    threshold: float = Field(0.5, ge=0, le=1)
    min_gap_s: float = Field(0.1, ge=0)
    min_dur_s: float = Field(0.05, ge=0)


class EvaluateParams(StrictModel):
    """acoustic_evaluate: windows -> detections -> matching.

    Attributes:
        threshold: window probability threshold, or ``auto``: chosen on the variant's validation tapes.
        boundary: ``center`` (each positive window stands for its central hop) or ``full`` (whole window).
        min_gap_s: detections closer than this (s) are joined; min_dur_s: shorter detections (s) are
            dropped. Each may be ``auto`` (chosen with the threshold on the validation tapes).
        search: the candidates tried for the ``auto`` keys.
        defaults: the values ``auto`` shrinks toward and falls back to (:class:`PostprocessDefaults`).
        min_val_events: fewer annotated events than this on the validation tapes: ``auto`` takes
            ``defaults`` (with a warning) instead of searching.
        tolerance_se: ``auto`` takes, among the candidates whose mean validation F1 (over validation
            tapes) is within this many standard errors of the best mean, the one nearest ``defaults``
            (the one-standard-error rule); 0: the best mean, ties to the nearest to ``defaults``.
        min_bout_gap_s: the shortest gap (s) between two events a lab knows of (e.g. 0.3 for Bengalese
            finch song bouts): shorter gaps are always merged, whatever ``min_gap_s`` (fixed or ``auto``;
            ``auto`` searches only candidates >= it). ``null``: no such knowledge.
        iou: IoU needed for a match (1-D, time).
    """

    threshold: float | Literal["auto"] = 0.5
    boundary: Literal["center", "full"] = "center"
    min_gap_s: float | Literal["auto"] = 0.1
    min_dur_s: float | Literal["auto"] = 0.05
    search: PostprocessSearch = Field(default_factory=PostprocessSearch)
    defaults: PostprocessDefaults = Field(default_factory=PostprocessDefaults)
    min_val_events: int = Field(20, ge=0)
    tolerance_se: float = Field(1.0, ge=0)
    min_bout_gap_s: float | None = Field(None, ge=0)
    iou: float = Field(0.4, gt=0, le=1)

    @model_validator(mode="after")
    def _ranges(self) -> EvaluateParams:
        if self.threshold != AUTO and not 0 <= self.threshold <= 1:
            raise ValueError(f"threshold must be in [0, 1] or 'auto', got {self.threshold}")
        for key in ("min_gap_s", "min_dur_s"):
            v = getattr(self, key)
            if v != AUTO and v < 0:
                raise ValueError(f"{key} must be >= 0 or 'auto', got {v}")
        return self

    def merge_gap(self, min_gap_s: float) -> float:
        """The merge gap used for ``min_gap_s`` (s): at least ``min_bout_gap_s`` when that is set."""
        return float(max(min_gap_s, self.min_bout_gap_s or 0.0))

    def auto_keys(self) -> list[str]:
        """The post-processing keys set to ``auto`` (chosen on validation tapes), in a fixed order."""
        return [k for k in ("threshold", "min_gap_s", "min_dur_s") if getattr(self, k) == AUTO]


class RFParams(StrictModel):
    """acoustic_rf_train / acoustic_rf_filter: random forest on per-detection features.

    Attributes:
        fmin/fmax: band of the band-limited STFT features (Hz); n_fft/hop_length in samples at the
            recording's rate; n_mfcc MFCCs (with deltas and delta-deltas, mean and std).
        n_estimators, max_depth, min_samples_leaf: sklearn RandomForestClassifier.
        n_folds: folds (by tape, or by recording when the variant has one validation tape) for the
            out-of-fold probabilities of the validation-tape detections the threshold is chosen on.
        target: ``f1`` (threshold of the best event F1), ``fbeta`` (best event F-beta with ``beta``) or
            ``recall`` (highest threshold keeping event recall >= ``target_value``); whatever the
            target, a threshold that gives a lower F1 than the CNN alone on the validation tapes is
            replaced by passing every detection through.
        model_file: an existing filter instead of training one: a scikit-learn classifier saved with
            joblib (fitted on a DataFrame with ethoflow's feature names) or an ``rf.pkl`` of
            ``acoustic_rf_train``; must lie inside ``acoustic.corpus.data_dir``. Only its threshold is
            chosen here. ``null``: train one.
    """

    fmin: float = 0.0
    fmax: float = 4000.0
    n_fft: int = 1024
    hop_length: int = 256
    n_mfcc: int = 13
    n_estimators: int = Field(200, ge=1)
    max_depth: int | None = None
    min_samples_leaf: int = Field(1, ge=1)
    n_folds: int = Field(4, ge=2)
    target: Literal["f1", "recall", "fbeta"] = "f1"
    target_value: float = Field(0.95, gt=0, le=1)
    beta: float = Field(1.0, gt=0)
    seed: int = 0
    model_file: str | None = None


AUDIO_EXTENSIONS = (".wav", ".flac")


class DetectSet(StrictModel):
    """One detection set (``acoustic_detect@<name>``): a model run over unannotated recordings.

    Attributes:
        data_dir: folder DVC tracks as the stage's dependency (``${item.data_dir}`` in dvc.yaml);
            ``recordings``, ``truth`` and a ``model`` file path must lie inside it or inside
            ``models/acoustic`` (validated), so replacing a file there reruns the set.
        recordings: a folder (every ``.wav``/``.flac`` file under it, recursively) or a glob
            (relative to the project root), any sample rate, mono or multichannel (channels averaged).
        model: a trained variant's name (``models/acoustic/<name>/model.pt``) or the path of a model
            file: ethoflow's ``model.pt`` or an ANIMAL-SPOT model file (told apart by their keys).
        min_max_norm: for an ANIMAL-SPOT model: it was trained with ``--min_max_norm`` (the file does
            not record it).
        setting: prediction setting (``acoustic.predict.settings``: window length and hop).
        threshold: window probability threshold (``null``: ``acoustic.evaluate.threshold``), or ``auto``:
            the threshold (and ``auto`` clean-up values) that ``acoustic_evaluate`` chose on the model
            variant's validation tapes (only for a ``model`` that is a trained variant). Windows are
            chained into detections with ``acoustic.evaluate``'s boundary/min_gap_s/min_dur_s (an ``auto``
            one again the variant's chosen value).
        rf: optional random-forest filter: a ``<variant>-<setting>`` name whose
            ``models/acoustic/rf/<name>/rf.pkl`` ``acoustic_rf_train`` wrote, or a path to such a file;
            detections it rejects are left out (their count goes to the summary).
        truth: optional annotations used only to score the detections afterwards (precision/recall/F1 at
            ``acoustic.evaluate.iou``; the detector never reads them): a folder (its files of
            ``truth_format``), a glob or one file, read by the corpus stage's crowsetta readers, with
            ``acoustic.corpus``'s label_map/unmapped/overlaps/merge_gap_s/bad_rows (so notes become bouts
            as in the corpus); target events only. A table ``X...`` annotates the recording ``X``;
            recordings without truth are named in the summary and counted in the metrics.
        truth_format: crowsetta format of ``truth`` (``raven``, ``aud-seq`` (Audacity labels),
            ``birdsong-recognition-dataset`` (``Annotation.xml``), ``textgrid``, ...).
        truth_label_column: Raven tables: the column holding the label.
        truth_dir: the folder (or file) DVC tracks as the set's second dependency (``${item.truth_dir}``
            in dvc.yaml): it must hold ``truth``; anywhere, e.g. an absolute path outside the repository.
            ``null`` (library use): ``data_dir``. In params.yaml set it for every set (``data_dir`` when
            the set has no truth), as DVC needs the key.
        on_error: ``skip`` (report an unreadable, empty or truncated file and go on) or ``fail``.
        chunk_s: audio per streamed chunk (seconds of the model's rate; rounded to whole batches of
            windows); memory grows with it, results do not depend on it.
    """

    data_dir: str
    recordings: str
    model: str
    min_max_norm: bool = False
    setting: str = "default"
    threshold: float | Literal["auto"] | None = None
    rf: str | None = None
    truth: str | None = None
    truth_format: Literal[ANNOTATION_FORMATS] = "raven"  # type: ignore[valid-type]
    truth_label_column: str = "Annotation"
    truth_dir: str | None = None
    on_error: Literal["skip", "fail"] = "skip"
    chunk_s: float = Field(300.0, gt=0)

    @model_validator(mode="after")
    def _inputs_tracked(self) -> DetectSet:
        if isinstance(self.threshold, float) and not 0 <= self.threshold <= 1:
            raise ValueError(f"threshold must be in [0, 1], 'auto' or null, got {self.threshold}")
        tracked = (self.data_dir, "models/acoustic")
        keys = [("recordings", self.recordings)]
        if self.truth is not None and not path_within(self.truth, self.truth_dir or self.data_dir):
            raise ValueError(
                f"truth={self.truth!r} outside truth_dir {self.truth_dir or self.data_dir!r}, the folder DVC tracks "
                "for it: set truth_dir to a folder (or the file) that holds it"
            )
        if "/" in self.model or self.model.endswith((".pt", ".pk", ".pth")):
            keys.append(("model", self.model))
        if self.rf is not None and "/" in self.rf:
            keys.append(("rf", self.rf))
        outside = [f"{k}={v!r}" for k, v in keys if v is not None and not any(path_within(v, t) for t in tracked)]
        if outside:
            raise ValueError(
                f"{', '.join(outside)} outside data_dir {self.data_dir!r} and models/acoustic, the folders DVC "
                "tracks as the set's dependencies: move the files there or set data_dir to a folder that holds them"
            )
        return self


class DetectParams(StrictModel):
    """acoustic_detect: named detection sets (DVC ``foreach``) and their shared compute options.

    Attributes:
        sets: name -> :class:`DetectSet`.
        batch_size: windows per network forward pass. num_threads: torch CPU threads per process (default 1;
            0: torch's default, all cores).
    """

    sets: dict[str, DetectSet] = Field(default_factory=dict)
    batch_size: int = Field(64, ge=1)
    num_threads: int = Field(1, ge=0)


class ExternalModel(StrictModel):
    """An existing model file evaluated beside the trained variants (``acoustic_external@<name>-<setting>``).

    Attributes:
        file: an ANIMAL-SPOT model file (``.pk`` as its trainer writes it); must lie inside
            ``acoustic.corpus.data_dir`` or ``models/acoustic`` (tracked by DVC).
        variant: whose recordings and tape roles it is evaluated on (its test/benchmark tapes are the
            held-out group of the metrics table, as for the variant's own model).
        min_max_norm: the model was trained with ANIMAL-SPOT's ``--min_max_norm``.
    """

    file: str
    variant: str = "v1"
    min_max_norm: bool = False


class LearningCurveParams(StrictModel):
    """Learning curve (stages ``acoustic_lc@<duration>-<seed>`` and ``acoustic_learning_curve``; see
    :mod:`ethoflow.acoustic.training.learning_curve`).

    Attributes:
        variant: the variant whose split, features and model settings are used.
        setting: the ``acoustic.predict.settings`` entry used to predict and evaluate.
        durations: training audio per point, seconds (whole recordings are kept until reached) or ``all``.
        seeds: one point per duration and seed (recording order and training seed).
        epochs: epochs per point (null: the variant's ``train.epochs``).
    """

    variant: str = "v1"
    setting: str = "default"
    durations: list[str | float] = Field(default_factory=lambda: [40, 80, 120, "all"])
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2])
    epochs: int | None = Field(None, ge=1)


class AcousticParams(StrictModel):
    """The ``acoustic`` section."""

    demo: DemoParams = Field(default_factory=DemoParams)
    corpus: CorpusParams = Field(default_factory=CorpusParams)
    variants: dict[str, VariantParams] = Field(default_factory=lambda: {"v1": VariantParams()})
    features: FeatureParams = Field(default_factory=FeatureParams)
    train: TrainParams = Field(default_factory=TrainParams)
    predict: PredictParams = Field(default_factory=PredictParams)
    evaluate: EvaluateParams = Field(default_factory=EvaluateParams)
    rf: RFParams = Field(default_factory=RFParams)
    detect: DetectParams = Field(default_factory=DetectParams)
    learning_curve: LearningCurveParams = Field(default_factory=LearningCurveParams)
    external: dict[str, ExternalModel] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _external_models(self) -> AcousticParams:
        mf = self.rf.model_file
        if mf is not None and self.corpus.data_dir is not None and not path_within(mf, self.corpus.data_dir):
            raise ValueError(
                f"rf.model_file {mf!r} outside corpus.data_dir {self.corpus.data_dir!r}, the folder DVC tracks "
                "for acoustic_rf_train: move the file there"
            )
        for name, ext in self.external.items():
            if name in self.variants:
                raise ValueError(f"external.{name}: the name is a variant's too; metrics rows would collide")
            if ext.variant not in self.variants:
                raise ValueError(
                    f"external.{name}.variant {ext.variant!r} is not in variants ({sorted(self.variants)})"
                )
            tracked = [t for t in (self.corpus.data_dir, "models/acoustic") if t is not None]
            if self.corpus.data_dir is not None and not any(path_within(ext.file, t) for t in tracked):
                raise ValueError(
                    f"external.{name}.file {ext.file!r} outside corpus.data_dir {self.corpus.data_dir!r} and "
                    "models/acoustic, the folders DVC tracks for acoustic_external: move the file there"
                )
        return self

    def variant(self, name: str, params_path: str = "params.yaml") -> VariantParams:
        """The variant ``name`` (raises ``ParamsError`` naming the missing key)."""
        if name not in self.variants:
            raise ParamsError(
                f"{params_path}: acoustic.variants has no variant '{name}' (have: {sorted(self.variants)})"
            )
        return self.variants[name]

    def variant_features(self, name: str, params_path: str = "params.yaml") -> FeatureParams:
        """``acoustic.features`` with variant ``name``'s ``features`` overrides applied (validated again:
        ``ParamsError`` naming the variant when, e.g., ``fmax`` is above the new ``sr``'s Nyquist)."""
        over = self.variant(name, params_path).features
        if over is None:
            return self.features
        changes = {k: v for k, v in over.model_dump().items() if v is not None}
        try:
            return FeatureParams(**(self.features.model_dump() | changes))
        except ValidationError as exc:
            msg = "; ".join(e["msg"] for e in exc.errors())
            raise ParamsError(f"{params_path}: acoustic.variants.{name}.features {changes}: {msg}") from None

    def variant_train(self, name: str, params_path: str = "params.yaml") -> TrainParams:
        """``acoustic.train`` with variant ``name``'s ``arch`` (when it sets one)."""
        arch = self.variant(name, params_path).arch
        return self.train if arch is None else self.train.model_copy(update={"arch": arch})

    def setting(self, name: str, params_path: str = "params.yaml") -> PredictSetting:
        """The prediction setting ``name`` (raises ``ParamsError`` naming the missing key)."""
        if name not in self.predict.settings:
            raise ParamsError(
                f"{params_path}: acoustic.predict.settings has no setting '{name}' "
                f"(have: {sorted(self.predict.settings)})"
            )
        return self.predict.settings[name]

    def detect_set(self, name: str, params_path: str = "params.yaml") -> DetectSet:
        """The detection set ``name``, its ``setting`` and a variant ``model`` checked (``ParamsError``
        naming the missing key)."""
        if name not in self.detect.sets:
            raise ParamsError(
                f"{params_path}: acoustic.detect.sets has no set '{name}' (have: {sorted(self.detect.sets)})"
            )
        ds = self.detect.sets[name]
        self.setting(ds.setting, params_path)
        return ds


def load_acoustic(path: str = "params.yaml") -> AcousticParams:
    """Load and validate the ``acoustic`` section (raises ``ParamsError`` naming file and key)."""
    return load_section("acoustic", AcousticParams, path)
