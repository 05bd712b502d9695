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


def _record_samples() -> list[tuple[str, str, dict]]:
    """(module, class, the dict its writer gives) for every record written to a JSON file."""
    fit = {
        "classes": ["target"],
        "best_epoch": 2,
        "epochs_run": 3,
        "stopped_early": False,
        "resumed": False,
        "metric": "f1",
        "best_val_metric": 0.55,
        "best_val_loss": 0.58,
        "final_train_loss": None,
        "scores": {"val": {"f1": 0.55, "precision": 0.41}},
    }
    recording = {"recording": "a", "tape": "A", "file": "a.wav", "sr": 22050, "duration_s": 3.5, "role": "train"}
    return [
        (
            "ethoflow.acoustic.records",
            "VariantIndex",
            {
                "strategy": "random",
                "seed": 5,
                "classes": ["target"],
                "counts": {"train": {"n": 3, "by_label": {"target": 2}, "tapes": ["A"]}},
                "tape_roles": {"A": "train"},
                "noise": {"per_target": 1.5, "margin_s": 0.05, "min_len_s": 0.4, "max_len_s": None, "n_mined": 1},
                "recordings": [recording],
            },
        ),
        ("ethoflow.acoustic.records", "TrainSummary", {**fit, "n_segments": {"train": 10, "val": 4}}),
        (
            "ethoflow.acoustic.records",
            "FramewiseTrainSummary",
            {"arch": "framewise", **fit, "n_frames": {"train": 1002}, "context_frames": 11},
        ),
        (
            "ethoflow.hbehave.records",
            "TrainSummary",
            {
                "train_loss": 0.96,
                "val_loss": None,
                "steps": 12,
                "epochs": 2,
                "completed": True,
                "parameters": 28768,
                "flops_per_window": 666624,
                "train_windows": 22,
                "val_windows": 0,
                "seconds": 8.03,
                "world_size": 1,
                "resumed_from_step": None,
            },
        ),
        (
            "ethoflow.vae.records",
            "TrainSummary",
            {
                "model_name": "m",
                "n_parameters": 1000,
                "epochs_run": 3,
                "best_epoch": 2,
                "stopped_early": False,
                "monitor": "val_elbo",
                "recon": 0.5,
                "kl": 0.25,
                "elbo": 0.75,
                "latent_dim": 8,
                "active_dims": 3,
                "n_train_snips": 40,
                "n_val_snips": 10,
                "n_val_cages": 2,
                "n_train_cages": 6,
                "recon_nmse_val": 0.1,
                "posterior_collapse": False,
            },
        ),
        (
            "ethoflow.moseq.search",
            "SearchState",
            {"method": "secant", "target": [9.0, 12.0], "bounds": [3.0, 18.0], "start": 6.0, "max_trials": 30},
        ),
    ]


@pytest.mark.parametrize("module, name, data", _record_samples(), ids=lambda v: v if isinstance(v, str) else "")
def test_each_record_round_trips_through_write_record_and_read_record(module, name, data, tmp_path):
    """The writer's record (built from what the stage computes) and the reader's are the same class: the
    file holds exactly the writer's keys and values (no default added, no number retyped) and reads back
    equal."""
    import importlib

    from ethoflow.core.io import dumps_json
    from ethoflow.core.records import read_record, write_record

    model = getattr(importlib.import_module(module), name)
    record = model(**data)
    path = write_record(tmp_path / "record.json", record)
    assert path.read_text() == dumps_json(data)
    assert read_record(path, model) == record


def test_the_df03_sidecar_round_trips(tmp_path):
    from ethoflow.build06.sidecar import Df03Sidecar, read_sidecar

    data = {
        "model_name": "m",
        "latent_store": "models/vae/m",
        "latent_files": {"e1": "z.parquet", "e2": None},
        "df02": "df02.parquet",
        "z_schema": "flat",
        "z_dtype": "float32",
        "z_columns": ["z0"],
        "n_rows": 3,
        "params": {"model": "m"},
        "coverage": {"n_rows": 3, "n_with_latents": 2, "coverage": 2 / 3},
        "unmatched_latents": 0,
        "missing_latent_files": 1,
        "outputs": ["df03.parquet"],
    }
    sidecar = Df03Sidecar(**data)
    path = tmp_path / "df03.json"
    path.write_text(sidecar.to_json())
    assert json.loads(path.read_text()) == data and read_sidecar(path) == sidecar


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
