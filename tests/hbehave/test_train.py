"""hbehave_train: schedule, checkpoint + exact resume, DDP with gloo on 2 CPU processes, input checks."""

from __future__ import annotations

import math

import pytest
import torch

from ethoflow.core.errors import InputError, ParamsError
from ethoflow.hbehave.params import ModelParams
from ethoflow.hbehave.store import read_normalisation, read_split
from ethoflow.hbehave.train import Windows, lr_at, train_model
from tests.fixtures.kill import kill_when


def test_lr_warmup_then_cosine():
    lrs = [lr_at(s, 100, 10, 1e-3, 1e-5) for s in range(100)]
    assert lrs[0] == pytest.approx(1e-4) and lrs[9] == pytest.approx(1e-3)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))
    assert lrs[55] == pytest.approx(1e-5 + 0.5 * (1e-3 - 1e-5) * (1 + math.cos(math.pi * 0.5)))
    assert lr_at(100, 100, 10, 1e-3, 1e-5) == pytest.approx(1e-5)


def test_windows_from_training_cages_only(tiny_store):
    split = read_split(tiny_store)
    w = Windows(tiny_store, split["train"], 240, 120, read_normalisation(tiny_store))
    assert {c for c, _ in w.index} <= set(split["train"])
    x, v = w.batch([0, 1], (240, 1, 4))
    assert x.shape == (2, 1, 240, 1, 4) and v.dtype == torch.bool
    assert torch.isfinite(x).all()


KILL_SCRIPT = """
import sys, time
import ethoflow.hbehave.train as hb
from ethoflow.hbehave.params import ModelParams, TrainParams
if sys.argv[5] == "slow":  # time for the test to kill the run right after its first (mid-epoch) checkpoint
    real = hb.HBehaveModule.training_step
    def slow(self, *a, **k):
        time.sleep(0.5)
        return real(self, *a, **k)
    hb.HBehaveModule.training_step = slow
mp = ModelParams.model_validate_json(sys.argv[6])
tp = TrainParams.model_validate_json(sys.argv[7])
hb.train_model(mp, tp, sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4])
"""


def test_kill_9_mid_epoch_resumes_from_the_step_checkpoint_to_the_same_bytes(tiny_store, tiny_params, tmp_path):
    """SIGKILL right after the first step checkpoint (inside epoch 1); the rerun resumes at that step and
    writes the same model bytes, history and curves as an uninterrupted run."""
    import json
    import os
    import subprocess
    import sys

    mp, tp = tiny_params
    env = dict(os.environ, ETHOFLOW_PROGRESS="0", OMP_NUM_THREADS="1")

    def start(tag, mode):
        args = [
            str(tiny_store),
            str(tmp_path / f"{tag}.pt"),
            str(tmp_path / f"live_{tag}"),
            str(tmp_path / f"ck_{tag}"),
        ]
        cmd = [sys.executable, "-c", KILL_SCRIPT, *args, mode, mp.model_dump_json(), tp.model_dump_json()]
        return subprocess.Popen(cmd, env=env)

    assert start("a", "fast").wait(timeout=300) == 0
    full = json.loads((tmp_path / "ck_a" / "summary.json").read_text())
    assert full["completed"] and full["steps"] > 3 and math.isfinite(full["train_loss"])
    assert full["parameters"] > 0 and full["flops_per_window"] > 0 and full["resumed_from_step"] is None
    steps_per_epoch = full["steps"] // tp.epochs
    assert steps_per_epoch > tp.checkpoint_every, "the first step checkpoint must fall inside epoch 1"
    proc = start("b", "slow")
    kill_when(proc, (tmp_path / "ck_b" / "last.ckpt").exists, poll_s=0.02)
    assert not (tmp_path / "b.pt").exists()
    assert start("b", "fast").wait(timeout=300) == 0
    rest = json.loads((tmp_path / "ck_b" / "summary.json").read_text())
    assert rest["resumed_from_step"] == tp.checkpoint_every and rest["steps"] == full["steps"]
    a = torch.load(tmp_path / "a.pt", weights_only=True)
    b = torch.load(tmp_path / "b.pt", weights_only=True)
    assert a["history"] == b["history"] and len(a["history"]) == tp.epochs
    assert (tmp_path / "a.pt").read_bytes() == (tmp_path / "b.pt").read_bytes()  # same bytes, killed or not
    assert not (tmp_path / "ck_b" / "last.ckpt").exists()  # finished runs leave no resume point
    for tag in ("a", "b"):
        assert (tmp_path / f"live_{tag}" / "plots" / "metrics" / "train" / "loss.tsv").read_text().count(
            "\n"
        ) == tp.epochs + 1
    assert a["normalisation"] == read_normalisation(tiny_store)


