"""ANIMAL-SPOT model files: parity with ANIMAL-SPOT's predict.py on ../shared/data/audio/animal-spot, clear errors."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import torch

from ethoflow.acoustic.inference.predict import predict_recordings_animal_spot
from ethoflow.acoustic.models.animal_spot import (
    AnimalSpotFrontEnd,
    AnimalSpotNet,
    fold_batchnorm,
    is_animal_spot_file,
    load_animal_spot,
    predict_samples,
    window_inputs,
    window_samples,
)
from ethoflow.acoustic.params import PredictSetting
from ethoflow.core import InputError

LOG_LINE = re.compile(r"time=([\d.]+)-([\d.]+), pred=([01]), prob=([\d.eE+-]+)$")


@pytest.fixture(scope="module")
def as_dir(shared_data):
    d = shared_data / "audio" / "animal-spot"
    if not (d / "model.pk").is_file():
        pytest.skip(f"{d} has no model.pk")
    return d


@pytest.fixture(scope="module")
def as_ckpt(as_dir):
    """The raw dict of model.pk (tests modify copies of it)."""
    return torch.load(as_dir / "model.pk", map_location="cpu", weights_only=True)


def _front_end(**fields) -> AnimalSpotFrontEnd:
    """A front end with ANIMAL-SPOT's levels (pre-emphasis 0.98, -100 dB floor, 20 dB reference) and ``fields``."""
    return AnimalSpotFrontEnd(**{"preemphasis": 0.98, "min_level_db": -100.0, "ref_level_db": 20.0, **fields})


def _read_log(path) -> np.ndarray:
    rows = [LOG_LINE.match(line.strip()).groups() for line in path.read_text().splitlines() if line.strip()]
    return np.array(rows, dtype=float)  # start, end, pred, prob


def test_parity_with_animal_spot_predict_log(as_dir, tmp_path):
    """All 193 windows of tape.wav (0.4 s every 0.05 s, min-max norm): same times, prob within 1e-4."""
    ref = _read_log(as_dir / "tape_predict_output.log")
    assert len(ref) == 193
    out = tmp_path / "predictions.parquet"
    summary = predict_recordings_animal_spot(
        str(as_dir / "model.pk"),
        [{"tape": "T", "recording": "tape", "file": str(as_dir / "tape.wav")}],
        setting=PredictSetting(seq_len_s=0.4, hop_s=0.05),
        out_path=str(out),
        min_max_norm=True,
    )
    df = pd.read_parquet(out)
    assert summary["n_windows"] == 193 and summary["audio_s"] == pytest.approx(10.0)
    assert list(df.columns) == ["tape", "recording", "start_s", "end_s", "prob", "logit", "label"]
    np.testing.assert_allclose(df.start_s, ref[:, 0], atol=1e-9)
    # the log prints the last sample's time, (end - 1) / sr, rounded to ms; ours is the exclusive end
    np.testing.assert_allclose(df.end_s, ref[:, 1], atol=1e-3)
    diff = np.abs(df.prob.to_numpy() - ref[:, 3])
    print(f"max |prob - ANIMAL-SPOT prob| over {len(diff)} windows: {diff.max():.3g}")
    assert diff.max() < 1e-4
    assert ((df.prob >= 0.5).astype(int) == ref[:, 2]).all()
    assert set(df.label) == {"target"}
    np.testing.assert_allclose(df.prob, 1 / (1 + np.exp(-df.logit)))


def test_load_front_end_and_classes(as_dir):
    model, fe, classes = load_animal_spot(as_dir / "model.pk")
    assert classes == ["noise", "target"] and not model.training
    assert fe == _front_end(
        sr=48000, n_fft=2048, hop_length=1024, n_freq_bins=128, fmin=0.0, fmax=4000.0, freq_compression="linear"
    )
    assert fe.preemphasis == 0.98 and fe.min_level_db == -100.0 and fe.ref_level_db == 20.0
    assert fe.min_max_norm is False
    assert is_animal_spot_file(as_dir / "model.pk")


def test_truncated_file_one_line_error(as_dir, tmp_path):
    bad = tmp_path / "truncated.pk"
    with open(as_dir / "model.pk", "rb") as f:
        bad.write_bytes(f.read(2_000_000))
    with pytest.raises(InputError) as e:
        load_animal_spot(bad)
    msg = str(e.value)
    assert "\n" not in msg and str(bad) in msg and "not a readable ANIMAL-SPOT model file (truncated or corrupt" in msg
    assert not is_animal_spot_file(bad)


