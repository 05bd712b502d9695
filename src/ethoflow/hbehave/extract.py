"""Stage ``hbehave_extract``: hierarchical per-minute embeddings from a trained hBehaveMAE.

For one aggregation (a window length in minutes, e.g. ``1day`` = 1440) and every cage:

1. windows of that length start every ``window_stride_min`` minutes (plus one window ending at the
   cage's last minute, so every minute is covered; a cage shorter than the window is padded with
   invalid minutes);
2. the encoder embeds each window at every level (level l has one token per ``minutes_per_token[l]``
   minutes); **spreading**: every token's vector is given to each minute it covers, and a minute's
   embedding is the mean over all windows that cover it. With stride S a minute is covered by about
   ``window / S`` windows, instead of computing one window per minute;
3. ``comb`` concatenates all levels per minute.

Outputs per aggregation (``out_dir``): ``embeddings_{agg}_{level}.npz`` for ``level1..levelN`` and
``comb`` with ``embeddings`` (rows, dim) float32, ``timestamps`` (rows,) ``datetime64[m]``, ``valid``
(rows,) float32 (fraction of valid channels at that minute), ``cage_rows`` (structured array
``cage_id, start, stop``: the rows of each cage) -- all loadable with ``allow_pickle=False`` -- and
``frame_map``, the layout of the hBehaveMAE v7 extraction script: a 0-d object array holding the dict
``cage_id -> slice(start, stop)`` (``np.load(path, allow_pickle=True)['frame_map'].item()``; the only
array that needs ``allow_pickle=True``). Beside them ``index_{agg}.parquet`` (one row per minute:
``row, cage_id, experiment, timestamp, valid_fraction``). Rows follow the cages in sorted order, each on
its complete minute grid.

Cages are independent: :func:`plan_extract` makes one task per cage, which the stage
(:mod:`ethoflow.hbehave.stages`) runs as a Slurm job array; :func:`collect_extract` merges them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ethoflow.core.errors import InputError, ParamsError
from ethoflow.core.io import atomic_path, output_set
from ethoflow.core.logging import get_logger
from ethoflow.core.progress import progress
from ethoflow.hbehave.params import ExtractParams, ModelParams
from ethoflow.hbehave.store import list_cages, normalise, read_cage

log = get_logger(__name__)


def level_names(n_levels: int) -> list[str]:
    """``["level1", ..., "levelN", "comb"]``."""
    return [f"level{i + 1}" for i in range(n_levels)] + ["comb"]


def load_model(model_path: str | os.PathLike, model_params: ModelParams | None = None, device: str = "cpu"):
    """Load a trained hBehaveMAE; its architecture comes from the checkpoint.

    Args:
        model_params: when given, must describe the same architecture as the checkpoint.

    Returns:
        ``(model in eval mode, checkpoint dict without weights)``.

    Raises:
        ParamsError: the checkpoint's architecture differs from ``model_params`` (keys listed).
        InputError: missing or unreadable checkpoint.
    """
    # local: ethoflow.hbehave.model.HBehaveMAE imports torch (slow to import)
    from ethoflow.hbehave.model import HBehaveMAE, architecture_from_dict, build_architecture
    from ethoflow.hbehave.train import load_checkpoint

    ck = load_checkpoint(model_path)
    if isinstance(ck, dict) and ("model" in ck or "model_state" in ck) and "architecture" not in ck:
        raise InputError(
            f"{model_path}: a BehaveMAE checkpoint (the authors' main_pretrain.py); convert it with "
            "ethoflow.hbehave.pretrained.resolve_model (the hbehave_extract stage does, with hbehave.pretrained)"
        )
    if "architecture" not in ck or "state_dict" not in ck:
        raise InputError(f"{model_path}: not an hBehaveMAE checkpoint (no architecture/state_dict)")
    arch = architecture_from_dict(ck["architecture"])
    if model_params is not None:
        want = build_architecture(model_params).to_dict()
        have = arch.to_dict()
        diff = [k for k in want if k != "mask_ratio" and want[k] != have.get(k)]
        if diff:
            detail = "; ".join(f"{k}: checkpoint {have.get(k)} vs params {want[k]}" for k in diff)
            raise ParamsError(
                f"{model_path}: the checkpoint's architecture differs from hbehave.model in params.yaml "
                f"({detail}); retrain (dvc repro hbehave_train) or restore the params"
            )
    model = HBehaveMAE(arch)
    model.load_state_dict(ck["state_dict"])
    model.eval().to(device)
    meta = {k: v for k, v in ck.items() if k not in ("state_dict", "optimizer")}
    return model, meta


def window_starts(n_minutes: int, window: int, stride: int) -> list[int]:
    """Window starts ``0, S, 2S, ...`` plus one ending at the last minute (``[0]`` if shorter)."""
    if n_minutes <= window:
        return [0]
    starts = list(range(0, n_minutes - window + 1, stride))
    if starts[-1] + window < n_minutes:
        starts.append(n_minutes - window)
    return starts


def spread_tokens(tokens: np.ndarray, minutes_per_token: int, start: int, sums: np.ndarray) -> None:
    """Add a window's level tokens ``(T_level, D)`` to the minutes they cover: ``sums[start + k*m : start + (k+1)*m] += tokens[k]``."""
    n, d = tokens.shape
    span = n * minutes_per_token
    sums[start : start + span] += np.broadcast_to(tokens[:, None, :], (n, minutes_per_token, d)).reshape(span, d)


