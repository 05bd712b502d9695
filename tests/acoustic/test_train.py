"""Training: tiny run writes model + summary + DVCLive; a kill -9'd run resumes to the same bytes."""

import hashlib
import os
import subprocess
import sys

import pytest
import torch

from ethoflow.acoustic.data.variants import build_variant, write_variant
from ethoflow.acoustic.frontend.spectrogram import window_starts
from ethoflow.acoustic.inference.predict import predict_recordings
from ethoflow.acoustic.params import PredictSetting, VariantParams
from ethoflow.acoustic.training.train import load_model, train_model
from ethoflow.core import read_json
from tests.fixtures.kill import kill_when


@pytest.fixture
def variant_dir(demo_index, tmp_path):
    df, vi = build_variant(demo_index, VariantParams(split="tape_exclusive", seed=1, noise_per_target=1.0), 0.4)
    write_variant(tmp_path / "v", df, vi, demo_index)
    return tmp_path / "v"


def test_train_writes_model_summary_and_dvclive(variant_dir, tmp_path, tiny_features, tiny_train):
    s = train_model(
        str(variant_dir),
        str(tmp_path / "m"),
        tiny_features,
        tiny_train,
        str(tmp_path / "ck"),
        live_dir=str(tmp_path / "live"),
    )
    assert s["epochs_run"] == 2 and 1 <= s["best_epoch"] <= 2 and not s["resumed"]
    assert set(s["scores"]) == {"train", "val", "test"}
    assert (tmp_path / "live" / "metrics.json").exists()
    assert (tmp_path / "live" / "plots" / "metrics" / "val" / "f1.tsv").read_text().count(
        "\n"
    ) == 3  # header + 2 epochs
    assert not (tmp_path / "ck" / "last.ckpt").exists()  # removed after success
    model, meta = load_model(tmp_path / "m" / "model.pt")
    assert meta["classes"] == ["target"] and meta["features"]["n_freq_bins"] == 32
    assert read_json(tmp_path / "m" / "train_summary.json")["best_epoch"] == s["best_epoch"]


KILL_SCRIPT = """
import sys, time
import ethoflow.acoustic.training.train as train_mod
from ethoflow.acoustic.params import FeatureParams, TrainParams
if sys.argv[4] == "slow":  # give the test time to kill the run after its first checkpoint
    real = train_mod._evaluate
    def slow(*a, **k):
        time.sleep(1.0)
        return real(*a, **k)
    train_mod._evaluate = slow
f = FeatureParams.model_validate_json(sys.argv[5])
t = TrainParams.model_validate_json(sys.argv[6])
train_mod.train_model(sys.argv[1], sys.argv[2], f, t, sys.argv[3])
"""


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_kill_9_during_training_resumes_to_the_same_model_bytes(variant_dir, tmp_path, tiny_features, tiny_train):
    """A run SIGKILLed after its first epoch's checkpoint, rerun, writes the same model.pt bytes and history
    as an uninterrupted run."""
    train = tiny_train.model_copy(update={"epochs": 3})
    env = dict(os.environ, ETHOFLOW_PROGRESS="0")

    def start(out, ck, mode):
        args = [str(variant_dir), str(out), str(ck), mode, tiny_features.model_dump_json(), train.model_dump_json()]
        return subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, *args], env=env)

    assert start(tmp_path / "ref", tmp_path / "ck_ref", "fast").wait(timeout=300) == 0
    proc = start(tmp_path / "run", tmp_path / "ck", "slow")
    kill_when(proc, (tmp_path / "ck" / "last.ckpt").exists)
    assert not (tmp_path / "run" / "model.pt").exists()
    assert start(tmp_path / "run", tmp_path / "ck", "fast").wait(timeout=300) == 0
    s = read_json(tmp_path / "run" / "train_summary.json")
    assert s["resumed"] and s["epochs_run"] == 3
    assert _digest(tmp_path / "run" / "model.pt") == _digest(tmp_path / "ref" / "model.pt")
    assert read_json(tmp_path / "run" / "history.json") == read_json(tmp_path / "ref" / "history.json")
    assert s["scores"] == read_json(tmp_path / "ref" / "train_summary.json")["scores"]
    assert not (tmp_path / "ck" / "last.ckpt").exists()


def test_same_inputs_and_params_give_byte_identical_models(variant_dir, tmp_path, tiny_features, tiny_train):
    for name in ("a", "b"):
        train_model(str(variant_dir), str(tmp_path / name), tiny_features, tiny_train, str(tmp_path / f"ck_{name}"))
    assert _digest(tmp_path / "a" / "model.pt") == _digest(tmp_path / "b" / "model.pt")
    assert read_json(tmp_path / "a" / "history.json") == read_json(tmp_path / "b" / "history.json")


