"""Seeded demo data for hbehave: Digital-Ventilated-Cage-like home-cage activity.

Writes ``<out>/{cage_id}.csv`` (columns ``timestamp, v_1..v_12``, one row per minute) and
``<out>/summary.csv`` (``cage_id, from_tpt, to_tpt, strain, nb_animals, age``; age in weeks).

The simulation (per cage, per minute): a two-state rest/active Markov chain whose onset probability
follows the light cycle (lights on 07:00-19:00, mice active at night) and the strain (activity level
and bout length differ), an animal position doing a random walk over the 3 x 4 electrode grid while
active and resting on a nest electrode otherwise, and per-electrode readings = activity intensity
x proximity to the animal + small sensor noise (non-negative, 4 decimals). Recording imperfections,
all seeded: a gap (missing rows) in some cages, duplicated minutes (identical and conflicting),
non-numeric (``ERR``) and empty cells, and swapped (unsorted) rows, so the ingest rules have work.
Same params = same bytes.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from ethoflow.core.io import atomic_path
from ethoflow.hbehave.params import DemoParams, HBehaveParams

# Strain profile: (night onset prob, day onset prob, mean bout minutes, intensity)
_PROFILES = [
    (0.20, 0.03, 14.0, 0.55),
    (0.12, 0.04, 8.0, 0.40),
    (0.16, 0.02, 20.0, 0.70),
]


def _night_weight(minute_of_day: np.ndarray) -> np.ndarray:
    """1 in the dark phase (19:00-07:00), 0 in the light, with 30-minute ramps."""
    h = minute_of_day / 60.0
    up = 1 / (1 + np.exp(-(h - 19.0) * 4))
    down = 1 / (1 + np.exp((h - 7.0) * 4))
    return np.clip(up + down, 0, 1)


def simulate_cage(
    rng: np.random.Generator,
    n_minutes: int,
    start: np.datetime64,
    profile,
    electrodes: int,
    n_animals: int,
    age_weeks: float,
) -> np.ndarray:
    """Readings (n_minutes, electrodes) float64 >= 0 for one cage (see module docstring)."""
    night_p, day_p, bout, intensity = profile
    age_factor = float(np.clip(1.15 - 0.01 * age_weeks, 0.7, 1.1))
    mod = ((start.astype("datetime64[m]").astype(np.int64) + np.arange(n_minutes)) % 1440).astype(float)
    w = _night_weight(mod)
    p_on = (day_p + (night_p - day_p) * w) * age_factor
    p_off = 1.0 / bout
    rows, cols = (3, electrodes // 3) if electrodes % 3 == 0 else (1, electrodes)
    ex, ey = np.meshgrid(np.arange(cols), np.arange(rows))
    ex, ey = ex.ravel().astype(float), ey.ravel().astype(float)
    nest = int(rng.integers(electrodes))
    out = np.zeros((n_minutes, electrodes))
    for _a in range(n_animals):
        active = False
        pos = np.array([ex[nest], ey[nest]])
        u = rng.random(n_minutes)
        steps = rng.normal(0, 0.6, size=(n_minutes, 2))
        amp = rng.gamma(4.0, intensity / 4.0, size=n_minutes)
        for t in range(n_minutes):
            active = (u[t] >= p_off) if active else (u[t] < p_on[t])
            if active:
                pos = np.clip(pos + steps[t], [0, 0], [cols - 1, rows - 1])
                d2 = (ex - pos[0]) ** 2 + (ey - pos[1]) ** 2
                out[t] += amp[t] * np.exp(-d2 / 0.8)
            else:
                pos = pos + 0.3 * (np.array([ex[nest], ey[nest]]) - pos)
                d2 = (ex - pos[0]) ** 2 + (ey - pos[1]) ** 2
                out[t] += 0.02 * amp[t] * np.exp(-d2 / 0.5)  # breathing/grooming at the nest
    out += np.abs(rng.normal(0, 0.004, size=out.shape))
    return out


def generate(params: DemoParams, out_dir: str | os.PathLike) -> dict:
    """Write the demo cages and summary to ``out_dir``; return a small manifest.

    Returns:
        ``{"cages": [...], "rows": {cage_id: n_rows}, "gaps": {cage_id: [start, stop]}}``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(params.seed)
    start = np.datetime64(pd.Timestamp(params.start).to_datetime64(), "m")
    n_min = params.n_days * 1440
    summary, manifest = [], {"cages": [], "rows": {}, "gaps": {}}
    for i in range(params.n_cages):
        cage_id = f"cage{i + 1:02d}"
        strain = params.strains[i % len(params.strains)]
        profile = _PROFILES[params.strains.index(strain) % len(_PROFILES)]
        n_animals = int(rng.integers(1, 4))
        age = float(rng.choice([8, 12, 16, 20]))
        x = simulate_cage(rng, n_min, start, profile, params.electrodes, n_animals, age)
        cells = np.char.mod("%.4f", np.round(x, 4)).astype(object)
        ts = (start + np.arange(n_min).astype("timedelta64[m]")).astype("datetime64[s]")
        stamps = np.array([str(t).replace("T", " ") for t in ts], dtype=object)
        keep = np.ones(n_min, bool)
        if rng.random() < params.gap_prob:
            g0 = int(rng.integers(60, n_min - 240))
            glen = int(rng.integers(30, 181))
            keep[g0 : g0 + glen] = False
            manifest["gaps"][cage_id] = [g0, g0 + glen]
        for _ in range(params.bad_values):
            r, c = int(rng.integers(n_min)), int(rng.integers(params.electrodes))
            cells[r, c] = "ERR"
            r, c = int(rng.integers(n_min)), int(rng.integers(params.electrodes))
            cells[r, c] = ""
        order = np.flatnonzero(keep)
        for _ in range(params.duplicate_rows):
            r = int(rng.choice(order[:-1]))
            pos = int(np.searchsorted(order, r))
            order = np.insert(order, pos + 1, r)
        rows = [[stamps[r], *cells[r]] for r in order]
        # Conflicting duplicates: the second copy of every other duplicated minute gets new values.
        seen, flip = set(), False
        for k, r in enumerate(order):
            if r in seen:
                if flip:
                    rows[k] = [stamps[r], *np.char.mod("%.4f", np.round(x[r] * 1.1 + 0.01, 4))]
                flip = not flip
            seen.add(r)
        for _ in range(params.swapped_rows):
            k = int(rng.integers(1, len(rows) - 1))
            rows[k], rows[k + 1] = rows[k + 1], rows[k]
        df = pd.DataFrame(rows, columns=["timestamp", *[f"v_{e + 1}" for e in range(params.electrodes)]])
        with atomic_path(out_dir / f"{cage_id}.csv") as tmp:
            df.to_csv(tmp, index=False, lineterminator="\n")
        end = start + np.timedelta64(n_min, "m")
        summary.append(
            {
                "cage_id": cage_id,
                "from_tpt": str(start.astype("datetime64[s]")).replace("T", " "),
                "to_tpt": str(end.astype("datetime64[s]")).replace("T", " "),
                "strain": strain,
                "nb_animals": n_animals,
                "age": age,
            }
        )
        manifest["cages"].append(cage_id)
        manifest["rows"][cage_id] = len(rows)
    with atomic_path(out_dir / "summary.csv") as tmp:
        pd.DataFrame(summary).to_csv(tmp, index=False, lineterminator="\n")
    return manifest


def run_demo_hbehave(cfg: HBehaveParams, out: str | os.PathLike) -> dict:
    """Stage ``demo_hbehave``: the demo cages of ``cfg.demo`` (the ``hbehave`` params) into ``out``.

    Args:
        out: folder of the demo activity files.
    """
    return generate(cfg.demo, out)
