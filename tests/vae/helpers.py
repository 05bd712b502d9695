"""Small synthetic activity stores for vae / build06 tests (store contract of ethoflow.hbehave.store)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ethoflow.hbehave.store import CageRecord, create_store, write_cage


def make_store(
    path: Path,
    cages: dict[str, dict] | None = None,
    minutes: int = 24 * 60,
    channels: int = 4,
    seed: int = 0,
    start: str = "2024-01-01T00:00",
) -> Path:
    """A store with nocturnal, bouty activity; ``cages`` maps cage_id -> attrs (strain, experiment, ...).

    A 90-minute gap (valid False, NaN) sits in the first cage at minutes 120-210.
    """
    rng = np.random.default_rng(seed)
    cages = cages or {
        "C1": {"strain": "B6", "age": 10, "experiment": "expA"},
        "C2": {"strain": "BALB", "age": 12, "experiment": "expA"},
        "C3": {"strain": "B6", "age": 11, "experiment": "expB"},
    }
    create_store(path, [f"v_{i + 1}" for i in range(channels)])
    ts = np.datetime64(start, "m") + np.arange(minutes).astype("timedelta64[m]")
    hours = (ts - ts.astype("datetime64[D]")).astype(np.int64) / 60.0
    night = ((hours < 7) | (hours >= 19)).astype(np.float32)
    for k, (cid, attrs) in enumerate(cages.items()):
        level = 1.0 + 0.5 * k
        base = level * (0.3 + 2.0 * night)[:, None] * rng.gamma(2.0, 1.0, size=(minutes, channels))
        act = np.floor(base).astype(np.float32)
        valid = np.ones_like(act, dtype=bool)
        if k == 0:
            valid[120:210] = False
            act[~valid] = np.nan
        write_cage(path, CageRecord(cid, act, valid, ts.copy(), dict(attrs)))
    return path
