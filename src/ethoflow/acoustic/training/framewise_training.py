"""Training of the framewise detector (:mod:`ethoflow.acoustic.models.framewise`) on ethoflow's Lightning engine.

The variant's recordings by role (train / val / test, the same tape-exclusive split as the window
classifier), frame labels from the corpus's annotated events, random crops of ``chunk_s`` seconds
(``passes`` times the training frames per epoch, drawn from ``(seed, epoch)``), cross-entropy weighted
by inverse class frequency, Adam with a reduce-on-plateau learning rate, early stopping on the
validation frame F1; see :mod:`ethoflow.core.training` for the exact-resume guarantees.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ethoflow.acoustic.models.framewise import EPS, IGNORE, FramewiseNet, frame_labels, predict_frames
from ethoflow.acoustic.params import FeatureParams, TrainParams
from ethoflow.acoustic.records import FramewiseTrainSummary
from ethoflow.acoustic.training.fitting import class_weights, fit_summary, fit_variant, write_trained
from ethoflow.core import get_logger, read_json, seed_everything
from ethoflow.core.errors import InputError
from ethoflow.core.training import EpochSampler, TrainingModule, adam

log = get_logger(__name__)


# ------------------------------------------------------------------------------------------ data
@dataclass
class Recording:
    """One recording ready for training: power spectrogram ``(F, T)`` and frame labels ``(T,)``."""

    name: str
    power: np.ndarray
    labels: np.ndarray


def load_split(
    variant_dir: str | os.PathLike, corpus_index: str | os.PathLike, features: FeatureParams
) -> tuple[list[str], dict[str, list[Recording]]]:
    """The variant's recordings by role, with frame labels from the corpus events.

    Returns ``(classes, {"train": [...], "val": [...], "test": [...]})``.

    Raises:
        InputError: the variant has no train or no val recording, or an event's label is not a class.
    """
    # local: resolved at call time: tests patch this name on its module
    from ethoflow.acoustic.frontend.spectrogram import recording_power

    vidx = read_json(Path(variant_dir) / "variant_index.json")
    cidx = read_json(corpus_index)
    classes = list(vidx["classes"])
    events: dict[str, list[tuple[float, float, int]]] = {}
    for ev in cidx["events"]:
        if ev.get("role", "target") != "target" or ev["label"] not in classes:
            continue
        events.setdefault(ev["recording"], []).append((ev["start_s"], ev["end_s"], classes.index(ev["label"]) + 1))
    out: dict[str, list[Recording]] = {"train": [], "val": [], "test": []}
    for rec in sorted(vidx["recordings"], key=lambda r: r["recording"]):
        role = rec.get("role")
        if role not in out:
            continue
        power = recording_power(rec["file"], features)
        out[role].append(
            Recording(rec["recording"], power, frame_labels(power.shape[1], events.get(rec["recording"], []), features))
        )
    for role in ("train", "val"):
        if not out[role]:
            raise InputError(f"{Path(variant_dir) / 'variant_index.json'}: no {role} recording for the framewise model")
    return classes, out


def _crop_draw(lengths: list[int], crop: int):
    """Per epoch: crops ``(recording index, first frame)``, recordings weighted by length, about one
    pass over the training frames (for :class:`~ethoflow.core.training.EpochSampler`)."""
    lengths_arr = np.asarray(lengths)

    def draw(rng: np.random.Generator, n: int) -> list[tuple[int, int]]:
        rec = rng.choice(len(lengths_arr), size=n, p=lengths_arr / lengths_arr.sum())
        first = (rng.random(n) * np.maximum(lengths_arr[rec] - crop, 0) + 0.5).astype(int)
        return [(int(r), int(s)) for r, s in zip(rec, first)]

    return draw


class _Crops(torch.utils.data.Dataset):
    def __init__(self, recs: list[Recording], model: FramewiseNet, crop: int):
        self.x = [model.standardise(r.power) for r in recs]
        self.y = [r.labels for r in recs]
        self.crop = crop

    def __len__(self) -> int:
        return sum(len(y) for y in self.y)

    def __getitem__(self, key: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        r, s = key
        x, y = self.x[r][:, s : s + self.crop], self.y[r][s : s + self.crop]
        if y.size < self.crop:  # a recording shorter than a crop: pad, no loss on the padding
            pad = self.crop - y.size
            x = np.pad(x, ((0, 0), (0, pad)), constant_values=float(x.min()) if x.size else 0.0)
            y = np.pad(y, (0, pad), constant_values=IGNORE)
        return torch.from_numpy(np.ascontiguousarray(x[None])), torch.from_numpy(y)


def frame_scores(probs: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Frame-level scores of target (any class) vs noise: f1, precision, recall, accuracy (argmax)."""
    pred = probs.argmax(1)
    tp = float(np.sum((pred > 0) & (labels > 0)))
    fp = float(np.sum((pred > 0) & (labels == 0)))
    fn = float(np.sum((pred == 0) & (labels > 0)))
    prec = tp / (tp + fp) if tp + fp else 0.0
    rec = tp / (tp + fn) if tp + fn else 0.0
    return {
        "f1": 2 * prec * rec / (prec + rec) if prec + rec else 0.0,
        "precision": prec,
        "recall": rec,
        "accuracy": float(np.mean(pred == labels)) if labels.size else 0.0,
    }


