"""Learning curve: detection F1 against the duration of training audio, several seeds each.

vak/TweetyNet users size their annotation effort with learning curves (Cohen et al., eLife 2022): the
same model trained on increasing amounts of training audio, each several times, scored on one test set.
Here one point (``acoustic_lc@<duration>-<seed>``) takes the variant's training recordings in a seeded
random order and keeps whole recordings until their audio reaches ``duration`` seconds (``all``: every
one), so for one seed the subsets are nested; it trains the variant's model on the training segments of
those recordings only (same validation split, the seed also seeds training), predicts the variant's
validation and test recordings, and evaluates as ``acoustic_evaluate`` does (threshold ``auto`` chosen
on the validation tapes, IoU matching on the held-out test tapes). :func:`summarise` gathers every point
into ``curve.csv``, the figure (mean and min-max over seeds per duration) and the headline numbers.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ethoflow.acoustic.evaluation.evaluate import evaluate_predictions
from ethoflow.core.errors import InputError
from ethoflow.core.io import atomic_dir, read_json, write_json
from ethoflow.core.logging import get_logger

log = get_logger(__name__)


def parse_duration(value: str | float | int) -> float | None:
    """``all`` -> None, else seconds as a float > 0.

    Raises:
        InputError: neither ``all`` nor a positive number.
    """
    if str(value).strip().lower() == "all":
        return None
    try:
        v = float(value)
    except ValueError as exc:
        raise InputError(f"learning-curve duration '{value}': a number of seconds or 'all'") from exc
    if v <= 0:
        raise InputError(f"learning-curve duration '{value}': must be > 0 seconds")
    return v


def choose_recordings(durations: dict[str, float], budget_s: float | None, seed: int) -> list[str]:
    """Training recordings (name -> audio seconds) in a seeded random order, kept until their audio reaches
    ``budget_s`` (None: all). Nested in ``budget_s`` for a fixed ``seed``; at least one recording."""
    names = sorted(durations)
    order = [names[i] for i in np.random.default_rng(seed).permutation(len(names))]
    if budget_s is None:
        return order
    chosen, total = [], 0.0
    for name in order:
        if total >= budget_s:
            break
        chosen.append(name)
        total += durations[name]
    return chosen


def subset_variant(variant_dir: Path, recordings: list[str], out_dir: Path) -> int:
    """Copy the variant's CSVs and index into ``out_dir`` with ``train.csv`` cut to ``recordings``.
    Returns the training segments kept.

    Raises:
        InputError: no training segment left (the recordings hold none).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in ("val.csv", "test.csv", "variant_index.json"):
        shutil.copyfile(variant_dir / name, out_dir / name)
    train = pd.read_csv(variant_dir / "train.csv", keep_default_na=False, na_values=[""])
    kept = train[train.recording.isin(recordings)]
    if kept.empty:
        raise InputError(f"{variant_dir / 'train.csv'}: no training segment in recordings {recordings}")
    kept.to_csv(out_dir / "train.csv", index=False, lineterminator="\n")
    return len(kept)


def heldout_scores(metrics: dict[str, Any]) -> dict[str, float]:
    """precision/recall/F1 and counts on the held-out tapes from an evaluation ``metrics.json``
    (the Hungarian matching when present, else the first method)."""
    held = metrics.get("groups", {}).get("heldout", {})
    if not held:
        return {"f1": 0.0, "precision": 0.0, "recall": 0.0, "tp": 0, "fp": 0, "fn": 0}
    method = "hungarian" if "hungarian" in held else sorted(held)[0]
    m = held[method]
    return {k: m[k] for k in ("f1", "precision", "recall", "tp", "fp", "fn")}


