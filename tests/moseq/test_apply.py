"""Applying a model to new sessions: sessions that do not fit the model (a missing bodypart, another
frame rate) get an error naming the file; frequencies per session and group. The real apply on the
SLEAP flies is in tests/integration/test_moseq_pipeline.py."""

from __future__ import annotations

import numpy as np
import pytest

from ethoflow.core.errors import InputError
from ethoflow.moseq.apply import apply_metrics, load_new_sessions, syllable_frequencies, usage_report
from ethoflow.moseq.params import SessionSet

FLY_PARTS = ["head", "thorax", "abdomen", "wingL", "wingR", "forelegL1", "forelegR1", "hindlegL3", "hindlegR3"]


@pytest.fixture
def flies(shared_data):
    pytest.importorskip("keypoint_moseq")
    sleap = shared_data / "keypoints" / "sleap"
    slp = sleap / "centered_pair_predictions.slp"
    return SessionSet(format="sleap", input_dir=str(sleap), paths=[str(slp)], fps=15.0), slp  # the video's rate


def test_new_session_missing_a_modelled_bodypart_names_the_file(flies):
    sessions, slp = flies
    config = {"fps": 15.0, "bodyparts": [*FLY_PARTS, "nose"], "use_bodyparts": ["head", "nose"]}
    with pytest.raises(InputError, match=rf"{slp}.*\['nose'\].*missing"):
        load_new_sessions(sessions, config)


def test_new_session_at_another_frame_rate_names_the_file(flies):
    sessions, slp = flies
    config = {"fps": 50.0, "bodyparts": FLY_PARTS, "use_bodyparts": FLY_PARTS}
    with pytest.raises(InputError, match=rf"{slp}.*15 Hz differs from the model's 50 Hz"):
        load_new_sessions(sessions, config)


def test_new_sessions_are_arranged_in_the_models_bodypart_order(flies):
    sessions, _ = flies
    order = list(reversed(FLY_PARTS))
    coords, confs = load_new_sessions(sessions, {"fps": 15.0, "bodyparts": order, "use_bodyparts": order[:3]})
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


def test_a_prefixed_copy_of_the_tracks_reads_as_the_model_bodyparts_with_bodypart_map(flies, tmp_path):
    """The same flies tracked under other names (an ``ind1_`` prefix, as NWB files from multi-animal
    DeepLabCut carry): stopped with a hint, then read identically with strip_prefix or bodypart_map."""
    import sleap_io as sio

    sessions, slp = flies
    labels = sio.load_slp(str(slp))
    labels.skeletons[0].rename_nodes({n: f"ind1_{n}" for n in labels.skeletons[0].node_names})
    copy = tmp_path / slp.name
    sio.save_slp(labels, str(copy))
    config = {"fps": 15.0, "bodyparts": FLY_PARTS, "use_bodyparts": FLY_PARTS[:5]}
    want, want_conf = load_new_sessions(sessions, config)
    prefixed = dict(format="sleap", input_dir=str(tmp_path), paths=[str(copy)], fps=15.0)
    with pytest.raises(InputError, match="missing.*bodypart_map or strip_prefix"):
        load_new_sessions(SessionSet(**prefixed), config)
    for rename in ({"strip_prefix": "ind1_"}, {"bodypart_map": {f"ind1_{b}": b for b in FLY_PARTS}}):
        coords, confs = load_new_sessions(SessionSet(**prefixed, **rename), config)
        assert sorted(coords) == sorted(want)
        for k in want:
            np.testing.assert_array_equal(coords[k], want[k])
            np.testing.assert_array_equal(confs[k], want_conf[k])
    with pytest.raises(InputError, match="named twice"):
        load_new_sessions(SessionSet(**prefixed, bodypart_map={"ind1_head": "thorax", "ind1_thorax": "thorax"}), config)


def test_apply_reports_usage_and_agreement_with_the_training_labels():
    training = {"a": {"syllable": np.array([0, 0, 1, 1, 2, 2, 3, 3])}, "b": {"syllable": np.array([0, 1, 2, 3])}}
    applied = {"a": {"syllable": np.array([0, 0, 1, 1, 2, 2, 3, 0])}, "new": {"syllable": np.array([1, 1, 2, 3])}}
    report = usage_report(applied, training)
    assert report["agreement"] == {"a": 0.875} and report["agreement_mean"] == 0.875  # "new" is no training session
    assert report["usage"] == {"0": 0.25, "1": 0.333333, "2": 0.25, "3": 0.166667}
    assert report["syllables_used"] == 4 and report["training_syllables"] == 4 and report["warnings"] == []


def test_an_apply_forced_to_collapse_warns_by_name():
    """One syllable over half the frames, fewer than half of the training syllables: both named, in the
    summary and as 0/1 in the metrics."""
    training = {"a": {"syllable": np.arange(8) % 6}}
    collapsed = {"a": {"syllable": np.array([4, 4, 4, 4, 4, 4, 1, 1])}}
    report = usage_report(collapsed, training)
    assert [w["name"] for w in report["warnings"]] == ["one_syllable_dominates", "few_syllables_used"]
    assert "syllable 4 covers 75%" in report["warnings"][0]["message"]
    assert report["agreement"] == {"a": 0.25}
    summary = {"sessions": ["a"], "frames": {"a": 8}, "syllables_used": 2, "num_iters": 3, **report}
    assert apply_metrics(summary)["warnings"] == {"one_syllable_dominates": 1, "few_syllables_used": 1}
    assert usage_report(collapsed, training, max_fraction=0.8, min_syllables_fraction=0.3)["warnings"] == []
