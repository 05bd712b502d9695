"""Existing ANIMAL-SPOT models (Bergler et al. 2022) in ethoflow: load the trainer's model file, predict tapes.

Why this module is long: just over 500 lines, because the network, its front end and the file checks belong
together; whole recordings are predicted by :func:`ethoflow.acoustic.inference.predict.predict_recordings_animal_spot`.

An ANIMAL-SPOT model file is a ``torch.save`` dict with ``encoderOpts`` (``resnet_size``,
``input_channels``, ``conv_kernel_size``, ``max_pool``), ``classifierOpts`` (``input_channels``,
``pooling``, ``num_classes``), ``dataOpts`` (the front end: ``sr``, ``preemphases``, ``n_fft``,
``hop_length``, ``n_freq_bins``, ``fmin``, ``fmax``, ``freq_compression``, ``min_level_db``,
``ref_level_db``), ``encoderState``, ``classifierState`` and ``classes`` (name -> output index).
This module rebuilds that network and front end in ethoflow's own code (nothing of ANIMAL-SPOT is
imported or copied): the ResNet blocks are ethoflow's (:mod:`ethoflow.acoustic.models.model`), audio is read
by :func:`ethoflow.acoustic.frontend.spectrogram.load_audio`; what ANIMAL-SPOT does differently from ethoflow's
own front end is written here:

- **windows**, as ANIMAL-SPOT's ``predict.py`` (its strided dataset): ``L = ceil(seq_len_s * sr)`` and
  ``hop = ceil(hop_s * sr)`` samples; window ``k`` holds samples ``[k*hop, min(k*hop + L, n))``;
  ``max(ceil((n + 1 - L) / hop), 1)`` windows, so only whole windows (one short window when the
  recording is shorter than ``L``); the tail after the last whole window is not classified.
- **each window's spectrogram from its own samples** (not slices of one per-recording spectrogram as
  ethoflow's predictor): pre-emphasis ``y[0], y[1:] - a*y[:-1]`` within the window, zero padding to
  ``n_fft`` if shorter, STFT without centring (periodic Hann window, ``1 + (L - n_fft) // hop_length``
  frames), each bin divided by ``sqrt(sum(window**2))``, power = re**2 + im**2.
- **frequency compression** ``linear``: STFT bins ``floor(n_fft*fmin/sr)`` up to (excluded)
  ``min(n_fft-1, ceil(n_fft*fmax/sr))``, resized to ``n_freq_bins`` by nearest-neighbour
  interpolation (torch's ``nearest`` mode: a selection of bins, no averaging); ``mel``: triangular
  filters between ``fmin`` and ``fmax`` equally spaced on the mel scale ``2595*log10(1 + f/700)``,
  edges at STFT bin ``floor((n_fft + 1) * f / sr)`` (the old torchaudio filterbank ANIMAL-SPOT uses,
  not librosa's). ``mfcc`` is not supported (clear error).
- **dB**: ``10*log10(max(power, 10**(-|min_level_db|/10)))``; **normalisation** either per-window
  min-max to [0, 1] (ANIMAL-SPOT's ``--min_max_norm``; a constant window stays 0) or ANIMAL-SPOT's
  default ``clip((dB - ref_level_db - min_level_db) / -min_level_db, 0, 1)``. The model file does not
  record which one the model was trained with: pass ``min_max_norm`` as the lab ran ``predict.py``.
- **network input** (B, 1, T, F): time before frequency (ethoflow's own models take (B, 1, F, T)).
- **output**: ``prob`` = 1 - P(noise) from the softmax over the classes; for a two-class model that
  is ANIMAL-SPOT's ``prob`` (softmax of class 1, "target"). ``logit`` is its log-odds
  ``logsumexp(other logits) - noise logit``.

Known differences from ANIMAL-SPOT: recordings at another rate than the model's ``sr`` are resampled
with ethoflow's ``scipy.signal.resample_poly`` (ANIMAL-SPOT: ``resampy``, Kaiser window), so parity is
exact only at the model's own rate; ``predict.py`` always uses pre-emphasis 0.98 (its module default)
while we use ``dataOpts["preemphases"]`` (the same value: the trainer has no option to change it);
windows are classified in batches (``batch_size``) rather than one at a time, with every BatchNorm
folded into the convolution before it and channels-last activations (:func:`fold_batchnorm`: 10-20%
faster on one core, differences ~5e-7 in probability). Parity: ``tests/acoustic/test_animal_spot.py`` against ``predict.py``'s log on ``tape.wav``.
"""

