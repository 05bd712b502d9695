"""acoustic_detect: run a trained (or ANIMAL-SPOT) call detector over unannotated recordings.

A detection set (``acoustic.detect.sets.<name>``) names recordings (a folder or a glob; wav or flac,
any sample rate, channels averaged), a model (a trained variant or a model file), a prediction
setting (window length and hop), a threshold and optionally a random-forest filter. For each
recording the window probabilities are computed **streamed in chunks** (bounded memory, see below),
chained into detections as ``acoustic_evaluate`` does (:func:`ethoflow.acoustic.evaluate.chain_windows`
with ``acoustic.evaluate``'s boundary/min_gap_s/min_dur_s), and each detection gets its frequency band
(the 5 % and 95 % points of its energy over frequency, :func:`ethoflow.acoustic.features.energy_band`).

Streaming (results equal the whole-tape computation): a chunk is a run of whole batches of windows.
For ethoflow's models the chunk's spectrogram frames are computed from exactly the samples the
whole-tape STFT would use for them (pre-emphasis sample before, half an FFT either side, zeros outside
the tape, zero power for frames past its end); for ANIMAL-SPOT models each window is computed from its
own samples anyway. Resampling to the model's rate (``scipy.signal.resample_poly``, as
:func:`ethoflow.acoustic.spectrogram.load_audio`) reads each chunk with a margin of input samples wider
than the polyphase filter, starting on a sample where input and output grids meet, so the resampled
samples equal those of the whole tape. Batches hold the same windows as in a whole-tape run. Memory:
one chunk's samples and spectrogram plus one row per window (a 2-hour tape at hop 0.05 s: 144 000 rows).

Resume: the output folder is a DVC ``persist`` out. Each finished recording leaves its windows and
detections (``state/<recording>.windows.parquet``, ``.detections.parquet``) and then a completion
record (``state/<recording>.json``) holding a fingerprint of everything that decides its result (model
file, setting, threshold, chaining params, RF file, the audio file's size and mtime); a rerun skips
recordings whose record matches and computes the others. The set-level outputs are rebuilt from the
records at the end, so a killed and resumed run ends with the same files as an uninterrupted one.

Bad input (``on_error``): a file that cannot be opened, holds no samples, or is truncated (a WAV whose
data chunk is shorter than its header says; a FLAC that stops decoding) is reported per file and left
out (``skip``), or stops the stage naming every such file (``fail``); a file is never silently shortened.

Outputs in ``out``: ``selections/<recording>.Table.1.selections.txt`` (Raven Pro's columns: Selection,
View, Channel, Begin Time (s), End Time (s), Low Freq (Hz), High Freq (Hz), Annotation, then
``prob_max``, ``cnn_logit_mean`` and ``rf_prob`` when an RF is used), ``detections.parquet`` (all
recordings), ``timelines/<recording>.png`` (window probability over time, detections shaded),
``summary.json`` (per recording and totals, problems, the run's settings), ``metrics.json`` (numbers
only: recordings, hours, detections, detections_per_min, skipped, and with ``truth`` precision, recall,
f1, tp, fp, fn at ``acoustic.evaluate.iou`` with Hungarian matching) and ``state/``.
"""

from __future__ import annotations

import glob as globlib
import hashlib
import json
import math
import os
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ethoflow.acoustic.params import AUDIO_EXTENSIONS, AcousticParams, DetectSet, FeatureParams
from ethoflow.core import InputError, atomic_path, get_logger, progress, read_json, write_json

log = get_logger(__name__)

STATE = "state"
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
STATE_VERSION = 2  # 2: recordings keyed by content hash, not mtime


# ------------------------------------------------------------------------------------------ recordings


