"""Typed inter-stage records fail with the file and key; stage commands come from dvc.yaml; lazy exports."""

from __future__ import annotations

import json
import sys

import pytest
import yaml

from ethoflow.core.errors import InputError
from tests.stage_args import REPO


def test_a_variant_index_with_a_missing_key_names_the_file_and_key(tmp_path):
    from ethoflow.acoustic.records import read_variant_index

    good = {
        "strategy": "by_tape",
        "seed": 0,
        "classes": ["song"],
        "counts": {},
        "tape_roles": {"A": "train"},
        "noise": {},
        "recordings": [
            {"recording": "a", "tape": "A", "file": "a.wav", "sr": 22050, "duration_s": 3.5, "role": "train"}
        ],
    }
    path = tmp_path / "variant_index.json"
    path.write_text(json.dumps(good))
    vindex = read_variant_index(path)
    assert vindex.classes == ["song"] and vindex.recording_dicts()[0]["duration_s"] == 3.5
    del good["recordings"][0]["file"]
    path.write_text(json.dumps(good))
    with pytest.raises(InputError, match=r"variant_index.json: VariantIndex key recordings\.0\.file: Field required"):
        read_variant_index(path)
    with pytest.raises(InputError, match="file not found"):
        read_variant_index(tmp_path / "nope.json")


def test_a_training_summary_with_a_wrong_type_names_the_key(tmp_path):
    from ethoflow.vae.records import read_train_summary

    path = tmp_path / "train_summary.json"
    path.write_text(json.dumps({"model_name": "m", "n_parameters": "many"}))
    with pytest.raises(InputError, match=r"train_summary.json: TrainSummary key n_parameters"):
        read_train_summary(path)


def test_stage_commands_are_dvc_yamls_resolved_with_the_params_defaults(tmp_path):
    from ethoflow.acoustic.params import AcousticParams
    from ethoflow.core.stage import stage_commands

    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"acoustic": {"variants": {"a": {}, "b": {}}}}))
    cmds = stage_commands(REPO / "dvc.yaml", params, "acoustic_", {"acoustic": AcousticParams})
    assert cmds["acoustic_corpus"] == "python stages/acoustic_corpus.py --out data/interim/acoustic/corpus"
    assert {"acoustic_train@a", "acoustic_train@b", "acoustic_rf_filter@b-default"} <= set(cmds)
    assert "--out models/acoustic/b" in cmds["acoustic_train@b"]
    assert not any(s.startswith("moseq") for s in cmds)


def test_subpackages_export_their_api_lazily():
    import ethoflow.acoustic as acoustic
    import ethoflow.build06 as build06
    import ethoflow.core as core
    import ethoflow.dispatch as dispatch
    import ethoflow.hbehave as hbehave
    import ethoflow.vae as vae

    for pkg in (acoustic, build06, core, dispatch, hbehave, vae):
        names = [n for group in pkg._EXPORTS.values() for n in group]
        assert pkg.__all__ == sorted(names) and len(set(names)) == len(names) and dir(pkg) == pkg.__all__
        with pytest.raises(AttributeError, match="has no attribute"):
            pkg.not_a_name  # noqa: B018
    assert callable(dispatch.run) and callable(dispatch.map_array) and callable(dispatch.load_compute)
    if "torch" not in sys.modules:  # (another test may have imported it already)
        assert acoustic.AcousticParams and "torch" not in sys.modules


def test_an_export_named_like_its_module_stays_the_function():
    """``ethoflow.core.progress`` is both a module and the function it exports; the package gives the function."""
    import importlib

    module = importlib.import_module("ethoflow.core.progress")
    from ethoflow.core import progress

    assert callable(progress) and progress is module.progress


def test_history_records_are_checked_and_returned_as_written(tmp_path):
    """history.json keeps its key order (the report's train_curves.csv columns follow it)."""
    from ethoflow.acoustic.records import read_history

    path = tmp_path / "history.json"
    rec = {"epoch": 1, "lr": 0.001, "train_loss": 0.5, "val_f1": 0.2, "val_loss": 0.7}
    path.write_text(json.dumps([rec]))
    assert list(read_history(path)[0]) == ["epoch", "lr", "train_loss", "val_f1", "val_loss"]
    path.write_text(json.dumps([{"epoch": 1, "lr": 0.001, "val_loss": 0.7}]))
    with pytest.raises(InputError, match=r"history.json: EpochRecord key 0\.train_loss: Field required"):
        read_history(path)
