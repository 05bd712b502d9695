"""Stage ``hbehave_train``: train hBehaveMAE on windows of the activity store, on ethoflow's engine.

- Windows of ``input_size[0]`` minutes at ``window_stride_min`` from the training cages of the store's
  split (validation cages give the validation loss); activity z-scored with the store's statistics
  (fitted on training cages), which are saved in the checkpoint and reused at extraction.
- AdamW, linear warm-up then cosine decay to ``min_lr`` (per step); bf16 autocast on a GPU that has it.
- Trained by :func:`ethoflow.core.training.fit` (PyTorch Lightning): ``last.ckpt`` in ``ckpt_dir``
  every ``checkpoint_every`` steps and at each epoch end, resumed when its fingerprint (code, params,
  store split and statistics, world size) matches. Deterministic: window order from ``(seed, epoch)``,
  masks from ``(seed, step, rank)``, so a run killed anywhere (kill -9 included, mid-epoch too) resumes
  to the same bytes as an uninterrupted one. The final weights are the last epoch's.
- DDP: ``nproc`` local processes (``torch.multiprocessing``) or the tasks of a Slurm job (submitit
  ``tasks_per_node``) export the world to the environment; each calls ``fit``, which joins them with
  Lightning's DDP strategy (gloo on CPU, NCCL on GPU). Each rank takes its share of every global
  batch; rank 0 writes checkpoints, DVCLive curves and the final model.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import socket
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ethoflow.core import numerics
from ethoflow.core.errors import EthoflowError, InputError
from ethoflow.core.io import load_torch, save_torch, to_plain
from ethoflow.core.logging import get_logger
from ethoflow.core.records import write_record
from ethoflow.core.training import EpochLoader, EpochSampler, LoopSettings, TrainingModule, adam, ddp_world, fit
from ethoflow.hbehave.model import Architecture, HBehaveMAE, build_architecture, build_model, describe
from ethoflow.hbehave.params import ModelParams, TrainParams
from ethoflow.hbehave.records import TrainSummary
from ethoflow.hbehave.store import list_cages, normalise, read_cage, read_normalisation, read_split, read_store_attrs

log = get_logger(__name__)


# --------------------------------------------------------------------------- data


class Windows:
    """Fixed-length windows of normalised activity from some cages of a store (held in memory).

    Attributes:
        index: list of ``(cage_id, start_minute)``.
        cages: ``cage_id -> (x float32 (M, C) normalised, valid bool (M, C))``.
    """

    def __init__(
        self,
        store: str | os.PathLike,
        cage_ids: list[str],
        length: int,
        stride: int,
        stats: dict[str, Any],
        min_valid_fraction: float = 0.0,
        max_windows: int | None = None,
    ):
        self.length = length
        self.cages: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.index: list[tuple[str, int]] = []
        self.skipped: dict[str, str] = {}
        for cid in cage_ids:
            rec = read_cage(store, cid)
            x = normalise(rec.activity, rec.valid, stats)
            self.cages[cid] = (x, rec.valid)
            m = rec.n_minutes
            if m < length:
                self.skipped[cid] = f"{m} minutes < window {length}"
                continue
            starts = list(range(0, m - length + 1, stride))
            n_before = len(self.index)
            for s in starts:
                if rec.valid[s : s + length].mean() >= min_valid_fraction:
                    self.index.append((cid, s))
            if len(self.index) == n_before:
                self.skipped[cid] = "no window with enough valid data"
        if max_windows is not None and len(self.index) > max_windows:
            sel = np.random.default_rng(0).choice(len(self.index), max_windows, replace=False)
            self.index = [self.index[i] for i in sorted(sel)]

    def __len__(self) -> int:
        return len(self.index)

    def batch(self, idx: list[int], shape: tuple[int, int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Windows ``idx`` as ``(x (B, 1, T, H, W) float32, valid (B, 1, T, H, W) bool)``."""
        xs, vs = [], []
        for i in idx:
            cid, s = self.index[i]
            x, v = self.cages[cid]
            xs.append(x[s : s + self.length])
            vs.append(v[s : s + self.length])
        T, H, W = shape
        x = torch.from_numpy(np.stack(xs)).reshape(len(idx), 1, T, H, W)
        v = torch.from_numpy(np.stack(vs)).reshape(len(idx), 1, T, H, W)
        return x, v


