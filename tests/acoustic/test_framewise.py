"""The framewise detector: frame labels, one-pass prediction that chunking does not change, training
through Lightning with DVCLive curves, and a run killed with SIGKILL that resumes to the same bytes."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from ethoflow.acoustic.data.variants import build_variant, write_variant
from ethoflow.acoustic.models.framewise import (
    FramewiseNet,
    frame_labels,
    frames_to_cells,
    load_framewise,
    predict_frames,
)
from ethoflow.acoustic.params import FeatureParams, FramewiseParams, TrainParams, VariantParams
from ethoflow.acoustic.training.framewise_training import train_framewise
from ethoflow.core import read_json, write_json
from tests.fixtures.kill import resume_matches_uninterrupted_run, sha256

from .conftest import TINY_FEATURES

TINY_FW = dict(width=2, hidden=8, temporal_layers=3, chunk_s=2.0, dropout=0.1)
TINY_FW_TRAIN = dict(
    epochs=3, batch_size=4, num_threads=1, lr_patience_epochs=1, arch="framewise", framewise=TINY_FW
)  # lr_patience 1: the learning rate decays within the run, so resume must restore the scheduler too


@pytest.fixture
def fw_variant(demo_index, tmp_path):
    df, vi = build_variant(demo_index, VariantParams(split="tape_exclusive", seed=1, noise_per_target=1.0), 0.4)
    write_variant(tmp_path / "v", df, vi, demo_index)
    write_json(tmp_path / "corpus_index.json", demo_index)
    return tmp_path / "v", tmp_path / "corpus_index.json"


def test_a_frame_is_a_call_frame_when_its_centre_lies_in_an_event():
    f = FeatureParams(**TINY_FEATURES)  # hop 256 at 16 kHz: frame k centred at k * 16 ms
    y = frame_labels(10, [(0.040, 0.090, 1)], f)
    assert y.tolist() == [0, 0, 0, 1, 1, 1, 0, 0, 0, 0]  # centres 48, 64, 80 ms


def test_chunked_prediction_equals_one_pass_over_the_whole_spectrogram():
    torch.manual_seed(0)
    model = FramewiseNet(32, 2, FramewiseParams(**TINY_FW)).eval()
    power = np.random.default_rng(0).random((32, 700)).astype(np.float32)
    whole = predict_frames(model, power, chunk_frames=10_000)
    chunked = predict_frames(model, power, chunk_frames=64)
    assert whole.shape == (700, 2)
    np.testing.assert_allclose(chunked, whole, atol=1e-5)
    assert model.context_frames() == 4 + 1 + 2 + 4


def test_frames_pool_into_cells_of_hop_seconds_that_tile_the_recording():
    f = FeatureParams(**TINY_FEATURES)
    probs = np.zeros((63, 2))  # 1 s at 16 ms frames
    probs[:, 0] = 1.0
    probs[20:30] = [0.0, 1.0]  # frames 20..29: 320..464 ms
    cells = frames_to_cells(probs, f, duration_s=1.0, hop_s=0.05)
    assert len(cells) == 20 and cells.start_s.iloc[-1] == pytest.approx(0.95) and cells.end_s.iloc[-1] == 1.0
    hot = cells[cells.prob > 0.5]
    # cell 0.30 holds frames 19-20 (2 of 3 call frames), 0.45 holds 29-31 (1 of 3): mean over the cell
    assert hot.start_s.round(3).tolist() == [0.3, 0.35, 0.4]
    assert cells.prob.iloc[9] == pytest.approx(1 / 3)
    assert np.all(np.isfinite(cells.logit))


def test_training_writes_the_model_its_summary_and_dvclive_curves(fw_variant, tmp_path, tiny_features):
    vdir, corpus = fw_variant
    t = TrainParams(**TINY_FW_TRAIN)
    s = train_framewise(vdir, corpus, tmp_path / "m", tiny_features, t, tmp_path / "ck", live_dir=tmp_path / "live")
    assert s["arch"] == "framewise" and s["epochs_run"] == 3 and 1 <= s["best_epoch"] <= 3
    assert set(s["scores"]) == {"train", "val", "test"} and s["n_frames"]["train"] > 0
    ck = torch.load(tmp_path / "m" / "model.pt", weights_only=False)
    assert ck["arch"] == "framewise" and ck["classes"] == read_json(vdir / "variant_index.json")["classes"]
    model = load_framewise(ck)
    assert float(model.scale_std.min()) > 0 and not torch.all(model.scale_mean == 0), "scaler fitted on train frames"
    assert [r["epoch"] for r in read_json(tmp_path / "m" / "history.json")] == [1, 2, 3]
    curves = (tmp_path / "live" / "plots" / "metrics" / "val" / "f1.tsv").read_text().splitlines()
    assert len(curves) == 4, curves  # header + 3 epochs
    assert not (tmp_path / "ck" / "last.ckpt").exists(), "the resume checkpoint is removed at the end"


TRAIN_SCRIPT = """
import sys, time
import ethoflow.acoustic.training.framewise_training as fw
from ethoflow.acoustic.params import FeatureParams, TrainParams
slow = sys.argv[5] == "slow"
if slow:  # give the test time to kill the run after its first checkpoint
    real = fw._evaluate
    def slow_eval(*a, **k):
        time.sleep(1.0)
        return real(*a, **k)
    fw._evaluate = slow_eval
