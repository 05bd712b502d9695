"""acoustic_train: train the ResNet call classifier on one variant's segments (ANIMAL-SPOT's recipe).

Windows of ``features.seq_len_s`` are cut from each recording's spectrogram (computed once): a target
longer than the window gives a random window inside it each epoch, a shorter one a window that
contains it at a random offset (validation/test: centred). Augmentation (training only) per
:func:`ethoflow.acoustic.frontend.spectrogram.augment_window`. Adam; the learning rate is multiplied by
``lr_decay_factor`` when the validation metric has not improved for ``lr_patience_epochs``; training
stops after ``early_stopping_patience_epochs`` without improvement; the best weights are kept
(improvement: a higher validation metric, or an equal one with a lower validation loss).

Trained on ethoflow's engine (:mod:`ethoflow.core.training`, PyTorch Lightning): ``last.ckpt`` after
every epoch, resumed when the inputs and params fingerprint matches; batches, window offsets and
augmentation are drawn from ``(seed, epoch, batch)``, so a run killed at any point (kill -9 included)
resumes to the same bytes as an uninterrupted one. DVCLive logs the curves into ``live_dir``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ethoflow.acoustic.frontend.spectrogram import augment_window, slice_frames, to_input
from ethoflow.acoustic.params import FeatureParams, TrainParams
from ethoflow.acoustic.records import TrainSummary, read_variant_index
from ethoflow.acoustic.training.fitting import class_weights, fit_summary, fit_variant, write_trained
from ethoflow.core import InputError, get_logger, load_torch, seed_everything

log = get_logger(__name__)


class SegmentData:
    """Segments of one split with their recordings' power spectrograms (computed once each).

    Args:
        rows: DataFrame with ``file``, ``start_s``, ``end_s``, ``label`` (``noise`` or a class).
        classes: target class names (index ``i`` -> class ``i + 1``; 0 is noise).
        cache: shared dict file -> power spectrogram.
    """

    def __init__(self, rows: pd.DataFrame, classes: list[str], f: FeatureParams, cache: dict[str, np.ndarray]):
        # local: resolved at call time: tests patch this name on its module
        from ethoflow.acoustic.frontend.spectrogram import recording_power

        self.rows = rows.reset_index(drop=True)
        self.f = f
        lut = {"noise": 0, **{c: i + 1 for i, c in enumerate(classes)}}
        unknown = sorted(set(self.rows.label) - set(lut))
        if unknown:
            raise InputError(f"segment labels {unknown} are not among the classes {classes}")
        self.y = self.rows.label.map(lut).to_numpy(np.int64)
        for file in sorted(set(self.rows.file)):
            if file not in cache:
                cache[file] = recording_power(file, f)
        self.power = cache
        self.n_frames = max(1, int(round(f.seq_len_s * f.sr / f.hop_length)))

    def __len__(self) -> int:
        return len(self.rows)

    def _t0(self, i: int, rng: np.random.Generator | None) -> float:
        s, e = float(self.rows.start_s[i]), float(self.rows.end_s[i])
        L = self.f.seq_len_s
        if rng is None:
            return (s + e) / 2 - L / 2
        lo, hi = sorted((s, e - L))  # inside a long segment, or around a short one
        return float(rng.uniform(lo, hi))

    def batch(
        self,
        idx: np.ndarray,
        rng: np.random.Generator | None = None,
        aug: Any = None,
        noise_pool: SegmentData | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Inputs (B, 1, F, T) and labels (B,) for rows ``idx``; ``rng`` given: random offsets (+ ``aug``)."""
        f = self.f
        wins = []
        for i in idx:
            P = self.power[self.rows.file[i]]
            t0 = self._t0(int(i), rng)
            if rng is not None and aug is not None and aug.enabled:
                noise = None
                if noise_pool is not None and len(noise_pool.noise_idx):
                    j = int(noise_pool.noise_idx[rng.integers(len(noise_pool.noise_idx))])
                    nt0 = noise_pool._t0(j, rng)
                    noise = slice_frames(
                        noise_pool.power[noise_pool.rows.file[j]], int(round(nt0 * f.sr / f.hop_length)), self.n_frames
                    )
                centre = (t0 + f.seq_len_s / 2) * f.sr / f.hop_length
                wins.append(augment_window(P, centre, self.n_frames, rng, aug, noise))
            else:
                wins.append(slice_frames(P, int(round(t0 * f.sr / f.hop_length)), self.n_frames))
        x = to_input(np.stack(wins), f)[:, None]
        return x, self.y[idx]

    @property
    def noise_idx(self) -> np.ndarray:
        return np.flatnonzero(self.y == 0)


