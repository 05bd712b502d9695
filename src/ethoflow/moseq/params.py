"""Typed parameters of the ``moseq`` section of ``params.yaml`` (Keypoint-MoSeq pipeline).

No jax/keypoint-moseq import here: stages validate params before anything heavy is loaded.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from ethoflow.core.params import StrictModel
from ethoflow.core.paths import path_within

#: keypoint formats that ``keypoint_moseq.load_keypoints`` reads.
KEYPOINT_FORMATS = (
    "deeplabcut",
    "sleap",
    "anipose",
    "sleap-anipose",
    "nwb",
    "facemap",
    "freipose",
    "dannce",
)


class DemoParams(StrictModel):
    """Synthetic pose demo (``ethoflow.demo.moseq``).

    Attributes:
        n_sessions: number of recordings (one ``.h5`` file each) for training.
        n_heldout: further recordings, drawn after the training ones from the same generator, written
            to a separate folder (new sessions for ``moseq_apply``).
        n_frames: frames per recording.
        n_keypoints: keypoints along the synthetic animal's body (head first).
        n_motifs: number of recurring movement motifs (syllable-like).
        motif_duration_s: mean motif duration in seconds (durations are drawn around it).
        fps: frame rate in Hz (written to the demo README; the pipeline reads it from ``load.fps``).
        noise_px: keypoint jitter in pixels.
        nan_fraction: fraction of keypoints dropped (NaN, likelihood 0) at random.
        group_motif: the motif whose frequency differs between the two groups of sessions.
        group_effect: in the ``treated`` sessions (1, 3, 5, ...) this fraction of the transitions
            into motif ``(group_motif + 1) % n_motifs`` leads to ``group_motif`` instead, in the
            ``control`` sessions (0, 2, ...) this fraction of those into ``group_motif`` leads to the
            partner (0: no difference): one movement occurs much more often in treated sessions, one
            other less (``ethoflow.demo.moseq.group_transitions``).
        seed: generator seed.
    """

    n_sessions: int = Field(3, ge=1)
    n_heldout: int = Field(1, ge=0)
    n_frames: int = Field(900, ge=50)
    n_keypoints: int = Field(6, ge=3)
    n_motifs: int = Field(4, ge=2)
    motif_duration_s: float = Field(0.35, gt=0)
    fps: float = Field(30.0, gt=0)
    noise_px: float = Field(0.2, ge=0)
    nan_fraction: float = Field(0.01, ge=0, lt=1)
    group_motif: int = Field(0, ge=0)
    group_effect: float = Field(0.9, ge=0, le=1)
    seed: int = 0

    @model_validator(mode="after")
    def _group_motif(self) -> DemoParams:
        if self.group_motif >= self.n_motifs:
            raise ValueError(f"group_motif {self.group_motif} must be < n_motifs {self.n_motifs}")
        return self


class LoadParams(StrictModel):
    """How keypoints are read (``moseq_load``).

    Attributes:
        format: a ``keypoint_moseq.load_keypoints`` format (deeplabcut, sleap, nwb, anipose, ...).
        input_dir: the folder holding the keypoint files (and ``video_dir``, if set); dvc.yaml lists it as
            ``moseq_load``'s dependency (``${moseq.load.input_dir}``), so replacing a file there reruns the
            stage. ``paths`` must lie inside it. ``None`` (library use outside DVC): not checked.
        paths: files, folders or glob patterns (relative to the project root) to load.
        extension: file extension filter for folders (``None``: the format's default).
        bodyparts: expected bodypart names in file order (``None``: as found in the files).
        use_bodyparts: bodyparts used for modelling (``None``: all).
        anterior_bodyparts / posterior_bodyparts: define the heading axis (must be in use_bodyparts).
        fps: frame rate in Hz; ``None`` detects it from a video in ``video_dir``.
        video_dir: folder with the recordings' videos (fps detection when ``fps`` is ``None``).
        min_frames: tracks (e.g. SLEAP track fragments) with fewer tracked frames are dropped.
        max_nan_fraction: sessions with a larger fraction of missing coordinates are excluded.
        trust_fps: when a file carries its own frame rate (NWB rate/timestamps, SLEAP video) and it
            differs from ``fps`` by more than 1%: ``check`` (default) stops with an error naming both,
            ``params`` keeps ``fps`` (a warning), ``file`` uses the file's rate
            (:mod:`ethoflow.moseq.framerate`).
    """

    format: Literal[KEYPOINT_FORMATS] = "deeplabcut"  # type: ignore[valid-type]
    input_dir: str | None = None
    paths: list[str] = Field(default_factory=lambda: ["data/raw/moseq"], min_length=1)
    extension: str | None = None
    bodyparts: list[str] | None = None
    use_bodyparts: list[str] | None = None
    anterior_bodyparts: list[str] = Field(default_factory=lambda: ["head"], min_length=1)
    posterior_bodyparts: list[str] = Field(default_factory=lambda: ["tail"], min_length=1)
    fps: float | None = Field(30.0, gt=0)
    video_dir: str | None = None
    min_frames: int = Field(30, ge=1)
    max_nan_fraction: float = Field(0.5, ge=0, le=1)
    trust_fps: Literal["check", "params", "file"] = "check"

    @model_validator(mode="after")
    def _fps_source(self) -> LoadParams:
        if self.fps is None and not self.video_dir:
            raise ValueError("set load.fps or load.video_dir (fps is detected from a video)")
        return self

    @model_validator(mode="after")
    def _inputs_tracked(self) -> LoadParams:
        if self.input_dir is None:
            return self
        outside = [
            p
            for p in [*self.paths, *([self.video_dir] if self.video_dir else [])]
            if not path_within(p, self.input_dir)
        ]
        if outside:
            raise ValueError(
                f"load.paths / load.video_dir {outside} lie outside load.input_dir "
                f"{self.input_dir!r}, the folder DVC tracks as moseq_load's dependency: "
                "set input_dir to a folder that holds them"
            )
        return self


class OutlierParams(StrictModel):
    """``keypoint_moseq.outlier_removal`` (``moseq_outliers``).

    Attributes:
        outlier_scale_factor: multiplier of the medoid-distance threshold; higher removes fewer points.
        plot_dpi: dpi of the QA plots (kept under 1 MB each).
    """

    outlier_scale_factor: float = Field(6.0, gt=0)
    plot_dpi: int = Field(80, ge=20, le=300)


class PCAParams(StrictModel):
    """PCA of the aligned poses (``moseq_pca``).

    Attributes:
        variance_threshold: latent_dim = fewest components whose cumulative explained variance
            reaches this fraction.
    """

    variance_threshold: float = Field(0.90, gt=0, le=1)


class ErrorEstimator(StrictModel):
    """keypoint-moseq's confidence-to-error line (kpms ``error_estimator``): a keypoint's noise prior
    is ``10 ** (2 * (log10(conf) * slope + intercept))`` px^2 (jax-moseq ``estimate_error``). kpms'
    defaults; ``moseq_calibrate@<set>`` fits them from labelled frames."""

    slope: float = -0.5
    intercept: float = 0.25


class ModelParams(StrictModel):
    """keypoint-moseq model settings a study sets (Weinreb et al. 2024; kpms ``config.yml`` names).

    Each reaches kpms in the stages whose result it changes, and only those list it in ``dvc.yaml``:

    Attributes:
        num_states: the model's maximum number of states (kpms ``trans_hypparams.num_states``, the
            truncation of the sticky HDP prior; kpms' default 100). Set by ``moseq_arhmm`` (its
            trials and the ``config.yml`` it writes); ``moseq_seeds`` reads it from that config, the
            full model and ``moseq_apply`` from the model.
        conf_threshold: keypoints with a confidence below it are outliers that kpms interpolates over
            before PCA (``fit_pca``) and when a model is initialised (``init_model``, also inside
            ``apply_model``); kpms' default 0.5. Set by ``moseq_pca`` in the ``config.yml`` every
            later stage starts from.
        seg_length: frames per segment when kpms ``format_data`` cuts the sessions into a batch
            (each segment then gets 30 frames of overlap); ``None``: kpms chooses (the longest length
            with little padding). Used by ``moseq_arhmm`` (the full model reuses its formatted
            data), ``moseq_seeds`` and ``moseq_apply``.
        error_estimator: :class:`ErrorEstimator`; set by ``moseq_pca`` in the ``config.yml`` every
            later stage starts from (copy a ``moseq_calibrate@<set>`` result here).
    """

    num_states: int = Field(100, ge=2, le=10_000)
    conf_threshold: float = Field(0.5, ge=0)
    seg_length: int | None = Field(None, ge=1)
    error_estimator: ErrorEstimator = Field(default_factory=lambda: ErrorEstimator())


class SearchParams(StrictModel):
    """Kappa search shared by the AR-HMM and the full model.

    Attributes:
        target_duration_ms: [low, high] window for the median syllable duration in milliseconds.
        kappa_log10_range: [low, high] search range in log10(kappa) (AR-HMM; the full model centres
            a range of ``kappa_span_log10`` on the AR-HMM kappa).
        method: ``secant`` (safeguarded secant on measured (log10 kappa, log duration)) or
            ``bisection`` (baseline).
        max_trials: most fits the search may run.
        trial_iters: Gibbs iterations per trial fit.
        trials_per_round: kappas proposed and fitted at once (one Slurm job array per round when
            ``compute.executor`` is ``slurm``; one after another locally). It changes which kappas
            are tried, hence is a result param and not a ``compute`` option.
        on_unreachable: ``closest`` continues with the trial nearest the window (logged and
            recorded); ``error`` stops the stage.
    """

    target_duration_ms: tuple[float, float] = (300.0, 400.0)
    kappa_log10_range: tuple[float, float] = (3.0, 18.0)
    method: Literal["secant", "bisection"] = "secant"
    max_trials: int = Field(12, ge=1)
    trial_iters: int = Field(10, ge=1)
    trials_per_round: int = Field(1, ge=1)
    on_unreachable: Literal["closest", "error"] = "closest"

    @model_validator(mode="after")
    def _ranges(self) -> SearchParams:
        lo, hi = self.target_duration_ms
        if not 0 < lo < hi:
            raise ValueError(f"target_duration_ms must be 0 < low < high, got {[lo, hi]}")
        a, b = self.kappa_log10_range
        if not a < b:
            raise ValueError(f"kappa_log10_range must be low < high, got {[a, b]}")
        return self


class ARHMMParams(SearchParams):
    """AR-HMM stage (``moseq_arhmm``): search, then continue to ``arhmm_iters`` in all."""

    arhmm_iters: int = Field(50, ge=1)

    @model_validator(mode="after")
    def _iters(self) -> ARHMMParams:
        if self.arhmm_iters < self.trial_iters:
            raise ValueError("arhmm_iters must be >= trial_iters")
        return self


class FullParams(SearchParams):
    """Full keypoint-SLDS stage (``moseq_full``), warm-started from the AR-HMM.

    Attributes:
        kappa_span_log10: half-width of the search range in decades around the AR-HMM kappa.
        full_iters: full-model iterations in all (trials included).
    """

    kappa_span_log10: float = Field(3.0, gt=0)
    full_iters: int = Field(20, ge=1)

    @model_validator(mode="after")
    def _iters(self) -> FullParams:
        if self.full_iters < self.trial_iters:
            raise ValueError("full_iters must be >= trial_iters")
        return self


class SeedsParams(StrictModel):
    """Model selection across seeds (``moseq_seeds``): the final model (AR-HMM for ``arhmm_iters``,
    then the full model for ``full_iters``, at the searched kappas) is fitted from the seeds
    ``seed``, ``seed + 1``, ... and the one with the highest expected marginal likelihood is kept.

    Attributes:
        n_seeds: number of seeds (at least 2: the EML score compares models; keypoint-moseq's docs
            use 20 for a study, the demo 3). One Slurm array task per seed on a cluster.
        select: ``window`` (default): the highest EML among the seeds whose median syllable duration
            is inside ``moseq.full.target_duration_ms`` (all seeds when none is: then the results'
            status is ``drifted``); ``eml``: the highest EML of all (keypoint-moseq's rule).
        max_final_fits: budget of final fits (rounds of ``n_seeds`` fits each, the first included).
            The final model is a measurement: when no seed's median syllable duration is inside
            ``moseq.full.target_duration_ms``, both kappas are moved by the decades the full-model
            search's duration-vs-kappa line says (from the second correction on, the final fits' own
            slope) and every seed is refitted, at most ``max_final_fits - 1`` times (``1``: no
            correction; see :mod:`ethoflow.moseq.seeds`, :mod:`ethoflow.moseq.correction`).
    """

    n_seeds: int = Field(3, ge=2)
    select: Literal["window", "eml"] = "window"
    max_final_fits: int = Field(3, ge=1)


class GridMovieParams(StrictModel):
    """Grid movies per syllable (``keypoint_moseq.generate_grid_movies``), written by ``moseq_results``.

    Attributes:
        video_paths: {session name (as in the load report): video file}; the files must lie inside
            ``load.input_dir`` (the stage's DVC dependency). Empty: no grid movies.
        rows / cols: instances per movie (a syllable with fewer instances gets none).
        before_s / after_s: seconds shown before / after each instance's onset.
        min_frequency: syllables below this fraction of frames get no movie.

    The keypoints are overlaid with ``moseq.skeleton``.
    """

    video_paths: dict[str, str] = Field(default_factory=dict)
    rows: int = Field(2, ge=1)
    cols: int = Field(3, ge=1)
    before_s: float = Field(0.2, ge=0)
    after_s: float = Field(0.5, gt=0)
    min_frequency: float = Field(0.005, ge=0, lt=1)


class ResultsParams(StrictModel):
    """``moseq_results``'s validation figures.

    Attributes:
        grid_movies: see :class:`GridMovieParams`.
    """

    grid_movies: GridMovieParams = Field(default_factory=GridMovieParams)


class SessionSet(StrictModel):
    """One named set of new sessions the chosen model is applied to (``moseq_apply@<name>``).

    Attributes:
        format: a ``keypoint_moseq.load_keypoints`` format (as ``load.format``).
        input_dir: the folder DVC tracks as the stage's dependency; ``paths`` must lie inside it.
        paths: files, folders or glob patterns (relative to the project root).
        extension: file extension filter for folders (``None``: the format's default).
        fps: the sessions' frame rate in Hz; must equal the model's (a clear error names the files).
        groups: {session name: group} for the per-group frequencies and transition graphs; sessions
            not listed are in group ``default``.
        bodypart_map: {name in the files: the model's bodypart name}, for the same animals tracked
            under other names (e.g. an NWB copy with ``ind1_snout`` for the model's ``snout``).
        strip_prefix: a prefix removed from every bodypart name in the files before ``bodypart_map``
            (e.g. ``ind1_``); ``None``: none.
        trust_fps: as ``load.trust_fps``, for the rate the set's files carry against ``fps``.
    """

    format: Literal[KEYPOINT_FORMATS] = "deeplabcut"  # type: ignore[valid-type]
    input_dir: str
    paths: list[str] = Field(min_length=1)
    extension: str | None = None
    fps: float = Field(gt=0)
    groups: dict[str, str] = Field(default_factory=dict)
    bodypart_map: dict[str, str] = Field(default_factory=dict)
    strip_prefix: str | None = None
    trust_fps: Literal["check", "params", "file"] = "check"

    @model_validator(mode="after")
    def _inputs_tracked(self) -> SessionSet:
        outside = [p for p in self.paths if not path_within(p, self.input_dir)]
        if outside:
            raise ValueError(f"paths {outside} lie outside input_dir {self.input_dir!r} (the stage's DVC dependency)")
        return self


class ApplyParams(StrictModel):
    """Applying the chosen model to new sessions (``moseq_apply``, one stage per set).

    Attributes:
        num_iters: Gibbs iterations of ``keypoint_moseq.apply_model`` (states only; the model's
            parameters stay fixed); default 500, ``apply_model``'s own default (fewer leave the
            states near their initialisation: usage collapses onto few syllables).
        max_syllable_fraction: a warning ``one_syllable_dominates`` when one syllable covers more
            than this fraction of a set's frames.
        min_syllables_fraction: a warning ``few_syllables_used`` when the set uses fewer than this
            fraction of the syllables the training sessions use.
        sets: {set name: :class:`SessionSet`}; DVC runs one ``moseq_apply@<name>`` per set.
    """

    num_iters: int = Field(500, ge=1)
    max_syllable_fraction: float = Field(0.5, gt=0, le=1)
    min_syllables_fraction: float = Field(0.5, ge=0, le=1)
    sets: dict[str, SessionSet] = Field(default_factory=dict)


class CalibrationSet(StrictModel):
    """Labelled frames for noise calibration (``moseq_calibrate@<name>``).

    Attributes:
        format: ``sleap`` (user-labelled instances next to predicted ones on the same frames) or
            ``deeplabcut`` (a project's labelled frames next to ``analyze_videos`` output).
        input_dir: the folder DVC tracks as the stage's dependency; ``paths`` and ``predictions``
            must lie inside it.
        paths: files or glob patterns (relative to the project root): ``.slp`` files (sleap), or
            DeepLabCut's ``labeled-data/<video>/CollectedData_<scorer>.h5`` (or ``.csv``).
        predictions: deeplabcut only (required there): files or glob patterns of the network's
            predictions, ``<video>DLC_<scorer>....h5`` (or ``.csv``); each labelled video is paired
            with the one file whose name starts with ``<video>DLC``.
    """

    format: Literal["sleap", "deeplabcut"] = "sleap"
    input_dir: str
    paths: list[str] = Field(min_length=1)
    predictions: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _inputs_tracked(self) -> CalibrationSet:
        outside = [p for p in self.paths + self.predictions if not path_within(p, self.input_dir)]
        if outside:
            raise ValueError(f"paths {outside} lie outside input_dir {self.input_dir!r} (the stage's DVC dependency)")
        if self.format == "deeplabcut" and not self.predictions:
            raise ValueError("format deeplabcut needs predictions (the analyze_videos files of the labelled videos)")
        if self.format == "sleap" and self.predictions:
            raise ValueError(
                "format sleap takes no predictions (a .slp file holds both the user and predicted instances)"
            )
        return self


class GroupAnalysisParams(StrictModel):
    """``moseq_groups``: keypoint-moseq's group comparison of syllable usage and duration.

    Attributes:
        min_frequency: syllables at or below this fraction of all syllable instances (bouts,
            pooled over the sessions; kpms ``get_frequencies``) are left out of the tests and the
            transition matrices (kpms ``compute_stats_df``, ``get_group_trans_mats``). kpms' own
            default is 0.005; the demo uses 0.02, so that a short fit's rare fragments (a few bouts,
            often in the sessions of one group only) are not tested.
        n_perm: permutations of the sessions' group labels for the Kruskal-Wallis p-values (kpms
            ``run_kruskal``; the smallest p it can give is 1 / n_perm).
        alpha: FDR (Benjamini-Hochberg) level for a syllable to count as differing.
    """

    min_frequency: float = Field(0.005, ge=0, lt=1)
    n_perm: int = Field(10_000, ge=100)
    alpha: float = Field(0.05, gt=0, lt=1)


class MoseqParams(StrictModel):
    """The ``moseq`` section: demo data, loading, outliers, PCA, model settings, AR-HMM and full
    model, model selection across seeds, figures, apply, seed.

    Attributes:
        skeleton: bodypart pairs drawn as lines in the figures (kpms ``skeleton``): the PC plot
            (``moseq_pca``), grid movies and trajectory plots (``moseq_results``, ``moseq_apply``),
            e.g. ``[[head, thorax], [thorax, abdomen]]``; names must be the files' bodyparts (the
            PC and trajectory plots draw the pairs whose both ends are in ``use_bodyparts``).
            Figures only: no model changes with it.
        groups: {training session (as in the load report): group} for ``moseq_groups`` (every
            training session needs one; two or more groups of two or more sessions).
        group_analysis: see :class:`GroupAnalysisParams`.
        calibration: {set name: :class:`CalibrationSet`}; DVC runs one ``moseq_calibrate@<name>`` per set.
    """

    demo: DemoParams = Field(default_factory=DemoParams)
    load: LoadParams = Field(default_factory=LoadParams)
    outliers: OutlierParams = Field(default_factory=OutlierParams)
    pca: PCAParams = Field(default_factory=PCAParams)
    model: ModelParams = Field(default_factory=ModelParams)
    arhmm: ARHMMParams = Field(default_factory=ARHMMParams)
    full: FullParams = Field(default_factory=FullParams)
    seeds: SeedsParams = Field(default_factory=SeedsParams)
    results: ResultsParams = Field(default_factory=ResultsParams)
    apply: ApplyParams = Field(default_factory=ApplyParams)
    groups: dict[str, str] = Field(default_factory=dict)
    group_analysis: GroupAnalysisParams = Field(default_factory=GroupAnalysisParams)
    calibration: dict[str, CalibrationSet] = Field(default_factory=dict)
    skeleton: list[tuple[str, str]] = Field(default_factory=list)
    seed: int = 0

    @model_validator(mode="after")
    def _videos_tracked(self) -> MoseqParams:
        root = self.load.input_dir
        videos = list(self.results.grid_movies.video_paths.values())
        outside = [v for v in videos if root is not None and not path_within(v, root)]
        if outside:
            raise ValueError(
                f"results.grid_movies.video_paths {outside} lie outside load.input_dir {root!r} "
                "(moseq_results' DVC dependency)"
            )
        return self


class MoseqComputeOptions(StrictModel):
    """``compute.stages.moseq_arhmm|moseq_full|moseq_seeds.options``: execution knobs that never change results.

    Attributes:
        parallel_message_passing: keypoint-moseq's associative-scan Kalman sampler (``None``: on for
            GPU, off for CPU; ``"force"``: on even on CPU). Faster on GPU, longer jit, more memory.
        mixed_map_iters: split the batched E-step into this many sequential chunks
            (``jax_moseq.utils.set_mixed_map_iters``) to save GPU memory; ``None``: off.
    """

    parallel_message_passing: bool | Literal["force"] | None = None
    mixed_map_iters: int | None = Field(None, ge=1)