def list_recordings(spec: str, root: str | Path = ".") -> list[tuple[str, Path]]:
    """Recordings of a detection set: ``(recording id, path)`` sorted by id.

    Args:
        spec: a folder (every ``.wav``/``.flac`` file below it, recursively) or a glob (relative to
            ``root``); hidden files (``.name``: partial writes) are left out.
    Returns:
        ids are the path relative to the folder (the glob's static part) without the extension,
        ``/`` replaced by ``__``.
    Raises:
        InputError: nothing matches, or two files give the same id (``a.wav`` and ``a.flac``).
    """
    from ethoflow.core.paths import glob_base

    root = Path(root)
    base = root / spec
    if base.is_dir():
        files = [p for p in base.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS]
    else:
        files = [Path(p) for p in globlib.glob(str(base), recursive=True)]
        files = [p for p in files if p.is_file()]
        base = root / glob_base(spec)
    files = [p for p in files if not p.name.startswith(".")]
    if not files:
        raise InputError(f"{spec}: no recordings (wav/flac files) found")
    out: dict[str, Path] = {}
    for p in sorted(files):
        rid = str(p.relative_to(base).with_suffix("")).replace(os.sep, "__")
        if rid in out:
            raise InputError(f"{spec}: {out[rid]} and {p} both give recording id {rid!r}; rename one")
        out[rid] = p
    return sorted(out.items())


def wav_declared_frames(path: str | Path) -> tuple[int | None, int | None]:
    """(frames the WAV header declares, frames the file holds) from the RIFF chunks; ``(None, None)``
    when the file is not a plain RIFF/WAVE or the header leaves the size open (0 or 0xFFFFFFFF)."""
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None, None
        block_align, pos = None, 12
        while pos + 8 <= size:
            fh.seek(pos)
            cid, n = struct.unpack("<4sI", fh.read(8))
            if cid == b"fmt ":
                fmt = fh.read(min(n, 16))
                if len(fmt) >= 14:
                    block_align = struct.unpack("<H", fmt[12:14])[0]
            elif cid == b"data":
                if not block_align or n in (0, 0xFFFFFFFF):
                    return None, None
                return n // block_align, max(0, size - pos - 8) // block_align
            pos += 8 + n + (n & 1)
    return None, None


def audio_problem(path: str | Path) -> str | None:
    """Why a recording cannot be used (unreadable, empty, truncated WAV), or None when it can."""
    import soundfile as sf

    try:
        info = sf.info(str(path))
    except Exception as exc:
        return f"unreadable ({' '.join(str(exc).split())[:160]})"
    if info.frames <= 0:
        return "empty (no samples)"
    declared, held = wav_declared_frames(path)
    if declared is not None and held is not None and held < declared:
        return f"truncated: the WAV header declares {declared} frames, the file holds {held}"
    return None