def fingerprint(variant_dir: Path, features: FeatureParams, training: TrainParams) -> str:
    """sha256 of the variant's CSVs and the feature/train params (checkpoints resume only on a match)."""
    h = hashlib.sha256()
    for s in ("train", "val", "test"):
        h.update((variant_dir / f"{s}.csv").read_bytes())
    h.update(json.dumps([features.model_dump(), training.model_dump()], sort_keys=True, default=str).encode())
    return h.hexdigest()


def _scores(logits: np.ndarray, y: np.ndarray) -> dict[str, float]:
    pred = logits.argmax(1)
    tp = int(((pred > 0) & (y > 0)).sum())
    fp = int(((pred > 0) & (y == 0)).sum())
    fn = int(((pred == 0) & (y > 0)).sum())
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return {
        "accuracy": float((pred == y).mean()) if len(y) else 0.0,
        "precision": p,
        "recall": r,
        "f1": 2 * p * r / (p + r) if p + r else 0.0,
    }


def _evaluate(model: Any, data: SegmentData, batch_size: int) -> tuple[dict[str, float], float]:
    # local: torch is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    import torch

    model.eval()
    outs, losses = [], []
    with torch.no_grad():
        for k in range(0, len(data), batch_size):
            idx = np.arange(k, min(k + batch_size, len(data)))
            x, y = data.batch(idx)
            lo = model(torch.from_numpy(x))
            losses.append(float(torch.nn.functional.cross_entropy(lo, torch.from_numpy(y), reduction="sum")))
            outs.append(lo.numpy())
    logits = np.concatenate(outs) if outs else np.zeros((0, 2))
    return _scores(logits, data.y), sum(losses) / max(len(data), 1)


def _batch_draw(n_rows: int, batch_size: int):
    """Per epoch (for :class:`~ethoflow.core.training.EpochSampler`): the rows in a random order, cut
    into batches of ``batch_size`` (a last batch of one row is dropped: batch norm needs two), each with
    its own seed for the window offsets and the augmentation."""

    def draw(rng: np.random.Generator, n_batches: int) -> list[tuple[list[int], int]]:
        order = rng.permutation(n_rows)
        seeds = rng.integers(0, 2**63 - 1, size=n_batches)
        return [(order[b * batch_size : (b + 1) * batch_size].tolist(), int(seeds[b])) for b in range(n_batches)]

    return draw


def _n_batches(n_rows: int, batch_size: int) -> int:
    return n_rows // batch_size + (1 if n_rows % batch_size >= 2 else 0)


class _TrainWindows:
    """Training batches (``batch_size=None`` loader): a key ``(rows, seed)`` gives inputs (B, 1, F, T)
    and labels (B,) with random offsets and augmentation drawn from ``seed``."""

    def __init__(self, data: SegmentData, training: TrainParams):
        self.data, self.aug = data, training.augment

    def __getitem__(self, key: tuple[list[int], int]) -> tuple[Any, Any]:
        # local: torch is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
        import torch

        rows, seed = key
        x, y = self.data.batch(np.asarray(rows), np.random.default_rng(seed), self.aug, self.data)
        return torch.from_numpy(x), torch.from_numpy(y)


def _module(model: Any, training: TrainParams, weight: Any, val: SegmentData) -> Any:
    """The window classifier's Lightning module (class weighted cross-entropy, Adam, plateau schedule)."""
    # local: torch is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    import torch

    from ethoflow.core.training import TrainingModule, adam

    class WindowClassifierModule(TrainingModule):
        def __init__(self) -> None:
            super().__init__(training.seed, training.metric)
            self.net = model
            self.loss = torch.nn.CrossEntropyLoss(weight=weight)

        def training_step(self, batch: tuple[Any, Any], _idx: int) -> Any:
            x, y = batch
            loss = self.loss(self.net(x), y)
            self.add_train_loss(loss, len(y))
            return loss

        def validate(self) -> tuple[dict[str, float], float]:
            return _evaluate(self.net, val, max(training.batch_size, 64))

        def configure_optimizers(self) -> Any:
            opt = adam(self.net.parameters(), lr=training.lr, weight_decay=training.weight_decay)
            self.plateau_scheduler(opt, training.lr_decay_factor, training.lr_patience_epochs)
            return opt

    return WindowClassifierModule()


