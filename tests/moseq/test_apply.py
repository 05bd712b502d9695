"""Applying a model to new sessions: sessions that do not fit the model (a missing bodypart, another
frame rate) get an error naming the file; frequencies per session and group. The real apply on the
SLEAP flies is in tests/integration/test_moseq_pipeline.py."""

from __future__ import annotations

import numpy as np
import pytest

from ethoflow.core.errors import InputError
from ethoflow.moseq.apply import load_new_sessions, syllable_frequencies
from ethoflow.moseq.params import SessionSet

FLY_PARTS = ["head", "thorax", "abdomen", "wingL", "wingR", "forelegL1", "forelegR1", "hindlegL3", "hindlegR3"]


@pytest.fixture
def flies(shared_data):
    pytest.importorskip("keypoint_moseq")
    sleap = shared_data / "keypoints" / "sleap"
    slp = sleap / "centered_pair_predictions.slp"
    return SessionSet(format="sleap", input_dir=str(sleap), paths=[str(slp)], fps=30.0), slp


def test_new_session_missing_a_modelled_bodypart_names_the_file(flies):
    sessions, slp = flies
    config = {"fps": 30.0, "bodyparts": [*FLY_PARTS, "nose"], "use_bodyparts": ["head", "nose"]}
    with pytest.raises(InputError, match=rf"{slp}.*\['nose'\].*missing"):
        load_new_sessions(sessions, config)


def test_new_session_at_another_frame_rate_names_the_file(flies):
    sessions, slp = flies
    config = {"fps": 50.0, "bodyparts": FLY_PARTS, "use_bodyparts": FLY_PARTS}
    with pytest.raises(InputError, match=rf"{slp}.*30 Hz differs from the model's 50 Hz"):
        load_new_sessions(sessions, config)


def test_new_sessions_are_arranged_in_the_models_bodypart_order(flies):
    sessions, _ = flies
    order = list(reversed(FLY_PARTS))
    coords, confs = load_new_sessions(sessions, {"fps": 30.0, "bodyparts": order, "use_bodyparts": order[:3]})
    assert coords and all(c.shape[1:] == (len(order), 2) and c.dtype == np.float64 for c in coords.values())
    assert all(confs[k].shape == coords[k].shape[:2] for k in coords)


def test_syllable_frequencies_per_session_and_group():
    res = {"b": {"syllable": np.array([0, 0, 1, 1])}, "a": {"syllable": np.array([0, 0, 0, 2])}}
    per_session, per_group = syllable_frequencies(res, {"a": "x"}, num_states=5)
    assert per_session["syllable"].unique().tolist() == [0, 1, 2]  # unused syllables 3, 4 left out
    a = per_session[per_session.session == "a"].set_index("syllable")
    assert a["frames"].tolist() == [3, 0, 1] and a["fraction"].tolist() == [0.75, 0.0, 0.25]
    assert set(per_group["group"]) == {"x", "default"}
    assert per_group.groupby("group")["fraction"].sum().tolist() == pytest.approx([1.0, 1.0])
