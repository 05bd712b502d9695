"""Truth of a detection set (optional, only for scoring): annotations in any crowsetta format read by the
corpus stage's readers and cleaned with ``acoustic.corpus``'s label map and merge gap
(:func:`read_truth`), and the detections' precision/recall/F1 against it (:func:`score_against_truth`).
"""

from __future__ import annotations

import glob as globlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ethoflow.acoustic.data.annotations import Problems, read_source
from ethoflow.acoustic.data.corpus import _map_label, merge_events, resolve_overlaps
from ethoflow.acoustic.evaluation.matching import match_hungarian
from ethoflow.acoustic.params import AcousticParams, DetectSet, SourceParams


def truth_files(truth: str, fmt: str) -> list[Path]:
    """The annotation files of a detection set's ``truth``: the file itself, the glob's matches, or a
    folder's files (recursively) with ``fmt``'s extension (crowsetta's ``ext``)."""
    # local: crowsetta is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    import crowsetta

    p = Path(truth)
    if p.is_file():
        return [p]
    if p.is_dir():
        ext = crowsetta.formats.by_name(fmt).ext
        exts = (ext,) if isinstance(ext, str) else tuple(ext)
        return sorted(f for f in p.rglob("*") if f.is_file() and f.name.endswith(exts) and not f.name.startswith("."))
    return sorted(Path(f) for f in globlib.glob(truth, recursive=True) if Path(f).is_file())


def read_truth(
    cfg: AcousticParams, ds: DetectSet, recs: list[tuple[str, Path]]
) -> tuple[dict[str, np.ndarray], list[str]]:
    """Annotated target events of a detection set's recordings from its ``truth`` (any crowsetta format),
    read by the corpus stage's readers (:func:`ethoflow.acoustic.data.annotations.read_source`, crowsetta) and
    cleaned with ``acoustic.corpus``'s label map, overlap policy and merge gap (notes -> bouts).

    Returns:
        (recording id -> (n, 2) start/end (s) of its target events, for every recording some annotation file
        covers (n may be 0 when all its labels map to non-targets); problems met while reading, each naming
        its file).
    """
    files = truth_files(ds.truth, ds.truth_format)
    if not files:
        return {}, [f"{ds.truth}: no {ds.truth_format} annotation file found"]
    folders = sorted({p.parent for _, p in recs}, key=str)
    exts = sorted({p.suffix for _, p in recs}) if ds.truth_format != "birdsong-recognition-dataset" else [".wav"]
    by_stem: dict[str, str] = {}
    for rid, p in recs:
        by_stem.setdefault(p.stem, rid)
    problems = Problems()
    covered: set[str] = set()
    seen: set[tuple] = set()
    events: list[dict[str, Any]] = []
    for folder in folders:  # the readers pair an annotation with its audio file by name, in audio_dir
        for ext in exts:
            for f in files:
                src = SourceParams(
                    name="truth",
                    format=ds.truth_format,
                    annotations=glob_escape(str(f.resolve())),
                    audio_dir=str(folder.resolve()),
                    audio_ext=ext,
                    label_column=ds.truth_label_column,
                )
                quiet = Problems()
                for e in read_source(src, Path("/"), quiet, cfg.corpus.bad_rows):
                    audio = Path(e["file"])
                    rid = by_stem.get(audio.stem)
                    key = (rid, str(e["annot"]), e["row"], e["start_s"])
                    if rid is None or key in seen or audio.resolve() != dict(recs)[rid].resolve():
                        continue
                    seen.add(key)
                    covered.add(rid)
                    label, role = _map_label(e["raw_label"], cfg.corpus)
                    events.append(
                        dict(
                            recording=rid,
                            role=role,
                            label=label,
                            start_s=float(e["start_s"]),
                            end_s=float(e["end_s"]),
                            low_hz=None,
                            high_hz=None,
                            quality=None,
                            n_merged=1,
                        )
                    )
                for it in quiet.items:
                    if "do not exist" not in it["problem"]:  # other tapes' annotations (Annotation.xml)
                        problems.add(it["file"], it["problem"])
    events, _ = resolve_overlaps(events, cfg.corpus.overlaps)
    if cfg.corpus.merge_gap_s is not None:
        events = merge_events(events, cfg.corpus.merge_gap_s)
    out = {rid: np.zeros((0, 2)) for rid in sorted(covered)}
    for rid in out:
        ev = sorted((e["start_s"], e["end_s"]) for e in events if e["recording"] == rid and e["role"] == "target")
        out[rid] = np.asarray(ev, float).reshape(-1, 2)
    msgs = sorted({f"{it['file']}: {it['problem']}" for it in problems.items})
    return out, msgs


def glob_escape(path: str) -> str:
    """``path`` with glob's special characters escaped (a file name read as a literal glob)."""
    return globlib.escape(path)


def score_against_truth(
    det: pd.DataFrame, truth: dict[str, np.ndarray], recordings: list[str], iou: float
) -> dict[str, Any]:
    """Precision/recall/F1 of the detections against ``truth`` (recording -> (n, 2) events, :func:`read_truth`;
    Hungarian matching at ``iou``, per recording). Recordings without truth are left out, and counted
    (``recordings_scored``, ``recordings_unscored``)."""
    tp = n_gt = n_pred = n_scored = 0
    for rid in recordings:
        gt = truth.get(rid)
        if gt is None:
            continue
        d = det[det.recording == rid]
        pairs = match_hungarian(gt, d[["start_s", "end_s"]].to_numpy(float), iou) if len(gt) and len(d) else []
        tp, n_gt, n_pred, n_scored = tp + len(pairs), n_gt + len(gt), n_pred + len(d), n_scored + 1
    p = tp / n_pred if n_pred else 0.0
    r = tp / n_gt if n_gt else 0.0
    return {
        "precision": p,
        "recall": r,
        "f1": 2 * p * r / (p + r) if p + r else 0.0,
        "tp": tp,
        "fp": n_pred - tp,
        "fn": n_gt - tp,
        "n_gt": n_gt,
        "recordings_scored": n_scored,
        "recordings_unscored": len(recordings) - n_scored,
    }