from __future__ import annotations

import math
import pickle
import re
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from ethoflow.acoustic.models.model import BasicBlock, Bottleneck
from ethoflow.core import InputError, get_logger, load_torch

log = get_logger(__name__)

REQUIRED_KEYS = ("encoderOpts", "classifierOpts", "dataOpts", "encoderState", "classifierState")
DATA_KEYS = ("sr", "n_fft", "hop_length", "fmin", "fmax", "freq_compression")
RESNET_BLOCKS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3), 50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}
N_SHOWN = 5  # differing state-dict entries listed in a mismatch error


@dataclass(frozen=True)
class AnimalSpotFrontEnd:
    """An ANIMAL-SPOT model's front end (its ``dataOpts``) plus the normalisation chosen at prediction.

    Attributes:
        sr: sample rate (Hz) recordings are resampled to. preemphasis: pre-emphasis factor.
        n_fft / hop_length: STFT size and hop (samples). n_freq_bins: bins after compression.
        fmin / fmax: frequency band (Hz). freq_compression: ``linear`` or ``mel``.
        min_level_db: dB floor (its sign is ignored for the floor, as ANIMAL-SPOT does); with
            ``ref_level_db`` the constants of the default (non min-max) normalisation.
        min_max_norm: per-window min-max normalisation (``predict.py --min_max_norm``) instead of the
            dB normalisation; not stored in the model file.
    """

    sr: int
    preemphasis: float
    n_fft: int
    hop_length: int
    n_freq_bins: int
    fmin: float
    fmax: float
    freq_compression: str
    min_level_db: float
    ref_level_db: float
    min_max_norm: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict (for JSON metadata next to predictions)."""
        return asdict(self)


# ---------------------------------------------------------------------------------------------- network


class AnimalSpotEncoder(nn.Module):
    """ANIMAL-SPOT's residual encoder, named as its ``encoderState`` (``conv1``, ``bn1``, ``layer1..4``;
    ethoflow's blocks call the projection shortcut ``short``, see :func:`_to_theirs`).

    conv (``conv_kernel_size``, stride 2, 64 channels) -> BN -> ReLU -> max pool 3/2 when ``max_pool``
    is 1 -> layer1 (64, stride 2 only when ``max_pool`` is 0) -> layer2..4 (128, 256, 512, stride 2);
    basic blocks for ResNet-18/34, bottlenecks (4x wider outputs) for 50/101/152.
    """

    def __init__(
        self, resnet_size: int = 18, input_channels: int = 1, conv_kernel_size: Any = 7, max_pool: int = 1, **_: Any
    ):
        super().__init__()
        depth = int(resnet_size)
        block, expansion = (BasicBlock, 1) if depth in (18, 34) else (Bottleneck, Bottleneck.expansion)
        k = conv_kernel_size
        k = tuple(int(v) for v in k) if isinstance(k, (list, tuple)) else (int(k), int(k))
        k = k * 2 if len(k) == 1 else k
        self.conv1 = nn.Conv2d(int(input_channels), 64, k, 2, (k[0] // 2, k[1] // 2), bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.max_pool = nn.MaxPool2d(3, 2, 1) if int(max_pool) == 1 else None
        c = 64
        for i, (n, width) in enumerate(zip(RESNET_BLOCKS[depth], (64, 128, 256, 512))):
            stride = (2 if int(max_pool) == 0 else 1) if i == 0 else 2
            blocks = []
            for j in range(n):
                blocks.append(block(c, width, stride if j == 0 else 1))
                c = width * expansion
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.out_channels = c

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn1(self.conv1(x)))
        if self.max_pool is not None:
            x = self.max_pool(x)
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


class AnimalSpotClassifier(nn.Module):
    """Mean (``pooling: avg``) or max (``max``) of each channel over all time-frequency positions ->
    linear layer (``linear``, as in ``classifierState``). (B, C, T', F') -> (B, num_classes)."""

    def __init__(self, input_channels: int = 512, num_classes: int = 2, pooling: str = "avg", **_: Any):
        super().__init__()
        self.pooling = pooling
        self.linear = nn.Linear(int(input_channels), int(num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(x.shape[0], x.shape[1], -1)
        return self.linear(x.mean(-1) if self.pooling == "avg" else x.amax(-1))


class AnimalSpotNet(nn.Module):
    """ANIMAL-SPOT's network: ``encoder`` then ``classifier``. Input (B, 1, T, F) -> logits (B, num_classes)."""

    def __init__(self, encoder_opts: dict[str, Any], classifier_opts: dict[str, Any]):
        super().__init__()
        self.encoder = AnimalSpotEncoder(**encoder_opts)
        self.classifier = AnimalSpotClassifier(**classifier_opts)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.encoder(x))


