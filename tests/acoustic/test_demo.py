"""The seeded demo: benchmark tapes (the demo's test set) drawn after the corpus tapes, which stay the same."""

from __future__ import annotations

import pytest

from ethoflow.acoustic.params import DemoParams
from ethoflow.demo.acoustic import generate

TINY = dict(seed=3, n_tapes=2, recordings_per_tape=1, recording_s=4.0, sr=8000, calls_per_minute=30.0)


def test_benchmark_tapes_are_added_after_the_corpus_tapes_which_keep_their_bytes(tmp_path):
    plain = generate(tmp_path / "a", DemoParams(**TINY))
    more = generate(tmp_path / "b", DemoParams(**TINY, benchmark_tapes=2, benchmark_recording_s=6.0))
    assert more["recordings"] == ["T01_r1", "T02_r1", "B01_r1", "B02_r1"]
    assert more["seconds"] == pytest.approx(2 * 4.0 + 2 * 6.0)
    for stem in plain["recordings"]:
        for ext in (".wav", ".Table.1.selections.txt"):
            assert (tmp_path / "a" / f"{stem}{ext}").read_bytes() == (tmp_path / "b" / f"{stem}{ext}").read_bytes()
    with pytest.raises(ValueError, match="benchmark_recording_s"):
        generate(tmp_path / "c", DemoParams(**TINY, benchmark_tapes=1, benchmark_recording_s=1.5))
