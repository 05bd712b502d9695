"""Stage ``hbehave_train``: train hBehaveMAE on windows of the activity store (plain PyTorch, DDP-ready).

- Windows of ``input_size[0]`` minutes at ``window_stride_min`` from the training cages of the store's
  split (validation cages give the validation loss); activity z-scored with the store's statistics
  (fitted on training cages), which are saved in the checkpoint and reused at extraction.
- AdamW, linear warm-up then cosine decay to ``min_lr`` (per step).
- Deterministic: window order from ``(seed, epoch)``, masks from ``(seed, step)``: a resumed run
  continues exactly as an uninterrupted one.
- Checkpoint (``last.pt`` in ``ckpt_dir``) every ``checkpoint_every`` steps and at each epoch end; a
  run finds it and resumes when its fingerprint (params, store split and statistics) matches.
- DDP (``torch.distributed``): ``nproc`` local processes (``torch.multiprocessing``) or the tasks of a
  Slurm job (submitit ``tasks_per_node``); gloo on CPU, NCCL on GPU. Each rank takes its share of
  every global batch; rank 0 writes checkpoints, DVCLive curves and the final model.
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

from ethoflow.core.errors import EthoflowError, InputError
from ethoflow.core.io import atomic_write_bytes, load_torch, to_plain, write_json
from ethoflow.core.logging import get_logger
from ethoflow.core.progress import progress
from ethoflow.hbehave.model import Architecture, HBehaveMAE, build_architecture, build_model, describe
from ethoflow.hbehave.params import ModelParams, TrainParams
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
    """``torch.save`` to memory, then an atomic write (the archive name no longer depends on the
    temporary file name, so the same payload gives the same bytes)."""
    import io

    buf = io.BytesIO()
    torch.save(payload, buf)
    atomic_write_bytes(path, buf.getvalue())


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


def _dist_env() -> tuple[int, int, int]:
    """(rank, world_size, local_rank) from torch.distributed env vars (1 process: 0, 1, 0)."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("LOCAL_RANK", 0))


def _setup_distributed() -> tuple[int, int, torch.device]:
    """Initialise the process group when WORLD_SIZE > 1 (gloo on CPU, NCCL on GPU)."""
    import torch.distributed as dist

    if int(os.environ.get("SLURM_NTASKS", "1")) > 1 and "RANK" not in os.environ:
        try:  # a multi-task Slurm job started by submitit: export MASTER_ADDR, RANK, WORLD_SIZE ...
            import submitit

            submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False)
        except Exception as exc:  # noqa: BLE001
            log.warning("could not read the Slurm task environment (%s); training in one process", exc)
    rank, world, local = _dist_env()
    if torch.cuda.is_available():
        device = torch.device("cuda", local % torch.cuda.device_count())
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", rank=rank, world_size=world)
    return rank, world, device


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
        }
    )
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
    max_steps: int | None = None,
) -> dict[str, Any]:
    """Train hBehaveMAE; write the final checkpoint ``out_model``; return the summary metrics.

    Args:
        model_params, train_params: the ``hbehave.model`` / ``hbehave.train`` params.
        store: the activity Zarr store (split and normalisation statistics in its attrs).
        out_model: final model file (weights + architecture + statistics + params).
        live_dir: DVCLive folder (``None``: no curves).
        ckpt_dir: folder of the resumable ``last.pt``.
        nproc: local DDP processes (CPU: gloo). Under a multi-task Slurm job each task is one rank.
        max_steps: stop after this many optimisation steps (tests simulate a kill with it).

    Returns:
        Summary: ``train_loss``, ``val_loss``, ``steps``, ``epochs``, ``parameters``, ``flops_per_window``,
        ``world_size``, and the run info ``seconds`` and ``resumed_from_step`` (see :func:`stable_metrics`).

    Raises:
        ParamsError: the architecture does not divide evenly.
        InputError: no training window, channel mismatch.
    """
    build_architecture(model_params)  # fail fast, before spawning anything
    args = (model_params, train_params, store, out_model, live_dir, ckpt_dir)
    kwargs = {"max_steps": max_steps}
    if nproc > 1 and int(os.environ.get("WORLD_SIZE", "1")) == 1 and int(os.environ.get("SLURM_NTASKS", "1")) == 1:
        import torch.multiprocessing as mp

        try:
            mp.spawn(_spawn_worker, args=(nproc, _free_port(), args, kwargs), nprocs=nproc, join=True)
        except mp.ProcessRaisedException as exc:  # a rank's error, as one line (the stage prints it)
            lines = [ln for ln in str(exc).strip().splitlines() if ln.strip()]
            raise EthoflowError(f"DDP training failed in a worker process: {lines[-1] if lines else exc}") from None
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


