"""The acoustic params section: issue defaults, params.yaml validates, wrong keys name the key."""

import pytest

from ethoflow.acoustic.params import AcousticParams, FeatureParams, TrainParams
from ethoflow.config import load_project_params
from ethoflow.core import ParamsError
from ethoflow.core.params import validate_section
from tests.conftest import REPO


def test_defaults_are_alpaca_defaults():
    f, t = FeatureParams(), TrainParams()
    assert (f.sr, f.n_fft, f.hop_length, f.n_freq_bins, f.fmin, f.fmax, f.seq_len_s) == (
        48000,
        2048,
        1024,
        128,
        0,
        4000,
        0.4,
    )
    assert (t.resnet, t.batch_size, t.base_width) == (18, 16, 64)
    assert AcousticParams().evaluate.iou == 0.4


def test_params_yaml_validates():
    p = load_project_params(REPO / "params.yaml")
    assert "v1" in p.acoustic.variants and "default" in p.acoustic.predict.settings
    assert p.acoustic.corpus.sources[0].format == "raven"


def test_wrong_key_and_value_are_named():
    with pytest.raises(ParamsError, match=r"acoustic\.train\.lrr: unknown key"):
        validate_section({"train": {"lrr": 1}}, AcousticParams, "params.yaml", "acoustic")
    with pytest.raises(ParamsError, match=r"acoustic\.variants\.v1\.split"):
        validate_section({"variants": {"v1": {"split": "by_moon"}}}, AcousticParams, "params.yaml", "acoustic")
    with pytest.raises(ParamsError, match="Nyquist"):
        validate_section({"features": {"sr": 8000, "fmax": 6000}}, AcousticParams, "params.yaml", "acoustic")


def test_sources_outside_the_tracked_data_dir_are_refused():
    """dvc.yaml tracks corpus.data_dir as the dep: a source elsewhere would change nothing in DVC's eyes."""
    from pydantic import ValidationError

    from ethoflow.acoustic.params import CorpusParams

    src = {"name": "s", "format": "raven", "annotations": "/lab/tapes/*.selections.txt", "audio_dir": "/lab/tapes"}
    with pytest.raises(ValidationError, match=r"sources\[0\]\.annotations='/lab/tapes/\*\.selections\.txt'.*data_dir"):
        CorpusParams(data_dir="data/raw/acoustic/demo", sources=[src])
    assert CorpusParams(data_dir="/lab", sources=[src]).data_dir == "/lab"
    assert CorpusParams(sources=[src]).data_dir is None  # library use outside DVC: nothing to check


def test_split_fractions_must_sum_to_one_not_renormalised():
    """issue #14 item 4: fractions that do not sum to 1 are an error naming the key and the sum."""
    bad = {"variants": {"v1": {"fractions": {"train": 0.7, "val": 0.2, "test": 0.2}}}}
    with pytest.raises(ParamsError) as ei:
        validate_section(bad, AcousticParams, "params.yaml", "acoustic")
    msg = str(ei.value)
    assert "acoustic.variants.v1.fractions" in msg and "1.1" in msg and "sum to 1" in msg
    assert "params.yaml" in msg
    ok = {"variants": {"v1": {"fractions": {"train": 0.7, "val": 0.15, "test": 0.15}}}}
    assert validate_section(ok, AcousticParams, "params.yaml", "acoustic").variants["v1"].fractions.train == 0.7
    with pytest.raises(ParamsError, match="= 0"):
        validate_section(
            {"variants": {"v1": {"fractions": {"train": 0, "val": 0, "test": 0}}}},
            AcousticParams,
            "params.yaml",
            "acoustic",
        )