def _to_theirs(key: str) -> str:
    return key.replace(".short.", ".shortcut.")


def _to_ours(key: str) -> str:
    return key.replace(".shortcut.", ".short.")


def _shape(v: Any) -> str:
    return str(tuple(v.shape)) if hasattr(v, "shape") else type(v).__name__


def _state_mismatch(expected: dict[str, Any], got: dict[str, Any]) -> list[str]:
    """Up to :data:`N_SHOWN` descriptions of differing entries (in the expected module order)."""
    out = []
    for k, v in expected.items():
        if k not in got:
            out.append(f"missing {k} {_shape(v)}")
        elif not hasattr(got[k], "shape") or tuple(got[k].shape) != tuple(v.shape):
            out.append(f"{k}: file {_shape(got[k])}, expected {_shape(v)}")
    out += [f"unexpected {k} {_shape(v)}" for k, v in got.items() if k not in expected]
    return out


def _check_opts(path: Path, ck: dict[str, Any]) -> None:
    enc, cls, data = ck["encoderOpts"], ck["classifierOpts"], ck["dataOpts"]
    for name, d in (
        ("encoderOpts", enc),
        ("classifierOpts", cls),
        ("dataOpts", data),
        ("encoderState", ck["encoderState"]),
        ("classifierState", ck["classifierState"]),
    ):
        if not isinstance(d, dict):
            raise InputError(f"{path}: not an ANIMAL-SPOT model file: {name} is a {type(d).__name__}, not a dict")
    missing = [f"encoderOpts.{k}" for k in ("resnet_size",) if k not in enc]
    missing += [f"classifierOpts.{k}" for k in ("input_channels", "num_classes") if k not in cls]
    missing += [f"dataOpts.{k}" for k in DATA_KEYS if k not in data]
    if "n_freq_bins" not in data and "num_mels" not in data:
        missing.append("dataOpts.n_freq_bins")
    if missing:
        raise InputError(f"{path}: ANIMAL-SPOT model file lacks {', '.join(missing)}")
    if enc["resnet_size"] not in RESNET_BLOCKS:
        raise InputError(
            f"{path}: encoderOpts.resnet_size {enc['resnet_size']!r} is not one of {sorted(RESNET_BLOCKS)}"
        )
    if int(enc.get("max_pool", 1)) not in (0, 1, 2):
        raise InputError(f"{path}: encoderOpts.max_pool {enc.get('max_pool')!r} is not 0, 1 or 2")
    if cls.get("pooling", "avg") not in ("avg", "max"):
        raise InputError(f"{path}: classifierOpts.pooling {cls.get('pooling')!r} is not 'avg' or 'max'")
    if data["freq_compression"] not in ("linear", "mel"):
        raise InputError(
            f"{path}: dataOpts.freq_compression {data['freq_compression']!r} is not supported "
            "(ethoflow reads 'linear' and 'mel' ANIMAL-SPOT models)"
        )
    if data["freq_compression"] == "mel" and data["fmax"] > data["sr"] // 2:
        raise InputError(f"{path}: dataOpts.fmax {data['fmax']} is above sr // 2 = {data['sr'] // 2}")


