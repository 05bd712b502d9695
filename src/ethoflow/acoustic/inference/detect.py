"""acoustic_detect: run a trained (or ANIMAL-SPOT) call detector over unannotated recordings.

A detection set (``acoustic.detect.sets.<name>``) names recordings (a folder or a glob; wav or flac,
any sample rate, channels averaged), a model (a trained variant or a model file), a prediction
setting (window length and hop), a threshold and optionally a random-forest filter. For each
recording the window probabilities are computed **streamed in chunks** (bounded memory, see below),
chained into detections as ``acoustic_evaluate`` does (:func:`ethoflow.acoustic.evaluation.chaining.chain_windows`
with ``acoustic.evaluate``'s boundary/min_gap_s/min_dur_s), and each detection gets its frequency band
(the 5 % and 95 % points of its energy over frequency, :func:`ethoflow.acoustic.frontend.features.energy_band`).

Streaming (results equal the whole-tape computation, bounded memory) is
:mod:`ethoflow.acoustic.inference.streaming`'s, shared with ``acoustic_predict``.

Resume: the output folder is a DVC ``persist`` out. Each finished recording leaves its windows and
detections (``state/<recording>.windows.parquet``, ``.detections.parquet``) and then a completion
record (``state/<recording>.json``) holding a fingerprint of everything that decides its result (model
file, setting, threshold, chaining params, RF file, the audio file's content hash); a rerun skips
recordings whose record matches and computes the others. Content hashes are cached by file size and
mtime outside the out folder (:func:`ethoflow.acoustic.inference.resume.content_sha256`), so a rerun does
not read the recordings already done (the records: :mod:`ethoflow.acoustic.inference.resume`). The
set-level outputs are rebuilt from the records at the end, so a killed and resumed run ends with the same
files as an uninterrupted one.

Bad input (``on_error``): a file that cannot be opened, holds no samples, or is truncated (a WAV whose
data chunk is shorter than its header says; a FLAC that stops decoding) is reported per file and left
out (``skip``), or stops the stage naming every such file (``fail``); a file is never silently shortened
(listing and screening: :mod:`ethoflow.acoustic.inference.recordings`). A NaN/infinite sample stops the
recording with an error naming its time (``acoustic.corpus.nonfinite: fail``, reported per ``on_error``), or
(``skip``) every window touching a span of them is left out (no detection starts inside it) and each
span is named in ``summary.json`` (the recording's ``nonfinite_spans``: start_s, end_s, samples) and
counted in ``metrics.json`` (``nonfinite_spans``).

Outputs in ``out``: ``selections/<recording>.Table.1.selections.txt`` (Raven Pro's columns: Selection,
View, Channel, Begin Time (s), End Time (s), Low Freq (Hz), High Freq (Hz), Annotation, then
``prob_max``, ``cnn_logit_mean`` and ``rf_prob`` when an RF is used), ``detections.parquet`` (all
recordings), ``timelines/<recording>.png`` (window probability over time, detections shaded),
``summary.json`` (per recording and totals, problems, the run's settings), ``metrics.json`` (numbers
only: recordings, hours, detections, detections_per_min, skipped, nonfinite_spans, and with ``truth`` precision, recall,
f1, tp, fp, fn, n_gt, recordings_scored and recordings_unscored at ``acoustic.evaluate.iou`` with
Hungarian matching; the summary names the unscored recordings) and ``state/``.

Truth (``truth``, optional, only for scoring): annotations in any crowsetta format (``truth_format``:
Raven, Audacity labels, ``Annotation.xml``, TextGrid, ...), read by the corpus stage's readers and cleaned
with ``acoustic.corpus``'s label map and merge gap (:func:`ethoflow.acoustic.inference.truth.read_truth`); it may lie anywhere
(``truth_dir``, an absolute path outside the repository if need be, is the set's DVC dependency for it).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ethoflow.acoustic.evaluation.chaining import chain_windows
from ethoflow.acoustic.evaluation.postprocess import detection_postprocess
from ethoflow.acoustic.evaluation.rf import load_filter
from ethoflow.acoustic.frontend.features import file_energy_band, finite_samples, segment_features
from ethoflow.acoustic.inference.recordings import audio_problem, list_recordings
from ethoflow.acoustic.inference.resume import STATE, STATE_VERSION, content_sha256, fingerprint, recording_done
from ethoflow.acoustic.inference.streaming import Detector, TapeReader, load_detector, log_skipped_spans, stream_windows
from ethoflow.acoustic.inference.truth import read_truth, score_against_truth
from ethoflow.acoustic.params import AcousticParams, DetectSet, PredictSetting
from ethoflow.acoustic.reporting.plots import timeline_png
from ethoflow.core import (
    InputError,
    atomic_path,
    atomic_write_text,
    get_logger,
    progress,
    read_json,
    write_json,
    write_metrics,
)
from ethoflow.core.io import release_freed_memory

log = get_logger(__name__)

__all__ = [  # re-exported: Detector, TapeReader, load_detector, stream_windows (.streaming), audio_problem, list_recordings (.recordings)
    "Detector",
    "TapeReader",
    "audio_problem",
    "detect_set",
    "list_recordings",
    "load_detector",
    "model_file",
    "stream_windows",
]

DET_COLUMNS = [
    "recording",
    "start_s",
    "end_s",
    "low_hz",
    "high_hz",
    "label",
    "prob_max",
    "cnn_logit_mean",
    "n_windows",
]


# ------------------------------------------------------------------------------------------- models


def model_file(ds: DetectSet, cfg: AcousticParams, models_dir: str | Path = "models/acoustic") -> Path:
    """The model file of a set: ``<models_dir>/<variant>/model.pt`` when ``model`` names a variant."""
    if ds.model in cfg.variants:
        return Path(models_dir) / ds.model / "model.pt"
    return Path(ds.model)


# ------------------------------------------------------------------------------------- one recording


def describe_detections(
    detections: pd.DataFrame, path: str | Path, fmin: float, fmax: float, rf: dict[str, Any] | None, rf_params: Any
) -> pd.DataFrame:
    """Add each detection's band (``low_hz``/``high_hz``: 5 %/95 % energy points in ``[fmin, fmax]``)
    and, with an RF filter (``rf``: what :func:`ethoflow.acoustic.evaluation.rf.load_filter` returns), ``rf_prob``.
    Reads only each detection's samples from ``path`` (at the file's own rate)."""
    # local: keeps ethoflow.acoustic.inference.detect importable without soundfile
    import soundfile as sf

    detections = detections.copy()
    lo, hi, feats = [], [], []
    with sf.SoundFile(str(path)) as fh:
        sr = fh.samplerate
        for r in detections.itertuples(index=False):
            a = int(r.start_s * sr)
            b = max(int(r.end_s * sr), a + 1)
            band = file_energy_band(fh, a, b, fmin, fmax)  # in blocks: bounded memory on long detections
            lo.append(band[0])
            hi.append(band[1])
            if rf is not None:  # the RF's features need the whole segment (as acoustic_rf_train computes them)
                fh.seek(min(a, fh.frames))
                y = finite_samples(fh.read(b - a, dtype="float32", always_2d=True)).mean(axis=1)
                feats.append(segment_features(y, sr, rf_params) | {"cnn_logit_mean": float(r.cnn_logit_mean)})
    detections["low_hz"] = np.asarray(lo, float)
    detections["high_hz"] = np.asarray(hi, float)
    if rf is not None:
        # local: imported only on the branch that needs it
        from ethoflow.acoustic.evaluation.rf import rf_probabilities

        X = pd.DataFrame(feats)
        missing = [c for c in rf["columns"] if c not in X.columns] if len(X) else []
        if missing:
            raise InputError(f"RF filter expects features {missing[:5]} that ethoflow does not compute")
        detections["rf_prob"] = rf_probabilities(rf, X) if len(X) else np.zeros(0)
    return detections


def _replace_dir(tmp: Path, final: Path) -> None:
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)


def _fresh_dir(final: Path) -> Path:
    tmp = final.with_name(f".{final.name}.partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    return tmp


# --------------------------------------------------------------------------------------------- a set


@dataclass
class _SetRun:
    """A detection set's resolved run: what :func:`detect_set` computes once and its steps share."""

    name: str
    ds: DetectSet
    setting: PredictSetting  # window length and hop
    post: dict[str, Any]  # detection_postprocess's answer: threshold, min_gap_s, min_dur_s, from
    mpath: Path
    det_model: Detector
    rf: dict[str, Any] | None
    rf_path: Path | None
    state: Path

    @property
    def threshold(self) -> float:
        return self.post["threshold"]

    @property
    def min_gap_s(self) -> float:
        return self.post["min_gap_s"]

    @property
    def min_dur_s(self) -> float:
        return self.post["min_dur_s"]