@pytest.mark.parametrize("content", [b"", b"hello, not a model\n", bytes(range(256)) * 10])
def test_non_model_file_one_line_error(tmp_path, content):
    bad = tmp_path / "x.pk"
    bad.write_bytes(content)
    with pytest.raises(InputError) as e:
        load_animal_spot(bad)
    assert "\n" not in str(e.value) and str(bad) in str(e.value)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_animal_spot(tmp_path / "nope.pk")


def test_missing_key(as_ckpt, tmp_path):
    ck = {k: v for k, v in as_ckpt.items() if k != "classifierState"}
    path = tmp_path / "missing.pk"
    torch.save(ck, path)
    with pytest.raises(InputError, match=r"missing\.pk: not an ANIMAL-SPOT model file: missing classifierState"):
        load_animal_spot(path)
    # an ethoflow checkpoint is not an ANIMAL-SPOT file either
    torch.save({"state_dict": {}, "model": {}, "classes": ["noise", "call"]}, path)
    with pytest.raises(InputError, match="missing encoderOpts, classifierOpts, dataOpts, encoderState"):
        load_animal_spot(path)
    assert not is_animal_spot_file(path)
    ck = dict(as_ckpt, dataOpts={k: v for k, v in as_ckpt["dataOpts"].items() if k != "n_fft"})
    torch.save(ck, path)
    with pytest.raises(InputError, match=r"lacks dataOpts\.n_fft"):
        load_animal_spot(path)


def test_wrong_shape_lists_keys_and_shapes(as_ckpt, tmp_path):
    enc = dict(as_ckpt["encoderState"])
    enc["layer2.0.conv1.weight"] = torch.zeros(128, 64, 5, 5)
    del enc["layer4.1.bn2.running_var"]
    enc["extra.weight"] = torch.zeros(3)
    path = tmp_path / "shape.pk"
    torch.save(dict(as_ckpt, encoderState=enc), path)
    with pytest.raises(InputError) as e:
        load_animal_spot(path)
    msg = str(e.value)
    assert str(path) in msg and "encoderState does not match" in msg and "\n" not in msg
    assert "layer2.0.conv1.weight: file (128, 64, 5, 5), expected (128, 64, 3, 3)" in msg
    assert "missing layer4.1.bn2.running_var (512,)" in msg and "unexpected extra.weight (3,)" in msg
    # the opts decide the architecture: a ResNet-34 file with ResNet-18 weights names the first missing block
    torch.save(dict(as_ckpt, encoderOpts=dict(as_ckpt["encoderOpts"], resnet_size=34)), path)
    with pytest.raises(InputError, match=r"missing layer1\.2\.conv1\.weight \(64, 64, 3, 3\)"):
        load_animal_spot(path)
    cls = dict(as_ckpt["classifierState"], **{"linear.weight": torch.zeros(3, 512)})
    torch.save(dict(as_ckpt, classifierState=cls), path)
    with pytest.raises(
        InputError, match=r"classifierState does not match .*linear\.weight: file \(3, 512\), expected \(2, 512\)"
    ):
        load_animal_spot(path)


def test_window_samples_follow_animal_spot():
    starts, L, hop = window_samples(480000, 0.4, 0.05, 48000)
    assert (L, hop, len(starts), starts[-1] + L) == (19200, 2400, 193, 480000)
    starts, L, hop = window_samples(10000, 0.4, 0.05, 48000)  # shorter than a window: one short window
    assert list(starts) == [0]
    starts, _, _ = window_samples(19200 + 2399, 0.4, 0.05, 48000)
    assert len(starts) == 1


def _tiny_net(resnet_size=18, max_pool=1, n_classes=2):
    torch.manual_seed(0)
    return AnimalSpotNet(
        {"resnet_size": resnet_size, "input_channels": 1, "conv_kernel_size": 7, "max_pool": max_pool},
        {"input_channels": 512 if resnet_size < 50 else 2048, "pooling": "avg", "num_classes": n_classes},
    ).eval()