def _classes(path: Path, ck: dict[str, Any], n_out: int) -> list[str]:
    raw = ck.get("classes")
    if raw is None:  # as predict.py: a file without classes is a noise/target detector
        raw = {"noise": 0, "target": 1}
    if not isinstance(raw, dict) or sorted(int(v) for v in raw.values()) != list(range(len(raw))):
        raise InputError(f"{path}: classes {raw!r} is not a mapping of class name -> index 0..n-1")
    if len(raw) != n_out:
        raise InputError(
            f"{path}: {len(raw)} classes {sorted(raw, key=raw.get)} but classifierOpts.num_classes is {n_out}"
        )
    return [str(k) for k, _ in sorted(raw.items(), key=lambda kv: int(kv[1]))]


def _torch_load(path: Path) -> Any:
    # weights_only: an ANIMAL-SPOT file holds only dicts, numbers, strings and tensors; a lab's file
    # must not be able to run code on load
    return load_torch(path, wrap_errors=False, map_location="cpu", weights_only=True)


def _load_problem(exc: Exception) -> str:
    """One short phrase for why ``torch.load`` failed (torch's own messages run to several lines)."""
    text = " ".join(str(exc).split())
    glob = re.search(r"Unsupported global: GLOBAL (\S+)", text)
    if glob:
        return (
            f"holds a {glob.group(1)} object; ethoflow loads model files with torch's weights_only loader "
            "(tensors, dicts, lists, numbers, strings), which never runs code from the file"
        )
    if "WeightsUnpickler" in text or isinstance(exc, pickle.UnpicklingError):
        return "not a torch.save file, or corrupt"
    first = re.split(r"(?<=[a-z])\. ", text)[0][:160]
    return (
        f"truncated or corrupt: {type(exc).__name__}: {first}"
        if first
        else f"truncated or corrupt: {type(exc).__name__}"
    )


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """Fold every BatchNorm2d of an eval-mode network into the Conv2d before it, in place, and keep the
    weights channels-last: the same function up to float32 rounding (~5e-7 in window probability on the
    shared parity tape), 10-20% faster on one CPU core (``benchmarks/acoustic_as_kernels.py``).

    Folding follows ``torch.nn.utils.fusion.fuse_conv_bn_eval`` (weight scaled by gamma / sqrt(var + eps),
    bias = beta - mean * scale): attribute pairs ``convN``/``bnN`` (the encoder's stem, ethoflow's
    residual blocks) and a conv followed by its BatchNorm in a Sequential (the projection shortcuts);
    each folded BatchNorm becomes an identity. Returns ``model``.

    Raises:
        ValueError: ``model`` is in training mode (BatchNorm statistics would still change).
    """
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    if model.training:
        raise ValueError("fold_batchnorm: the network is in training mode; call .eval() first")
    for mod in list(model.modules()):
        kids = dict(mod.named_children())
        for name, conv in kids.items():
            bn = kids.get("bn" + name[4:]) if name.startswith("conv") else None
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                setattr(mod, name, fuse_conv_bn_eval(conv, bn))
                setattr(mod, "bn" + name[4:], nn.Identity())
        if isinstance(mod, nn.Sequential):
            for i in range(len(mod) - 1):
                if isinstance(mod[i], nn.Conv2d) and isinstance(mod[i + 1], nn.BatchNorm2d):
                    mod[i], mod[i + 1] = fuse_conv_bn_eval(mod[i], mod[i + 1]), nn.Identity()
    return model.to(memory_format=torch.channels_last)


