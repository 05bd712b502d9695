"""acoustic_external: an existing ANIMAL-SPOT model file evaluated on a variant's tapes like a trained variant."""

from __future__ import annotations

import pandas as pd
import pytest

from ethoflow.acoustic.data.variants import build_variant
from ethoflow.acoustic.external import evaluate_external
from ethoflow.acoustic.params import AcousticParams, VariantParams
from ethoflow.acoustic.records import read_variant_index
from ethoflow.core import read_json, write_json, write_record


@pytest.fixture
def as_model(shared_data):
    p = shared_data / "audio" / "animal-spot" / "model.pk"
    if not p.is_file():
        pytest.skip(f"{p} missing")
    return p


def test_animal_spot_model_is_predicted_and_evaluated_like_a_variant(demo_index, as_model, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _, vindex = build_variant(demo_index, VariantParams(split="tape_exclusive"), 0.4)
    write_record("data/interim/acoustic/variants/v1/variant_index.json", vindex)
    write_json("corpus_index.json", demo_index)
    cfg = AcousticParams(
        external={"lab_model": {"file": str(as_model), "variant": "v1"}},
        predict={"settings": {"default": {"seq_len_s": 0.4, "hop_s": 0.2}}, "num_threads": 1},
    )
    vi = read_variant_index("data/interim/acoustic/variants/v1/variant_index.json")
    evaluate_external(cfg, "lab_model", "default", vi, "pred.parquet", "corpus_index.json", "det")
    pred = pd.read_parquet("pred.parquet")
    assert list(pred.columns) == ["tape", "recording", "start_s", "end_s", "prob", "logit", "label"]
    assert set(pred.recording) == set(vindex.recording_names())
    m = read_json("det/metrics.json")
    assert m["variant"] == "lab_model" and m["layer"] == "cnn" and "hungarian" in m["groups"]["all"]
    assert (tmp_path / "det" / "pr_curve.csv").is_file() and (tmp_path / "det" / "per_tape.csv").is_file()


def test_external_models_are_checked_against_variants_and_tracked_folders():
    with pytest.raises(ValueError, match="not in variants"):
        AcousticParams(external={"x": {"file": "models/acoustic/x.pk", "variant": "nope"}})
    with pytest.raises(ValueError, match="a variant's too"):
        AcousticParams(external={"v1": {"file": "models/acoustic/x.pk"}})
    with pytest.raises(ValueError, match="outside corpus.data_dir"):
        AcousticParams(corpus={"data_dir": "data/raw/acoustic/demo"}, external={"x": {"file": "/lab/model.pk"}})
    AcousticParams(corpus={"data_dir": "data/raw/acoustic/demo"}, external={"x": {"file": "models/acoustic/as.pk"}})