def _autocast(device, precision: str):

    # local: torch is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    import torch

    if precision == "fp32" or (precision == "auto" and device.type != "cuda"):
        return contextlib.nullcontext()
    if precision == "auto":
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    else:
        dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}[precision]
    return torch.autocast(device.type, dtype=dtype)


def embed_cage(
    model,
    x: np.ndarray,
    window: int,
    stride: int,
    batch_size: int = 16,
    precision: str = "auto",
    starts: list[int] | None = None,
) -> list[np.ndarray]:
    """Per-minute embeddings of one cage at every level.

    Args:
        model: a trained :class:`~ethoflow.hbehave.model.HBehaveMAE` (eval mode).
        x: normalised activity (M, C) float32 (invalid minutes = 0).
        window: window length in minutes (trained length or a multiple of the mask-unit span).
        stride: minutes between window starts.
        starts: explicit window starts (default :func:`window_starts`).

    Returns:
        One float32 array (M, D_level) per level: mean over covering windows of the covering token.
    """
    # local: torch is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    import torch

    model.check_window(window)
    arch = model.arch
    _, H, W = arch.input_size
    M = x.shape[0]
    if M < window:
        x = np.concatenate([x, np.zeros((window - M, x.shape[1]), np.float32)])
    starts = window_starts(M, window, stride) if starts is None else starts
    mpt = arch.minutes_per_token
    sums = [np.zeros((max(M, window), d), np.float64) for d in model.level_dims]
    counts = np.zeros(max(M, window), np.float64)
    device = next(model.parameters()).device
    for b in range(0, len(starts), batch_size):
        chunk = starts[b : b + batch_size]
        xb = torch.from_numpy(np.stack([x[s : s + window] for s in chunk])).reshape(len(chunk), 1, window, H, W)
        with torch.no_grad(), _autocast(device, precision):
            levels = model.embed(xb.to(device))
        levels = [lv.float().cpu().numpy() for lv in levels]
        for i, s in enumerate(chunk):
            for lv, m, acc in zip(levels, mpt, sums):
                spread_tokens(lv[i], m, s, acc)
            counts[s : s + window] += 1
    return [(acc[:M] / counts[:M, None]).astype(np.float32) for acc in sums]


def embed_cage_to_file(
    model_path: str, store: str, cage_id: str, window: int, params: dict[str, Any], part_path: str
) -> str:
    """Array-task body: embed one cage, write ``part_path`` (npz, one array per level + timestamps).

    Uses the checkpoint's normalisation statistics (the ones the model was trained with).
    """
    # local: torch is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    import torch

    cfg = ExtractParams(**params)
    if os.environ.get("ETHOFLOW_THREADS"):
        torch.set_num_threads(int(os.environ["ETHOFLOW_THREADS"]))
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model, meta = load_model(model_path, device=device)
    rec = read_cage(store, cage_id)
    x = normalise(rec.activity, rec.valid, meta["normalisation"])
    levels = embed_cage(model, x, window, cfg.window_stride_min, cfg.batch_size, cfg.precision)
    arrays = {f"level{i + 1}": lv for i, lv in enumerate(levels)}
    with atomic_path(part_path) as tmp:
        np.savez(
            tmp, timestamps=rec.timestamps.astype("datetime64[m]"), valid=rec.valid.mean(1).astype(np.float32), **arrays
        )
    return part_path