def check_channels(arch: Architecture, n_channels: int, where: str) -> None:
    """The store's channels must fill the model's (H, W) input.

    Raises:
        InputError: ``H * W`` differs from the store's channel count.
    """
    _, H, W = arch.input_size
    if H * W != n_channels:
        raise InputError(
            f"{where}: store has {n_channels} channels but hbehave.model.input_size has H*W = {H}*{W} = {H * W}"
        )


# --------------------------------------------------------------------------- schedule / checkpoint


def lr_at(step: int, total: int, warmup: int, lr: float, min_lr: float) -> float:
    """Linear warm-up for ``warmup`` steps, then cosine decay from ``lr`` to ``min_lr`` at ``total``."""
    if warmup > 0 and step < warmup:
        return lr * (step + 1) / warmup
    frac = (step - warmup) / max(1, total - warmup)
    return min_lr + 0.5 * (lr - min_lr) * (1 + math.cos(math.pi * min(1.0, frac)))


def fingerprint(model: ModelParams, train: TrainParams, store: str | os.PathLike) -> str:
    """Hash of everything a checkpoint depends on (resume only when it matches)."""
    attrs = read_store_attrs(store)
    code = hashlib.sha256()
    for mod in ("model.py", "train.py"):  # a checkpoint of other code is not resumed
        code.update((Path(__file__).parent / mod).read_bytes())
    blob = json.dumps(
        to_plain(
            {
                "code": code.hexdigest(),
                "model": model,
                "train": train,
                "split": attrs.get("split"),
                "norm": attrs.get("normalisation"),
                "cages": list_cages(store),
                "ingest": attrs.get("ingest_report"),
            }
        ),
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """``torch.save`` to memory, then an atomic write (:func:`ethoflow.core.io.save_torch`: the same
    payload gives the same bytes)."""
    save_torch(path, payload)


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint (``weights_only``: plain tensors and types, no arbitrary pickles).

    Raises:
        InputError: missing or unreadable file.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: checkpoint not found (run hbehave_train first)")
    try:
        return load_torch(path, "checkpoint", map_location="cpu", weights_only=True)
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - any unpickling error is a bad input file
        raise InputError(f"{path}: unreadable checkpoint: {exc}") from None


# --------------------------------------------------------------------------- distributed


def _export_slurm_world() -> None:
    """A multi-task Slurm job started by submitit: export its world (MASTER_ADDR, RANK, WORLD_SIZE,
    LOCAL_RANK, LOCAL_WORLD_SIZE) for :func:`ethoflow.core.training.fit`'s DDP strategy."""
    if int(os.environ.get("SLURM_NTASKS", "1")) > 1 and "RANK" not in os.environ:
        try:
            # local: submitit is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
            import submitit

            submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False)
        except Exception as exc:  # noqa: BLE001
            log.warning("could not read the Slurm task environment (%s); training in one process", exc)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _spawn_worker(local_rank: int, nproc: int, port: int, args: tuple, kwargs: dict) -> None:
    os.environ.update(
        {
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
            "RANK": str(local_rank),
            "WORLD_SIZE": str(nproc),
            "LOCAL_RANK": str(local_rank),
            "LOCAL_WORLD_SIZE": str(nproc),
        }
    )
    # the stage's compute mode (oneDNN and NNPACK off in portable mode) with this rank's thread count
    numerics.apply_inherited(max(1, int(os.environ.get("ETHOFLOW_THREADS_PER_RANK", "1"))))
    torch.set_num_threads(max(1, int(os.environ.get("ETHOFLOW_THREADS_PER_RANK", "1"))))
    _train(*args, **kwargs)


# --------------------------------------------------------------------------- training


