"""Validation figures users check syllables with, drawn by keypoint-moseq.

- :func:`grid_movies`: ``keypoint_moseq.generate_grid_movies``, one MP4 per syllable showing
  ``rows x cols`` instances cropped around the animal from the recordings' videos (keypoints
  overlaid), the figure keypoint-moseq's docs validate syllables with.
- :func:`similarity_dendrogram`: ``keypoint_moseq.plot_similarity_dendrogram``, syllables clustered
  by the cosine distance of their typical pose trajectories.
- :func:`pcs_figure`: ``keypoint_moseq.plot_pcs``, the mean pose and its perturbation along each PC.
- :func:`trajectory_figure`: ``keypoint_moseq.generate_trajectory_plots``, each syllable's typical
  pose trajectory, all syllables in one grid.
- :func:`duration_figure`: ``keypoint_moseq.plot_duration_distribution`` with the target window shaded.
- :func:`kpms_png`: keep only the PNG a kpms plot function writes (with a PDF beside it, at 300 dpi,
  tagged with the matplotlib version), re-encoded without the tag and under 1 MB.

kpms draws ``plot_pcs`` and ``generate_trajectory_plots`` with pyplot and saves only PDFs; the figure
they leave open is saved as a PNG with :func:`ethoflow.core.io.save_figure` (:func:`_kpms_figure`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ethoflow.core.errors import InputError, ParamsError
from ethoflow.core.io import atomic_path, save_figure
from ethoflow.core.logging import get_logger
from ethoflow.moseq.durations import run_lengths
from ethoflow.moseq.params import GridMovieParams

log = get_logger(__name__)


def kpms_png(draw: Callable[[str], Any], name: str, png: str | os.PathLike, max_bytes: int = 1_000_000) -> None:
    """Run ``draw(tmp_dir)``, a kpms plot call that saves ``tmp_dir/<name>.png`` (and a PDF), and
    keep that PNG as ``png``: re-encoded with Pillow (no matplotlib version tag), RGB, downscaled by
    0.7 until under ``max_bytes``.

    Raises:
        InputError: the plot function wrote no ``<name>.png``.
    """
    # local: matplotlib is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    import matplotlib.pyplot as plt
    from PIL import Image

    with tempfile.TemporaryDirectory() as tmp:
        draw(tmp)
        plt.close("all")
        src = Path(tmp) / f"{name}.png"
        if not src.exists():
            raise InputError(f"keypoint-moseq wrote no {name}.png (files: {sorted(os.listdir(tmp))})")
        with Image.open(src) as im:
            im.load()
            image = im.convert("RGB")
    scale = 1.0
    while True:
        size = (max(1, int(image.width * scale)), max(1, int(image.height * scale)))
        with atomic_path(png) as tmp_png:
            image.resize(size, Image.LANCZOS).save(tmp_png, format="PNG", optimize=True)
        if Path(png).stat().st_size < max_bytes:
            return
        scale *= 0.7


def grid_movies(
    results: dict[str, dict],
    coordinates: dict[str, np.ndarray],
    config: dict[str, Any],
    video_paths: dict[str, str],
    out_dir: str | os.PathLike,
    layout: GridMovieParams | None = None,
    skeleton: list[list[str]] | None = None,
    seed: int = 0,
) -> list[Path]:
    """One grid movie per syllable (``keypoint_moseq.generate_grid_movies``) in ``out_dir``.

    Args:
        results: {session: {"syllable": (T,), "centroid": (T, D), "heading": (T,)}} (kpms results).
        coordinates: {session: (T, K, D)} keypoints (for the crops and the keypoint overlay).
        config: the model's kpms config (``fps``, ``bodyparts``, ``use_bodyparts``).
        video_paths: {session: video file}; every session of ``results`` needs one.
        layout: the movies' layout (``moseq.results.grid_movies``; default: its defaults): ``rows``,
            ``cols`` instances per movie (a syllable with fewer instances gets no movie, kpms);
            ``before_s`` / ``after_s`` seconds shown before / after each instance's onset;
            ``min_frequency``: syllables below this fraction of frames get no movie. Its
            ``video_paths`` are not read (``video_paths`` gives the files).
        skeleton: bodypart pairs drawn over the keypoints (``None``: the config's).
        seed: kpms samples the instances with numpy's global generator; it is seeded with this.

    Returns:
        The movies written (``syllable<N>.mp4``), sorted; existing files in ``out_dir`` are removed.

    Raises:
        InputError: a session has no video, or a video file is missing.
    """
    # local: keypoint_moseq is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    import keypoint_moseq as kpms

    missing = sorted(set(results) - set(video_paths))
    if missing:
        raise InputError(f"grid movies: no video for sessions {missing} (known: {sorted(video_paths)})")
    absent = [p for p in video_paths.values() if not Path(p).is_file()]
    if absent:
        raise InputError(f"grid movies: video files not found: {absent}")
    out = Path(out_dir)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    layout = layout if layout is not None else GridMovieParams()
    np.random.seed(seed)  # kpms samples instances with numpy's global generator
    kpms.generate_grid_movies(
        results,
        output_dir=str(out),
        video_paths={k: str(video_paths[k]) for k in results},
        coordinates=coordinates,
        rows=layout.rows,
        cols=layout.cols,
        before_onset_sec=layout.before_s,
        after_onset_sec=layout.after_s,
        min_frequency=layout.min_frequency,
        fps=float(config["fps"]),
        bodyparts=config["bodyparts"],
        use_bodyparts=config["use_bodyparts"],
        skeleton=skeleton if skeleton is not None else (config.get("skeleton") or []),
        overlay_keypoints=True,
    )
    movies = sorted(out.glob("*.mp4"))
    log.info("grid movies: %d written to %s", len(movies), out)
    return movies


def similarity_dendrogram(
    results: dict[str, dict],
    coordinates: dict[str, np.ndarray],
    config: dict[str, Any],
    png: str | os.PathLike,
    min_frequency: float = 0.005,
) -> bool:
    """``keypoint_moseq.plot_similarity_dendrogram`` (complete linkage of the cosine distances between
    the syllables' mean trajectories, 0.167 s before to 0.5 s after onset) saved as ``png``
    (:func:`kpms_png`). When kpms cannot draw it (fewer than two syllables with instances long
    enough), ``png`` shows the reason instead and ``False`` is returned.

    Args:
        results: {session: kpms results}; coordinates: {session: (T, K, D)}; config: the model's
            kpms config (``fps``, ``bodyparts``, ``use_bodyparts``).
    """
    # local: keypoint_moseq is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    import keypoint_moseq as kpms

    def draw(tmp: str) -> None:
        kpms.plot_similarity_dendrogram(
            {k: coordinates[k] for k in results},
            results,
            save_path=os.path.join(tmp, "similarity_dendrogram"),
            fps=float(config["fps"]),
            bodyparts=config["bodyparts"],
            use_bodyparts=config["use_bodyparts"],
            min_frequency=min_frequency,
        )

    try:
        kpms_png(draw, "similarity_dendrogram", png)
        return True
    except (ValueError, IndexError, InputError) as exc:  # too few syllables to cluster
        # local: matplotlib is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
        from matplotlib.figure import Figure

        from ethoflow.core.io import save_figure

        log.warning("similarity dendrogram not drawn: %s", exc)
        fig = Figure(figsize=(4.5, 1.5))
        fig.text(0.5, 0.5, f"no similarity dendrogram:\n{str(exc)[:120]}", ha="center", va="center", fontsize=8)
        save_figure(fig, png, dpi=100, format="png")
        return False


#: dpi of the kpms figures saved here (kept under 1 MB, readable in DVC's plots page).
FIGURE_DPI = 80


def check_skeleton(skeleton: list, bodyparts: list[str]) -> list[list[str]]:
    """``moseq.skeleton`` as a list of [a, b] pairs, every name a bodypart of the model.

    Raises:
        ParamsError: a name that is not in ``bodyparts``.
    """
    bodyparts = [str(b) for b in bodyparts]
    unknown = sorted({str(b) for pair in skeleton for b in pair} - set(bodyparts))
    if unknown:
        raise ParamsError(f"moseq.skeleton: {unknown} are not bodyparts of the model {bodyparts}")
    return [[str(a), str(b)] for a, b in skeleton]


def _used_edges(skeleton: list, use_bodyparts: list[str]) -> list[list[str]]:
    """The skeleton pairs whose both ends are modelled (kpms indexes edges in ``use_bodyparts``)."""
    used = {str(b) for b in use_bodyparts}
    return [[str(a), str(b)] for a, b in skeleton if str(a) in used and str(b) in used]


def _note_figure(png: str | os.PathLike, text: str) -> None:
    """A small PNG that says why a figure could not be drawn (the out exists either way)."""
    # local: matplotlib is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.5, 1.5))
    fig.text(0.5, 0.5, text[:160], ha="center", va="center", fontsize=8, wrap=True)
    save_figure(fig, png, dpi=100, format="png")


def _kpms_figure(draw: Callable[[str], Any], png: str | os.PathLike, max_bytes: int = 1_000_000) -> None:
    """Run ``draw(tmp_dir)`` (a kpms plot call that draws with pyplot and may save PDFs in
    ``tmp_dir``, discarded) and save the first figure it left open as ``png`` at :data:`FIGURE_DPI`
    (lower dpi until under ``max_bytes``; no ``Software`` tag, as :func:`ethoflow.core.io.save_figure`);
    every figure it opened is closed.

    Raises:
        InputError: the call opened no figure.
    """
    # local: matplotlib is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    import matplotlib.pyplot as plt

    before = set(plt.get_fignums())
    try:
        with tempfile.TemporaryDirectory() as tmp:
            draw(tmp)
        new = [n for n in plt.get_fignums() if n not in before]
        if not new:
            raise InputError("keypoint-moseq drew no figure")
        fig = plt.figure(new[0])
        dpi = FIGURE_DPI
        while True:
            with atomic_path(png) as tmp_png:
                fig.savefig(tmp_png, dpi=dpi, format="png", metadata={"Software": None})
            if Path(png).stat().st_size < max_bytes or dpi <= 20:
                break
            dpi = int(dpi * 0.7)
    finally:
        for n in plt.get_fignums():
            if n not in before:
                plt.close(n)


def pcs_figure(pca: Any, config: dict[str, Any], skeleton: list, png: str | os.PathLike) -> None:
    """``keypoint_moseq.plot_pcs`` saved as ``png``: per principal component (at most 10), the mean
    aligned pose (faint) and the pose moved along that component, the ``skeleton`` pairs between
    modelled bodyparts drawn (3-D data: the x-y projection).

    Args:
        pca: the fitted ``sklearn.decomposition.PCA`` (``kpms.fit_pca``).
        config: the kpms config (``bodyparts``, ``use_bodyparts``, ``keypoint_colormap``).
        skeleton: bodypart pairs (``moseq.skeleton``).

    Raises:
        ParamsError: a skeleton name that is not a bodypart.
    """
    # local: keypoint_moseq is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    import keypoint_moseq as kpms

    edges = _used_edges(check_skeleton(skeleton, config["bodyparts"]), config["use_bodyparts"])
    _kpms_figure(
        lambda tmp: kpms.plot_pcs(
            pca,
            use_bodyparts=[str(b) for b in config["use_bodyparts"]],
            skeleton=edges,
            keypoint_colormap=config.get("keypoint_colormap", "autumn"),
            savefig=False,
            interactive=False,
        ),
        png,
    )


def trajectory_figure(
    results: dict[str, dict],
    coordinates: dict[str, np.ndarray],
    config: dict[str, Any],
    skeleton: list,
    png: str | os.PathLike,
    min_frequency: float = 0.005,
    seed: int = 0,
) -> bool:
    """``keypoint_moseq.generate_trajectory_plots`` (each syllable's typical trajectory: poses from
    0.167 s before to 0.5 s after onset, averaged over instances sampled from dense regions of
    latent space, kpms' default; when no syllable has the 50 instances that needs, small data, the
    average of all its instances) saved as ``png``: the grid of all syllables (3-D data: the x-y
    projection). No GIFs or per-syllable files. When kpms cannot draw it (no syllable with
    instances long enough), ``png`` says why and ``False`` is returned.

    Args:
        results: {session: kpms results}; coordinates: {session: (T, K, D)} keypoints.
        config: the model's kpms config (``fps``, ``bodyparts``, ``use_bodyparts``).
        skeleton: bodypart pairs (``moseq.skeleton``).
        min_frequency: syllables below this fraction of frames are left out.
        seed: numpy's global generator is seeded with it first (kpms samples instances with it).

    Raises:
        ParamsError: a skeleton name that is not a bodypart.
    """
    # local: keypoint_moseq is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    import keypoint_moseq as kpms

    edges = _used_edges(check_skeleton(skeleton, config["bodyparts"]), config["use_bodyparts"])
    np.random.seed(seed)

    def draw(tmp: str, density_sample: bool) -> None:
        kpms.generate_trajectory_plots(
            {k: coordinates[k] for k in results},
            results,
            output_dir=tmp,
            min_frequency=min_frequency,
            skeleton=edges,
            bodyparts=[str(b) for b in config["bodyparts"]],
            use_bodyparts=[str(b) for b in config["use_bodyparts"]],
            keypoint_colormap=config.get("keypoint_colormap", "autumn"),
            save_individually=False,
            save_gifs=False,
            fps=float(config["fps"]),
            projection_planes=["xy"],
            interactive=False,
            density_sample=density_sample,
        )

    try:
        _kpms_figure(lambda tmp: draw(tmp, True), png)
        return True
    except ValueError as exc:  # fewer than 50 instances (kpms' density-sampling neighbours) per syllable
        log.info("trajectory plot: %s; averaging all instances instead of density sampling", exc)
    try:
        _kpms_figure(lambda tmp: draw(tmp, False), png)
        return True
    except (ValueError, IndexError, InputError) as exc:  # no syllable with enough instances
        log.warning("trajectory plot not drawn: %s", exc)
        _note_figure(png, f"no trajectory plot:\n{str(exc)[:120]}")
        return False


def duration_figure(
    results: dict[str, dict], fps: float, window_ms: tuple[float, float] | None, png: str | os.PathLike
) -> None:
    """``keypoint_moseq.plot_duration_distribution`` (histogram of syllable durations in s, median
    dashed) saved as ``png``, with the target window (ms) shaded; the x range (kpms: the 95th
    percentile) is widened to show the window.

    Args:
        results: {session: {"syllable": (T,) int, ...}}; fps: frame rate (Hz).
        window_ms: (low, high) target window of the median duration in ms; ``None``: not shaded.
    """
    # local: keypoint_moseq is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    import keypoint_moseq as kpms

    durations = np.concatenate([run_lengths(np.asarray(r["syllable"])) for r in results.values()])
    lim = int(np.percentile(durations, 95))
    if window_ms is not None:
        lim = max(lim, int(np.ceil(1.2 * window_ms[1] * fps / 1000.0)))
    fig, ax = kpms.plot_duration_distribution(results=results, fps=fps, lim=max(lim, 1))
    if window_ms is not None:
        ax.axvspan(window_ms[0] / 1000.0, window_ms[1] / 1000.0, color="C2", alpha=0.2, label="target window")
        ax.legend(frameon=False, fontsize=8)
    fig.set_size_inches(4.5, 3.0)
    fig.tight_layout()
    save_figure(fig, png, dpi=100, format="png")