def test_stale_checkpoint_is_ignored(variant_dir, tmp_path, tiny_features, tiny_train):
    ck = tmp_path / "ck"
    ck.mkdir()
    torch.save({"state_dict": {}}, ck / "last.ckpt")
    (ck / "fingerprint.txt").write_text("other inputs")
    s = train_model(
        str(variant_dir), str(tmp_path / "m"), tiny_features, tiny_train.model_copy(update={"epochs": 1}), str(ck)
    )
    assert not s["resumed"]


def test_predict_windows_cover_each_recording(variant_dir, tmp_path, tiny_features, tiny_train, monkeypatch):
    import pandas as pd

    train_model(
        str(variant_dir),
        str(tmp_path / "m"),
        tiny_features,
        tiny_train.model_copy(update={"epochs": 1}),
        str(tmp_path / "ck"),
    )
    recs = read_json(variant_dir / "variant_index.json")["recordings"][:2]
    import ethoflow.core.inputs as inputs_mod

    seen, real = [], inputs_mod.warn_checkpoint_overrides
    monkeypatch.setattr(inputs_mod, "warn_checkpoint_overrides", lambda *a, **k: seen.extend(real(*a, **k)))
    # params saying another n_fft than the model file: the file's front end is used, and the log says so
    predict_recordings(
        str(tmp_path / "m" / "model.pt"),
        recs,
        PredictSetting(seq_len_s=0.4, hop_s=0.1),
        str(tmp_path / "p.parquet"),
        features={**tiny_features.model_dump(), "n_fft": 1024},
    )
    assert seen == [
        f"{tmp_path / 'm' / 'model.pt'}: the model file's n_fft=512 overrides params acoustic.features.n_fft=1024 "
        "(the file's value is used)"
    ]
    p = pd.read_parquet(tmp_path / "p.parquet")
    assert list(p.columns) == ["tape", "recording", "start_s", "end_s", "prob", "logit", "label"]
    for r in recs:
        sub = p[p.recording == r["recording"]]
        # 8 s, hop 0.1: starts 0.0 ... 7.8 (the last window begins before duration - seq_len/2)
        assert len(sub) == len(window_starts(r["duration_s"], 0.4, 0.1)) == 79
        assert sub.end_s.max() <= r["duration_s"] + 1e-9
        assert ((sub.prob > 0) & (sub.prob < 1)).all()


def test_training_is_submittable_through_dispatch(variant_dir, in_tmp, tiny_features, tiny_train):
    """The train call pickles and runs through submitit's job machinery (debug executor)."""
    from ethoflow import dispatch
    from ethoflow.dispatch import ComputeParams

    s = dispatch.run(
        train_model,
        str(variant_dir),
        str(in_tmp / "m"),
        tiny_features,
        tiny_train.model_copy(update={"epochs": 1}),
        str(in_tmp / "ck"),
        stage="acoustic_train@v",
        compute=ComputeParams(executor="debug"),
    )
    assert s["epochs_run"] == 1 and (in_tmp / "m" / "model.pt").exists()
    assert list((in_tmp / ".ethoflow" / "jobs").glob("acoustic_train_v/*"))


def test_corrupt_resume_checkpoint_names_the_file(variant_dir, tmp_path, tiny_features, tiny_train):
    """issue #14 item 3: a truncated resume checkpoint is one InputError naming it, and no model is written."""
    from ethoflow.core import InputError

    ck = tmp_path / "ck"
    ck.mkdir()
    from ethoflow.acoustic.training.train import fingerprint

    torch.save({"state_dict": {"w": torch.zeros(1000)}}, ck / "last.ckpt")
    raw = (ck / "last.ckpt").read_bytes()
    (ck / "last.ckpt").write_bytes(raw[: len(raw) // 2])
    (ck / "fingerprint.txt").write_text(fingerprint(variant_dir, tiny_features, tiny_train))  # this run's
    with pytest.raises(InputError) as ei:
        train_model(str(variant_dir), str(tmp_path / "m"), tiny_features, tiny_train, str(ck))
    msg = str(ei.value)
    assert str(ck / "last.ckpt") in msg and "truncated or corrupt" in msg and "delete it" in msg
    assert "\n" not in msg
    assert not (tmp_path / "m" / "model.pt").exists()