def _evaluate(model: FramewiseNet, recs: list[Recording], weight: torch.Tensor) -> tuple[dict[str, float], float]:
    probs = [predict_frames(model, r.power) for r in recs]
    p, y = np.concatenate(probs), np.concatenate([r.labels for r in recs])
    nll = -np.log(np.maximum(p[np.arange(len(y)), y], 1e-12))
    w = weight.numpy()[y]
    return frame_scores(p, y), float(np.sum(w * nll) / np.sum(w))


# ------------------------------------------------------------------------------------------ training
def fingerprint(variant_dir: str | os.PathLike, features: FeatureParams, training: TrainParams) -> str:
    """Hash of the variant index and the front-end and training params: a checkpoint from other inputs is not resumed."""
    h = hashlib.sha256((Path(variant_dir) / "variant_index.json").read_bytes())
    h.update(json.dumps([features.model_dump(), training.model_dump()], sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


class FramewiseModule(TrainingModule):
    """Lightning module of the framewise model: weighted per-frame cross-entropy, Adam,
    ``ReduceLROnPlateau`` on the validation metric; validation scores every val recording whole."""

    def __init__(self, net: FramewiseNet, t: TrainParams, weight: torch.Tensor, val: list[Recording]):
        super().__init__(t.seed, t.metric)
        self.net, self.params, self.weight, self.val = net, t, weight, val
        self.loss = nn.CrossEntropyLoss(weight=weight, ignore_index=IGNORE)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], _idx: int) -> torch.Tensor:
        x, y = batch
        loss = self.loss(self.net(x), y)
        self.add_train_loss(loss, len(y))
        return loss

    def validate(self) -> tuple[dict[str, float], float]:
        return _evaluate(self.net, self.val, self.weight)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        t = self.params
        opt = adam(self.net.parameters(), lr=t.lr, weight_decay=t.weight_decay)
        self.plateau_scheduler(opt, t.lr_decay_factor, t.lr_patience_epochs)
        return opt


def train_framewise(
    variant_dir: str | os.PathLike,
    corpus_index: str | os.PathLike,
    out_dir: str | os.PathLike,
    features: FeatureParams,
    train: TrainParams,
    ckpt_dir: str | os.PathLike,
    live_dir: str | os.PathLike | None = None,
    summary_path: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Train the framewise model on a variant's train recordings, validating on its val recordings.

    Writes ``out_dir/model.pt`` (``arch: framewise``, state dict with the scaler, classes, front end),
    ``out_dir/history.json`` and the summary (``summary_path``, default ``out_dir/train_summary.json``):
    best epoch, epochs run, early stop, frame-level scores per split (f1, precision, recall,
    accuracy), frames per split. Resumes from ``ckpt_dir/last.ckpt`` when its fingerprint matches
    (same variant and params); the checkpoint is removed at the end.

    Raises:
        InputError: no train or val recording in the variant, or a corrupt resume checkpoint.
    """
    t, p = train, train.framewise
    if t.num_threads:
        torch.set_num_threads(t.num_threads)
    classes, recs = load_split(variant_dir, corpus_index, features)
    seed_everything(t.seed)
    model = FramewiseNet(features.n_freq_bins, len(classes) + 1, p)
    db = np.concatenate(
        [np.maximum(10.0 * np.log10(np.maximum(r.power, EPS)), features.db_floor) for r in recs["train"]], 1
    )
    model.scale_mean.copy_(torch.from_numpy(db.mean(1).astype(np.float32)))
    model.scale_std.copy_(torch.from_numpy(np.maximum(db.std(1), 1e-3).astype(np.float32)))
    model.db_floor.fill_(features.db_floor)
    weight = class_weights(np.concatenate([r.labels for r in recs["train"]]), len(classes) + 1)
    crop = max(8, int(round(p.chunk_s * features.sr / features.hop_length)))
    lengths = [len(r.labels) for r in recs["train"]]
    sampler = EpochSampler(max(1, math.ceil(p.passes * sum(lengths) / crop)), t.seed, _crop_draw(lengths, crop))
    loader = torch.utils.data.DataLoader(_Crops(recs["train"], model, crop), batch_size=t.batch_size, sampler=sampler)
    module = FramewiseModule(model, t, weight, recs["val"])
    tr = fit_variant(module, loader, t, ckpt_dir, fingerprint(variant_dir, features, t), live_dir)
    model = module.net
    scores = {s: _evaluate(model, r, weight)[0] for s, r in recs.items() if r}
    summary = {
        "arch": "framewise",
        **fit_summary(classes, tr, t.metric, scores),
        "n_frames": {s: int(sum(len(x.labels) for x in r)) for s, r in recs.items()},
        "context_frames": model.context_frames(),
    }
    write_trained(
        out_dir, model, classes, features, tr, FramewiseTrainSummary(**summary), summary_path, arch="framewise"
    )
    return summary
