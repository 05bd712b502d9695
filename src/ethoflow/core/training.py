"""ethoflow's training engine: PyTorch Lightning with exact resume and byte-identical results.

Every torch model in ethoflow trains through :func:`fit` with a :class:`TrainingModule`:

- **Loop**: Lightning's ``Trainer`` (one device by default; DDP through ``strategy``/``devices``),
  ``ModelCheckpoint`` writing ``last.ckpt`` after every epoch, ``EarlyStopping`` on the validation
  metric, the optimiser and scheduler the module's ``configure_optimizers`` returns (e.g. torch's
  ``ReduceLROnPlateau``), DVCLive's Lightning logger for the curves.
- **Exact resume**: everything random is drawn from ``(seed, epoch)``: the batches, through a sampler
  with ``set_epoch`` (:class:`EpochSampler`, which Lightning calls), and torch's global RNG, seeded
  from ``(seed, epoch, batch)`` before every training step (:meth:`TrainingModule.on_train_batch_start`;
  a seed per epoch is not enough: the DataLoader's iterator draws from the global RNG at a point
  that differs between a fresh and a resumed run). A run killed at any point
  (kill -9 included) resumes from ``last.ckpt`` at the last finished epoch and ends with the same
  bytes as an uninterrupted run. The checkpoint is resumed only when its fingerprint (a hash of the
  inputs and params, written beside it) matches, and removed at the end.
- **Best model**: the module keeps the weights of the epoch with the best validation metric (ties:
  lower validation loss) and the per-epoch history; both travel in the checkpoint.

Measured (``docs/decisions.md``, D-training-engine): Lightning keeps the exact-resume and
byte-identity properties of the hand-written loops it replaces (tests in
``tests/acoustic/test_framewise.py``).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch

from ethoflow.core.logging import get_logger

log = get_logger(__name__)


class EpochSampler(torch.utils.data.Sampler):
    """Batch items drawn from ``(seed, epoch)`` alone, so a resumed epoch sees the same items.

    ``draw(rng, n)`` returns the epoch's items (any picklable values the dataset's ``__getitem__``
    accepts); by default a permutation of ``range(n)``. Lightning calls :meth:`set_epoch` before
    every epoch.
    """

    def __init__(self, n: int, seed: int, draw: Any = None):
        self.n, self.seed, self.epoch = n, seed, 0
        self.draw = draw or (lambda rng, n: rng.permutation(n).tolist())

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[Any]:
        return iter(self.draw(np.random.default_rng([self.seed, self.epoch]), self.n))


class TrainingModule(L.LightningModule):
    """Base ``LightningModule`` of ethoflow's models.

    Subclasses set ``self.net`` and implement ``training_step`` (return the loss; call
    :meth:`add_train_loss`), :meth:`validate` (scores and loss on the validation set, computed at the
    end of each epoch) and ``configure_optimizers``.

    Args:
        seed: training seed; every training step seeds torch from ``(seed, epoch, batch)``.
        metric: key of :meth:`validate`'s scores to maximise (monitored as ``val_<metric>``).
    """

    def __init__(self, seed: int, metric: str):
        super().__init__()
        self.seed, self.metric = seed, metric
        self.track: dict[str, Any] = {"best_metric": -math.inf, "best_loss": math.inf, "best_epoch": 0}
        self.track |= {"best_state": None, "history": [], "plateau": None}
        self._train_sum, self._train_n = 0.0, 0
        self._plateau: torch.optim.lr_scheduler.ReduceLROnPlateau | None = None

    def plateau_scheduler(
        self, optimizer: torch.optim.Optimizer, factor: float, patience_epochs: int
    ) -> torch.optim.lr_scheduler.ReduceLROnPlateau:
        """torch's ``ReduceLROnPlateau`` on the validation metric, stepped by this module after each
        validation (not by Lightning: Lightning skips a plateau scheduler's step when it resumes from
        an epoch-end checkpoint, so a resumed run would decay its learning rate later). Multiplies the
        learning rate by ``factor`` after ``patience_epochs`` epochs without improvement. Call it from
        ``configure_optimizers``; its state travels in the checkpoint."""
        # ReduceLROnPlateau decays after `patience` + 1 bad epochs; ethoflow counts them inclusive
        self._plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="max", factor=factor, patience=patience_epochs - 1, threshold=1e-9, threshold_mode="abs"
        )
        if self.track.get("plateau") is not None:
            self._plateau.load_state_dict(self.track["plateau"])
        return self._plateau

    def validate(self) -> tuple[dict[str, float], float]:
        """``(scores, val_loss)`` of the current weights on the validation set."""
        raise NotImplementedError

    def add_train_loss(self, loss: torch.Tensor, n: int) -> None:
        """Accumulate a batch's mean training loss over ``n`` items (for the epoch's train_loss)."""
        self._train_sum += float(loss.detach()) * n
        self._train_n += n

    def on_train_epoch_start(self) -> None:
        self._train_sum, self._train_n = 0.0, 0

    def on_train_batch_start(self, _batch: Any, batch_idx: int) -> None:
        # torch's global RNG (dropout, augmentation on tensors) seeded from (seed, epoch, batch): whatever
        # else draws from it (a DataLoader iterator's base seed, Lightning's restore) cannot shift it
        torch.manual_seed(int(np.random.SeedSequence([self.seed, self.current_epoch, batch_idx]).generate_state(1)[0]))

    def validation_step(self, *_args: Any) -> None:
        return None  # the validation set is scored as a whole in on_validation_epoch_end

    def epoch_record(self) -> dict[str, Any]:
        """The epoch's history entry (``epoch`` is added): by default ``train_loss``, ``val_loss``,
        ``lr`` and ``val_<score>`` for each of :meth:`validate`'s scores. Override for other layouts."""
        scores, val_loss = self.validate()
        rec = {"train_loss": self._train_sum / max(self._train_n, 1), "val_loss": val_loss}
        rec["lr"] = self.trainer.optimizers[0].param_groups[0]["lr"]
        return rec | {f"val_{k}": v for k, v in scores.items()}

    def monitor_value(self, rec: dict[str, Any]) -> float:
        """The number the best epoch, the plateau scheduler and early stopping maximise."""
        return float(rec[f"val_{self.metric}"])

    def is_improvement(self, rec: dict[str, Any]) -> bool:
        """Whether this epoch is the new best: a higher monitored value, or the same with a lower
        ``val_loss`` (a metric saturates early on easy data; the loss keeps ranking the epochs)."""
        value, best = self.monitor_value(rec), self.track["best_metric"]
        return value > best + 1e-9 or (
            abs(value - best) <= 1e-9 and rec.get("val_loss", math.inf) < self.track["best_loss"]
        )

    def log_values(self, rec: dict[str, Any]) -> dict[str, float]:
        """What DVCLive records for the epoch (numbers only; names become the curves' files)."""
        return {k: float(v) for k, v in rec.items() if k != "epoch" and isinstance(v, (int, float))}

    def after_epoch(self, rec: dict[str, Any], improved: bool) -> None:
        """Called after the epoch's bookkeeping (e.g. a custom early stop: ``self.trainer.should_stop = True``)."""

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking:
            return
        was_training = self.net.training
        rec = {"epoch": self.current_epoch + 1, **self.epoch_record()}
        self.net.train(was_training)
        tr = self.track
        improved = self.is_improvement(rec)
        if improved:
            tr.update(
                best_metric=self.monitor_value(rec), best_loss=rec.get("val_loss", math.inf), best_epoch=rec["epoch"]
            )
            tr["best_state"] = {k: v.detach().cpu().clone() for k, v in self.net.state_dict().items()}
        tr["history"].append(rec)
        if self._plateau is not None:
            self._plateau.step(self.monitor_value(rec))
            tr["plateau"] = self._plateau.state_dict()
        self.log_dict(self.log_values(rec), on_epoch=True)
        self.after_epoch(rec, improved)
        log.info(
            "epoch %d: %s (best %.4f @ %d)",
            rec["epoch"],
            ", ".join(f"{k} {v:.4g}" for k, v in rec.items() if k != "epoch" and isinstance(v, (int, float))),
            tr["best_metric"],
            tr["best_epoch"],
        )

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["ethoflow"] = self.track

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.track.update(checkpoint["ethoflow"])


