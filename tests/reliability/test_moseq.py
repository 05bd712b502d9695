"""Pose inputs (the real SLEAP file): empty, non-HDF5 and truncated files, an all-NaN session, files whose
bodyparts differ. ``ethoflow.core.inputs`` holds the checks; wiring them into ``moseq.io`` (and the
moseq_load stage) is the moseq pipeline's (see docs/reliability.md)."""

from __future__ import annotations

import numpy as np
import pytest

from ethoflow.core.errors import InputError
from ethoflow.core.inputs import check_hdf5, check_pose_sessions

SLP = "keypoints/sleap/centered_pair_predictions.slp"


@pytest.fixture(scope="module")
def slp(shared_data):
    import sleap_io

    labels = sleap_io.load_slp(str(shared_data / SLP))
    arr = labels.numpy()  # (frames, tracks, nodes, 2)
    return shared_data / SLP, arr, [str(n) for n in labels.skeletons[0].node_names]


def test_real_slp_passes(slp):
    path, arr, nodes = slp
    check_hdf5(path)
    check_pose_sessions({"track0": arr[:, 0], "track1": arr[:, 1]}, {str(path): nodes})


def test_zero_byte_slp_is_named_empty(tmp_path):
    p = tmp_path / "session.slp"
    p.write_bytes(b"")
    with pytest.raises(InputError, match=r"session\.slp: keypoint file is empty \(0 bytes\)"):
        check_hdf5(p)


def test_non_hdf5_file_is_named(tmp_path, shared_data):
    p = tmp_path / "session.slp"
    p.write_bytes((shared_data / "activity/dam/M014.txt").read_bytes()[:4000])  # a text file renamed
    with pytest.raises(InputError, match=r"session\.slp: keypoint file is not an HDF5 file"):
        check_hdf5(p)


def test_truncated_slp_is_named_truncated(tmp_path, shared_data):
    src = (shared_data / SLP).read_bytes()
    p = tmp_path / "session.slp"
    p.write_bytes(src[: len(src) // 3])
    with pytest.raises(InputError, match=r"session\.slp: keypoint file is truncated: \d+ of the \d+ bytes"):
        check_hdf5(p)


def test_all_nan_session_is_named_all_nan_not_a_fragment(slp):
    path, arr, nodes = slp
    dead = np.full_like(arr[:, 1], np.nan)  # a track whose every coordinate is missing
    with pytest.raises(InputError, match=r"centered_pair_predictions\.slp: session 'track1': all 1100 frames are NaN"):
        check_pose_sessions({"track0": arr[:, 0], "track1": dead}, files={"track1": str(path)})


def test_files_whose_bodyparts_differ_name_the_file_and_the_missing_bodyparts(slp):
    path, arr, nodes = slp
    other = [n for n in nodes if n not in ("wingL", "wingR")]
    with pytest.raises(InputError, match=r"b\.slp: bodyparts differ from a\.slp: missing \['wingL', 'wingR'\]"):
        check_pose_sessions({"t": arr[:, 0]}, {"a.slp": nodes, "b.slp": other})


def test_bodyparts_in_another_order_are_named_as_such(slp):
    path, arr, nodes = slp
    with pytest.raises(InputError, match="same names in another order"):
        check_pose_sessions({"t": arr[:, 0]}, {"a.slp": nodes, "b.slp": list(reversed(nodes))})
