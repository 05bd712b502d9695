"""Figures of the moseq pipeline (matplotlib ``Figure`` objects, saved with ``save_figure``, modest dpi)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np

from ethoflow.core.io import save_figure

if TYPE_CHECKING:
    from ethoflow.moseq.seeds import SeedSelection

DPI = 100


def _fig(figsize=(4.5, 3.0)):
    """A figure and its axes, made without pyplot (no backend is chosen or switched)."""
    # local: matplotlib is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    return fig, fig.subplots()


def _save(fig, path: str | os.PathLike) -> None:
    fig.tight_layout()
    save_figure(fig, path, dpi=DPI, format="png")


def scree_plot(ratio: np.ndarray, latent_dim: int, threshold: float, path: str | os.PathLike) -> None:
    """Cumulative explained variance (fraction) vs number of PCs, with the threshold and latent_dim."""
    fig, ax = _fig()
    cum = np.cumsum(ratio)
    n = np.arange(1, cum.size + 1)
    ax.plot(n, cum, "o-", ms=3)
    ax.axhline(threshold, color="grey", ls="--", lw=1, label=f"threshold {threshold:g}")
    ax.axvline(latent_dim, color="C3", lw=1, label=f"latent_dim {latent_dim}")
    ax.set(xlabel="principal components", ylabel="cumulative explained variance", ylim=(0, 1.02))
    ax.legend(frameon=False, fontsize=8)
    _save(fig, path)


def ranked_frequencies(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Syllables ranked by frame count: (syllable ids, fractions of frames), most frequent first
    (ties by id), syllables without a frame left out.

    Args:
        counts: (num_states,) frames per syllable id.
    """
    counts = np.asarray(counts, dtype=float)
    order = np.argsort(-counts, kind="stable")
    order = order[counts[order] > 0]
    total = counts.sum()
    return order, (counts[order] / total if total > 0 else counts[order])


