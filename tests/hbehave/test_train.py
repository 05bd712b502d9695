"""hbehave_train: schedule, checkpoint + exact resume, DDP with gloo on 2 CPU processes, input checks."""

from __future__ import annotations

import math

import pytest
import torch

from ethoflow.core.errors import InputError, ParamsError
from ethoflow.hbehave.params import ModelParams
from ethoflow.hbehave.store import read_normalisation, read_split
from ethoflow.hbehave.train import Windows, lr_at, train_model


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


def test_train_resume_is_exact(tiny_store, tiny_params, tmp_path):
    mp, tp = tiny_params
    full = train_model(mp, tp, tiny_store, tmp_path / "a.pt", tmp_path / "live_a", tmp_path / "ck_a")
    assert full["completed"] and full["steps"] > 3 and math.isfinite(full["train_loss"])
    assert full["parameters"] > 0 and full["flops_per_window"] > 0
    # a run "killed" after 3 steps, then resumed
    part = train_model(mp, tp, tiny_store, tmp_path / "b.pt", tmp_path / "live_b", tmp_path / "ck_b", max_steps=3)
    assert not part["completed"] and (tmp_path / "ck_b" / "last.pt").exists() and not (tmp_path / "b.pt").exists()
    rest = train_model(mp, tp, tiny_store, tmp_path / "b.pt", tmp_path / "live_b", tmp_path / "ck_b")
    assert rest["resumed_from_step"] == 3 and rest["steps"] == full["steps"]
    a = torch.load(tmp_path / "a.pt", weights_only=True)
    b = torch.load(tmp_path / "b.pt", weights_only=True)
    for k in a["state_dict"]:
        assert torch.equal(a["state_dict"][k], b["state_dict"][k]), k
    assert a["history"] == b["history"]
    assert (tmp_path / "a.pt").read_bytes() == (tmp_path / "b.pt").read_bytes()  # same bytes, killed or not
    assert not (tmp_path / "ck_b" / "last.pt").exists()  # finished runs leave no resume point
    assert (tmp_path / "live_b" / "plots" / "metrics" / "train" / "loss.tsv").read_text().count("\n") == tp.epochs + 1
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
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    import yaml

    from tests.hbehave.conftest import TINY_MODEL

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
    env = dict(
        os.environ,
        PYTHONPATH=str(repo / "src"),
        ETHOFLOW_ROOT=str(tmp_path),
        ETHOFLOW_EXECUTOR="local",
        OMP_NUM_THREADS="1",
    )
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
    ck = tmp_path / ".ethoflow" / "hbehave_train" / "last.pt"
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