def _train(model_params, train_params, store, out_model, live_dir, ckpt_dir, max_steps=None) -> dict[str, Any]:
    import torch.distributed as dist

    t0 = time.time()
    rank, world, device = _setup_distributed()
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
    model = HBehaveMAE(arch).to(device)
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
    opt = torch.optim.AdamW(model.parameters(), lr=tp.lr, weight_decay=tp.weight_decay, betas=tuple(tp.betas))
    global_bs = tp.batch_size * world
    steps_per_epoch = max(1, math.ceil(len(train_w) / global_bs))
    total = steps_per_epoch * tp.epochs
    warmup = int(round(tp.warmup_epochs * steps_per_epoch))
    fp = fingerprint(model_params, train_params, store)
    ckpt_dir = Path(ckpt_dir)
    last = ckpt_dir / "last.pt"
    step, start_epoch, resumed_from = 0, 0, None
    epoch_losses: list[float] = []
    history: list[dict[str, float]] = []
    if last.is_file():
        from ethoflow.hbehave.records import validate_state

        ck = validate_state(load_checkpoint(last), last)
        if ck.get("fingerprint") == fp and ck.get("world_size", 1) == world:
            model.load_state_dict(ck["state_dict"])
            opt.load_state_dict(ck["optimizer"])
            step, history = int(ck["step"]), list(ck.get("history", []))
            epoch_losses = list(ck.get("epoch_losses", [])) if step % steps_per_epoch else []
            start_epoch = step // steps_per_epoch
            resumed_from = step
            if rank == 0:
                log.info("resuming from %s at step %d (epoch %d)", last, step, start_epoch + 1)
        elif rank == 0:
            log.info("ignoring %s: it belongs to other params or data", last)
    ddp = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model
    live = None
    if rank == 0 and live_dir is not None:
        from dvclive import Live

        live = Live(str(live_dir), dvcyaml=False, save_dvc_exp=False)
        for rec in history:  # a resumed run replays the finished epochs, so the curves are whole
            _log_epoch(live, rec)
    use_amp = device.type == "cuda" and torch.cuda.is_bf16_supported()

    def payload(done_step: int) -> dict[str, Any]:
        return {
            "fingerprint": fp,
            "world_size": world,
            "step": done_step,
            "history": history,
            "epoch_losses": losses,
            "state_dict": model.state_dict(),
            "optimizer": opt.state_dict(),
            "architecture": arch.to_dict(),
            "model_params": model_params.model_dump(),
            "train_params": train_params.model_dump(),
            "normalisation": stats,
            "channels": list(attrs["channels"]),
        }

    stopped = False
    losses: list[float] = []
    for epoch in range(start_epoch, tp.epochs):
        order = np.random.default_rng([tp.seed, epoch]).permutation(len(train_w))
        order = (
            np.concatenate([order, order[: steps_per_epoch * global_bs - len(order)]])
            if len(order) < steps_per_epoch * global_bs
            else order
        )
        ddp.train()
        losses = epoch_losses if epoch == start_epoch else []
        it = range(step - epoch * steps_per_epoch, steps_per_epoch)
        for b in progress(it, desc=f"epoch {epoch + 1}/{tp.epochs}", **({"disable": True} if rank else {})):
            idx = order[b * global_bs : (b + 1) * global_bs][rank::world]
            x, v = train_w.batch(list(idx), arch.input_size)
            x, v = x.to(device), v.to(device)
            for g in opt.param_groups:
                g["lr"] = lr_at(step, total, warmup, tp.lr, tp.min_lr)
            gen = torch.Generator().manual_seed(tp.seed * 1_000_003 + step * 101 + rank)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
                loss, _, _ = ddp(x, v, gen)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            lv = loss.detach().float()
            if world > 1:
                dist.all_reduce(lv)
                lv /= world
            losses.append(float(lv))
            step += 1
            if rank == 0 and step % tp.checkpoint_every == 0 and step % steps_per_epoch:  # epoch ends save below
                save_checkpoint(last, payload(step))
            if max_steps is not None and step >= max_steps:
                stopped = True
                break
        if stopped and step % steps_per_epoch != 0:
            if rank == 0:
                save_checkpoint(last, payload(step))
            break
        rec = {
            "epoch": epoch + 1,
            "train_loss": float(np.mean(losses)) if losses else float("nan"),
            "lr": lr_at(step - 1, total, warmup, tp.lr, tp.min_lr),
        }
        if rank == 0 and val_w is not None and len(val_w):
            rec["val_loss"] = evaluate(model, val_w, tp, device)
        history.append(rec)
        if rank == 0:
            log.info("epoch %d: %s", epoch + 1, {k: round(v, 5) for k, v in rec.items() if k != "epoch"})
            if live is not None:
                _log_epoch(live, rec)
            save_checkpoint(last, payload(step))
        if stopped:
            break
    summary = {
        "train_loss": history[-1]["train_loss"] if history else None,
        "val_loss": history[-1].get("val_loss") if history else None,
        "steps": step,
        "epochs": len(history),
        "completed": not stopped,
        "parameters": info["parameters"]["total"],
        "flops_per_window": info["flops_per_window"]["encoder_full"],
        "train_windows": len(train_w),
        "val_windows": len(val_w) if val_w is not None else 0,
        "seconds": round(time.time() - t0, 2),
        "world_size": world,
        "resumed_from_step": resumed_from,
    }
    if world > 1:  # DDP keeps replicas identical; check it rather than trust it
        with torch.no_grad():
            digest = torch.tensor([float(sum(p.double().sum() for p in model.parameters()))], dtype=torch.float64)
        digests = [torch.zeros_like(digest) for _ in range(world)]
        dist.all_gather(digests, digest)
        if any(float(d) != float(digests[0]) for d in digests):
            raise RuntimeError(f"DDP replicas diverged: parameter sums {[float(d) for d in digests]}")
        summary["ranks_in_sync"] = True
    if rank == 0:
        if not stopped:
            stable = stable_metrics(summary)
            save_checkpoint(
                Path(out_model), {**payload(step), "optimizer": {}, "summary": stable}
            )  # same bytes per run
            last.unlink(missing_ok=True)  # finished: the next run starts afresh
        if live is not None:
            live.end()
        write_json(ckpt_dir / "summary.json", summary)
        log.info(
            "training %s in %.1f s%s",
            "finished" if not stopped else "stopped",
            summary["seconds"],
            f" (resumed from step {resumed_from})" if resumed_from is not None else "",
        )
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return summary


def _log_epoch(live, rec: dict[str, float]) -> None:
    names = {"train_loss": "train/loss", "val_loss": "val/loss", "lr": "train/lr"}
    for k, v in rec.items():
        if k in names:
            live.log_metric(names[k], v)
    live.next_step()


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
