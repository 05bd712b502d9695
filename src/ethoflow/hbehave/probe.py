"""Linear probes of hBehaveMAE embeddings: does each level separate a categorical label?

BehaveMAE's embeddings are judged by linear probes (Stoffl et al., ECCV 2024: a linear classifier per
level on frozen embeddings). Here, for one aggregation, the per-minute embeddings of every level are
averaged in bins of ``bin_min`` minutes per cage (minutes with a valid fraction below
``min_valid_fraction`` left out; a bin needs half its minutes), each bin gets the majority label of its
minutes, and a standardised logistic regression (scikit-learn, ``class_weight="balanced"``) is
cross-validated **across cages** (``StratifiedGroupKFold``: a cage is never in training and test at once, so the
probe cannot learn an animal's identity). Reported per level: accuracy and macro-F1 of the out-of-fold
predictions, the standard deviation of accuracy over folds, and two chance levels: the majority-class
fraction (accuracy) and the mean macro-F1 of ``n_permutations`` label permutations within cages
(``sklearn.model_selection.permutation_test_score``, which also gives the p-value).

Labels: ``light_phase`` (``light``/``dark`` from ``hbehave.heatmaps.day_start_hour``/``day_end_hour``,
needs no table) or a column of a lab's labels table (``labels_file``, CSV): ``cage_id``, ``start``,
``end`` (timestamps, ``end`` exclusive; both blank for a label of the whole cage, e.g. genotype or sex)
and one column per label. Minutes no row covers are left out.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ethoflow.core.errors import InputError, ParamsError
from ethoflow.core.io import atomic_dir
from ethoflow.core.logging import get_logger

log = get_logger(__name__)

LIGHT_PHASE = "light_phase"


def read_labels(path: str | os.PathLike, label: str) -> pd.DataFrame:
    """The labels table ``path`` as rows ``cage_id, start, end, label`` (``start``/``end``
    ``datetime64[m]``, NaT for a whole-cage label).

    Raises:
        InputError: the file is missing or unreadable, a column is missing, or a row has an unreadable
            timestamp, ``end`` not after ``start``, only one of the two, or an empty label (file and
            row named; rows count from 2, the header being line 1).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: labels table not found")
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a readable CSV ({exc})") from exc
    missing = [c for c in ("cage_id", "start", "end", label) if c not in table.columns]
    if missing:
        raise InputError(f"{path}: missing column(s) {missing} (have {list(table.columns)})")
    rows = []
    for i, r in table.iterrows():
        line = int(i) + 2
        start, end, value = r["start"].strip(), r["end"].strip(), r[label].strip()
        if not value:
            raise InputError(f"{path}: line {line}: empty '{label}'")
        if bool(start) != bool(end):
            raise InputError(f"{path}: line {line}: give both start and end, or neither (whole cage)")
        try:
            t0 = np.datetime64(pd.Timestamp(start), "m") if start else np.datetime64("NaT", "m")
            t1 = np.datetime64(pd.Timestamp(end), "m") if end else np.datetime64("NaT", "m")
        except ValueError as exc:
            raise InputError(f"{path}: line {line}: unreadable timestamp ({exc})") from exc
        if start and t1 <= t0:
            raise InputError(f"{path}: line {line}: end {end} is not after start {start}")
        rows.append({"cage_id": r["cage_id"].strip(), "start": t0, "end": t1, "label": value})
    return pd.DataFrame(rows, columns=["cage_id", "start", "end", "label"])


def minute_labels(
    cage_id: str, timestamps: np.ndarray, label: str, table: pd.DataFrame | None, day_window: tuple[float, float]
) -> np.ndarray:
    """Label per minute of one cage (object array, ``None`` where no row covers the minute)."""
    out = np.full(len(timestamps), None, dtype=object)
    if label == LIGHT_PHASE and table is None:
        # local: keeps ethoflow.hbehave.probe importable without pydantic
        from ethoflow.hbehave.plots import is_day

        return np.where(is_day(timestamps, *day_window), "light", "dark").astype(object)
    for r in table[table["cage_id"] == cage_id].itertuples():
        sel = np.ones(len(timestamps), bool) if pd.isna(r.start) else (timestamps >= r.start) & (timestamps < r.end)
        out[sel] = r.label
    return out


def binned_samples(data: dict[str, Any], labels: dict[str, np.ndarray], bin_min: int, min_valid: float):
    """(X (bins, dim) float64, y (bins,) str, groups (bins,) cage ids) from one level's embeddings:
    minute embeddings averaged per ``bin_min``-minute clock bin per cage, majority label."""
    xs, ys, gs = [], [], []
    for cid, (a, b) in sorted(data["frame_map"].items()):
        emb, ts, valid, lab = data["embeddings"][a:b], data["timestamps"][a:b], data["valid"][a:b], labels[cid]
        keep = (valid >= min_valid) & (lab != None)  # noqa: E711 - elementwise on an object array
        if not keep.any():
            continue
        bins = ts[keep].astype("datetime64[m]").astype(np.int64) // bin_min
        frame = pd.DataFrame({"bin": bins, "label": lab[keep]})
        for idx in frame.groupby("bin").indices.values():
            if len(idx) < bin_min / 2:
                continue
            xs.append(emb[keep][idx].astype(np.float64).mean(axis=0))
            ys.append(frame["label"].iloc[idx].mode().iloc[0])
            gs.append(cid)
    if not xs:
        return np.zeros((0, data["embeddings"].shape[1])), np.array([], str), np.array([], str)
    return np.stack(xs), np.asarray(ys, dtype=str), np.asarray(gs, dtype=str)