def fit(
    module: TrainingModule,
    train_loader: torch.utils.data.DataLoader,
    *,
    epochs: int,
    ckpt_dir: str | os.PathLike,
    fingerprint: str,
    early_stopping_patience: int | None = None,
    live_dir: str | os.PathLike | None = None,
    accelerator: str = "auto",
    devices: int | str = 1,
    strategy: str = "auto",
    precision: str | None = None,
    gradient_clip_val: float | None = None,
    callbacks: Sequence[Any] = (),
) -> dict[str, Any]:
    """Train ``module`` for up to ``epochs`` epochs, resuming from ``ckpt_dir/last.ckpt`` when it is
    this run's (same ``fingerprint``); load the best epoch's weights into ``module.net``.

    Returns the module's track: ``best_metric``, ``best_loss``, ``best_epoch``, ``history`` (one
    dict per epoch: train_loss, val_loss, lr, val_<score>...), plus ``resumed`` and ``stopped_early``.

    Raises:
        InputError: the resume checkpoint is corrupt or truncated (one line naming it).
    """
    from lightning.fabric.plugins.environments import LightningEnvironment

    from ethoflow.core.io import load_torch
    from ethoflow.core.progress import progress_enabled

    ckdir = Path(ckpt_dir)
    last, stamp = ckdir / "last.ckpt", ckdir / "fingerprint.txt"
    resume = None
    if last.exists():
        if stamp.is_file() and stamp.read_text() == fingerprint:
            load_torch(last, "resume checkpoint", "delete it to train from the start", weights_only=False)
            resume = str(last)
            log.info("resuming from %s", last)
        else:
            log.info("ignoring stale checkpoint %s (inputs or params changed)", last)
            last.unlink()
    ckdir.mkdir(parents=True, exist_ok=True)
    stamp.write_text(fingerprint)
    # one file, last.ckpt, replaced after every epoch (Lightning writes it atomically: temp file + move)
    cbs = [
        L.pytorch.callbacks.ModelCheckpoint(
            dirpath=ckdir, filename="last", monitor=None, save_top_k=1, every_n_epochs=1, enable_version_counter=False
        )
    ]
    if early_stopping_patience:
        cbs.append(
            L.pytorch.callbacks.EarlyStopping(
                monitor=f"val_{module.metric}", mode="max", patience=early_stopping_patience, min_delta=1e-9
            )
        )
    logger: Any = False
    if live_dir:
        from dvclive.lightning import DVCLiveLogger

        logger = DVCLiveLogger(dir=str(live_dir), dvcyaml=False, save_dvc_exp=False, resume=resume is not None)
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)  # the module logs each epoch itself
    import warnings

    # Lightning's hints that do not apply here: a Slurm job that is not DDP, and a torch deprecation
    warnings.filterwarnings("ignore", message=r"The `srun` command is available")
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
    plugins = [] if strategy != "auto" else [LightningEnvironment()]  # one process: never Slurm's task layout
    trainer = L.Trainer(
        max_epochs=epochs,
        accelerator=accelerator,
        devices=devices,
        strategy=strategy,
        precision=precision,
        gradient_clip_val=gradient_clip_val,
        deterministic=True,
        logger=logger,
        callbacks=[*cbs, *callbacks],
        enable_progress_bar=progress_enabled(),
        enable_model_summary=False,
        num_sanity_val_steps=0,
        log_every_n_steps=1,
        default_root_dir=str(ckdir),
        plugins=plugins,
    )
    trainer.fit(module, train_loader, torch.utils.data.DataLoader([0]), ckpt_path=resume)
    module.net.load_state_dict(module.track["best_state"])
    module.net.cpu().eval()
    for leftover in (last, stamp):
        leftover.unlink(missing_ok=True)
    out = {k: v for k, v in module.track.items() if k != "best_state"}
    out["resumed"] = resume is not None
    out["stopped_early"] = len(out["history"]) < epochs
    return out
