"""Per-detection features on a synthetic tone with known centre frequency and duration."""

import numpy as np
import pandas as pd
import pytest

from ethoflow.acoustic.frontend.features import detection_features, segment_features
from ethoflow.acoustic.params import RFParams


def _clip(freq=1500.0, sr=32000, on=0.5, dur=1.0, total=2.0):
    t = np.arange(int(total * sr)) / sr
    y = np.zeros_like(t)
    m = (t >= on) & (t < on + dur)
    y[m] = np.sin(2 * np.pi * freq * t[m])
    return (y + 1e-4 * np.random.default_rng(0).standard_normal(y.size)).astype(np.float32)


@pytest.mark.parametrize("freq,dur", [(1500.0, 1.0), (3000.0, 0.4)])
def test_tone_centre_frequency_and_duration(freq, dur):
    sr = 32000
    p = RFParams(fmin=0, fmax=8000, n_fft=1024, hop_length=256)
    f = segment_features(_clip(freq, sr, 0.5, dur, dur + 1.0), sr, p)
    bin_hz = sr / p.n_fft
    assert f["center_freq"] == pytest.approx(freq, abs=bin_hz)
    assert f["freq_5"] <= f["freq_25"] <= f["center_freq"] <= f["freq_75"] <= f["freq_95"]
    assert f["bw_90"] <= 3 * bin_hz  # a pure tone is narrow
    assert f["dur_90"] == pytest.approx(0.9 * dur, abs=0.03)
    assert f["dur_50"] == pytest.approx(0.5 * dur, abs=0.03)
    assert f["agg_entropy"] < 2.5  # energy in ~2 bins
    n_mfcc_feats = sum(k.startswith(("mfcc", "dmfcc", "ddmfcc")) for k in f)
    assert n_mfcc_feats == 13 * 3 * 2


def test_noise_has_higher_entropy_than_tone():
    sr = 32000
    p = RFParams(fmin=0, fmax=8000)
    noise = np.random.default_rng(1).standard_normal(sr).astype(np.float32)
    assert (
        segment_features(noise, sr, p)["avg_entropy"]
        > segment_features(_clip(total=1.0, on=0.0), sr, p)["avg_entropy"] + 3
    )


def test_band_limit_ignores_out_of_band_energy():
    sr = 32000
    y = _clip(1500.0, total=1.0, on=0.0) + _clip(6000.0, total=1.0, on=0.0)
    f = segment_features(y, sr, RFParams(fmin=0, fmax=4000))
    assert f["freq_95"] < 4000 and f["center_freq"] == pytest.approx(1500, abs=40)


def test_detection_feature_table(tmp_path):
    import soundfile as sf

    sf.write(tmp_path / "r.wav", _clip(2000.0, 32000, 1.0, 0.5, 3.0), 32000)
    det = pd.DataFrame(
        {"recording": ["r", "r"], "start_s": [0.9, 2.5], "end_s": [1.6, 2.52], "cnn_logit_mean": [3.0, -1.0]}
    )
    X = detection_features(det, {"r": str(tmp_path / "r.wav")}, RFParams(fmax=8000))
    assert X.shape == (2, 11 + 78 + 1)
    assert X.cnn_logit_mean.tolist() == [3.0, -1.0]
    assert X.center_freq[0] == pytest.approx(2000, abs=40)
    assert np.isfinite(X.to_numpy()).all()
