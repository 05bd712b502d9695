"""Streaming a recording through a call detector in chunks: bounded memory, whole-tape results.

Used by ``acoustic_predict`` (:func:`ethoflow.acoustic.inference.predict.predict_recordings`), ``acoustic_detect``
(:mod:`ethoflow.acoustic.inference.detect`) and the ANIMAL-SPOT prediction
(:func:`ethoflow.acoustic.inference.predict.predict_recordings_animal_spot`).

- :class:`TapeReader` reads a recording's mono samples at the model's rate in pieces. Resampling
  (``scipy.signal.resample_poly``, as :func:`ethoflow.acoustic.frontend.spectrogram.load_audio`) reads each piece
  with a margin of input samples wider than the polyphase filter, starting on a sample where the input
  and output grids meet, so the resampled samples equal those of the whole tape.
- :func:`stream_windows` computes one recording's window probabilities chunk by chunk. A chunk is a
  run of whole batches of windows. For ethoflow's window classifier the chunk's spectrogram frames are
  computed from exactly the samples the whole-tape STFT would use for them (pre-emphasis sample
  before, half an FFT either side, zeros outside the tape, zero power for frames past its end), and
  batches hold the same windows as in a whole-tape run; for the framewise model each chunk of frames
  gets the network's receptive field as context on both sides; for ANIMAL-SPOT models each window is
  computed from its own samples anyway. The result equals the whole-tape computation (tests: largest
  log-odds difference below 1e-6 for chunks of 0.4 s).
- Memory: one chunk's samples and spectrogram plus one row per window (a 2-hour tape at hop 0.05 s:
  144 000 rows), whatever the tape's length.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ethoflow.acoustic.frontend.spectrogram import (
    _filterbank,
    filterbank_product,
    frames_per_window,
    power_spectrogram,
    to_input,
    window_starts,
)
from ethoflow.acoustic.params import FeatureParams, PredictSetting
from ethoflow.acoustic.training.train import load_model
from ethoflow.core import InputError, atomic_path, get_logger
from ethoflow.core.inputs import screen_nonfinite

log = get_logger(__name__)

__all__ = ["Detector", "TapeReader", "leave_out_spans", "load_detector", "stream_windows"]


class TapeReader:
    """Random access to a recording's mono samples at rate ``sr``, read in pieces (bounded memory).

    ``read(a, b)`` returns samples ``[a, b)`` (float32, zeros outside ``[0, n)``) equal to
    ``ethoflow.acoustic.frontend.spectrogram.load_audio(path, sr)[a:b]``: channels averaged, then resampled with
    ``scipy.signal.resample_poly`` (reduced ``up``/``down``) from a piece of the file that starts on an
    input sample of the common grid and has a margin of ``margin`` input samples (many times the
    polyphase filter's half-length) on both sides.

    ``nonfinite`` (``acoustic.corpus.nonfinite``): ``fail`` raises on a NaN/infinite sample; ``skip`` reads
    such frames as 0 and records them (:attr:`spans`, :meth:`skipped_spans`), so that
    :func:`stream_windows` leaves out every window touching them.

    Attributes:
        file_sr: the file's rate (Hz); n_in: its frames; n: samples at ``sr``; duration_s: n_in / file_sr;
        spans: the runs of non-finite file frames read so far, ``{first: end}`` (end exclusive).
    Raises:
        InputError: the file stops early or fails to decode while reading (truncated/corrupt), or (``fail``) a
            sample read is NaN or infinite (naming the time of the first; :func:`ethoflow.core.inputs.check_finite_audio`).
    """

    def __init__(self, path: str | Path, sr: int, nonfinite: str = "fail"):
        # local: keeps ethoflow.acoustic.inference.streaming importable without soundfile
        import soundfile as sf

        self.path = Path(path)
        info = sf.info(str(path))
        self.file_sr, self.n_in, self.sr = int(info.samplerate), int(info.frames), int(sr)
        g = math.gcd(self.file_sr, self.sr)
        self.up, self.down = self.sr // g, self.file_sr // g
        self.n = self.n_in if self.up == self.down else -(-self.n_in * self.up // self.down)
        self.duration_s = round(self.n_in / self.file_sr, 6)
        self.margin = self.down * max(64, -(-8192 // self.down))
        self.nonfinite, self.spans = nonfinite, {}
        self._fh = sf.SoundFile(str(path))

    def skipped_spans(self) -> list[dict[str, float | int]]:
        """The non-finite spans read (``skip``), merged, in time order: ``start_s``, ``end_s`` (file seconds,
        end exclusive) and ``samples`` (file frames)."""
        merged: list[list[int]] = []
        for a, b in sorted(self.spans.items()):
            if merged and a <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], b)
            else:
                merged.append([a, b])
        r = self.file_sr
        return [{"start_s": round(a / r, 6), "end_s": round(b / r, 6), "samples": b - a} for a, b in merged]

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
        y, spans = screen_nonfinite(y, self.path, self.file_sr, a, self.nonfinite)
        for s0, s1 in spans:  # chunks overlap: the same span may be read twice
            self.spans[s0] = max(s1, self.spans.get(s0, s1))
        return y.mean(axis=1)

    def read(self, start: int, end: int) -> np.ndarray:
        out = np.zeros(max(end - start, 0), dtype=np.float32)
        lo, hi = max(start, 0), min(end, self.n)
        if hi <= lo:
            return out
        if self.up == self.down:
            out[lo - start : hi - start] = self._raw(lo, hi)
            return out
        # local: scipy is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
        from scipy.signal import resample_poly

        s = max(0, (lo // self.up) * self.down - self.margin)  # on the grid: output index s * up / down
        e = min(self.n_in, -(-hi // self.up) * self.down + self.margin)
        y = resample_poly(self._raw(s, e), self.up, self.down).astype(np.float32)
        o = s // self.down * self.up
        out[lo - start : hi - start] = y[lo - o : hi - o]
        return out


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


def load_detector(path: str | Path, min_max_norm: bool = False) -> Detector:
    """Load ethoflow's ``model.pt`` or an ANIMAL-SPOT model file (told apart by their keys); the model's
    own front end comes from the file.

    Raises:
        InputError: missing or unreadable file, or neither kind of model file.
    """
    # local: ethoflow.acoustic.models.animal_spot.is_animal_spot_file imports torch (slow to import)
    from ethoflow.acoustic.models.animal_spot import is_animal_spot_file, load_animal_spot

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: model file not found (train the variant, or fix the set's model path)")
    if is_animal_spot_file(path):
        model, fe, classes = load_animal_spot(path, min_max_norm=min_max_norm)
        return Detector("animal_spot", model, classes, fe.sr, fe.fmin, fe.fmax, fe=fe)

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
    # local: torch is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    import torch

    from ethoflow.acoustic.models.model import target_logit

    with torch.inference_mode():
        lo = model(torch.from_numpy(x).contiguous(memory_format=torch.channels_last))
        return target_logit(lo).numpy().astype(np.float64), lo[:, 1:].argmax(1).numpy()


def _power_frames(reader: TapeReader, f: FeatureParams, f0: int, f1: int, n_total: int) -> np.ndarray:
    """Frames ``[f0, f1)`` of the whole tape's :func:`~ethoflow.acoustic.frontend.spectrogram.power_spectrogram`
    (zero power from frame ``n_total`` on), computed from the samples those frames use. (F, f1 - f0)."""
    # local: torch is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    import torch

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

    Equal to ``ethoflow.acoustic.inference.predict.predict_power`` on the whole tape's spectrogram (ethoflow
    models) or ``ethoflow.acoustic.models.animal_spot.predict_samples`` on its samples (ANIMAL-SPOT models),
    whatever ``chunk_s``. ``on_chunk(seconds)`` is called after each chunk (progress).

    With ``reader.nonfinite == "skip"``, every window (framewise: cell) whose samples touch a non-finite
    span (:meth:`TapeReader.skipped_spans`) is left out (:func:`leave_out_spans`): no row, so no
    detection starts inside the span and no probability is NaN; the rest are computed from the tape
    with the span read as zeros.

    Returns:
        one row per window: ``start_s, end_s, prob, logit, label``.
    """
    per_chunk = max(1, int(round(chunk_s / hop_s / batch_size))) * batch_size  # whole batches
    if det.kind == "framewise":
        df = _stream_framewise(det, reader, hop_s, chunk_s, on_chunk)
    elif det.kind == "animal_spot":
        df = _stream_animal_spot(det, reader, seq_len_s, hop_s, batch_size, per_chunk, on_chunk)
    else:
        df = _stream_ethoflow(det, reader, seq_len_s, hop_s, batch_size, per_chunk, on_chunk)
    if not reader.spans:
        return df
    # a window's frames are centred STFT frames, its first frame rounded to the nearest hop: they reach half an
    # FFT plus up to a hop (and the pre-emphasis sample) past it; ANIMAL-SPOT uses each window's own samples
    f = det.features
    reach = 0.0 if det.kind == "animal_spot" else (f.n_fft // 2 + f.hop_length + 1) / det.sr
    return leave_out_spans(df, reader.skipped_spans(), reach)


def leave_out_spans(rows: pd.DataFrame, spans: list[dict[str, Any]], reach_s: float = 0.0) -> pd.DataFrame:
    """``rows`` (``start_s``, ``end_s`` in seconds) without those whose samples, ``reach_s`` seconds beyond
    either end included, touch a span (``start_s``/``end_s``, end exclusive): ``acoustic.corpus.nonfinite:
    skip``. The index is reset."""
    s, e = rows.start_s.to_numpy(float) - reach_s, rows.end_s.to_numpy(float) + reach_s
    touch = np.zeros(len(rows), bool)
    for sp in spans:
        touch |= (s < sp["end_s"]) & (e > sp["start_s"])
    return rows[~touch].reset_index(drop=True)


def _stream_ethoflow(
    det: Detector, reader: TapeReader, seq_len_s: float, hop_s: float, batch_size: int, per_chunk: int, on_chunk: Any
) -> pd.DataFrame:
    """ethoflow's window classifier on a tape, ``per_chunk`` windows (whole batches) at a time, each chunk's
    frames computed from exactly the samples the whole-tape STFT uses for them (see :func:`stream_windows`)."""
    # local: torch is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    import torch

    f = det.features
    model = det.model.to(memory_format=torch.channels_last)
    starts = window_starts(reader.duration_s, seq_len_s, hop_s)
    first = np.round(starts * f.sr / f.hop_length).astype(int)
    T = frames_per_window(seq_len_s, f)
    n_total = 1 + max(reader.n, f.n_fft) // f.hop_length
    if reader.n < f.n_fft:  # shorter than one FFT: the whole-tape path pads the samples; tiny anyway
        # local: imported only on the branch that needs it
        from ethoflow.acoustic.frontend.spectrogram import power_spectrogram

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
            end = reader.duration_s if c1 == len(starts) else float(starts[c1])  # the last chunk: up to the end
            on_chunk(end - (float(starts[c0]) if c0 else 0.0))
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


#: seconds of audio per pass of the framewise network (at most; ``chunk_s`` when shorter): its activations
#: (conv channels x frequency bins x frames) dominate the memory, so peak RSS stays flat in tape length
FRAMEWISE_PASS_S = 20.0


def stream_recordings(
    det: Detector,
    recordings: list[dict[str, Any]],
    setting: PredictSetting,
    out_path: str,
    batch_size: int,
    chunk_s: float,
    bar: Any,
    nonfinite: str = "fail",
) -> tuple[pd.DataFrame, list[int], dict[str, list[dict[str, Any]]]]:
    """:func:`stream_windows` over every recording (dicts with ``recording``, ``tape``, ``file``), read at
    ``det.sr`` Hz, windows of ``setting.seq_len_s`` every ``setting.hop_s`` seconds; ``bar`` (a progress bar
    over seconds of audio) is advanced after each chunk and closed at the end. ``nonfinite``:
    ``acoustic.corpus.nonfinite`` (``skip``: windows touching NaN/infinite samples are left out, each
    span logged as a warning and returned).

    Writes the rows of all recordings, ``tape, recording`` first, to Parquet ``out_path`` (atomically), the
    skipped spans in its metadata (``pandas.read_parquet(out_path).attrs["nonfinite_spans"]``).

    Returns:
        the table written, each recording's number of samples at ``det.sr``, and recording -> its skipped
        non-finite spans (:meth:`TapeReader.skipped_spans`; only recordings that have some).

    Raises:
        InputError: a recording is unreadable or truncated (see :class:`TapeReader`), or (``fail``) holds a
            NaN/infinite sample.
    """
    frames, samples, skipped = [], [], {}
    for rec in recordings:
        reader = TapeReader(rec["file"], det.sr, nonfinite)
        try:
            df = stream_windows(
                det,
                reader,
                setting.seq_len_s,
                setting.hop_s,
                batch_size,
                chunk_s,
                on_chunk=lambda s: bar.update(round(s, 3)),
            )
        finally:
            reader.close()
        df.insert(0, "recording", rec["recording"])
        df.insert(0, "tape", rec["tape"])
        frames.append(df)
        samples.append(reader.n)
        if reader.spans:
            skipped[rec["recording"]] = reader.skipped_spans()
            log_skipped_spans(rec["file"], skipped[rec["recording"]])
    bar.close()
    out = pd.concat(frames, ignore_index=True)
    out.attrs["nonfinite_spans"] = skipped  # kept in the Parquet file's metadata: acoustic_evaluate reports them
    with atomic_path(out_path) as tmp:
        out.to_parquet(tmp, index=False)
    return out, samples, skipped


def log_skipped_spans(path: str | Path, spans: list[dict[str, Any]]) -> None:
    """A warning per non-finite span left out of ``path``'s windows (``acoustic.corpus.nonfinite: skip``)."""
    for sp in spans:
        log.warning(
            "%s: non-finite samples %.6f-%.6f s (%d samples): windows touching them skipped (nonfinite: skip)",
            path,
            sp["start_s"],
            sp["end_s"],
            sp["samples"],
        )


def _stream_framewise(det: Detector, reader: TapeReader, hop_s: float, chunk_s: float, on_chunk: Any) -> pd.DataFrame:
    """The framewise detector on a tape, chunk by chunk (``min(chunk_s, FRAMEWISE_PASS_S)`` seconds each):
    each chunk's frames with the model's context
    (:meth:`~ethoflow.acoustic.models.framewise.FramewiseNet.context_frames`) on both sides, so the per-frame
    probabilities equal one pass over the whole tape's spectrogram; pooled into ``hop_s`` cells
    (:func:`~ethoflow.acoustic.models.framewise.frames_to_cells`). Rows: ``start_s, end_s, prob, logit, label``."""
    # local: torch is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    import torch

    # local: ethoflow.acoustic.models.framewise.frames_to_cells imports torch (slow to import)
    from ethoflow.acoustic.models.framewise import frames_to_cells

    f, model = det.features, det.model.eval()
    n_total = 1 + max(reader.n, f.n_fft) // f.hop_length
    ctx = model.context_frames()
    step = max(64, int(round(min(chunk_s, FRAMEWISE_PASS_S) * f.sr / f.hop_length)))
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
            sec = f.hop_length / f.sr  # frames past the tape's end count no audio
            on_chunk(min(b * sec, reader.duration_s) - min(a * sec, reader.duration_s))
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
    # local: ethoflow.acoustic.models.animal_spot.predict_samples imports torch (slow to import)
    from ethoflow.acoustic.models.animal_spot import predict_samples, window_samples

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
