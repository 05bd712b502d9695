"""acoustic_report: one table comparing the CNN and CNN+RF layers of every model and prediction setting.

Writes the headline metrics (``metrics/acoustic.json``: F1, precision and recall per variant, setting and
layer, Hungarian matching on held-out tapes, with the post-processing chosen on validation tapes and the
RF's threshold, pass-through flag and training counts; committed to git for ``dvc metrics diff``) and, under
``reports/acoustic/``: ``metrics.csv`` (model, setting, layer, group, method + counts and scores),
``metrics_per_tape.csv``, ``summary.json`` (the headline with counts), ``pr_curves.png``, ``confusion.png``, and
long-format plot data with a ``series`` column (``<model>-<setting>-<layer>``, or the variant) for DVC plots
that overlay variants: ``plots/pr.csv`` (threshold, precision, recall, f1), ``plots/confusion.csv``
(event-level ``actual``/``predicted`` pairs) and ``plots/train_curves.csv`` (per-epoch training record).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ethoflow.acoustic.evaluation.matching import HELDOUT_ROLES, event_intervals, ground_truth
from ethoflow.acoustic.records import ReportPaths, read_history, read_variant_index
from ethoflow.core import InputError, atomic_path, get_logger, read_json, save_figure, write_json, write_metrics

log = get_logger(__name__)

#: the per-item evaluation summary inside each layer's out folder
LAYER_METRICS = "metrics.json"
#: each rate comes with the held-out event count and its 95% interval (bootstrap over events,
#: :func:`ethoflow.acoustic.evaluation.matching.event_intervals`): ``events``, ``f1_ci95_lo``, ``f1_ci95_hi``, ...
HEADLINE_KEYS = ("f1", "precision", "recall")
INTERVAL_KEYS = ("events", *(f"{k}_ci95_{e}" for k in HEADLINE_KEYS for e in ("lo", "hi")))
#: what each layer's metrics.json reports under ``chosen`` and the headline repeats: the post-processing
#: used (``cnn``; chosen on validation tapes when ``auto``) and the RF's threshold and training counts (``rf``)
CHOSEN_KEYS = (
    "threshold",
    "min_gap_s",
    "min_dur_s",
    "val_f1",
    "val_f1_ci95_lo",
    "val_f1_ci95_hi",
    "val_f1_mean",
    "val_f1_sd",
    "val_n_gt",
    "val_n_units",
    "rf_threshold",
    "rf_pass_through",
    "rf_n_pos",
    "rf_n_neg",
    "val_f1_cnn",
    "val_f1_cnn_ci95_lo",
    "val_f1_cnn_ci95_hi",
    "val_f1_rf",
    "val_f1_rf_ci95_lo",
    "val_f1_rf_ci95_hi",
)
METRIC_COLS = ["n_gt", "n_pred", "tp", "fp", "fn", "precision", "recall", "f1", "start_offset_ms", "end_offset_ms"]


def _csv(df: pd.DataFrame, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, float_format="%.6f", lineterminator="\n")


def confusion_rows(det: pd.DataFrame, gt: pd.DataFrame, tapes: set[str] | None) -> pd.DataFrame:
    """Event-level (actual, predicted) pairs: matched (gt label, detection label), false alarms
    (``none``, label), misses (label, ``none``). ``tapes``: restrict to these tapes (None: all)."""
    if tapes is not None:
        det, gt = det[det.tape.isin(tapes)], gt[gt.tape.isin(tapes)]
    lab = dict(zip(gt.uid, gt.label))
    matched = det[det.gt_hungarian != ""]
    rows = [(lab.get(u, "none"), p) for u, p in zip(matched.gt_hungarian, matched.label)]
    rows += [("none", p) for p in det[det.gt_hungarian == ""].label]
    rows += [(label, "none") for u, label in zip(gt.uid, gt.label) if u not in set(matched.gt_hungarian)]
    return pd.DataFrame(rows, columns=["actual", "predicted"]).sort_values(["actual", "predicted"], kind="stable")


def _layer_summary(m: dict[str, Any], head_group: str) -> dict[str, Any]:
    """One layer's summary entry from its ``metrics.json`` ``m``: the Hungarian scores of ``head_group``
    with their 95% intervals, greedy F1 and the ``chosen`` post-processing / RF counts."""
    hm = m["groups"][head_group].get("hungarian", {})
    gm = m["groups"][head_group].get("greedy", {})
    return {
        "group": head_group,
        "f1": hm.get("f1"),
        "precision": hm.get("precision"),
        "recall": hm.get("recall"),
        "tp": hm.get("tp"),
        "fp": hm.get("fp"),
        "fn": hm.get("fn"),
        "f1_greedy": gm.get("f1"),
        **(event_intervals(hm["tp"], hm["fp"], hm["fn"]) if "tp" in hm else {}),
        **m.get("chosen", {}),  # post-processing chosen on val tapes / the RF's counts
    }


class _Collected:
    """What :func:`build_report` gathers from the layers' outs, in reading order."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []  # metrics.csv
        self.tape_rows: list[pd.DataFrame] = []  # metrics_per_tape.csv
        self.curves: list[pd.DataFrame] = []  # PR curves, ``curve`` = <name>/<layer>
        self.summary: dict[str, Any] = {}  # variant -> setting -> layer -> summary entry
        self.confusions: dict[str, pd.DataFrame] = {}  # <name>-<layer> -> confusion rows

    def add_layer(self, v: str, s: str, layer: str, ddir: str | Path, gt: pd.DataFrame, held: set[str]) -> None:
        """Read the outs of model ``v``, setting ``s``, layer ``layer`` from folder ``ddir``.

        Raises:
            InputError: the layer's ``metrics.json`` is missing.
        """
        name = f"{v}-{s}"
        mpath = Path(ddir) / name / LAYER_METRICS
        if not mpath.exists():
            raise InputError(f"{mpath}: missing; run the acoustic evaluate/rf stages for {name}")
        m = read_json(mpath)
        head_group = "heldout" if m["groups"].get("heldout") else "all"
        for group, methods in m["groups"].items():
            for method, c in methods.items():
                self.rows.append(
                    {
                        "model": v,
                        "setting": s,
                        "layer": layer,
                        "group": group,
                        "method": method,
                        **{k: c.get(k) for k in METRIC_COLS},
                    }
                )
        self.summary.setdefault(v, {}).setdefault(s, {})[layer] = _layer_summary(m, head_group)
        pt = pd.read_csv(Path(ddir) / name / "per_tape.csv")
        if len(pt):
            pt.insert(0, "layer", layer)
            pt.insert(0, "setting", s)
            pt.insert(0, "model", v)
            self.tape_rows.append(pt)
        c = pd.read_csv(Path(ddir) / name / "pr_curve.csv")
        c.insert(0, "curve", f"{name}/{layer}")
        self.curves.append(c)
        det = pd.read_parquet(Path(ddir) / name / "detections.parquet")
        self.confusions[f"{name}-{layer}"] = confusion_rows(det, gt, held or None)


