"""moseq params: keypoint inputs must lie inside the folder DVC tracks as moseq_load's dependency."""

import pytest
from pydantic import ValidationError

from ethoflow.moseq.params import LoadParams


def test_paths_outside_input_dir_are_refused():
    with pytest.raises(ValidationError, match=r"\['/lab/poses/\*\.slp'\] lie outside load.input_dir 'data/raw/moseq'"):
        LoadParams(input_dir="data/raw/moseq", paths=["/lab/poses/*.slp"])


def test_paths_and_video_dir_inside_input_dir_are_accepted():
    p = LoadParams(
        input_dir="/lab/poses", paths=["/lab/poses/*.slp", "/lab/poses/day2"], fps=None, video_dir="/lab/poses/videos"
    )
    assert p.input_dir == "/lab/poses"


def test_video_dir_outside_input_dir_is_refused():
    with pytest.raises(ValidationError, match="video_dir"):
        LoadParams(input_dir="/lab/poses", paths=["/lab/poses"], fps=None, video_dir="/elsewhere/videos")