def _load_rf(ds: DetectSet, name: str) -> tuple[dict[str, Any] | None, Path | None]:
    """The set's random-forest filter and its file, or ``(None, None)`` when the set uses none.

    Raises:
        InputError: the RF file is missing.
    """
    if ds.rf is None:
        return None, None

    rf_path = Path(ds.rf) if "/" in ds.rf else Path("models/acoustic/rf") / ds.rf / "rf.pkl"
    if not rf_path.is_file():
        raise InputError(f"{rf_path}: RF filter file not found (acoustic.detect.sets.{name}.rf = {ds.rf!r})")
    return load_filter(rf_path), rf_path


def _state_common(cfg: AcousticParams, run: _SetRun) -> dict[str, Any]:
    """The settings that decide every recording's result (the part of the completion fingerprint that the
    recordings share): model and RF content hashes, setting, threshold, chaining values, batch size."""
    return {
        "version": STATE_VERSION,
        "model": content_sha256(run.mpath),
        "min_max_norm": run.ds.min_max_norm,
        "setting": run.setting.model_dump(),
        "threshold": run.threshold,
        "chain": {"boundary": cfg.evaluate.boundary, "min_gap_s": run.min_gap_s, "min_dur_s": run.min_dur_s},
        "rf": content_sha256(run.rf_path) if run.rf_path else None,
        "rf_params": cfg.rf.model_dump() if run.rf_path else None,
        "batch_size": cfg.detect.batch_size,
        "nonfinite": cfg.corpus.nonfinite,
    }