def train_model(
    model_params: ModelParams,
    train_params: TrainParams,
    store: str | os.PathLike,
    out_model: str | os.PathLike,
    live_dir: str | os.PathLike | None,
    ckpt_dir: str | os.PathLike,
    nproc: int = 1,
) -> dict[str, Any]:
    """Train hBehaveMAE; write the final checkpoint ``out_model``; return the summary metrics.

    Args:
        model_params, train_params: the ``hbehave.model`` / ``hbehave.train`` params.
        store: the activity Zarr store (split and normalisation statistics in its attrs).
        out_model: final model file (weights + architecture + statistics + params).
        live_dir: DVCLive folder (``None``: no curves).
        ckpt_dir: folder of the resumable ``last.ckpt`` (and the run's ``summary.json``).
        nproc: local DDP processes (CPU: gloo). Under a multi-task Slurm job each task is one rank.

    Returns:
        Summary: ``train_loss``, ``val_loss``, ``steps``, ``epochs``, ``parameters``, ``flops_per_window``,
        ``world_size``, and the run info ``seconds`` and ``resumed_from_step`` (see :func:`stable_metrics`).

    Raises:
        ParamsError: the architecture does not divide evenly.
        InputError: no training window, channel mismatch, a corrupt resume checkpoint.
    """
    build_architecture(model_params)  # fail fast, before spawning anything
    args = (model_params, train_params, store, out_model, live_dir, ckpt_dir)
    kwargs: dict[str, Any] = {}
    if nproc > 1 and int(os.environ.get("WORLD_SIZE", "1")) == 1 and int(os.environ.get("SLURM_NTASKS", "1")) == 1:
        # local: torch is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
        import torch.multiprocessing as mp

        try:
            mp.spawn(_spawn_worker, args=(nproc, _free_port(), args, kwargs), nprocs=nproc, join=True)
        except mp.ProcessRaisedException as exc:  # a rank's error, as one line (the stage prints it)
            lines = [ln for ln in str(exc).strip().splitlines() if ln.strip()]
            raise EthoflowError(f"DDP training failed in a worker process: {lines[-1] if lines else exc}") from None
        # local: imported only on the branch that needs it
        from ethoflow.hbehave.records import read_train_summary

        return read_train_summary(Path(ckpt_dir) / "summary.json")
    return _train(*args, **kwargs)


#: summary keys that describe one run rather than its result (wall time, where a resumed run began);
#: logged, kept in the run's ``summary.json`` under ``.ethoflow/``, left out of DVC metrics so that
#: a rerun or a resumed run writes the same metrics file.
RUN_INFO_KEYS = ("seconds", "resumed_from_step")


def headline_metrics(summary: dict[str, Any]) -> dict[str, Any]:
    """The numbers a reviewer compares (``metrics/hbehave.json``): the final epoch's masked-reconstruction
    loss on the training and validation windows (``val`` left out when no validation cage exists)."""
    loss = {k: summary[f"{k}_loss"] for k in ("train", "val") if summary.get(f"{k}_loss") is not None}
    return {"loss": loss}


def stable_metrics(summary: dict[str, Any]) -> dict[str, Any]:
    """``summary`` without :data:`RUN_INFO_KEYS`: the same inputs and params give the same dict."""
    return {k: v for k, v in summary.items() if k not in RUN_INFO_KEYS}


def _batch_draw(n_windows: int, steps_per_epoch: int, global_bs: int, rank: int, world: int):
    """Per epoch (for :class:`~ethoflow.core.training.EpochSampler`): the windows in a random order
    (topped up from its start to whole global batches), this rank's share of each global batch."""

    def draw(rng: np.random.Generator, n: int) -> list[list[int]]:
        order = rng.permutation(n_windows)
        if len(order) < steps_per_epoch * global_bs:
            order = np.concatenate([order, order[: steps_per_epoch * global_bs - len(order)]])
        return [order[b * global_bs : (b + 1) * global_bs][rank::world].tolist() for b in range(n)]

    return draw


