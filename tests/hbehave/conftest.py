"""Tiny shared fixtures for hbehave tests: a demo store with 4 electrodes and a tiny model config."""

from __future__ import annotations

import pytest
import torch

from ethoflow.demo.hbehave import generate
from ethoflow.hbehave.ingest import build_store
from ethoflow.hbehave.params import DemoParams, ModelParams, TrainParams, ZarrParams

torch.set_num_threads(1)

TINY_MODEL = dict(
    input_size=[240, 1, 4],
    patch_kernel=[5, 1, 2],
    stages=[1, 1, 1],
    q_strides="4,1,1;3,1,2",
    init_embed_dim=8,
    init_num_heads=1,
    decoder_embed_dim=8,
    mask_ratio=0.5,
)


@pytest.fixture(scope="session")
def tiny_store(tmp_path_factory):
    root = tmp_path_factory.mktemp("hb_store")
    generate(DemoParams(n_cages=3, n_days=1, electrodes=4, seed=1), root / "raw")
    build_store(ZarrParams(input_dir=str(root / "raw"), val_fraction=0.34), root / "activity.zarr")
    return root / "activity.zarr"


@pytest.fixture
def tiny_params():
    return ModelParams(**TINY_MODEL), TrainParams(epochs=2, batch_size=4, window_stride_min=120, checkpoint_every=2)
