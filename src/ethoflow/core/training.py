"""ethoflow's training engine: PyTorch Lightning with exact resume and byte-identical results.

Every torch model in ethoflow trains through :func:`fit` with a :class:`TrainingModule`:

- **Loop**: Lightning's ``Trainer`` on one device, or Lightning's DDP strategy when a launcher
  exported a world (``WORLD_SIZE`` > 1: ``mp.spawn`` workers, submitit's Slurm tasks, torchrun);
  ``ModelCheckpoint`` writing ``last.ckpt`` after every epoch (and :class:`_StepCheckpoint` every N
  steps inside one), ``EarlyStopping`` on the validation metric, the optimiser the module's
  ``configure_optimizers`` returns (torch's ``ReduceLROnPlateau`` stepped by the module), DVCLive
  curves (one step per epoch, replayed from the checkpoint on resume).
- **Exact resume**: everything random is drawn from ``(seed, epoch)``: the batches, through a sampler
  with ``set_epoch`` (:class:`EpochSampler`, which Lightning calls), and torch's global RNG, seeded
  from ``(seed, epoch, batch)`` before every training step (:meth:`TrainingModule.on_train_batch_start`;
  a seed per epoch is not enough: the DataLoader's iterator draws from the global RNG at a point
  that differs between a fresh and a resumed run). A run killed at any point (kill -9 included)
  resumes from ``last.ckpt`` (the last finished epoch, or the last step checkpoint: an
  :class:`EpochLoader` skips the batches already trained on) and ends with the same bytes as an
  uninterrupted run. The checkpoint is resumed only when its fingerprint (a hash of the inputs and
  params, written beside it) matches, and removed at the end.
- **Best model**: the module keeps the weights of the epoch with the best validation metric (ties:
  lower validation loss; ``select_best = False``: the last epoch's) and the per-epoch history; both
  travel in the checkpoint (:class:`TrainingTrack`).

Measured (``docs/decisions.md``, "Training engine"): exact resume and byte identity hold; kill -9 and
byte-identity tests in ``tests/acoustic/test_{framewise,train}.py``, ``tests/hbehave/test_train.py``,
``tests/vae/test_train_embed.py``, ``tests/faults/test_resume.py``.
"""

from __future__ import annotations

import logging
import math
import os
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch

from ethoflow.core.errors import InputError
from ethoflow.core.io import unreadable_file_error
from ethoflow.core.logging import get_logger
from ethoflow.core.progress import progress_enabled
from ethoflow.core.records import Record, validate_record

log = get_logger(__name__)


class TrainingTrack(Record):
    """The engine's training state inside ``last.ckpt`` (key ``ethoflow``), validated when a run resumes:
    the best epoch so far (its monitored value, validation loss, number and weights), the per-epoch
    history, the plateau scheduler's state and the running epoch's ``[loss sum, count]``. Modules add
    their own keys (kept)."""

    best_metric: float
    best_loss: float
    best_epoch: int
    best_state: dict[str, Any] | None = None
    history: list[dict[str, Any]]
    plateau: dict[str, Any] | None = None
    epoch_loss: list[float] = [0.0, 0]