class TapeReader:
    """Random access to a recording's mono samples at rate ``sr``, read in pieces (bounded memory).

    ``read(a, b)`` returns samples ``[a, b)`` (float32, zeros outside ``[0, n)``) equal to
    ``ethoflow.acoustic.spectrogram.load_audio(path, sr)[a:b]``: channels averaged, then resampled with
    ``scipy.signal.resample_poly`` (reduced ``up``/``down``) from a piece of the file that starts on an
    input sample of the common grid and has a margin of ``margin`` input samples (many times the
    polyphase filter's half-length) on both sides.

    Attributes:
        file_sr: the file's rate (Hz); n_in: its frames; n: samples at ``sr``; duration_s: n_in / file_sr.
    Raises:
        InputError: the file stops early or fails to decode while reading (truncated/corrupt).
    """

    def __init__(self, path: str | Path, sr: int):
        import soundfile as sf

        self.path = Path(path)
        info = sf.info(str(path))
        self.file_sr, self.n_in, self.sr = int(info.samplerate), int(info.frames), int(sr)
        g = math.gcd(self.file_sr, self.sr)
        self.up, self.down = self.sr // g, self.file_sr // g
        self.n = self.n_in if self.up == self.down else -(-self.n_in * self.up // self.down)
        self.duration_s = round(self.n_in / self.file_sr, 6)
        self.margin = self.down * max(64, -(-8192 // self.down))
        self._fh = sf.SoundFile(str(path))

    def close(self) -> None:
        self._fh.close()

    def _raw(self, a: int, b: int) -> np.ndarray:
        """Mono file samples ``[a, b)`` (0 <= a <= b <= n_in)."""
        self._fh.seek(a)
        try:
            y = self._fh.read(b - a, dtype="float32", always_2d=True)
        except Exception as exc:
            raise InputError(
                f"{self.path}: truncated or corrupt: decoding stopped near {a / self.file_sr:.1f} s "
                f"({' '.join(str(exc).split())[:120]})"
            ) from None
        if len(y) != b - a:
            raise InputError(
                f"{self.path}: truncated: {len(y)} of {b - a} frames readable from {a / self.file_sr:.1f} s "
                f"(the header declares {self.n_in} frames)"
            )
        return y.mean(axis=1)

    def read(self, a: int, b: int) -> np.ndarray:
        out = np.zeros(max(b - a, 0), dtype=np.float32)
        lo, hi = max(a, 0), min(b, self.n)
        if hi <= lo:
            return out
        if self.up == self.down:
            out[lo - a : hi - a] = self._raw(lo, hi)
            return out
        from scipy.signal import resample_poly

        s = max(0, (lo // self.up) * self.down - self.margin)  # on the grid: output index s * up / down
        e = min(self.n_in, -(-hi // self.up) * self.down + self.margin)
        y = resample_poly(self._raw(s, e), self.up, self.down).astype(np.float32)
        o = s // self.down * self.up
        out[lo - a : hi - a] = y[lo - o : hi - o]
        return out


# ------------------------------------------------------------------------------------------- models


@dataclass
class Detector:
    """A loaded window classifier: ``kind`` ``ethoflow`` (``meta`` holds its ``features``/``classes``)
    or ``animal_spot`` (``fe``: its front end); ``sr``/``fmin``/``fmax``: its rate and band (Hz)."""

    kind: str
    model: Any
    classes: list[str]
    sr: int
    fmin: float
    fmax: float
    features: FeatureParams | None = None
    fe: Any = None


def model_file(ds: DetectSet, cfg: AcousticParams, models_dir: str | Path = "models/acoustic") -> Path:
    """The model file of a set: ``<models_dir>/<variant>/model.pt`` when ``model`` names a variant."""
    if ds.model in cfg.variants:
        return Path(models_dir) / ds.model / "model.pt"
    return Path(ds.model)


def load_detector(path: str | Path, min_max_norm: bool = False) -> Detector:
    """Load ethoflow's ``model.pt`` or an ANIMAL-SPOT model file (told apart by their keys); the model's
    own front end comes from the file.

    Raises:
        InputError: missing or unreadable file, or neither kind of model file.
    """
    from ethoflow.acoustic.animal_spot import is_animal_spot_file, load_animal_spot

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: model file not found (train the variant, or fix the set's model path)")
    if is_animal_spot_file(path):
        model, fe, classes = load_animal_spot(path, min_max_norm=min_max_norm)
        return Detector("animal_spot", model, classes, fe.sr, fe.fmin, fe.fmax, fe=fe)
    from ethoflow.acoustic.train import load_model

    try:
        model, meta = load_model(path)
    except InputError:
        raise
    except Exception as exc:
        raise InputError(
            f"{path}: neither an ethoflow model.pt nor an ANIMAL-SPOT model file ({type(exc).__name__})"
        ) from None
    f = FeatureParams(**meta["features"])
    kind = "framewise" if meta.get("arch") == "framewise" else "ethoflow"
    return Detector(kind, model, list(meta["classes"]), f.sr, f.fmin, f.fmax, features=f)


def _classify(model: Any, x: Any) -> tuple[np.ndarray, np.ndarray]:
    """Target log-odds (float64) and most likely target class index of an ethoflow model's batch."""
    import torch

    from ethoflow.acoustic.model import target_logit

    with torch.inference_mode():
        lo = model(torch.from_numpy(x).contiguous(memory_format=torch.channels_last))
        return target_logit(lo).numpy().astype(np.float64), lo[:, 1:].argmax(1).numpy()


def _power_frames(reader: TapeReader, f: FeatureParams, f0: int, f1: int, n_total: int) -> np.ndarray:
    """Frames ``[f0, f1)`` of the whole tape's :func:`~ethoflow.acoustic.spectrogram.power_spectrogram`
    (zero power from frame ``n_total`` on), computed from the samples those frames use. (F, f1 - f0)."""
    import torch

    from ethoflow.acoustic.spectrogram import _filterbank, filterbank_product

    H, N = f.hop_length, f.n_fft
    fc = min(f1, n_total)
    out = np.zeros((f.n_freq_bins, f1 - f0), dtype=np.float32)
    if fc <= f0:
        return out
    a, b = f0 * H - N // 2, (fc - 1) * H - N // 2 + N  # frame i: samples [i*H - N//2, i*H - N//2 + N)
    y = reader.read(a - 1, b)  # one sample before for the pre-emphasis (zero before the tape's start)
    if f.preemphasis > 0:
        y = y[1:] - f.preemphasis * y[:-1]
        if b > reader.n:  # the whole-tape STFT pads the pre-emphasised signal with zeros
            y[max(reader.n - a, 0) :] = 0.0
    else:
        y = y[1:]
    win = torch.hann_window(N, periodic=True, dtype=torch.float32)
    with torch.no_grad():
        spec = torch.stft(
            torch.from_numpy(np.ascontiguousarray(y)), N, H, window=win, center=False, return_complex=True
        )
        mag = spec.abs() * (2.0 / win.sum())
        power = (mag * mag).numpy()
    fb = _filterbank(f.sr, N, f.n_freq_bins, float(f.fmin), float(f.fmax), f.freq_compression)
    out[:, : fc - f0] = filterbank_product(fb, power)[:, : fc - f0]
    return out


def stream_windows(
    det: Detector,
    reader: TapeReader,
    seq_len_s: float,
    hop_s: float,
    batch_size: int = 64,
    chunk_s: float = 300.0,
    on_chunk: Any = None,
) -> pd.DataFrame:
    """Window probabilities of one recording, computed chunk by chunk.

    Equal to ``ethoflow.acoustic.predict.predict_power`` on the whole tape's spectrogram (ethoflow
    models) or ``ethoflow.acoustic.animal_spot.predict_samples`` on its samples (ANIMAL-SPOT models),
    whatever ``chunk_s``. ``on_chunk(seconds)`` is called after each chunk (progress).

    Returns:
        one row per window: ``start_s, end_s, prob, logit, label``.
    """
    per_chunk = max(1, int(round(chunk_s / hop_s / batch_size))) * batch_size  # whole batches
    if det.kind == "framewise":
        return _stream_framewise(det, reader, hop_s, chunk_s, on_chunk)
    if det.kind == "animal_spot":
        return _stream_animal_spot(det, reader, seq_len_s, hop_s, batch_size, per_chunk, on_chunk)
    import torch

    from ethoflow.acoustic.predict import window_starts
    from ethoflow.acoustic.spectrogram import frames_per_window, to_input

    f = det.features
    model = det.model.to(memory_format=torch.channels_last)
    starts = window_starts(reader.duration_s, seq_len_s, hop_s)
    first = np.round(starts * f.sr / f.hop_length).astype(int)
    T = frames_per_window(seq_len_s, f)
    n_total = 1 + max(reader.n, f.n_fft) // f.hop_length
    if reader.n < f.n_fft:  # shorter than one FFT: the whole-tape path pads the samples; tiny anyway
        from ethoflow.acoustic.spectrogram import power_spectrogram

        P_all = power_spectrogram(reader.read(0, reader.n), f)
    logits, labels = [], []
    for c0 in range(0, len(starts), per_chunk):
        c1 = min(c0 + per_chunk, len(starts))
        f0, f1 = int(first[c0]), int(first[c1 - 1]) + T
        if reader.n < f.n_fft:
            P = np.zeros((P_all.shape[0], f1 - f0), np.float32)
            k = max(0, min(P_all.shape[1], f1) - f0)
            P[:, :k] = P_all[:, f0 : f0 + k]
        else:
            P = _power_frames(reader, f, f0, f1, n_total)
        for k in range(c0, c1, batch_size):
            idx = first[k : min(k + batch_size, c1), None] - f0 + np.arange(T)[None, :]
            x = to_input(P[:, idx].transpose(1, 0, 2), f)[:, None]
            lg, lb = _classify(model, x)
            logits.append(lg)
            labels.append(lb)
        if on_chunk is not None:
            on_chunk(min(starts[c1 - 1] + hop_s, reader.duration_s) - (starts[c0] if c0 else 0.0))
    logit = np.concatenate(logits) if logits else np.zeros(0)
    lab = np.concatenate(labels) if labels else np.zeros(0, dtype=int)
    return pd.DataFrame(
        {
            "start_s": starts,
            "end_s": np.round(np.minimum(starts + seq_len_s, reader.duration_s), 6),
            "prob": 1.0 / (1.0 + np.exp(-logit)),
            "logit": logit,
            "label": [det.classes[i] for i in lab],
        }
    )


def _stream_framewise(det: Detector, reader: TapeReader, hop_s: float, chunk_s: float, on_chunk: Any) -> pd.DataFrame:
    """The framewise detector on a tape, chunk by chunk: each chunk's frames with the model's context
    (:meth:`~ethoflow.acoustic.framewise.FramewiseNet.context_frames`) on both sides, so the per-frame
    probabilities equal one pass over the whole tape's spectrogram; pooled into ``hop_s`` cells
    (:func:`~ethoflow.acoustic.framewise.frames_to_cells`). Rows: ``start_s, end_s, prob, logit, label``."""
    import torch

    from ethoflow.acoustic.framewise import frames_to_cells
    from ethoflow.acoustic.spectrogram import power_spectrogram

    f, model = det.features, det.model.eval()
    n_total = 1 + max(reader.n, f.n_fft) // f.hop_length
    ctx = model.context_frames()
    step = max(64, int(round(chunk_s * f.sr / f.hop_length)))
    short = power_spectrogram(reader.read(0, reader.n), f) if reader.n < f.n_fft else None
    probs = []
    for a in range(0, n_total, step):
        b = min(a + step, n_total)
        lo, hi = max(a - ctx, 0), min(b + ctx, n_total)
        power = short[:, lo:hi] if short is not None else _power_frames(reader, f, lo, hi, n_total)
        with torch.inference_mode():
            logits = model(torch.from_numpy(np.ascontiguousarray(model.standardise(power)[None, None])))[0]
        probs.append(torch.softmax(logits.double(), 0)[:, a - lo : b - lo].T.numpy())
        if on_chunk is not None:
            on_chunk((b - a) * f.hop_length / f.sr)
    cells = frames_to_cells(np.concatenate(probs), f, reader.duration_s, hop_s)
    return pd.DataFrame(
        {
            "start_s": cells.start_s,
            "end_s": cells.end_s,
            "prob": cells.prob,
            "logit": cells.logit,
            "label": [det.classes[i] for i in cells.label_idx],
        }
    )


def _stream_animal_spot(
    det: Detector, reader: TapeReader, seq_len_s: float, hop_s: float, batch_size: int, per_chunk: int, on_chunk: Any
) -> pd.DataFrame:
    from ethoflow.acoustic.animal_spot import predict_samples, window_samples

    starts, L, hop = window_samples(reader.n, seq_len_s, hop_s, det.sr)
    if reader.n < L:  # one short window, as ANIMAL-SPOT
        df = predict_samples(det.model, det.fe, det.classes, reader.read(0, reader.n), seq_len_s, hop_s, batch_size)
        if on_chunk is not None:
            on_chunk(reader.duration_s)
        return df
    frames = []
    for c0 in range(0, len(starts), per_chunk):
        c1 = min(c0 + per_chunk, len(starts))
        a, b = int(starts[c0]), int(starts[c1 - 1]) + L
        df = predict_samples(det.model, det.fe, det.classes, reader.read(a, b), seq_len_s, hop_s, batch_size)
        gs = starts[c0:c1]
        df["start_s"] = np.round(gs / det.sr, 6)
        df["end_s"] = np.round(np.minimum(gs + L, reader.n) / det.sr, 6)
        frames.append(df)
        if on_chunk is not None:
            on_chunk(((starts[c1 - 1] + hop if c1 < len(starts) else reader.n) - (a if c0 else 0)) / det.sr)
    return pd.concat(frames, ignore_index=True)


# ------------------------------------------------------------------------------------- one recording


def describe_detections(
    d: pd.DataFrame, path: str | Path, fmin: float, fmax: float, rf: dict[str, Any] | None, rf_params: Any
) -> pd.DataFrame:
    """Add each detection's band (``low_hz``/``high_hz``: 5 %/95 % energy points in ``[fmin, fmax]``)
    and, with an RF filter (``rf``: what :func:`ethoflow.acoustic.rf.load_filter` returns), ``rf_prob``.
    Reads only each detection's samples from ``path`` (at the file's own rate)."""
    import soundfile as sf

    from ethoflow.acoustic.features import file_energy_band, segment_features

    d = d.copy()
    lo, hi, feats = [], [], []
    with sf.SoundFile(str(path)) as fh:
        sr = fh.samplerate
        for r in d.itertuples(index=False):
            a = int(r.start_s * sr)
            b = max(int(r.end_s * sr), a + 1)
            band = file_energy_band(fh, a, b, fmin, fmax)  # in blocks: bounded memory on long detections
            lo.append(band[0])
            hi.append(band[1])
            if rf is not None:  # the RF's features need the whole segment (as acoustic_rf_train computes them)
                fh.seek(min(a, fh.frames))
                y = fh.read(b - a, dtype="float32", always_2d=True).mean(axis=1)
                feats.append(segment_features(y, sr, rf_params) | {"cnn_logit_mean": float(r.cnn_logit_mean)})
    d["low_hz"] = np.asarray(lo, float)
    d["high_hz"] = np.asarray(hi, float)
    if rf is not None:
        from ethoflow.acoustic.rf import rf_probabilities

        X = pd.DataFrame(feats)
        missing = [c for c in rf["columns"] if c not in X.columns] if len(X) else []
        if missing:
            raise InputError(f"RF filter expects features {missing[:5]} that ethoflow does not compute")
        d["rf_prob"] = rf_probabilities(rf, X) if len(X) else np.zeros(0)
    return d


def _sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _fingerprint(common: dict[str, Any], path: Path) -> str:
    """The completion record's key: the set's settings, the recording's path and its content hash (not its
    mtime: a copy or a fresh clone of the same data must give the same records, which are DVC outs)."""
    blob = json.dumps({**common, "file": str(path), "sha256": _sha256(path)}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _done(state: Path, rid: str, fp: str) -> bool:
    rec = state / f"{rid}.json"
    if not rec.exists():
        return False
    try:
        ok = read_json(rec).get("fingerprint") == fp
    except Exception:
        return False
    return ok and (state / f"{rid}.windows.parquet").exists() and (state / f"{rid}.detections.parquet").exists()


# ------------------------------------------------------------------------------------------ outputs


def read_truth(folder: str | Path, rid: str) -> pd.DataFrame | None:
    """``start_s, end_s`` of a Raven table ``<folder>/<rid>.Table.1.selections.txt`` (None when absent).

    Raises:
        InputError: the table lacks ``Begin Time (s)`` / ``End Time (s)``.
    """
    p = Path(folder) / f"{rid}.Table.1.selections.txt"
    if not p.exists():
        return None
    t = pd.read_csv(p, sep="\t")
    for c in ("Begin Time (s)", "End Time (s)"):
        if c not in t.columns:
            raise InputError(f"{p}: no column {c!r} (a Raven selection table has it)")
    return pd.DataFrame({"start_s": t["Begin Time (s)"].astype(float), "end_s": t["End Time (s)"].astype(float)})


def score_against_truth(det: pd.DataFrame, truth_dir: str | Path, recordings: list[str], iou: float) -> dict[str, Any]:
    """Precision/recall/F1 of the detections against Raven tables in ``truth_dir`` (Hungarian matching
    at ``iou``, per recording; recordings without a table are left out and counted)."""
    from ethoflow.acoustic.evaluate import match_hungarian

    tp = n_gt = n_pred = n_scored = 0
    for rid in recordings:
        gt = read_truth(truth_dir, rid)
        if gt is None:
            continue
        d = det[det.recording == rid]
        pairs = match_hungarian(gt.to_numpy(float), d[["start_s", "end_s"]].to_numpy(float), iou)
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
        "recordings_scored": n_scored,
    }


def timeline_png(windows: pd.DataFrame, det: pd.DataFrame, threshold: float, title: str, path: str | Path) -> None:
    """Window probability over time (max per pixel column for long tapes), detections shaded."""
    import matplotlib.pyplot as plt

    from ethoflow.core import save_figure

    fig, ax = plt.subplots(figsize=(10, 2.4), dpi=100)
    t = ((windows.start_s + windows.end_s) / 2).to_numpy(float)
    p = windows.prob.to_numpy(float)
    if len(t) > 4000:  # keep peaks visible: max over equal bins
        edges = np.linspace(t[0], t[-1], 2001)
        k = np.clip(np.searchsorted(edges, t, side="right") - 1, 0, 1999)
        pm = np.zeros(2000)
        np.maximum.at(pm, k, p)
        t, p = (edges[:-1] + edges[1:]) / 2, pm
    ax.plot(t / 60 if t.size and t[-1] > 600 else t, p, lw=0.6, color="0.3")
    scale = 60 if t.size and t[-1] > 600 else 1
    for r in det.itertuples(index=False):
        ax.axvspan(r.start_s / scale, r.end_s / scale, color="tab:orange", alpha=0.35, lw=0)
    ax.axhline(threshold, color="tab:red", lw=0.6, ls="--")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("time (min)" if scale == 60 else "time (s)")
    ax.set_ylabel("P(call)")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    save_figure(fig, path)


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


def detect_set(
    cfg: AcousticParams,
    name: str,
    out: str | Path,
    params_path: str = "params.yaml",
    evaluations: str | Path | None = None,
) -> dict[str, Any]:
    """Run detection set ``name`` into folder ``out`` (see the module docstring); resumes from ``out/state``.
    ``evaluations``: acoustic_evaluate's outs, read when the threshold or clean-up is ``auto``
    (:func:`ethoflow.acoustic.evaluate.detection_postprocess`).

    Returns:
        the summary dict written to ``out/summary.json``.
    Raises:
        ParamsError: unknown set or setting. InputError: no recordings; missing/unreadable model or RF
        file; with ``on_error: fail``, the bad recordings (each named with its problem).
    """
    import soundfile as sf
    import torch

    from ethoflow.acoustic.evaluate import chain_windows, detection_postprocess
    from ethoflow.acoustic.variants import raven_selection_table
    from ethoflow.core import atomic_write_text, write_metrics

    ds = cfg.detect_set(name, params_path)
    setting = cfg.setting(ds.setting, params_path)
    ev = cfg.evaluate
    post = detection_postprocess(cfg, name, evaluations, params_path)  # auto: the variant's chosen values
    threshold, min_gap_s, min_dur_s = post["threshold"], post["min_gap_s"], post["min_dur_s"]
    if cfg.detect.num_threads:
        torch.set_num_threads(cfg.detect.num_threads)
    mpath = model_file(ds, cfg)
    det_model = load_detector(mpath, ds.min_max_norm)
    rf = rf_path = None
    if ds.rf is not None:
        from ethoflow.acoustic.rf import load_filter

        rf_path = Path(ds.rf) if "/" in ds.rf else Path("models/acoustic/rf") / ds.rf / "rf.pkl"
        if not rf_path.is_file():
            raise InputError(f"{rf_path}: RF filter file not found (acoustic.detect.sets.{name}.rf = {ds.rf!r})")
        rf = load_filter(rf_path)
    recs = list_recordings(ds.recordings)
    out = Path(out)
    state = out / STATE
    state.mkdir(parents=True, exist_ok=True)
    common = {
        "version": STATE_VERSION,
        "model": _sha256(mpath),
        "min_max_norm": ds.min_max_norm,
        "setting": setting.model_dump(),
        "threshold": threshold,
        "chain": {"boundary": ev.boundary, "min_gap_s": min_gap_s, "min_dur_s": min_dur_s},
        "rf": _sha256(rf_path) if rf_path else None,
        "rf_params": cfg.rf.model_dump() if rf_path else None,
        "batch_size": cfg.detect.batch_size,
    }
    problems: dict[str, str] = {}
    for rid, path in recs:
        why = audio_problem(path)
        if why:
            problems[rid] = f"{path}: {why}"
    if problems and ds.on_error == "fail":
        raise InputError(f"acoustic_detect@{name}: bad recordings (on_error: fail): " + "; ".join(problems.values()))
    for msg in problems.values():
        log.warning("skipped %s", msg)
    good = [(rid, p) for rid, p in recs if rid not in problems]
    fps = {rid: _fingerprint(common, p) for rid, p in good}
    durations = {}
    for rid, p in good:
        i = sf.info(str(p))
        durations[rid] = i.frames / i.samplerate
    todo = [(rid, p) for rid, p in good if not _done(state, rid, fps[rid])]
    done_s = sum(durations[r] for r, _ in good) - sum(durations[r] for r, _ in todo)
    if len(todo) < len(good):
        log.info("resuming: %d of %d recordings already done", len(good) - len(todo), len(good))
    bar = progress(total=round(sum(durations.values()), 1), initial=round(done_s, 1), desc=f"detect {name}", unit="s")
    for rid, path in todo:
        reader = TapeReader(path, det_model.sr)
        try:
            win = stream_windows(
                det_model,
                reader,
                setting.seq_len_s,
                setting.hop_s,
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
        d = chain_windows(win, threshold, setting.hop_s, ev.boundary, min_gap_s, min_dur_s)
        d = d.astype({"start_s": float, "end_s": float, "cnn_logit_mean": float, "prob_max": float, "n_windows": int})
        d.insert(0, "recording", rid)
        d = describe_detections(d, path, det_model.fmin, det_model.fmax, rf, cfg.rf)
        with atomic_path(state / f"{rid}.windows.parquet") as tmp:
            win.to_parquet(tmp, index=False)
        with atomic_path(state / f"{rid}.detections.parquet") as tmp:
            d.to_parquet(tmp, index=False)
        write_json(
            state / f"{rid}.json",
            {"fingerprint": fps[rid], "file": str(path), "audio_s": durations[rid], "windows": len(win)},
        )
    bar.close()
    # ---- set-level outputs, rebuilt from the completion records
    ok = [rid for rid, _ in good if rid not in problems]
    frames, per_rec = [], []
    sel_dir, tl_dir = _fresh_dir(out / "selections"), _fresh_dir(out / "timelines")
    extra = ["prob_max", "cnn_logit_mean"] + (["rf_prob"] if rf is not None else [])
    files = dict(recs)
    for rid in ok:
        d = pd.read_parquet(state / f"{rid}.detections.parquet")
        n_all = len(d)
        if rf is not None:
            d = d[d.rf_prob >= rf["threshold"]]
        d = d.sort_values(["start_s", "end_s"], kind="stable").reset_index(drop=True)
        frames.append(d)
        atomic_write_text(sel_dir / f"{rid}.Table.1.selections.txt", raven_selection_table(d, extra))
        win = pd.read_parquet(state / f"{rid}.windows.parquet")
        timeline_png(win, d, threshold, f"{name}: {rid} ({len(d)} detections)", tl_dir / f"{rid}.png")
        per_rec.append(
            {
                "recording": rid,
                "file": str(files[rid]),
                "audio_s": round(durations[rid], 6),
                "detections": len(d),
                "rf_rejected": n_all - len(d),
            }
        )
    _replace_dir(sel_dir, out / "selections")
    _replace_dir(tl_dir, out / "timelines")
    cols = DET_COLUMNS + (["rf_prob"] if rf is not None else [])
    det = pd.concat(frames, ignore_index=True)[cols] if frames else pd.DataFrame(columns=cols)
    with atomic_path(out / "detections.parquet") as tmp:
        det.to_parquet(tmp, index=False)
    audio_s = sum(r["audio_s"] for r in per_rec)
    metrics: dict[str, Any] = {
        "recordings": len(ok),
        "hours": audio_s / 3600,
        "detections": len(det),
        "detections_per_min": len(det) / (audio_s / 60) if audio_s else 0.0,
        "skipped": len(problems),
    }
    if ds.truth is not None:
        metrics |= score_against_truth(det, ds.truth, ok, ev.iou)
    summary = {
        "set": name,
        "model": str(mpath),
        "model_kind": det_model.kind,
        "setting": ds.setting,
        **setting.model_dump(),
        "threshold": threshold,
        "min_gap_s": min_gap_s,
        "min_dur_s": min_dur_s,
        "postprocess_from": post["from"],
        "iou": ev.iou if ds.truth is not None else None,
        "rf": str(rf_path) if rf_path else None,
        "rf_threshold": rf["threshold"] if rf is not None else None,
        "metrics": metrics,
        "recordings": per_rec,
        "problems": [{"recording": k, "problem": v} for k, v in sorted(problems.items())],
    }
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