@dataclass
class ExtractPlan:
    """What :func:`plan_extract` prepared: the cages to embed, one task per cage, and where parts go.

    ``tasks`` are the argument tuples of :func:`embed_cage_to_file`, one per cage (they pickle, so a
    Slurm job array can run them); :func:`collect_extract` merges the parts they write.
    """

    model_path: str
    store: str
    agg: str
    window: int
    stride: int
    names: list[str]
    n_levels: int
    out_dir: Path
    cages: list[str]
    parts: list[str]
    tasks: list[tuple]
    started: float


def plan_extract(
    model_path: str | os.PathLike,
    store: str | os.PathLike,
    agg: str,
    cfg: ExtractParams,
    out_dir: str | os.PathLike,
    model_params: ModelParams | None = None,
) -> ExtractPlan:
    """Check the aggregation and the model, and prepare one :func:`embed_cage_to_file` task per cage.

    Raises:
        ParamsError: unknown aggregation, window not a multiple of the mask-unit span, architecture mismatch.
    """
    t0 = time.time()
    if agg not in cfg.aggregations:
        raise ParamsError(f"hbehave.extract.aggregations has no {agg!r} (have: {', '.join(cfg.aggregations)})")
    window = int(cfg.aggregations[agg])
    model, _ = load_model(model_path, model_params)
    model.check_window(window)
    out_dir = Path(out_dir)
    parts_dir = out_dir / ".parts"
    parts_dir.mkdir(parents=True, exist_ok=True)
    cages = list_cages(store)
    parts = [str(parts_dir / f"{c}.npz") for c in cages]
    params = cfg.model_dump()
    tasks = [(str(model_path), str(store), c, window, params, part) for c, part in zip(cages, parts)]
    return ExtractPlan(
        str(model_path),
        str(store),
        agg,
        window,
        cfg.window_stride_min,
        level_names(model.arch.n_levels),
        model.arch.n_levels,
        out_dir,
        cages,
        parts,
        tasks,
        t0,
    )


def collect_extract(plan: ExtractPlan) -> dict[str, Any]:
    """Merge the per-cage parts of ``plan`` into the per-level files and the index (module docstring).

    Returns:
        Metrics: ``cages``, ``rows``, ``dims`` per level, ``windows`` (the wall time is logged, not returned).
    """
    # local: keeps ethoflow.hbehave.extract importable without pandas
    import pandas as pd

    names, store, cages, parts = plan.names, plan.store, plan.cages, plan.parts
    per_level: dict[str, list[np.ndarray]] = {k: [] for k in names}
    ts_all, valid_all, rows, frame = [], [], [], []
    start = 0
    n_windows = 0
    for cid, part in zip(progress(cages, desc="collect"), parts):
        with np.load(part, allow_pickle=False) as z:
            levels = [z[f"level{i + 1}"] for i in range(plan.n_levels)]
            ts, valid = z["timestamps"], z["valid"]
        for i, lv in enumerate(levels):
            per_level[f"level{i + 1}"].append(lv)
        per_level["comb"].append(np.concatenate(levels, axis=1))
        m = len(ts)
        n_windows += len(window_starts(m, plan.window, plan.stride))
        attrs = read_cage(store, cid, 0, 1).attrs
        rows.append(
            pd.DataFrame(
                {
                    "row": np.arange(start, start + m),
                    "cage_id": cid,
                    "experiment": str(attrs.get("experiment")),
                    "timestamp": ts.astype("datetime64[ns]"),
                    "valid_fraction": valid,
                }
            )
        )
        frame.append((cid, start, start + m))
        ts_all.append(ts)
        valid_all.append(valid)
        start += m
    width = max(8, max(len(c) for c in cages))
    cage_rows = np.array(frame, dtype=[("cage_id", f"U{width}"), ("start", "i8"), ("stop", "i8")])
    frame_map = v7_frame_map(cage_rows)
    timestamps = np.concatenate(ts_all).astype("datetime64[m]")
    valid = np.concatenate(valid_all).astype(np.float32)
    dims = {}
    out_dir, agg = plan.out_dir, plan.agg
    targets = [out_dir / f"embeddings_{agg}_{name}.npz" for name in names] + [out_dir / f"index_{agg}.parquet"]
    with output_set(targets) as tmps:  # all-or-nothing: the npz set and the index appear together
        for name, tmp in zip(names, tmps):
            emb = np.concatenate(per_level[name]).astype(np.float32)
            dims[name] = int(emb.shape[1])
            np.savez_compressed(
                tmp, embeddings=emb, timestamps=timestamps, valid=valid, cage_rows=cage_rows, frame_map=frame_map
            )
        pd.concat(rows, ignore_index=True).to_parquet(tmps[-1], index=False)
    shutil.rmtree(out_dir / ".parts", ignore_errors=True)
    n = len(cages)
    log.info(
        "extracted %s embeddings of %d cages (%d windows) in %.1f s", agg, n, n_windows, time.time() - plan.started
    )
    return {
        "aggregation": agg,
        "window_min": plan.window,
        "stride_min": plan.stride,
        "cages": n,
        "rows": int(start),
        "dims": dims,
        "windows": n_windows,
    }


