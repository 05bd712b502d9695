"""acoustic_evaluate: window probabilities -> detections -> 1-D IoU matching against the annotations.

Detections: windows with ``prob >= threshold`` are chained when they overlap or are at most
``min_gap_s`` apart (with ``boundary: center`` each positive window stands for its central ``hop_s``
only, which keeps detections close to the call's true edges); detections shorter than ``min_dur_s``
are dropped. Each detection carries ``cnn_logit_mean``: the duration-weighted mean log-odds of its windows.

Post-processing chosen on validation tapes (:func:`.postprocess.choose_postprocess`): ``threshold``, ``min_gap_s``
and ``min_dur_s`` may each be ``auto``; the ``auto`` ones are chosen jointly, on a grid
(``evaluate.search``), by the mean event F1 (Hungarian matching at ``iou``) over the variant's validation
tapes (role ``val``), never on test or benchmark tapes, with the one-standard-error rule toward
``evaluate.defaults`` and a fall-back to the defaults under ``evaluate.min_val_events`` validation events;
the chosen values and their validation evidence are used for every tape and written to the metrics and
to ``postprocess.json`` (which detection sets of that variant read). ``evaluate.min_bout_gap_s`` (a lab's
shortest gap between two events) floors the merge gap everywhere.
The clean-up is TweetyNet's (Cohen et al. 2022, eLife): merge detections separated by gaps shorter
than ``min_gap_s``, then drop detections shorter than ``min_dur_s``.

Matching: :mod:`.matching`; chaining windows into detections: :mod:`.chaining`; the post-processing
choice: :mod:`.postprocess`. This module: the PR curve, writing a layer's outputs, and the stage.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ethoflow.acoustic.evaluation.chaining import detect_all
from ethoflow.acoustic.evaluation.matching import HELDOUT_ROLES, evaluate_detections, ground_truth, match_detections
from ethoflow.acoustic.evaluation.postprocess import POSTPROCESS_FILE, choose_postprocess
from ethoflow.core import atomic_path, read_json, write_json
from ethoflow.core.io import atomic_dir, output_set
from ethoflow.core.progress import progress

if TYPE_CHECKING:
    from ethoflow.acoustic.params import AcousticParams
    from ethoflow.acoustic.records import VariantIndex


#: window probability thresholds of :func:`pr_curve` (0.05 to 0.95 by 0.05)
PR_THRESHOLDS = np.round(np.arange(0.05, 1.0, 0.05), 2)


def pr_curve(
    pred: pd.DataFrame,
    gt: pd.DataFrame,
    roles: dict[str, str],
    hop_s: float,
    boundary: str,
    min_gap_s: float,
    min_dur_s: float,
    iou: float,
) -> pd.DataFrame:
    """Event-level precision/recall (Hungarian, held-out tapes or all when none) per window threshold
    (:data:`PR_THRESHOLDS`)."""
    thresholds = PR_THRESHOLDS
    held = {t for t, r in roles.items() if r in HELDOUT_ROLES}
    p = pred[pred.tape.isin(held)] if held else pred
    g = gt[gt.tape.isin(held)] if held else gt
    rows = []

    for thr in progress(thresholds, desc="pr curve", unit="thr"):
        det = detect_all(p, roles, float(thr), hop_s, boundary, min_gap_s, min_dur_s)
        _, per = match_detections(det, g, iou)
        per = per[per.method == "hungarian"]
        tp, fp, fn = int(per.tp.sum()), int(per.fp.sum()), int(per.fn.sum())
        pr = tp / (tp + fp) if tp + fp else 1.0
        rc = tp / (tp + fn) if tp + fn else 0.0
        rows.append(
            {"threshold": float(thr), "precision": pr, "recall": rc, "f1": 2 * pr * rc / (pr + rc) if pr + rc else 0.0}
        )
    return pd.DataFrame(rows)


def write_layer(
    out_dir: str | Path, metrics_path: str | Path, layer: str, result: dict[str, Any], meta: dict[str, Any]
) -> None:
    """Write one layer's (``cnn`` or ``rf``) detections.parquet, per_tape.csv, selection tables and metrics JSON."""
    # local: keeps ethoflow.acoustic.evaluation.evaluate importable without pydantic
    from ethoflow.acoustic.data.variants import write_tables

    out = Path(out_dir)
    det = result["detections"]
    with atomic_path(out / "detections.parquet") as tmp:
        det.to_parquet(tmp, index=False)
    with atomic_path(out / "per_tape.csv") as tmp:
        result["per_tape"].to_csv(tmp, index=False, float_format="%.6f", lineterminator="\n")
    write_tables(
        det.assign(label=det["label"]),
        out / "selections",
        meta["recordings"],
        extra=["cnn_logit_mean", "prob_max", "gt_hungarian"] + (["rf_prob"] if "rf_prob" in det else []),
    )
    write_json(
        metrics_path,
        {"layer": layer, **{k: v for k, v in meta.items() if k != "recordings"}, "groups": result["groups"]},
    )


