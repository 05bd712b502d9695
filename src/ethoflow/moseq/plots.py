"""Figures of the moseq pipeline (matplotlib ``Figure`` objects, saved with ``save_figure``, modest dpi)."""

from __future__ import annotations

import os

import numpy as np

from ethoflow.core.io import save_figure

DPI = 100


def _fig(figsize=(4.5, 3.0)):
    """A figure and its axes, made without pyplot (no backend is chosen or switched)."""
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