def _screen_recordings(recs: list[tuple[str, Path]], ds: DetectSet, name: str) -> dict[str, str]:
    """Recording id -> ``"<path>: <problem>"`` for the recordings :func:`audio_problem` rejects, each logged
    as skipped.

    Raises:
        InputError: some recording is bad and the set's ``on_error`` is ``fail``.
    """
    problems: dict[str, str] = {}
    for rid, path in recs:
        why = audio_problem(path)
        if why:
            problems[rid] = f"{path}: {why}"
    if problems and ds.on_error == "fail":
        raise InputError(f"acoustic_detect@{name}: bad recordings (on_error: fail): " + "; ".join(problems.values()))
    for msg in problems.values():
        log.warning("skipped %s", msg)
    return problems


def _write_recording_state(
    cfg: AcousticParams, run: _SetRun, rid: str, path: Path, win: pd.DataFrame, record: dict[str, Any]
) -> None:
    """Chain one recording's window probabilities into detections (with their frequency band and RF
    probability), write its windows and detections to ``state/`` and then its completion ``record``."""
    d = chain_windows(win, run.threshold, run.setting.hop_s, cfg.evaluate.boundary, run.min_gap_s, run.min_dur_s)
    d = d.astype({"start_s": float, "end_s": float, "cnn_logit_mean": float, "prob_max": float, "n_windows": int})
    d.insert(0, "recording", rid)
    d = describe_detections(d, path, run.det_model.fmin, run.det_model.fmax, run.rf, cfg.rf)
    with atomic_path(run.state / f"{rid}.windows.parquet") as tmp:
        win.to_parquet(tmp, index=False)
    with atomic_path(run.state / f"{rid}.detections.parquet") as tmp:
        d.to_parquet(tmp, index=False)
    write_json(run.state / f"{rid}.json", {**record, "windows": len(win)})


def _detect_pending(
    cfg: AcousticParams,
    run: _SetRun,
    good: list[tuple[str, Path]],
    fps: dict[str, str],
    durations: dict[str, float],
    problems: dict[str, str],
) -> None:
    """Detect the recordings of ``good`` whose completion record does not match their fingerprint in ``fps``
    (the others are done), streamed, with one progress bar over the set's audio seconds. A recording that
    fails while streaming is added to ``problems`` (``on_error: skip``) or stops the run (``fail``)."""
    ds = run.ds
    todo = [(rid, p) for rid, p in good if not recording_done(run.state, rid, fps[rid])]
    done_s = sum(durations[r] for r, _ in good) - sum(durations[r] for r, _ in todo)
    if len(todo) < len(good):
        log.info("resuming: %d of %d recordings already done", len(good) - len(todo), len(good))
    bar = progress(
        total=round(sum(durations.values()), 1), initial=round(done_s, 1), desc=f"detect {run.name}", unit="s"
    )
    for rid, path in todo:
        reader = TapeReader(path, run.det_model.sr, cfg.corpus.nonfinite)
        try:
            win = stream_windows(
                run.det_model,
                reader,
                run.setting.seq_len_s,
                run.setting.hop_s,
                cfg.detect.batch_size,
                ds.chunk_s,
                on_chunk=lambda s: bar.update(round(s, 3)),
            )
        except InputError as exc:
            if ds.on_error == "fail":
                raise
            problems[rid] = str(exc)
            log.warning("skipped %s", exc)
            continue
        finally:
            reader.close()
            release_freed_memory()  # the streamed chunks' pages: peak RSS flat in tape length
        record = {"fingerprint": fps[rid], "file": str(path), "audio_s": durations[rid]}
        record["nonfinite_spans"] = reader.skipped_spans()  # nonfinite: skip; their windows were left out
        log_skipped_spans(path, record["nonfinite_spans"])
        _write_recording_state(cfg, run, rid, path, win, record)
    bar.close()
    release_freed_memory()


