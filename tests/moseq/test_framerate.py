"""Frame rate checked: a rate the file carries (NWB timestamps, SLEAP video) that disagrees with the
pipeline's fps stops with an error naming the file and both rates, unless load.trust_fps says which
to trust."""

from __future__ import annotations

import datetime

import numpy as np
import pytest

from ethoflow.core.errors import InputError
from ethoflow.moseq.framerate import file_frame_rates, reconcile


@pytest.fixture
def nwb_1hz(tmp_path):
    """A single-animal NWB file whose timestamps say 1 Hz (a converter's placeholder), bodyparts prefixed."""
    pytest.importorskip("ndx_pose")
    from ndx_pose import PoseEstimation, PoseEstimationSeries, Skeleton, Skeletons
    from pynwb import NWBHDF5IO, NWBFile

    nwb = NWBFile(
        session_description="test",
        identifier="test",
        session_start_time=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
    )
    sk = Skeleton(name="skeleton", nodes=["ind1_snout", "ind1_tailbase"], edges=np.array([[0, 1]], dtype="uint8"))
    rng = np.random.default_rng(0)
    series = [
        PoseEstimationSeries(
            name=n,
            data=rng.random((40, 2)),
            unit="px",
            reference_frame="top left",
            timestamps=np.arange(40.0),
            confidence=np.ones(40),
        )
        for n in sk.nodes
    ]
    behavior = nwb.create_processing_module(name="behavior", description="pose")
    behavior.add(Skeletons(skeletons=[sk]))
    behavior.add(PoseEstimation(name="pose", pose_estimation_series=series, skeleton=sk, source_software="DLC"))
    path = tmp_path / "mouse.nwb"
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return path


def test_nwb_timestamps_at_another_rate_stop_unless_told_which_to_trust(nwb_1hz):
    rates = file_frame_rates([str(nwb_1hz)], "nwb")
    assert rates == {str(nwb_1hz): (1.0, "NWB timestamps")}
    with pytest.raises(InputError, match=rf"{nwb_1hz}: 1 Hz \(NWB timestamps\) but fps 30 Hz \(params\).*trust_fps"):
        reconcile(30.0, "params", rates)
    fps, source, notes = reconcile(30.0, "params", rates, "params")
    assert (fps, source) == (30.0, "params") and len(notes) == 1
    assert reconcile(30.0, "params", rates, "file")[0] == 1.0
    assert reconcile(1.0, "params", rates) == (1.0, "params", [])  # agreeing: nothing to say


def test_formats_without_a_rate_are_not_checked(tmp_path):
    assert file_frame_rates([str(tmp_path / "x.h5")], "deeplabcut") == {}


def test_sleap_video_rate_is_compared_with_load_fps(shared_data, in_tmp):
    """The flies' video runs at 15 fps; moseq.load.fps 30 is an error naming the file; in moseq_load,
    trust_fps: params keeps 30 Hz and the load report lists the disagreement."""
    pytest.importorskip("keypoint_moseq")
    from ethoflow.moseq.params import MoseqParams
    from ethoflow.moseq.prepare import load

    slp = shared_data / "keypoints" / "sleap" / "centered_pair_predictions.slp"
    rates = file_frame_rates([str(slp)], "sleap")
    assert rates[str(slp)][0] == pytest.approx(15.0)
    with pytest.raises(InputError, match=rf"{slp}: 15 Hz \(SLEAP video .*\) but fps 30 Hz \(params\)"):
        reconcile(30.0, "params", rates)
    load_params = {
        "format": "sleap",
        "paths": [str(slp)],
        "use_bodyparts": ["head", "thorax", "abdomen"],
        "anterior_bodyparts": ["head"],
        "posterior_bodyparts": ["abdomen"],
        "fps": 30.0,
        "min_frames": 100,
    }
    report = load(MoseqParams(load={**load_params, "trust_fps": "params"}), in_tmp / "load")
    assert report["fps"] == 30.0 and len(report["fps_disagreements"]) == 1