def syllable_frequency_figure(counts: np.ndarray):
    """Bar chart of the fraction of frames per syllable, ranked by frame count (bar heights fall
    with the rank; bars labelled with their syllable id, every n-th when there are over 30).
    Returns the matplotlib Figure."""
    ids, frac = ranked_frequencies(counts)
    fig, ax = _fig()
    ax.bar(np.arange(ids.size), frac, color="C0")
    step = max(1, -(-ids.size // 30))  # at most 30 labelled bars
    ticks = np.arange(0, ids.size, step)
    ax.set_xticks(ticks, [str(i) for i in ids[ticks]], fontsize=6 if ids.size > 15 else 8, rotation=90)
    ax.set(xlabel="syllable (ranked by frame count)", ylabel="fraction of frames")
    return fig


def syllable_frequency_plot(counts: np.ndarray, path: str | os.PathLike) -> None:
    """:func:`syllable_frequency_figure` saved as a PNG at ``path``."""
    _save(syllable_frequency_figure(counts), path)


def search_trajectory_plot(searches: dict, fps: float, path: str | os.PathLike) -> None:
    """Median syllable duration (ms) vs kappa for every trial of each search
    ({label: :class:`ethoflow.moseq.search.SearchState`}), numbered in order, with each search's
    target window shaded."""
    fig, ax = _fig((5.0, 3.2))
    for i, (label, st) in enumerate(searches.items()):
        trials = [t for t in st.trials if t.duration is not None]
        k = np.array([t.kappa for t in trials])
        d = np.array([t.duration for t in trials]) * 1000.0 / fps
        ax.plot(k, d, "o-", color=f"C{i}", ms=4, lw=0.8, label=f"{label} ({len(trials)} fits)")
        for j, (x, y) in enumerate(zip(k, d)):
            ax.annotate(str(j), (x, y), fontsize=6, xytext=(2, 2), textcoords="offset points")
        lo, hi = (v * 1000.0 / fps for v in st.target)
        ax.axhspan(lo, hi, color=f"C{i}", alpha=0.12)
    ax.set(xscale="log", yscale="log", xlabel="kappa", ylabel="median syllable duration (ms)")
    ax.legend(frameon=False, fontsize=8)
    _save(fig, path)


def seed_figures(
    sel: SeedSelection, summary: dict[str, Any], eml_png: str | os.PathLike, confusion_png: str | os.PathLike
) -> None:
    """moseq_seeds' figures (:mod:`ethoflow.moseq.seeds`): keypoint-moseq's ``plot_eml_scores`` (EML score +- standard error per seed) and the confusion
    matrix of the chosen seed's syllables against the runner-up's (same frames; rows normalised;
    :func:`confusion_figure`, kpms' ``plot_confusion_matrix`` computation drawn to stay readable), saved
    with :func:`ethoflow.core.io.save_figure` (100 dpi)."""
    # local: keypoint_moseq is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    import keypoint_moseq as kpms

    seeds = list(sel.seeds)
    scores = np.array([summary["eml"][str(s)] for s in seeds])
    sems = np.array([summary["eml_sem"][str(s)] for s in seeds])
    fig, _ = kpms.plot_eml_scores(scores, sems, [sel.name(s) for s in seeds])
    save_figure(fig, eml_png, dpi=100)
    order = sorted(seeds, key=lambda s: (-summary["eml"][str(s)], s))
    results = []
    for s in order[:2]:
        model, _, metadata, _ = kpms.load_checkpoint(path=str(sel.checkpoint(s)))
        res = kpms.extract_results(model, metadata, save_results=False)
        results.append({k: res[k] for k in sorted(res)})
    fig = confusion_figure(
        results[0], results[1], f"{sel.name(order[0])} (chosen)", f"{sel.name(order[1])} (runner-up)"
    )
    save_figure(fig, confusion_png, dpi=100)


def confusion_matrix(res1: dict, res2: dict, min_frequency: float = 0.005) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row-normalised confusion of two models' syllables on the same frames, as keypoint-moseq's
    ``plot_confusion_matrix`` computes it (syllables above ``min_frequency`` of the frames in each
    model; rows ordered by kpms' ``hierarchical_clustering_order``, columns by their row of maximum),
    without dividing by empty rows (kpms warns ``invalid value encountered in divide`` there).

    Returns:
        (C (n1, n2) probabilities, the row syllables (n1,), the column syllables (n2,)).
    """
    # local: jax is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    from jax_moseq.utils import get_frequencies
    from keypoint_moseq.viz import hierarchical_clustering_order

    s1 = np.concatenate([np.asarray(res1[k]["syllable"]) for k in sorted(res1)])
    s2 = np.concatenate([np.asarray(res2[k]["syllable"]) for k in sorted(res2)])
    counts = np.zeros((s1.max() + 1, s2.max() + 1))
    np.add.at(counts, (s1, s2), 1)
    rows = counts.sum(axis=1, keepdims=True)
    C = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
    ix1 = np.flatnonzero(np.asarray(get_frequencies(s1)) > min_frequency)
    ix2 = np.flatnonzero(np.asarray(get_frequencies(s2)) > min_frequency)
    C = C[np.ix_(ix1, ix2)]
    if len(ix1) > 1:
        order = hierarchical_clustering_order(C)
        C, ix1 = C[order], ix1[order]
    cols = np.argsort(np.argmax(C, axis=0), kind="stable")
    return C[:, cols], ix1, ix2[cols]


def confusion_figure(res1: dict, res2: dict, label1: str, label2: str):
    """The confusion matrix of :func:`confusion_matrix` as a figure readable at any number of
    syllables: the figure grows with the matrix (0.22 inch per syllable, 4-14 inches), tick labels
    shrink to fit (6-9 pt) and, past 40 syllables, only every k-th is labelled."""
    # local: matplotlib is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    from matplotlib.figure import Figure

    C, ix1, ix2 = confusion_matrix(res1, res2)
    n = max(len(ix1), len(ix2), 1)
    side = float(np.clip(0.22 * n + 2.0, 4.0, 14.0))
    fig = Figure(figsize=(side + 1.2, side))
    ax = fig.subplots()
    im = ax.imshow(C, vmin=0.0, vmax=1.0, cmap="viridis", aspect="auto", interpolation="nearest")
    font = float(np.clip(9.0 - n / 10.0, 6.0, 9.0))
    for ix, set_ticks in ((ix2, ax.set_xticks), (ix1, ax.set_yticks)):
        step = max(1, int(np.ceil(len(ix) / 40)))
        pos = np.arange(0, len(ix), step)
        set_ticks(pos, [str(int(ix[i])) for i in pos], fontsize=font)
    ax.tick_params(axis="x", labelrotation=90)
    ax.set_xlabel(f"{label2}: syllable")
    ax.set_ylabel(f"{label1}: syllable")
    ax.set_title("syllable confusion (rows sum to 1)", fontsize=10)
    cbar = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    cbar.set_label("P(column syllable | row syllable)")
    fig.tight_layout()
    return fig
