"""Figures: example spectrograms of a variant's segments (optional output of acoustic_variants), and a
detection set's per-recording timelines (acoustic_detect's ``timelines/``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ethoflow.acoustic.params import FeatureParams
from ethoflow.core import save_figure


def segment_pngs(df: pd.DataFrame, out_dir: str | Path, features: FeatureParams, n_per_split: int, seed: int) -> None:
    """Write ``n_per_split`` spectrogram PNGs per split (``<split>_<kind>_<uid>.png``), segments drawn
    with ``seed``; each shows the segment with 0.25 s of context, its edges marked."""
    # local: matplotlib is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    import matplotlib.pyplot as plt

    from ethoflow.acoustic.frontend.spectrogram import load_audio, power_spectrogram, to_input

    rng = np.random.default_rng(seed)
    out = Path(out_dir)
    cache: dict[str, np.ndarray] = {}
    for split, g in df.groupby("split", sort=True):
        pick = g.iloc[np.sort(rng.choice(len(g), size=min(n_per_split, len(g)), replace=False))]
        for r in pick.itertuples(index=False):
            if r.file not in cache:
                cache[r.file] = load_audio(r.file, features.sr)
            y = cache[r.file]
            a = max(0.0, r.start_s - 0.25)
            b = r.end_s + 0.25
            P = power_spectrogram(y[int(a * features.sr) : int(b * features.sr)], features)
            img = to_input(P, features.model_copy(update={"normalization": "minmax"}))
            fig, ax = plt.subplots(figsize=(4, 2.5), dpi=80)
            ax.imshow(
                img,
                origin="lower",
                aspect="auto",
                extent=(a, a + P.shape[1] * features.hop_length / features.sr, features.fmin, features.fmax),
            )
            for t in (r.start_s, r.end_s):
                ax.axvline(t, color="w", lw=1, ls="--")
            ax.set(xlabel="time (s)", ylabel="Hz", title=f"{split} {r.kind} {r.uid}")
            ax.title.set_fontsize(7)
            fig.tight_layout()
            name = f"{split}_{r.kind}_{r.uid}".replace("/", "_").replace("#", "_").replace("~", "_")
            save_figure(fig, out / f"{name}.png")


def timeline_png(windows: pd.DataFrame, det: pd.DataFrame, threshold: float, title: str, path: str | Path) -> None:
    """Window probability over time (max per pixel column for long tapes), detections shaded."""
    # local: matplotlib is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 2.4), dpi=100)
    t = ((windows.start_s + windows.end_s) / 2).to_numpy(float)
    p = windows.prob.to_numpy(float)
    if len(t) > 4000:  # keep peaks visible: max over equal bins
        edges = np.linspace(t[0], t[-1], 2001)
        k = np.clip(np.searchsorted(edges, t, side="right") - 1, 0, 1999)
        pm = np.zeros(2000)
        np.maximum.at(pm, k, p)
        t, p = (edges[:-1] + edges[1:]) / 2, pm
    ax.plot(t / 60 if t.size and t[-1] > 600 else t, p, lw=0.6, color="0.3")
    scale = 60 if t.size and t[-1] > 600 else 1
    for r in det.itertuples(index=False):
        ax.axvspan(r.start_s / scale, r.end_s / scale, color="tab:orange", alpha=0.35, lw=0)
    ax.axhline(threshold, color="tab:red", lw=0.6, ls="--")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("time (min)" if scale == 60 else "time (s)")
    ax.set_ylabel("P(call)")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    save_figure(fig, path)
