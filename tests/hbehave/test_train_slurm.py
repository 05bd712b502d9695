"""DDP training as one Slurm job with 2 tasks (submitit tasks_per_node=2, gloo on CPU).

Skipped with the reason when Slurm does not answer, except under ``ETHOFLOW_REQUIRE_SLURM=1``.
"""

from __future__ import annotations

import pytest
import torch

from ethoflow.dispatch import ComputeParams, StageResources, run
from ethoflow.hbehave.train import train_model

pytestmark = pytest.mark.slurm


def test_ddp_two_slurm_tasks(tiny_store, tiny_params, in_tmp):
    mp, tp = tiny_params
    compute = ComputeParams(
        executor="slurm", default=StageResources(cpus=1, mem_gb=2, timeout_min=10, tasks_per_node=2)
    )
    out = run(
        train_model,
        mp,
        tp.model_copy(update={"epochs": 1}),
        str(tiny_store),
        str(in_tmp / "m.pt"),
        None,
        str(in_tmp / "ck"),
        stage="hbehave_train",
        compute=compute,
        poll_s=0.5,
    )
    assert out["world_size"] == 2 and out["ranks_in_sync"] and out["completed"]
    ck = torch.load(in_tmp / "m.pt", weights_only=True)
    assert ck["world_size"] == 2
