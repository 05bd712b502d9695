"""acoustic_train: train the ResNet call classifier on one variant's segments (ANIMAL-SPOT's recipe).

Windows of ``features.seq_len_s`` are cut from each recording's spectrogram (computed once): a target
longer than the window gives a random window inside it each epoch, a shorter one a window that
contains it at a random offset (validation/test: centred). Augmentation (training only) per
:func:`ethoflow.acoustic.spectrogram.augment_window`. Adam; the learning rate is multiplied by
``lr_decay_factor`` when the validation metric has not improved for ``lr_patience_epochs``; training
stops after ``early_stopping_patience_epochs`` without improvement; the best weights are kept
(improvement: a higher validation metric, or an equal one with a lower validation loss).

Resumable: a checkpoint (model, optimizer, best weights, counters, history) is written after every
epoch to ``<ckpt_dir>/checkpoint.pt`` together with a fingerprint of the inputs and params; a rerun
with the same fingerprint resumes after the last finished epoch (per-epoch seeds make a resumed run
identical to an uninterrupted one). DVCLive logs the curves into ``live_dir`` (``dvcyaml=False``).
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ethoflow.acoustic.params import FeatureParams, TrainParams
from ethoflow.core import InputError, atomic_path, get_logger, load_torch, progress, write_json

log = get_logger(__name__)


class SegmentData:
    """Segments of one split with their recordings' power spectrograms (computed once each).

    Args:
        rows: DataFrame with ``file``, ``start_s``, ``end_s``, ``label`` (``noise`` or a class).
        classes: target class names (index ``i`` -> class ``i + 1``; 0 is noise).
        cache: shared dict file -> power spectrogram.
    """

    def __init__(self, rows: pd.DataFrame, classes: list[str], f: FeatureParams, cache: dict[str, np.ndarray]):
        from ethoflow.acoustic.spectrogram import recording_power

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
        from ethoflow.acoustic.spectrogram import augment_window, slice_frames, to_input

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

    Returns the summary dict (best epoch, val and test scores, epochs run, resumed flag).

    Raises:
        InputError: empty train or val split, or labels outside the variant's classes.
    """
    import torch

    from ethoflow.acoustic.model import CallClassifier
    from ethoflow.acoustic.records import read_variant_index, validate_state
    from ethoflow.core import seed_everything

    if training.num_threads:
        torch.set_num_threads(training.num_threads)
    vdir, out, ckdir = Path(variant_dir), Path(out_dir), Path(ckpt_dir)
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
    opt = torch.optim.Adam(model.parameters(), lr=training.lr, weight_decay=training.weight_decay)
    fp = fingerprint(vdir, features, training)
    ck_path = ckdir / "checkpoint.pt"
    state = {
        "epoch": 0,
        "best_metric": -1.0,
        "best_epoch": 0,
        "best_state": None,
        "since_best": 0,
        "since_lr": 0,
        "lr": training.lr,
        "history": [],
        "stopped_early": False,
    }
    resumed = False
    if ck_path.exists():
        ck = load_torch(ck_path, "resume checkpoint", "delete it to train from the start", weights_only=False)
        if ck.get("fingerprint") == fp:
            model.load_state_dict(ck["model"])
            opt.load_state_dict(ck["optimizer"])
            state = validate_state(ck["state"], f"{ck_path}: state")
            resumed = True
            log.info("resuming from %s after epoch %d", ck_path, state["epoch"])
        else:
            log.info("ignoring stale checkpoint %s (inputs or params changed)", ck_path)
    live = None
    if live_dir:
        from dvclive import Live

        live = Live(str(live_dir), dvcyaml=False, resume=resumed, save_dvc_exp=False)
    train = data["train"]
    n_classes = len(classes) + 1
    counts = np.bincount(train.y, minlength=n_classes).astype(np.float64)
    weight = torch.tensor(counts.sum() / np.maximum(counts, 1) / n_classes, dtype=torch.float32)
    loss_fn = torch.nn.CrossEntropyLoss(weight=weight)
    while state["epoch"] < training.epochs and not state["stopped_early"]:
        ep = state["epoch"] + 1
        rng = np.random.default_rng([training.seed, ep])
        torch.manual_seed(training.seed * 100003 + ep)
        for g in opt.param_groups:
            g["lr"] = state["lr"]
        model.train()
        order = rng.permutation(len(train))
        tot = 0.0
        for k in progress(range(0, len(order), training.batch_size), desc=f"epoch {ep}", leave=False):
            idx = order[k : k + training.batch_size]
            if len(idx) < 2:  # batch norm needs two samples
                continue
            x, y = train.batch(idx, rng, training.augment, train)
            opt.zero_grad()
            loss = loss_fn(model(torch.from_numpy(x)), torch.from_numpy(y))
            loss.backward()
            opt.step()
            tot += float(loss.detach()) * len(idx)
        val, val_loss = _evaluate(model, data["val"], max(training.batch_size, 64))
        metric = val[training.metric]
        rec = {
            "epoch": ep,
            "train_loss": tot / len(train),
            "val_loss": val_loss,
            "lr": state["lr"],
            **{f"val_{k}": v for k, v in val.items()},
        }
        state["history"].append(rec)
        # improvement: a higher metric, or the same metric with a lower validation loss (the metric
        # saturates early on easy data; the loss keeps ranking the epochs)
        better = metric > state["best_metric"] + 1e-9 or (
            abs(metric - state["best_metric"]) <= 1e-9 and val_loss < state.get("best_loss", float("inf"))
        )
        if better:
            state.update(
                best_metric=metric,
                best_loss=val_loss,
                best_epoch=ep,
                since_best=0,
                since_lr=0,
                best_state=copy.deepcopy(model.state_dict()),
            )
        else:
            state["since_best"] += 1
            state["since_lr"] += 1
            if state["since_lr"] >= training.lr_patience_epochs:
                state["lr"] *= training.lr_decay_factor
                state["since_lr"] = 0
            if state["since_best"] >= training.early_stopping_patience_epochs:
                state["stopped_early"] = True
        state["epoch"] = ep
        log.info(
            "epoch %d: train loss %.4f, val loss %.4f, val %s %.3f (best %.3f @ %d)",
            ep,
            rec["train_loss"],
            val_loss,
            training.metric,
            metric,
            state["best_metric"],
            state["best_epoch"],
        )
        if live is not None:
            for k, v in rec.items():
                if k != "epoch":
                    live.log_metric(k, v)
            live.next_step()
        ckdir.mkdir(parents=True, exist_ok=True)
        with atomic_path(ck_path) as tmp:
            torch.save(
                {"fingerprint": fp, "model": model.state_dict(), "optimizer": opt.state_dict(), "state": state}, tmp
            )
    model.load_state_dict(state["best_state"])
    scores = {s: _evaluate(model, d, 64)[0] for s, d in data.items()}
    summary = {
        "classes": classes,
        "best_epoch": state["best_epoch"],
        "epochs_run": state["epoch"],
        "stopped_early": state["stopped_early"],
        "resumed": resumed,
        "metric": training.metric,
        "best_val_metric": state["best_metric"],
        "best_val_loss": state.get("best_loss"),
        "final_train_loss": state["history"][-1]["train_loss"] if state["history"] else None,
        "scores": scores,
        "n_segments": {s: len(d) for s, d in data.items()},
    }
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "model.pt") as tmp:
        torch.save(
            {
                "state_dict": model.state_dict(),
                "model": model.config,
                "classes": classes,
                "features": features.model_dump(),
                "best_epoch": state["best_epoch"],
            },
            tmp,
        )
    write_json(summary_path or out / "train_summary.json", summary)
    write_json(out / "history.json", state["history"])
    if live is not None:
        live.end()
    ck_path.unlink(missing_ok=True)
    return summary


def load_model(path: str | Path) -> tuple[Any, dict[str, Any]]:
    """Load ``model.pt`` -> (model in eval mode, saved metadata incl. ``features``, ``classes`` and ``arch``).

    The model is the window classifier (:class:`~ethoflow.acoustic.model.CallClassifier`) or, for a file
    with ``arch: framewise``, the framewise detector (:class:`~ethoflow.acoustic.framewise.FramewiseNet`).

    Raises:
        InputError: the file is missing, truncated or corrupt.
    """

    from ethoflow.acoustic.model import CallClassifier

    if not Path(path).exists():
        raise InputError(f"{path}: model file not found (run acoustic_train first)")
    ck = load_torch(path, "acoustic model file", weights_only=False)
    if ck.get("arch") == "framewise":
        from ethoflow.acoustic.framewise import load_framewise

        return load_framewise(ck), ck
    model = CallClassifier(**ck["model"])
    model.load_state_dict(ck["state_dict"])
    model.eval()
    return model, ck
