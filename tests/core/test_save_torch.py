"""``save_torch``: the one torch write recipe gives the bytes the two former recipes gave."""

from __future__ import annotations

import io
import zipfile

import pytest

torch = pytest.importorskip("torch")

from ethoflow.core.io import load_torch, save_torch  # noqa: E402


def _payload() -> dict:
    g = torch.Generator().manual_seed(0)
    return {"state_dict": {"w": torch.randn(3, 4, generator=g)}, "classes": ["noise", "call"], "best_epoch": 2}


def test_default_is_torch_save_through_memory(tmp_path):
    """vae/hbehave files: records under ``archive/``, bytes equal to ``torch.save`` into a buffer."""
    buf = io.BytesIO()
    torch.save(_payload(), buf)
    path = save_torch(tmp_path / "model.pt", _payload())
    assert path.read_bytes() == buf.getvalue()
    assert zipfile.ZipFile(path).namelist()[0].startswith("archive/")
    assert save_torch(tmp_path / "again.pt", _payload()).read_bytes() == buf.getvalue()  # any file name


def test_records_named_after_file_keep_the_acoustic_layout(tmp_path):
    """acoustic model files: records under ``.model.partial/`` (the temporary file torch.save wrote to)."""
    ref = tmp_path / "ref" / ".model.partial.pt"
    ref.parent.mkdir()
    torch.save(_payload(), ref)
    path = save_torch(tmp_path / "out" / "model.pt", _payload(), records_named_after_file=True)
    assert path.read_bytes() == ref.read_bytes()
    assert zipfile.ZipFile(path).namelist()[0].startswith(".model.partial/")
    assert not list(path.parent.glob(".*partial*"))  # the temporary file is renamed over the target


def test_round_trip(tmp_path):
    ck = load_torch(save_torch(tmp_path / "m.pt", _payload()), weights_only=True)
    assert torch.equal(ck["state_dict"]["w"], _payload()["state_dict"]["w"]) and ck["classes"] == ["noise", "call"]


def test_torch_files_are_written_and_read_only_through_core_io():
    """One recipe: no ``torch.save``/``torch.load`` call in the library outside ethoflow.core.io."""
    import ast
    from pathlib import Path

    src = Path(__file__).resolve().parents[2] / "src" / "ethoflow"
    calls = [
        f"{p.relative_to(src)}:{n.lineno}"
        for p in src.rglob("*.py")
        if p != src / "core" / "io.py"
        for n in ast.walk(ast.parse(p.read_text(encoding="utf-8")))
        if isinstance(n, ast.Call) and ast.unparse(n.func) in ("torch.save", "torch.load")
    ]
    assert not calls, f"use ethoflow.core.io.save_torch/load_torch: {calls}"
