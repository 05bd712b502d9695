"""Figures for the vae pipeline (matplotlib, Agg backend)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ethoflow.core.io import save_figure


def latent_pca(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First two principal components of z (N, Z) -> (scores (N, 2), explained variance ratio (2,)).

    Plain SVD of the centred matrix; fewer than two dims or rows are padded with zeros.
    """
    z = np.asarray(z, np.float64)
    zc = z - z.mean(0, keepdims=True)
    if zc.shape[0] < 2:
        return np.zeros((zc.shape[0], 2)), np.zeros(2)
    u, s, _ = np.linalg.svd(zc, full_matrices=False)
    scores = np.zeros((zc.shape[0], 2))
    k = min(2, len(s))
    scores[:, :k] = u[:, :k] * s[:k]
    var = s**2
    ratio = np.zeros(2)
    ratio[:k] = var[:k] / var.sum() if var.sum() > 0 else 0.0
    return scores, ratio


def plot_latents(
    latent_files: list[str | os.PathLike], df02: pd.DataFrame, out: str | os.PathLike, max_points: int = 20000
) -> Path:
    """Scatter of the latent means' first two principal components, coloured by day/night and by strain.

    Args:
        latent_files: ``morph_latents_{experiment}.csv`` files (``snip_id`` + ``z_mu_*``).
        df02: snip table with ``snip_id``, ``is_night``, ``strain``.
        out: PNG path (written atomically).
        max_points: at most this many snips are drawn (every k-th).
    """
    import matplotlib.pyplot as plt

    lat = pd.concat([pd.read_csv(f) for f in latent_files], ignore_index=True)
    if len(lat) > max_points:  # a readable scatter; every k-th snip (deterministic)
        lat = lat.iloc[:: int(np.ceil(len(lat) / max_points))].reset_index(drop=True)
    zc = [c for c in lat.columns if c.startswith("z_mu_")]
    meta = df02.set_index("snip_id").reindex(lat["snip_id"])
    scores, ratio = latent_pca(lat[zc].to_numpy())
    fig, axes = plt.subplots(1, 2, figsize=(9, 4), dpi=100, sharex=True, sharey=True)
    night = meta["is_night"].fillna(False).astype(bool).to_numpy()
    for flag, colour, label in ((False, "#e69f00", "day"), (True, "#0072b2", "night")):
        sel = night == flag
        axes[0].scatter(scores[sel, 0], scores[sel, 1], s=6, alpha=0.6, c=colour, label=f"{label} ({sel.sum()})")
    strains = meta["strain"].astype("string").fillna("unknown").to_numpy()
    for i, strain in enumerate(sorted(set(strains))):
        sel = strains == strain
        axes[1].scatter(scores[sel, 0], scores[sel, 1], s=6, alpha=0.6, c=f"C{i}", label=f"{strain} ({sel.sum()})")
    for ax, title in zip(axes, ("light phase", "strain")):
        ax.set_title(f"z_mu PCA by {title}")
        ax.set_xlabel(f"PC1 ({100 * ratio[0]:.0f}% var)")
        ax.legend(fontsize=7, markerscale=2)
    axes[0].set_ylabel(f"PC2 ({100 * ratio[1]:.0f}% var)")
    fig.tight_layout()
    return save_figure(fig, out)


def plot_reconstructions(
    x: np.ndarray,
    mask: np.ndarray,
    x_hat: np.ndarray,
    snip_ids: list[str],
    out: str | os.PathLike,
    channels: list[str] | None = None,
    max_channels: int = 4,
) -> Path:
    """Input vs reconstruction for a few snips (normalised units; missing readings not drawn).

    Args:
        x, mask, x_hat: (N, T, C) normalised input, validity, reconstruction (N small, e.g. 4).
        snip_ids: (N,) titles.
        out: PNG path (written atomically).
        channels: channel names; the first ``max_channels`` are drawn, one row each.
    """
    import matplotlib.pyplot as plt

    n, t, c = x.shape
    k = min(c, max_channels)
    names = channels or [f"ch{i}" for i in range(c)]
    fig, axes = plt.subplots(k, max(n, 1), figsize=(3.2 * max(n, 1), 1.6 * k), dpi=100, squeeze=False, sharex=True)
    minutes = np.arange(t)
    for j in range(n):
        for i in range(k):
            ax = axes[i, j]
            shown = np.where(mask[j, :, i], x[j, :, i], np.nan)
            ax.plot(minutes, shown, lw=0.8, color="0.3", label="input")
            ax.plot(minutes, x_hat[j, :, i], lw=1.0, color="#d55e00", label="reconstruction")
            if j == 0:
                ax.set_ylabel(names[i], fontsize=8)
            if i == 0:
                ax.set_title(snip_ids[j], fontsize=8)
            ax.tick_params(labelsize=7)
        axes[-1, j].set_xlabel("minute in snip", fontsize=8)
    axes[0, 0].legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    return save_figure(fig, out)


