"""Validation figures users check syllables with, drawn by keypoint-moseq.

- :func:`grid_movies`: ``keypoint_moseq.generate_grid_movies``, one MP4 per syllable showing
  ``rows x cols`` instances cropped around the animal from the recordings' videos (keypoints
  overlaid), the figure keypoint-moseq's docs validate syllables with.
- :func:`similarity_dendrogram`: ``keypoint_moseq.plot_similarity_dendrogram``, syllables clustered
  by the cosine distance of their typical pose trajectories.
- :func:`kpms_png`: keep only the PNG a kpms plot function writes (with a PDF beside it, at 300 dpi,
  tagged with the matplotlib version), re-encoded without the tag and under 1 MB.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ethoflow.core.errors import InputError
from ethoflow.core.io import atomic_path
from ethoflow.core.logging import get_logger

log = get_logger(__name__)


def kpms_png(draw: Callable[[str], Any], name: str, png: str | os.PathLike, max_bytes: int = 1_000_000) -> None:
    """Run ``draw(tmp_dir)``, a kpms plot call that saves ``tmp_dir/<name>.png`` (and a PDF), and
    keep that PNG as ``png``: re-encoded with Pillow (no matplotlib version tag), RGB, downscaled by
    0.7 until under ``max_bytes``.

    Raises:
        InputError: the plot function wrote no ``<name>.png``.
    """
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
    rows: int = 2,
    cols: int = 3,
    before_s: float = 0.2,
    after_s: float = 0.5,
    min_frequency: float = 0.005,
    skeleton: list[list[str]] | None = None,
    seed: int = 0,
) -> list[Path]:
    """One grid movie per syllable (``keypoint_moseq.generate_grid_movies``) in ``out_dir``.

    Args:
        results: {session: {"syllable": (T,), "centroid": (T, D), "heading": (T,)}} (kpms results).
        coordinates: {session: (T, K, D)} keypoints (for the crops and the keypoint overlay).
        config: the model's kpms config (``fps``, ``bodyparts``, ``use_bodyparts``).
        video_paths: {session: video file}; every session of ``results`` needs one.
        rows, cols: instances per movie; a syllable with fewer instances gets no movie (kpms).
        before_s / after_s: seconds shown before / after each instance's onset.
        min_frequency: syllables below this fraction of frames get no movie.
        skeleton: bodypart pairs drawn over the keypoints (``None``: the config's).
        seed: kpms samples the instances with numpy's global generator; it is seeded with this.

    Returns:
        The movies written (``syllable<N>.mp4``), sorted; existing files in ``out_dir`` are removed.

    Raises:
        InputError: a session has no video, or a video file is missing.
    """
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
    np.random.seed(seed)  # kpms samples instances with numpy's global generator
    kpms.generate_grid_movies(
        results,
        output_dir=str(out),
        video_paths={k: str(video_paths[k]) for k in results},
        coordinates=coordinates,
        rows=rows,
        cols=cols,
        before_onset_sec=before_s,
        after_onset_sec=after_s,
        min_frequency=min_frequency,
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
        from matplotlib.figure import Figure

        from ethoflow.core.io import save_figure

        log.warning("similarity dendrogram not drawn: %s", exc)
        fig = Figure(figsize=(4.5, 1.5))
        fig.text(0.5, 0.5, f"no similarity dendrogram:\n{str(exc)[:120]}", ha="center", va="center", fontsize=8)
        save_figure(fig, png, dpi=100, format="png")
        return False
