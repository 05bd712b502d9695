"""Noise calibration from labelled frames: keypoint-moseq's confidence-to-error line fitted on
user-labelled vs predicted SLEAP keypoints.

The shared SLEAP file (../shared/data/keypoints/sleap) holds predictions only, no user-labelled
instance, so the fixture is built from it: on its first 40 frames, a user instance is added next to
each predicted one, displaced by the error a known line gives for each point's score (slope -0.5,
intercept 0.3, with 5% jitter); the fit must recover the line."""

from __future__ import annotations

import numpy as np
import pytest

from ethoflow.core.errors import InputError
from ethoflow.moseq.calibration import calibrate, fit_error_model, sleap_labelled_pairs

SLOPE, INTERCEPT = -0.5, 0.3


@pytest.fixture
def labelled_slp(shared_data, tmp_path):
    sio = pytest.importorskip("sleap_io")
    src = shared_data / "keypoints" / "sleap" / "centered_pair_predictions.slp"
    labels = sio.load_slp(str(src), open_videos=False)
    rng = np.random.default_rng(0)
    frames = [lf for lf in labels.labeled_frames if lf.predicted_instances][:40]
    for lf in frames:
        for pred in list(lf.predicted_instances):
            pts = pred.numpy(scores=True)
            err = 10 ** (SLOPE * np.log10(pts[:, 2] + 1e-3) + INTERCEPT) - 1.0
            err *= rng.uniform(0.95, 1.05, err.shape)
            angle = rng.uniform(0, 2 * np.pi, err.shape)
            xy = pts[:, :2] + np.stack([np.cos(angle), np.sin(angle)], 1) * err[:, None]
            lf.instances.append(sio.Instance.from_numpy(xy, skeleton=pred.skeleton, from_predicted=pred))
    labels.labeled_frames = frames
    out = tmp_path / "labelled.slp"
    sio.save_slp(labels, str(out))
    return src, out


def test_the_fit_recovers_the_confidence_to_error_line_and_writes_the_values_kpms_uses(labelled_slp, tmp_path):
    from ethoflow.core.io import read_json

    src, slp = labelled_slp
    pairs = sleap_labelled_pairs(slp)
    assert pairs["error"].size == pairs["confidence"].size == pairs["node"].size > 500
    result = calibrate([str(slp)], tmp_path / "cal" / "error_estimator.json", tmp_path / "cal" / "fit.png")
    assert result["error_estimator"]["slope"] == pytest.approx(SLOPE, abs=0.02)
    assert result["error_estimator"]["intercept"] == pytest.approx(INTERCEPT, abs=0.02)
    assert read_json(tmp_path / "cal" / "error_estimator.json")["error_estimator"] == result["error_estimator"]
    assert 0 < (tmp_path / "cal" / "fit.png").stat().st_size < 1_000_000
    # the file as shared (predictions only) cannot be calibrated: an error naming it
    with pytest.raises(InputError, match=rf"{src}: no user-labelled instance"):
        sleap_labelled_pairs(src)


def test_too_few_points_are_an_error():
    with pytest.raises(InputError, match="3 or more points"):
        fit_error_model(np.array([1.0, 2.0]), np.array([0.5, 0.9]))