def _headline(summary: dict[str, Any], detect_dir: str | Path | None, detect_sets: Any) -> dict[str, Any]:
    """The headline metrics: ``{variant-setting: {layer: headline, interval and chosen keys}}`` and, per
    detection set, its ``metrics.json`` (with 95% intervals when it was scored) under ``detect.<name>``.

    Raises:
        InputError: a detection set's ``metrics.json`` is missing.
    """
    headline: dict[str, Any] = {
        f"{v}-{s}": {
            layer: {k: m[k] for k in (*HEADLINE_KEYS, *INTERVAL_KEYS, *CHOSEN_KEYS) if m.get(k) is not None}
            for layer, m in by_layer.items()
        }
        for v, by_setting in summary.items()
        for s, by_layer in by_setting.items()
    }
    for name in detect_sets:
        mpath = Path(detect_dir or "") / name / LAYER_METRICS
        if not mpath.exists():
            raise InputError(f"{mpath}: missing; run acoustic_detect@{name}")
        dm = read_json(mpath)
        if {"tp", "fp", "fn"} <= set(dm):
            dm.update(event_intervals(dm["tp"], dm["fp"], dm["fn"]))
        headline.setdefault("detect", {})[name] = dm
    return headline


def build_report(
    variants: list[str],
    settings: list[str],
    paths: ReportPaths,
    *,
    detect_sets: list[str] | tuple[str, ...] = (),
    external: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Collect every (variant, setting, layer) evaluation and write the report files; return the summary.

    Args:
        variants, settings: names from ``acoustic.variants`` and ``acoustic.predict.settings``.
        paths: the stage's files (:class:`ethoflow.acoustic.records.ReportPaths`):
            ``metrics``: the headline metrics file (numbers only: ``{variant-setting: {layer: {f1, precision,
            recall}}}``); ``reports``: folder of the tables, figures and plot data; ``corpus_index``: the
            corpus index (ground truth); ``variants_dir``: ``<variants_dir>/<variant>/variant_index.json`` is
            each variant's index; ``detections_dir`` and ``filtered_dir``: the folders of the ``cnn`` and
            ``rf`` layers' per-item outs (``<folder>/<variant>-<setting>/metrics.json``, detections.parquet,
            per_tape.csv, pr_curve.csv); ``models_dir``: ``<models_dir>/<variant>/history.json`` holds each
            variant's per-epoch training record; ``detect_dir``: the detection sets' folder (``None``: none).
        detect_sets: names of ``acoustic.detect.sets``; each set's ``<paths.detect_dir>/<name>/metrics.json``
            (recordings, hours, detections, detections_per_min, and precision/recall/f1 when the set has
            a ``truth``) goes into the headline under ``detect.<name>``.
        external: external model name -> the variant it was evaluated on (``acoustic.external``); each
            ``<name>-<setting>`` joins the table with its ``cnn`` layer (no RF layer).

    Raises:
        InputError: an expected evaluation file is missing (run the evaluate/rf stages first).
    """
    metrics_json, out_reports, corpus = str(paths.metrics), str(paths.reports), str(paths.corpus_index)
    variants_dir, models_dir = str(paths.variants_dir), str(paths.models_dir)
    layer_dirs = {"cnn": str(paths.detections_dir), "rf": str(paths.filtered_dir)}
    detect_dir = str(paths.detect_dir) if paths.detect_dir is not None else None
    index = read_json(corpus)
    got = _Collected()
    models = [(v, v, dict(layer_dirs)) for v in variants]
    models += [(e, ev, {"cnn": layer_dirs["cnn"]}) for e, ev in sorted(dict(external or {}).items())]
    for v, data_variant, layers in models:
        vindex = read_variant_index(Path(variants_dir) / data_variant / "variant_index.json")
        held = {t for t, r in vindex.tape_roles.items() if r in HELDOUT_ROLES}
        gt = ground_truth(index, vindex.classes)
        for s in settings:
            for layer, ddir in layers.items():
                got.add_layer(v, s, layer, ddir, gt, held)
    out = Path(out_reports)
    _csv(pd.DataFrame(got.rows), out / "metrics.csv")
    per_tape = pd.concat(got.tape_rows, ignore_index=True) if got.tape_rows else pd.DataFrame()
    _csv(per_tape, out / "metrics_per_tape.csv")
    write_json(out / "summary.json", got.summary)
    write_metrics(metrics_json, _headline(got.summary, detect_dir, detect_sets))
    curves_df = pd.concat(got.curves, ignore_index=True)
    _csv(curves_df.assign(series=curves_df.curve.str.replace("/", "-")).drop(columns="curve"), out / "plots" / "pr.csv")
    _csv(
        pd.concat([c.assign(series=k) for k, c in sorted(got.confusions.items())], ignore_index=True)[
            ["series", "actual", "predicted"]
        ],
        out / "plots" / "confusion.csv",
    )
    _csv(training_curves(variants, models_dir), out / "plots" / "train_curves.csv")
    _plots(curves_df, got.confusions, out)
    return got.summary


def training_curves(variants: list[str], models_dir: str | Path) -> pd.DataFrame:
    """Per-epoch training records of every variant in long format (``series`` = variant), for a DVC plot
    that overlays the variants' curves.

    Raises:
        InputError: a variant's ``history.json`` is missing (run acoustic_train first).
    """
    frames = []
    for v in variants:
        path = Path(models_dir) / v / "history.json"
        if not path.exists():
            raise InputError(f"{path}: missing; run acoustic_train@{v} first")
        records = read_history(path)
        df = pd.DataFrame(
            [{k: x for k, x in r.items() if isinstance(x, (int, float)) and not isinstance(x, bool)} for r in records]
        )
        df.insert(0, "series", v)
        frames.append(df)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["series", "epoch"])


def _plots(curves: pd.DataFrame, confusions: dict[str, pd.DataFrame], out: Path) -> None:
    # local: matplotlib is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4), dpi=100)
    for name, c in curves.groupby("curve", sort=True):
        ax.plot(c.recall, c.precision, marker=".", label=name)
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1.02), ylim=(0, 1.02), title="event-level PR (held-out tapes)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, out / "pr_curves.png")
    n = len(confusions)
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 3), dpi=100, squeeze=False)
    for ax, (name, conf) in zip(axes[0], sorted(confusions.items())):
        labels = sorted(set(conf.actual) | set(conf.predicted))
        mat = np.zeros((len(labels), len(labels)), int)
        for a, p in zip(conf.actual, conf.predicted):
            mat[labels.index(a), labels.index(p)] += 1
        ax.imshow(mat, cmap="Blues")
        for i in range(len(labels)):
            for j in range(len(labels)):
                ax.text(j, i, str(mat[i, j]), ha="center", va="center", fontsize=8)
        ax.set(
            xticks=range(len(labels)),
            yticks=range(len(labels)),
            xticklabels=labels,
            yticklabels=labels,
            xlabel="predicted",
            ylabel="actual",
            title=name,
        )
        ax.title.set_fontsize(8)
    fig.tight_layout()
    save_figure(fig, out / "confusion.png")
