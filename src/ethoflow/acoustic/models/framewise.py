"""Framewise call detector: one pass over a whole recording's spectrogram, a probability per frame.

The window classifier (:mod:`ethoflow.acoustic.models.model`, ANIMAL-SPOT's design) classifies overlapping
windows, so every sample passes through the network ``seq_len_s / hop_s`` times. The framewise model
instead labels every spectrogram frame in one pass, as TweetyNet (Cohen et al. 2022, eLife) and DAS
(Steinfath et al. 2021, eLife) do:

- **Front end**: the same compressed power spectrogram as the window classifier
  (:func:`~ethoflow.acoustic.frontend.spectrogram.power_spectrogram`), in dB above ``db_floor``, then each
  frequency bin standardised by the training frames' mean and standard deviation (vak's
  ``SpectScaler``); the scaler is stored in the model (buffers), so a model file is self-contained.
- **Network** (:class:`FramewiseNet`): two 5x5 convolution blocks that pool along frequency only
  (time resolution is kept), then a stack of dilated residual 1-D convolutions over time (dilations
  1, 2, 4, ...; DAS's temporal convolution network) and a 1x1 head: logits ``(B, C, T)`` with class
  0 = noise. Its receptive field is finite (:meth:`FramewiseNet.context_frames`), so a long recording
  is processed in chunks with that much overlap and gives the same probabilities as one pass.
- **Training** (:func:`ethoflow.acoustic.training.framewise_training.train_framewise`, a module of its own so
  that prediction does not import Lightning): the variant's recordings by role (train / val / test, the
  same tape-exclusive split as the window classifier); frame labels from the corpus events (a frame
  is a call frame when its centre lies inside an annotated target event); random crops of
  ``chunk_s`` seconds (``passes`` times the training frames per epoch), cross-entropy weighted by
  inverse class frequency. The loop is PyTorch
  Lightning's (``ReduceLROnPlateau``, ``EarlyStopping``, ``ModelCheckpoint`` with ``last.ckpt``,
  DVCLive's Lightning logger); every epoch draws its crops and torch seed from ``(seed, epoch)``, so
  a run killed at any point and resumed from ``last.ckpt`` ends with the same bytes as an
  uninterrupted run (tested).
- **Prediction** (:func:`predict_power_framewise`): per-frame probabilities pooled into cells of
  ``hop_s`` seconds (rows ``start_s, end_s = start_s + hop_s, prob, logit, label_idx``), the table the
  window classifier's predictions have, so evaluation, the RF filter and detection read either. With
  ``boundary: center`` a chain of cells spans exactly its cells: boundaries at ``hop_s`` resolution.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from ethoflow.acoustic.params import FeatureParams, FramewiseParams
from ethoflow.core import get_logger

log = get_logger(__name__)

EPS = 1e-12
IGNORE = -100  # frame label outside the recording (crop padding): no loss


# ------------------------------------------------------------------------------------------ network
class _TemporalBlock(nn.Module):
    """Dilated 1-D convolution + batch norm + ReLU + dropout, with a residual connection."""

    def __init__(self, channels: int, kernel: int, dilation: int, dropout: float):
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, kernel, padding=dilation * (kernel - 1) // 2, dilation=dilation)
        self.bn = nn.BatchNorm1d(channels)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.drop(torch.relu(self.bn(self.conv(x))))


class FramewiseNet(nn.Module):
    """Per-frame classifier over a whole spectrogram (TweetyNet/DAS-style, written for ethoflow).

    Args:
        n_freq_bins: F, frequency bins of the input (the front end's ``n_freq_bins``).
        n_classes: C, output classes including noise (class 0).
        p: :class:`~ethoflow.acoustic.params.FramewiseParams` (width, hidden, temporal_layers, kernel, dropout).

    Input ``(B, 1, F, T)`` standardised dB (see :meth:`standardise`); output logits ``(B, C, T)``.
    """

    def __init__(self, n_freq_bins: int, n_classes: int, p: FramewiseParams):
        super().__init__()
        if p.kernel % 2 == 0:
            raise ValueError(f"framewise kernel must be odd, got {p.kernel}")
        w = p.width
        self.config = {"n_freq_bins": n_freq_bins, "n_classes": n_classes, **p.model_dump()}
        self.front = nn.Sequential(
            nn.Conv2d(1, w, 5, padding=2, bias=False),
            nn.BatchNorm2d(w),
            nn.ReLU(),
            nn.MaxPool2d((4, 1)),
            nn.Conv2d(w, 2 * w, 5, padding=2, bias=False),
            nn.BatchNorm2d(2 * w),
            nn.ReLU(),
            nn.MaxPool2d((4, 1)),
        )
        f_out = n_freq_bins // 4 // 4
        if f_out < 1:
            raise ValueError(f"framewise needs n_freq_bins >= 16, got {n_freq_bins}")
        self.proj = nn.Conv1d(2 * w * f_out, p.hidden, 1)
        self.blocks = nn.Sequential(
            *[_TemporalBlock(p.hidden, p.kernel, 2**i, p.dropout) for i in range(p.temporal_layers)]
        )
        self.head = nn.Conv1d(p.hidden, n_classes, 1)
        self.register_buffer("scale_mean", torch.zeros(n_freq_bins))
        self.register_buffer("scale_std", torch.ones(n_freq_bins))
        self.register_buffer("db_floor", torch.tensor(-100.0))

    def context_frames(self) -> int:
        """Frames on each side that influence one output frame (the receptive field's half-width)."""
        k = self.config["kernel"]
        return 2 + 2 + sum((2**i) * (k - 1) // 2 for i in range(self.config["temporal_layers"]))

    def standardise(self, power: np.ndarray) -> np.ndarray:
        """Power spectrogram ``(F, T)`` -> standardised dB ``(F, T)`` float32 (the network's input)."""
        db = np.maximum(10.0 * np.log10(np.maximum(power, EPS)), float(self.db_floor))
        mean = self.scale_mean.cpu().numpy()[:, None]
        std = self.scale_std.cpu().numpy()[:, None]
        return ((db - mean) / std).astype(np.float32)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.front(x)  # (B, 2w, F', T)
        z = self.proj(z.flatten(1, 2))  # (B, hidden, T)
        return self.head(self.blocks(z))


def frame_times(n_frames: int, features: FeatureParams) -> np.ndarray:
    """Centre time (seconds) of each spectrogram frame: ``k * hop_length / sr`` (STFT ``center=True``). Shape (T,)."""
    return np.arange(n_frames) * (features.hop_length / features.sr)


def frame_labels(n_frames: int, events: list[tuple[float, float, int]], features: FeatureParams) -> np.ndarray:
    """Class index per frame: ``c`` where the frame centre lies in an event ``(start_s, end_s, c)``, else 0.

    Overlapping events: the later one in the list wins. Shape (T,), int64.
    """
    t = frame_times(n_frames, features)
    y = np.zeros(n_frames, dtype=np.int64)
    for start, end, c in events:
        y[(t >= start) & (t < end)] = c
    return y


def predict_frames(model: FramewiseNet, power: np.ndarray, chunk_frames: int = 4096) -> np.ndarray:
    """Per-frame class probabilities of one recording. ``power`` (F, T) -> ``(T, C)`` float64.

    Long recordings are cut into chunks of ``chunk_frames`` with :meth:`FramewiseNet.context_frames`
    frames of context on both sides, so memory stays bounded and the result equals one pass over the
    whole spectrogram (up to float rounding of the convolution kernels, ~1e-6).
    """
    ctx = model.context_frames()
    x = model.standardise(power)
    n = x.shape[1]
    out = []
    model.eval()
    with torch.inference_mode():
        for a in range(0, max(n, 1), chunk_frames):
            b = min(a + chunk_frames, n)
            lo, hi = max(a - ctx, 0), min(b + ctx, n)
            logits = model(torch.from_numpy(np.ascontiguousarray(x[None, None, :, lo:hi])))[0]
            out.append(torch.softmax(logits.double(), 0)[:, a - lo : b - lo].T.numpy())
    return np.concatenate(out) if out else np.zeros((0, model.config["n_classes"]))


def frames_to_cells(probs: np.ndarray, features: FeatureParams, duration_s: float, hop_s: float) -> pd.DataFrame:
    """Pool per-frame probabilities ``(T, C)`` into cells ``[k*hop_s, (k+1)*hop_s)`` covering the recording.

    Each cell's ``prob`` is the mean over its frames of P(any target class) (1 - P(noise)), ``logit``
    its log-odds and ``label_idx`` (0-based target class) the target class with the largest summed
    probability. A cell without a frame centre (``hop_s`` shorter than a frame) takes the nearest frame.
    Returns ``start_s, end_s, prob, logit, label_idx``, one row per cell.
    """
    n_cells = max(1, int(math.ceil(duration_s / hop_s - 1e-9)))
    starts = np.round(np.arange(n_cells) * hop_s, 6)
    t = frame_times(len(probs), features)
    cell = np.minimum((t / hop_s + 1e-9).astype(int), n_cells - 1)
    target = 1.0 - probs[:, 0]
    sums = np.bincount(cell, weights=target, minlength=n_cells)
    counts = np.bincount(cell, minlength=n_cells)
    empty = counts == 0
    if empty.any():  # nearest frame to the cell centre
        centre = (starts + hop_s / 2) * features.sr / features.hop_length
        near = np.clip(np.round(centre).astype(int), 0, len(probs) - 1)
        sums[empty], counts[empty] = target[near[empty]], 1
    prob = np.clip(sums / counts, 1e-7, 1 - 1e-7)
    cls = np.zeros((n_cells, probs.shape[1] - 1))
    np.add.at(cls, cell, probs[:, 1:])
    return pd.DataFrame(
        {
            "start_s": starts,
            "end_s": np.round(np.minimum(starts + hop_s, duration_s), 6),
            "prob": prob,
            "logit": np.log(prob / (1 - prob)),
            "label_idx": cls.argmax(1),
        }
    )


def predict_power_framewise(
    model: FramewiseNet, power: np.ndarray, features: FeatureParams, duration_s: float, hop_s: float
) -> pd.DataFrame:
    """:func:`predict_frames` then :func:`frames_to_cells`: the framewise model's prediction table."""
    return frames_to_cells(predict_frames(model, power), features, duration_s, hop_s)


def load_framewise(ck: dict[str, Any]) -> FramewiseNet:
    """A :class:`FramewiseNet` in eval mode from a loaded ``model.pt`` dict (``arch: framewise``)."""
    cfg = dict(ck["model"])
    n_freq_bins, n_classes = cfg.pop("n_freq_bins"), cfg.pop("n_classes")
    model = FramewiseNet(n_freq_bins, n_classes, FramewiseParams(**cfg))
    model.load_state_dict(ck["state_dict"])
    return model.eval()