class _Batches:
    """Training batches (``batch_size=None`` loader): window indices -> ``(x, valid)`` (B, 1, T, H, W)."""

    def __init__(self, windows: Windows, shape: tuple[int, int, int]):
        self.windows, self.shape = windows, shape

    def __getitem__(self, idx: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        return self.windows.batch(idx, self.shape)


class HBehaveModule(TrainingModule):
    """hBehaveMAE's Lightning module: masked reconstruction with masks from ``(seed, step, rank)``, AdamW
    with the per-step warm-up + cosine learning rate (:func:`lr_at`, set before every step from the
    global step, so a mid-epoch resume continues the schedule exactly), validation loss on fixed masks.
    The final weights are the last epoch's (``select_best = False``)."""

    select_best = False

    def __init__(self, model: HBehaveMAE, tp: TrainParams, val: Windows | None, total: int, warmup: int):
        super().__init__(tp.seed, "neg_loss")
        self.net, self.tp, self.val, self.total, self.warmup = model, tp, val, total, warmup
        self.rank, self.world = ddp_world()[:2]
        self.started_at_step = 0

    def on_train_start(self) -> None:  # after Lightning restored a checkpoint: where this run begins
        self.started_at_step = self.global_step

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], _idx: int) -> torch.Tensor:
        # local: torch is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
        import torch.distributed as dist

        tp, step = self.tp, self.global_step
        for g in self.trainer.optimizers[0].param_groups:
            g["lr"] = lr_at(step, self.total, self.warmup, tp.lr, tp.min_lr)
        x, v = batch
        gen = torch.Generator().manual_seed(tp.seed * 1_000_003 + step * 101 + self.rank)
        loss, _, _ = self.net(x, v, gen)
        lv = loss.detach().float().clone()
        if self.world > 1:
            dist.all_reduce(lv)
            lv /= self.world
        self.add_train_loss(lv, 1)  # the epoch's train_loss: the mean of its steps' (rank-mean) losses
        return loss

    def validate(self) -> tuple[dict[str, float], float]:
        if self.val is None or not len(self.val):
            return {}, math.nan
        return {}, evaluate(self.net, self.val, self.tp, self.device)

    def epoch_record(self) -> dict[str, Any]:
        total, n = self.track["epoch_loss"]
        rec = {"train_loss": total / n if n else float("nan"), "lr": self.trainer.optimizers[0].param_groups[0]["lr"]}
        _, val_loss = self.validate()
        return rec if math.isnan(val_loss) else {**rec, "val_loss": val_loss}

    def monitor_value(self, rec: dict[str, Any]) -> float:
        return -float(rec.get("val_loss", rec["train_loss"]))

    def log_values(self, rec: dict[str, Any]) -> dict[str, float]:
        names = {"train_loss": "train/loss", "val_loss": "val/loss", "lr": "train/lr"}
        return {names[k]: float(v) for k, v in rec.items() if k in names}

    def configure_optimizers(self) -> torch.optim.Optimizer:
        tp = self.tp
        return adam(self.net.parameters(), lr=tp.lr, weight_decay=tp.weight_decay, betas=tp.betas, decoupled=True)

    def on_train_end(self) -> None:
        if self.world > 1:  # DDP keeps replicas identical; check it rather than trust it
            # local: torch is slow to import (see tests/test_structure.py HEAVY_IMPORTS)
            import torch.distributed as dist

            with torch.no_grad():
                total = float(sum(p.double().sum() for p in self.net.parameters()))
            digest = torch.tensor([total], dtype=torch.float64, device=self.device)  # NCCL: on the rank's GPU
            digests = [torch.zeros_like(digest) for _ in range(self.world)]
            dist.all_gather(digests, digest)
            if any(float(d) != float(digests[0]) for d in digests):
                raise RuntimeError(f"DDP replicas diverged: parameter sums {[float(d) for d in digests]}")
            self.track["ranks_in_sync"] = True