def run_point(cfg, variant: str, duration: str, seed: int, variant_dir, corpus_index, out, params_path: str) -> dict:
    """One learning-curve point into ``out`` (all-or-nothing): ``point.json`` (duration asked and used,
    recordings, segments, seed, held-out scores), ``model/`` (model.pt, history, summary) and
    ``evaluation/`` (as ``acoustic_evaluate`` writes it). In-process: the caller dispatches."""
    # local: keeps ethoflow.acoustic.training.learning_curve importable without pydantic
    from ethoflow.acoustic.inference.predict import StreamOptions, predict_recordings
    from ethoflow.acoustic.records import read_variant_index
    from ethoflow.acoustic.training.train import train_model

    lc = cfg.learning_curve
    budget = parse_duration(duration)
    vdir = Path(variant_dir)
    vindex = read_variant_index(vdir / "variant_index.json")
    train_durs = {r.recording: r.duration_s for r in vindex.recordings if r.role == "train"}
    chosen = choose_recordings(train_durs, budget, seed)
    training = cfg.variant_train(variant, params_path).model_copy(
        update={"seed": seed, **({"epochs": lc.epochs} if lc.epochs else {})}
    )
    features = cfg.variant_features(variant, params_path)
    setting = cfg.predict.settings[lc.setting]
    with atomic_dir(out) as tmp:
        tmp = Path(tmp)
        n_seg = subset_variant(vdir, chosen, tmp / "variant")
        summary = train_model(str(tmp / "variant"), str(tmp / "model"), features, training, str(tmp / "ckpt"))
        heldout = vindex.model_copy(update={"recordings": [r for r in vindex.recordings if r.role != "train"]})
        predict_recordings(
            str(tmp / "model" / "model.pt"),
            heldout.recording_dicts(),
            setting,
            str(tmp / "predictions.parquet"),
            cfg.predict.batch_size,
            cfg.predict.num_threads,
            features=features.model_dump(),
            stream=StreamOptions(cfg.predict.chunk_s, cfg.corpus.nonfinite),
        )
        evaluate_predictions(
            cfg,
            variant,
            lc.setting,
            vindex,
            str(tmp / "predictions.parquet"),
            str(corpus_index),
            str(tmp / "evaluation"),
        )
        scores = heldout_scores(read_json(tmp / "evaluation" / "metrics.json"))
        point = {
            "variant": variant,
            "duration": str(duration),
            "duration_s": float(sum(train_durs[r] for r in chosen)),
            "recordings": chosen,
            "segments": n_seg,
            "seed": seed,
            "best_epoch": summary.get("best_epoch"),
            **scores,
        }
        shutil.rmtree(tmp / "ckpt", ignore_errors=True)
        (tmp / "predictions.parquet").unlink()
        write_json(tmp / "point.json", point)
    log.info(
        "learning curve %s s (%.0f s used), seed %d: held-out F1 %.3f", duration, point["duration_s"], seed, point["f1"]
    )
    return point


def summarise(points_root, out, index_path, evaluations: list[str]) -> dict[str, Any]:
    """Gather ``points_root/*/point.json`` into ``out/curve.csv`` and ``out/learning_curve.png`` (F1 mean
    and min-max over seeds against training audio), and write ``index_path`` (``evaluation/index.json``:
    every evaluation folder among ``evaluations`` and the points, its files and held-out headline numbers).
    Returns the headline metrics: per duration ``f1_mean``, ``f1_sd``, ``f1_min``, ``f1_max``, seeds,
    ``duration_s``.

    Raises:
        InputError: no point found.
    """
    files = sorted(Path(points_root).glob("*/point.json"))
    if not files:
        raise InputError(f"{points_root}: no learning-curve point (run acoustic_lc)")
    table = pd.DataFrame([read_json(f) for f in files]).drop(columns=["recordings"])
    table = table.sort_values(["duration_s", "seed"]).reset_index(drop=True)
    agg = (
        table.groupby("duration", sort=False)
        .agg(duration_s=("duration_s", "mean"), seeds=("seed", "count"), f1_mean=("f1", "mean"),
             f1_sd=("f1", "std"), f1_min=("f1", "min"), f1_max=("f1", "max"))
        .reset_index()
    )  # fmt: skip
    agg["f1_sd"] = agg["f1_sd"].fillna(0.0)
    with atomic_dir(out) as tmp:
        tmp = Path(tmp)
        table.to_csv(tmp / "curve.csv", index=False, lineterminator="\n", float_format="%.6g")
        _plot(table, agg, tmp / "learning_curve.png")
    entries = []
    for folder in [*evaluations, *(str(f.parent / "evaluation") for f in files)]:
        for mfile in sorted(Path(folder).glob("**/metrics.json")) if Path(folder).is_dir() else []:
            m = read_json(mfile)
            entries.append(
                {
                    "evaluation": str(mfile.parent),
                    "variant": m.get("variant"),
                    "setting": m.get("setting"),
                    "layer": m.get("layer"),
                    "files": sorted(str(p.relative_to(mfile.parent)) for p in mfile.parent.rglob("*") if p.is_file()),
                    "heldout": heldout_scores(m),
                }
            )
    write_json(index_path, {"evaluations": entries})
    return {
        str(r.duration): {k: (float(getattr(r, k)) if k != "seeds" else int(r.seeds)) for k in
                          ("duration_s", "seeds", "f1_mean", "f1_sd", "f1_min", "f1_max")}
        for r in agg.itertuples()
    }  # fmt: skip


def _plot(table: pd.DataFrame, agg: pd.DataFrame, path: Path) -> None:
    # local: matplotlib is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    import matplotlib

    matplotlib.use("Agg")
    # local: matplotlib is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.5), dpi=100)
    ax.scatter(table.duration_s, table.f1, s=14, color="grey", alpha=0.7, label="one seed")
    ax.fill_between(agg.duration_s, agg.f1_min, agg.f1_max, alpha=0.2, label="min-max over seeds")
    ax.plot(agg.duration_s, agg.f1_mean, "o-", label="mean")
    ax.set_xlabel("training audio (s)")
    ax.set_ylabel("event F1, held-out test tapes")
    ax.set_ylim(0, 1)
    ax.set_title("acoustic learning curve", fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def points_dir_name(duration: str, seed: int) -> str:
    """``<duration>-<seed>``, the folder (and DVC matrix item) of one point."""
    return f"{duration}-{seed}"