def probe_level(X: np.ndarray, y: np.ndarray, groups: np.ndarray, cfg) -> dict[str, Any]:
    """Cross-validated (across cages) logistic-regression probe of one level; see the module docstring.

    Raises:
        InputError: fewer than two classes or two cages with labelled bins.
    """
    # local: sklearn is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.model_selection import StratifiedGroupKFold, cross_val_predict, permutation_test_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    classes, counts = np.unique(y, return_counts=True)
    n_groups = len(np.unique(groups))
    if len(classes) < 2 or n_groups < 2:
        raise InputError(f"probe needs two classes and two cages with labelled bins; got {len(classes)} / {n_groups}")
    cv = StratifiedGroupKFold(n_splits=min(cfg.folds, n_groups))  # each fold keeps both classes where it can
    model = make_pipeline(
        StandardScaler(), LogisticRegression(C=cfg.C, max_iter=5000, class_weight="balanced", random_state=cfg.seed)
    )
    with threadpool_limits(1):  # hundreds of small fits: BLAS threads only contend (10x slower on 2 busy cores)
        pred = cross_val_predict(model, X, y, groups=groups, cv=cv)
        fold_acc = [accuracy_score(y[te], pred[te]) for _, te in cv.split(X, y, groups)]
        _, perm_scores, p_value = permutation_test_score(
            model, X, y, groups=groups, cv=cv, scoring="f1_macro", n_permutations=cfg.n_permutations,
            random_state=cfg.seed,
        )  # fmt: skip
    return {
        "n_bins": len(y),
        "n_cages": n_groups,
        "classes": {str(c): int(n) for c, n in zip(classes, counts)},
        "accuracy": float(accuracy_score(y, pred)),
        "accuracy_sd_folds": float(np.std(fold_acc)),
        "macro_f1": float(f1_score(y, pred, average="macro")),
        "chance_accuracy": float(counts.max() / counts.sum()),
        "chance_macro_f1": float(np.mean(perm_scores)),
        "p_value": float(p_value),
    }


def _plot(table: pd.DataFrame, title: str, path: Path) -> None:
    # local: matplotlib is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    import matplotlib

    matplotlib.use("Agg")
    # local: matplotlib is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.2), dpi=100)
    x = np.arange(len(table))
    ax.bar(x - 0.2, table["accuracy"], 0.4, yerr=table["accuracy_sd_folds"], label="accuracy (sd over folds)")
    ax.bar(x + 0.2, table["macro_f1"], 0.4, label="macro-F1")
    for i, r in enumerate(table.itertuples()):
        ax.hlines(r.chance_accuracy, i - 0.4, i, colors="k", linestyles=":")
        ax.hlines(r.chance_macro_f1, i, i + 0.4, colors="k", linestyles="--")
    ax.plot([], [], "k:", label="chance: majority class")
    ax.plot([], [], "k--", label="chance: permuted labels")
    ax.set_xticks(x, table["level"])
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("out-of-fold score")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def run_probe(embeddings: str | os.PathLike, agg: str, cfg, day_window: tuple[float, float], out: str | os.PathLike):
    """Probe every level of aggregation ``agg`` (folder ``embeddings``); write ``out/probe.csv`` (one row
    per level) and ``out/probe.png``, all-or-nothing. Returns ``{level: result}`` (:func:`probe_level`).

    Raises:
        InputError: labels table problems (:func:`read_labels`), missing embeddings, too few classes/cages.
        ParamsError: ``label`` is not ``light_phase`` and no ``labels_file`` is given.
    """
    # local: keeps ethoflow.hbehave.probe importable without pydantic
    from ethoflow.hbehave.extract import load_embeddings

    if cfg.labels_file is None and cfg.label != LIGHT_PHASE:
        raise ParamsError(f"hbehave.probe.label: '{cfg.label}' needs hbehave.probe.labels_file (a labels table)")
    table = read_labels(cfg.labels_file, cfg.label) if cfg.labels_file else None
    emb_dir = Path(embeddings)
    files = sorted(emb_dir.glob(f"embeddings_{agg}_*.npz"))
    if not files:
        raise InputError(f"{emb_dir}: no embeddings_{agg}_*.npz (run hbehave_extract@{agg})")
    results, labels = {}, None
    for f in files:
        level = f.stem[len(f"embeddings_{agg}_") :]
        data = load_embeddings(f)
        if labels is None:
            labels = {
                cid: minute_labels(cid, data["timestamps"][a:b], cfg.label, table, day_window)
                for cid, (a, b) in data["frame_map"].items()
            }
        X, y, groups = binned_samples(data, labels, cfg.bin_min, cfg.min_valid_fraction)
        try:
            results[level] = probe_level(X, y, groups, cfg)
        except InputError as exc:
            raise InputError(f"{f}: label '{cfg.label}': {exc}") from exc
        r = results[level]
        log.info(
            "probe %s %s: accuracy %.3f (chance %.3f), macro-F1 %.3f (chance %.3f, p=%.3g), %d bins",
            agg, level, r["accuracy"], r["chance_accuracy"], r["macro_f1"], r["chance_macro_f1"], r["p_value"],
            r["n_bins"],
        )  # fmt: skip
    order = sorted(results, key=lambda lv: (lv == "comb", lv))  # level1, level2, ..., comb last
    frame = pd.DataFrame([{"level": lv, **{k: v for k, v in results[lv].items() if k != "classes"}} for lv in order])
    with atomic_dir(out) as tmp:
        frame.to_csv(tmp / "probe.csv", index=False, lineterminator="\n", float_format="%.6g")
        _plot(frame, f"hbehave {agg}: linear probe of '{cfg.label}' across cages", tmp / "probe.png")
    return {lv: results[lv] for lv in order}