@dataclass(frozen=True)
class TraversalGrid:
    """What :func:`plot_latent_traversal` draws: ``steps`` values of each dimension over
    ``[-span_sd, span_sd]`` standard deviations, at most ``max_dims`` panels, decoded channel ``channel``."""

    steps: int = 7
    span_sd: float = 2.0
    max_dims: int = 8
    channel: int = 0


def plot_latent_traversal(
    model,
    x: np.ndarray,
    mask: np.ndarray,
    out: str | os.PathLike,
    channels: list[str] | None = None,
    grid: TraversalGrid | None = None,
) -> Path:
    """Latent traversal: what each latent dimension encodes (Higgins et al. 2017's figure).

    The snips ``x`` (N, T, C) with ``mask`` are encoded (z = mu); starting from the mean of their
    latents, each dimension d in turn is set to ``mean_d + s * sd_d`` for ``grid.steps`` values of s in
    ``[-grid.span_sd, grid.span_sd]`` and decoded. One panel per dimension (at most ``grid.max_dims``),
    the decoded channel ``grid.channel`` over the snip's minutes, one line per step (colour from low to
    high), titled with the dimension's spread; a dimension that does not change the output is inactive.
    ``grid``: :class:`TraversalGrid` (``None``: 7 steps over +-2 sd, 8 dimensions, channel 0).

    Returns the PNG path (written atomically through ``save_figure``).
    """
    import torch
    from matplotlib import cm
    from matplotlib.figure import Figure

    g = grid or TraversalGrid()
    steps, span_sd, max_dims, channel = g.steps, g.span_sd, g.max_dims, g.channel
    model.eval()
    with torch.no_grad():
        mu, _ = model.encode(torch.from_numpy(np.asarray(x, np.float32)), torch.from_numpy(np.asarray(mask, bool)))
    mu = mu.numpy().astype(np.float64)
    centre, sd = mu.mean(0), mu.std(0)
    dims = min(mu.shape[1], max_dims)
    offsets = np.linspace(-span_sd, span_sd, steps)
    cols = min(4, dims)
    rows = int(np.ceil(dims / cols))
    fig = Figure(figsize=(3.0 * cols, 2.0 * rows), dpi=100)
    axes = fig.subplots(rows, cols, squeeze=False, sharex=True)
    name = (channels or [f"ch{i}" for i in range(x.shape[2])])[channel]
    colours = cm.viridis(np.linspace(0, 1, steps))
    minutes = np.arange(x.shape[1])
    for d in range(rows * cols):
        ax = axes[d // cols, d % cols]
        if d >= dims:
            ax.set_axis_off()
            continue
        z = np.repeat(centre[None], steps, 0)
        z[:, d] = centre[d] + offsets * max(sd[d], 1e-6)
        with torch.no_grad():
            x_hat = model.decode(torch.from_numpy(z.astype(np.float32))).numpy()
        for k in range(steps):
            ax.plot(minutes, x_hat[k, :, channel], lw=0.9, color=colours[k])
        ax.set_title(f"z_mu_{d:02d} (sd {sd[d]:.2f})", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in axes[-1]:
        ax.set_xlabel("minute in snip", fontsize=8)
    for ax in axes[:, 0]:
        ax.set_ylabel(f"{name} (normalised)", fontsize=8)
    fig.suptitle(f"latent traversal: each dim from -{span_sd:g} to +{span_sd:g} sd (dark to light)", fontsize=9)
    fig.tight_layout()
    return save_figure(fig, out)
