"""params.yaml survives ``dvc exp run -S``.

``dvc exp run -S key=value`` rewrites params.yaml before the run: DVC 3.x parses the override with
Hydra's grammar, applies it with :func:`dvc.utils.hydra.apply_overrides` (called from
``dvc.repo.experiments.queue.base.BaseStashQueue._update_params``) and dumps the *whole* file again
with ruamel (YAML 1.2): every value is replaced by a plain Python object, so quotes the file had
(``"19:00"``, ``"2024-03-04 00:00"``, ``"^(?P<tape>[^_]+)"``) are gone. These tests apply that same
DVC function to a copy of the repository's params.yaml and check that ethoflow still reads the
rewritten file into exactly the same typed params.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from ethoflow.config import load_project_params
from ethoflow.core.params import load_params
from tests.conftest import REPO

PARAMS = REPO / "params.yaml"


def leaves(data: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """(dotted key, value) of every leaf: a scalar, a list (whole) or an empty mapping."""
    if isinstance(data, dict) and data:
        out: list[tuple[str, Any]] = []
        for key, value in data.items():
            out += leaves(value, f"{prefix}.{key}" if prefix else str(key))
        return out
    return [(prefix, data)]


def _parse_override(text: str) -> Any:
    from dvc.utils.hydra import to_hydra_overrides

    return to_hydra_overrides([f"x={text}"])[0].value()


def _string(value: str) -> str:
    """A string as a user types it: bare when Hydra reads it back unchanged, else quoted."""
    for text in (value, f"'{value}'", f'"{value}"'):
        try:
            parsed = _parse_override(text)
        except Exception:  # noqa: BLE001 - Hydra's grammar rejects this spelling: try the next
            continue
        if isinstance(parsed, str) and parsed == value:
            return text
    raise AssertionError(f"{value!r} cannot be written as a Hydra override value")


def cli_value(value: Any) -> str:
    """``value`` written as a Hydra override value, the way a user types it after ``-S key=``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, list):
        return "[" + ",".join(cli_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{cli_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"no override syntax for {type(value).__name__}: {value!r}")


def _addressable(key: str) -> bool:
    """Whether Hydra's override grammar accepts ``key`` as a dotted path (``1day`` is not: a key
    segment must not start with a digit)."""
    from dvc.utils.hydra import to_hydra_overrides

    try:
        to_hydra_overrides([f"{key}=0"])
    except Exception:  # noqa: BLE001 - OverrideParseException
        return False
    return True


def override_for(key: str, data: dict) -> str:
    """``-S`` text setting ``key`` to its current value in ``data``. A key Hydra cannot address
    (``hbehave.extract.aggregations.1day``) is set through its nearest addressable parent mapping,
    which is how a user has to write it (``-S 'hbehave.extract.aggregations={1day:720,2days:2880}'``)."""
    parts = key.split(".")
    while not _addressable(".".join(parts)):
        parts.pop()
        assert parts, f"no addressable parent for {key}"
    value: Any = data
    for part in parts:
        value = value[part]
    return f"{'.'.join(parts)}={cli_value(value)}"


ORIGINAL = load_params(PARAMS)
LEAVES = leaves(ORIGINAL)


def _exp_set(tmp_path: Path, overrides: list[str]) -> Path:
    """Copy params.yaml to ``tmp_path`` and rewrite it exactly as ``dvc exp run -S`` does."""
    from dvc.utils.hydra import apply_overrides

    path = tmp_path / "params.yaml"
    shutil.copyfile(PARAMS, path)
    apply_overrides(path, overrides)
    return path


def test_every_leaf_is_enumerated():
    keys = [k for k, _ in LEAVES]
    assert len(keys) == len(set(keys)) > 100
    # spot checks: nested mappings, lists of mappings, lists, nulls, quoted strings
    for key in (
        "hbehave.heatmaps.dpi",
        "acoustic.corpus.sources",
        "hbehave.demo.start",
        "compute.default.slurm_extra",
        "compute.stages.moseq_full.options.mixed_map_iters",
    ):
        assert key in keys


@pytest.fixture(scope="module")
def typed_original() -> dict:
    return load_project_params(PARAMS).model_dump()


@pytest.fixture(scope="module")
def cached_roundtrip_parse():
    """Parse the unchanged params.yaml with DVC's round-trip parser once and hand each call a deep
    copy (identical output, a third of the time: ruamel's pure-Python parse dominates); everything
    else in ``apply_overrides`` runs as in DVC."""
    import copy

    import dvc.utils.serialize._yaml as dvc_yaml

    real = dvc_yaml.parse_yaml_for_update
    cache: dict[str, Any] = {}

    def parse(text, path):
        if text not in cache:
            cache[text] = real(text, path)
        return copy.deepcopy(cache[text])

    dvc_yaml.parse_yaml_for_update = parse
    yield
    dvc_yaml.parse_yaml_for_update = real


#: leaf keys by section (first two levels: ``acoustic.train``, ``compute.stages``, ``vae.seed``)
SECTIONS: dict[str, list[str]] = {}
for _key, _ in LEAVES:
    SECTIONS.setdefault(".".join(_key.split(".")[:2]), []).append(_key)


@pytest.mark.parametrize("section", sorted(SECTIONS))
def test_exp_set_own_value_keeps_params(tmp_path, section, typed_original, cached_roundtrip_parse):
    """``dvc exp run -S <key>=<its current value>`` for every key of a section leaves the typed params
    unchanged. The section's keys go in one rewrite (as ``-S`` given several times); on a difference the
    keys that cause it on their own are named."""
    overrides = list(dict.fromkeys(override_for(key, ORIGINAL) for key in SECTIONS[section]))
    if load_project_params(_exp_set(tmp_path, overrides)).model_dump() != typed_original:
        bad = [o for o in overrides if load_project_params(_exp_set(tmp_path, [o])).model_dump() != typed_original]
        pytest.fail(f"dvc exp run -S changes the typed params: {bad or overrides}")


def test_exp_run_set_dpi_then_validates(tmp_path):
    """The README's example: ``dvc exp run -S hbehave.heatmaps.dpi=60`` rewrites the whole file;
    it still validates, with only that value changed."""
    path = _exp_set(tmp_path, ["hbehave.heatmaps.dpi=60"])
    assert path.read_text(encoding="utf-8") != PARAMS.read_text(encoding="utf-8")
    before = load_project_params(PARAMS).model_dump()
    after = load_project_params(path).model_dump()
    assert after["hbehave"]["heatmaps"]["dpi"] == 60
    after["hbehave"]["heatmaps"]["dpi"] = before["hbehave"]["heatmaps"]["dpi"]
    assert after == before


def test_rewritten_file_reads_as_dvc_reads_it(tmp_path):
    """After DVC's rewrite (quotes gone), ethoflow's loader and DVC's own agree value for value."""
    from dvc.utils.serialize import load_yaml

    path = _exp_set(tmp_path, ["hbehave.heatmaps.dpi=60", "hbehave.heatmaps.day_start_hour=6.5"])
    assert load_params(path) == load_yaml(str(path))
    assert load_project_params(path).hbehave.heatmaps.day_start_hour == 6.5


def test_loader_reads_params_as_dvc_does():
    """ethoflow's loader and DVC's (the one ``dvc params diff`` and ``-S`` use) agree."""
    from dvc.utils.serialize import load_yaml

    assert load_params(PARAMS) == load_yaml(str(PARAMS))
