"""A tiny fit through ``ethoflow.core.training`` for the engine-level kill test.

Usage: python train_worker.py OUT_DIR KILL [KILL ...]   (KILL: a step number, or tSECONDS)
Imports torch and Lightning once, then forks one child per run: the uninterrupted reference, and for
each KILL_STEP a child that SIGKILLs itself right after that optimisation step (a real kill -9, at an
exact point) followed by a child that reruns the fit to its end from what the killed one left. Each run
writes ``<run>/model.pt`` (the final weights) and ``<run>/history.json``; the driver prints one JSON line
``{"kill_step": k, "killed_by": signal, "same_model": bool, "same_history": bool}`` per kill step.
Dropout and a shuffled sampler make every step draw random numbers.
"""

import json
import os
import signal
import sys

import numpy as np
import torch

from ethoflow.core.training import EpochLoader, EpochSampler, LoopSettings, TrainingModule, fit

torch.set_num_threads(1)
N, BATCH, EPOCHS = 48, 8, 4  # 6 steps per epoch, 24 in all


class Batches(torch.utils.data.Dataset):
    def __getitem__(self, idx):
        return idx


class Tiny(TrainingModule):
    def __init__(self, die_at: int | None):
        super().__init__(seed=7, metric="neg_mse")
        rng = np.random.default_rng(0)
        self.x = torch.tensor(rng.normal(size=(N, 4)), dtype=torch.float32)
        self.y = self.x.sum(1, keepdim=True) + 0.1 * torch.tensor(rng.normal(size=(N, 1)), dtype=torch.float32)
        torch.manual_seed(0)  # the initial weights, as every model's stage seeds before building its net
        self.net = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.Dropout(0.3), torch.nn.Linear(16, 1))
        self.die_at = die_at

    def training_step(self, batch, batch_idx):
        idx = torch.as_tensor(batch)
        loss = torch.nn.functional.mse_loss(self.net(self.x[idx]), self.y[idx])
        self.add_train_loss(loss, len(idx))
        return loss

    def on_train_batch_end(self, *_args):
        if self.trainer.global_step == self.die_at:
            os.kill(os.getpid(), signal.SIGKILL)

    def validate(self):
        with torch.no_grad():
            self.net.eval()
            mse = float(torch.nn.functional.mse_loss(self.net(self.x), self.y))
        return {"neg_mse": -mse}, mse

    def configure_optimizers(self):
        opt = torch.optim.SGD(self.net.parameters(), lr=0.02, momentum=0.9)
        self.plateau_scheduler(opt, factor=0.5, patience_epochs=1)
        return opt


def draw(rng, n):
    order = rng.permutation(N).tolist()
    return [order[i : i + BATCH] for i in range(0, N, BATCH)]


def train(out_dir: str, die_at: int | float | None = None) -> None:
    """One fit. ``die_at``: an int kills the process right after that optimisation step; a float kills
    it that many seconds after the fit starts (any point: inside a step, a validation, a checkpoint write)."""
    if isinstance(die_at, float):
        import threading

        threading.Timer(die_at, os.kill, (os.getpid(), signal.SIGKILL)).start()
        die_at = None
    module = Tiny(die_at)
    loader = EpochLoader(Batches(), batch_size=None, sampler=EpochSampler(N // BATCH, seed=7, draw=draw))
    os.makedirs(out_dir, exist_ok=True)
    track = fit(
        module,
        loader,
        epochs=EPOCHS,
        ckpt_dir=os.path.join(out_dir, "ck"),
        fingerprint="tiny",
        loop=LoopSettings(checkpoint_every_steps=2),
    )
    torch.save(module.net.state_dict(), os.path.join(out_dir, "model.pt"))
    with open(os.path.join(out_dir, "history.json"), "w") as fh:
        json.dump(track["history"], fh)


def in_child(fn, *args) -> int:
    """Run ``fn(*args)`` in a forked child; its wait status (0 when it returned)."""
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            fn(*args)
        except BaseException:  # noqa: BLE001 - report through the exit status
            import traceback

            traceback.print_exc()
            code = 1
        os._exit(code)
    return os.waitpid(pid, 0)[1]


def main(out: str, kill_steps: list[int | float]) -> None:
    ref = os.path.join(out, "ref")
    assert in_child(train, ref) == 0
    for k in kill_steps:
        run = os.path.join(out, f"killed_{k}")
        status = in_child(train, run, k)
        killed_by = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
        assert in_child(train, run) == 0
        same = {
            f"same_{name}": open(os.path.join(run, f), "rb").read() == open(os.path.join(ref, f), "rb").read()
            for name, f in (("model", "model.pt"), ("history", "history.json"))
        }
        print(json.dumps({"kill_step": k, "killed_by": killed_by, **same}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], [float(k[1:]) if k.startswith("t") else int(k) for k in sys.argv[2:]])
