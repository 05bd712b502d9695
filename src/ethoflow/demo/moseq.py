"""Seeded synthetic pose tracks for the moseq pipeline, written as DeepLabCut ``.h5`` files.

A synthetic animal is a chain of ``n_keypoints`` points (head first, 6 px apart). Its behaviour is a
sequence of ``n_motifs`` recurring movement motifs (syllable-like): each motif has its own body bend
(a travelling wave with motif-specific amplitude, frequency and phase speed), forward speed and
turning rate. Motif durations are gamma-distributed around ``motif_duration_s``; the next motif
follows a fixed random transition matrix without self-transitions. Keypoints get Gaussian jitter
and a random fraction is dropped (NaN, likelihood 0), like a tracker's misses.

Files: ``<out>/session_<i>.h5``, a pandas DataFrame in DeepLabCut's layout (columns MultiIndex
``scorer / bodyparts / coords`` with coords ``x, y, likelihood``; key ``df_with_missing``), so the
pipeline reads them with ``keypoint_moseq.load_keypoints(..., "deeplabcut")``; plus
``motifs.tsv`` with the true motif and group of every frame (ground truth for comparisons).

Two groups (``control``: even sessions, ``treated``: odd): most transitions into the partner motif of
``group_motif`` lead to ``group_motif`` instead in treated sessions, and the other way round in
control sessions (``group_effect``; :func:`group_transitions`), a seeded difference in how often one
movement occurs that ``moseq_groups`` should find.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from ethoflow.core.io import atomic_path, write_json
from ethoflow.moseq.params import DemoParams, MoseqParams

SCORER = "ethoflowDemoDLC"


def _motif_table(rng: np.random.Generator, n_motifs: int) -> dict[str, np.ndarray]:
    return {
        "amp": rng.uniform(0.2, 0.9, n_motifs),  # bend amplitude (rad per segment)
        "freq": rng.uniform(1.0, 5.0, n_motifs),  # bend oscillation (Hz)
        "wave": rng.uniform(0.0, 1.5, n_motifs),  # phase lag between segments (rad)
        "speed": rng.uniform(0.0, 60.0, n_motifs),  # forward speed (px/s)
        "turn": rng.uniform(-1.5, 1.5, n_motifs),  # turning rate (rad/s)
    }


#: the two groups of demo sessions: session i is in GROUPS[i % 2].
GROUPS = ("control", "treated")


def session_group(index: int) -> str:
    """The demo group of session ``index``: ``control`` (even), ``treated`` (odd)."""
    return GROUPS[index % 2]


def group_transitions(trans: np.ndarray, params: DemoParams, group: str) -> np.ndarray:
    """The motif transition matrix of ``group``'s sessions: with ``a = params.group_motif`` and its partner
    ``b = (a + 1) % n_motifs``, from every other motif the fraction ``params.group_effect`` of the
    transitions into ``b`` goes to ``a`` instead in ``treated`` sessions, and the fraction
    ``params.group_effect`` of those into ``a`` goes to ``b`` in ``control`` sessions. No transition that
    ``trans`` lacks is created (no self-transitions), so one movement occurs much more often in
    treated sessions, its partner less, the rest about as often (the demo: motif 0 in 13% -> 35% of
    bouts, motif 1 36% -> 9%; benchmarks/moseq_groups_demo.py)."""
    if group not in GROUPS:
        raise ValueError(f"group {group!r} is not one of {GROUPS}")
    a, b = params.group_motif, (params.group_motif + 1) % params.n_motifs
    if group == "control":
        a, b = b, a
    out = trans.copy()
    for r in range(params.n_motifs):
        if r not in (a, b):
            out[r, a] += out[r, b] * params.group_effect
            out[r, b] *= 1.0 - params.group_effect
    return out


def simulate_session(
    rng: np.random.Generator, params: DemoParams, motifs: dict[str, np.ndarray], trans: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """One session: keypoints (T, K, 2) in pixels and the true motif per frame (T,), motifs following
    the transition matrix ``trans``."""
    T, K, fps = params.n_frames, params.n_keypoints, params.fps
    labels = np.empty(T, dtype=np.int64)
    t, m = 0, int(rng.integers(params.n_motifs))
    mean_len = params.motif_duration_s * fps
    while t < T:
        n = max(2, int(round(rng.gamma(8.0, mean_len / 8.0))))
        labels[t : t + n] = m
        t += n
        m = int(rng.choice(params.n_motifs, p=trans[m]))
    dt = 1.0 / fps
    time = np.arange(T) * dt
    heading = np.cumsum(motifs["turn"][labels] * dt) + rng.uniform(0, 2 * np.pi)
    speed = motifs["speed"][labels]
    centre = np.cumsum(np.stack([np.cos(heading), np.sin(heading)], -1) * speed[:, None] * dt, axis=0)
    centre += np.array([300.0, 300.0])
    seg = np.arange(K - 1)
    bend = motifs["amp"][labels][:, None] * np.sin(
        2 * np.pi * motifs["freq"][labels][:, None] * time[:, None] - motifs["wave"][labels][:, None] * seg[None]
    )  # (T, K-1)
    angles = heading[:, None] + np.pi + np.cumsum(bend, axis=1)  # segments point backwards from the head
    steps = 6.0 * np.stack([np.cos(angles), np.sin(angles)], -1)  # (T, K-1, 2)
    body = np.concatenate([np.zeros((T, 1, 2)), np.cumsum(steps, axis=1)], axis=1)
    body -= body.mean(axis=1, keepdims=True)
    xy = centre[:, None, :] + body + rng.normal(0, params.noise_px, size=(T, K, 2))
    return xy, labels


def to_dlc_frame(xy: np.ndarray, likelihood: np.ndarray, bodyparts: list[str]) -> pd.DataFrame:
    """A DeepLabCut-layout DataFrame from keypoints (T, K, 2) and likelihoods (T, K)."""
    T, K, _ = xy.shape
    cols = pd.MultiIndex.from_product(
        [[SCORER], bodyparts, ["x", "y", "likelihood"]], names=["scorer", "bodyparts", "coords"]
    )
    values = np.concatenate([xy, likelihood[..., None]], axis=-1).reshape(T, K * 3)
    return pd.DataFrame(values, columns=cols)


def _write_dlc_h5(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """``df.to_hdf`` in DeepLabCut's (fixed) format without HDF5 object timestamps, so the same
    data give the same bytes (pandas does not expose PyTables' ``track_times`` for this format)."""
    # local: keeps ethoflow.demo.moseq importable without packaging
    import tables

    orig = {name: getattr(tables.File, name) for name in ("create_array", "create_carray", "create_earray")}

    def untimed(fn):
        def wrapper(self, *args, **kwargs):
            kwargs.setdefault("track_times", False)
            return fn(self, *args, **kwargs)

        return wrapper

    try:
        for name, fn in orig.items():
            setattr(tables.File, name, untimed(fn))
        df.to_hdf(path, key="df_with_missing", mode="w", format="fixed")
    finally:
        for name, fn in orig.items():
            setattr(tables.File, name, fn)


def generate(
    params: DemoParams, out_dir: str | os.PathLike, heldout_dir: str | os.PathLike | None = None
) -> list[Path]:
    """Write ``params.n_sessions`` DeepLabCut ``.h5`` files and ``motifs.tsv`` to ``out_dir`` and, when
    ``heldout_dir`` is given, ``params.n_heldout`` more sessions (drawn after the training ones, so
    these stay the same) with their own ``motifs.tsv`` to ``heldout_dir``.

    Deterministic: the same params give the same files.
    """
    rng = np.random.default_rng(params.seed)
    motifs = _motif_table(rng, params.n_motifs)
    trans = rng.uniform(0.2, 1.0, (params.n_motifs, params.n_motifs))
    np.fill_diagonal(trans, 0.0)
    trans /= trans.sum(1, keepdims=True)
    bodyparts = ["head"] + [f"spine{i}" for i in range(1, params.n_keypoints - 1)] + ["tail"]
    files = _write_sessions(rng, params, motifs, trans, bodyparts, range(params.n_sessions), out_dir)
    if heldout_dir is not None:
        n = params.n_sessions
        files += _write_sessions(rng, params, motifs, trans, bodyparts, range(n, n + params.n_heldout), heldout_dir)
    return files


def _write_sessions(rng, p: DemoParams, motifs, trans, bodyparts, indices, out_dir) -> list[Path]:
    """Sessions ``session_<i>.h5`` for ``i`` in ``indices``, their ``motifs.tsv`` and ``demo.json``."""
    out = Path(out_dir)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    files, truth = [], []
    for s in indices:
        group_trans = group_transitions(trans, p, session_group(s))
        xy, labels = simulate_session(rng, p, motifs, group_trans)
        lik = rng.uniform(0.8, 1.0, size=xy.shape[:2])
        miss = rng.random(xy.shape[:2]) < p.nan_fraction
        xy[miss] = np.nan
        lik[miss] = 0.0
        df = to_dlc_frame(np.round(xy, 3), np.round(lik, 4), bodyparts)
        path = out / f"session_{s}.h5"
        with atomic_path(path) as tmp:
            _write_dlc_h5(df, tmp)
        files.append(path)
        truth.append(
            pd.DataFrame(
                {"session": f"session_{s}", "group": session_group(s), "frame": np.arange(len(labels)), "motif": labels}
            )
        )
    with atomic_path(out / "motifs.tsv") as tmp:
        table = pd.concat(truth) if truth else pd.DataFrame(columns=["session", "group", "frame", "motif"])
        table.to_csv(tmp, index=False, sep="\t")
    write_json(
        out / "demo.json",
        {
            **p.model_dump(),
            "bodyparts": bodyparts,
            "format": "deeplabcut",
            "files": [f.name for f in files],
            "groups": {f"session_{s}": session_group(s) for s in indices},
        },
    )
    return files


def run_demo_moseq(cfg: MoseqParams, out: str | os.PathLike, heldout_out: str | os.PathLike) -> list[Path]:
    """Stage ``demo_moseq``: the demo sessions of ``cfg.demo`` (the ``moseq`` params) into ``out``, and the
    held-back sessions (``cfg.demo.n_heldout``, for ``moseq_apply``) into ``heldout_out``.

    Args:
        out: folder of the demo pose files.
        heldout_out: folder of the held-back sessions (moseq_apply).
    """
    return generate(cfg.demo, out, heldout_out)
