"""Real data: the whole acoustic pipeline on the Bengalese finch songs (tiny epochs), and corpus ->
variants -> train -> predict -> evaluate on the Raven-annotated field recording."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml

from ethoflow.acoustic.pipeline import run_pipeline

pytestmark = pytest.mark.integration

TINY = {"base_width": 4, "epochs": 1, "num_threads": 1, "batch_size": 16}


def _write(workdir, params):
    (workdir / "dvc.yaml").write_text("stages: {}\n")
    (workdir / "params.yaml").write_text(yaml.safe_dump({"acoustic": params}, sort_keys=False))


def test_finch_whole_pipeline(shared_data, tmp_path):
    bird = shared_data / "audio" / "birdsongrec" / "Bird0"
    _write(
        tmp_path,
        {
            "corpus": {
                "data_dir": str(bird),
                "merge_gap_s": 0.3,
                "unmapped": "target",
                "sources": [
                    {
                        "name": "finch",
                        "format": "birdsong-recognition-dataset",
                        "annotations": str(bird / "Annotation.xml"),
                        "audio_dir": str(bird / "Wave"),
                    }
                ],
            },
            "variants": {
                "finch": {
                    "split": "tape_exclusive",
                    "fractions": {"train": 0.6, "val": 0.2, "test": 0.2},
                    "noise_per_target": 1.0,
                    "margin_s": 0.1,
                }
            },
            "features": {"sr": 32000, "fmax": 8000.0, "n_freq_bins": 64},
            "train": TINY,
            "predict": {"num_threads": 1, "settings": {"default": {"seq_len_s": 0.4, "hop_s": 0.2}}},
            "evaluate": {"min_gap_s": 0.3},
            "rf": {"fmax": 8000.0, "n_estimators": 10, "n_folds": 2},
        },
    )
    run_pipeline(tmp_path)
    report = json.loads((tmp_path / "data/interim/acoustic/corpus/report.json").read_text())
    assert report["n_recordings"] == 40 and report["n_tapes"] == 40
    # Annotation.xml annotates files that are absent: skipped, and said so
    assert any("do not exist" in p["problem"] and "40.wav" in p["problem"] for p in report["problems"])
    index = json.loads((tmp_path / "data/interim/acoustic/corpus/corpus_index.json").read_text())
    bouts = [e for e in index["events"] if e["role"] == "target"]
    assert 40 <= len(bouts) <= 80 and max(e["n_merged"] for e in bouts) > 10  # notes merged into bouts
    vi = json.loads((tmp_path / "data/interim/acoustic/variants/finch/variant_index.json").read_text())
    split_tapes = [set(vi["counts"][s]["tapes"]) for s in ("train", "val", "test")]
    assert (
        not (split_tapes[0] & split_tapes[1])
        and not (split_tapes[0] & split_tapes[2])
        and not (split_tapes[1] & split_tapes[2])
    )
    pred = pd.read_parquet(tmp_path / "data/processed/acoustic/predictions/finch-default/predictions.parquet")
    assert pred.recording.nunique() == 40 and pred.prob.between(0, 1).all()
    m = pd.read_csv(tmp_path / "reports/acoustic/metrics.csv")
    held = m[(m.group == "heldout") & (m.method == "hungarian")]
    assert set(held.layer) == {"cnn", "rf"}
    assert (held.n_gt == sum(e["tape"] in split_tapes[2] for e in bouts)).all()
    assert (held.tp + held.fn == held.n_gt).all() and (held.tp + held.fp == held.n_pred).all()
    tables = list((tmp_path / "data/processed/acoustic/detections/finch-default/selections").glob("*.txt"))
    assert len(tables) == 40


def test_raven_field_recording(shared_data, tmp_path):
    raven = shared_data / "audio" / "raven"
    _write(
        tmp_path,
        {
            "corpus": {
                "data_dir": str(raven),
                "unmapped": "keep",
                "sources": [
                    {
                        "name": "field",
                        "format": "raven",
                        "label_column": "Species",
                        "annotations": str(raven / "*.selections.txt"),
                        "audio": str(raven / "Recording_1_Segment_07-snippet.wav"),
                    }
                ],
            },
            "variants": {
                "field": {
                    "split": "random",
                    "fractions": {"train": 0.5, "val": 0.25, "test": 0.25},
                    "noise_per_target": 1.0,
                    "margin_s": 0.0,
                    "noise_min_s": 0.2,
                }
            },
            "features": {"sr": 32000, "fmax": 8000.0, "n_freq_bins": 64},
            "train": TINY,
            "predict": {"num_threads": 1},
        },
    )
    run_pipeline(tmp_path, until="evaluate")
    report = json.loads((tmp_path / "data/interim/acoustic/corpus/report.json").read_text())
    # the table covers 300 s, the snippet 10 s: every event past its end is reported and skipped
    outside = [p for p in report["problems"] if "outside the recording" in p["problem"]]
    index = json.loads((tmp_path / "data/interim/acoustic/corpus/corpus_index.json").read_text())
    assert len(outside) + len(index["events"]) == report["n_annotations_read"]
    assert len(index["events"]) == 9 and all(e["end_s"] <= 10.0 for e in index["events"])
    assert {"NOCA", "WOTH", "EATO"} <= set(index["classes"])  # multi-class labels kept
    pred = pd.read_parquet(tmp_path / "data/processed/acoustic/predictions/field-default/predictions.parquet")
    assert pred.start_s.max() <= 10.0 and len(pred) == 99  # starts 0.0 ... 9.8 (hop 0.1, 0.4 s windows)
    ev = json.loads((tmp_path / "data/processed/acoustic/detections/field-default/metrics.json").read_text())
    assert ev["groups"]["all"]["hungarian"]["n_gt"] == 9
