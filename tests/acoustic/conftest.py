"""Fixtures for the acoustic tests: a tiny seeded demo corpus and the tiny params of ``tests/fixtures/tiny.py``."""

from __future__ import annotations

import pytest

from ethoflow.acoustic.params import CorpusParams, DemoParams, FeatureParams, TrainParams
from tests.fixtures.tiny import ACOUSTIC_DEMO as TINY_DEMO
from tests.fixtures.tiny import ACOUSTIC_FEATURES as TINY_FEATURES
from tests.fixtures.tiny import ACOUSTIC_TRAIN as TINY_TRAIN

__all__ = ["TINY_DEMO", "TINY_FEATURES", "TINY_TRAIN"]  # the names the acoustic tests import from here


@pytest.fixture(autouse=True)
def _one_thread():
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory):
    """A tiny demo corpus (3 tapes x 2 recordings x 8 s at 16 kHz) with Raven tables."""
    from ethoflow.demo.acoustic import generate

    out = tmp_path_factory.mktemp("acoustic_demo")
    generate(out, DemoParams(**TINY_DEMO))
    return out


@pytest.fixture(scope="session")
def demo_index(demo_dir):
    from ethoflow.acoustic.data.corpus import build_corpus

    cfg = CorpusParams(
        sources=[
            dict(
                name="demo",
                format="raven",
                annotations=f"{demo_dir}/*.selections.txt",
                quality_column="Quality",
                tape_regex="^(?P<tape>[^_]+)",
            )
        ]
    )
    index, _ = build_corpus(cfg, root="/")
    return index


@pytest.fixture
def tiny_features():
    return FeatureParams(**TINY_FEATURES)


@pytest.fixture
def tiny_train():
    return TrainParams(**TINY_TRAIN)