def test_ddp_gloo_two_processes(tiny_store, tiny_params, tmp_path):
    mp, tp = tiny_params
    out = train_model(
        mp, tp.model_copy(update={"epochs": 1}), tiny_store, tmp_path / "m.pt", None, tmp_path / "ck", nproc=2
    )
    assert out["world_size"] == 2 and out["ranks_in_sync"] and out["completed"]
    ck = torch.load(tmp_path / "m.pt", weights_only=True)
    assert ck["world_size"] == 2 and math.isfinite(ck["history"][0]["train_loss"])


def test_channel_mismatch_and_bad_architecture(tiny_store, tiny_params, tmp_path):
    mp, tp = tiny_params
    bad = ModelParams(
        **{**mp.model_dump(), "input_size": [240, 1, 12], "patch_kernel": [5, 1, 12], "q_strides": "4,1,1;3,1,1"}
    )
    with pytest.raises(InputError, match="4 channels"):
        train_model(bad, tp, tiny_store, tmp_path / "m.pt", None, tmp_path / "ck")
    with pytest.raises(ParamsError, match="divisible"):
        train_model(
            ModelParams(**{**mp.model_dump(), "input_size": [245, 1, 4]}),
            tp,
            tiny_store,
            tmp_path / "m.pt",
            None,
            tmp_path / "ck",
        )


def test_ddp_worker_error_is_one_clear_line(tiny_store, tiny_params, tmp_path):
    from ethoflow.core.errors import EthoflowError

    mp, tp = tiny_params
    # windows longer than any cage: every rank fails with InputError
    long = ModelParams(**{**mp.model_dump(), "input_size": [2880, 1, 4]})
    with pytest.raises(EthoflowError, match="no training window of 2880 minutes"):
        train_model(long, tp, tiny_store, tmp_path / "m.pt", None, tmp_path / "ck", nproc=2)


def test_stage_resumes_after_kill(tiny_store, tmp_path):
    """SIGKILL the hbehave_train stage mid-run; running it again resumes from the last checkpoint."""
    import json
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    import yaml

    from tests.hbehave.conftest import TINY_MODEL
    from tests.stage_args import stage_env

    repo = Path(__file__).resolve().parents[2]
    (tmp_path / "params.yaml").write_text(
        yaml.safe_dump(
            {
                "hbehave": {
                    "model": TINY_MODEL,
                    "train": {"epochs": 10, "batch_size": 2, "window_stride_min": 240, "checkpoint_every": 5},
                }
            }
        )
    )
    env = stage_env(tmp_path)
    cmd = [
        sys.executable,
        str(repo / "stages" / "hbehave_train.py"),
        "--params",
        "params.yaml",
        "--store",
        str(tiny_store),
        "--out",
        "m.pt",
        "--live",
        "live",
        "--summary",
        "train.json",
        "--metrics",
        "headline.json",
        "--curves",
        "loss.csv",
    ]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ck = tmp_path / ".ethoflow" / "hbehave_train" / "last.ckpt"
    deadline = time.time() + 120
    while not ck.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    assert proc.poll() is None, "training finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert ck.exists() and not (tmp_path / "m.pt").exists()
    res = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    out = json.loads((tmp_path / "train.json").read_text())
    run = json.loads((ck.parent / "summary.json").read_text())  # the run's own record, not a DVC metric
    assert out["completed"] and 0 < run["resumed_from_step"] < out["steps"] == run["steps"]
    assert "resumed_from_step" not in out and "seconds" not in out, "run info must stay out of the metrics"
    assert "resumed from step" in res.stderr
    assert set(json.loads((tmp_path / "headline.json").read_text())) == {"loss"}
    assert (tmp_path / "m.pt").exists() and not ck.exists()
