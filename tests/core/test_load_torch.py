"""Corrupt, truncated or empty model files: one InputError naming the file (issue #14 item 3)."""

from pathlib import Path

import pytest
import torch

from ethoflow.core.errors import InputError
from ethoflow.core.io import load_torch


def _good(tmp_path: Path) -> Path:
    p = tmp_path / "model.pt"
    torch.save({"w": torch.arange(1000.0), "format": "x"}, p)
    return p


def _damage(p: Path, how: str) -> Path:
    data = p.read_bytes()
    if how == "empty":
        p.write_bytes(b"")
    elif how == "truncated":
        p.write_bytes(data[: len(data) // 2])
    elif how == "garbage":
        p.write_bytes(b"not a torch file at all\n" * 20)
    return p


@pytest.mark.parametrize(
    "how,problem", [("empty", "empty"), ("truncated", "truncated or corrupt"), ("garbage", "truncated or corrupt")]
)
def test_load_torch_names_file_and_problem(tmp_path, how, problem):
    p = _damage(_good(tmp_path), how)
    with pytest.raises(InputError) as ei:
        load_torch(p, "VAE model file", map_location="cpu", weights_only=False)
    msg = str(ei.value)
    assert str(p) in msg and problem in msg and "VAE model file" in msg
    assert "\n" not in msg


def test_load_torch_missing_and_good(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_torch(tmp_path / "nope.pt")
    assert load_torch(_good(tmp_path), weights_only=True)["format"] == "x"


@pytest.mark.parametrize("how", ["empty", "truncated", "garbage"])
def test_model_loaders_name_corrupt_file(tmp_path, how):
    from ethoflow.acoustic.training.train import load_model
    from ethoflow.hbehave.train import load_checkpoint
    from ethoflow.vae.training import load_vae

    for loader in (load_model, load_vae, load_checkpoint):
        p = _damage(_good(tmp_path), how)
        with pytest.raises(InputError) as ei:
            loader(p)
        assert str(p) in str(ei.value), loader


def test_load_torch_permission_denied_is_not_called_corrupt(tmp_path, monkeypatch):
    p = _good(tmp_path)

    def denied(*a, **k):
        raise PermissionError(13, "Permission denied", str(p))

    monkeypatch.setattr(torch, "load", denied)  # root ignores chmod 0, so the denial is simulated
    with pytest.raises(InputError) as ei:
        load_torch(p)
    assert str(ei.value) == f"{p}: checkpoint cannot be read: permission denied"