def _train(model_params, train_params, store, out_model, live_dir, ckpt_dir) -> dict[str, Any]:
    t0 = time.time()
    _export_slurm_world()
    rank, world, _ = ddp_world()
    tp: TrainParams = train_params
    arch = build_architecture(model_params)
    attrs = read_store_attrs(store)
    check_channels(arch, len(attrs["channels"]), str(store))
    stats = read_normalisation(store)
    split = read_split(store)
    T = arch.input_size[0]
    train_w = Windows(store, split["train"], T, tp.window_stride_min, stats, tp.min_valid_fraction, tp.max_windows)
    if len(train_w) == 0:
        raise InputError(f"{store}: no training window of {T} minutes (cages: {train_w.skipped})")
    val_w = (
        Windows(store, split["val"], T, tp.window_stride_min, stats, tp.min_valid_fraction) if split["val"] else None
    )
    for cid, why in train_w.skipped.items():
        log.warning("cage %s gives no training window: %s", cid, why)

    torch.manual_seed(tp.seed)
    model = HBehaveMAE(arch)
    info = describe(build_model(arch, "meta"))
    if rank == 0:
        log.info(
            "hBehaveMAE: %s parameters (encoder %s, decoder %s); FLOPs per window: encoder %.3g, train forward %.3g",
            f"{info['parameters']['total']:,}",
            f"{info['parameters']['encoder']:,}",
            f"{info['parameters']['decoder']:,}",
            info["flops_per_window"]["encoder_full"],
            info["flops_per_window"]["train_step_forward"],
        )
        print(
            f"hBehaveMAE parameters: {info['parameters']['total']:,}; FLOPs per window (encoder, full window): "
            f"{info['flops_per_window']['encoder_full']:,}",
            flush=True,
        )
    global_bs = tp.batch_size * world
    steps_per_epoch = max(1, math.ceil(len(train_w) / global_bs))
    warmup = int(round(tp.warmup_epochs * steps_per_epoch))
    module = HBehaveModule(model, tp, val_w, steps_per_epoch * tp.epochs, warmup)
    sampler = EpochSampler(steps_per_epoch, tp.seed, _batch_draw(len(train_w), steps_per_epoch, global_bs, rank, world))
    loader = EpochLoader(_Batches(train_w, arch.input_size), batch_size=None, sampler=sampler)
    ckpt_dir = Path(ckpt_dir)
    bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    tr = fit(
        module,
        loader,
        epochs=tp.epochs,
        ckpt_dir=ckpt_dir,
        fingerprint=f"{fingerprint(model_params, train_params, store)}-world{world}",
        loop=LoopSettings(checkpoint_every_steps=tp.checkpoint_every, precision="bf16-mixed" if bf16 else None),
        live_dir=live_dir if rank == 0 else None,
    )
    history = tr["history"]
    steps = module.trainer.global_step
    resumed_from = module.started_at_step if tr["resumed"] else None
    summary = {
        "train_loss": history[-1]["train_loss"] if history else None,
        "val_loss": history[-1].get("val_loss") if history else None,
        "steps": steps,
        "epochs": len(history),
        "completed": len(history) == tp.epochs,
        "parameters": info["parameters"]["total"],
        "flops_per_window": info["flops_per_window"]["encoder_full"],
        "train_windows": len(train_w),
        "val_windows": len(val_w) if val_w is not None else 0,
        "seconds": round(time.time() - t0, 2),
        "world_size": world,
        "resumed_from_step": resumed_from,
    }
    if world > 1:
        summary["ranks_in_sync"] = bool(tr.get("ranks_in_sync"))
    if rank == 0:
        payload = {
            "fingerprint": fingerprint(model_params, train_params, store),
            "world_size": world,
            "step": steps,
            "history": history,
            "state_dict": model.state_dict(),
            "architecture": arch.to_dict(),
            "model_params": model_params.model_dump(),
            "train_params": train_params.model_dump(),
            "normalisation": stats,
            "channels": list(attrs["channels"]),
            "summary": stable_metrics(summary),
        }
        save_checkpoint(Path(out_model), payload)  # same bytes per run
        write_record(ckpt_dir / "summary.json", TrainSummary(**summary))
        log.info(
            "training finished in %.1f s%s",
            summary["seconds"],
            f" (resumed from step {resumed_from})" if resumed_from is not None else "",
        )
    return summary


@torch.no_grad()
def evaluate(model: HBehaveMAE, windows: Windows, tp: TrainParams, device: torch.device) -> float:
    """Mean masked-reconstruction loss over ``windows`` with fixed masks (seeded by ``tp.seed``)."""
    model.eval()
    gen = torch.Generator().manual_seed(tp.seed + 999)
    tot, n = 0.0, 0
    for b in range(0, len(windows), tp.batch_size):
        idx = list(range(b, min(len(windows), b + tp.batch_size)))
        x, v = windows.batch(idx, model.arch.input_size)
        loss, _, _ = model(x.to(device), v.to(device), gen)
        tot += float(loss) * len(idx)
        n += len(idx)
    model.train()
    return tot / max(n, 1)
