"""params.yaml declares each shared value once: the other section refers to it with a YAML alias."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ethoflow.core.params import load_params

REPO = Path(__file__).resolve().parents[2]

#: (declared at, used at): the value is written at the first key and aliased (``*name``) at the second
SHARED = [
    ("acoustic.features.fmin", "acoustic.rf.fmin"),
    ("acoustic.features.fmax", "acoustic.rf.fmax"),
    ("moseq.arhmm.target_duration_ms", "moseq.full.target_duration_ms"),
]


def _get(d: dict, dotted: str):
    for part in dotted.split("."):
        d = d[part]
    return d


def _line(text: str, dotted: str) -> str:
    """The params.yaml line of ``dotted`` (the key's last part under its section's last part)."""
    *parents, key = dotted.split(".")
    start = re.search(rf"^  {parents[-1]}:", text, re.M).start()
    return next(line for line in text[start:].splitlines() if line.strip().startswith(f"{key}:"))


@pytest.mark.parametrize(("declared", "used"), SHARED)
def test_a_shared_value_is_written_once_and_aliased(declared, used):
    text = (REPO / "params.yaml").read_text()
    params = load_params(REPO / "params.yaml")
    assert _get(params, declared) == _get(params, used)
    anchor = _line(text, declared).split(":", 1)[1].split()[0]
    assert anchor.startswith("&"), _line(text, declared)
    assert _line(text, used).split(":", 1)[1].split()[0] == "*" + anchor[1:], _line(text, used)