def load_animal_spot(
    path: str | Path, min_max_norm: bool = False, fold: bool = True
) -> tuple[Any, AnimalSpotFrontEnd, list[str]]:
    """Load an ANIMAL-SPOT model file (the ``torch.save`` dict its trainer writes).

    Args:
        path: the model file (ANIMAL-SPOT names it ``ANIMAL-SPOT.pk`` by default).
        min_max_norm: the normalisation the model was trained with (ANIMAL-SPOT's ``--min_max_norm``);
            the file does not record it.
        fold: fold each BatchNorm into its convolution (:func:`fold_batchnorm`, for inference: the
            pipeline's choice); ``False`` keeps the file's layers as ANIMAL-SPOT runs them.

    Returns:
        ``(model, front_end, classes)``: the network in eval mode (input (B, 1, T, F) float32 as made
        by :func:`window_inputs`, output logits (B, n_classes)), the :class:`AnimalSpotFrontEnd` of its
        ``dataOpts``, and the class names in output order (``classes`` dict of the file; a file without
        one is ``["noise", "target"]``, as ``predict.py`` assumes).

    Raises:
        InputError (one line, naming ``path``): missing file; unreadable, truncated or corrupt file;
        not a dict with ``encoderOpts``, ``classifierOpts``, ``dataOpts``, ``encoderState``,
        ``classifierState``; unsupported options (ResNet size, ``freq_compression`` ``mfcc``, ...);
        state dicts that do not fit the architecture of the opts (lists the first differing keys and
        shapes).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: ANIMAL-SPOT model file not found")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: not a readable ANIMAL-SPOT model file (empty file)")
    try:
        ck = _torch_load(path)
    except Exception as exc:  # truncated zip, bad pickle, non-torch file, ...
        raise InputError(f"{path}: not a readable ANIMAL-SPOT model file ({_load_problem(exc)})") from None
    if not isinstance(ck, dict):
        raise InputError(f"{path}: not an ANIMAL-SPOT model file (holds a {type(ck).__name__}, not a dict)")
    missing = [k for k in REQUIRED_KEYS if k not in ck]
    if missing:
        raise InputError(
            f"{path}: not an ANIMAL-SPOT model file: missing {', '.join(missing)} "
            f"(has {', '.join(map(str, list(ck)[:8]))})"
        )
    _check_opts(path, ck)
    model = AnimalSpotNet(ck["encoderOpts"], ck["classifierOpts"])
    for part, state in (("encoder", ck["encoderState"]), ("classifier", ck["classifierState"])):
        module = getattr(model, part)
        expected = {_to_theirs(k): v for k, v in module.state_dict().items()}
        diff = _state_mismatch(expected, state)
        if diff:
            opts = ck["encoderOpts"] if part == "encoder" else ck["classifierOpts"]
            more = f" (+{len(diff) - N_SHOWN} more)" if len(diff) > N_SHOWN else ""
            raise InputError(
                f"{path}: {part}State does not match ANIMAL-SPOT's {part} for {part}Opts {opts}: "
                f"{'; '.join(diff[:N_SHOWN])}{more}"
            )
        module.load_state_dict({_to_ours(k): v for k, v in state.items()})
    model.eval()
    if fold:
        fold_batchnorm(model)
    classes = _classes(path, ck, int(ck["classifierOpts"]["num_classes"]))
    d = ck["dataOpts"]
    fe = AnimalSpotFrontEnd(
        sr=int(d["sr"]),
        preemphasis=float(d.get("preemphases", 0.98)),
        n_fft=int(d["n_fft"]),
        hop_length=int(d["hop_length"]),
        n_freq_bins=int(d.get("num_mels", d.get("n_freq_bins"))),
        fmin=float(d["fmin"]),
        fmax=float(d["fmax"]),
        freq_compression=str(d["freq_compression"]),
        min_level_db=float(d.get("min_level_db", -100)),
        ref_level_db=float(d.get("ref_level_db", 20)),
        min_max_norm=bool(min_max_norm),
    )
    return model, fe, classes


def is_animal_spot_file(path: str | Path) -> bool:
    """True when ``path`` loads as a dict with ANIMAL-SPOT's model keys (False for ethoflow's ``model.pt``,
    unreadable files, anything else). Loads the file; for dispatching ``model: <path>`` in params."""
    try:
        ck = _torch_load(Path(path))
    except Exception:
        return False
    return isinstance(ck, dict) and all(k in ck for k in REQUIRED_KEYS)


# -------------------------------------------------------------------------------------------- front end


@lru_cache(maxsize=16)
def _linear_bins(sr: int, n_fft: int, n_bins: int, fmin: float, fmax: float) -> np.ndarray:
    """STFT bin of each output bin for ``linear`` compression: band crop, then torch's nearest resize."""
    # local: torch is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    import torch.nn.functional as F

    lo = int(max(0, math.floor(n_fft * fmin / sr)))
    hi = int(min(n_fft - 1, math.ceil(n_fft * fmax / sr)))
    # nearest resize of the bin numbers themselves gives which input bin each output bin copies
    pos = torch.arange(hi - lo, dtype=torch.float32).reshape(1, 1, -1)
    idx = F.interpolate(pos, size=n_bins, mode="nearest").reshape(-1).to(torch.int64).numpy()
    return lo + idx


