"""Shared test fixtures: paths to the real data in ../shared/data, and quiet, seeded runs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("ETHOFLOW_SHARED_DATA", REPO.parent / "shared" / "data")).resolve()

os.environ.setdefault("ETHOFLOW_PROGRESS", "0")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the repository (real datasets; never copied into the repo)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real test data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def in_tmp(tmp_path, monkeypatch) -> Path:
    """Run the test inside an empty temporary project folder (``ETHOFLOW_ROOT`` points at it)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ETHOFLOW_ROOT", str(tmp_path))
    return tmp_path