feat = FeatureParams(**{feat!r})
t = TrainParams(**{train!r})
fw.train_framewise(sys.argv[1], sys.argv[2], sys.argv[3], feat, t, sys.argv[4])
"""


def test_kill_9_during_training_resumes_to_the_same_model_bytes(fw_variant, tmp_path, tiny_features):
    vdir, corpus = fw_variant
    train = dict(TINY_FW_TRAIN, epochs=4)
    script = TRAIN_SCRIPT.format(feat=TINY_FEATURES, train=train)
    env = dict(os.environ, ETHOFLOW_PROGRESS="0")

    def run(out, ck, mode):
        return subprocess.Popen(
            [sys.executable, "-c", script, str(vdir), str(corpus), str(out), str(ck), mode], env=env
        )

    summary, _ = resume_matches_uninterrupted_run(run, tmp_path)
    assert summary["resumed"] and summary["epochs_run"] == 4


def test_same_inputs_and_params_give_byte_identical_models(fw_variant, tmp_path, tiny_features):
    vdir, corpus = fw_variant
    t = TrainParams(**dict(TINY_FW_TRAIN, epochs=2))
    for name in ("a", "b"):
        train_framewise(vdir, corpus, tmp_path / name, tiny_features, t, tmp_path / f"ck_{name}")
    assert sha256(tmp_path / "a" / "model.pt") == sha256(tmp_path / "b" / "model.pt")


def test_a_framewise_variant_trains_and_predicts_through_the_stages(fw_variant, tmp_path, monkeypatch):
    """acoustic_train@<v> with the variant's ``arch: framewise``, then acoustic_predict@<v>-default: cells of
    hop_s seconds in the window-prediction layout (evaluation, RF and detection read either)."""
    import pandas as pd

    from ethoflow.acoustic.params import AcousticParams
    from ethoflow.acoustic.stages import run_acoustic_predict, run_acoustic_train

    vdir, corpus = fw_variant
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ETHOFLOW_EXECUTOR", "local")
    (tmp_path / "params.yaml").write_text("compute: {executor: local}\n")  # dispatch reads the compute section
    cfg = AcousticParams(
        variants={"fw": {"arch": "framewise"}},
        features=TINY_FEATURES,
        train=dict(TINY_FW_TRAIN, arch="resnet", epochs=1),  # the variant's arch wins
        predict={"settings": {"default": {"seq_len_s": 0.4, "hop_s": 0.1}}, "num_threads": 1},
    )
    summary = run_acoustic_train(cfg, variant="fw", variant_dir=vdir, corpus_index=corpus, out=tmp_path / "m")
    assert (
        summary["arch"] == "framewise"
        and torch.load(tmp_path / "m" / "model.pt", weights_only=False)["arch"] == "framewise"
    )
    run_acoustic_predict(
        cfg,
        variant="fw",
        setting="default",
        model=tmp_path / "m" / "model.pt",
        variant_index=vdir / "variant_index.json",
        out=tmp_path / "p",
    )
    pred = pd.read_parquet(tmp_path / "p" / "predictions.parquet")
    assert list(pred.columns) == ["tape", "recording", "start_s", "end_s", "prob", "logit", "label"]
    one = pred[pred.recording == pred.recording.iloc[0]]
    assert np.allclose(np.diff(one.start_s), 0.1) and np.allclose((one.end_s - one.start_s).iloc[:-1], 0.1)