@lru_cache(maxsize=16)
def _mel_filters(sr: int, n_stft: int, n_mels: int, fmin: float, fmax: float):
    """Triangular mel filters (n_stft, n_mels), float32 torch tensor: ``n_mels + 2`` edges equally spaced
    in mel between ``fmin`` and ``fmax``, placed at STFT bin ``floor((2 * n_stft - 1) * f / sr)``."""

    def hz2mel(hz: float) -> float:
        return 2595 * np.log10(1 + hz / 700)

    mel = torch.linspace(0.0 if fmin == 0 else hz2mel(fmin), hz2mel(fmax), n_mels + 2)
    hz = 700 * (10 ** (mel / 2595) - 1)
    edge = torch.floor((2 * n_stft - 1) * hz / sr).long().tolist()
    fb = torch.zeros(n_mels, n_stft)
    for m in range(n_mels):
        a, c, b = edge[m], edge[m + 1], edge[m + 2]
        if c > a:
            fb[m, a:c] = (torch.arange(a, c) - a).float() / (c - a)
        if b > c:
            fb[m, c:b] = (b - torch.arange(c, b)).float() / (b - c)
    return fb.t().contiguous()


def window_inputs(segments: Any, fe: AnimalSpotFrontEnd):
    """Network inputs for windows of samples, as ANIMAL-SPOT computes them per window.

    Args:
        segments: (B, L) float32 samples at ``fe.sr`` (one row per window, all of one length).
        fe: the model's front end.

    Returns:
        float32 torch tensor (B, 1, T, F): ``T = 1 + (max(L, n_fft) - n_fft) // hop_length`` frames,
        ``F = fe.n_freq_bins``, values in [0, 1].
    """
    y = torch.as_tensor(segments, dtype=torch.float32)
    if fe.preemphasis:
        y = torch.cat((y[:, :1], y[:, 1:] - fe.preemphasis * y[:, :-1]), dim=-1)
    if y.shape[1] < fe.n_fft:
        y = torch.nn.functional.pad(y, (0, fe.n_fft - y.shape[1]))
    win = torch.hann_window(fe.n_fft)
    spec = torch.view_as_real(
        torch.stft(y, fe.n_fft, fe.hop_length, window=win, center=False, onesided=True, return_complex=True)
    ).transpose(1, 2)  # (B, T, n_stft, 2)
    spec = spec / win.pow(2).sum().sqrt()
    power = spec.pow(2).sum(-1)  # (B, T, n_stft)
    if fe.freq_compression == "linear":
        power = power[:, :, torch.from_numpy(_linear_bins(fe.sr, fe.n_fft, fe.n_freq_bins, fe.fmin, fe.fmax))]
    else:
        power = torch.matmul(power, _mel_filters(fe.sr, power.shape[-1], fe.n_freq_bins, fe.fmin, fe.fmax))
    floor_db = -abs(fe.min_level_db)
    floor = torch.tensor(np.exp(floor_db / 10 * np.log(10)), dtype=torch.float32)
    db = 10.0 * torch.log10(torch.maximum(power, floor))
    if fe.min_max_norm:
        db = db - db.amin(dim=(1, 2), keepdim=True)
        top = db.amax(dim=(1, 2), keepdim=True)
        x = torch.where(top == 0, db, db / torch.where(top == 0, torch.ones_like(top), top))
    else:
        x = torch.clamp((db - fe.ref_level_db - fe.min_level_db) / -fe.min_level_db, 0, 1)
    return x.unsqueeze(1)


def window_samples(n_samples: int, seq_len_s: float, hop_s: float, sr: int) -> tuple[np.ndarray, int, int]:
    """ANIMAL-SPOT's prediction windows over ``n_samples`` samples at ``sr`` Hz.

    Returns ``(starts, L, hop)``: window start samples (shape (n_windows,)), the window length
    ``ceil(seq_len_s * sr)`` and hop ``ceil(hop_s * sr)`` in samples; window ``k`` holds samples
    ``[starts[k], min(starts[k] + L, n_samples))``, ``n_windows = max(ceil((n_samples + 1 - L) / hop), 1)``.
    """
    L, hop = int(math.ceil(seq_len_s * sr)), int(math.ceil(hop_s * sr))
    if L <= 0 or hop <= 0:
        raise ValueError(f"seq_len_s {seq_len_s} and hop_s {hop_s} must be positive")
    n = max(int(math.ceil((n_samples + 1 - L) / hop)), 1)
    return np.arange(n, dtype=np.int64) * hop, L, hop


