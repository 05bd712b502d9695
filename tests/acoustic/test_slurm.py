"""acoustic_train and acoustic_predict as real Slurm jobs give byte-identical outputs to in-process runs.

Skipped with the reason when Slurm does not answer, except under ``ETHOFLOW_REQUIRE_SLURM=1``.
"""

from __future__ import annotations

import pytest

from ethoflow.acoustic.params import VariantParams
from ethoflow.acoustic.predict import predict_recordings
from ethoflow.acoustic.train import train_model
from ethoflow.acoustic.variants import build_variant, write_variant
from ethoflow.core import read_json
from ethoflow.dispatch import run

pytestmark = pytest.mark.slurm


def test_train_and_predict_on_slurm_match_local(demo_index, in_tmp, local_and_slurm, tiny_features, tiny_train):
    df, vi = build_variant(demo_index, VariantParams(split="tape_exclusive", seed=1, noise_per_target=1.0), 0.4)
    write_variant(in_tmp / "v", df, vi, demo_index)
    recs = read_json(in_tmp / "v" / "variant_index.json")["recordings"]
    t = tiny_train.model_copy(update={"epochs": 1})
    outs = {}
    for kind, c in local_and_slurm.items():
        d = in_tmp / kind
        run(
            train_model,
            str(in_tmp / "v"),
            str(d / "model"),
            tiny_features,
            t,
            str(d / "ck"),
            stage="acoustic_train@v",
            compute=c,
            poll_s=0.5,
        )
        run(
            predict_recordings,
            str(d / "model" / "model.pt"),
            recs,
            0.4,
            0.2,
            str(d / "pred.parquet"),
            16,
            1,
            stage="acoustic_predict@v-default",
            compute=c,
            poll_s=0.5,
        )
        outs[kind] = [(d / "model" / "model.pt").read_bytes(), (d / "pred.parquet").read_bytes()]
    assert list((in_tmp / ".ethoflow" / "jobs" / "acoustic_train_v").rglob("*_log.out")), "ran as a Slurm job"
    assert outs["slurm"] == outs["local"]