def train_model(
    variant_dir: str,
    out_dir: str,
    features: FeatureParams,
    training: TrainParams,
    ckpt_dir: str,
    live_dir: str | None = None,
    summary_path: str | None = None,
) -> dict[str, Any]:
    """Train on ``variant_dir``'s train/val CSVs; write ``out_dir/model.pt``, ``out_dir/history.json`` and the
    summary (``summary_path``, default ``out_dir/train_summary.json``).

    Trains on ethoflow's engine (:func:`ethoflow.core.training.fit`): resumes from ``ckpt_dir/last.ckpt``
    when its fingerprint matches (same variant CSVs and params), removed at the end; DVCLive curves in
    ``live_dir`` (``train_loss``, ``val_loss``, ``lr``, ``val_<score>``, one step per epoch).

    Returns the summary dict (best epoch, val and test scores, epochs run, resumed flag).

    Raises:
        InputError: empty train or val split, labels outside the variant's classes, or a corrupt
            resume checkpoint.
    """
    # local: torch is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    import torch

    from ethoflow.acoustic.models.model import CallClassifier
    from ethoflow.core.training import EpochLoader, EpochSampler

    if training.num_threads:
        torch.set_num_threads(training.num_threads)
    vdir, out = Path(variant_dir), Path(out_dir)
    classes = read_variant_index(vdir / "variant_index.json").classes
    splits = {
        s: pd.read_csv(vdir / f"{s}.csv", keep_default_na=False, na_values=[""]) for s in ("train", "val", "test")
    }
    for s in ("train", "val"):
        if splits[s].empty:
            raise InputError(f"{vdir / (s + '.csv')}: the {s} split is empty; change the variant's fractions")
    cache: dict[str, np.ndarray] = {}
    data = {s: SegmentData(df, classes, features, cache) for s, df in splits.items() if not df.empty}
    seed_everything(training.seed)
    model = CallClassifier(len(classes) + 1, training.resnet, training.base_width)
    train = data["train"]
    weight = class_weights(train.y, len(classes) + 1)
    n_batches = _n_batches(len(train), training.batch_size)
    if n_batches == 0:
        raise InputError(f"{vdir / 'train.csv'}: one training segment; batch norm needs at least two")
    sampler = EpochSampler(n_batches, training.seed, _batch_draw(len(train), training.batch_size))
    loader = EpochLoader(_TrainWindows(train, training), batch_size=None, sampler=sampler)
    module = _module(model, training, weight, data["val"])
    tr = fit_variant(module, loader, training, ckpt_dir, fingerprint(vdir, features, training), live_dir)
    model = module.net
    scores = {s: _evaluate(model, d, 64)[0] for s, d in data.items()}
    summary = {**fit_summary(classes, tr, training.metric, scores), "n_segments": {s: len(d) for s, d in data.items()}}
    write_trained(out, model, classes, features, tr, TrainSummary(**summary), summary_path)
    return summary


def load_model(path: str | Path) -> tuple[Any, dict[str, Any]]:
    """Load ``model.pt`` -> (model in eval mode, saved metadata incl. ``features``, ``classes`` and ``arch``).

    The model is the window classifier (:class:`~ethoflow.acoustic.models.model.CallClassifier`) or, for a file
    with ``arch: framewise``, the framewise detector (:class:`~ethoflow.acoustic.models.framewise.FramewiseNet`).

    Raises:
        InputError: the file is missing, truncated or corrupt.
    """

    # local: ethoflow.acoustic.models.model.CallClassifier imports torch (slow to import)
    from ethoflow.acoustic.models.model import CallClassifier

    if not Path(path).exists():
        raise InputError(f"{path}: model file not found (run acoustic_train first)")
    ck = load_torch(path, "acoustic model file", weights_only=False)
    if ck.get("arch") == "framewise":
        # local: ethoflow.acoustic.models.framewise.load_framewise imports torch (slow to import)
        from ethoflow.acoustic.models.framewise import load_framewise

        return load_framewise(ck), ck
    model = CallClassifier(**ck["model"])
    model.load_state_dict(ck["state_dict"])
    model.eval()
    return model, ck
