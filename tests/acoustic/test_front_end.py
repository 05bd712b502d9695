"""Per-variant front end: a variant overrides seq_len_s / n_fft / hop_length / sr; the model file keeps it."""

from __future__ import annotations

import pytest

from ethoflow.acoustic.params import AcousticParams, VariantParams
from ethoflow.core import ParamsError, read_json
from tests.fixtures.tiny import ACOUSTIC_FEATURES as TINY_FEATURES


def _cfg(**v2) -> AcousticParams:
    return AcousticParams(features=TINY_FEATURES, variants={"v1": {}, "v2": {"features": v2}})


def test_variant_features_replace_only_the_keys_given():
    cfg = _cfg(sr=8000, n_fft=256, hop_length=128, seq_len_s=0.3)
    assert cfg.variant_features("v1") == cfg.features
    f = cfg.variant_features("v2")
    assert (f.sr, f.n_fft, f.hop_length, f.seq_len_s) == (8000, 256, 128, 0.3)
    assert (f.n_freq_bins, f.fmax) == (cfg.features.n_freq_bins, cfg.features.fmax)


def test_an_override_that_breaks_the_front_end_names_the_variant():
    with pytest.raises(ParamsError, match=r"acoustic\.variants\.v2\.features .*Nyquist"):
        _cfg(sr=6000).variant_features("v2")  # fmax 4000 > 3000


def test_model_trained_with_a_variants_front_end_predicts_with_it(demo_index, tmp_path, tiny_train):
    from ethoflow.acoustic.data.variants import build_variant, write_variant
    from ethoflow.acoustic.inference.detect import TapeReader, load_detector, stream_windows
    from ethoflow.acoustic.training.train import train_model

    f = _cfg(sr=8000, n_fft=256, hop_length=128, seq_len_s=0.3).variant_features("v2")
    df, vi = build_variant(demo_index, VariantParams(split="tape_exclusive", seed=1), f.seq_len_s)
    write_variant(tmp_path / "v", df, vi, demo_index)
    train_model(
        str(tmp_path / "v"), str(tmp_path / "m"), f, tiny_train.model_copy(update={"epochs": 1}), str(tmp_path / "ck")
    )
    det = load_detector(tmp_path / "m" / "model.pt")  # the front end comes from the model file
    assert (det.sr, det.features.n_fft, det.features.hop_length) == (8000, 256, 128)
    rec = read_json(tmp_path / "v" / "variant_index.json")["recordings"][0]
    w = stream_windows(det, TapeReader(rec["file"], det.sr), 0.3, 0.1, batch_size=8)
    assert len(w) == 79 and ((w.prob > 0) & (w.prob < 1)).all()