def extract(
    model_path: str | os.PathLike,
    store: str | os.PathLike,
    agg: str,
    cfg: ExtractParams,
    out_dir: str | os.PathLike,
    model_params: ModelParams | None = None,
) -> dict[str, Any]:
    """Embed every cage of ``store`` for aggregation ``agg`` in this process and write the per-level files.

    :func:`plan_extract`, every task, :func:`collect_extract`; the ``hbehave_extract`` stage
    (:func:`ethoflow.hbehave.stages.run_hbehave_extract`) runs the tasks as a Slurm job array instead.

    Returns:
        Metrics: ``cages``, ``rows``, ``dims`` per level, ``windows``.

    Raises:
        ParamsError: unknown aggregation, window not a multiple of the mask-unit span, architecture mismatch.
    """
    plan = plan_extract(model_path, store, agg, cfg, out_dir, model_params)
    try:
        for task in plan.tasks:
            embed_cage_to_file(*task)
        return collect_extract(plan)
    finally:  # the per-cage parts are scratch: removed on success and on failure
        shutil.rmtree(Path(out_dir) / ".parts", ignore_errors=True)


def v7_frame_map(cage_rows: np.ndarray) -> np.ndarray:
    """The v7 extraction script's ``frame_map``: a 0-d object array holding ``{cage_id: slice(start, stop)}``.

    ``cage_rows`` is the structured ``(cage_id, start, stop)`` array. Keys are plain ``str``, slices hold
    plain ``int`` (the pickle stays free of numpy scalar types and reads back with any numpy version).
    """
    fm = {str(r["cage_id"]): slice(int(r["start"]), int(r["stop"])) for r in cage_rows}
    out = np.empty((), dtype=object)
    out[()] = fm
    return out


def load_embeddings(path: str | os.PathLike) -> dict[str, Any]:
    """Read an ``embeddings_{agg}_{level}.npz`` without unpickling: arrays plus the cage rows as a dict.

    Reads ``cage_rows`` (files written before the v7 ``frame_map`` was added kept the structured array
    under ``frame_map``; those read too). The pickled v7 ``frame_map`` is never loaded here.

    Returns:
        ``{"embeddings", "timestamps", "valid", "frame_map": {cage_id: (start, stop)}}``.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: embeddings file not found (run hbehave_extract)")
    with np.load(path, allow_pickle=False) as z:
        rows = z["cage_rows"] if "cage_rows" in z.files else z["frame_map"]
        fm = {str(r["cage_id"]): (int(r["start"]), int(r["stop"])) for r in rows}
        return {"embeddings": z["embeddings"], "timestamps": z["timestamps"], "valid": z["valid"], "frame_map": fm}
