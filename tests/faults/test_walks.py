"""Folder walks of the pose loader (``moseq.io.load_keypoint_files``): what goes wrong in a folder is named
as such, before keypoint-moseq is imported (so these cases cost milliseconds). A symlink loop used to be
reported by keypoint-moseq as "Duplicate names", a zero-byte or garbage ``.h5`` in a folder as an HDF5
traceback, and a file missing a bodyparts as a numpy concatenate error later."""

from __future__ import annotations

import os

import pytest

from ethoflow.core.errors import InputError
from ethoflow.moseq.io import load_keypoint_files
from tests.faults.formats import _dlc_frame, _make_dlc_h5


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "raw"
    (d / "day2").mkdir(parents=True)
    _make_dlc_h5(d)
    _make_dlc_h5(d / "day2").rename(d / "day2" / "session2.h5")
    return d


def _load(folder, required=None):
    return load_keypoint_files([str(folder)], "deeplabcut", None, required)


def test_symlink_loop_is_named_not_duplicate_names(folder):
    os.symlink(folder, folder / "day2" / "back")
    with pytest.raises(InputError) as exc:
        _load(folder)
    assert f"{folder / 'day2' / 'back'}: symlink loop: it points to {folder}, a folder that contains it" in str(
        exc.value
    )


def test_broken_symlink_in_a_folder_is_named(folder):
    os.symlink(folder / "gone.h5", folder / "day2" / "session3.h5")
    with pytest.raises(InputError, match=r"day2/session3.h5: broken symlink \(points to .*gone.h5"):
        _load(folder)


def test_one_file_reached_twice_through_a_symlink_is_named(folder):
    os.symlink(folder / "session1.h5", folder / "day2" / "copy.h5")
    with pytest.raises(InputError, match=r"day2/copy.h5: the same file as .*session1.h5"):
        _load(folder)


def test_unreadable_file_in_a_folder_is_named(folder, monkeypatch):
    """Permission denied (simulated: the tests may run as root, which reads any file)."""
    real_open = os.open
    blocked = str(folder / "day2" / "session2.h5")

    def fake_open(path, flags, *a, **kw):
        if str(path) == blocked:
            raise PermissionError(13, "Permission denied", blocked)
        return real_open(path, flags, *a, **kw)

    monkeypatch.setattr(os, "open", fake_open)
    with pytest.raises(InputError, match=r"day2/session2.h5: keypoint file cannot be read \(Permission denied\)"):
        _load(folder)


@pytest.mark.parametrize(
    ("damage", "named"),
    [(b"", "keypoint file is empty (0 bytes)"), (b"garbage " * 100, "keypoint file is not an HDF5 file")],
    ids=["zero_byte", "garbage"],
)
def test_damaged_h5_inside_a_folder_is_named(folder, damage, named):
    (folder / "day2" / "session2.h5").write_bytes(damage)
    with pytest.raises(InputError) as exc:
        _load(folder)
    assert f"day2/session2.h5: {named}" in str(exc.value)


def test_a_file_missing_a_bodypart_is_named_before_any_computation(folder):
    from ethoflow.demo.moseq import _write_dlc_h5

    _write_dlc_h5(_dlc_frame(bodyparts=["head", "b1", "tail"]), folder / "session1.h5")  # read after day2/
    with pytest.raises(
        InputError, match=r"raw/session1.h5: bodyparts differ from .*day2/session2.h5: missing \['b2'\]"
    ):
        _load(folder)
    with pytest.raises(InputError, match=r"raw/session1.h5: bodypart\(s\) \['b2'\] of moseq.load.use_bodyparts"):
        _load(folder, {"moseq.load.use_bodyparts": ["head", "b2"]})
