"""acoustic_predict: per-window call probabilities for whole recordings.

Each recording's spectrogram is computed once (streamed in chunks for bounded memory,
:mod:`ethoflow.acoustic.inference.streaming`, equal to the whole-tape computation); windows of ``seq_len_s``
every ``hop_s`` are sliced from it and classified in batches (ANIMAL-SPOT's predictor instead
computes each window's spectrogram from its samples and classifies windows one at a time), with
channels-last memory layout and ``torch.inference_mode``.
Output rows: ``tape, recording, start_s, end_s, prob, logit, label`` where ``prob`` = 1 - P(noise),
``logit`` its log-odds and ``label`` the most likely target class. :func:`predict_recordings_animal_spot`
writes the same rows for an existing ANIMAL-SPOT model file, with ANIMAL-SPOT's windows and front end.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ethoflow.acoustic.frontend.spectrogram import window_batch, window_starts
from ethoflow.acoustic.params import FeatureParams, PredictSetting
from ethoflow.core import get_logger, progress
from ethoflow.core.inputs import audio_info

log = get_logger(__name__)


@dataclass(frozen=True)
class StreamOptions:
    """How a recording is streamed: ``chunk_s`` seconds of audio per chunk (memory, never results) and the
    ``nonfinite`` rule for NaN/infinite samples (``acoustic.corpus.nonfinite``: ``fail`` | ``skip``)."""

    chunk_s: float = 300.0
    nonfinite: str = "fail"


def predict_power(
    model: Any,
    power: np.ndarray,
    features: FeatureParams,
    duration_s: float,
    seq_len_s: float,
    hop_s: float,
    batch_size: int = 64,
) -> pd.DataFrame:
    """Classify every window of one recording's power spectrogram (F, n_frames).

    Returns a DataFrame with ``start_s, end_s, prob, logit, label_idx`` (one row per window).
    """
    # local: torch is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    import torch

    # local: ethoflow.acoustic.models.model.target_logit imports torch (slow to import)
    from ethoflow.acoustic.models.model import target_logit

    starts = window_starts(duration_s, seq_len_s, hop_s)
    logits, cls = [], []
    model = model.to(memory_format=torch.channels_last)  # faster CPU convolutions, same results
    with torch.inference_mode():
        for k in range(0, len(starts), batch_size):
            x = torch.from_numpy(window_batch(power, starts[k : k + batch_size], seq_len_s, features))
            lo = model(x.contiguous(memory_format=torch.channels_last))
            logits.append(target_logit(lo).numpy())
            cls.append(lo[:, 1:].argmax(1).numpy())
    logit = np.concatenate(logits).astype(np.float64)
    return pd.DataFrame(
        {
            "start_s": starts,
            "end_s": np.round(np.minimum(starts + seq_len_s, duration_s), 6),
            "prob": 1.0 / (1.0 + np.exp(-logit)),
            "logit": logit,
            "label_idx": np.concatenate(cls),
        }
    )


def predict_recordings(
    model_path: str,
    recordings: list[dict[str, Any]],
    setting: PredictSetting,
    out_path: str,
    batch_size: int = 64,
    num_threads: int = 0,
    features: dict[str, Any] | None = None,
    stream: StreamOptions = StreamOptions(),
) -> dict[str, Any]:
    """Predict every recording (dicts with recording, tape, file, duration_s); write Parquet ``out_path``.

    Windows of ``setting.seq_len_s`` seconds every ``setting.hop_s`` seconds (an ``acoustic.predict.settings``
    entry).

    Each recording is **streamed** (:func:`ethoflow.acoustic.inference.streaming.stream_windows`): read and
    classified ``stream.chunk_s`` seconds of audio at a time (rounded to whole batches of windows), with the
    overlap that makes the rows equal to :func:`predict_power` on the whole tape's spectrogram, so
    memory does not grow with a recording's length (one row per window does). Progress: one bar over
    seconds of audio.

    The front end is the one saved in the model file; ``features`` (``acoustic.features`` of the params
    in use) only serves to warn, naming both values, where the model file overrides them.

    A framewise model (``arch: framewise``) ignores ``setting.seq_len_s``: its rows are cells of ``setting.hop_s`` seconds
    (:func:`ethoflow.acoustic.models.framewise.predict_power_framewise`), the same columns as windows.

    ``stream.nonfinite`` (``acoustic.corpus.nonfinite``): ``fail`` stops at a NaN/infinite sample (naming the file
    and its time); ``skip`` leaves out every window (cell) touching one, and reports each span.

    Returns a summary (recordings, windows, seconds of audio; ``nonfinite_spans``: recording -> its skipped
    spans, ``start_s``/``end_s``/``samples``; ``nonfinite_skipped``: how many).

    Raises:
        InputError: a recording is missing, empty, unreadable or truncated, or (``fail``) holds a NaN/infinite
            sample (named, with the problem).
    """

    # local: torch is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    import torch

    from ethoflow.acoustic.inference.streaming import Detector, stream_recordings
    from ethoflow.acoustic.training.train import load_model

    if num_threads:
        torch.set_num_threads(num_threads)
    model, meta = load_model(model_path)
    f = FeatureParams(**meta["features"])
    if features is not None:
        # local: imported only on the branch that needs it
        from ethoflow.core.inputs import warn_checkpoint_overrides

        warn_checkpoint_overrides(model_path, meta["features"], dict(features), "acoustic.features")
    kind = "framewise" if meta.get("arch") == "framewise" else "ethoflow"
    det = Detector(kind, model, list(meta["classes"]), f.sr, f.fmin, f.fmax, features=f)
    t0, audio_s = time.perf_counter(), 0.0
    for rec in recordings:  # missing, empty, unreadable or truncated: InputError naming the file, before any work
        audio_info(rec["file"])
    bar = progress(total=round(sum(float(r["duration_s"]) for r in recordings), 1), desc="predict", unit="s")
    out, _, skipped = stream_recordings(
        det, recordings, setting, out_path, batch_size, stream.chunk_s, bar, stream.nonfinite
    )
    for rec in recordings:
        audio_s += rec["duration_s"]
    secs = time.perf_counter() - t0
    log.info("predicted %d windows of %d recordings (%.0f s audio) in %.1f s", len(out), len(recordings), audio_s, secs)
    return {"n_recordings": len(recordings), "n_windows": len(out), "audio_s": audio_s} | _nonfinite_summary(skipped)


def _nonfinite_summary(skipped: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """The summary keys of the non-finite spans left out: ``nonfinite_spans`` (recording -> spans) and
    ``nonfinite_skipped`` (their number)."""
    return {"nonfinite_spans": skipped, "nonfinite_skipped": sum(len(v) for v in skipped.values())}


def predict_recordings_animal_spot(
    model_path: str,
    recordings: list[dict[str, Any]],
    setting: PredictSetting,
    out_path: str,
    batch_size: int = 64,
    num_threads: int = 0,
    min_max_norm: bool = False,
    stream: StreamOptions = StreamOptions(),
) -> dict[str, Any]:
    """As :func:`predict_recordings` (``stream`` too), for an ANIMAL-SPOT model file
    (:mod:`ethoflow.acoustic.models.animal_spot`); ``setting``: window length and hop (s).

    ``recordings``: dicts with ``recording``, ``tape``, ``file``. Writes Parquet ``out_path`` with the
    same columns (``tape, recording, start_s, end_s, prob, logit, label``); returns the same summary
    (``n_recordings``, ``n_windows``, ``audio_s``). Windows follow ANIMAL-SPOT
    (:func:`ethoflow.acoustic.models.animal_spot.window_samples`). Recordings are streamed ``stream.chunk_s``
    seconds at a time (:func:`ethoflow.acoustic.inference.streaming.stream_windows`, equal to
    :func:`ethoflow.acoustic.models.animal_spot.predict_samples` on the whole tape); progress is one bar
    over seconds of audio.

    Raises:
        InputError: unreadable model file; a recording missing, empty, unreadable or truncated, or (``fail``)
            holding a NaN/infinite sample.
    """
    # local: torch is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    import torch

    from ethoflow.acoustic.inference.streaming import Detector, stream_recordings
    from ethoflow.acoustic.models.animal_spot import load_animal_spot

    if num_threads:
        torch.set_num_threads(num_threads)
    model, fe, classes = load_animal_spot(model_path, min_max_norm=min_max_norm)
    det = Detector("animal_spot", model, classes, fe.sr, fe.fmin, fe.fmax, fe=fe)
    infos = [audio_info(rec["file"]) for rec in recordings]  # bad files stop before any work, named
    bar = progress(total=round(sum(i.duration_s for i in infos), 1), desc="predict", unit="s")
    out, samples, skipped = stream_recordings(
        det, recordings, setting, out_path, batch_size, stream.chunk_s, bar, stream.nonfinite
    )
    audio_s = 0.0
    for n in samples:
        audio_s += n / fe.sr
    log.info(
        "ANIMAL-SPOT model %s: %d windows of %d recordings (%.0f s audio)",
        model_path,
        len(out),
        len(recordings),
        audio_s,
    )
    return {"n_recordings": len(recordings), "n_windows": len(out), "audio_s": audio_s} | _nonfinite_summary(skipped)


def naive_predict(
    model: Any, file: str | Path, features: FeatureParams, duration_s: float, seq_len_s: float, hop_s: float
) -> np.ndarray:
    """Reference predictor, the way ANIMAL-SPOT's ``predict.py`` works (``StridedAudioDataset``, batch
    size 1): load the recording once (mono, resampled to ``f.sr``), then for each window take its
    samples, compute their spectrogram and network input, and classify that window alone.

    Returns the window log-odds, shape (n_windows,), same windows as :func:`predict_power`. Used by
    ``benchmarks/acoustic_predict.py``; not part of the pipeline.
    """
    # local: torch is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    import torch

    from ethoflow.acoustic.frontend.spectrogram import (
        frames_per_window,
        load_audio,
        power_spectrogram,
        slice_frames,
        to_input,
    )
    from ethoflow.acoustic.models.model import target_logit

    starts = window_starts(duration_s, seq_len_s, hop_s)
    T = frames_per_window(seq_len_s, features)
    n_samples = int(round(seq_len_s * features.sr))
    y_all = load_audio(file, features.sr)
    out = []
    with torch.no_grad():
        for s in starts:
            a = int(round(s * features.sr))
            P = slice_frames(power_spectrogram(y_all[a : a + n_samples], features), 0, T)  # zero power past the end
            x = torch.from_numpy(to_input(P, features)[None, None])
            out.append(float(target_logit(model(x))[0]))
    return np.asarray(out)
