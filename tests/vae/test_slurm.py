"""vae_train and vae_embed as real Slurm jobs give byte-identical outputs to in-process runs.

Skipped with the reason when Slurm does not answer, except under ``ETHOFLOW_REQUIRE_SLURM=1``.
"""

from __future__ import annotations

import pytest

from ethoflow.dispatch import run
from ethoflow.vae.embed import embed_experiments
from ethoflow.vae.params import VAEParams
from ethoflow.vae.snips import build_df02, write_df02
from ethoflow.vae.training import train_vae
from tests.vae.helpers import make_store

pytestmark = pytest.mark.slurm


def test_train_and_embed_on_slurm_match_local(in_tmp, local_and_slurm):
    store = make_store(in_tmp / "a.zarr", minutes=240)
    p = VAEParams.model_validate(
        {
            "model_name": "s",
            "snips": {"snip_len": 30, "snip_stride": 30},
            "model": {"latent_dim": 2, "hidden_dim": 8, "num_layers": 1},
            "train": {"epochs": 2},
        }
    )
    write_df02(build_df02(store, p.snips), in_tmp / "df02.parquet", None)
    outs = {}
    for kind, c in local_and_slurm.items():
        d = in_tmp / kind
        run(
            train_vae,
            str(in_tmp / "df02.parquet"),
            str(store),
            p.model_dump(),
            str(d / "model"),
            str(d / "live"),
            str(d / "train.json"),
            str(d / "ck"),
            stage="vae_train",
            compute=c,
            poll_s=0.5,
        )
        files = run(
            embed_experiments,
            d / "model" / "model.pt",
            in_tmp / "df02.parquet",
            store,
            d / "lat",
            stage="vae_embed",
            compute=c,
            poll_s=0.5,
        )
        outs[kind] = [(d / "model" / "model.pt").read_bytes(), *[f.read_bytes() for f in files]]
    assert list((in_tmp / ".ethoflow" / "jobs" / "vae_train").rglob("*_log.out")), "ran as a Slurm job"
    assert outs["slurm"] == outs["local"]
