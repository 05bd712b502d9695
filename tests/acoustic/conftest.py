"""Fixtures for the acoustic tests: a tiny seeded demo corpus and tiny params."""

from __future__ import annotations

import pytest

from ethoflow.acoustic.params import CorpusParams, DemoParams, FeatureParams, TrainParams

TINY_DEMO = dict(seed=3, n_tapes=3, recordings_per_tape=2, recording_s=8.0, sr=16000, calls_per_minute=30.0)
TINY_FEATURES = dict(sr=16000, n_fft=512, hop_length=256, n_freq_bins=32, fmin=0.0, fmax=4000.0)
TINY_TRAIN = dict(base_width=4, epochs=2, batch_size=8, num_threads=1)


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
    from ethoflow.acoustic.corpus import build_corpus

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