@pytest.mark.parametrize("kind", ["linear", "mel"])
def test_front_end_shapes_and_short_recording(kind):
    fe = _front_end(sr=16000, n_fft=512, hop_length=128, n_freq_bins=32, fmin=500.0, fmax=6000.0, freq_compression=kind)
    rng = np.random.default_rng(0)
    y = rng.normal(0, 0.1, 16000).astype(np.float32)
    x = window_inputs(np.stack([y[:6400], y[1600:8000]]), fe)
    assert x.shape == (2, 1, 1 + (6400 - 512) // 128, 32) and x.dtype == torch.float32
    assert float(x.min()) >= 0 and float(x.max()) <= 1
    mm = window_inputs(y[None, :6400], AnimalSpotFrontEnd(**{**fe.to_dict(), "min_max_norm": True}))
    assert float(mm.min()) == 0 and float(mm.max()) == pytest.approx(1)
    df = predict_samples(_tiny_net(), fe, ["noise", "target"], y[:300], 0.4, 0.05)  # shorter than n_fft
    assert len(df) == 1 and df.end_s[0] == pytest.approx(300 / 16000) and 0 < df.prob[0] < 1


def test_mel_filters_are_triangles_between_fmin_and_fmax():
    from ethoflow.acoustic.models.animal_spot import _mel_filters

    fb = _mel_filters(48000, 1025, 40, 0.0, 8000.0).numpy()  # (n_stft, n_mels)
    assert fb.shape == (1025, 40) and fb.min() >= 0 and np.allclose(fb.max(axis=0), 1)
    assert fb[: int(8000 / 48000 * 2049) + 2].sum() == pytest.approx(fb.sum())  # nothing above fmax
    peaks = fb.argmax(axis=0)
    assert (np.diff(peaks) > 0).all()


@pytest.mark.parametrize("resnet_size,max_pool", [(18, 2), (34, 1), (50, 0)])
def test_batchnorm_folding_keeps_the_network_function(resnet_size, max_pool):
    """Every BatchNorm (stem, blocks, projection shortcuts) folds away; logits equal to float32 rounding."""
    import copy

    net = _tiny_net(resnet_size, max_pool)
    gen = torch.Generator().manual_seed(1)
    for m in net.modules():  # statistics and affine terms away from the identity, so folding has work to do
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
    folded = fold_batchnorm(copy.deepcopy(net))
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    x = torch.rand(3, 1, 17, 64, generator=gen)
    with torch.inference_mode():
        a, b = net(x), folded(x.contiguous(memory_format=torch.channels_last))
    assert float((a - b).abs().max()) < 1e-4 * max(1.0, float(a.abs().max()))
    with pytest.raises(ValueError, match="training mode"):
        fold_batchnorm(copy.deepcopy(net).train())


def test_folded_model_file_matches_the_files_layers(as_dir):
    """The pipeline's folded network against the file's own layers on the shared tape: probabilities within 2e-6."""
    from ethoflow.acoustic.frontend.spectrogram import load_audio

    model, fe, classes = load_animal_spot(as_dir / "model.pk", min_max_norm=True)
    plain, _, _ = load_animal_spot(as_dir / "model.pk", min_max_norm=True, fold=False)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in plain.modules())
    y = load_audio(as_dir / "tape.wav", fe.sr)
    p = predict_samples(model, fe, classes, y, 0.4, 0.05).prob.to_numpy()
    q = predict_samples(plain, fe, classes, y, 0.4, 0.05).prob.to_numpy()
    print(f"max |folded - unfolded| over {len(p)} windows: {np.abs(p - q).max():.3g}")
    assert len(p) == 193 and np.abs(p - q).max() < 2e-6


@pytest.mark.parametrize("resnet_size,max_pool", [(34, 1), (50, 0)])
def test_other_resnets_use_animal_spot_names(resnet_size, max_pool):
    from ethoflow.acoustic.models.animal_spot import _to_theirs

    net = _tiny_net(resnet_size, max_pool, n_classes=3)
    keys = {_to_theirs(k) for k in net.encoder.state_dict()}
    assert (
        "layer1.0.shortcut.0.weight" in keys
        if max_pool == 0 or resnet_size >= 50
        else "layer1.0.shortcut.0.weight" not in keys
    )
    assert ("layer3.5.conv1.weight" in keys) and ("layer2.0.shortcut.1.running_mean" in keys)
    assert ("layer1.0.conv3.weight" in keys) == (resnet_size >= 50)
    with torch.inference_mode():
        assert net(torch.rand(2, 1, 17, 64)).shape == (2, 3)


def test_multiclass_probability_is_one_minus_noise():
    fe = _front_end(
        sr=16000, n_fft=512, hop_length=256, n_freq_bins=32, fmin=0.0, fmax=8000.0, freq_compression="linear"
    )
    y = np.random.default_rng(1).normal(0, 0.1, 16000).astype(np.float32)
    net = _tiny_net(n_classes=3)
    classes = ["call_a", "call_b", "noise"]  # ANIMAL-SPOT sorts class names: noise need not be index 0
    df = predict_samples(net, fe, classes, y, 0.4, 0.2)
    starts, L, _ = window_samples(len(y), 0.4, 0.2, 16000)
    with torch.inference_mode():
        p = torch.softmax(net(window_inputs(y[starts[:, None] + np.arange(L)], fe)), 1).numpy()
    np.testing.assert_allclose(df.prob, 1 - p[:, 2], atol=1e-6)
    assert list(df.label) == [classes[i] for i in p[:, :2].argmax(1)]
    with pytest.raises(InputError, match="no 'noise' class"):
        predict_samples(net, fe, ["a", "b", "c"], y, 0.4, 0.2)