class EpochSampler(torch.utils.data.Sampler):
    """Batch items drawn from ``(seed, epoch)`` alone, so a resumed epoch sees the same items.

    ``draw(rng, n)`` returns the epoch's ``n`` items (any picklable values the dataset's ``__getitem__``
    accepts: an index, a crop, a whole batch's indices); by default a permutation of ``range(n)``.
    Lightning calls :meth:`set_epoch` before every epoch. The items are drawn when the epoch's first
    item is asked for (after ``set_epoch``), and the sampler counts the items it has served, so that a
    run resumed from a mid-epoch checkpoint skips the ones already trained on (:class:`EpochLoader`).
    """

    def __init__(self, n: int, seed: int, draw: Any = None):
        self.n, self.seed, self.epoch = n, seed, 0
        self.draw = draw or (lambda rng, n: rng.permutation(n).tolist())
        self.served, self._skip = 0, (-1, 0)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[Any]:
        items = self.draw(np.random.default_rng([self.seed, self.epoch]), self.n)
        skip = self._skip[1] if self._skip[0] == self.epoch else 0
        self._skip, self.served = (-1, 0), skip
        for item in items[skip:]:
            self.served += 1
            yield item

    def state_dict(self) -> dict[str, int]:
        """Where the epoch stands: ``epoch`` and the items ``served`` so far (saved in the checkpoint)."""
        return {"epoch": self.epoch, "served": self.served}

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Resume inside ``state["epoch"]``: its next iteration skips the ``served`` items."""
        self._skip = (int(state["epoch"]), int(state["served"]))


class EpochLoader(torch.utils.data.DataLoader):
    """A ``DataLoader`` over an :class:`EpochSampler` (``sampler=``) whose position Lightning saves in
    every checkpoint and restores on resume (it is *stateful* to Lightning), so a run killed after a
    mid-epoch checkpoint continues with the epoch's next batch. Use ``num_workers=0`` (the default):
    workers would fetch ahead and the count would run ahead of training."""

    def state_dict(self) -> dict[str, int]:
        return self.sampler.state_dict()

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.sampler.load_state_dict(state)


class TrainingModule(L.LightningModule):
    """Base ``LightningModule`` of ethoflow's models.

    Subclasses set ``self.net`` and implement ``training_step`` (return the loss; call
    :meth:`add_train_loss`), :meth:`validate` (scores and loss on the validation set, computed at the
    end of each epoch) and ``configure_optimizers``.

    Args:
        seed: training seed; every training step seeds torch from ``(seed, epoch, batch)``.
        metric: key of :meth:`validate`'s scores to maximise (monitored as ``val_<metric>``).

    Attributes:
        select_best: ``True`` (default): :func:`fit` ends with the best epoch's weights; ``False``: with
            the last epoch's (a pretraining objective with a fixed schedule, e.g. hBehaveMAE).
    """

    select_best = True

    def __init__(self, seed: int, metric: str):
        super().__init__()
        self.seed, self.metric = seed, metric
        self.track: dict[str, Any] = {"best_metric": -math.inf, "best_loss": math.inf, "best_epoch": 0}
        # epoch_loss: the running epoch's [sum, count] of training losses (in the track, so a run resumed
        # from a mid-epoch checkpoint finishes the epoch's mean)
        self.track |= {"best_state": None, "history": [], "plateau": None, "epoch_loss": [0.0, 0]}
        self._plateau: torch.optim.lr_scheduler.ReduceLROnPlateau | None = None
        self._restored = False

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

    def add_train_loss(self, loss: torch.Tensor | float, n_items: int) -> None:
        """Accumulate a batch's mean training loss over ``n_items`` items (for the epoch's train_loss)."""
        acc = self.track["epoch_loss"]
        acc[0] += float(loss.detach() if isinstance(loss, torch.Tensor) else loss) * n_items
        acc[1] += n_items

    def on_train_epoch_start(self) -> None:  # not called when a run resumes inside an epoch
        self.track["epoch_loss"] = [0.0, 0]

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
        total, n = self.track["epoch_loss"]
        rec = {"train_loss": total / max(n, 1), "val_loss": val_loss}
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
        """What DVCLive records for the epoch (numbers only; names become the curves' files). By default
        the record's numbers with a ``train_``/``val_`` prefix turned into a folder, as DVCLive names
        Lightning's metrics (``val_f1`` -> ``val/f1``, ``train_loss`` -> ``train/loss``; ``lr`` stays)."""
        # local: dvc is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
        from dvclive.utils import standardize_metric_name

        return {
            standardize_metric_name(k, "dvclive.lightning"): float(v)
            for k, v in rec.items()
            if k != "epoch" and isinstance(v, (int, float))
        }

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
            if self.select_best:
                tr["best_state"] = {k: v.detach().cpu().clone() for k, v in self.net.state_dict().items()}
        tr["history"].append(rec)
        if self._plateau is not None:
            self._plateau.step(self.monitor_value(rec))
            tr["plateau"] = self._plateau.state_dict()
        # the record's numbers under their own names, for EarlyStopping (logger=False: nothing is written)
        self.log_dict({k: float(v) for k, v in rec.items() if k != "epoch" and isinstance(v, (int, float))})
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
        source = f"{self.trainer.ckpt_path}: ethoflow" if self._trainer is not None else "checkpoint: ethoflow"
        validate_record(checkpoint.get("ethoflow"), TrainingTrack, source)
        self.track.update(checkpoint["ethoflow"])
        self._restored = True


class _Curves(L.Callback):
    """DVCLive curves in ``live_dir``: one step per epoch, the module's :meth:`~TrainingModule.log_values`
    of each history entry. A resumed run starts the folder afresh and replays the history restored from
    the checkpoint, so the curves are whole and no epoch appears twice (a kill between an epoch's curves
    and its checkpoint included). Rank 0 only."""

    def __init__(self, live_dir: str | os.PathLike):
        self.live_dir, self.live, self.logged = live_dir, None, 0

    def _catch_up(self, module: TrainingModule) -> None:
        for rec in module.track["history"][self.logged :]:
            for k, v in module.log_values(rec).items():
                self.live.log_metric(k, v)
            self.live.next_step()
        self.logged = len(module.track["history"])

    def on_train_start(self, trainer: L.Trainer, module: TrainingModule) -> None:
        if trainer.global_rank == 0:
            # local: dvc is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
            from dvclive import Live

            self.live = Live(str(self.live_dir), dvcyaml=False, save_dvc_exp=False)
            self._catch_up(module)

    def on_validation_end(self, trainer: L.Trainer, module: TrainingModule) -> None:
        if self.live is not None and not trainer.sanity_checking:
            self._catch_up(module)

    def on_train_end(self, trainer: L.Trainer, module: TrainingModule) -> None:
        if self.live is not None:
            self.live.end()
            self.live = None


class _StepCheckpoint(L.Callback):
    """``last.ckpt`` every ``every`` optimisation steps inside an epoch (the epoch's end has its own,
    after validation). Lightning restores a mid-epoch checkpoint's loop counters; the data position comes
    from :class:`EpochLoader`."""

    def __init__(self, path: Path, every: int):
        self.path, self.every = path, every

    def on_train_batch_end(self, trainer: L.Trainer, _module: Any, _out: Any, _batch: Any, batch_idx: int) -> None:
        if trainer.global_step % self.every == 0 and batch_idx + 1 < trainer.num_training_batches:
            trainer.save_checkpoint(self.path)  # atomic (temp file, then move); rank 0 writes


def ddp_world() -> tuple[int, int, int]:
    """``(rank, world_size, local_world_size)`` of the DDP world a launcher described in the environment
    (``RANK``, ``WORLD_SIZE``, ``LOCAL_WORLD_SIZE``: torchrun, submitit's Slurm tasks, ``mp.spawn``
    workers); ``(0, 1, 1)`` for one process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_WORLD_SIZE", str(world)))


def adam(
    params: Any, *, lr: float, weight_decay: float = 0.0, betas: Sequence[float] = (0.9, 0.999), decoupled: bool = False
):
    """Adam (Kingma & Ba 2015) or, ``decoupled``, AdamW (Loshchilov & Hutter 2019), torch's fused kernel: the
    default kernel's ``sqrt`` goes through MKL's vector maths, whose SSE path (MKL's on AMD CPUs) uses the CPU's
    approximate reciprocal square root (docs/decisions.md, "Portable numbers across CPU vendors")."""
    cls = torch.optim.AdamW if decoupled else torch.optim.Adam
    return cls(params, lr=lr, weight_decay=weight_decay, betas=tuple(betas), fused=True)


@dataclass(frozen=True)
class LoopSettings:
    """How :func:`fit`'s loop runs, beyond the epochs: early stopping, step checkpoints, device, numerics.

    Attributes:
        early_stopping_patience: epochs without improvement of ``val_<metric>`` before stopping
            (``None``/0: never stops early).
        checkpoint_every_steps: also write ``last.ckpt`` every that many optimisation steps inside an
            epoch (``None``: at each epoch's end only; resuming mid-epoch needs an :class:`EpochLoader`).
        accelerator: Lightning's accelerator (``auto``, ``cpu``, ``gpu``).
        precision: Lightning's precision, e.g. ``"bf16-mixed"`` (autocast); ``None``: 32-bit.
        gradient_clip_val: clip the gradients' norm to this value (``None``: no clipping).
    """

    early_stopping_patience: int | None = None
    checkpoint_every_steps: int | None = None
    accelerator: str = "auto"
    precision: str | None = None
    gradient_clip_val: float | None = None


def fit(
    module: TrainingModule,
    train_loader: torch.utils.data.DataLoader,
    *,
    epochs: int,
    ckpt_dir: str | os.PathLike,
    fingerprint: str,
    loop: LoopSettings | None = None,
    live_dir: str | os.PathLike | None = None,
    callbacks: Sequence[Any] = (),
) -> dict[str, Any]:
    """Train ``module`` for up to ``epochs`` epochs, resuming from ``ckpt_dir/last.ckpt`` when it is
    this run's (same ``fingerprint``); end with the best epoch's weights in ``module.net`` (the last
    epoch's when ``module.select_best`` is false), on the CPU, in eval mode.

    ``last.ckpt`` is written after every epoch and, with ``loop.checkpoint_every_steps``, every that many
    optimisation steps inside an epoch (resuming there needs an :class:`EpochLoader`). When the
    environment describes a DDP world (``WORLD_SIZE`` > 1, set by the launcher: ``mp.spawn`` workers,
    the tasks of a Slurm job through submitit, torchrun), every process calls ``fit`` and Lightning's
    DDP strategy joins them (gloo on CPU, NCCL on GPU); the loader gives each rank its share (Lightning
    does not replace its sampler). ``loop``: early stopping, step checkpoints, accelerator, precision
    (Lightning's, e.g. ``"bf16-mixed"``: autocast) and gradient clipping (:class:`LoopSettings`;
    ``None``: its defaults). ``live_dir``: DVCLive curves (``None``: none). ``callbacks``: further
    Lightning callbacks.

    Returns the module's track: ``best_metric``, ``best_loss``, ``best_epoch``, ``history`` (one
    dict per epoch: train_loss, val_loss, lr, val_<score>...), plus ``resumed`` and ``stopped_early``.

    Raises:
        InputError: the resume checkpoint is empty, truncated or corrupt (one line naming it).
    """
    loop = loop or LoopSettings()
    rank, world, local_world = ddp_world()
    ckdir = Path(ckpt_dir)
    last, stamp = ckdir / "last.ckpt", ckdir / "fingerprint.txt"
    hint = "delete it to train from the start"
    resume = _resume_checkpoint(last, stamp, fingerprint, rank=rank, hint=hint)
    if rank == 0:
        ckdir.mkdir(parents=True, exist_ok=True)
        stamp.write_text(fingerprint)
    cbs = _loop_callbacks(module, last, loop, live_dir)
    _quiet_lightning()
    trainer = _trainer(epochs, ckdir, loop, [*cbs, *callbacks], world=(rank, world, local_world))
    try:
        trainer.fit(module, train_loader, torch.utils.data.DataLoader([0]), ckpt_path=resume)
    except InputError:
        raise
    except Exception as exc:
        if resume is not None and not module._restored:  # Lightning could not read the checkpoint
            raise unreadable_file_error(last, "resume checkpoint", hint, exc) from None
        raise
    if module.select_best:
        module.net.load_state_dict(module.track["best_state"])
    module.net.cpu().eval()
    if rank == 0:
        for leftover in (last, stamp):
            leftover.unlink(missing_ok=True)
    out = {k: v for k, v in module.track.items() if k not in ("best_state", "epoch_loss")}
    out["resumed"] = resume is not None
    out["stopped_early"] = len(out["history"]) < epochs
    return out


def _resume_checkpoint(last: Path, stamp: Path, fingerprint: str, *, rank: int, hint: str) -> str | None:
    """``last`` when it is this run's checkpoint (``stamp`` holds ``fingerprint``), else ``None``; rank 0
    removes a stale one.

    Raises:
        InputError: this run's checkpoint is empty (0 bytes).
    """
    resume = None
    if last.exists():
        if stamp.is_file() and stamp.read_text() == fingerprint:
            if last.stat().st_size == 0:
                raise InputError(f"{last}: resume checkpoint is empty (0 bytes); {hint}")
            resume = str(last)
            log.info("resuming from %s", last)
        elif rank == 0:
            log.info("ignoring stale checkpoint %s (inputs or params changed)", last)
            last.unlink()
    return resume


def _loop_callbacks(
    module: TrainingModule, last: Path, loop: LoopSettings, live_dir: str | os.PathLike | None
) -> list[Any]:
    """The engine's callbacks: ``last.ckpt`` each epoch (and every N steps), early stopping, curves."""
    # one file, last.ckpt, replaced after every epoch (Lightning writes it atomically: temp file + move)
    cbs: list[Any] = [
        L.pytorch.callbacks.ModelCheckpoint(
            dirpath=last.parent,
            filename="last",
            monitor=None,
            save_top_k=1,
            every_n_epochs=1,
            enable_version_counter=False,
        )
    ]
    if loop.checkpoint_every_steps:
        cbs.append(_StepCheckpoint(last, loop.checkpoint_every_steps))
    if loop.early_stopping_patience:
        cbs.append(
            L.pytorch.callbacks.EarlyStopping(
                monitor=f"val_{module.metric}", mode="max", patience=loop.early_stopping_patience, min_delta=1e-9
            )
        )
    if live_dir:
        cbs.append(_Curves(live_dir))
    return cbs


def _quiet_lightning() -> None:
    """Lightning's per-epoch info lines and the hints that do not apply here, silenced."""
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)  # the module logs each epoch itself
    # Lightning's hints that do not apply here: a Slurm job that is not DDP, and a torch deprecation
    warnings.filterwarnings("ignore", message=r"The `srun` command is available")
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
    warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")  # fingerprint.txt


def _trainer(
    epochs: int, ckdir: Path, loop: LoopSettings, callbacks: list[Any], *, world: tuple[int, int, int]
) -> L.Trainer:
    """Lightning's ``Trainer`` on one device, or DDP over the launcher's ``world`` (rank, size, local size)."""
    # local: torch is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
    from lightning.fabric.plugins.environments import LightningEnvironment

    rank, world_size, local_world = world
    # the environment is always Lightning's own (never Slurm's task layout read as a DDP world): one
    # process, or the world the launcher exported (RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR/PORT)
    if world_size > 1:
        os.environ.setdefault("NODE_RANK", str(rank // local_world))
        strategy: Any = L.pytorch.strategies.DDPStrategy(cluster_environment=LightningEnvironment())
        devices, nodes, plugins = local_world, world_size // local_world, []
    else:
        strategy, devices, nodes, plugins = "auto", 1, 1, [LightningEnvironment()]
    return L.Trainer(
        max_epochs=epochs,
        accelerator=loop.accelerator,
        devices=devices,
        num_nodes=nodes,
        strategy=strategy,
        precision=loop.precision,
        gradient_clip_val=loop.gradient_clip_val,
        # deterministic algorithms; "warn": an op without one on a GPU warns instead of failing the run
        deterministic="warn",
        logger=False,
        callbacks=callbacks,
        enable_progress_bar=progress_enabled() and rank == 0,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        default_root_dir=str(ckdir),
        plugins=plugins,
        use_distributed_sampler=False,
    )