def _noise_index(classes: list[str]) -> int:
    if "noise" in classes:
        return classes.index("noise")
    if len(classes) == 2:  # as predict.py for two classes: prob is the softmax of class 1 ("target")
        return 0
    raise InputError(
        f"ANIMAL-SPOT model classes {classes} have no 'noise' class: ethoflow's detection probability is 1 - P(noise)"
    )


def predict_samples(
    model: Any,
    fe: AnimalSpotFrontEnd,
    classes: list[str],
    y: np.ndarray,
    seq_len_s: float,
    hop_s: float,
    batch_size: int = 64,
) -> pd.DataFrame:
    """Classify ANIMAL-SPOT's windows (:func:`window_samples`) of mono samples ``y`` (at ``fe.sr`` Hz).

    Windows are independent (each from its own samples), so a caller may split a long tape into
    chunks that start at a multiple of the hop and overlap by ``L - hop`` samples.

    Returns:
        one row per window: ``start_s``, ``end_s`` (seconds, ``end_s`` exclusive: ``min(start + L, n) /
        sr``), ``prob`` (1 - P(noise), float64), ``logit`` (its log-odds), ``label`` (most likely
        non-noise class).
    """
    y = np.asarray(y, dtype=np.float32)
    noise = _noise_index(classes)
    others = [i for i in range(len(classes)) if i != noise]
    starts, L, _ = window_samples(len(y), seq_len_s, hop_s, fe.sr)
    logits, label = [], []
    with torch.inference_mode():
        for k in range(0, len(starts), batch_size):
            s = starts[k : k + batch_size]
            if s[-1] + L <= len(y):
                seg = y[s[:, None] + np.arange(L)[None, :]]
            else:  # only when the recording is shorter than one window: one short window
                seg = y[None, int(s[0]) :]
            x = window_inputs(seg, fe).contiguous(memory_format=torch.channels_last)
            lo = model(x).to(torch.float64)
            logits.append((torch.logsumexp(lo[:, others], dim=1) - lo[:, noise]).numpy())
            label.append(lo[:, others].argmax(1).numpy())
    logit = np.concatenate(logits) if logits else np.zeros(0)
    lab = np.concatenate(label) if label else np.zeros(0, dtype=int)
    return pd.DataFrame(
        {
            "start_s": np.round(starts / fe.sr, 6),
            "end_s": np.round(np.minimum(starts + L, len(y)) / fe.sr, 6),
            "prob": 1.0 / (1.0 + np.exp(-logit)),
            "logit": logit,
            "label": [classes[others[i]] for i in lab],
        }
    )


def predict_tape(
    model: Any,
    fe: AnimalSpotFrontEnd,
    classes: list[str],
    file: str | Path,
    seq_len_s: float,
    hop_s: float,
    batch_size: int = 64,
) -> pd.DataFrame:
    """:func:`predict_samples` of an audio file, read mono and resampled to ``fe.sr`` Hz by
    :func:`ethoflow.acoustic.frontend.spectrogram.load_audio` (``InputError`` if unreadable).

    Same windows and probabilities as ANIMAL-SPOT's ``predict.py --sequence_len seq_len_s --hop hop_s``
    (with ``--min_max_norm`` iff ``fe.min_max_norm``) for a file at the model's rate.
    """
    # local: keeps ethoflow.acoustic.models.animal_spot importable without pydantic
    from ethoflow.acoustic.frontend.spectrogram import load_audio

    return predict_samples(model, fe, classes, load_audio(file, fe.sr), seq_len_s, hop_s, batch_size)


__all__ = [
    "AnimalSpotFrontEnd",
    "AnimalSpotNet",
    "fold_batchnorm",
    "is_animal_spot_file",
    "load_animal_spot",
    "predict_samples",
    "predict_tape",
    "window_inputs",
    "window_samples",
]
