"""Spectrogram front end shapes and values, window slicing, augmentation, model output shapes."""

import numpy as np
import pytest
import torch

from ethoflow.acoustic.frontend.spectrogram import (
    augment_window,
    frames_per_window,
    load_audio,
    power_spectrogram,
    to_input,
    window_batch,
)
from ethoflow.acoustic.models.model import CallClassifier, target_logit
from ethoflow.acoustic.params import AugmentParams, FeatureParams


def _tone(freq, sr, dur, amp=0.5):
    t = np.arange(int(sr * dur)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.mark.parametrize("kind", ["linear", "mel"])
def test_power_spectrogram_shape_and_peak(kind):
    f = FeatureParams(
        sr=16000, n_fft=512, hop_length=256, n_freq_bins=64, fmin=0, fmax=4000, freq_compression=kind, preemphasis=0.0
    )
    y = _tone(1000, 16000, 1.0)
    P = power_spectrogram(y, f)
    assert P.shape == (64, 1 + len(y) // 256) and P.dtype == np.float32
    peak = P[:, 10:-10].mean(axis=1).argmax()
    if kind == "linear":  # bins are linear between 0 and 4000 Hz: 1000 Hz is bin ~ 63 * 1/4
        assert abs(peak - 63 / 4) <= 1
    # full-scale sine scaled by the window sum: about 0 dB at its peak (interpolation between bins: up to -3 dB)
    assert 10 * np.log10(
        power_spectrogram(_tone(1000, 16000, 1.0, 1.0), f.model_copy(update={"freq_compression": "linear"})).max()
    ) == pytest.approx(-1.5, abs=1.6)


def test_input_normalisation_and_window_batch():
    f = FeatureParams(sr=16000, n_fft=512, hop_length=256, n_freq_bins=32, fmax=4000, seq_len_s=0.4)
    P = power_spectrogram(_tone(800, 16000, 3.0), f)
    T = frames_per_window(0.4, f)
    assert T == 25
    x = window_batch(P, np.array([0.0, 0.5, 2.9, -0.2]), 0.4, f)  # last two run past the edges
    assert x.shape == (4, 1, 32, T) and x.dtype == np.float32
    assert x.min() >= 0 and x.max() <= 1
    assert np.allclose(x[:, 0].reshape(4, -1).min(1), 0) and np.allclose(x[:, 0].reshape(4, -1).max(1), 1)
    fixed = to_input(P, f.model_copy(update={"normalization": "fixed"}))
    assert fixed.shape == P.shape and 0 <= fixed.min() and fixed.max() <= 1
    # window slicing equals computing on the slice's frames of the whole spectrogram
    np.testing.assert_allclose(x[1, 0], to_input(P[:, 31:56], f))


def test_resampling_on_load(tmp_path):
    import soundfile as sf

    sf.write(tmp_path / "a.wav", _tone(440, 32000, 0.5), 32000)
    y = load_audio(tmp_path / "a.wav", 48000)
    assert y.shape == (24000,)


def test_augmentation_keeps_shape_and_changes_values():
    f = FeatureParams(sr=16000, n_fft=512, hop_length=256, n_freq_bins=32, fmax=4000)
    P = power_spectrogram(_tone(800, 16000, 2.0), f)
    rng = np.random.default_rng(0)
    aug = AugmentParams(p=1.0)
    w = augment_window(P, 40, 25, rng, aug, noise_power=np.ones((32, 25), np.float32))
    assert w.shape == (32, 25)
    assert not np.allclose(w, P[:, 28:53])
    same = augment_window(P, 40.5, 25, rng, AugmentParams(p=0.0))
    np.testing.assert_allclose(same, P[:, 28:53])


@pytest.mark.parametrize("depth", [18, 34])
def test_resnet_shapes(depth):
    m = CallClassifier(n_classes=3, depth=depth, base_width=4)
    x = torch.zeros(2, 1, 128, 19)
    out = m(x)
    assert out.shape == (2, 3)
    assert target_logit(out).shape == (2,)
    assert m(torch.zeros(1, 1, 128, 40)).shape == (1, 3)  # any window length (global pooling)