def _write_set_outputs(
    run: _SetRun, ok: list[str], files: dict[str, Path], durations: dict[str, float], out: Path
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Rebuild the set-level outputs from the completion records of the recordings ``ok``: the Raven
    selection tables and timelines (each folder replaced whole) and ``detections.parquet`` (RF-rejected
    detections left out). Returns all detections and the per-recording summary rows."""
    # local: resolved at call time: tests patch this name on its module
    from ethoflow.acoustic.data.variants import raven_selection_table

    rf = run.rf
    frames, per_rec = [], []
    sel_dir, tl_dir = _fresh_dir(out / "selections"), _fresh_dir(out / "timelines")
    extra = ["prob_max", "cnn_logit_mean"] + (["rf_prob"] if rf is not None else [])
    for rid in ok:
        d = pd.read_parquet(run.state / f"{rid}.detections.parquet")
        n_all = len(d)
        if rf is not None:
            d = d[d.rf_prob >= rf["threshold"]]
        d = d.sort_values(["start_s", "end_s"], kind="stable").reset_index(drop=True)
        frames.append(d)
        atomic_write_text(sel_dir / f"{rid}.Table.1.selections.txt", raven_selection_table(d, extra))
        win = pd.read_parquet(run.state / f"{rid}.windows.parquet")
        timeline_png(win, d, run.threshold, f"{run.name}: {rid} ({len(d)} detections)", tl_dir / f"{rid}.png")
        per_rec.append(
            {
                "recording": rid,
                "file": str(files[rid]),
                "audio_s": round(durations[rid], 6),
                "detections": len(d),
                "rf_rejected": n_all - len(d),
                "nonfinite_spans": read_json(run.state / f"{rid}.json").get("nonfinite_spans", []),
            }
        )
    _replace_dir(sel_dir, out / "selections")
    _replace_dir(tl_dir, out / "timelines")
    cols = DET_COLUMNS + (["rf_prob"] if rf is not None else [])
    det = pd.concat(frames, ignore_index=True)[cols] if frames else pd.DataFrame(columns=cols)
    with atomic_path(out / "detections.parquet") as tmp:
        det.to_parquet(tmp, index=False)
    return det, per_rec


def _score_set(
    cfg: AcousticParams, run: _SetRun, det: pd.DataFrame, ok: list[str], files: dict[str, Path]
) -> tuple[dict[str, Any], list[str], list[str]]:
    """Score the set's detections against its ``truth`` (:func:`score_against_truth`), logging the truth's
    problems and the recordings without truth. Returns (the scores, the unscored recordings, the truth
    problems); all empty when the set has no truth."""
    ds = run.ds
    if ds.truth is None:
        return {}, [], []
    truth, truth_problems = read_truth(cfg, ds, [(rid, files[rid]) for rid in ok])
    scores = score_against_truth(det, truth, ok, cfg.evaluate.iou)
    unscored = [rid for rid in ok if rid not in truth]
    for msg in truth_problems:
        log.warning("truth: %s", msg)
    if unscored:
        log.warning(
            "%s: %d of %d recordings have no truth in %s and are not scored: %s",
            run.name,
            len(unscored),
            len(ok),
            ds.truth,
            ", ".join(unscored[:10]) + (", ..." if len(unscored) > 10 else ""),
        )
    return scores, unscored, truth_problems


def _set_summary(
    run: _SetRun,
    iou: float,
    metrics: dict[str, Any],
    per_rec: list[dict[str, Any]],
    problems: dict[str, str],
    unscored: list[str],
    truth_problems: list[str],
) -> dict[str, Any]:
    """``summary.json``'s content: the run's settings, its metrics, per-recording rows, problems and, with
    a ``truth``, what was not scored (``iou``: ``acoustic.evaluate.iou``)."""
    ds, rf = run.ds, run.rf
    return {
        "set": run.name,
        "model": str(run.mpath),
        "model_kind": run.det_model.kind,
        "setting": ds.setting,
        **run.setting.model_dump(),
        "threshold": run.threshold,
        "min_gap_s": run.min_gap_s,
        "min_dur_s": run.min_dur_s,
        "postprocess_from": run.post["from"],
        "iou": iou if ds.truth is not None else None,
        "rf": str(run.rf_path) if run.rf_path else None,
        "rf_threshold": rf["threshold"] if rf is not None else None,
        "metrics": metrics,
        "recordings": per_rec,
        "problems": [{"recording": k, "problem": v} for k, v in sorted(problems.items())],
        "truth": str(ds.truth) if ds.truth is not None else None,
        "truth_format": ds.truth_format if ds.truth is not None else None,
        "recordings_unscored": unscored,
        "truth_problems": truth_problems,
    }


def _audio_seconds(recs: list[tuple[str, Path]]) -> dict[str, float]:
    """Recording id -> its duration (s), from the file's header."""
    # local: keeps ethoflow.acoustic.inference.detect importable without soundfile
    import soundfile as sf

    durations = {}
    for rid, p in recs:
        i = sf.info(str(p))
        durations[rid] = i.frames / i.samplerate
    return durations


def detect_set(
    cfg: AcousticParams,
    name: str,
    out: str | Path,
    params_path: str = "params.yaml",
    evaluations: str | Path | None = None,
) -> dict[str, Any]:
    """Run detection set ``name`` into folder ``out`` (see the module docstring); resumes from ``out/state``.
    ``evaluations``: acoustic_evaluate's outs, read when the threshold or clean-up is ``auto``
    (:func:`ethoflow.acoustic.evaluation.postprocess.detection_postprocess`).

    Returns:
        the summary dict written to ``out/summary.json``.
    Raises:
        ParamsError: unknown set or setting. InputError: no recordings; missing/unreadable model or RF
        file; with ``on_error: fail``, the bad recordings (each named with its problem).
    """
    # local: torch is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    import torch

    ds = cfg.detect_set(name, params_path)
    setting = cfg.setting(ds.setting, params_path)
    ev = cfg.evaluate
    post = detection_postprocess(cfg, name, evaluations, params_path)  # auto: the variant's chosen values
    if cfg.detect.num_threads:
        torch.set_num_threads(cfg.detect.num_threads)
    mpath = model_file(ds, cfg)
    det_model = load_detector(mpath, ds.min_max_norm)
    rf, rf_path = _load_rf(ds, name)
    recs = list_recordings(ds.recordings)
    out = Path(out)
    state = out / STATE
    state.mkdir(parents=True, exist_ok=True)
    run = _SetRun(name, ds, setting, post, mpath, det_model, rf, rf_path, state)
    common = _state_common(cfg, run)
    # ---- per recording: screen, fingerprint, detect the ones not done yet
    problems = _screen_recordings(recs, ds, name)
    good = [(rid, p) for rid, p in recs if rid not in problems]
    fps = {rid: fingerprint(common, p) for rid, p in good}
    durations = _audio_seconds(good)
    _detect_pending(cfg, run, good, fps, durations, problems)
    # ---- set-level outputs, rebuilt from the completion records
    ok = [rid for rid, _ in good if rid not in problems]
    files = dict(recs)
    det, per_rec = _write_set_outputs(run, ok, files, durations, out)
    audio_s = sum(r["audio_s"] for r in per_rec)
    metrics: dict[str, Any] = {
        "recordings": len(ok),
        "hours": audio_s / 3600,
        "detections": len(det),
        "detections_per_min": len(det) / (audio_s / 60) if audio_s else 0.0,
        "skipped": len(problems),
        "nonfinite_spans": sum(len(r["nonfinite_spans"]) for r in per_rec),
    }
    scores, unscored, truth_problems = _score_set(cfg, run, det, ok, files)
    metrics |= scores
    summary = _set_summary(run, ev.iou, metrics, per_rec, problems, unscored, truth_problems)
    write_json(out / "summary.json", summary)
    write_metrics(out / "metrics.json", metrics)
    log.info(
        "%s: %d detections in %d recordings (%.2f h), %d skipped",
        name,
        len(det),
        len(ok),
        audio_s / 3600,
        len(problems),
    )
    return summary