@contextlib.contextmanager
def layer_set(out_dir: str | Path, metrics_path: str | Path) -> Iterator[tuple[Path, Path]]:
    """Write a layer's folder all-or-nothing (:func:`ethoflow.core.io.atomic_dir`).

    Yields (temporary folder, where to write the metrics JSON): inside the temporary folder when
    ``metrics_path`` lies in ``out_dir``, else a temporary sibling of ``metrics_path`` renamed with the folder.
    """
    out, metrics = Path(out_dir), Path(metrics_path)
    try:
        rel = metrics.resolve().relative_to(out.resolve())
    except ValueError:
        rel = None
    if rel is not None:
        with atomic_dir(out) as tmp:
            yield tmp, tmp / rel
        return
    with output_set([metrics]) as (tmp_metrics,), atomic_dir(out) as tmp:
        yield tmp, tmp_metrics


def evaluate_predictions(
    cfg: AcousticParams,
    variant: str,
    setting: str,
    vindex: VariantIndex,
    predictions: str,
    corpus_index: str,
    out: str,
) -> None:
    """``acoustic_evaluate`` for one item: window probabilities (``predictions``, Parquet) -> detections
    (threshold, chaining, clean-up) with their frequency bands -> IoU matching against the corpus's
    ground truth, with the post-processing of :func:`.postprocess.choose_postprocess` (``auto`` values chosen on the
    validation tapes). Writes the ``cnn`` layer into ``out`` (:func:`write_layer`: detections.parquet,
    per_tape.csv, selections/, metrics.json with the values used under ``chosen`` and the non-finite spans
    ``acoustic_predict`` left out, ``nonfinite_skipped``/``nonfinite_spans``), ``out/pr_curve.csv``
    and ``out/postprocess.json``. ``variant`` names the item's model
    (a trained variant or an external model); ``vindex`` is the variant whose recordings were predicted.
    Top level, so a dispatched job pickles it by reference.
    """
    # local: keeps ethoflow.acoustic.evaluation.evaluate importable without pydantic
    from ethoflow.acoustic.frontend.features import detection_bands

    ev, s = cfg.evaluate, cfg.predict.settings[setting]
    roles = vindex.tape_roles
    pred = pd.read_parquet(predictions)
    gt = ground_truth(read_json(corpus_index), vindex.classes)
    post = choose_postprocess(pred, gt, roles, s.hop_s, ev, f"{variant}-{setting}")
    thr, gap, dur = post["threshold"], post["min_gap_s"], post["min_dur_s"]
    det = detect_all(pred, roles, thr, s.hop_s, ev.boundary, gap, dur)
    files = {r.recording: r.file for r in vindex.recordings}
    det = detection_bands(det, files, cfg.features.fmin, cfg.features.fmax)  # Raven Low/High Freq
    result = evaluate_detections(det, gt, roles, ev.iou)
    chosen = {"threshold": thr, "min_gap_s": gap, "min_dur_s": dur}
    for k in ("val_n_gt", "val_f1", "val_f1_ci95_lo", "val_f1_ci95_hi", "val_f1_mean", "val_f1_sd", "val_n_units"):
        if k in post:  # the validation evidence of the chosen values
            chosen[k] = post[k]
    meta = {
        "variant": variant,
        "setting": setting,
        "iou": ev.iou,
        "threshold": thr,
        "min_gap_s": gap,
        "min_dur_s": dur,
        "postprocess": post,
        "chosen": chosen,
        "recordings": vindex.recording_names(),
        # acoustic.corpus.nonfinite: skip: the spans whose windows acoustic_predict left out (its file's metadata)
        "nonfinite_skipped": sum(len(v) for v in pred.attrs.get("nonfinite_spans", {}).values()),
        "nonfinite_spans": pred.attrs.get("nonfinite_spans", {}),
    }
    curve = pr_curve(pred, gt, roles, s.hop_s, ev.boundary, gap, dur, ev.iou)
    with layer_set(out, Path(out) / "metrics.json") as (tmp, tmp_metrics):  # all-or-nothing
        write_layer(tmp, tmp_metrics, "cnn", result, meta)
        curve.to_csv(tmp / "pr_curve.csv", index=False, float_format="%.6f", lineterminator="\n")
        write_json(tmp / POSTPROCESS_FILE, post)
