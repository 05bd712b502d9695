"""Typed params: wrong keys and types fail at stage start, naming the file and key."""

import pytest

from ethoflow.core.errors import ParamsError
from ethoflow.core.params import StrictModel, load_section
from ethoflow.dispatch import ComputeParams, load_compute


class Train(StrictModel):
    lr: float = 1e-3
    epochs: int = 10


class Section(StrictModel):
    seed: int = 0
    train: Train = Train()


def write(tmp_path, text):
    p = tmp_path / "params.yaml"
    p.write_text(text)
    return p


def test_load_section_types(tmp_path):
    p = write(tmp_path, "demo:\n  seed: 3\n  train:\n    lr: 0.01\n")
    cfg = load_section("demo", Section, p)
    assert cfg.seed == 3 and cfg.train.lr == 0.01 and cfg.train.epochs == 10


def test_unknown_key_names_file_and_path(tmp_path):
    p = write(tmp_path, "demo:\n  train:\n    learning_rate: 0.01\n")
    with pytest.raises(ParamsError, match=r"params.yaml: demo.train.learning_rate: unknown key"):
        load_section("demo", Section, p)


def test_wrong_type_names_file_key_and_value(tmp_path):
    p = write(tmp_path, "demo:\n  train:\n    epochs: many\n")
    with pytest.raises(ParamsError, match=r"demo.train.epochs: .*integer.*\(got 'many'\)"):
        load_section("demo", Section, p)


def test_missing_section_and_file(tmp_path):
    p = write(tmp_path, "other: {}\n")
    with pytest.raises(ParamsError, match="section 'demo' is missing"):
        load_section("demo", Section, p)
    with pytest.raises(ParamsError, match="params file not found"):
        load_section("demo", Section, tmp_path / "nope.yaml")


def test_project_params_file_is_valid():
    """The committed params.yaml loads into every section's model."""
    from ethoflow.config import load_project_params
    from tests.conftest import REPO

    params = load_project_params(REPO / "params.yaml")
    assert params.compute.executor in ("local", "debug", "slurm")


def test_compute_merges_default_and_stage(tmp_path, monkeypatch):
    p = write(
        tmp_path,
        "compute:\n  executor: local\n  default: {cpus: 2, timeout_min: 30, slurm_extra: {account: lab}}\n"
        "  stages:\n    train: {gpus: 1, timeout_min: 300, slurm_extra: {qos: high}}\n",
    )
    compute = load_compute(p)
    res = compute.resources("train@variant_a")
    assert (res.gpus, res.cpus, res.timeout_min) == (1, 2, 300)
    assert res.slurm_extra == {"account": "lab", "qos": "high"}
    assert compute.resources("other").gpus == 0


def test_executor_env_override(monkeypatch):
    compute = ComputeParams(executor="local")
    monkeypatch.setenv("ETHOFLOW_EXECUTOR", "slurm")
    assert compute.effective_executor() == "slurm"
    monkeypatch.setenv("ETHOFLOW_EXECUTOR", "cloud")
    with pytest.raises(Exception, match="ETHOFLOW_EXECUTOR='cloud' is not an executor"):
        compute.effective_executor()


def test_params_read_as_yaml_1_2_like_dvc(tmp_path):
    """What `dvc exp run -S` writes unquoted reads back as DVC reads it (YAML 1.2), not as PyYAML's
    YAML 1.1 would (19:00 -> 1140, 1e-05 -> '1e-05', yes -> True)."""
    from dvc.utils.serialize import load_yaml

    from ethoflow.core.params import load_params

    text = "s:\n  t: 19:00\n  lr: 1e-05\n  flag: yes\n  hexish: 0x1F\n  day: 2024-03-04 00:00\n  none: null\n"
    p = write(tmp_path, text)
    data = load_params(p)
    assert data == load_yaml(str(p))
    assert data["s"] == {
        "t": "19:00",
        "lr": 1e-05,
        "flag": "yes",
        "hexish": 31,
        "day": "2024-03-04 00:00",
        "none": None,
    }


def test_invalid_yaml_and_duplicate_keys_one_line(tmp_path):
    p = write(tmp_path, "demo:\n  seed: 1\n  seed: 2\n")
    with pytest.raises(ParamsError, match=r"params.yaml: invalid YAML at line 3, column 3: found duplicate key") as e:
        load_section("demo", Section, p)
    assert "\n" not in str(e.value)
    p = write(tmp_path, "demo: [1\n")
    with pytest.raises(ParamsError, match=r"params.yaml: invalid YAML at line \d+, column \d+"):
        load_section("demo", Section, p)


def test_string_none_is_refused_with_the_key(tmp_path):
    """`-S key=None` writes the string 'None', not null: refused, naming the key."""

    class Paths(StrictModel):
        root: str | None = None

    p = write(tmp_path, "demo:\n  root: None\n")
    with pytest.raises(ParamsError, match=r"params.yaml: demo.root: the string 'None'; write null"):
        load_section("demo", Paths, p)
    assert load_section("demo", Paths, write(tmp_path, "demo:\n  root: null\n")).root is None
